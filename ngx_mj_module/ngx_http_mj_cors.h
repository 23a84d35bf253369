/*
 * ngx_http_mj_cors.h: browsers' preflights, and CORS headers on answers
 * (ngx_http_mj_cors.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_CORS_H
#define NGX_HTTP_MJ_CORS_H


char *ngx_http_mj_cors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* a preflight of an endpoint of the contract: 204, answered here */
ngx_int_t ngx_http_mj_preflight(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/* on every answer of a gateway location, just before its header goes */
ngx_int_t ngx_http_mj_cors_headers(ngx_http_request_t *r);

/* the upstream's own Access-Control-* headers, when mj_cors is set */
void ngx_http_mj_cors_drop_upstream(ngx_http_request_t *r);

#endif /* NGX_HTTP_MJ_CORS_H */
