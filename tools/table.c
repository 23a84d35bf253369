/*
 * table.c: columns aligned for the terminal (mj list, mjctl list, status).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "util.h"


void
tl_table_init(tl_table_t *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}


void
tl_table_cell(tl_table_t *t, const char *fmt, ...)
{
    va_list   ap;
    char    **cells;
    int       n;

    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        cells = realloc(t->cells, t->cap * sizeof(char *));
        if (cells == NULL) {
            tl_err("out of memory");
            exit(70);
        }
        t->cells = cells;
    }

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    t->cells[t->ncells] = tl_alloc(n + 1);

    va_start(ap, fmt);
    vsnprintf(t->cells[t->ncells], n + 1, fmt, ap);
    va_end(ap);

    t->ncells++;
}


void
tl_table_print(const tl_table_t *t, FILE *f)
{
    size_t  i, c, *w;

    w = tl_alloc(t->ncols * sizeof(size_t));

    for (i = 0; i < t->ncells; i++) {
        c = i % t->ncols;
        if (strlen(t->cells[i]) > w[c]) {
            w[c] = strlen(t->cells[i]);
        }
    }

    for (i = 0; i < t->ncells; i++) {
        c = i % t->ncols;

        if (c + 1 == t->ncols || i + 1 == t->ncells) {
            fprintf(f, "%s\n", t->cells[i]);

        } else {
            fprintf(f, "%-*s  ", (int) w[c], t->cells[i]);
        }
    }

    free(w);
}


void
tl_table_free(tl_table_t *t)
{
    size_t  i;

    for (i = 0; i < t->ncells; i++) {
        free(t->cells[i]);
    }

    free(t->cells);
    memset(t, 0, sizeof(*t));
}
