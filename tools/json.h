/*
 * json.h: reading answers (yajl_tree) and writing request bodies
 * (yajl_gen), shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef TL_JSON_H
#define TL_JSON_H

#include <stddef.h>

#include <yajl/yajl_tree.h>


/* a member of a body: a string, a number, or an array of strings */
typedef struct {
    const char          *name;
    const char          *value;      /* NULL: skipped, unless "values" */
    const char *const   *values;
    size_t               nvalues;
    int                  number;     /* value is digits, written unquoted */
} tl_jfield_t;


yajl_val tl_json_parse(const char *text);

/* v[k1] or v[k1][k2] (k2 may be NULL) as a string, or NULL */
const char *tl_jstr(yajl_val v, const char *k1, const char *k2);

/* the same as an integer: 0, or -1 when absent, null or not a number */
int tl_jnum(yajl_val v, const char *k1, const char *k2, long long *out);

/* a JSON object of the fields, malloc()ed and NUL-terminated */
char *tl_json_object(const tl_jfield_t *f, size_t n, size_t *len);

#endif /* TL_JSON_H */
