/*
 * ngx_http_mj_table.c: the zone's tables (tasks, users' counters) are
 * open-addressing tables with linear probing and no tombstones: a record
 * deleted pulls back the records after it in its run that a lookup from
 * their home slot would no longer find.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


#define ngx_http_mj_table_rec(t, i)  ((t)->slots + (i) * (t)->size)


void
ngx_http_mj_table_delete(ngx_http_mj_table_t *t, ngx_uint_t i)
{
    u_char      *rec;
    ngx_uint_t   j, home;

    j = i;

    for ( ;; ) {
        if (++j == t->n) {
            j = 0;
        }

        rec = ngx_http_mj_table_rec(t, j);

        if (!t->used(rec)) {
            break;
        }

        home = t->home(rec, t->n);

        /* a record whose home is in (i, j] is found where it is */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) {
            continue;
        }

        ngx_memcpy(ngx_http_mj_table_rec(t, i), rec, t->size);
        i = j;
    }

    ngx_memzero(ngx_http_mj_table_rec(t, i), t->size);
}


/*
 * Up to "max" used records (the uint64_t at "used" is not 0) of a table of
 * "n" records of "size" bytes, from slot *cursor on, into "buf"; *cursor
 * moves past them.  How many were copied.
 */
ngx_uint_t
ngx_http_mj_table_copy(u_char *slots, ngx_uint_t n, size_t size, size_t used,
    ngx_uint_t *cursor, u_char *buf, ngx_uint_t max)
{
    u_char      *rec;
    ngx_uint_t   i, k;

    k = 0;

    for (i = *cursor; i < n && k < max; i++) {
        rec = slots + i * size;

        if (*(uint64_t *) (rec + used)) {
            ngx_memcpy(buf + k++ * size, rec, size);
        }
    }

    *cursor = i;

    return k;
}
