/*
 * ngx_http_mj_body.c: what a request names, checked before it is relayed.
 *
 * Task ids in paths and bodies must belong to the caller.  A body is read
 * in the PRECONTENT phase and looked at as one block of memory (a temp
 * file is mapped, not copied), so that inspecting it costs time linear in
 * its size.  mj_body_parse.c reads it the way every upstream will, or
 * refuses it.  notifyHook and accountFilter are removed unless the
 * operator allows them; list-by-condition keeps only the caller's ids.  A
 * body that changes is written anew, into memory or into a temp file of
 * its own as the original was, and that is what every try of
 * proxy_next_upstream sends.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <sys/mman.h>

#include "ngx_http_mj_module.h"
#include "mj_body_parse.h"


/* the slices a rewritten body goes to its temp file in */
#define NGX_HTTP_MJ_WRITE_SLICE  65536


/* where a rewritten body goes: memory, or a temp file in slices */
typedef struct {
    ngx_http_request_t        *r;
    ngx_buf_t                 *buf;
    ngx_temp_file_t           *file;     /* NULL: into memory */
    off_t                      size;
    ngx_uint_t                 failed;
} ngx_http_mj_sink_t;


static ngx_int_t ngx_http_mj_body_names(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, mj_body_t *b);


static void
ngx_http_mj_unmap(void *data)
{
    ngx_str_t  *map = data;

    (void) munmap(map->data, map->len);
}


/* a body in a file of its own, mapped for as long as the request lives */
static ngx_int_t
ngx_http_mj_map_file(ngx_http_request_t *r, ngx_buf_t *b, u_char **text)
{
    void                *p;
    size_t               len;
    ngx_str_t           *map;
    ngx_pool_cleanup_t  *cln;

    len = (size_t) b->file_last;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, b->file->fd, 0);
    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "mmap(\"%V\") failed", &b->file->name);
        return NGX_ERROR;
    }

    map = cln->data;
    map->data = p;
    map->len = len;
    cln->handler = ngx_http_mj_unmap;

    *text = (u_char *) p + b->file_pos;

    return NGX_OK;
}


/*
 * The body as one block: the buffer itself, the mapped temp file, or (for
 * a chain of several parts, which nginx rarely makes) a copy.
 */
static ngx_int_t
ngx_http_mj_body_text(ngx_http_request_t *r, u_char **text, size_t *len,
    ngx_uint_t *in_file, size_t *copied)
{
    u_char       *p;
    off_t         size;
    ssize_t       n;
    ngx_buf_t    *b, *one;
    ngx_uint_t    parts;
    ngx_chain_t  *cl;

    size = 0;
    parts = 0;
    one = NULL;
    *in_file = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        n = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;

        if (n > 0) {
            size += n;
            parts++;
            one = b;
            *in_file |= b->in_file;
        }
    }

    *len = (size_t) size;

    if (parts == 0) {
        *text = (u_char *) "";
        return NGX_OK;
    }

    if (parts == 1) {
        if (!one->in_file) {
            *text = one->pos;
            return NGX_OK;
        }

        return ngx_http_mj_map_file(r, one, text);
    }

    p = ngx_pnalloc(r->pool, *len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *text = p;
    *copied = *len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_sink_flush(ngx_http_mj_sink_t *s)
{
    ssize_t      n;
    ngx_chain_t  out;

    if (s->buf->last == s->buf->pos) {
        return NGX_OK;
    }

    out.buf = s->buf;
    out.next = NULL;

    n = ngx_write_chain_to_temp_file(s->file, &out);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* the caller moves the offset on, as ngx_http_write_request_body() */
    s->file->offset += n;

    s->buf->pos = s->buf->start;
    s->buf->last = s->buf->start;

    return NGX_OK;
}


/* yajl_gen's printer: a rewritten body is never longer than its original */
static void
ngx_http_mj_sink_print(void *ctx, const char *str, size_t len)
{
    size_t               n;
    ngx_http_mj_sink_t  *s = ctx;

    while (len && !s->failed) {
        n = ngx_min(len, (size_t) (s->buf->end - s->buf->last));

        if (n == 0) {
            if (s->file == NULL || ngx_http_mj_sink_flush(s) != NGX_OK) {
                s->failed = 1;
            }

            continue;
        }

        s->buf->last = ngx_cpymem(s->buf->last, str, n);
        s->size += n;
        str += n;
        len -= n;
    }
}


static ngx_int_t
ngx_http_mj_sink_init(ngx_http_mj_sink_t *s, ngx_http_request_t *r,
    size_t len, ngx_uint_t in_file)
{
    ngx_temp_file_t           *tf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_memzero(s, sizeof(ngx_http_mj_sink_t));
    s->r = r;

    if (!in_file) {
        s->buf = ngx_create_temp_buf(r->pool, len ? len : 1);
        return s->buf ? NGX_OK : NGX_ERROR;
    }

    /* as ngx_http_write_request_body() makes its temp file */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    tf = ngx_pcalloc(r->pool, sizeof(ngx_temp_file_t));
    s->buf = ngx_create_temp_buf(r->pool, NGX_HTTP_MJ_WRITE_SLICE);
    if (tf == NULL || s->buf == NULL) {
        return NGX_ERROR;
    }

    tf->file.fd = NGX_INVALID_FILE;
    tf->file.log = r->connection->log;
    tf->path = clcf->client_body_temp_path;
    tf->pool = r->pool;
    tf->warn = "a client request body is buffered to a temporary file";
    tf->log_level = r->request_body_file_log_level;
    tf->persistent = r->request_body_in_persistent_file;
    tf->clean = r->request_body_in_clean_file;

    if (r->request_body_file_group_access) {
        tf->access = 0660;
    }

    s->file = tf;

    return NGX_OK;
}


/* the rewritten body is what proxy_pass sends, on every try */
static ngx_int_t
ngx_http_mj_sink_done(ngx_http_mj_sink_t *s)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (s->failed) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(s->r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = s->buf;

    if (s->file) {
        if (ngx_http_mj_sink_flush(s) != NGX_OK) {
            return NGX_ERROR;
        }

        b = ngx_calloc_buf(s->r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->in_file = 1;
        b->file = &s->file->file;
        b->file_pos = 0;
        b->file_last = s->size;

        s->r->request_body->temp_file = s->file;
    }

    b->last_buf = 1;
    cl->buf = b;
    cl->next = NULL;

    s->r->request_body->bufs = cl;
    s->r->request_body->buf = s->file ? NULL : b;
    s->r->headers_in.content_length_n = s->size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_rewrite(ngx_http_request_t *r, mj_body_t *b, mj_span_t *keep,
    size_t nkeep, ngx_uint_t in_file)
{
    ngx_http_mj_sink_t  sink;

    if (ngx_http_mj_sink_init(&sink, r, b->text_len, in_file) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mj_body_rewrite(b, keep, nkeep, ngx_http_mj_sink_print, &sink) != 0) {
        return NGX_ERROR;
    }

    return ngx_http_mj_sink_done(&sink);
}


static int
ngx_http_mj_hook_allowed(void *data, const unsigned char *url, size_t len)
{
    ngx_array_t  *hooks = data;

    ngx_str_t   *p;
    ngx_uint_t   i;

    p = hooks->elts;

    for (i = 0; i < hooks->nelts; i++) {
        if (len >= p[i].len && ngx_strncmp(url, p[i].data, p[i].len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the body, read the way every upstream will read it: ctx->body */
static ngx_int_t
ngx_http_mj_inspect(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    u_char                  *text;
    size_t                   len;
    ngx_int_t                rc;
    mj_body_t               *b;
    ngx_uint_t               in_file;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID,
                                "a JSON body is required");
    }

    b = ngx_pcalloc(r->pool, sizeof(mj_body_t));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mj_body_text(r, &text, &len, &in_file, &b->copied)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->alloc = ngx_http_mj_yajl_alloc_funcs(r);
    b->parser = ngx_http_mj_yajl_parser_funcs();
    b->keep_account_filter = mlcf->account_filter ? 1 : 0;

    if (mlcf->hooks) {
        b->hook_allowed = ngx_http_mj_hook_allowed;
        b->data = mlcf->hooks;
    }

    if (b->alloc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = mj_body_inspect(b, text, len);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: body of \"%V\": %uz bytes%s, %ui parses, "
                   "%uz bytes copied", &ctx->endpoint->name, len,
                   in_file ? " in a file" : "", (ngx_uint_t) b->parses,
                   b->copied);

    if (rc == -2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == -1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mj: body of \"%V\" refused: %s",
                      &ctx->endpoint->name, b->error);

        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID, (char *) b->error);
    }

    ctx->body = b;
    ctx->body_in_file = in_file;

    return ngx_http_mj_body_names(r, ctx, b);
}


/* the tasks a body names, required where the endpoint needs them */
static ngx_int_t
ngx_http_mj_body_names(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    mj_body_t *b)
{
    char        *missing;
    ngx_str_t    content, rest;
    ngx_uint_t   flags;

    flags = ctx->endpoint->flags;
    missing = NULL;

    if (flags & NGX_HTTP_MJ_EP_BODY_TASK) {
        ngx_http_mj_span_str(&ctx->named, &b->str[MJ_BODY_TASKID]);

        if (ctx->named.data == NULL) {
            missing = "taskId is required";
        }
    }

    if (flags & NGX_HTTP_MJ_EP_CONTENT) {
        ngx_http_mj_span_str(&content, &b->str[MJ_BODY_CONTENT]);

        if (content.data == NULL) {
            missing = "content is required";

        } else {
            ngx_http_mj_content_split(&content, &ctx->named, &rest);
        }
    }

    if ((flags & NGX_HTTP_MJ_EP_LIST)
        && !(b->seen & MJ_BODY_BIT(MJ_BODY_IDS)))
    {
        missing = "ids is required";
    }

    if (missing) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID, missing);
    }

    if (b->drop) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mj: removed%s%s from the body of \"%V\"",
                      (b->drop & MJ_BODY_BIT(MJ_BODY_NOTIFYHOOK))
                      ? " notifyHook" : "",
                      (b->drop & MJ_BODY_BIT(MJ_BODY_ACCOUNTFILTER))
                      ? " accountFilter" : "",
                      &ctx->endpoint->name);
    }

    return NGX_OK;
}


/*
 * After the admission: what the body drops goes, and a list keeps only
 * the ids the store kept.
 */
ngx_int_t
ngx_http_mj_body_rewrite(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    size_t      i, n;
    mj_body_t  *b;
    mj_span_t  *keep;

    b = ctx->body;

    if (b == NULL) {
        return NGX_OK;
    }

    keep = NULL;
    n = 0;

    if (ctx->endpoint->flags & NGX_HTTP_MJ_EP_LIST) {
        keep = ngx_palloc(r->pool, (b->nids + 1) * sizeof(mj_span_t));
        if (keep == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < b->nids; i++) {
            if (ctx->admit.info[i].kept) {
                keep[n++] = b->ids[i];
            }
        }

        if (n == b->nids) {
            keep = NULL;
        }
    }

    if (b->drop == 0 && keep == NULL) {
        return NGX_OK;
    }

    if (ngx_http_mj_rewrite(r, b, keep, n, ctx->body_in_file) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the cost stays linear: one parse a pass, nothing copied twice */
    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: body of \"%V\" written anew: %O bytes%s, %ui "
                   "parses in all, %uz bytes copied", &ctx->endpoint->name,
                   r->headers_in.content_length_n,
                   ctx->body_in_file ? " in a file" : "",
                   (ngx_uint_t) b->parses, b->copied);

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

    ctx->step = NGX_HTTP_MJ_STEP_BODY;
    ctx->status = NGX_AGAIN;

    rc = ngx_http_read_client_request_body(r, ngx_http_mj_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/* the whole body came with the headers: reading it costs nothing */
ngx_uint_t
ngx_http_mj_body_here(ngx_http_request_t *r)
{
    return r->headers_in.content_length_n >= 0
           && r->headers_in.chunked == 0
           && r->header_in->last - r->header_in->pos
              >= r->headers_in.content_length_n;
}
