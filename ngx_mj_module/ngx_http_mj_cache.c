/*
 * ngx_http_mj_cache.c: a worker's memo of strings it has already turned
 * into something costly: a client's key into its user (a SHA-256 and a
 * look-up), a task id into the zone's keyed hash of it (another SHA-256).
 *
 * A direct-mapped table of a fixed number of slots, in the memory of the
 * configuration it belongs to: each worker fills its own copy, nothing of
 * it is in shared memory, and a reload, which makes a new configuration,
 * starts with an empty one.  A slot is chosen by SipHash-2-4 of the string
 * under a key each process draws at random when it first needs it, so
 * that no one can aim strings at one slot; a hit is confirmed by comparing
 * the whole string in constant time.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_http_mj_module.h"


static uint64_t    ngx_http_mj_sip_key[2];
static ngx_uint_t  ngx_http_mj_sip_ready;
static ngx_pid_t   ngx_http_mj_sip_pid;


#define ngx_http_mj_rotl(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_mj_sip_round(v0, v1, v2, v3)                                \
    v0 += v1; v1 = ngx_http_mj_rotl(v1, 13); v1 ^= v0;                      \
    v0 = ngx_http_mj_rotl(v0, 32);                                           \
    v2 += v3; v3 = ngx_http_mj_rotl(v3, 16); v3 ^= v2;                       \
    v0 += v3; v3 = ngx_http_mj_rotl(v3, 21); v3 ^= v0;                       \
    v2 += v1; v1 = ngx_http_mj_rotl(v1, 17); v1 ^= v2;                       \
    v2 = ngx_http_mj_rotl(v2, 32)


/* eight bytes as a little-endian number */
static uint64_t
ngx_http_mj_le64(const u_char *p, size_t n)
{
    size_t    i;
    uint64_t  m;

#if (NGX_HAVE_LITTLE_ENDIAN)
    if (n == 8) {
        ngx_memcpy(&m, p, 8);
        return m;
    }
#endif

    m = 0;

    for (i = n; i > 0; i--) {
        m = m << 8 | p[i - 1];
    }

    return m;
}


/* SipHash-2-4 (Aumasson and Bernstein, 2012) */
static uint64_t
ngx_http_mj_siphash(const uint64_t *key, const u_char *s, size_t len)
{
    size_t    i, full;
    uint64_t  v0, v1, v2, v3, m;

    v0 = key[0] ^ 0x736f6d6570736575ULL;
    v1 = key[1] ^ 0x646f72616e646f6dULL;
    v2 = key[0] ^ 0x6c7967656e657261ULL;
    v3 = key[1] ^ 0x7465646279746573ULL;

    full = len & ~(size_t) 7;

    for (i = 0; i < full; i += 8) {
        m = ngx_http_mj_le64(s + i, 8);
        v3 ^= m;
        ngx_http_mj_sip_round(v0, v1, v2, v3);
        ngx_http_mj_sip_round(v0, v1, v2, v3);
        v0 ^= m;
    }

    m = ngx_http_mj_le64(s + full, len - full) | (uint64_t) len << 56;
    v3 ^= m;
    ngx_http_mj_sip_round(v0, v1, v2, v3);
    ngx_http_mj_sip_round(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= 0xff;

    for (i = 0; i < 4; i++) {
        ngx_http_mj_sip_round(v0, v1, v2, v3);
    }

    return v0 ^ v1 ^ v2 ^ v3;
}


uint64_t
ngx_http_mj_cache_tag(const u_char *s, size_t len)
{
    uint64_t  tag;

    /* drawn in the process that uses it: a worker never shares its key */
    if (!ngx_http_mj_sip_ready || ngx_http_mj_sip_pid != ngx_pid) {
        if (RAND_bytes((u_char *) ngx_http_mj_sip_key,
                       sizeof(ngx_http_mj_sip_key))
            != 1)
        {
            return 0;
        }

        ngx_http_mj_sip_ready = 1;
        ngx_http_mj_sip_pid = ngx_pid;
    }

    tag = ngx_http_mj_siphash(ngx_http_mj_sip_key, s, len);

    return tag ? tag : 1;
}


ngx_http_mj_cache_t *
ngx_http_mj_cache_create(ngx_pool_t *pool, ngx_uint_t n)
{
    ngx_http_mj_cache_t  *c;

    c = ngx_palloc(pool, sizeof(ngx_http_mj_cache_t));
    if (c == NULL) {
        return NULL;
    }

    c->slots = ngx_pcalloc(pool, n * sizeof(ngx_http_mj_cache_entry_t));
    if (c->slots == NULL) {
        return NULL;
    }

    c->mask = n - 1;

    return c;
}


ngx_uint_t
ngx_http_mj_cache_find(ngx_http_mj_cache_t *c, const u_char *s, size_t len,
    uint64_t *tag, uint64_t *value)
{
    ngx_http_mj_cache_entry_t  *e;

    *tag = 0;

    if (c == NULL || len > NGX_HTTP_MJ_CACHE_STR) {
        return 0;
    }

    *tag = ngx_http_mj_cache_tag(s, len);
    if (*tag == 0) {
        return 0;
    }

    e = &c->slots[*tag & c->mask];

    /* a tag only a string of this process's choosing could match */
    if (e->tag != *tag || e->len != len
        || CRYPTO_memcmp(e->str, s, len) != 0)
    {
        return 0;
    }

    *value = e->value;

    return 1;
}


void
ngx_http_mj_cache_add(ngx_http_mj_cache_t *c, const u_char *s, size_t len,
    uint64_t tag, uint64_t value)
{
    ngx_http_mj_cache_entry_t  *e;

    if (c == NULL || tag == 0 || len > NGX_HTTP_MJ_CACHE_STR) {
        return;
    }

    e = &c->slots[tag & c->mask];

    /* what it held is wiped, not left behind: it may be a key */
    ngx_explicit_memzero(e->str, sizeof(e->str));

    ngx_memcpy(e->str, s, len);
    e->len = len;
    e->value = value;
    e->tag = tag;
}
