/*
 * ngx_http_mj_cache.h: a worker's memo of strings it has already turned
 * into something costly (ngx_http_mj_cache.c): a client's key into its
 * user, a task id into the zone's keyed hash of it.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_CACHE_H
#define NGX_HTTP_MJ_CACHE_H


/* longer strings are never kept: they take the slow way every time */
#define NGX_HTTP_MJ_CACHE_STR  64


typedef struct {
    uint64_t                   tag;        /* keyed hash of str; 0: free */
    uint64_t                   value;
    size_t                     len;
    u_char                     str[NGX_HTTP_MJ_CACHE_STR];
} ngx_http_mj_cache_entry_t;


typedef struct ngx_http_mj_cache_s {
    ngx_http_mj_cache_entry_t *slots;
    ngx_uint_t                 mask;
} ngx_http_mj_cache_t;


/* n slots (a power of two), from a configuration's pool: NULL on error */
ngx_http_mj_cache_t *ngx_http_mj_cache_create(ngx_pool_t *pool,
    ngx_uint_t n);

/*
 * The value kept for this string: 1 and *value, or 0 (not kept; *tag is
 * what ngx_http_mj_cache_add() takes, or 0 when the string cannot be kept).
 * The whole string is compared in constant time.
 */
ngx_uint_t ngx_http_mj_cache_find(ngx_http_mj_cache_t *c, const u_char *s,
    size_t len, uint64_t *tag, uint64_t *value);

/* keep a value for the string a find missed, in the place of another */
void ngx_http_mj_cache_add(ngx_http_mj_cache_t *c, const u_char *s,
    size_t len, uint64_t tag, uint64_t value);

/* SipHash-2-4 of the string under this process's random key; never 0 */
uint64_t ngx_http_mj_cache_tag(const u_char *s, size_t len);

#endif /* NGX_HTTP_MJ_CACHE_H */
