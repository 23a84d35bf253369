/*
 * ngx_http_mj_json.c: the JSON the gateway writes itself.
 *
 * Every error the gateway makes, and every nginx error in a gateway
 * location, is {"code": N, "description": "..."}: the contract's shape.
 */

#include <yajl/yajl_parse.h>

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


void *
ngx_http_mj_yajl_alloc_funcs(ngx_http_request_t *r)
{
    yajl_alloc_funcs  *af;

    af = ngx_palloc(r->pool, sizeof(yajl_alloc_funcs));
    if (af == NULL) {
        return NULL;
    }

    af->malloc = ngx_http_mj_yajl_malloc;
    af->realloc = ngx_http_mj_yajl_realloc;
    af->free = ngx_http_mj_yajl_free;
    af->ctx = r->pool;

    return af;
}


/*
 * Reading the upstream's answers: the top-level "code", "result", "id"
 * and "status" of an object, or of each object of an array, with each
 * object's byte span (the answer is contiguous then).  A fetch answer's
 * parse stops at "status".
 */


enum {
    NGX_HTTP_MJ_F_OTHER = 0,
    NGX_HTTP_MJ_F_CODE,
    NGX_HTTP_MJ_F_RESULT,
    NGX_HTTP_MJ_F_ID,
    NGX_HTTP_MJ_F_STATUS
};


static ngx_int_t
ngx_http_mj_scan_field(const u_char *key, size_t len)
{
    static ngx_str_t  fields[] = {
        ngx_null_string,
        ngx_string("code"),
        ngx_string("result"),
        ngx_string("id"),
        ngx_string("status")
    };

    ngx_uint_t  i;

    for (i = 1; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].len == len
            && ngx_strncmp(fields[i].data, key, len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_MJ_F_OTHER;
}


/* the depth at which an object's fields sit: 1, or 2 inside an array */
#define ngx_http_mj_scan_at(s)  ((s)->depth == 1 + (ngx_uint_t) (s)->array)


static int
ngx_http_mj_scan_scalar(ngx_http_mj_scan_t *s)
{
    if (s->depth == 0) {
        s->bad = 1;
        return 0;
    }

    if (ngx_http_mj_scan_at(s)) {
        s->field = NGX_HTTP_MJ_F_OTHER;
    }

    return 1;
}


static int
ngx_http_mj_scan_null(void *ctx)
{
    return ngx_http_mj_scan_scalar(ctx);
}


static int
ngx_http_mj_scan_boolean(void *ctx, int v)
{
    return ngx_http_mj_scan_scalar(ctx);
}


static int
ngx_http_mj_scan_number(void *ctx, const char *num, size_t len)
{
    ngx_int_t            n;
    ngx_http_mj_scan_t  *s = ctx;

    if (ngx_http_mj_scan_at(s) && s->field == NGX_HTTP_MJ_F_CODE) {
        n = ngx_atoi((u_char *) num, len);
        s->cur.code = (n == NGX_ERROR) ? -2 : n;
    }

    return ngx_http_mj_scan_scalar(s);
}


static int
ngx_http_mj_scan_string(void *ctx, const unsigned char *str, size_t len)
{
    ngx_str_t           *dst;
    ngx_http_mj_scan_t  *s = ctx;

    dst = NULL;

    if (ngx_http_mj_scan_at(s)) {
        switch (s->field) {
        case NGX_HTTP_MJ_F_RESULT:
            dst = &s->cur.result;
            break;
        case NGX_HTTP_MJ_F_ID:
            dst = &s->cur.id;
            break;
        case NGX_HTTP_MJ_F_STATUS:
            dst = &s->cur.status;
            break;
        }
    }

    if (dst) {
        /* yajl's pointer may be into its own buffer: keep a copy */
        dst->data = ngx_pnalloc(s->pool, len);
        if (dst->data == NULL) {
            return 0;
        }

        ngx_memcpy(dst->data, str, len);
        dst->len = len;

        if (s->stop && dst == &s->cur.status) {
            s->done = 1;
            return 0;
        }
    }

    return ngx_http_mj_scan_scalar(s);
}


static int
ngx_http_mj_scan_start(ngx_http_mj_scan_t *s, ngx_uint_t map)
{
    if (s->depth == 0) {
        if (!map && !s->array) {
            s->bad = 1;
            return 0;
        }

        if (map && s->array) {
            s->bad = 1;
            return 0;
        }
    }

    if (s->array && s->depth == 1) {
        if (!map) {
            s->bad = 1;
            return 0;
        }

        ngx_memzero(&s->cur, sizeof(ngx_http_mj_obj_t));
        s->cur.code = -1;
        s->cur.start = s->offset + yajl_get_bytes_consumed(s->h) - 1;
    }

    if (ngx_http_mj_scan_at(s)) {
        s->field = NGX_HTTP_MJ_F_OTHER;
    }

    s->depth++;
    return 1;
}


static int
ngx_http_mj_scan_start_map(void *ctx)
{
    return ngx_http_mj_scan_start(ctx, 1);
}


static int
ngx_http_mj_scan_start_array(void *ctx)
{
    return ngx_http_mj_scan_start(ctx, 0);
}


static int
ngx_http_mj_scan_end(void *ctx)
{
    ngx_http_mj_obj_t   *o;
    ngx_http_mj_scan_t  *s = ctx;

    s->depth--;

    if (s->array && s->depth == 1) {
        s->cur.end = s->offset + yajl_get_bytes_consumed(s->h);

        o = ngx_array_push(s->objs);
        if (o == NULL) {
            return 0;
        }

        *o = s->cur;
    }

    return 1;
}


static int
ngx_http_mj_scan_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_http_mj_scan_t  *s = ctx;

    if (ngx_http_mj_scan_at(s)) {
        s->field = ngx_http_mj_scan_field(key, len);
    }

    return 1;
}


static yajl_callbacks  ngx_http_mj_scan_callbacks = {
    ngx_http_mj_scan_null,
    ngx_http_mj_scan_boolean,
    NULL,
    NULL,
    ngx_http_mj_scan_number,
    ngx_http_mj_scan_string,
    ngx_http_mj_scan_start_map,
    ngx_http_mj_scan_key,
    ngx_http_mj_scan_end,
    ngx_http_mj_scan_start_array,
    ngx_http_mj_scan_end
};


static void
ngx_http_mj_scan_cleanup(void *data)
{
    ngx_http_mj_scan_t  *s = data;

    if (s->h) {
        yajl_free(s->h);
        s->h = NULL;
    }
}


ngx_http_mj_scan_t *
ngx_http_mj_scan_create(ngx_http_request_t *r, ngx_uint_t array,
    ngx_uint_t stop)
{
    yajl_alloc_funcs    *af;
    ngx_pool_cleanup_t  *cln;
    ngx_http_mj_scan_t  *s;

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_mj_scan_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (s == NULL || cln == NULL) {
        return NULL;
    }

    s->pool = r->pool;
    s->array = array ? 1 : 0;
    s->stop = stop ? 1 : 0;
    s->cur.code = -1;

    if (array) {
        s->objs = ngx_array_create(r->pool, 8, sizeof(ngx_http_mj_obj_t));
        if (s->objs == NULL) {
            return NULL;
        }
    }

    af = ngx_http_mj_yajl_alloc_funcs(r);
    if (af == NULL) {
        return NULL;
    }

    s->h = yajl_alloc(&ngx_http_mj_scan_callbacks, af, s);
    if (s->h == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mj_scan_cleanup;
    cln->data = s;

    return s;
}


/* NGX_OK: go on; NGX_DONE: what was wanted is seen; NGX_ERROR: not JSON */
ngx_int_t
ngx_http_mj_scan(ngx_http_mj_scan_t *s, u_char *p, size_t len,
    ngx_uint_t last)
{
    yajl_status  st;

    if (s->done) {
        return NGX_DONE;
    }

    if (s->bad || s->h == NULL) {
        return NGX_ERROR;
    }

    st = len ? yajl_parse(s->h, p, len) : yajl_status_ok;
    s->offset += len;

    if (st == yajl_status_ok && last) {
        st = yajl_complete_parse(s->h);
    }

    if (s->done) {
        return NGX_DONE;
    }

    if (st != yajl_status_ok) {
        s->bad = 1;
        return NGX_ERROR;
    }

    return last ? NGX_DONE : NGX_OK;
}
