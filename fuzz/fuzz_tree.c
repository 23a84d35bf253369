/*
 * fuzz_tree.c: a second reading of a JSON text, with yajl_tree, for the
 * fuzz targets' invariants.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>

#include <yajl/yajl_parse.h>

#include "fuzz_tree.h"


void
fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}


int
fuzz_strict_json(const unsigned char *text, size_t len)
{
    int          ok;
    yajl_handle  h;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        abort();
    }

    ok = yajl_parse(h, text, len) == yajl_status_ok
         && yajl_complete_parse(h) == yajl_status_ok;

    yajl_free(h);

    return ok;
}


int
fuzz_tree_faithful(const unsigned char *text, size_t len)
{
    size_t  i;

    for (i = 0; i + 6 <= len; i++) {
        if (memcmp(text + i, "\\u0000", 6) == 0) {
            return 0;
        }
    }

    return 1;
}


yajl_val
fuzz_tree(const unsigned char *text, size_t len)
{
    char      *s, err[128];
    yajl_val   v;

    /* yajl_tree wants a C string: a NUL in the text is not JSON anyway */
    if (memchr(text, '\0', len) != NULL) {
        return NULL;
    }

    if (!fuzz_tree_faithful(text, len)) {
        return NULL;
    }

    s = malloc(len + 1);
    if (s == NULL) {
        abort();
    }

    memcpy(s, text, len);
    s[len] = '\0';

    v = yajl_tree_parse(s, err, sizeof(err));

    free(s);

    return v;
}


static int
fuzz_same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}


int
fuzz_tree_equal(yajl_val a, yajl_val b)
{
    size_t  i;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case yajl_t_string:
        return fuzz_same_string(a->u.string, b->u.string);

    case yajl_t_number:
        return fuzz_same_string(a->u.number.r, b->u.number.r);

    case yajl_t_object:
        if (a->u.object.len != b->u.object.len) {
            return 0;
        }

        for (i = 0; i < a->u.object.len; i++) {
            if (!fuzz_same_string(a->u.object.keys[i], b->u.object.keys[i])
                || !fuzz_tree_equal(a->u.object.values[i],
                                    b->u.object.values[i]))
            {
                return 0;
            }
        }

        return 1;

    case yajl_t_array:
        if (a->u.array.len != b->u.array.len) {
            return 0;
        }

        for (i = 0; i < a->u.array.len; i++) {
            if (!fuzz_tree_equal(a->u.array.values[i], b->u.array.values[i]))
            {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}


int
fuzz_tree_is_string(yajl_val v, const unsigned char *data, size_t len)
{
    /* a string with a NUL in it is cut short in yajl_tree's copy */
    return v && v->type == yajl_t_string && data
           && strlen(v->u.string) <= len
           && memcmp(v->u.string, data, strlen(v->u.string)) == 0
           && (strlen(v->u.string) == len || memchr(data, '\0', len));
}
