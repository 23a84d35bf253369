/*
 * json.c: reading answers (yajl_tree) and writing request bodies
 * (yajl_gen), shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <string.h>

#include <yajl/yajl_gen.h>

#include "json.h"
#include "util.h"


yajl_val
tl_json_parse(const char *text)
{
    return yajl_tree_parse(text, NULL, 0);
}


static yajl_val
tl_jget(yajl_val v, const char *k1, const char *k2, yajl_type type)
{
    const char  *path[3] = { k1, k2, NULL };

    return v ? yajl_tree_get(v, path, type) : NULL;
}


const char *
tl_jstr(yajl_val v, const char *k1, const char *k2)
{
    return YAJL_GET_STRING(tl_jget(v, k1, k2, yajl_t_string));
}


int
tl_jnum(yajl_val v, const char *k1, const char *k2, long long *out)
{
    yajl_val  n = tl_jget(v, k1, k2, yajl_t_number);

    if (n == NULL || !YAJL_IS_INTEGER(n)) {
        return -1;
    }

    *out = YAJL_GET_INTEGER(n);

    return 0;
}


static void
tl_gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *) s, strlen(s));
}


char *
tl_json_object(const tl_jfield_t *f, size_t n, size_t *len)
{
    yajl_gen              g;
    size_t                i, j, blen;
    const unsigned char  *buf;
    char                 *out;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        tl_err("out of memory");
        return NULL;
    }

    yajl_gen_map_open(g);

    for (i = 0; i < n; i++) {
        if (f[i].values) {
            tl_gen_str(g, f[i].name);
            yajl_gen_array_open(g);

            for (j = 0; j < f[i].nvalues; j++) {
                tl_gen_str(g, f[i].values[j]);
            }

            yajl_gen_array_close(g);

        } else if (f[i].value && f[i].number) {
            tl_gen_str(g, f[i].name);
            yajl_gen_number(g, f[i].value, strlen(f[i].value));

        } else if (f[i].value) {
            tl_gen_str(g, f[i].name);
            tl_gen_str(g, f[i].value);
        }
    }

    yajl_gen_map_close(g);
    yajl_gen_get_buf(g, &buf, &blen);

    out = tl_alloc(blen + 1);
    memcpy(out, buf, blen);
    *len = blen;

    yajl_gen_free(g);

    return out;
}
