/*
 * ngx_http_mj_filter.c: header and body filters of gateway locations.
 *
 * Answers that must not reach a client as they are get replaced by the
 * contract's JSON: nginx's own error pages (including the gateway's own
 * refusals, which are returned as statuses and rendered here, in one
 * place), an upstream that refused the operator's key (its body may quote
 * the key), upstream 5xx, answers that are not JSON at all, answers that
 * end early, and any answer that quotes the upstream key anywhere, in a
 * header or in its body.
 *
 * Every answer the upstream gives is held whole (they are small) before
 * its header goes on: so that the key can be looked for in all of it, so
 * that an answer cut short becomes a 502 rather than a truncated 200, and
 * so that a submit's task is recorded before the client sees its id.  The
 * answers the gateway learns from are read then: a submit's, a fetch's
 * status, and a list's, which is cut to the caller's tasks.
 *
 * A store shared through Redis records a submit's task later: its answer
 * is held on (the request is "buffered" meanwhile, so nginx waits for it,
 * and notices a client that goes away) until the store is done, and then
 * sent from there (ngx_http_mj_answer_resume).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_mj_nokey = ngx_string("(none)");


#define NGX_HTTP_MJ_NOT_CONTRACT  "is not the JSON the contract describes"


/* the largest answers held: a list of tasks, any other answer */
#define NGX_HTTP_MJ_LIST_MAX    (16 * 1024 * 1024)
#define NGX_HTTP_MJ_ANSWER_MAX  (1024 * 1024)

/*
 * r->buffered while a submit's answer waits for its task to be recorded:
 * the bit of the image and xslt filters, which never see a gateway's JSON
 * (r->buffered has four bits, all of them named)
 */
#define NGX_HTTP_MJ_BUFFERED    0x08


static ngx_int_t ngx_http_mj_replace(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, ngx_uint_t status, ngx_uint_t code,
    ngx_str_t *desc);
static ngx_int_t ngx_http_mj_unreadable(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, char *why);


/* every header of a gateway location goes on through here */
static ngx_int_t
ngx_http_mj_next_header(ngx_http_request_t *r)
{
    if (ngx_http_mj_cors_headers(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_uint_t
ngx_http_mj_is_json(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t  *t;

    t = &r->headers_out.content_type;
    p = t->data;
    end = p + t->len;

    /* as upstreams write it, first */
    if (t->len == 16 && ngx_memcmp(p, "application/json", 16) == 0) {
        return 1;
    }

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

    for (part = &r->headers_out.headers.part; part; part = part->next) {
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

    return ngx_http_mj_next_header(r);
}


static ngx_uint_t
ngx_http_mj_quotes(ngx_str_t *s, ngx_str_t *secret)
{
    return secret->len && s->len >= secret->len
           && memmem(s->data, s->len, secret->data, secret->len) != NULL;
}


/* the upstream key anywhere in the status line or a header of the answer */
static ngx_uint_t
ngx_http_mj_header_quotes(ngx_http_request_t *r, ngx_str_t *secret)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_mj_quotes(&r->headers_out.status_line, secret)
        || ngx_http_mj_quotes(&r->headers_out.content_type, secret))
    {
        return 1;
    }

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_mj_quotes(&h[i].key, secret)
                || ngx_http_mj_quotes(&h[i].value, secret))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The upstream's end.  One that fails in mid-answer (cut short, a broken
 * chunk) ends here with no last buffer; nginx closes the connection next,
 * after a bare flush or without one.  The answer is held, so nothing of it
 * was sent yet and the client can still be told.
 */
static void
ngx_http_mj_upstream_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_mj_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    ctx->upstream_finalize(r, rc);

    if (rc == NGX_OK || !ctx->hold || r->connection->error
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return;
    }

    ctx->hold = 0;

    (void) ngx_http_mj_unreadable(r, ctx, "ended early");
}


/* an answer the gateway relays: held whole, read once it is */
static ngx_int_t
ngx_http_mj_read_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_str_t                desc;
    ngx_http_mj_endpoint_t  *ep;

    ep = ctx->endpoint;

    if (r->header_only) {
        return ngx_http_mj_next_header(r);
    }

    if (r->headers_out.content_encoding
        && r->headers_out.content_encoding->value.len)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: the upstream compressed its answer to \"%V\" "
                      "although the gateway asked for none",
                      &ep->name);

        ngx_str_set(&desc, "the upstream's answer could not be read");
        ngx_http_mj_clear_upstream_headers(r);

        return ngx_http_mj_replace(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                   NGX_HTTP_MJ_CODE_FAILURE, &desc);
    }

    r->filter_need_in_memory = 1;

    /* the header goes out with the whole body, once it is read */
    ctx->hold = 1;

    ctx->upstream_finalize = r->upstream->finalize_request;
    r->upstream->finalize_request = ngx_http_mj_upstream_finalize;

    return NGX_OK;
}


/*
 * The upstream's answer: one that must not reach the client as it is
 * becomes the JSON 502 (a refusal of the operator's key, a 5xx, the key
 * quoted in a header, no JSON); the rest is held and read.
 */
static ngx_int_t
ngx_http_mj_upstream_header(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_str_t                desc;
    ngx_uint_t               status;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);
    status = r->headers_out.status;

    ngx_http_mj_cors_drop_upstream(r);

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: the upstream refused the upstream key \"%V\" "
                      "with status %ui",
                      ctx->ukey ? &ctx->ukey->name : &ngx_http_mj_nokey,
                      status);

        ngx_str_set(&desc, "the upstream refused the gateway's credentials");
        status = NGX_HTTP_BAD_GATEWAY;

    } else if (status >= 500) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mj: the upstream answered with status %ui", status);

        ngx_str_set(&desc, "the upstream failed");
        status = status == NGX_HTTP_GATEWAY_TIME_OUT
                 ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;

    } else if (ctx->ukey
               && ngx_http_mj_header_quotes(r, &ctx->ukey->secret))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: the upstream's answer to \"%V\" quotes the "
                      "upstream key in a header; answered 502",
                      &ctx->endpoint->name);

        ngx_str_set(&desc, "the upstream's answer could not be read");
        status = NGX_HTTP_BAD_GATEWAY;

    } else if (!ngx_http_mj_is_json(r)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mj: the upstream answered status %ui with "
                      "\"%V\", not JSON", status,
                      &r->headers_out.content_type);

        ngx_str_set(&desc, "the upstream's answer is not JSON");
        status = NGX_HTTP_BAD_GATEWAY;

    } else {
        /* the upstream's cookies are its own business, not the client's */
        if (!mlcf->set_cookie) {
            ngx_http_mj_drop_headers(&r->headers_out.headers, "Set-Cookie",
                                     0);
        }

        return ngx_http_mj_read_answer(r, ctx);
    }

    ngx_http_mj_clear_upstream_headers(r);

    return ngx_http_mj_replace(r, ctx, status, NGX_HTTP_MJ_CODE_FAILURE,
                               &desc);
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
            return ngx_http_mj_next_header(r);
        }

        ngx_http_mj_status_error(status, &code, &desc);

        if (ctx->err_desc.len) {
            code = ctx->err_code;
            desc = ctx->err_desc;
        }

        return ngx_http_mj_replace(r, ctx, status, code, &desc);
    }

    if (r->upstream == NULL || ctx->endpoint == NULL || ctx->user == NULL) {
        return ngx_http_mj_next_header(r);
    }

    return ngx_http_mj_upstream_header(r, ctx);
}


static ngx_int_t
ngx_http_mj_send(ngx_http_request_t *r, u_char *p, size_t len,
    ngx_uint_t header)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    if (header) {
        rc = ngx_http_mj_next_header(r);

        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }
    }

    if (ngx_http_mj_last_buf(r, p, len, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, &out);
}


/* a 502 instead of an answer held whole: nothing of it was sent yet */
static ngx_int_t
ngx_http_mj_unreadable(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    char *why)
{
    ngx_int_t  rc;
    ngx_str_t  desc;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mj: the upstream's answer to \"%V\" %s; answered 502",
                  &ctx->endpoint->name, why);

    ngx_str_set(&desc, "the upstream's answer could not be read");
    ngx_http_mj_clear_upstream_headers(r);

    rc = ngx_http_mj_replace(r, ctx, NGX_HTTP_BAD_GATEWAY,
                             NGX_HTTP_MJ_CODE_FAILURE, &desc);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ctx->replaced = 1;

    return ngx_http_mj_send(r, ctx->json.data, ctx->json.len, 0);
}


/* a submit's answer, whole: record the task it created, then send it */
static ngx_int_t
ngx_http_mj_submit_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    mj_answer_t *scan, ngx_int_t rc, u_char *p, size_t len)
{
    long  code;

    code = scan->cur.code;

    rc = (rc != 0 || code < 0)
         ? NGX_ERROR
         : ngx_http_mj_submit_answered(r, ctx, code, &scan->cur.result);

    if (rc == NGX_AGAIN) {
        /* held on until the store is done: nginx waits for the bit */
        r->buffered |= NGX_HTTP_MJ_BUFFERED;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return ngx_http_mj_unreadable(r, ctx, NGX_HTTP_MJ_NOT_CONTRACT);
    }

    return ngx_http_mj_send(r, p, len, 1);
}


/*
 * The store recorded the task of a submit whose answer was held for it:
 * the answer goes out, and the request ends as the writer would end it.
 * (A request that ended meanwhile, a client gone, never gets here: the
 * store's callback goes with the request's pool.)
 */
void
ngx_http_mj_answer_resume(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_connection_t   *c;
    ngx_http_mj_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    r->buffered &= ~NGX_HTTP_MJ_BUFFERED;

    rc = ngx_http_mj_send(r, ctx->held ? ctx->held->pos : (u_char *) "",
                          ctx->held_size, 1);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the tasks of a list answer, as the store has them (info), noted */
static ngx_int_t
ngx_http_mj_list_tasks(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    mj_answer_obj_t *o, size_t n, ngx_http_mj_task_info_t *info)
{
    size_t              i;
    ngx_str_t          *ids;
    ngx_uint_t         *status;
    ngx_http_mj_tid_t  *tids;

    tids = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_mj_tid_t));
    ids = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t));
    status = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_uint_t));
    if (tids == NULL || ids == NULL || status == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_http_mj_span_str(&ids[i], &o[i].id);

        /* an id no task could have is no one's: the owner 0 never is */
        if (o[i].id.data == NULL
            || ngx_http_mj_store_tid(ctx->zone, (u_char *) o[i].id.data,
                                     o[i].id.len, &tids[i])
               != NGX_OK)
        {
            tids[i].id = 0;
            tids[i].flags = NGX_HTTP_MJ_TASK_HASHED;
        }

        status[i] = o[i].status.data
                    ? ngx_http_mj_status_code(o[i].status.data,
                                              o[i].status.len)
                    : NGX_HTTP_MJ_ST_UNKNOWN;
    }

    ngx_http_mj_store_list(&ctx->admit, tids, ids, status, n, info);

    return NGX_OK;
}


/* a list answer, whole: only the caller's tasks go on, statuses noted */
static ngx_int_t
ngx_http_mj_list_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    mj_answer_t *scan, ngx_int_t rc, u_char *p, size_t len)
{
    u_char                   *out, *q;
    size_t                    i, n;
    mj_answer_obj_t          *o;
    ngx_http_mj_task_info_t  *info;

    if (rc != 0) {
        return ngx_http_mj_unreadable(r, ctx, NGX_HTTP_MJ_NOT_CONTRACT);
    }

    n = scan->nobjs;
    o = scan->objs;

    out = ngx_pnalloc(r->pool, len + 2);
    info = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_mj_task_info_t));
    if (out == NULL || info == NULL
        || ngx_http_mj_list_tasks(r, ctx, o, n, info) != NGX_OK)
    {
        return NGX_ERROR;
    }

    q = out;
    *q++ = '[';

    for (i = 0; i < n; i++) {
        if (!info[i].kept) {
            continue;
        }

        if (q > out + 1) {
            *q++ = ',';
        }

        q = ngx_cpymem(q, p + o[i].start, o[i].end - o[i].start);
    }

    *q++ = ']';

    r->headers_out.content_length_n = q - out;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_mj_send(r, out, q - out, 1);
}


/*
 * A fetch answer, whole: the answer goes on as it is; its status is noted
 * when it is not the one the store has (the admission looked it up).
 */
static ngx_int_t
ngx_http_mj_fetch_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    mj_answer_t *scan, ngx_int_t rc, u_char *p, size_t len)
{
    ngx_uint_t  st;

    st = (rc == 0 && scan->cur.status.data)
         ? ngx_http_mj_status_code(scan->cur.status.data,
                                   scan->cur.status.len)
         : NGX_HTTP_MJ_ST_UNKNOWN;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: fetch answer: status %ui, was %ui", st,
                   ctx->admit.info[0].status);

    if (st != NGX_HTTP_MJ_ST_UNKNOWN && st != ctx->admit.info[0].status) {
        ngx_http_mj_store_status(&ctx->admit, 0, st);
    }

    return ngx_http_mj_send(r, p, len, 1);
}


/* the whole answer: never one that quotes the key, then read by its kind */
static ngx_int_t
ngx_http_mj_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    u_char *p, size_t len)
{
    ngx_int_t          rc;
    ngx_str_t          text;
    ngx_uint_t         flags;
    mj_answer_t        scan;
    yajl_alloc_funcs   af;

    text.data = p;
    text.len = len;

    if (ctx->ukey && ngx_http_mj_quotes(&text, &ctx->ukey->secret)) {
        return ngx_http_mj_unreadable(r, ctx, "quotes the upstream key");
    }

    flags = ctx->endpoint->flags;

    /* of the rest, only fetch tells a task's status */
    if (!(flags & (NGX_HTTP_MJ_EP_LIST|NGX_HTTP_MJ_EP_SUBMIT
                   |NGX_HTTP_MJ_EP_STATUS)))
    {
        return ngx_http_mj_send(r, p, len, 1);
    }

    /* what it finds is in the answer or in the pool, not in "scan" */
    ngx_memzero(&scan, sizeof(mj_answer_t));
    ngx_http_mj_yajl_alloc_init(r, &af);
    scan.alloc = &af;
    scan.parser = ngx_http_mj_yajl_parser_funcs();
    scan.quick = 1;
    scan.array = (flags & NGX_HTTP_MJ_EP_LIST) ? 1 : 0;

    /* a fetch needs its status only */
    scan.stop = (flags & (NGX_HTTP_MJ_EP_LIST|NGX_HTTP_MJ_EP_SUBMIT)) ? 0 : 1;

    /* 0: read; -1: not the contract's shape; -2: out of memory */
    rc = mj_answer_scan(&scan, p, len);

    if (rc == -2) {
        return NGX_ERROR;
    }

    if (flags & NGX_HTTP_MJ_EP_LIST) {
        return ngx_http_mj_list_answer(r, ctx, &scan, rc, p, len);
    }

    if (flags & NGX_HTTP_MJ_EP_SUBMIT) {
        return ngx_http_mj_submit_answer(r, ctx, &scan, rc, p, len);
    }

    return ngx_http_mj_fetch_answer(r, ctx, &scan, rc, p, len);
}


/* what came of the answer, added to what is held: one block, grown */
static ngx_int_t
ngx_http_mj_hold_append(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    u_char *data, size_t size, size_t max)
{
    u_char     *p;
    off_t       len;
    size_t      cap;
    ngx_buf_t  *held;

    held = ctx->held;

    if (held == NULL || (size_t) (held->end - held->last) < size) {
        len = r->headers_out.content_length_n;

        /* an answer of a known length is held in a block of that length */
        cap = held ? 2 * (size_t) (held->end - held->start)
                   : (len > 0 && (size_t) len <= max) ? 0 : 4096;
        cap = ngx_max(cap, ctx->held_size + size);
        cap = ngx_min(cap, max);

        if (len > 0 && (size_t) len <= max && cap < (size_t) len) {
            cap = len;
        }

        p = ngx_palloc(r->pool, cap);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (held == NULL) {
            held = ngx_calloc_buf(r->pool);
            if (held == NULL) {
                return NGX_ERROR;
            }

            ctx->held = held;

        } else {
            ngx_memcpy(p, held->pos, held->last - held->pos);
        }

        held->last = p + (held->last - held->pos);
        held->pos = p;
        held->start = p;
        held->end = p + cap;
    }

    held->last = ngx_cpymem(held->last, data, size);
    ctx->held_size += size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_hold(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char       *p;
    size_t        size, max;
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t  *cl;

    max = (ctx->endpoint->flags & NGX_HTTP_MJ_EP_LIST)
          ? NGX_HTTP_MJ_LIST_MAX : NGX_HTTP_MJ_ANSWER_MAX;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = b->last - b->pos;

        if (b->last_buf) {
            last = 1;
        }

        if (size == 0 || !ngx_buf_in_memory(b)) {
            b->pos = b->last;
            b->file_pos = b->file_last;
            continue;
        }

        if (ctx->held_size + size > max) {
            ctx->hold = 0;
            ctx->held_size = max + 1;
            break;
        }

        if (ngx_http_mj_hold_append(r, ctx, b->pos, size, max) != NGX_OK) {
            return NGX_ERROR;
        }

        b->pos = b->last;
    }

    if (ctx->held_size > max) {
        /* swallow the rest: the client gets the 502 */
        for ( /* void */ ; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return ngx_http_mj_unreadable(r, ctx,
                                      (ctx->endpoint->flags
                                       & NGX_HTTP_MJ_EP_LIST)
                                      ? "is larger than 16m"
                                      : "is larger than 1m");
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->hold = 0;

    p = ctx->held ? ctx->held->pos : (u_char *) "";
    size = ctx->held_size;

    return ngx_http_mj_answer(r, ctx, p, size);
}


static ngx_int_t
ngx_http_mj_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t        *cl;
    ngx_http_mj_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    if (ctx == NULL || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->replace) {
        /* swallow what was to be sent: the buffers count as written */
        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        if (ctx->replaced) {
            return NGX_OK;
        }

        ctx->replaced = 1;

        return ngx_http_mj_send(r, ctx->json.data, ctx->json.len, 0);
    }

    if (ctx->hold) {
        return ngx_http_mj_hold(r, ctx, in);
    }

    return ngx_http_next_body_filter(r, in);
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
