/*
 * mj_answer_parse.c: what the gateway reads of the upstream's answers; see
 * mj_answer_parse.h.  Keys are matched exactly: the gateway reads what the
 * upstream wrote, which is the contract's spelling.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdlib.h>
#include <string.h>

#include "mj_answer_parse.h"


enum {
    MJ_ANSWER_OTHER = 0,
    MJ_ANSWER_CODE,
    MJ_ANSWER_RESULT,
    MJ_ANSWER_ID,
    MJ_ANSWER_STATUS
};


/* every key of every answer comes here: by length first */
static unsigned
mj_answer_field(const unsigned char *key, size_t len)
{
    switch (len) {

    case 2:
        return memcmp(key, "id", 2) == 0 ? MJ_ANSWER_ID : MJ_ANSWER_OTHER;

    case 4:
        return memcmp(key, "code", 4) == 0 ? MJ_ANSWER_CODE : MJ_ANSWER_OTHER;

    case 6:
        return memcmp(key, "result", 6) == 0 ? MJ_ANSWER_RESULT
               : memcmp(key, "status", 6) == 0 ? MJ_ANSWER_STATUS
               : MJ_ANSWER_OTHER;
    }

    return MJ_ANSWER_OTHER;
}


/* the depth at which an object's fields sit: 1, or 2 inside an array */
#define mj_answer_at(a)  ((a)->depth == 1 + (unsigned) (a)->array)


static void
mj_answer_obj_init(mj_answer_obj_t *o)
{
    memset(o, 0, sizeof(mj_answer_obj_t));
    o->code = MJ_ANSWER_NO_CODE;
}


static int
mj_answer_scalar(mj_answer_t *a)
{
    /* a bare value, or a list item that is not a task object */
    if (a->depth == 0 || (a->array && a->depth == 1)) {
        a->bad = 1;
        return 0;
    }

    if (mj_answer_at(a)) {
        a->field = MJ_ANSWER_OTHER;
    }

    return 1;
}


static int
mj_answer_null(void *ctx)
{
    return mj_answer_scalar(ctx);
}


static int
mj_answer_boolean(void *ctx, int v)
{
    return mj_answer_scalar(ctx);
}


static int
mj_answer_number(void *ctx, const char *num, size_t len)
{
    long          n;
    size_t        i;
    mj_answer_t  *a = ctx;

    if (mj_answer_at(a) && a->field == MJ_ANSWER_CODE) {
        n = 0;

        /* a small non-negative integer, as the contract's codes are */
        for (i = 0; i < len && len < 10; i++) {
            if (num[i] < '0' || num[i] > '9') {
                break;
            }

            n = n * 10 + (num[i] - '0');
        }

        a->cur.code = (len && i == len) ? n : MJ_ANSWER_BAD_CODE;
    }

    return mj_answer_scalar(a);
}


static int
mj_answer_string(void *ctx, const unsigned char *str, size_t len)
{
    mj_span_t    *dst;
    mj_answer_t  *a = ctx;

    dst = NULL;

    if (mj_answer_at(a)) {
        switch (a->field) {
        case MJ_ANSWER_RESULT:
            dst = &a->cur.result;
            break;
        case MJ_ANSWER_ID:
            dst = &a->cur.id;
            break;
        case MJ_ANSWER_STATUS:
            dst = &a->cur.status;
            break;
        }
    }

    if (dst) {
        if (mj_json_keep(a->alloc, a->text, a->text_len, dst, str, len,
                         &a->copied)
            != 0)
        {
            a->nomem = 1;
            return 0;
        }

        if (a->stop && dst == &a->cur.status) {
            a->done = 1;
            return 0;
        }
    }

    return mj_answer_scalar(a);
}


static int
mj_answer_open(mj_answer_t *a, unsigned map)
{
    if (a->depth == 0 && (map != !a->array)) {
        a->bad = 1;
        return 0;
    }

    if (a->array && a->depth == 1) {
        if (!map) {
            a->bad = 1;
            return 0;
        }

        mj_answer_obj_init(&a->cur);
        a->cur.start = yajl_get_bytes_consumed(a->h) - 1;
    }

    if (mj_answer_at(a)) {
        a->field = MJ_ANSWER_OTHER;
    }

    a->depth++;

    return 1;
}


static int
mj_answer_start_map(void *ctx)
{
    return mj_answer_open(ctx, 1);
}


static int
mj_answer_start_array(void *ctx)
{
    return mj_answer_open(ctx, 0);
}


static int
mj_answer_end(void *ctx)
{
    mj_answer_obj_t  *objs;
    mj_answer_t      *a = ctx;

    a->depth--;

    if (!a->array || a->depth != 1) {
        return 1;
    }

    a->cur.end = yajl_get_bytes_consumed(a->h);

    if (a->nobjs == a->cap) {
        objs = mj_json_alloc(a->alloc, a->objs,
                             (a->cap * 2 + 8) * sizeof(mj_answer_obj_t));
        if (objs == NULL) {
            a->nomem = 1;
            return 0;
        }

        a->objs = objs;
        a->cap = a->cap * 2 + 8;
    }

    a->objs[a->nobjs++] = a->cur;

    /* what it holds is the array's now */
    mj_answer_obj_init(&a->cur);

    return 1;
}


static int
mj_answer_key(void *ctx, const unsigned char *key, size_t len)
{
    mj_answer_t  *a = ctx;

    if (mj_answer_at(a)) {
        a->field = mj_answer_field(key, len);
    }

    return 1;
}


static yajl_callbacks  mj_answer_callbacks = {
    mj_answer_null,
    mj_answer_boolean,
    NULL,
    NULL,
    mj_answer_number,
    mj_answer_string,
    mj_answer_start_map,
    mj_answer_key,
    mj_answer_end,
    mj_answer_start_array,
    mj_answer_end
};


/*
 * The quick way through an answer, without yajl: see mj_answer_quick().
 * Each of these returns where what it read ends, or NULL when the text is
 * not of the plain kind it reads.
 */

static const unsigned char *
mj_answer_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/* a string of printable ASCII with no escape, p at its '"' */
static const unsigned char *
mj_answer_plain_string(const unsigned char *p, const unsigned char *end)
{
    for (p++; p < end; p++) {
        if (*p == '"') {
            return p + 1;
        }

        if (*p < 0x20 || *p > 0x7e || *p == '\\') {
            return NULL;
        }
    }

    return NULL;
}


static const unsigned char *
mj_answer_digits(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *start;

    for (start = p; p < end && *p >= '0' && *p <= '9'; p++) { /* void */ }

    return p > start ? p : NULL;
}


/* a number as JSON writes it, or true, false, null */
static const unsigned char *
mj_answer_plain_scalar(const unsigned char *p, const unsigned char *end)
{
    static const char  *literals[] = { "true", "false", "null" };

    size_t  i, n;

    for (i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
        n = strlen(literals[i]);

        if ((size_t) (end - p) >= n && memcmp(p, literals[i], n) == 0) {
            return p + n;
        }
    }

    if (p < end && *p == '-') {
        p++;
    }

    if (p < end && *p == '0') {
        p++;

    } else if ((p = mj_answer_digits(p, end)) == NULL) {
        return NULL;
    }

    if (p < end && *p == '.' && (p = mj_answer_digits(p + 1, end)) == NULL) {
        return NULL;
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        return mj_answer_digits(p, end);
    }

    return p;
}


/*
 * An object whose members are all plain (keys and strings of printable
 * ASCII with no escape, numbers, true, false, null; nothing nested) is
 * read here: its tokens go to the callbacks yajl would call, in the same
 * order, and only whitespace may follow it.  1 when it was read (or a
 * callback stopped it); 0 for anything else, which the caller undoes and
 * gives to yajl: nothing nested is skipped here, since yajl would check
 * it.
 */
static int
mj_answer_quick(mj_answer_t *a, const unsigned char *p, size_t len)
{
    int                   go;
    const unsigned char  *end, *v;

    end = p + len;
    p = mj_answer_ws(p, end);

    if (p == end || *p != '{' || !mj_answer_start_map(a)) {
        return 0;
    }

    p = mj_answer_ws(p + 1, end);

    while (p == end || *p != '}') {
        v = p;

        if (p == end || *p != '"'
            || (p = mj_answer_plain_string(p, end)) == NULL)
        {
            return 0;
        }

        if (!mj_answer_key(a, v + 1, p - v - 2)) {
            return 1;
        }

        p = mj_answer_ws(p, end);

        if (p == end || *p != ':') {
            return 0;
        }

        v = mj_answer_ws(p + 1, end);

        if (v < end && *v == '"') {
            if ((p = mj_answer_plain_string(v, end)) == NULL) {
                return 0;
            }

            go = mj_answer_string(a, v + 1, p - v - 2);

        } else {
            if ((p = mj_answer_plain_scalar(v, end)) == NULL) {
                return 0;
            }

            go = (*v == 't' || *v == 'f') ? mj_answer_boolean(a, *v == 't')
                 : (*v == 'n') ? mj_answer_null(a)
                 : mj_answer_number(a, (const char *) v, p - v);
        }

        if (!go) {
            return 1;
        }

        p = mj_answer_ws(p, end);

        if (p == end || (*p != ',' && *p != '}')) {
            return 0;
        }

        if (*p == '}') {
            break;
        }

        /* a key must follow */
        p = mj_answer_ws(p + 1, end);

        if (p == end || *p != '"') {
            return 0;
        }
    }

    (void) mj_answer_end(a);

    return mj_answer_ws(p + 1, end) == end;
}


int
mj_answer_scan(mj_answer_t *a, const unsigned char *p, size_t len)
{
    int          rc;
    yajl_status  st;

    a->text = p;
    a->text_len = len;
    mj_answer_obj_init(&a->cur);

    if (a->quick && !a->array) {
        if (mj_answer_quick(a, p, len)) {
            return a->nomem ? -2 : a->done ? 0 : a->bad ? -1 : 0;
        }

        /* undone: yajl reads it from the start */
        mj_answer_obj_init(&a->cur);
        a->depth = 0;
        a->field = MJ_ANSWER_OTHER;
        a->bad = 0;
        a->done = 0;
    }

    a->h = yajl_alloc(&mj_answer_callbacks, a->parser ? a->parser : a->alloc,
                      a);
    if (a->h == NULL) {
        return -2;
    }

    st = yajl_parse(a->h, p, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(a->h);
    }

    rc = a->nomem ? -2
         : a->done ? 0
         : (st != yajl_status_ok || a->bad) ? -1
         : 0;

    yajl_free(a->h);
    a->h = NULL;

    return rc;
}
