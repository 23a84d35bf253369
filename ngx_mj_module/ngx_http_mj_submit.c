/*
 * ngx_http_mj_submit.c: a request's admission, and a submit's whole life.
 *
 *   admit      before the request is relayed: the tasks it names must be
 *              the user's, the limits must pass, and a submit reserves a
 *              place for its task, one of its user's submits in flight,
 *              and its quota units;
 *   answered   the submit's answer is read: the task it made is recorded
 *              and the place taken by it, or (no task) the place and the
 *              units go back; its in-flight count goes back either way;
 *   cleanup    the request ends with its answer never read (an upstream
 *              error, a client gone): the place and the in-flight count
 *              go back, and the units unless the upstream was sent the
 *              submit before the client hung up.
 *
 * Each is one call of the store (ngx_http_mj_store.h), which takes the
 * zone's lock once: a poll takes it once, a submit twice (admit, then
 * answered or cleanup), a body too large to come with the headers once
 * more before it is read.  ctx->task_id is set here only: the task a
 * request names, or the one its answer made.
 *
 * A store shared through Redis may answer admit and answered later: the
 * handler then waits (admit_done runs the phases again), and the filter
 * holds the submit's answer until its task is recorded (commit_done sends
 * it).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


static void ngx_http_mj_submit_cleanup(void *data);


static void
ngx_http_mj_admit_done(ngx_http_mj_admit_t *a)
{
    ngx_http_request_t  *r = a->data;

    ngx_connection_t  *c;

    c = r->connection;

    /* the store answered later: the handler takes it from here */
    r->main->count--;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mj_commit_done(ngx_http_mj_admit_t *a)
{
    /* the store recorded the task later: its answer goes out now */
    ngx_http_mj_answer_resume(a->data);
}


/* the tasks the request names, as the store keys them */
static ngx_int_t
ngx_http_mj_admit_tids(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    size_t                i, n;
    mj_span_t            *ids;
    ngx_http_mj_admit_t  *a;

    a = &ctx->admit;
    ids = NULL;
    n = 0;

    if (ctx->endpoint->flags & NGX_HTTP_MJ_EP_LIST) {
        ids = ctx->body->ids;
        n = ctx->body->nids;
        a->list = 1;

    } else if (ctx->named.data) {
        ctx->task_id = ctx->named;
        n = 1;
    }

    a->tids = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_mj_tid_t));
    a->ids = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t));
    a->info = ngx_pcalloc(r->pool,
                          (n + 1) * sizeof(ngx_http_mj_task_info_t));
    if (a->tids == NULL || a->ids == NULL || a->info == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ids) {
            ngx_http_mj_span_str(&a->ids[i], &ids[i]);

        } else {
            a->ids[i] = ctx->named;
        }

        if (ngx_http_mj_store_tid(ctx->zone, a->ids[i].data, a->ids[i].len,
                                  &a->tids[i])
            != NGX_OK)
        {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    ids ? "invalid task id in ids"
                                        : NGX_HTTP_MJ_BAD_TASK_ID);
        }
    }

    a->ntids = n;

    return NGX_OK;
}


/* the action a submit asks for, as its endpoint says where to find it */
static ngx_uint_t
ngx_http_mj_admit_action(ngx_http_mj_ctx_t *ctx)
{
    ngx_str_t   custom_id, change, content;
    mj_body_t  *b;

    b = ctx->body;

    if (b == NULL) {
        return ctx->endpoint->action;
    }

    ngx_http_mj_span_str(&custom_id, &b->str[MJ_BODY_CUSTOMID]);
    ngx_http_mj_span_str(&change, &b->str[MJ_BODY_ACTION]);
    ngx_http_mj_span_str(&content, &b->str[MJ_BODY_CONTENT]);

    return ngx_http_mj_action_of(ctx->endpoint, &custom_id, &change,
                                 &content);
}


ngx_int_t
ngx_http_mj_admit(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_int_t             rc;
    ngx_uint_t            flags;
    ngx_pool_cleanup_t   *cln;
    ngx_http_mj_admit_t  *a;

    a = &ctx->admit;
    flags = ctx->endpoint->flags;

    rc = ngx_http_mj_admit_tids(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    a->store = ctx->zone;
    a->owner = ctx->user->owner;
    a->place = (flags & NGX_HTTP_MJ_EP_SUBMIT) ? 1 : 0;
    a->log = r->connection->log;
    a->pool = r->pool;
    a->done = ngx_http_mj_admit_done;
    a->data = r;

    ngx_http_mj_limit_settings(r, ctx->user, flags, NGX_HTTP_MJ_LIMIT_ALL,
                               &a->limits);

    if (a->place) {
        a->limits.action = ngx_http_mj_admit_action(ctx);

        /* what the submit holds goes back, whatever ends the request */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_mj_submit_cleanup;
        cln->data = ctx;
    }

    a->rc = ngx_http_mj_store_admit(a);

    if (a->rc == NGX_AGAIN) {
        ctx->step = NGX_HTTP_MJ_STEP_ADMIT;
        r->main->count++;
        return NGX_AGAIN;
    }

    return ngx_http_mj_admitted(r, ctx);
}


/* the store's verdict, told */
ngx_int_t
ngx_http_mj_admitted(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_http_mj_admit_t      *a;
    ngx_http_mj_task_info_t  *task;

    a = &ctx->admit;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: admit \"%V\": %s, %ui tasks named",
                   &ctx->endpoint->name,
                   a->rc == NGX_OK ? "the user's"
                   : a->rc == NGX_DECLINED ? "not the user's"
                   : a->rc == NGX_BUSY ? "no room for a task"
                   : a->rc == NGX_ABORT ? "no room for the user"
                   : a->rc == NGX_HTTP_MJ_STORE_UNREACHABLE
                   ? "redis unreachable" : "failed", a->ntids);

    switch (a->rc) {

    case NGX_OK:
    case NGX_DECLINED:
    case NGX_BUSY:
        break;

    case NGX_ABORT:
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                NGX_HTTP_MJ_CODE_FAILURE,
                                "the gateway cannot count more users");

    case NGX_HTTP_MJ_STORE_UNREACHABLE:
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                NGX_HTTP_MJ_CODE_FAILURE,
                                "the gateway cannot record tasks now; "
                                "try again later");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mj_limit_answer(r, ctx, &a->limits);
    if (rc != NGX_OK) {
        return rc;
    }

    if (a->rc == NGX_BUSY) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                NGX_HTTP_MJ_CODE_FAILURE,
                                "the gateway cannot track more tasks now; "
                                "try again later");
    }

    if (a->rc == NGX_DECLINED) {
        /* another user's task and no task at all look the same */
        return a->list ? NGX_HTTP_MJ_ANSWER_EMPTY
                       : ngx_http_mj_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                          NGX_HTTP_MJ_CODE_NOT_FOUND,
                                          "task not found");
    }

    /* follow-ups go where their task was made */
    task = NULL;

    for (i = 0; i < a->ntids && task == NULL; i++) {
        task = a->info[i].kept ? &a->info[i] : NULL;
    }

    rc = ngx_http_mj_choose_key(r, ctx, task);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mj_body_rewrite(r, ctx) == NGX_OK
           ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* before a large body is read: a user over the submit rate goes at once */
ngx_int_t
ngx_http_mj_admit_peek(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_http_mj_admit_t  a;

    ngx_memzero(&a, sizeof(ngx_http_mj_admit_t));
    a.store = ctx->zone;
    a.owner = ctx->user->owner;
    a.log = r->connection->log;

    ngx_http_mj_limit_settings(r, ctx->user, ctx->endpoint->flags,
                               NGX_HTTP_MJ_LIMIT_PEEK, &a.limits);

    /* a store that answers later is not waited for: the admission after
     * the body decides */
    if (ngx_http_mj_store_admit(&a) != NGX_OK
        || a.limits.reject == NGX_HTTP_MJ_REJ_N)
    {
        return NGX_OK;
    }

    return ngx_http_mj_limit_answer(r, ctx, &a.limits);
}


ngx_int_t
ngx_http_mj_submit_answered(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    long code, mj_span_t *result)
{
    ngx_int_t             rc;
    ngx_str_t             id;
    ngx_http_mj_tid_t     tid;
    ngx_http_mj_admit_t  *a;

    a = &ctx->admit;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: submit \"%V\" answered with code %l",
                   &ctx->endpoint->name, code);

    if (!ngx_http_mj_made_task(code)) {
        ngx_http_mj_store_release(a, 1);
        return NGX_OK;
    }

    ngx_http_mj_span_str(&id, result);

    if (ngx_http_mj_store_tid(ctx->zone, id.data, id.len, &tid) != NGX_OK) {
        ngx_http_mj_store_release(a, 1);
        return NGX_ERROR;
    }

    ctx->task_id = id;
    a->done = ngx_http_mj_commit_done;

    /* nothing is charged for a modal step until it is confirmed */
    rc = ngx_http_mj_store_commit(a, &tid, &id, ctx->ukey->ident,
                                  a->limits.action,
                                  code == NGX_HTTP_MJ_UP_MODAL
                                  ? NGX_HTTP_MJ_ST_MODAL
                                  : NGX_HTTP_MJ_ST_UNKNOWN,
                                  code == NGX_HTTP_MJ_UP_MODAL);

    return rc == NGX_AGAIN ? NGX_AGAIN : NGX_OK;
}


static void
ngx_http_mj_submit_cleanup(void *data)
{
    ngx_http_mj_ctx_t  *ctx = data;

    ngx_uint_t            sent;
    ngx_http_request_t   *r;
    ngx_http_upstream_t  *u;

    r = ctx->request;

    /*
     * Its units too (an upstream error, a timeout: the filter saw those),
     * unless the client hung up after the upstream was sent the submit:
     * the task may exist, and hanging up must not make tasks free.
     */
    u = r->upstream;
    sent = (u && u->request_sent && r->connection->error
            && ctx->admit.charged);

    if (sent) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mj: user \"%V\" went away before the answer to a "
                      "submit the upstream was sent: its units are kept, "
                      "the task is not recorded", &ctx->user->name);
    }

    ngx_http_mj_store_release(&ctx->admit, !sent);
}
