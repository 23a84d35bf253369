/*
 * mjctl_status.c: mjctl status: the gateway's status endpoint as tables.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "mjctl.h"
#include "table.h"
#include "util.h"


typedef struct {
    const char  *head;
    const char  *k1;
    const char  *k2;
} ctl_col_t;


static const ctl_col_t  ctl_zone_cols[] = {
    { "ZONE", "name", NULL },
    { "SIZE", "size", NULL },
    { "CAPACITY", "capacity", NULL },
    { "TASKS", "tasks", NULL },
    { "FINISHED", "finished", NULL },
    { "RESERVED", "reserved", NULL },
    { "EVICTED", "evicted", NULL },
    { "REFUSED", "refused", NULL },
    { NULL, NULL, NULL }
};


static const ctl_col_t  ctl_user_cols[] = {
    { "USER", "name", NULL },
    { "REQUESTS", "requests", NULL },
    { "SUBMITS", "submits", NULL },
    { "REJ-RATE", "rejected", "rate" },
    { "REJ-TASKS", "rejected", "tasks" },
    { "REJ-QUOTA", "rejected", "quota" },
    { "REJ-ACTION", "rejected", "action" },
    { "UNFINISHED", "unfinished", NULL },
    { "TRACKED", "tracked", NULL },
    { "QUOTA-USED", "quota", "used" },
    { "QUOTA-LIMIT", "quota", "limit" },
    { "QUOTA-LEFT", "quota", "left" },
    { NULL, NULL, NULL }
};


/* the array "name" of the answer as a table; "-" for null or absent */
static void
ctl_table(yajl_val answer, const char *name, const ctl_col_t *cols)
{
    size_t            i, n;
    long long         num;
    yajl_val          rows, row;
    tl_table_t        t;
    const char       *s, *path[] = { name, NULL };
    const ctl_col_t  *c;

    for (n = 0; cols[n].head; n++) {
        /* count them */
    }

    tl_table_init(&t, n);

    for (c = cols; c->head; c++) {
        tl_table_cell(&t, "%s", c->head);
    }

    rows = yajl_tree_get(answer, path, yajl_t_array);

    for (i = 0; rows && i < YAJL_GET_ARRAY(rows)->len; i++) {
        row = YAJL_GET_ARRAY(rows)->values[i];

        for (c = cols; c->head; c++) {
            s = tl_jstr(row, c->k1, c->k2);

            if (s) {
                tl_table_cell(&t, "%s", s);

            } else if (tl_jnum(row, c->k1, c->k2, &num) == 0) {
                tl_table_cell(&t, "%lld", num);

            } else {
                tl_table_cell(&t, "-");
            }
        }
    }

    tl_table_print(&t, stdout);
    tl_table_free(&t);
}


int
ctl_status(const ctl_conf_t *cf)
{
    int        rc;
    yajl_val   j;
    tl_req_t   req;
    tl_resp_t  resp;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = cf->url;
    req.timeout = cf->timeout;

    tl_http_init();

    if (tl_http(&req, &resp) != TL_HTTP_OK) {
        tl_err("cannot reach %s: %s", cf->url, resp.msg);
        free(resp.body);
        return CTL_EXIT_ERROR;
    }

    j = resp.status == 200 ? tl_json_parse(resp.body) : NULL;
    rc = CTL_EXIT_OK;

    if (resp.status != 200) {
        tl_err("%s: HTTP %ld", cf->url, resp.status);
        rc = CTL_EXIT_ERROR;

    } else if (j == NULL || !YAJL_IS_OBJECT(j)) {
        tl_err("%s: the answer is not a JSON object", cf->url);
        rc = CTL_EXIT_ERROR;

    } else if (cf->json) {
        printf("%s%s", resp.body,
               resp.len && resp.body[resp.len - 1] == '\n' ? "" : "\n");

    } else {
        ctl_table(j, "zones", ctl_zone_cols);
        printf("\n");
        ctl_table(j, "users", ctl_user_cols);
    }

    if (j) {
        yajl_tree_free(j);
    }

    free(resp.body);

    return rc;
}
