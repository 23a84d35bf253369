/*
 * ngx_http_mj_endpoint.h: the endpoints of the contract and what each one
 * means to the gateway; the task ids and actions a request names.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_ENDPOINT_H
#define NGX_HTTP_MJ_ENDPOINT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_MJ_TASK_ID_MAX  64
#define NGX_HTTP_MJ_BAD_TASK_ID                                              \
    "invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \"_\" and \"-\""


/* what an endpoint carries and does */
#define NGX_HTTP_MJ_EP_SUBMIT     0x01   /* its answer creates a task */
#define NGX_HTTP_MJ_EP_PATH_TASK  0x02   /* /mj/task/{id}/... */
#define NGX_HTTP_MJ_EP_BODY_TASK  0x04   /* taskId in the body */
#define NGX_HTTP_MJ_EP_CONTENT    0x08   /* "<taskId> U2" in content */
#define NGX_HTTP_MJ_EP_LIST       0x10   /* ids in the body */
#define NGX_HTTP_MJ_EP_POLL       0x20   /* a cheap read: the poll bucket */
#define NGX_HTTP_MJ_EP_STATUS     0x40   /* its answer tells a task's status */
#define NGX_HTTP_MJ_EP_MODAL      0x80   /* confirms its task's MODAL step */

/* where a submit's task action comes from */
enum {
    NGX_HTTP_MJ_ACTION_FIXED = 0,        /* the endpoint's own */
    NGX_HTTP_MJ_ACTION_CUSTOM_ID,        /* "customId": MJ::JOB::upsample... */
    NGX_HTTP_MJ_ACTION_CHANGE,           /* "action": UPSCALE, ... */
    NGX_HTTP_MJ_ACTION_CONTENT,          /* "content": "<taskId> U2" */
    NGX_HTTP_MJ_ACTION_TASK              /* the MODAL task's, in the store */
};


typedef struct {
    ngx_str_t                  name;       /* $mj_action */
    ngx_str_t                  path;       /* after "/mj/" */
    ngx_uint_t                 method;     /* NGX_HTTP_GET or NGX_HTTP_POST */
    ngx_uint_t                 flags;      /* NGX_HTTP_MJ_EP_* */
    ngx_uint_t                 source;     /* NGX_HTTP_MJ_ACTION_* */
    ngx_uint_t                 action;     /* MJ_ACT_* when FIXED */
} ngx_http_mj_endpoint_t;


/*
 * The endpoint of a request's URI (speed-mode prefixes allowed) and, for
 * /mj/task/{id}/..., the id: NGX_OK; else the gateway's refusal, a status
 * with the error set in *error (404, 405 with Allow, 400).
 */
ngx_int_t ngx_http_mj_classify(ngx_http_request_t *r,
    ngx_http_mj_endpoint_t **ep, ngx_str_t *task_id, char **error);

ngx_uint_t ngx_http_mj_valid_task_id(const u_char *p, size_t len);

/* "<taskId> U2": the id, and what follows it */
void ngx_http_mj_content_split(ngx_str_t *content, ngx_str_t *id,
    ngx_str_t *rest);

/* the task action a submit asks for, MJ_ACT_*; 0 if unknown */
ngx_uint_t ngx_http_mj_action_of(ngx_http_mj_endpoint_t *ep,
    ngx_str_t *custom_id, ngx_str_t *change, ngx_str_t *content);

#endif /* NGX_HTTP_MJ_ENDPOINT_H */
