/*
 * mj_api.c: mj's requests to the gateway: retries with backoff, and every
 * failure turned into a message and an exit code.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj.h"
#include "util.h"


#define MJC_MAX_DELAY  120.0    /* seconds, for Retry-After and backoff */


void
mjc_answer_free(mjc_answer_t *a)
{
    free(a->resp.body);
    a->resp.body = NULL;

    if (a->json) {
        yajl_tree_free(a->json);
        a->json = NULL;
    }
}


void
mjc_print_raw(const mjc_answer_t *a)
{
    fwrite(a->resp.body, 1, a->resp.len, stdout);

    if (a->resp.len == 0 || a->resp.body[a->resp.len - 1] != '\n') {
        fputc('\n', stdout);
    }

    fflush(stdout);
}


/* what the gateway (or the upstream) said, in any of the usual shapes */
static const char *
mjc_description(yajl_val j)
{
    const char  *d;

    d = tl_jstr(j, "description", NULL);

    if (d == NULL) {
        d = tl_jstr(j, "error", "message");
    }

    if (d == NULL) {
        d = tl_jstr(j, "message", NULL);
    }

    if (d == NULL) {
        d = tl_jstr(j, "error", NULL);
    }

    return d ? d : "no description";
}


/* the delay before retry "n" (0, 1, ...) */
static double
mjc_delay(const mjc_conf_t *cf, const tl_resp_t *r, int flags, int n)
{
    double  d;

    if (r->retry_after >= 0) {
        d = r->retry_after;

    } else {
        d = ((flags & MJC_POLL) ? cf->interval : 1.0) * pow(2, n);
    }

    return d < MJC_MAX_DELAY ? d : MJC_MAX_DELAY;
}


/* a reason to retry, or NULL */
static const char *
mjc_retry_reason(const tl_resp_t *r, int flags, char *buf, size_t size)
{
    if (r->error == TL_HTTP_TIMEOUT) {
        return (flags & MJC_POLL) ? "timed out" : NULL;
    }

    if (r->error != TL_HTTP_OK) {
        return (flags & MJC_POLL) ? r->msg : NULL;
    }

    if (r->status == 429 || (r->status >= 500 && (flags & MJC_POLL))) {
        snprintf(buf, size, "HTTP %ld", r->status);
        return buf;
    }

    return NULL;
}


/* the exit code for an answer that is not a success */
static int
mjc_failure(const mjc_conf_t *cf, const tl_req_t *req, mjc_answer_t *a,
    const char *what)
{
    long         st = a->resp.status;
    yajl_val     j;
    const char  *desc;
    int          rc;

    if (a->resp.error == TL_HTTP_TIMEOUT) {
        tl_err("%s: no answer within %g s (--timeout)", what, cf->timeout);
        return MJ_EXIT_TIMEOUT;
    }

    if (a->resp.error != TL_HTTP_OK) {
        tl_err("%s: cannot reach %s: %s", what, req->url, a->resp.msg);
        return MJ_EXIT_NETWORK;
    }

    j = tl_json_parse(a->resp.body);
    desc = mjc_description(j);

    if (cf->json && j) {
        mjc_print_raw(a);
    }

    if (st == 401 || st == 403) {
        tl_err("%s: the key was refused (HTTP %ld: %s); check MJ_API_KEY "
               "or --key", what, st, desc);
        rc = MJ_EXIT_AUTH;

    } else if (st == 404) {
        tl_err("%s: not found (HTTP 404: %s)", what, desc);
        rc = MJ_EXIT_NOTFOUND;

    } else if (st == 429) {
        tl_err("%s: too many requests (HTTP 429: %s), still after %d "
               "retries", what, desc, cf->retries);
        rc = MJ_EXIT_LIMITED;

    } else {
        tl_err("%s: HTTP %ld: %s", what, st, desc);
        rc = MJ_EXIT_HTTP;
    }

    if (j) {
        yajl_tree_free(j);
    }

    return rc;
}


int
mjc_request(const mjc_conf_t *cf, const tl_req_t *req, int flags,
    const char *what, mjc_answer_t *a)
{
    int          n;
    char         buf[32];
    double       delay;
    const char  *why;

    a->json = NULL;

    for (n = 0; ; n++) {
        tl_http(req, &a->resp);

        why = mjc_retry_reason(&a->resp, flags, buf, sizeof(buf));
        if (why == NULL || n == cf->retries) {
            break;
        }

        delay = mjc_delay(cf, &a->resp, flags, n);
        tl_err("%s: %s, retry %d of %d in %g s", what, why, n + 1,
               cf->retries, delay);

        free(a->resp.body);
        tl_sleep(delay);
    }

    if (a->resp.error != TL_HTTP_OK
        || a->resp.status < 200 || a->resp.status > 299)
    {
        return mjc_failure(cf, req, a, what);
    }

    if (flags & MJC_RAW) {
        return MJ_EXIT_OK;
    }

    a->json = tl_json_parse(a->resp.body);

    if (a->json == NULL) {
        tl_err("%s: the answer is not JSON (HTTP %ld)", what,
               a->resp.status);
        return MJ_EXIT_HTTP;
    }

    return MJ_EXIT_OK;
}


int
mjc_call(const mjc_conf_t *cf, const char *method, const char *path,
    const char *body, size_t len, int flags, const char *what,
    mjc_answer_t *a)
{
    int       rc;
    char     *url;
    tl_req_t  req;

    url = tl_alloc(strlen(cf->base) + strlen(path) + 1);
    sprintf(url, "%s%s", cf->base, path);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.key = cf->key;
    req.body = body;
    req.body_len = len;
    req.timeout = cf->timeout;

    rc = mjc_request(cf, &req, flags, what, a);

    free(url);

    return rc;
}


/* an answer of the submit shape whose code is not a success */
int
mjc_code_error(const mjc_answer_t *a, const char *what)
{
    long long    code = -1;
    const char  *word;

    tl_jnum(a->json, "code", NULL, &code);
    word = tl_jstr(a->json, "properties", "bannedWord");

    if (code == 3) {
        tl_err("%s: not found (code 3: %s)", what,
               mjc_description(a->json));
        return MJ_EXIT_NOTFOUND;
    }

    tl_err("%s: refused (code %lld: %s%s%s%s)", what, code,
           mjc_description(a->json), word ? "; banned word \"" : "",
           word ? word : "", word ? "\"" : "");

    return MJ_EXIT_FAILED;
}
