/*
 * ngx_http_mj_json.c: the JSON the gateway writes itself.
 *
 * Every error the gateway makes, and every nginx error in a gateway
 * location, is {"code": N, "description": "..."}: the contract's shape.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <yajl/yajl_common.h>

#include "ngx_http_mj_module.h"


typedef struct {
    ngx_uint_t   status;
    char        *desc;
} ngx_http_mj_status_desc_t;


static ngx_http_mj_status_desc_t  ngx_http_mj_descs[] = {
    { NGX_HTTP_BAD_REQUEST, "bad request" },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized" },
    { NGX_HTTP_FORBIDDEN, "forbidden" },
    { NGX_HTTP_NOT_FOUND, "not found" },
    { NGX_HTTP_NOT_ALLOWED, "method not allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, "timed out reading the request" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request body too large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "request URI too long" },
    { NGX_HTTP_TOO_MANY_REQUESTS, "too many requests" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal gateway error" },
    { NGX_HTTP_BAD_GATEWAY, "upstream unavailable" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "service unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "upstream timed out" },
    { 0, NULL }
};


ngx_int_t
ngx_http_mj_fail(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t code, char *desc)
{
    ctx->err_code = code;
    ctx->err_desc.data = (u_char *) desc;
    ctx->err_desc.len = ngx_strlen(desc);

    return status;
}


ngx_int_t
ngx_http_mj_refuse_status(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, char *desc)
{
    return ngx_http_mj_fail(r, ctx, status,
                            status == NGX_HTTP_NOT_FOUND
                            ? NGX_HTTP_MJ_CODE_NOT_FOUND
                            : status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                            ? NGX_HTTP_MJ_CODE_FAILURE
                            : NGX_HTTP_MJ_CODE_INVALID, desc);
}


void
ngx_http_mj_status_error(ngx_uint_t status, ngx_uint_t *code, ngx_str_t *desc)
{
    ngx_http_mj_status_desc_t  *d;

    *code = status == NGX_HTTP_NOT_FOUND ? NGX_HTTP_MJ_CODE_NOT_FOUND
            : status >= 500 ? NGX_HTTP_MJ_CODE_FAILURE
            : NGX_HTTP_MJ_CODE_INVALID;

    for (d = ngx_http_mj_descs; d->status; d++) {
        if (d->status == status) {
            desc->data = (u_char *) d->desc;
            desc->len = ngx_strlen(d->desc);
            return;
        }
    }

    ngx_str_set(desc, "error");
}


ngx_int_t
ngx_http_mj_error_json(ngx_http_request_t *r, ngx_str_t *out,
    ngx_uint_t code, ngx_str_t *desc)
{
    u_char  *p;
    size_t   len;

    len = sizeof("{\"code\":,\"description\":\"\"}\n") - 1 + NGX_INT_T_LEN
          + desc->len + ngx_escape_json(NULL, desc->data, desc->len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_sprintf(p, "{\"code\":%ui,\"description\":\"", code);
    p = (u_char *) ngx_escape_json(p, desc->data, desc->len);
    p = ngx_cpymem(p, "\"}\n", 3);
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * yajl's memory from the request's pool: no malloc() and free() on the
 * request path.  Each block remembers its size, for realloc().
 */

static void *
ngx_http_mj_yajl_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, size + sizeof(size_t));
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void
ngx_http_mj_yajl_free(void *ctx, void *ptr)
{
    if (ptr) {
        /* a large block goes back at once, a small one with the pool */
        (void) ngx_pfree(ctx, (size_t *) ptr - 1);
    }
}


static void *
ngx_http_mj_yajl_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_http_mj_yajl_malloc(ctx, size);
    }

    old = *((size_t *) ptr - 1);

    if (old >= size) {
        return ptr;
    }

    p = ngx_http_mj_yajl_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, old);
    ngx_http_mj_yajl_free(ctx, ptr);

    return p;
}


/*
 * yajl's own memory while it parses (its handle, lexer, stacks, string
 * buffer) is all freed before the parse returns, and parses never nest:
 * so each process lends it one block, used from its start again whenever
 * nothing in it is in use, and no request's pool grows for it.  What does
 * not fit comes from malloc(), and goes back before the parse returns.
 */

#define NGX_HTTP_MJ_ARENA_WORDS  1024

static size_t      ngx_http_mj_arena[NGX_HTTP_MJ_ARENA_WORDS];
static size_t      ngx_http_mj_arena_used;     /* words */
static ngx_uint_t  ngx_http_mj_arena_live;     /* blocks in use */


#define ngx_http_mj_in_arena(p)                                              \
    ((size_t *) (p) >= ngx_http_mj_arena                                     \
     && (size_t *) (p) < ngx_http_mj_arena + NGX_HTTP_MJ_ARENA_WORDS)


static void *
ngx_http_mj_arena_malloc(void *ctx, size_t size)
{
    size_t  *p, words;

    /* a word for the size, then the block in whole words */
    words = 1 + (size + sizeof(size_t) - 1) / sizeof(size_t);

    if (words > NGX_HTTP_MJ_ARENA_WORDS - ngx_http_mj_arena_used) {
        return malloc(size);
    }

    p = ngx_http_mj_arena + ngx_http_mj_arena_used;
    *p = size;

    ngx_http_mj_arena_used += words;
    ngx_http_mj_arena_live++;

    return p + 1;
}


static void
ngx_http_mj_arena_free(void *ctx, void *ptr)
{
    if (!ngx_http_mj_in_arena(ptr)) {
        free(ptr);
        return;
    }

    if (--ngx_http_mj_arena_live == 0) {
        ngx_http_mj_arena_used = 0;
    }
}


static void *
ngx_http_mj_arena_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_http_mj_arena_malloc(ctx, size);
    }

    if (!ngx_http_mj_in_arena(ptr)) {
        return realloc(ptr, size);
    }

    old = *((size_t *) ptr - 1);

    if (old >= size) {
        return ptr;
    }

    p = ngx_http_mj_arena_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, old);
    ngx_http_mj_arena_free(ctx, ptr);

    return p;
}


static yajl_alloc_funcs  ngx_http_mj_yajl_parser = {
    ngx_http_mj_arena_malloc,
    ngx_http_mj_arena_realloc,
    ngx_http_mj_arena_free,
    NULL
};


yajl_alloc_funcs *
ngx_http_mj_yajl_parser_funcs(void)
{
    return &ngx_http_mj_yajl_parser;
}


void
ngx_http_mj_yajl_alloc_init(ngx_http_request_t *r, yajl_alloc_funcs *af)
{
    af->malloc = ngx_http_mj_yajl_malloc;
    af->realloc = ngx_http_mj_yajl_realloc;
    af->free = ngx_http_mj_yajl_free;
    af->ctx = r->pool;
}


void *
ngx_http_mj_yajl_alloc_funcs(ngx_http_request_t *r)
{
    yajl_alloc_funcs  *af;

    af = ngx_palloc(r->pool, sizeof(yajl_alloc_funcs));
    if (af == NULL) {
        return NULL;
    }

    ngx_http_mj_yajl_alloc_init(r, af);

    return af;
}
