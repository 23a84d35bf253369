/*
 * ngx_http_mj_users.c: users, their keys, and the swap of credentials.
 *
 * At config time the users file and the upstream keys file are parsed (by
 * mj_users_parse.c) into a table keyed by the SHA-256 of each user's key.
 * A request hashes the key it presents once, finds the user in O(1) with a
 * constant-time compare, loses its own credential headers and gains the
 * upstream key its user maps to.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <openssl/crypto.h>
#include <openssl/sha.h>      /* SHA256_DIGEST_LENGTH */

#include "ngx_http_mj_module.h"


#define NGX_HTTP_MJ_FILE_MAX    (64 * 1024 * 1024)
#define NGX_HTTP_MJ_KEY_MAX     512

/* keys a worker remembers as checked: slots of its cache */
#define NGX_HTTP_MJ_VERIFIED    1024


static ngx_str_t  ngx_http_mj_secret_header = ngx_string("mj-api-secret");


ngx_int_t
ngx_http_mj_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_MJ_FILE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a readable file of at most 64m",
                           name);
        goto failed;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, text->data, text->len);
    if (n != (ssize_t) text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", name);
        goto failed;
    }

    (void) ngx_close_file(fd);
    return NGX_OK;

failed:

    (void) ngx_close_file(fd);
    return NGX_ERROR;
}


static ngx_int_t
ngx_http_mj_load_keys(ngx_conf_t *cf, ngx_str_t *file,
    mj_ukey_rec_t **keys, size_t *n)
{
    ngx_str_t        text;
    mj_parse_err_t   err;
    ngx_file_info_t  fi;

    if (ngx_file_info(file->data, &fi) != NGX_FILE_ERROR
        && (fi.st_mode & 077))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "upstream keys file \"%V\" is readable by others "
                           "than its owner; chmod 600 it", file);
    }

    if (ngx_http_mj_read_file(cf, file, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mj_ukeys_parse((char *) text.data, text.len, keys, n, &err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V:%ui: %s",
                           file, (ngx_uint_t) err.line, err.msg);
        ngx_explicit_memzero(text.data, text.len);
        return NGX_ERROR;
    }

    ngx_explicit_memzero(text.data, text.len);

    return NGX_OK;
}


/*
 * Shared state names users and upstream keys by a hash of their names:
 * stable across reloads that reorder them, and never 0 (a free slot).
 */
static uint64_t
ngx_http_mj_ident(u_char *name, size_t len)
{
    uint64_t  id;
    u_char    md[SHA256_DIGEST_LENGTH];

    (void) ngx_http_mj_sha256(NULL, 0, name, len, md);
    ngx_memcpy(&id, md, sizeof(id));

    return id ? id : 1;
}


static ngx_int_t
ngx_http_mj_copy_keys(ngx_conf_t *cf, mj_ukey_rec_t *rec, size_t n,
    ngx_array_t *out)
{
    u_char              *p;
    size_t               i;
    ngx_http_mj_ukey_t  *k;

    if (ngx_array_init(out, cf->pool, n ? n : 1, sizeof(ngx_http_mj_ukey_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        k = ngx_array_push(out);
        if (k == NULL) {
            return NGX_ERROR;
        }

        k->name.len = ngx_strlen(rec[i].name);
        k->name.data = (u_char *) rec[i].name;
        k->name.data = ngx_pstrdup(cf->pool, &k->name);

        k->upstream.len = ngx_strlen(rec[i].upstream);
        k->upstream.data = (u_char *) rec[i].upstream;
        k->upstream.data = ngx_pstrdup(cf->pool, &k->upstream);

        if (rec[i].style == MJ_KEY_HEADER) {
            k->header = ngx_http_mj_secret_header;
            k->value.len = rec[i].secret_len;
            p = ngx_pnalloc(cf->pool, k->value.len);
            if (p == NULL) {
                return NGX_ERROR;
            }
            k->value.data = p;
            ngx_memcpy(p, rec[i].secret, rec[i].secret_len);

        } else {
            ngx_str_set(&k->header, "Authorization");
            k->value.len = sizeof("Bearer ") - 1 + rec[i].secret_len;
            p = ngx_pnalloc(cf->pool, k->value.len);
            if (p == NULL) {
                return NGX_ERROR;
            }
            k->value.data = p;
            p = ngx_cpymem(p, "Bearer ", sizeof("Bearer ") - 1);
            ngx_memcpy(p, rec[i].secret, rec[i].secret_len);
        }

        if (k->name.data == NULL || k->upstream.data == NULL) {
            return NGX_ERROR;
        }

        /* what an answer must never quote */
        k->secret.len = rec[i].secret_len;
        k->secret.data = k->value.data + k->value.len - k->secret.len;

        k->ident = (uint32_t) ngx_http_mj_ident(k->name.data, k->name.len);

        k->header_hash = ngx_hash_key_lc(k->header.data, k->header.len);
        k->header_lc.len = k->header.len;
        k->header_lc.data = ngx_pnalloc(cf->pool, k->header.len);
        if (k->header_lc.data == NULL) {
            return NGX_ERROR;
        }
        ngx_strlow(k->header_lc.data, k->header.data, k->header.len);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mj_slot(u_char *digest, ngx_uint_t mask)
{
    uint32_t  h;

    /* the digest is uniformly random already: take its first bytes */
    ngx_memcpy(&h, digest, sizeof(h));

    return h & mask;
}


static ngx_int_t
ngx_http_mj_build_table(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf,
    mj_user_rec_t *rec, size_t n, ngx_array_t *keys)
{
    size_t               i, j;
    ngx_uint_t           size, slot;
    ngx_http_mj_user_t  *u;
    ngx_http_mj_ukey_t  *k;

    for (size = 16; size < 2 * n; size <<= 1) { /* void */ }

    mmcf->table = ngx_pcalloc(cf->pool, size * sizeof(ngx_http_mj_user_t *));
    u = ngx_pcalloc(cf->pool, (n ? n : 1) * sizeof(ngx_http_mj_user_t));
    if (mmcf->table == NULL || u == NULL) {
        return NGX_ERROR;
    }

    mmcf->mask = size - 1;
    mmcf->nusers = n;
    k = keys->elts;

    for (i = 0; i < n; i++, u++) {
        u->name.len = ngx_strlen(rec[i].name);
        u->name.data = (u_char *) rec[i].name;
        u->name.data = ngx_pstrdup(cf->pool, &u->name);
        if (u->name.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(u->digest, rec[i].digest, MJ_DIGEST_LEN);
        u->owner = ngx_http_mj_ident(u->name.data, u->name.len);
        u->limit[0] = rec[i].submit;
        u->limit[1] = rec[i].poll;
        u->tasks = rec[i].tasks;
        u->quota = rec[i].quota;
        u->actions = rec[i].actions;
        u->disabled = rec[i].disabled;

        for (j = 0; j < keys->nelts; j++) {
            if (k[j].name.len == ngx_strlen(rec[i].key)
                && ngx_strncmp(k[j].name.data, rec[i].key, k[j].name.len)
                   == 0)
            {
                u->key = &k[j];
                break;
            }
        }

        slot = ngx_http_mj_slot(u->digest, mmcf->mask);

        while (mmcf->table[slot]) {
            slot = (slot + 1) & mmcf->mask;
        }

        mmcf->table[slot] = u;
    }

    return NGX_OK;
}


char *
ngx_http_mj_load_users(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf)
{
    size_t           nusers, nkeys;
    ngx_str_t        text;
    ngx_int_t        rc;
    mj_parse_err_t   err;
    mj_user_rec_t   *users;
    mj_ukey_rec_t   *krec;

    users = NULL;
    krec = NULL;
    nkeys = 0;
    rc = NGX_ERROR;

    if (mmcf->keys_file.len
        && ngx_http_mj_load_keys(cf, &mmcf->keys_file, &krec, &nkeys)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mj_read_file(cf, &mmcf->users_file, &text) != NGX_OK) {
        goto done;
    }

    if (mj_users_parse((char *) text.data, text.len, &users, &nusers, &err)
        != 0
        || mj_users_check_keys(users, nusers, krec, nkeys, &err) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V:%ui: %s",
                           &mmcf->users_file, (ngx_uint_t) err.line,
                           err.msg);
        goto done;
    }

    if (ngx_http_mj_copy_keys(cf, krec, nkeys, &mmcf->keys) != NGX_OK
        || ngx_http_mj_build_table(cf, mmcf, users, nusers, &mmcf->keys)
           != NGX_OK)
    {
        goto done;
    }

    /* this configuration's: a reload starts with none remembered */
    mmcf->verified = ngx_http_mj_cache_create(cf->pool,
                                              NGX_HTTP_MJ_VERIFIED);
    if (mmcf->verified == NULL) {
        goto done;
    }

    rc = NGX_OK;

done:

    if (krec) {
        ngx_explicit_memzero(krec, nkeys * sizeof(mj_ukey_rec_t));
        free(krec);
    }

    free(users);

    return rc == NGX_OK ? NGX_CONF_OK : NGX_CONF_ERROR;
}


static ngx_http_mj_user_t *
ngx_http_mj_lookup(ngx_http_mj_main_conf_t *mmcf, u_char *digest)
{
    ngx_uint_t           slot;
    ngx_http_mj_user_t  *u;

    if (mmcf->table == NULL) {
        return NULL;
    }

    slot = ngx_http_mj_slot(digest, mmcf->mask);

    for ( ;; ) {
        u = mmcf->table[slot];

        if (u == NULL) {
            return NULL;
        }

        if (CRYPTO_memcmp(u->digest, digest, MJ_DIGEST_LEN) == 0) {
            return u;
        }

        slot = (slot + 1) & mmcf->mask;
    }
}


ngx_int_t
ngx_http_mj_choose_key(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_http_mj_task_info_t *task)
{
    ngx_uint_t                i;
    ngx_http_mj_ukey_t       *k;
    ngx_http_mj_main_conf_t  *mmcf;

    if (task == NULL) {
        ctx->ukey = ctx->user->key;
        return NGX_OK;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mj_module);
    k = mmcf->keys.elts;

    for (i = 0; i < mmcf->keys.nelts; i++) {
        if (k[i].ident == task->ukey) {
            ctx->ukey = &k[i];

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mj: follow-up relayed with the key \"%V\" of "
                           "its task", &k[i].name);
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mj: the upstream key that created task \"%V\" is no "
                  "longer configured", &ctx->task_id);

    return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_GATEWAY,
                            NGX_HTTP_MJ_CODE_FAILURE,
                            "the upstream of this task is no longer "
                            "configured");
}


uint64_t *
ngx_http_mj_user_owners(ngx_http_mj_main_conf_t *mmcf, ngx_uint_t *n,
    ngx_log_t *log)
{
    uint64_t    *owners;
    ngx_uint_t   i;

    owners = ngx_alloc((mmcf->nusers + 1) * sizeof(uint64_t), log);
    if (owners == NULL) {
        return NULL;
    }

    *n = 0;

    for (i = 0; mmcf->table && i <= mmcf->mask; i++) {
        if (mmcf->table[i]) {
            owners[(*n)++] = mmcf->table[i]->owner;
        }
    }

    return owners;
}


/*
 * The key a client presents: "Authorization: Bearer <key>" first; when
 * Authorization is absent, another scheme, or the placeholder
 * "midjourney-proxy" that stock clients send, then "mj-api-secret".
 */
static ngx_int_t
ngx_http_mj_client_key(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_str_t         v;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    ngx_str_null(key);

    h = r->headers_in.authorization;

    if (h) {
        v = h->value;

        if (v.len > 7 && ngx_strncasecmp(v.data, (u_char *) "Bearer ", 7)
                         == 0)
        {
            v.data += 7;
            v.len -= 7;

            while (v.len && v.data[0] == ' ') {
                v.data++;
                v.len--;
            }

            *key = v;

        } else if (v.len && ngx_strlchr(v.data, v.data + v.len, ' ') == NULL)
        {
            /* a bare token, as new-api accepts */
            *key = v;
        }

        if (key->len == sizeof("midjourney-proxy") - 1
            && ngx_strncmp(key->data, "midjourney-proxy", key->len) == 0)
        {
            ngx_str_null(key);
        }
    }

    if (key->len == 0) {
        h = ngx_http_mj_find_header(&r->headers_in.headers, "mj-api-secret",
                                    &n);

        if (n > 1) {
            return NGX_DECLINED;
        }

        if (h) {
            *key = h->value;
        }
    }

    return NGX_OK;
}


/*
 * The user of a key, or NULL: a key this worker has checked before in
 * this configuration is found in its cache, any other is hashed and
 * looked up.  NGX_ERROR when the hash fails.
 */
static ngx_int_t
ngx_http_mj_key_user(ngx_http_mj_main_conf_t *mmcf, ngx_str_t *key,
    ngx_http_mj_user_t **user)
{
    u_char    digest[MJ_DIGEST_LEN];
    uint64_t  tag, value;

    *user = NULL;

    if (key->len > NGX_HTTP_MJ_KEY_MAX) {
        return NGX_OK;
    }

    if (ngx_http_mj_cache_find(mmcf->verified, key->data, key->len, &tag,
                               &value))
    {
        *user = (ngx_http_mj_user_t *) (uintptr_t) value;
        return NGX_OK;
    }

    if (ngx_http_mj_sha256(NULL, 0, key->data, key->len, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    *user = ngx_http_mj_lookup(mmcf, digest);

    /* only keys of users: unknown ones cannot push known ones out */
    if (*user) {
        ngx_http_mj_cache_add(mmcf->verified, key->data, key->len, tag,
                              (uintptr_t) *user);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mj_authenticate(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_str_t                 key;
    ngx_http_mj_user_t       *u;
    ngx_http_mj_loc_conf_t   *mlcf;
    ngx_http_mj_main_conf_t  *mmcf;

    if (ngx_http_mj_client_key(r, &key) != NGX_OK) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                NGX_HTTP_MJ_CODE_INVALID,
                                "more than one mj-api-secret header");
    }

    if (key.len == 0) {
        if (ngx_http_mj_add_header(r, "WWW-Authenticate",
                                   (u_char *) "Bearer realm=\"mj\"",
                                   sizeof("Bearer realm=\"mj\"") - 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mj_fail(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                NGX_HTTP_MJ_CODE_INVALID,
                                "missing API key: send \"Authorization: "
                                "Bearer <key>\" or \"mj-api-secret: <key>\"");
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mj_module);

    if (ngx_http_mj_key_user(mmcf, &key, &u) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (u == NULL || u->disabled) {
        mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

        if (u) {
            ngx_log_error(mlcf->auth_log_level, r->connection->log, 0,
                          "mj: key of disabled user \"%V\" refused",
                          &u->name);

        } else {
            ngx_log_error(mlcf->auth_log_level, r->connection->log, 0,
                          "mj: unknown API key refused");
        }

        return ngx_http_mj_fail(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                NGX_HTTP_MJ_CODE_INVALID, "invalid API key");
    }

    ctx->user = u;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: the key of user \"%V\"", &u->name);

    return NGX_OK;
}


/* a request header of this lower-case name */
static ngx_uint_t
ngx_http_mj_header_is(ngx_table_elt_t *h, ngx_str_t *lc)
{
    if (h->key.len != lc->len) {
        return 0;
    }

    /* nginx's parser gives every request header its lower-case name */
    return h->lowcase_key
           ? ngx_memcmp(h->lowcase_key, lc->data, lc->len) == 0
           : ngx_strncasecmp(h->key.data, lc->data, lc->len) == 0;
}


/*
 * What the upstream must not get: the client's credentials (1) and, since
 * the gateway reads every answer, Accept-Encoding (2).  0: the rest.
 */
static ngx_uint_t
ngx_http_mj_withheld(ngx_table_elt_t *h)
{
    static ngx_str_t  drop[] = {
        ngx_string("authorization"),
        ngx_string("mj-api-secret"),
        ngx_string("accept-encoding")
    };

    ngx_uint_t  i;

    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (ngx_http_mj_header_is(h, &drop[i])) {
            return i < 2 ? 1 : 2;
        }
    }

    return 0;
}


/*
 * A fresh list of the request's headers but the withheld ones, with room
 * for one more: that slot, or NULL.
 *
 * A fresh list rather than unlinking in place: nginx's list walkers do not
 * expect empty parts, and pushes into a split part would overwrite its
 * neighbours.  The r->headers_in pointers keep pointing at the old
 * elements, which stay in the pool with the same contents.
 */
static ngx_table_elt_t *
ngx_http_mj_rebuild_headers(ngx_http_request_t *r, ngx_uint_t n)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *e;

    if (ngx_list_init(&headers, r->pool, n, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NULL;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_mj_withheld(&h[i])) {
                continue;
            }

            e = ngx_list_push(&headers);
            if (e == NULL) {
                return NULL;
            }

            *e = h[i];
        }
    }

    e = ngx_list_push(&headers);
    if (e == NULL) {
        return NULL;
    }

    r->headers_in.headers = headers;

    return e;
}


/*
 * The request's headers without the client's credentials and
 * Accept-Encoding, with the upstream key in the style it wants.  The usual
 * request has one credential and nothing else to withhold: the key takes
 * that element's place (nothing else points at it but
 * r->headers_in.authorization, cleared here).  Any other is rebuilt.
 */
ngx_int_t
ngx_http_mj_swap_credentials(ngx_http_request_t *r, ngx_http_mj_ukey_t *key)
{
    ngx_uint_t        i, n, withheld, what;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *e;

    n = 1;
    withheld = 0;
    e = NULL;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        n += part->nelts;

        for (i = 0; i < part->nelts; i++) {
            what = ngx_http_mj_withheld(&h[i]);

            if (what) {
                withheld++;
                e = (what == 1) ? &h[i] : NULL;
            }
        }
    }

    if (withheld != 1 || e == NULL) {
        e = ngx_http_mj_rebuild_headers(r, n);
        if (e == NULL) {
            return NGX_ERROR;
        }
    }

    e->hash = key->header_hash;
    e->key = key->header;
    e->value = key->value;
    e->lowcase_key = key->header_lc.data;

    r->headers_in.authorization = NULL;

#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    r->headers_in.accept_encoding = NULL;
#endif

    return NGX_OK;
}
