/*
 * mj_json.c: what the plain-C JSON readers share; see mj_json.h.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdlib.h>
#include <string.h>

#include "mj_json.h"


void *
mj_json_alloc(yajl_alloc_funcs *af, void *ptr, size_t size)
{
    if (af) {
        return ptr ? af->realloc(af->ctx, ptr, size)
                   : af->malloc(af->ctx, size);
    }

    return realloc(ptr, size);
}


int
mj_json_keep(yajl_alloc_funcs *af, const unsigned char *text,
    size_t text_len, mj_span_t *dst, const unsigned char *s, size_t len,
    size_t *copied)
{
    unsigned char  *p;

    /* a copy this replaces goes back */
    if (dst->data && (dst->data < text || dst->data >= text + text_len)) {
        if (af) {
            af->free(af->ctx, (void *) dst->data);

        } else {
            free((void *) dst->data);
        }

        dst->data = NULL;
    }

    if (s >= text && s + len <= text + text_len) {
        dst->data = s;
        dst->len = len;
        return 0;
    }

    /* yajl's own buffer, which the next string reuses */
    p = mj_json_alloc(af, NULL, len ? len : 1);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, s, len);
    *copied += len;
    dst->data = p;
    dst->len = len;

    return 0;
}
