/*
 * fuzz_tree.h: what the fuzz targets share: fuzz_check(), and what they
 * check their JSON readers against, yajl's own tree parser, a second
 * reading of the same text.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef FUZZ_TREE_H
#define FUZZ_TREE_H

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>


#define fuzz_check(cond)                                                     \
    do { if (!(cond)) { fuzz_fail(#cond, __FILE__, __LINE__); } } while (0)

void fuzz_fail(const char *what, const char *file, int line);

/* JSON as the readers take it: yajl_tree would allow comments too */
int fuzz_strict_json(const unsigned char *text, size_t len);

/*
 * yajl_tree keeps strings and keys as C strings: a text with an escaped
 * NUL (\u0000) has no faithful tree, and the checks that need one skip it
 */
int fuzz_tree_faithful(const unsigned char *text, size_t len);

/* text[0..len-1] as a tree, or NULL if it is not JSON (or not faithful) */
yajl_val fuzz_tree(const unsigned char *text, size_t len);

/* the same value: type, and text of every string, key and number */
int fuzz_tree_equal(yajl_val a, yajl_val b);

/* a string equal to data[0..len-1] */
int fuzz_tree_is_string(yajl_val v, const unsigned char *data, size_t len);

#endif /* FUZZ_TREE_H */
