/*
 * fuzz_answer.c: the reader of the upstream's answers (mj_answer_parse.c).
 *
 * The first byte picks the mode (a list or an object; stop at "status" or
 * not), the rest is the answer.  An answer read whole is JSON to yajl_tree
 * too, of the shape asked for; each field read is the last string of that
 * name at the object's top level, and in a list each object's span parses
 * on its own to the same object.  An object read the quick way (without
 * yajl) gives what yajl gives: the verdict, code, result, id and status.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>

#include "mj_answer_parse.h"
#include "fuzz_tree.h"


/* the last string value of a top-level member of an object */
static yajl_val
fuzz_last_string(yajl_val obj, const char *name)
{
    size_t    i;
    yajl_val  found;

    found = NULL;

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], name) == 0
            && obj->u.object.values[i]->type == yajl_t_string)
        {
            found = obj->u.object.values[i];
        }
    }

    return found;
}


static void
fuzz_check_field(yajl_val obj, const char *name, const mj_span_t *s)
{
    yajl_val  v;

    v = fuzz_last_string(obj, name);

    if (v == NULL) {
        fuzz_check(s->data == NULL);
        return;
    }

    fuzz_check(fuzz_tree_is_string(v, s->data, s->len));
}


static void
fuzz_check_obj(yajl_val obj, const mj_answer_obj_t *o)
{
    fuzz_check(obj->type == yajl_t_object);
    fuzz_check_field(obj, "result", &o->result);
    fuzz_check_field(obj, "id", &o->id);
    fuzz_check_field(obj, "status", &o->status);
}


static void
fuzz_answer_free(mj_answer_t *a, mj_answer_obj_t *o, const uint8_t *text,
    size_t len)
{
    const mj_span_t  *s[3];
    size_t            i;

    s[0] = &o->result;
    s[1] = &o->id;
    s[2] = &o->status;

    for (i = 0; i < 3; i++) {
        if (s[i]->data && (s[i]->data < text || s[i]->data >= text + len)) {
            free((void *) s[i]->data);
        }
    }
}


static void
fuzz_same_span(const mj_span_t *x, const mj_span_t *y)
{
    fuzz_check((x->data == NULL) == (y->data == NULL));
    fuzz_check(x->data == NULL
               || (x->len == y->len && memcmp(x->data, y->data, x->len) == 0));
}


/* the quick read (done) against yajl's own, on the same text */
static void
fuzz_quick_same(const uint8_t *data, size_t size, int rc, mj_answer_t *a)
{
    int          slow_rc;
    mj_answer_t  b;

    memset(&b, 0, sizeof(mj_answer_t));
    b.stop = a->stop;

    slow_rc = mj_answer_scan(&b, data, size);

    fuzz_check(slow_rc == rc);
    fuzz_check(a->cur.code == b.cur.code);
    fuzz_same_span(&a->cur.result, &b.cur.result);
    fuzz_same_span(&a->cur.id, &b.cur.id);
    fuzz_same_span(&a->cur.status, &b.cur.status);

    fuzz_answer_free(&b, &b.cur, data, size);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           rc;
    size_t        i;
    yajl_val      tree, one;
    mj_answer_t   a;

    if (size == 0) {
        return 0;
    }

    memset(&a, 0, sizeof(mj_answer_t));
    a.array = data[0] & 1;
    a.stop = (data[0] >> 1) & 1;
    a.quick = 1;
    data++;
    size--;

    rc = mj_answer_scan(&a, data, size);
    fuzz_check(rc == 0 || rc == -1);

    if (!a.array) {
        fuzz_quick_same(data, size, rc, &a);
    }

    tree = fuzz_tree(data, size);

    if (rc == 0 && !a.stop && fuzz_tree_faithful(data, size)) {
        fuzz_check(tree != NULL);

        if (a.array) {
            fuzz_check(tree->type == yajl_t_array);
            fuzz_check(tree->u.array.len == a.nobjs);

            for (i = 0; i < a.nobjs; i++) {
                fuzz_check(a.objs[i].start < a.objs[i].end
                           && a.objs[i].end <= size);
                fuzz_check_obj(tree->u.array.values[i], &a.objs[i]);

                one = fuzz_tree(data + a.objs[i].start,
                                a.objs[i].end - a.objs[i].start);
                fuzz_check(fuzz_tree_equal(one, tree->u.array.values[i]));
                yajl_tree_free(one);
            }

        } else {
            fuzz_check_obj(tree, &a.cur);
        }
    }

    if (rc == -1 && !a.stop && tree && fuzz_strict_json(data, size)) {
        /* JSON, so the shape was wrong: not an object, not all objects */
        if (a.array) {
            fuzz_check(tree->type != yajl_t_array
                       || a.nobjs < tree->u.array.len);

        } else {
            fuzz_check(tree->type != yajl_t_object);
        }
    }

    if (tree) {
        yajl_tree_free(tree);
    }

    for (i = 0; i < a.nobjs; i++) {
        fuzz_answer_free(&a, &a.objs[i], data, size);
    }

    fuzz_answer_free(&a, &a.cur, data, size);

    free(a.objs);

    return 0;
}
