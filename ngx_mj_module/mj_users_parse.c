/*
 * mj_users_parse.c: parsers for the users file and the upstream keys file.
 *
 * users file, one user a line:
 *     NAME  SHA256-HEX-OF-KEY  UPSTREAM-KEY-NAME  [SETTING ...]
 * settings: disabled, rate=10r/m, burst=N, poll_rate=2r/s, poll_burst=N,
 *     tasks=N, quota=N, actions=IMAGINE,UPSCALE,...
 * upstream keys file, one key a line:
 *     NAME  SECRET  [header=bearer|mj-api-secret]  [upstream=NAME]
 *
 * "#" starts a comment where a field would start; blank lines are skipped.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj_users_parse.h"


#define MJ_MAX_FIELDS  32


typedef struct {
    const char  *s;
    size_t       len;
} mj_tok_t;


typedef int (*mj_line_pt)(void *ctx, mj_tok_t *tok, size_t ntok,
    unsigned line, mj_parse_err_t *err);


static int mj_error(mj_parse_err_t *err, unsigned line, const char *fmt,
    const char *arg, size_t len);


static int
mj_error(mj_parse_err_t *err, unsigned line, const char *fmt,
    const char *arg, size_t len)
{
    char  buf[MJ_NAME_MAX + 1];

    if (len > MJ_NAME_MAX) {
        len = MJ_NAME_MAX;
    }

    /* never quote a secret: callers pass only names and settings */
    memcpy(buf, arg ? arg : "", arg ? len : 0);
    buf[arg ? len : 0] = '\0';

    err->line = line;
    snprintf(err->msg, sizeof(err->msg), fmt, buf);

    return -1;
}


static int
mj_tok_is(const mj_tok_t *t, const char *s)
{
    size_t  n = strlen(s);

    return t->len == n && memcmp(t->s, s, n) == 0;
}


/* a user, key or upstream name: 1..64 of [A-Za-z0-9._@:-] */
static int
mj_valid_name(const mj_tok_t *t, int colon)
{
    size_t  i;
    char    c;

    if (t->len == 0 || t->len > MJ_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < t->len; i++) {
        c = t->s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
            || c == '@' || (colon && c == ':'))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static void
mj_tok_copy(char *dst, const mj_tok_t *t)
{
    memcpy(dst, t->s, t->len);
    dst[t->len] = '\0';
}


int
mj_hex_digest(const char *hex, size_t len, unsigned char *out)
{
    size_t  i;
    int     hi = 0, lo;

    if (len != 2 * MJ_DIGEST_LEN) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        char  c = hex[i];

        if (c >= '0' && c <= '9') {
            lo = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            lo = c - 'a' + 10;

        } else if (c >= 'A' && c <= 'F') {
            lo = c - 'A' + 10;

        } else {
            return -1;
        }

        if (i % 2 == 0) {
            hi = lo;

        } else {
            out[i / 2] = (unsigned char) (hi << 4 | lo);
        }
    }

    return 0;
}


/* split the text into lines and fields, and hand each line to "handler" */
static int
mj_parse_lines(const char *text, size_t len, mj_line_pt handler, void *ctx,
    mj_parse_err_t *err)
{
    const char  *p, *end, *eol;
    mj_tok_t     tok[MJ_MAX_FIELDS];
    size_t       ntok;
    unsigned     line;

    p = text;
    end = text + len;

    for (line = 1; p < end; line++, p = eol + 1) {

        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        ntok = 0;

        while (p < eol) {
            if (*p == ' ' || *p == '\t' || *p == '\r') {
                p++;
                continue;
            }

            if (*p == '#') {
                break;
            }

            if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                return mj_error(err, line, "control character in line%s",
                                NULL, 0);
            }

            if (ntok == MJ_MAX_FIELDS) {
                return mj_error(err, line, "too many fields%s", NULL, 0);
            }

            tok[ntok].s = p;

            while (p < eol && *p != ' ' && *p != '\t' && *p != '\r') {
                if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                    return mj_error(err, line, "control character in line%s",
                                    NULL, 0);
                }
                p++;
            }

            tok[ntok].len = p - tok[ntok].s;
            ntok++;
        }

        if (ntok && handler(ctx, tok, ntok, line, err) != 0) {
            return -1;
        }

        if (eol == end) {
            break;
        }
    }

    return 0;
}


typedef struct {
    void    *elts;
    size_t   n;
    size_t   cap;
    size_t   size;
    size_t  *seen;     /* users: by name, then by key hash (mj_seen_slot) */
    size_t   mask;
} mj_vec_t;


static void *
mj_vec_push(mj_vec_t *v)
{
    void    *p;
    size_t   cap;

    if (v->n == v->cap) {
        cap = v->cap ? v->cap * 2 : 16;
        p = realloc(v->elts, cap * v->size);
        if (p == NULL) {
            return NULL;
        }
        v->elts = p;
        v->cap = cap;
    }

    p = (char *) v->elts + v->n++ * v->size;
    memset(p, 0, v->size);

    return p;
}


static const char  *mj_action_names[] = { MJ_ACTIONS };


unsigned
mj_action_index(const char *s, size_t len)
{
    unsigned  i;

    for (i = 0; i < MJ_NACTIONS; i++) {
        if (strlen(mj_action_names[i]) == len
            && memcmp(mj_action_names[i], s, len) == 0)
        {
            return i + 1;
        }
    }

    return 0;
}


unsigned
mj_action_bit(const char *s, size_t len)
{
    unsigned  i;

    i = mj_action_index(s, len);

    return i ? 1u << (i - 1) : 0;
}


/* a whole number of at most 9 digits, or -1 */
static long
mj_parse_num(const char *s, size_t len)
{
    long    n;
    size_t  i;

    if (len == 0 || len > 9) {
        return -1;
    }

    for (n = 0, i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    return n;
}


long
mj_parse_rate(const char *s, size_t len)
{
    long  n;

    if (len < 4 || s[len - 3] != 'r' || s[len - 2] != '/') {
        return -1;
    }

    n = mj_parse_num(s, len - 3);
    if (n <= 0) {
        return -1;
    }

    switch (s[len - 1]) {
    case 's':
        return n * 1000;
    case 'm':
        return n * 1000 / 60 ? n * 1000 / 60 : 1;
    }

    return -1;
}


/* NAME=VALUE settings of a user; 0, or -1 for a setting it does not know */
static int
mj_user_setting(mj_user_rec_t *u, mj_tok_t *t)
{
    long         n;
    unsigned     bit;
    const char  *v, *end, *p;
    size_t       klen;

    v = memchr(t->s, '=', t->len);
    if (v == NULL) {
        if (mj_tok_is(t, "disabled")) {
            u->disabled = 1;
            return 0;
        }

        return -1;
    }

    klen = v - t->s;
    v++;
    end = t->s + t->len;

#define mj_key_is(k)  (klen == sizeof(k) - 1 && memcmp(t->s, k, klen) == 0)

    if (mj_key_is("rate") || mj_key_is("poll_rate")) {
        n = mj_parse_rate(v, end - v);
        if (n < 0) {
            return -1;
        }

        if (t->s[0] == 'r') {
            u->submit.rate = n;
        } else {
            u->poll.rate = n;
        }

        return 0;
    }

    if (mj_key_is("actions")) {
        u->actions = 0;

        for (p = v; p < end; p = v + 1) {
            v = memchr(p, ',', end - p);
            if (v == NULL) {
                v = end;
            }

            bit = mj_action_bit(p, v - p);
            if (bit == 0) {
                return -1;
            }

            u->actions |= bit;
        }

        return u->actions ? 0 : -1;
    }

    n = mj_parse_num(v, end - v);
    if (n < 0) {
        return -1;
    }

    if (mj_key_is("burst")) {
        u->submit.burst = n;

    } else if (mj_key_is("poll_burst")) {
        u->poll.burst = n;

    } else if (mj_key_is("tasks") && n <= MJ_TASKS_MAX) {
        u->tasks = n;

    } else if (mj_key_is("quota")) {
        u->quota = n;

    } else {
        return -1;
    }

#undef mj_key_is

    return 0;
}


/*
 * The users met so far, in two open-addressing tables of record numbers
 * (+1; 0: free), one keyed by name and one by key hash: a users file of
 * 100,000 lines is checked for repeats in one pass, not in n^2/2 compares.
 */

static uint64_t
mj_fnv1a(const unsigned char *p, size_t len)
{
    uint64_t  h;

    for (h = 0xcbf29ce484222325ULL; len; len--) {
        h = (h ^ *p++) * 0x100000001b3ULL;
    }

    return h;
}


/* the slot of the user with u's name (by 0) or key hash (by 1), or a free
 * slot where u would go */
static size_t *
mj_seen_slot(mj_vec_t *v, const mj_user_rec_t *u, int by)
{
    size_t                i, *tab;
    const mj_user_rec_t  *r;

    tab = v->seen + (by ? v->mask + 1 : 0);
    i = by ? mj_fnv1a(u->digest, MJ_DIGEST_LEN)
           : mj_fnv1a((const unsigned char *) u->name, strlen(u->name));

    for (i &= v->mask; tab[i]; i = (i + 1) & v->mask) {
        r = (const mj_user_rec_t *) v->elts + tab[i] - 1;

        if (by ? memcmp(r->digest, u->digest, MJ_DIGEST_LEN) == 0
               : strcmp(r->name, u->name) == 0)
        {
            break;
        }
    }

    return &tab[i];
}


/* tables at most half full: grown, and the users before the last put in */
static int
mj_seen_grow(mj_vec_t *v)
{
    size_t                i, n, *seen;
    const mj_user_rec_t  *r;

    if (v->seen && 2 * v->n <= v->mask + 1) {
        return 0;
    }

    for (n = 64; n < 4 * v->n; n <<= 1) { /* void */ }

    seen = calloc(2 * n, sizeof(size_t));
    if (seen == NULL) {
        return -1;
    }

    free(v->seen);
    v->seen = seen;
    v->mask = n - 1;

    for (i = 0; i + 1 < v->n; i++) {
        r = (const mj_user_rec_t *) v->elts + i;
        *mj_seen_slot(v, r, 0) = i + 1;
        *mj_seen_slot(v, r, 1) = i + 1;
    }

    return 0;
}


static int
mj_user_line(void *ctx, mj_tok_t *tok, size_t ntok, unsigned line,
    mj_parse_err_t *err)
{
    size_t          i, *name, *hash;
    mj_vec_t       *v = ctx;
    mj_user_rec_t  *u;

    if (ntok < 3) {
        return mj_error(err, line, "expected \"NAME SHA256 UPSTREAM-KEY "
                        "[SETTING ...]\"%s", NULL, 0);
    }

    if (!mj_valid_name(&tok[0], 0)) {
        return mj_error(err, line, "invalid user name \"%s\"",
                        tok[0].s, tok[0].len);
    }

    if (!mj_valid_name(&tok[2], 0)) {
        return mj_error(err, line, "invalid upstream key name \"%s\"",
                        tok[2].s, tok[2].len);
    }

    u = mj_vec_push(v);
    if (u == NULL) {
        return mj_error(err, line, "out of memory%s", NULL, 0);
    }

    if (mj_hex_digest(tok[1].s, tok[1].len, u->digest) != 0) {
        v->n--;
        return mj_error(err, line, "malformed key hash for user \"%s\" "
                        "(64 hex digits of SHA-256 expected)",
                        tok[0].s, tok[0].len);
    }

    mj_tok_copy(u->name, &tok[0]);
    mj_tok_copy(u->key, &tok[2]);
    u->line = line;
    u->submit.rate = MJ_UNSET;
    u->submit.burst = MJ_UNSET;
    u->poll.rate = MJ_UNSET;
    u->poll.burst = MJ_UNSET;
    u->tasks = MJ_UNSET;
    u->quota = MJ_UNSET;

    for (i = 3; i < ntok; i++) {
        if (mj_user_setting(u, &tok[i]) != 0) {
            v->n--;
            return mj_error(err, line, "unknown or invalid user setting "
                            "\"%s\"", tok[i].s, tok[i].len);
        }
    }

    if (mj_seen_grow(v) != 0) {
        v->n--;
        return mj_error(err, line, "out of memory%s", NULL, 0);
    }

    name = mj_seen_slot(v, u, 0);
    hash = mj_seen_slot(v, u, 1);

    /* the first earlier line that repeats either, its name if both */
    if (*name && (*hash == 0 || *name <= *hash)) {
        v->n--;
        return mj_error(err, line, "duplicate user \"%s\"",
                        tok[0].s, tok[0].len);
    }

    if (*hash) {
        v->n--;
        return mj_error(err, line, "user \"%s\" has the same key hash "
                        "as another user", tok[0].s, tok[0].len);
    }

    *name = v->n;
    *hash = v->n;

    return 0;
}


static int
mj_ukey_line(void *ctx, mj_tok_t *tok, size_t ntok, unsigned line,
    mj_parse_err_t *err)
{
    size_t          i, j;
    mj_tok_t        val;
    mj_vec_t       *v = ctx;
    mj_ukey_rec_t  *k, *o;

    if (ntok < 2) {
        return mj_error(err, line, "expected \"NAME SECRET [header=...] "
                        "[upstream=...]\"%s", NULL, 0);
    }

    if (!mj_valid_name(&tok[0], 0)) {
        return mj_error(err, line, "invalid upstream key name \"%s\"",
                        tok[0].s, tok[0].len);
    }

    if (tok[1].len > MJ_SECRET_MAX) {
        return mj_error(err, line, "secret of key \"%s\" is too long",
                        tok[0].s, tok[0].len);
    }

    k = mj_vec_push(v);
    if (k == NULL) {
        return mj_error(err, line, "out of memory%s", NULL, 0);
    }

    mj_tok_copy(k->name, &tok[0]);
    mj_tok_copy(k->secret, &tok[1]);
    k->secret_len = tok[1].len;
    k->style = MJ_KEY_BEARER;
    k->line = line;

    for (i = 2; i < ntok; i++) {

        if (tok[i].len > 7 && memcmp(tok[i].s, "header=", 7) == 0) {
            val.s = tok[i].s + 7;
            val.len = tok[i].len - 7;

            if (mj_tok_is(&val, "bearer")) {
                k->style = MJ_KEY_BEARER;
                continue;
            }

            if (mj_tok_is(&val, "mj-api-secret")) {
                k->style = MJ_KEY_HEADER;
                continue;
            }

        } else if (tok[i].len > 9 && memcmp(tok[i].s, "upstream=", 9) == 0) {
            val.s = tok[i].s + 9;
            val.len = tok[i].len - 9;

            if (mj_valid_name(&val, 1)) {
                mj_tok_copy(k->upstream, &val);
                continue;
            }
        }

        v->n--;
        return mj_error(err, line, "invalid key setting \"%s\"",
                        tok[i].s, tok[i].len);
    }

    o = v->elts;

    for (j = 0; j + 1 < v->n; j++) {
        if (strcmp(o[j].name, k->name) == 0) {
            v->n--;
            return mj_error(err, line, "duplicate upstream key \"%s\"",
                            tok[0].s, tok[0].len);
        }
    }

    return 0;
}


static int
mj_parse_file(const char *text, size_t len, mj_line_pt handler, size_t size,
    void **out, size_t *n, mj_parse_err_t *err)
{
    mj_vec_t  v;

    memset(&v, 0, sizeof(v));
    v.size = size;
    err->line = 0;
    err->msg[0] = '\0';

    if (mj_parse_lines(text, len, handler, &v, err) != 0) {
        free(v.elts);
        free(v.seen);
        return -1;
    }

    free(v.seen);

    *out = v.elts;
    *n = v.n;

    return 0;
}


int
mj_users_parse(const char *text, size_t len, mj_user_rec_t **users,
    size_t *n, mj_parse_err_t *err)
{
    return mj_parse_file(text, len, mj_user_line, sizeof(mj_user_rec_t),
                         (void **) users, n, err);
}


int
mj_ukeys_parse(const char *text, size_t len, mj_ukey_rec_t **keys,
    size_t *n, mj_parse_err_t *err)
{
    return mj_parse_file(text, len, mj_ukey_line, sizeof(mj_ukey_rec_t),
                         (void **) keys, n, err);
}


int
mj_users_check_keys(const mj_user_rec_t *users, size_t nusers,
    const mj_ukey_rec_t *keys, size_t nkeys, mj_parse_err_t *err)
{
    size_t  i, j;

    for (i = 0; i < nusers; i++) {
        for (j = 0; j < nkeys; j++) {
            if (strcmp(users[i].key, keys[j].name) == 0) {
                break;
            }
        }

        if (j == nkeys) {
            return mj_error(err, users[i].line,
                            "unknown upstream key name \"%s\"",
                            users[i].key, strlen(users[i].key));
        }
    }

    return 0;
}
