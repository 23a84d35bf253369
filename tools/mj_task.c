/*
 * mj_task.c: a task as mj shows it: its summary, its buttons by name, and
 * its image saved with -o.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mj.h"
#include "table.h"
#include "util.h"


/* 1..64 of A-Z a-z 0-9 _ -, as the gateway wants */
int
mjc_task_id_ok(const char *id)
{
    size_t  n = strlen(id);

    return n >= 1 && n <= 64
           && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789_-") == n;
}


static yajl_val
mjc_buttons(yajl_val task)
{
    const char  *path[] = { "buttons", NULL };

    return yajl_tree_get(task, path, yajl_t_array);
}


/* a button's name: its label, else the word of its customId ("reroll") */
static void
mjc_button_name(yajl_val b, char *buf, size_t size)
{
    const char  *label, *p, *end;

    label = tl_jstr(b, "label", NULL);
    if (label && *label) {
        snprintf(buf, size, "%s", label);
        return;
    }

    p = tl_jstr(b, "customId", NULL);
    if (p == NULL) {
        snprintf(buf, size, "?");
        return;
    }

    if (strncmp(p, "MJ::", 4) == 0) {
        p += 4;
    }

    if (strncasecmp(p, "JOB::", 5) == 0) {
        p += 5;
    }

    end = strstr(p, "::");
    snprintf(buf, size, "%.*s", end ? (int) (end - p) : (int) strlen(p), p);
}


const char *
mjc_button_find(yajl_val task, const char *name)
{
    size_t       i;
    char         bn[128];
    yajl_val     bs, b;
    const char  *cid;

    bs = mjc_buttons(task);

    for (i = 0; bs && i < YAJL_GET_ARRAY(bs)->len; i++) {
        b = YAJL_GET_ARRAY(bs)->values[i];
        cid = tl_jstr(b, "customId", NULL);
        mjc_button_name(b, bn, sizeof(bn));

        if (cid && (strcasecmp(bn, name) == 0 || strcmp(cid, name) == 0)) {
            return cid;
        }
    }

    return NULL;
}


/* "U1, U2, ..., V4", malloc()ed; "" without buttons */
char *
mjc_button_list(yajl_val task)
{
    size_t    i, n;
    char      bn[128], *out;
    yajl_val  bs;

    bs = mjc_buttons(task);
    n = bs ? YAJL_GET_ARRAY(bs)->len : 0;
    out = tl_alloc(n * (sizeof(bn) + 2) + 1);

    for (i = 0; i < n; i++) {
        mjc_button_name(YAJL_GET_ARRAY(bs)->values[i], bn, sizeof(bn));
        strcat(out, i ? ", " : "");
        strcat(out, bn);
    }

    return out;
}


static void
mjc_task_print(yajl_val task)
{
    char         *buttons;
    const char   *v, *action, *status;
    tl_table_t    t;

    tl_table_init(&t, 2);

#define mjc_row(name, value)                                                  \
    if ((value) && *(value)) {                                                \
        tl_table_cell(&t, "%s:", name);                                       \
        tl_table_cell(&t, "%s", value);                                       \
    }

    action = tl_jstr(task, "action", NULL);
    status = tl_jstr(task, "status", NULL);

    v = tl_jstr(task, "id", NULL);
    mjc_row("id", v);
    mjc_row("action", action);

    if (status) {
        v = tl_jstr(task, "progress", NULL);
        tl_table_cell(&t, "status:");
        tl_table_cell(&t, "%s%s%s", status, v && *v ? " " : "", v ? v : "");
    }

    v = tl_jstr(task, "prompt", NULL);
    mjc_row("prompt", v);

    if (action
        && (strcmp(action, "DESCRIBE") == 0 || strcmp(action, "SHORTEN") == 0))
    {
        v = tl_jstr(task, "properties", "finalPrompt");
        mjc_row("text", v);
    }

    v = tl_jstr(task, "imageUrl", NULL);
    mjc_row("image", v);

    v = tl_jstr(task, "failReason", NULL);
    mjc_row("reason", v);

    buttons = mjc_button_list(task);
    mjc_row("buttons", buttons);
    free(buttons);

#undef mjc_row

    tl_table_print(&t, stdout);
    tl_table_free(&t);
    fflush(stdout);
}


static int
mjc_save_image(const mjc_conf_t *cf, yajl_val task)
{
    int           rc;
    tl_req_t      req;
    const char   *url;
    mjc_answer_t  a;

    url = tl_jstr(task, "imageUrl", NULL);
    if (url == NULL || *url == '\0') {
        tl_err("task %s has no image to save", tl_jstr(task, "id", NULL));
        return MJ_EXIT_FAILED;
    }

    /* the image may be on another host: never send it the key */
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout = cf->timeout;
    req.follow = 1;

    rc = mjc_request(cf, &req, MJC_POLL | MJC_RAW, "image", &a);

    if (rc == MJ_EXIT_OK) {
        if (tl_write_atomic(cf->output, a.resp.body, a.resp.len, 0666) != 0) {
            rc = MJ_EXIT_FAILED;

        } else {
            tl_err("saved %s (%zu bytes)", cf->output, a.resp.len);
        }
    }

    mjc_answer_free(&a);

    return rc;
}


/* shows a fetched task, saves its image; judge: a failed task fails */
int
mjc_task_done(const mjc_conf_t *cf, const mjc_answer_t *a, int judge)
{
    const char  *status;

    if (cf->json) {
        mjc_print_raw(a);

    } else {
        mjc_task_print(a->json);
    }

    status = tl_jstr(a->json, "status", NULL);

    if (judge && status
        && (strcmp(status, "FAILURE") == 0 || strcmp(status, "CANCEL") == 0))
    {
        tl_err("task %s ended in %s", tl_jstr(a->json, "id", NULL), status);
        return MJ_EXIT_FAILED;
    }

    return cf->output ? mjc_save_image(cf, a->json) : MJ_EXIT_OK;
}
