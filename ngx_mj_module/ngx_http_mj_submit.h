/*
 * ngx_http_mj_submit.h: a request's admission and a submit's whole life,
 * from the reservation to the settled charge (ngx_http_mj_submit.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_SUBMIT_H
#define NGX_HTTP_MJ_SUBMIT_H


/* admitted as []: a list-by-condition that names none of the user's tasks */
#define NGX_HTTP_MJ_ANSWER_EMPTY  NGX_HTTP_OK


/* NGX_OK: admitted; NGX_AGAIN: the store answers later; else a refusal */
ngx_int_t ngx_http_mj_admit(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx);

/* after the store answered later: NGX_OK or a refusal, as above */
ngx_int_t ngx_http_mj_admitted(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/* a user over the submit rate, refused before the body is read */
ngx_int_t ngx_http_mj_admit_peek(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/*
 * A submit's answer, read: with a task (code 1, 21, 22: "result" is its
 * id), record it; without, give back what was held.  NGX_OK, NGX_ERROR
 * when "result" is no task id, or NGX_AGAIN: the store records it later,
 * and the answer waits for ngx_http_mj_answer_resume() (filter.c).
 */
ngx_int_t ngx_http_mj_submit_answered(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, long code, mj_span_t *result);

#endif /* NGX_HTTP_MJ_SUBMIT_H */
