/*
 * ngx_http_mj_filter.c: header and body filters of gateway locations.
 *
 * Answers that must not reach a client as they are get replaced by the
 * contract's JSON: nginx's own error pages (including the gateway's own
 * refusals, which are returned as statuses and rendered here, in one
 * place), an upstream that refused the operator's key (its body may quote
 * the key), upstream 5xx, and answers that are not JSON at all.
 */

#include "ngx_http_mj_module.h"


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_mj_nokey = ngx_string("(none)");


static ngx_uint_t
ngx_http_mj_is_json(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t  *t;

    t = &r->headers_out.content_type;
    p = t->data;
    end = p + t->len;

    if (t->len >= 16 && ngx_strncasecmp(p, (u_char *) "application/json",
                                        16) == 0
        && (t->len == 16 || p[16] == ';' || p[16] == ' '))
    {
        return 1;
    }

    /* application/problem+json and the like */
    for ( /* void */ ; p + 5 <= end && *p != ';'; p++) {
        if (ngx_strncasecmp(p, (u_char *) "+json", 5) == 0
            && (p + 5 == end || p[5] == ';' || p[5] == ' '))
        {
            return 1;
        }
    }

    return 0;
}


/* nothing the upstream said in its headers goes on to the client */
static void
ngx_http_mj_clear_upstream_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for ( /* void */ ; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            h[i].hash = 0;
        }
    }

    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.content_encoding = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.cache_control.nelts = 0;
    r->headers_out.link.nelts = 0;
}


static ngx_int_t
ngx_http_mj_replace(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_uint_t status, ngx_uint_t code, ngx_str_t *desc)
{
    if (ngx_http_mj_error_json(r, &ctx->json, code, desc) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replace = 1;

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = ctx->json.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    /* whatever sits in the body now, ours is small and in memory */
    r->filter_need_in_memory = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mj_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                desc;
    ngx_uint_t               status, code;
    ngx_http_mj_ctx_t       *ctx;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (!mlcf->enable || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    if (ctx == NULL) {
        /* an nginx error before the gateway's handler ran: 413, say */
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mj_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mj_module);
    }

    status = r->headers_out.status;

    if (r->err_status) {

        /* nginx's own answer, the gateway's refusals among them */

        if (status < 400) {
            return ngx_http_next_header_filter(r);
        }

        ngx_http_mj_status_error(status, &code, &desc);

        if (ctx->err_desc.len) {
            code = ctx->err_code;
            desc = ctx->err_desc;
        }

        return ngx_http_mj_replace(r, ctx, status, code, &desc);
    }

    if (r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: the upstream refused the upstream key \"%V\" "
                      "with status %ui",
                      ctx->user ? &ctx->user->key->name : &ngx_http_mj_nokey,
                      status);

        ngx_str_set(&desc, "the upstream refused the gateway's credentials");
        status = NGX_HTTP_BAD_GATEWAY;

    } else if (status >= 500) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mj: the upstream answered with status %ui", status);

        ngx_str_set(&desc, "the upstream failed");
        status = status == NGX_HTTP_GATEWAY_TIME_OUT
                 ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;

    } else if (!ngx_http_mj_is_json(r)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mj: the upstream answered status %ui with "
                      "\"%V\", not JSON", status,
                      &r->headers_out.content_type);

        ngx_str_set(&desc, "the upstream's answer is not JSON");
        status = NGX_HTTP_BAD_GATEWAY;

    } else {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_mj_clear_upstream_headers(r);

    return ngx_http_mj_replace(r, ctx, status, NGX_HTTP_MJ_CODE_FAILURE,
                               &desc);
}


static ngx_int_t
ngx_http_mj_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t          *b;
    ngx_chain_t        *cl, out;
    ngx_http_mj_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    if (ctx == NULL || !ctx->replace) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow what was to be sent: the buffers count as written */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->replaced) {
        return NGX_OK;
    }

    ctx->replaced = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->json.data;
    b->last = ctx->json.data + ctx->json.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_mj_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mj_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mj_body_filter;

    return NGX_OK;
}
