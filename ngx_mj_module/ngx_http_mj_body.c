/*
 * ngx_http_mj_body.c: what a request names, checked before it is relayed.
 *
 * Task ids in paths and bodies must belong to the caller.  Bodies are read
 * in the PRECONTENT phase and parsed with yajl straight from the buffer
 * chain or the temp file.  Top-level keys are matched the way Java and
 * .NET upstreams bind them (case-insensitively, after unescaping); a body
 * that repeats a key the gateway acts on is refused, since those upstreams
 * keep the last copy.  notifyHook and accountFilter are removed unless the
 * operator allows them; list-by-condition keeps only the caller's ids.  A
 * body that changes is rebuilt with yajl_gen into one fresh buffer, which
 * is what every try of proxy_next_upstream sends.
 */

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_mj_module.h"


#define NGX_HTTP_MJ_READ_CHUNK  65536


enum {
    NGX_HTTP_MJ_K_OTHER = 0,
    NGX_HTTP_MJ_K_TASKID,
    NGX_HTTP_MJ_K_CUSTOMID,
    NGX_HTTP_MJ_K_CONTENT,
    NGX_HTTP_MJ_K_IDS,
    NGX_HTTP_MJ_K_NOTIFYHOOK,
    NGX_HTTP_MJ_K_ACCOUNTFILTER,
    NGX_HTTP_MJ_K_ACTION
};


static ngx_str_t  ngx_http_mj_keys[] = {
    ngx_null_string,
    ngx_string("taskid"),
    ngx_string("customid"),
    ngx_string("content"),
    ngx_string("ids"),
    ngx_string("notifyhook"),
    ngx_string("accountfilter"),
    ngx_string("action")
};


typedef struct {
    ngx_http_request_t        *r;
    ngx_http_mj_loc_conf_t    *conf;
    ngx_uint_t                 depth;
    ngx_uint_t                 key;       /* of the member being read */
    ngx_uint_t                 seen;      /* bit per acted-on key */
    ngx_uint_t                 drop;      /* bit per key to remove */
    ngx_str_t                  task_id;
    ngx_str_t                  content;
    ngx_str_t                  custom_id;
    ngx_str_t                  action;    /* of a change */
    ngx_array_t                ids;       /* ngx_str_t */
    char                      *error;     /* what a 400 says */

    /* the rebuild */
    yajl_gen                   gen;
    ngx_array_t               *keep;      /* ids to keep, NULL: all */
    ngx_uint_t                 skip;      /* depth at which skipping ends */
} ngx_http_mj_body_t;


#define ngx_http_mj_bit(k)  ((ngx_uint_t) 1 << (k))


static ngx_uint_t
ngx_http_mj_key_class(const u_char *key, size_t len)
{
    ngx_uint_t  k;

    for (k = 1; k < sizeof(ngx_http_mj_keys) / sizeof(ngx_str_t); k++) {
        if (ngx_http_mj_keys[k].len == len
            && ngx_strncasecmp(ngx_http_mj_keys[k].data, (u_char *) key, len)
               == 0)
        {
            return k;
        }
    }

    return NGX_HTTP_MJ_K_OTHER;
}


static int
ngx_http_mj_fail_json(ngx_http_mj_body_t *b, char *error)
{
    b->error = error;
    return 0;
}


static ngx_int_t
ngx_http_mj_copy(ngx_http_mj_body_t *b, ngx_str_t *dst, const u_char *s,
    size_t len)
{
    dst->data = ngx_pnalloc(b->r->pool, len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s, len);
    dst->len = len;

    return NGX_OK;
}


/* a scalar or the start of a container, where a value is expected */
static int
ngx_http_mj_value(ngx_http_mj_body_t *b, ngx_uint_t container)
{
    if (b->depth == 0 && container != 1) {
        return ngx_http_mj_fail_json(b, "the body must be a JSON object");
    }

    if (b->depth == 1) {
        switch (b->key) {

        case NGX_HTTP_MJ_K_TASKID:
            return ngx_http_mj_fail_json(b, "taskId must be a string");

        case NGX_HTTP_MJ_K_CUSTOMID:
            return ngx_http_mj_fail_json(b, "customId must be a string");

        case NGX_HTTP_MJ_K_CONTENT:
            return ngx_http_mj_fail_json(b, "content must be a string");

        case NGX_HTTP_MJ_K_IDS:
            if (container != 2) {
                return ngx_http_mj_fail_json(b,
                                             "ids must be an array of strings");
            }
            break;

        case NGX_HTTP_MJ_K_NOTIFYHOOK:
            b->drop |= ngx_http_mj_bit(NGX_HTTP_MJ_K_NOTIFYHOOK);
            break;
        }

    } else if (b->depth == 2 && b->key == NGX_HTTP_MJ_K_IDS) {
        return ngx_http_mj_fail_json(b, "ids must be an array of strings");
    }

    return 1;
}


static int
ngx_http_mj_on_null(void *ctx)
{
    return ngx_http_mj_value(ctx, 0);
}


static int
ngx_http_mj_on_boolean(void *ctx, int v)
{
    return ngx_http_mj_value(ctx, 0);
}


static int
ngx_http_mj_on_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_mj_value(ctx, 0);
}


static ngx_uint_t
ngx_http_mj_hook_allowed(ngx_http_mj_body_t *b, const u_char *s, size_t len)
{
    ngx_uint_t   i;
    ngx_str_t   *p;

    if (b->conf->hooks == NULL) {
        return 0;
    }

    p = b->conf->hooks->elts;

    for (i = 0; i < b->conf->hooks->nelts; i++) {
        if (len >= p[i].len && ngx_strncmp(s, p[i].data, p[i].len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ngx_http_mj_on_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_str_t           *id;
    ngx_http_mj_body_t  *b = ctx;

    if (b->depth == 1) {
        switch (b->key) {

        case NGX_HTTP_MJ_K_TASKID:
            return ngx_http_mj_copy(b, &b->task_id, s, len) == NGX_OK;

        case NGX_HTTP_MJ_K_CONTENT:
            return ngx_http_mj_copy(b, &b->content, s, len) == NGX_OK;

        case NGX_HTTP_MJ_K_CUSTOMID:
            return ngx_http_mj_copy(b, &b->custom_id, s, len) == NGX_OK;

        case NGX_HTTP_MJ_K_ACTION:
            return ngx_http_mj_copy(b, &b->action, s, len) == NGX_OK;

        case NGX_HTTP_MJ_K_IDS:
            return ngx_http_mj_fail_json(b, "ids must be an array of strings");

        case NGX_HTTP_MJ_K_NOTIFYHOOK:
            if (!ngx_http_mj_hook_allowed(b, s, len)) {
                b->drop |= ngx_http_mj_bit(NGX_HTTP_MJ_K_NOTIFYHOOK);
            }
            return 1;
        }

        return 1;
    }

    if (b->depth == 2 && b->key == NGX_HTTP_MJ_K_IDS) {
        id = ngx_array_push(&b->ids);
        if (id == NULL) {
            return 0;
        }

        return ngx_http_mj_copy(b, id, s, len) == NGX_OK;
    }

    return ngx_http_mj_value(b, 0);
}


static int
ngx_http_mj_on_start_map(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    if (!ngx_http_mj_value(b, 1)) {
        return 0;
    }

    b->depth++;
    return 1;
}


static int
ngx_http_mj_on_start_array(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    if (!ngx_http_mj_value(b, 2)) {
        return 0;
    }

    b->depth++;
    return 1;
}


static int
ngx_http_mj_on_end(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    b->depth--;
    return 1;
}


static int
ngx_http_mj_on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_uint_t           k;
    ngx_http_mj_body_t  *b = ctx;

    if (b->depth != 1) {
        return 1;
    }

    k = ngx_http_mj_key_class(key, len);
    b->key = k;

    if (k == NGX_HTTP_MJ_K_OTHER) {
        return 1;
    }

    if (b->seen & ngx_http_mj_bit(k)) {
        return ngx_http_mj_fail_json(b, "the body repeats a key the gateway "
                                        "acts on");
    }

    b->seen |= ngx_http_mj_bit(k);

    if (k == NGX_HTTP_MJ_K_ACCOUNTFILTER && !b->conf->account_filter) {
        b->drop |= ngx_http_mj_bit(k);
    }

    return 1;
}


static yajl_callbacks  ngx_http_mj_inspect_callbacks = {
    ngx_http_mj_on_null,
    ngx_http_mj_on_boolean,
    NULL,
    NULL,
    ngx_http_mj_on_number,
    ngx_http_mj_on_string,
    ngx_http_mj_on_start_map,
    ngx_http_mj_on_map_key,
    ngx_http_mj_on_end,
    ngx_http_mj_on_start_array,
    ngx_http_mj_on_end
};


/* the rebuild: everything but the members dropped; ids cut to "keep" */


#define ngx_http_mj_gen_skip(b, open, close)                                 \
    if ((b)->skip) {                                                         \
        (b)->depth += (open);                                                \
        (b)->depth -= (close);                                               \
        if ((b)->depth == (b)->skip) {                                       \
            (b)->skip = 0;                                                   \
        }                                                                    \
        return 1;                                                            \
    }


static int
ngx_http_mj_gen_null(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 0);
    return yajl_gen_null(b->gen) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_boolean(void *ctx, int v)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 0);
    return yajl_gen_bool(b->gen, v) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_number(void *ctx, const char *s, size_t len)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 0);
    return yajl_gen_number(b->gen, s, len) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 0);
    return yajl_gen_string(b->gen, s, len) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_start_map(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 1, 0);
    b->depth++;
    return yajl_gen_map_open(b->gen) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_end_map(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 1);
    b->depth--;
    return yajl_gen_map_close(b->gen) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_start_array(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 1, 0);
    b->depth++;
    return yajl_gen_array_open(b->gen) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_end_array(void *ctx)
{
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 1);
    b->depth--;
    return yajl_gen_array_close(b->gen) == yajl_gen_status_ok;
}


static int
ngx_http_mj_gen_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_uint_t           k, i;
    ngx_str_t           *id;
    ngx_http_mj_body_t  *b = ctx;

    ngx_http_mj_gen_skip(b, 0, 0);

    if (b->depth != 1) {
        return yajl_gen_string(b->gen, key, len) == yajl_gen_status_ok;
    }

    k = ngx_http_mj_key_class(key, len);

    if (b->drop & ngx_http_mj_bit(k)) {
        b->skip = 1;
        return 1;
    }

    if (yajl_gen_string(b->gen, key, len) != yajl_gen_status_ok) {
        return 0;
    }

    if (k != NGX_HTTP_MJ_K_IDS || b->keep == NULL) {
        return 1;
    }

    /* the caller's own ids instead of the value that follows */
    b->skip = 1;

    if (yajl_gen_array_open(b->gen) != yajl_gen_status_ok) {
        return 0;
    }

    id = b->keep->elts;

    for (i = 0; i < b->keep->nelts; i++) {
        if (yajl_gen_string(b->gen, id[i].data, id[i].len)
            != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(b->gen) == yajl_gen_status_ok;
}


static yajl_callbacks  ngx_http_mj_gen_callbacks = {
    ngx_http_mj_gen_null,
    ngx_http_mj_gen_boolean,
    NULL,
    NULL,
    ngx_http_mj_gen_number,
    ngx_http_mj_gen_string,
    ngx_http_mj_gen_start_map,
    ngx_http_mj_gen_map_key,
    ngx_http_mj_gen_end_map,
    ngx_http_mj_gen_start_array,
    ngx_http_mj_gen_end_array
};


/*
 * Feed the request body to a parser, in memory or from the temp file,
 * chunk by chunk.  Returns NGX_OK, NGX_DECLINED for a body that is not
 * JSON (or that a callback refused), NGX_ERROR.
 */
static ngx_int_t
ngx_http_mj_parse_body(ngx_http_request_t *r, yajl_callbacks *cb, void *ctx)
{
    off_t         off;
    ssize_t       n;
    u_char       *chunk;
    ngx_int_t     rc;
    ngx_buf_t    *buf;
    ngx_chain_t  *cl;
    yajl_handle   h;

    h = yajl_alloc(cb, ngx_http_mj_yajl_alloc_funcs(r), ctx);
    if (h == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    chunk = NULL;

    for (cl = r->request_body->bufs; cl && rc == NGX_OK; cl = cl->next) {
        buf = cl->buf;

        if (!buf->in_file) {
            if (buf->last > buf->pos
                && yajl_parse(h, buf->pos, buf->last - buf->pos)
                   != yajl_status_ok)
            {
                rc = NGX_DECLINED;
            }

            continue;
        }

        if (chunk == NULL) {
            chunk = ngx_palloc(r->pool, NGX_HTTP_MJ_READ_CHUNK);
            if (chunk == NULL) {
                rc = NGX_ERROR;
                break;
            }
        }

        for (off = buf->file_pos; off < buf->file_last; off += n) {
            n = ngx_read_file(buf->file, chunk,
                              ngx_min(NGX_HTTP_MJ_READ_CHUNK,
                                      buf->file_last - off), off);

            if (n <= 0) {
                rc = NGX_ERROR;
                break;
            }

            if (yajl_parse(h, chunk, n) != yajl_status_ok) {
                rc = NGX_DECLINED;
                break;
            }
        }
    }

    if (rc == NGX_OK && yajl_complete_parse(h) != yajl_status_ok) {
        rc = NGX_DECLINED;
    }

    yajl_free(h);

    if (chunk) {
        ngx_pfree(r->pool, chunk);
    }

    return rc;
}


static ngx_int_t
ngx_http_mj_rebuild(ngx_http_request_t *r, ngx_http_mj_body_t *b)
{
    size_t               len;
    ngx_int_t            rc;
    ngx_buf_t           *buf;
    ngx_chain_t         *cl;
    const unsigned char *out;

    b->gen = yajl_gen_alloc(ngx_http_mj_yajl_alloc_funcs(r));
    if (b->gen == NULL) {
        return NGX_ERROR;
    }

    b->depth = 0;
    b->skip = 0;

    rc = ngx_http_mj_parse_body(r, &ngx_http_mj_gen_callbacks, b);

    if (rc == NGX_OK
        && yajl_gen_get_buf(b->gen, &out, &len) == yajl_gen_status_ok)
    {
        buf = ngx_create_temp_buf(r->pool, len ? len : 1);
        cl = ngx_alloc_chain_link(r->pool);

        if (buf == NULL || cl == NULL) {
            rc = NGX_ERROR;

        } else {
            buf->last = ngx_cpymem(buf->pos, out, len);
            buf->last_buf = 1;
            cl->buf = buf;
            cl->next = NULL;

            /* what proxy_pass sends, on every try */
            r->request_body->bufs = cl;
            r->request_body->buf = buf;
            r->headers_in.content_length_n = len;
        }

    } else if (rc == NGX_OK) {
        rc = NGX_ERROR;
    }

    yajl_gen_free(b->gen);
    b->gen = NULL;

    return rc;
}


ngx_int_t
ngx_http_mj_check_task(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_str_t *id)
{
    uint32_t             ukey;
    uint64_t             owner;
    ngx_http_mj_tid_t    tid;
    ngx_http_mj_ukey_t  *k;

    if (ngx_http_mj_tid(ctx->zone, id, &tid) != NGX_OK) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID,
                                NGX_HTTP_MJ_BAD_TASK_ID);
    }

    ukey = 0;
    ctx->tid = tid;
    owner = ngx_http_mj_task_owner(ctx->zone, &tid, &ukey, &ctx->action);

    if (owner != ctx->user->owner) {
        /* another user's task and no task at all look the same */
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                NGX_HTTP_MJ_CODE_NOT_FOUND, "task not found");
    }

    /* follow-ups go where the task was made */
    k = ngx_http_mj_find_ukey(r, ukey);

    if (k == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: the upstream key that created task \"%V\" is no "
                      "longer configured", id);

        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                NGX_HTTP_MJ_CODE_FAILURE,
                                "the upstream of this task is no longer "
                                "configured");
    }

    ctx->ukey = k;

    return NGX_OK;
}


/* list-by-condition: the caller's own ids, all from one upstream key */
static ngx_int_t
ngx_http_mj_own_ids(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_http_mj_body_t *b)
{
    uint32_t            ukey, first;
    ngx_uint_t          i;
    ngx_str_t          *id, *keep;
    ngx_http_mj_tid_t   tid;

    b->keep = ngx_array_create(r->pool, b->ids.nelts ? b->ids.nelts : 1,
                               sizeof(ngx_str_t));
    if (b->keep == NULL) {
        return NGX_ERROR;
    }

    id = b->ids.elts;
    first = 0;

    for (i = 0; i < b->ids.nelts; i++) {
        if (ngx_http_mj_tid(ctx->zone, &id[i], &tid) != NGX_OK) {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    "invalid task id in ids");
        }

        if (ngx_http_mj_task_owner(ctx->zone, &tid, &ukey, NULL)
            != ctx->user->owner)
        {
            continue;
        }

        if (b->keep->nelts == 0) {
            first = ukey;

        } else if (ukey != first) {
            continue;
        }

        keep = ngx_array_push(b->keep);
        if (keep == NULL) {
            return NGX_ERROR;
        }

        *keep = id[i];
    }

    if (b->keep->nelts) {
        ctx->ukey = ngx_http_mj_find_ukey(r, first);
        if (ctx->ukey == NULL) {
            b->keep->nelts = 0;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_inspect(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    u_char              *p, *end;
    ngx_int_t            rc;
    ngx_str_t            id;
    ngx_uint_t           flags;
    ngx_http_mj_body_t   b;

    flags = ctx->endpoint->flags;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID,
                                "a JSON body is required");
    }

    ngx_memzero(&b, sizeof(ngx_http_mj_body_t));
    b.r = r;
    b.conf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (ngx_array_init(&b.ids, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mj_parse_body(r, &ngx_http_mj_inspect_callbacks, &b);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID,
                                b.error ? b.error : "the body is not JSON");
    }

    if (flags & NGX_HTTP_MJ_EP_BODY_TASK) {
        if (b.task_id.data == NULL) {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    "taskId is required");
        }

        ctx->task_id = b.task_id;
        rc = ngx_http_mj_check_task(r, ctx, &b.task_id);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (flags & NGX_HTTP_MJ_EP_CONTENT) {
        if (b.content.data == NULL) {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    "content is required");
        }

        /* "<taskId> U2": the id is the first word */
        p = b.content.data;
        end = p + b.content.len;

        while (p < end && *p == ' ') {
            p++;
        }

        id.data = p;

        while (p < end && *p != ' ') {
            p++;
        }

        id.len = p - id.data;
        ctx->task_id = id;

        rc = ngx_http_mj_check_task(r, ctx, &id);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (flags & NGX_HTTP_MJ_EP_LIST) {
        if (!(b.seen & ngx_http_mj_bit(NGX_HTTP_MJ_K_IDS))) {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    "ids is required");
        }

        rc = ngx_http_mj_own_ids(r, ctx, &b);
        if (rc != NGX_OK) {
            return rc == NGX_ERROR ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
        }

        if (b.keep->nelts == 0) {
            return NGX_HTTP_MJ_ANSWER_EMPTY;
        }

        if (b.keep->nelts == b.ids.nelts) {
            b.keep = NULL;
        }
    }

    /*
     * What the submit asks for, for the allowed actions and the quota.  A
     * modal step is its MODAL task's action, which check_task() found.
     */
    if ((flags & NGX_HTTP_MJ_EP_SUBMIT)
        && !(ctx->endpoint->name.len == 5
             && ngx_strncmp(ctx->endpoint->name.data, "modal", 5) == 0))
    {
        ctx->action = ngx_http_mj_action_of(&ctx->endpoint->name,
                                            &b.custom_id, &b.action,
                                            (flags & NGX_HTTP_MJ_EP_CONTENT)
                                            ? &b.content : NULL);
    }

    if (b.drop) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mj: removed%s%s from the body of \"%V\"",
                      (b.drop & ngx_http_mj_bit(NGX_HTTP_MJ_K_NOTIFYHOOK))
                      ? " notifyHook" : "",
                      (b.drop & ngx_http_mj_bit(NGX_HTTP_MJ_K_ACCOUNTFILTER))
                      ? " accountFilter" : "",
                      &ctx->endpoint->name);
    }

    if (b.drop || b.keep) {
        if (ngx_http_mj_rebuild(r, &b) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_mj_body_handler(ngx_http_request_t *r)
{
    ngx_http_mj_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    ctx->status = ngx_http_mj_inspect(r, ctx);

    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* read the body; the handler runs again once ctx->status is known */
ngx_int_t
ngx_http_mj_read_body(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->reading = 1;
    ctx->status = NGX_AGAIN;

    rc = ngx_http_read_client_request_body(r, ngx_http_mj_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}
