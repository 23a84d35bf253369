/*
 * fuzz_body.c: the request-body inspector and rewriter (mj_body_parse.c).
 *
 * A body it accepts is valid UTF-8 with whole \u characters, and reads as
 * a JSON object to yajl_tree too.  Its rewrite parses, holds none of the
 * members dropped, keeps every other member equal and in order (ids cut
 * to the ones kept), and inspected again gives the same fields and drops
 * nothing more.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>

#include "mj_body_parse.h"
#include "fuzz_tree.h"


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          cap;
} fuzz_out_t;


static int
fuzz_hook_ok(void *data, const unsigned char *url, size_t len)
{
    return len >= 11 && memcmp(url, "https://ok/", 11) == 0;
}


static void
fuzz_print(void *ctx, const char *s, size_t len)
{
    fuzz_out_t  *o = ctx;

    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2;
        o->p = realloc(o->p, o->cap);
        if (o->p == NULL) {
            abort();
        }
    }

    memcpy(o->p + o->len, s, len);
    o->len += len;
}


static void
fuzz_body_init(mj_body_t *b, size_t size)
{
    memset(b, 0, sizeof(mj_body_t));
    b->hook_allowed = fuzz_hook_ok;
    b->keep_account_filter = size & 1;
}


/* what the inspection copied (spans outside the text) goes back */
static void
fuzz_body_free(mj_body_t *b, const uint8_t *text, size_t len)
{
    size_t      i;
    mj_span_t  *s;

    for (i = 0; i < MJ_BODY_NKEYS + b->nids; i++) {
        s = (i < MJ_BODY_NKEYS) ? &b->str[i] : &b->ids[i - MJ_BODY_NKEYS];

        if (s->data && (s->data < text || s->data >= text + len)) {
            free((void *) s->data);
        }
    }

    free(b->ids);
}


static void
fuzz_check_rewrite(mj_body_t *b, yajl_val in, yajl_val out,
    const mj_span_t *keep, size_t nkeep)
{
    size_t       i, j, k;
    unsigned     c;
    const char  *key;
    yajl_val     ids;

    j = 0;

    for (i = 0; i < in->u.object.len; i++) {
        key = in->u.object.keys[i];
        c = mj_body_key_class((const unsigned char *) key, strlen(key));

        if (b->drop & MJ_BODY_BIT(c)) {
            continue;
        }

        fuzz_check(j < out->u.object.len);
        fuzz_check(strcmp(out->u.object.keys[j], key) == 0);

        if (c == MJ_BODY_IDS && keep) {
            ids = out->u.object.values[j];
            fuzz_check(ids->type == yajl_t_array);
            fuzz_check(ids->u.array.len == nkeep);

            for (k = 0; k < nkeep; k++) {
                fuzz_check(fuzz_tree_is_string(ids->u.array.values[k],
                                               keep[k].data, keep[k].len));
            }

        } else {
            fuzz_check(fuzz_tree_equal(in->u.object.values[i],
                                       out->u.object.values[j]));
        }

        j++;
    }

    fuzz_check(j == out->u.object.len);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    size_t       i, nkeep;
    unsigned     k;
    yajl_val     in, out;
    mj_body_t    b, again;
    mj_span_t   *keep;
    fuzz_out_t   text;

    fuzz_body_init(&b, size);

    rc = mj_body_inspect(&b, data, size);

    if (rc != 0) {
        fuzz_check(rc == -1 && b.error != NULL);
        fuzz_body_free(&b, data, size);
        return 0;
    }

    fuzz_check(mj_json_text_check(data, size) == NULL);

    if (!fuzz_tree_faithful(data, size)) {
        fuzz_body_free(&b, data, size);
        return 0;
    }

    in = fuzz_tree(data, size);
    fuzz_check(in != NULL && in->type == yajl_t_object);

    /* every other id kept, or (one time in three) the list left alone */
    keep = malloc((b.nids + 1) * sizeof(mj_span_t));
    nkeep = 0;

    for (i = 0; i < b.nids; i += 2) {
        keep[nkeep++] = b.ids[i];
    }

    memset(&text, 0, sizeof(text));

    fuzz_check(mj_body_rewrite(&b, (b.nids % 3) ? keep : NULL, nkeep,
                               fuzz_print, &text) == 0);

    fuzz_check(mj_json_text_check(text.p, text.len) == NULL);

    out = fuzz_tree(text.p, text.len);
    fuzz_check(out != NULL && out->type == yajl_t_object);

    fuzz_check_rewrite(&b, in, out, (b.nids % 3) ? keep : NULL, nkeep);

    /* the rewrite is what the upstream reads: the same fields, no drops */
    fuzz_body_init(&again, size);
    fuzz_check(mj_body_inspect(&again, text.p, text.len) == 0);
    fuzz_check(again.drop == 0);

    for (k = 1; k < MJ_BODY_NKEYS; k++) {
        fuzz_check(again.str[k].len == b.str[k].len);
        fuzz_check(again.str[k].len == 0
                   || memcmp(again.str[k].data, b.str[k].data,
                             b.str[k].len) == 0);
    }

    fuzz_body_free(&again, text.p, text.len);
    yajl_tree_free(in);
    yajl_tree_free(out);
    free(text.p);
    free(keep);
    fuzz_body_free(&b, data, size);

    return 0;
}
