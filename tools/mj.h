/*
 * mj.h: the user's command-line client for an ngx_mj gateway.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_H
#define MJ_H

#include <stddef.h>

#include "http.h"
#include "json.h"


/* exit codes, documented in docs/tools.md */
#define MJ_EXIT_OK        0
#define MJ_EXIT_FAILED    1     /* the API refused it, or the task failed */
#define MJ_EXIT_USAGE     2
#define MJ_EXIT_AUTH      3     /* no key, or the key was refused */
#define MJ_EXIT_NOTFOUND  4
#define MJ_EXIT_LIMITED   5     /* 429, still after the retries */
#define MJ_EXIT_HTTP      6     /* another HTTP error, or not JSON */
#define MJ_EXIT_NETWORK   7
#define MJ_EXIT_TIMEOUT   8

/* mjc_request() flags */
#define MJC_POLL  1             /* a read: retried on 5xx and network errors */
#define MJC_RAW   2             /* the answer is not JSON (an image) */


typedef struct {
    const char    *base;        /* MJ_BASE_URL, without a trailing "/" */
    const char    *key;         /* MJ_API_KEY */
    double         timeout;     /* seconds a request may take */
    double         interval;    /* seconds between polls */
    double         wait_max;    /* seconds a --wait polls at most */
    int            retries;     /* of one request, on 429 (5xx: polls) */
    int            wait;
    int            json;
    const char    *output;      /* -o: the task's image goes there */
    const char    *dimensions;  /* blend */
    const char    *bot;         /* botType */
    const char    *mask;        /* modal: maskBase64 from this file */
    const char   **images;      /* imagine: base64Array from these files */
    size_t         nimages;
} mjc_conf_t;


typedef struct {
    tl_resp_t      resp;
    yajl_val       json;        /* NULL with MJC_RAW */
} mjc_answer_t;


/* mj_api.c: requests, retries, errors */
int mjc_request(const mjc_conf_t *cf, const tl_req_t *req, int flags,
    const char *what, mjc_answer_t *a);
int mjc_call(const mjc_conf_t *cf, const char *method, const char *path,
    const char *body, size_t len, int flags, const char *what,
    mjc_answer_t *a);
int mjc_code_error(const mjc_answer_t *a, const char *what);
void mjc_print_raw(const mjc_answer_t *a);
void mjc_answer_free(mjc_answer_t *a);

/* mj_task.c: tasks and their buttons */
const char *mjc_button_find(yajl_val task, const char *name);
char *mjc_button_list(yajl_val task);
int mjc_task_done(const mjc_conf_t *cf, const mjc_answer_t *a, int judge);
int mjc_task_id_ok(const char *id);

/* mj_wait.c: polling until the task ends */
int mjc_wait(const mjc_conf_t *cf, const char *id);

/* mj_cmd.c: the commands */
int mjc_command(const mjc_conf_t *cf, const char *cmd, int argc,
    char **argv);

#endif /* MJ_H */
