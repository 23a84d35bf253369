/*
 * mj_wait.c: --wait: poll the task until it ends, with a progress bar on a
 * terminal and a line a status change elsewhere.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mj.h"
#include "util.h"


#define MJC_BAR  24


static void
mjc_progress(const char *id, const char *status, const char *progress,
    int tty, char *last, size_t size)
{
    int  pct, fill;

    if (tty) {
        pct = progress ? atoi(progress) : 0;
        pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
        fill = pct * MJC_BAR / 100;

        fprintf(stderr, "\r\033[K[%.*s%*s] %3d%%  %s  %s", fill,
                "########################", MJC_BAR - fill, "", pct, status,
                id);
        fflush(stderr);
        tl_line_open = 1;
        return;
    }

    if (strcmp(last, status) != 0) {
        fprintf(stderr, "%s: %s %s\n", id, status, progress ? progress : "");
        snprintf(last, size, "%s", status);
    }
}


/* the statuses a wait ends on */
static int
mjc_status_ends(const char *status)
{
    static const char  *ends[] = { "SUCCESS", "FAILURE", "CANCEL", "MODAL" };
    size_t              i;

    for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        if (strcmp(status, ends[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


int
mjc_wait(const mjc_conf_t *cf, const char *id)
{
    int           rc, tty;
    char          path[128], what[96], last[32];
    double        deadline;
    const char   *status;
    mjc_answer_t  a;

    snprintf(path, sizeof(path), "/mj/task/%s/fetch", id);
    snprintf(what, sizeof(what), "task %s", id);
    tty = isatty(STDERR_FILENO);
    last[0] = '\0';
    deadline = tl_now() + cf->wait_max;

    for ( ;; ) {
        rc = mjc_call(cf, "GET", path, NULL, 0, MJC_POLL, what, &a);
        if (rc != MJ_EXIT_OK) {
            break;
        }

        if (tl_jstr(a.json, "status", NULL) == NULL) {
            rc = mjc_code_error(&a, what);
            break;
        }

        status = tl_jstr(a.json, "status", NULL);
        mjc_progress(id, status, tl_jstr(a.json, "progress", NULL), tty,
                     last, sizeof(last));

        if (mjc_status_ends(status)) {
            if (tl_line_open) {
                fputc('\n', stderr);
                tl_line_open = 0;
            }

            if (strcmp(status, "MODAL") == 0) {
                tl_err("task %s waits for a modal step: mj modal %s [PROMPT]",
                       id, id);
            }

            rc = mjc_task_done(cf, &a, 1);
            break;
        }

        /* the task goes on: say how to pick the wait up again */
        if (tl_now() + cf->interval > deadline) {
            tl_err("task %s is still %s after %g s (--wait-max): "
                   "mj fetch %s --wait", id, status, cf->wait_max, id);
            rc = MJ_EXIT_TIMEOUT;
            break;
        }

        mjc_answer_free(&a);
        tl_sleep(cf->interval);
    }

    mjc_answer_free(&a);

    return rc;
}
