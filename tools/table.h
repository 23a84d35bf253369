/*
 * table.h: columns aligned for the terminal (mj list, mjctl list, status).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef TL_TABLE_H
#define TL_TABLE_H

#include <stddef.h>
#include <stdio.h>


typedef struct {
    size_t   ncols;
    size_t   ncells;
    size_t   cap;
    char   **cells;             /* row after row */
} tl_table_t;


void tl_table_init(tl_table_t *t, size_t ncols);

/* the next cell, left to right, then the next row */
void tl_table_cell(tl_table_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void tl_table_print(const tl_table_t *t, FILE *f);
void tl_table_free(tl_table_t *t);

#endif /* TL_TABLE_H */
