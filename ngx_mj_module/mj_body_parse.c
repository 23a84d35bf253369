/*
 * mj_body_parse.c: one reading of a JSON request body, the one every
 * upstream makes.
 *
 * The upstreams are Java (Jackson), .NET and Go programs.  Where their
 * parsers could disagree with yajl about a body, the body is refused: bytes
 * that are not UTF-8 (Jackson decodes over-long forms, so C1 89 would be an
 * "I" to it), \u escapes that are not whole characters, and object keys
 * that are not printable ASCII (Go and .NET fold the Kelvin sign to "k"
 * and the long s to "s" when they match keys).  What is left reads the
 * same everywhere; top-level keys are then matched case-blind, as those
 * upstreams bind them, and a repeated key the gateway acts on is refused,
 * since they keep the last copy.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <string.h>

#include <yajl/yajl_parse.h>

#include "mj_body_parse.h"


#define MJ_BODY_NOT_UTF8    "the body is not valid UTF-8"
#define MJ_BODY_BAD_ESCAPE  "the body has a \\u escape that is not a " \
                            "valid character"
#define MJ_BODY_BAD_KEY     "an object key is not printable ASCII"
#define MJ_BODY_TOO_DEEP    "the body nests deeper than 64 levels"


static const char  *mj_body_names[] = {
    NULL, "taskid", "customid", "content", "ids", "notifyhook",
    "accountfilter", "action"
};


/* 0-15, or -1 */
static int
mj_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* the code unit of "\uXXXX" at p, or -1 if p does not start one */
static long
mj_escape_unit(const unsigned char *p, const unsigned char *end)
{
    int   i, d;
    long  v;

    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
        return -1;
    }

    v = 0;

    for (i = 2; i < 6; i++) {
        d = mj_hex(p[i]);
        if (d < 0) {
            return -1;
        }

        v = v << 4 | d;
    }

    return v;
}


/*
 * The length of the well-formed UTF-8 sequence at p (Unicode's table 3-7),
 * or 0.  The first continuation byte's range is what rules out over-long
 * forms, surrogates and code points above U+10FFFF.
 */
static size_t
mj_utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t         n, i;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


const char *
mj_json_text_check(const unsigned char *p, size_t len)
{
    long                  u, low;
    size_t                n;
    unsigned              in_string;
    const unsigned char  *end;

    end = p + len;
    in_string = 0;

    while (p < end) {

        if (*p >= 0x80) {
            n = mj_utf8_len(p, end);
            if (n == 0) {
                return MJ_BODY_NOT_UTF8;
            }

            p += n;
            continue;
        }

        if (*p == '"') {
            in_string = !in_string;
            p++;
            continue;
        }

        if (!in_string || *p != '\\') {
            p++;
            continue;
        }

        /* an escape; one that is malformed is yajl's to refuse */
        u = mj_escape_unit(p, end);

        if (u < 0) {
            p += (end - p >= 2) ? 2 : 1;
            continue;
        }

        p += 6;

        if (u >= 0xdc00 && u <= 0xdfff) {
            return MJ_BODY_BAD_ESCAPE;
        }

        if (u >= 0xd800 && u <= 0xdbff) {
            low = mj_escape_unit(p, end);

            if (low < 0xdc00 || low > 0xdfff) {
                return MJ_BODY_BAD_ESCAPE;
            }

            p += 6;
        }
    }

    return NULL;
}


static int
mj_body_refuse(mj_body_t *b, const char *error)
{
    if (b->error == NULL) {
        b->error = error;
    }

    return 0;
}


static int
mj_body_keep(mj_body_t *b, mj_span_t *dst, const unsigned char *s,
    size_t len)
{
    if (mj_json_keep(b->alloc, b->text, b->text_len, dst, s, len,
                     &b->copied)
        != 0)
    {
        b->nomem = 1;
        return 0;
    }

    return 1;
}


unsigned
mj_body_key_class(const unsigned char *key, size_t len)
{
    size_t    i;
    unsigned  k;

    for (k = 1; k < MJ_BODY_NKEYS; k++) {
        if (strlen(mj_body_names[k]) != len) {
            continue;
        }

        for (i = 0; i < len; i++) {
            if ((key[i] | 0x20) != (unsigned char) mj_body_names[k][i]) {
                break;
            }
        }

        if (i == len) {
            return k;
        }
    }

    return MJ_BODY_OTHER;
}


/* inspection */


/* a scalar or the start of a container, where a value is expected */
static int
mj_body_value(mj_body_t *b, unsigned container)
{
    if (b->depth == 0 && container != 1) {
        return mj_body_refuse(b, "the body must be a JSON object");
    }

    if (b->depth == 1) {
        switch (b->key) {

        case MJ_BODY_TASKID:
            return mj_body_refuse(b, "taskId must be a string");

        case MJ_BODY_CUSTOMID:
            return mj_body_refuse(b, "customId must be a string");

        case MJ_BODY_CONTENT:
            return mj_body_refuse(b, "content must be a string");

        case MJ_BODY_IDS:
            if (container != 2) {
                return mj_body_refuse(b, "ids must be an array of strings");
            }
            break;

        case MJ_BODY_NOTIFYHOOK:
            b->drop |= MJ_BODY_BIT(MJ_BODY_NOTIFYHOOK);
            break;
        }

    } else if (b->depth == 2 && b->key == MJ_BODY_IDS) {
        return mj_body_refuse(b, "ids must be an array of strings");
    }

    return 1;
}


static int
mj_body_on_null(void *ctx)
{
    return mj_body_value(ctx, 0);
}


static int
mj_body_on_boolean(void *ctx, int v)
{
    return mj_body_value(ctx, 0);
}


static int
mj_body_on_number(void *ctx, const char *s, size_t len)
{
    return mj_body_value(ctx, 0);
}


static int
mj_body_on_string(void *ctx, const unsigned char *s, size_t len)
{
    mj_span_t  *ids;
    mj_body_t  *b = ctx;

    if (b->depth == 1) {
        switch (b->key) {

        case MJ_BODY_TASKID:
        case MJ_BODY_CUSTOMID:
        case MJ_BODY_CONTENT:
        case MJ_BODY_ACTION:
            return mj_body_keep(b, &b->str[b->key], s, len);

        case MJ_BODY_IDS:
            return mj_body_refuse(b, "ids must be an array of strings");

        case MJ_BODY_NOTIFYHOOK:
            if (b->hook_allowed == NULL
                || !b->hook_allowed(b->data, s, len))
            {
                b->drop |= MJ_BODY_BIT(MJ_BODY_NOTIFYHOOK);
            }
            return 1;
        }

        return 1;
    }

    if (b->depth == 2 && b->key == MJ_BODY_IDS) {
        if (b->nids == b->ids_cap) {
            ids = mj_json_alloc(b->alloc, b->ids,
                                (b->ids_cap * 2 + 4) * sizeof(mj_span_t));
            if (ids == NULL) {
                b->nomem = 1;
                return 0;
            }

            b->ids = ids;
            b->ids_cap = b->ids_cap * 2 + 4;
        }

        b->ids[b->nids].data = NULL;

        return mj_body_keep(b, &b->ids[b->nids++], s, len);
    }

    return mj_body_value(b, 0);
}


static int
mj_body_on_open(mj_body_t *b, unsigned container)
{
    if (!mj_body_value(b, container)) {
        return 0;
    }

    if (b->depth == MJ_BODY_MAX_DEPTH) {
        return mj_body_refuse(b, MJ_BODY_TOO_DEEP);
    }

    b->depth++;

    return 1;
}


static int
mj_body_on_start_map(void *ctx)
{
    return mj_body_on_open(ctx, 1);
}


static int
mj_body_on_start_array(void *ctx)
{
    return mj_body_on_open(ctx, 2);
}


static int
mj_body_on_end(void *ctx)
{
    mj_body_t  *b = ctx;

    b->depth--;

    return 1;
}


static int
mj_body_on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    size_t      i;
    unsigned    k;
    mj_body_t  *b = ctx;

    for (i = 0; i < len; i++) {
        if (key[i] < 0x20 || key[i] >= 0x7f) {
            return mj_body_refuse(b, MJ_BODY_BAD_KEY);
        }
    }

    if (b->depth != 1) {
        return 1;
    }

    k = mj_body_key_class(key, len);
    b->key = k;

    if (k == MJ_BODY_OTHER) {
        return 1;
    }

    if (b->seen & MJ_BODY_BIT(k)) {
        return mj_body_refuse(b, "the body repeats a key the gateway acts on");
    }

    b->seen |= MJ_BODY_BIT(k);

    if (k == MJ_BODY_ACCOUNTFILTER && !b->keep_account_filter) {
        b->drop |= MJ_BODY_BIT(k);
    }

    return 1;
}


static yajl_callbacks  mj_body_inspect_callbacks = {
    mj_body_on_null,
    mj_body_on_boolean,
    NULL,
    NULL,
    mj_body_on_number,
    mj_body_on_string,
    mj_body_on_start_map,
    mj_body_on_map_key,
    mj_body_on_end,
    mj_body_on_start_array,
    mj_body_on_end
};


/* one parse of the whole text, in one call: see the header */
static int
mj_body_parse(mj_body_t *b, yajl_callbacks *cb)
{
    int          rc;
    yajl_handle  h;

    h = yajl_alloc(cb, b->parser ? b->parser : b->alloc, b);
    if (h == NULL) {
        return -2;
    }

    rc = 0;
    b->parses++;

    if (yajl_parse(h, b->text, b->text_len) != yajl_status_ok
        || yajl_complete_parse(h) != yajl_status_ok)
    {
        if (b->nomem) {
            rc = -2;

        } else {
            /* a callback's refusal, or else yajl's */
            rc = -1;

            if (b->error == NULL) {
                b->error = "the body is not JSON";
            }
        }
    }

    yajl_free(h);

    return rc;
}


int
mj_body_inspect(mj_body_t *b, const unsigned char *p, size_t len)
{
    b->text = p;
    b->text_len = len;
    b->depth = 0;
    b->nomem = 0;

    b->error = mj_json_text_check(p, len);
    if (b->error) {
        return -1;
    }

    return mj_body_parse(b, &mj_body_inspect_callbacks);
}


/* the rewrite: everything but the members dropped; ids cut to "keep" */


#define mj_body_gen_ok(st)  ((st) == yajl_gen_status_ok)

#define mj_body_gen_skip(b, open, close)                                     \
    if ((b)->skip) {                                                         \
        (b)->depth += (open);                                                \
        (b)->depth -= (close);                                               \
        if ((b)->depth == (b)->skip) {                                       \
            (b)->skip = 0;                                                   \
        }                                                                    \
        return 1;                                                            \
    }


static int
mj_body_gen_null(void *ctx)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 0);
    return mj_body_gen_ok(yajl_gen_null(b->gen));
}


static int
mj_body_gen_boolean(void *ctx, int v)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 0);
    return mj_body_gen_ok(yajl_gen_bool(b->gen, v));
}


static int
mj_body_gen_number(void *ctx, const char *s, size_t len)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 0);
    return mj_body_gen_ok(yajl_gen_number(b->gen, s, len));
}


static int
mj_body_gen_string(void *ctx, const unsigned char *s, size_t len)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 0);
    return mj_body_gen_ok(yajl_gen_string(b->gen, s, len));
}


static int
mj_body_gen_start_map(void *ctx)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 1, 0);
    b->depth++;
    return mj_body_gen_ok(yajl_gen_map_open(b->gen));
}


static int
mj_body_gen_end_map(void *ctx)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 1);
    b->depth--;
    return mj_body_gen_ok(yajl_gen_map_close(b->gen));
}


static int
mj_body_gen_start_array(void *ctx)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 1, 0);
    b->depth++;
    return mj_body_gen_ok(yajl_gen_array_open(b->gen));
}


static int
mj_body_gen_end_array(void *ctx)
{
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 1);
    b->depth--;
    return mj_body_gen_ok(yajl_gen_array_close(b->gen));
}


static int
mj_body_gen_map_key(void *ctx, const unsigned char *key, size_t len)
{
    size_t      i;
    unsigned    k;
    mj_body_t  *b = ctx;

    mj_body_gen_skip(b, 0, 0);

    if (b->depth != 1) {
        return mj_body_gen_ok(yajl_gen_string(b->gen, key, len));
    }

    k = mj_body_key_class(key, len);

    if (b->drop & MJ_BODY_BIT(k)) {
        b->skip = 1;
        return 1;
    }

    if (!mj_body_gen_ok(yajl_gen_string(b->gen, key, len))) {
        return 0;
    }

    if (k != MJ_BODY_IDS || b->keep == NULL) {
        return 1;
    }

    /* the ids kept instead of the value that follows */
    b->skip = 1;

    if (!mj_body_gen_ok(yajl_gen_array_open(b->gen))) {
        return 0;
    }

    for (i = 0; i < b->nkeep; i++) {
        if (!mj_body_gen_ok(yajl_gen_string(b->gen, b->keep[i].data,
                                            b->keep[i].len)))
        {
            return 0;
        }
    }

    return mj_body_gen_ok(yajl_gen_array_close(b->gen));
}


static yajl_callbacks  mj_body_gen_callbacks = {
    mj_body_gen_null,
    mj_body_gen_boolean,
    NULL,
    NULL,
    mj_body_gen_number,
    mj_body_gen_string,
    mj_body_gen_start_map,
    mj_body_gen_map_key,
    mj_body_gen_end_map,
    mj_body_gen_start_array,
    mj_body_gen_end_array
};


int
mj_body_rewrite(mj_body_t *b, const mj_span_t *keep, size_t nkeep,
    yajl_print_t print, void *ctx)
{
    int  rc;

    b->gen = yajl_gen_alloc(b->alloc);
    if (b->gen == NULL) {
        return -1;
    }

    if (!yajl_gen_config(b->gen, yajl_gen_print_callback, print, ctx)) {
        yajl_gen_free(b->gen);
        b->gen = NULL;
        return -1;
    }

    b->depth = 0;
    b->skip = 0;
    b->keep = keep;
    b->nkeep = nkeep;

    rc = mj_body_parse(b, &mj_body_gen_callbacks);

    yajl_gen_free(b->gen);
    b->gen = NULL;

    return rc == 0 ? 0 : -1;
}
