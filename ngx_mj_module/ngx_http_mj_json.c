/*
 * ngx_http_mj_json.c: the JSON the gateway writes itself.
 *
 * Every error the gateway makes, and every nginx error in a gateway
 * location, is {"code": N, "description": "..."}: the contract's shape.
 */

#include "ngx_http_mj_module.h"


typedef struct {
    ngx_uint_t   status;
    char        *desc;
} ngx_http_mj_status_desc_t;


static ngx_http_mj_status_desc_t  ngx_http_mj_descs[] = {
    { NGX_HTTP_BAD_REQUEST, "bad request" },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized" },
    { NGX_HTTP_FORBIDDEN, "forbidden" },
    { NGX_HTTP_NOT_FOUND, "not found" },
    { NGX_HTTP_NOT_ALLOWED, "method not allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, "timed out reading the request" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request body too large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "request URI too long" },
    { NGX_HTTP_TOO_MANY_REQUESTS, "too many requests" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal gateway error" },
    { NGX_HTTP_BAD_GATEWAY, "upstream unavailable" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "service unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "upstream timed out" },
    { 0, NULL }
};


ngx_int_t
ngx_http_mj_fail(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t code, char *desc)
{
    ctx->err_code = code;
    ctx->err_desc.data = (u_char *) desc;
    ctx->err_desc.len = ngx_strlen(desc);

    return status;
}


void
ngx_http_mj_status_error(ngx_uint_t status, ngx_uint_t *code, ngx_str_t *desc)
{
    ngx_http_mj_status_desc_t  *d;

    *code = status == NGX_HTTP_NOT_FOUND ? NGX_HTTP_MJ_CODE_NOT_FOUND
            : status >= 500 ? NGX_HTTP_MJ_CODE_FAILURE
            : NGX_HTTP_MJ_CODE_INVALID;

    for (d = ngx_http_mj_descs; d->status; d++) {
        if (d->status == status) {
            desc->data = (u_char *) d->desc;
            desc->len = ngx_strlen(d->desc);
            return;
        }
    }

    ngx_str_set(desc, "error");
}


ngx_int_t
ngx_http_mj_error_json(ngx_http_request_t *r, ngx_str_t *out,
    ngx_uint_t code, ngx_str_t *desc)
{
    u_char  *p;
    size_t   len;

    len = sizeof("{\"code\":,\"description\":\"\"}\n") - 1 + NGX_INT_T_LEN
          + desc->len + ngx_escape_json(NULL, desc->data, desc->len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_sprintf(p, "{\"code\":%ui,\"description\":\"", code);
    p = (u_char *) ngx_escape_json(p, desc->data, desc->len);
    p = ngx_cpymem(p, "\"}\n", 3);
    out->len = p - out->data;

    return NGX_OK;
}
