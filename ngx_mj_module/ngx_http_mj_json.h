/*
 * ngx_http_mj_json.h: the JSON the gateway writes itself, and yajl's
 * memory on the request path (ngx_http_mj_json.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_JSON_H
#define NGX_HTTP_MJ_JSON_H


/* note an error the gateway makes: the filter renders it; returns status */
ngx_int_t ngx_http_mj_fail(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t code, char *desc);

/* the same, the code following from the status (404: 3, else 4) */
ngx_int_t ngx_http_mj_refuse_status(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, ngx_int_t status, char *desc);

/* {"code":N,"description":"..."}, in the request's pool */
ngx_int_t ngx_http_mj_error_json(ngx_http_request_t *r, ngx_str_t *out,
    ngx_uint_t code, ngx_str_t *desc);

/* the code and description of an nginx error status */
void ngx_http_mj_status_error(ngx_uint_t status, ngx_uint_t *code,
    ngx_str_t *desc);

/* yajl's allocator on the request's pool: in "af", or a new one */
void ngx_http_mj_yajl_alloc_init(ngx_http_request_t *r,
    yajl_alloc_funcs *af);
void *ngx_http_mj_yajl_alloc_funcs(ngx_http_request_t *r);

/* yajl's own memory during one parse: a block each process lends */
yajl_alloc_funcs *ngx_http_mj_yajl_parser_funcs(void);

#endif /* NGX_HTTP_MJ_JSON_H */
