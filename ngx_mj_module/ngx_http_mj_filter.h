/*
 * ngx_http_mj_filter.h: the header and body filters of gateway locations
 * (ngx_http_mj_filter.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_FILTER_H
#define NGX_HTTP_MJ_FILTER_H


ngx_int_t ngx_http_mj_filter_init(ngx_conf_t *cf);

/* a submit's answer, held until the store recorded its task, goes out */
void ngx_http_mj_answer_resume(ngx_http_request_t *r);

#endif /* NGX_HTTP_MJ_FILTER_H */
