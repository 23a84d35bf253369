/*
 * ngx_http_mj_hash.h: SHA-256 on the request path (ngx_http_mj_hash.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_HASH_H
#define NGX_HTTP_MJ_HASH_H


/* SHA-256 of "prefix" then "data"; a keyed hash when prefix is secret */
ngx_int_t ngx_http_mj_sha256(const u_char *prefix, size_t plen,
    const u_char *data, size_t len, u_char *out);

/* the process's digest context, freed at exit */
void ngx_http_mj_hash_done(void);

#endif /* NGX_HTTP_MJ_HASH_H */
