/*
 * mj_json.h: what the plain-C JSON readers share (mj_body_parse.c, the
 * request bodies; mj_answer_parse.c, the upstream's answers).
 *
 * They read one block of memory in one yajl_parse() call and keep what
 * they find as spans: of the text itself where yajl hands over a piece of
 * it, or a copy where it decoded escapes into a buffer of its own.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_JSON_H
#define MJ_JSON_H

#include <stddef.h>

#include <yajl/yajl_common.h>


typedef struct {
    const unsigned char       *data;      /* NULL: absent */
    size_t                     len;
} mj_span_t;


/* realloc() through the readers' allocator; libc's when it is NULL */
void *mj_json_alloc(yajl_alloc_funcs *af, void *ptr, size_t size);

/*
 * Keep a string yajl handed over while it parsed text[0..text_len-1], in
 * place of what dst held: 0, or -1 when memory ran out.  *copied grows by
 * what was copied.
 */
int mj_json_keep(yajl_alloc_funcs *af, const unsigned char *text,
    size_t text_len, mj_span_t *dst, const unsigned char *s, size_t len,
    size_t *copied);

#endif /* MJ_JSON_H */
