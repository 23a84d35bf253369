/*
 * ngx_http_mj_hash.c: SHA-256 on the request path, through OpenSSL.
 *
 * OpenSSL 3's one-shot SHA256() and HMAC() look the algorithm up and
 * allocate a context on every call: a large share of a request's time.
 * Each process fetches the digest once and reuses one context.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <openssl/evp.h>

#include "ngx_http_mj_module.h"


static EVP_MD      *ngx_http_mj_sha256_md;
static EVP_MD_CTX  *ngx_http_mj_sha256_ctx;


/* SHA-256 of "prefix" then "data"; a keyed hash when prefix is secret */
ngx_int_t
ngx_http_mj_sha256(const u_char *prefix, size_t plen, const u_char *data,
    size_t len, u_char *out)
{
    if (ngx_http_mj_sha256_ctx == NULL) {
        ngx_http_mj_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_mj_sha256_ctx = EVP_MD_CTX_new();

        if (ngx_http_mj_sha256_md == NULL || ngx_http_mj_sha256_ctx == NULL) {
            return NGX_ERROR;
        }
    }

    if (EVP_DigestInit_ex2(ngx_http_mj_sha256_ctx, ngx_http_mj_sha256_md,
                           NULL) != 1
        || (plen && EVP_DigestUpdate(ngx_http_mj_sha256_ctx, prefix, plen)
                    != 1)
        || EVP_DigestUpdate(ngx_http_mj_sha256_ctx, data, len) != 1
        || EVP_DigestFinal_ex(ngx_http_mj_sha256_ctx, out, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* at a process's exit: the module may be unloaded, its pointers with it */
void
ngx_http_mj_hash_done(void)
{
    if (ngx_http_mj_sha256_ctx) {
        EVP_MD_CTX_free(ngx_http_mj_sha256_ctx);
        ngx_http_mj_sha256_ctx = NULL;
    }

    if (ngx_http_mj_sha256_md) {
        EVP_MD_free(ngx_http_mj_sha256_md);
        ngx_http_mj_sha256_md = NULL;
    }
}
