/*
 * ngx_http_mj_body.h: request bodies, read as one block, inspected by
 * mj_body_parse.c and rewritten when something is removed
 * (ngx_http_mj_body.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_BODY_H
#define NGX_HTTP_MJ_BODY_H


/*
 * Read the body and inspect it; the handler runs again with ctx->status
 * set (NGX_OK, or a refusal).  Returns NGX_DONE, or an error status.
 */
ngx_int_t ngx_http_mj_read_body(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/* whether the whole body is here already (nothing to wait for) */
ngx_uint_t ngx_http_mj_body_here(ngx_http_request_t *r);

/* write the body again without what was dropped, "ids" cut to those kept */
ngx_int_t ngx_http_mj_body_rewrite(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

#endif /* NGX_HTTP_MJ_BODY_H */
