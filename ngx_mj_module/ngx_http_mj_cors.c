/*
 * ngx_http_mj_cors.c: browsers' preflights, and CORS headers on answers.
 *
 * A preflight (OPTIONS) carries no key, so the gateway answers it itself
 * and never relays it: 204 for an endpoint of the contract, the same 404
 * as any other method for a path outside it.  With mj_cors, an allowed
 * Origin gets the CORS headers on the preflight and on every answer of
 * the location, the gateway's errors included; the upstream's own
 * Access-Control-* headers are dropped then.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


#define NGX_HTTP_MJ_CORS_HEADERS  "Authorization, mj-api-secret, Content-Type"
#define NGX_HTTP_MJ_CORS_EXPOSE   "RateLimit, RateLimit-Policy, Retry-After"


static ngx_str_t *
ngx_http_mj_cors_allowed(ngx_array_t *cors, ngx_str_t *origin)
{
    ngx_str_t   *o;
    ngx_uint_t   i;

    o = cors->elts;

    for (i = 0; i < cors->nelts; i++) {
        if (o[i].len == origin->len
            && ngx_strncmp(o[i].data, origin->data, o[i].len) == 0)
        {
            return origin;
        }
    }

    return NULL;
}


/* the request's Origin when mj_cors allows it; "*" when it allows any */
static ngx_str_t *
ngx_http_mj_cors_origin(ngx_http_request_t *r)
{
    ngx_str_t               *o;
    ngx_uint_t               n;
    ngx_table_elt_t         *h;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (mlcf->cors == NULL) {
        return NULL;
    }

    o = mlcf->cors->elts;

    if (o[0].len == 1 && o[0].data[0] == '*') {
        return &o[0];
    }

    h = ngx_http_mj_find_header(&r->headers_in.headers, "Origin", &n);

    return h ? ngx_http_mj_cors_allowed(mlcf->cors, &h->value) : NULL;
}


/* the upstream does not speak for the gateway's origins */
void
ngx_http_mj_cors_drop_upstream(ngx_http_request_t *r)
{
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (mlcf->cors) {
        ngx_http_mj_drop_headers(&r->headers_out.headers, "Access-Control-",
                                 1);
    }
}


/* on every answer of a gateway location, just before its header goes */
ngx_int_t
ngx_http_mj_cors_headers(ngx_http_request_t *r)
{
    ngx_str_t               *origin;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (mlcf->cors == NULL) {
        return NGX_OK;
    }

    origin = ngx_http_mj_cors_origin(r);
    if (origin == NULL) {
        return NGX_OK;
    }

    if (ngx_http_mj_add_header(r, "Access-Control-Allow-Origin",
                               origin->data, origin->len) != NGX_OK
        || ngx_http_mj_add_header(r, "Access-Control-Expose-Headers",
                                  (u_char *) NGX_HTTP_MJ_CORS_EXPOSE,
                                  sizeof(NGX_HTTP_MJ_CORS_EXPOSE) - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (origin->len == 1 && origin->data[0] == '*') {
        return NGX_OK;
    }

    return ngx_http_mj_add_header(r, "Vary", (u_char *) "Origin",
                                  sizeof("Origin") - 1);
}


/* a preflight of an endpoint of the contract: 204, answered here */
ngx_int_t
ngx_http_mj_preflight(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   methods;

    if (ctx->endpoint->method == NGX_HTTP_GET) {
        ngx_str_set(&methods, "GET, OPTIONS");

    } else {
        ngx_str_set(&methods, "POST, OPTIONS");
    }

    if (ngx_http_mj_add_header(r, "Allow", methods.data, methods.len)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mj_cors_origin(r)
        && (ngx_http_mj_add_header(r, "Access-Control-Allow-Methods",
                                   methods.data, methods.len) != NGX_OK
            || ngx_http_mj_add_header(r, "Access-Control-Allow-Headers",
                                      (u_char *) NGX_HTTP_MJ_CORS_HEADERS,
                                      sizeof(NGX_HTTP_MJ_CORS_HEADERS) - 1)
               != NGX_OK
            || ngx_http_mj_add_header(r, "Access-Control-Max-Age",
                                      (u_char *) "86400", 5) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_discard_request_body(r);

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    return rc == NGX_ERROR || rc > NGX_OK ? rc : NGX_OK;
}


/* mj_cors off | * | origin ... */
char *
ngx_http_mj_cors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    ngx_str_t  *value, *o;

    if (mlcf->cors != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        mlcf->cors = NULL;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts == 2 && value[1].len == 1 && value[1].data[0] == '*')
    {
        mlcf->cors = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        if (mlcf->cors == NULL) {
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(mlcf->cors);
        *o = value[1];

        return NGX_CONF_OK;
    }

    return ngx_http_mj_conf_urls(cf, &mlcf->cors, 0);
}
