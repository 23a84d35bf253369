/*
 * http.c: one blocking HTTP request with libcurl, shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "http.h"
#include "util.h"


void
tl_http_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        tl_err("cannot initialize libcurl");
        exit(70);
    }
}


static size_t
tl_http_body(char *p, size_t size, size_t n, void *data)
{
    tl_resp_t  *r = data;
    char       *b;

    n *= size;

    b = realloc(r->body, r->len + n + 1);
    if (b == NULL) {
        return 0;
    }

    memcpy(b + r->len, p, n);
    r->body = b;
    r->len += n;
    r->body[r->len] = '\0';

    return n;
}


/* Retry-After: delta-seconds or an HTTP date */
static size_t
tl_http_header(char *p, size_t size, size_t n, void *data)
{
    tl_resp_t  *r = data;
    char        v[128];
    size_t      len = size * n, vlen;
    time_t      t;

    if (len < 12 || strncasecmp(p, "Retry-After:", 12) != 0) {
        return len;
    }

    vlen = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
    memcpy(v, p + 12, vlen);
    v[vlen] = '\0';
    v[strcspn(v, "\r\n")] = '\0';

    if (v[strspn(v, " \t")] >= '0' && v[strspn(v, " \t")] <= '9') {
        r->retry_after = strtod(v, NULL);
        return len;
    }

    t = curl_getdate(v, NULL);
    if (t >= 0) {
        r->retry_after = t > time(NULL) ? (double) (t - time(NULL)) : 0;
    }

    return len;
}


int
tl_http(const tl_req_t *req, tl_resp_t *resp)
{
    CURL               *c;
    CURLcode            rc;
    char                err[CURL_ERROR_SIZE], *auth;
    struct curl_slist  *h;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    resp->body = tl_strdup("");

    c = curl_easy_init();
    if (c == NULL) {
        resp->error = TL_HTTP_NET;
        snprintf(resp->msg, sizeof(resp->msg), "cannot start libcurl");
        return resp->error;
    }

    h = NULL;
    auth = NULL;
    err[0] = '\0';

    if (req->key) {
        auth = tl_alloc(strlen(req->key) + 32);
        sprintf(auth, "Authorization: Bearer %s", req->key);
        h = curl_slist_append(h, auth);
    }

    if (req->body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) req->body_len);
    }

    h = curl_slist_append(h, "Expect:");

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ngx_mj-tools/1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tl_http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tl_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req->follow ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);

    if (req->timeout > 0) {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) (req->timeout * 1000));
    }

    rc = curl_easy_perform(c);

    if (rc == CURLE_OPERATION_TIMEDOUT) {
        resp->error = TL_HTTP_TIMEOUT;

    } else if (rc != CURLE_OK) {
        resp->error = TL_HTTP_NET;
    }

    if (rc != CURLE_OK) {
        snprintf(resp->msg, sizeof(resp->msg), "%s",
                 err[0] ? err : curl_easy_strerror(rc));
    }

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);

    curl_slist_free_all(h);
    curl_easy_cleanup(c);

    if (auth) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }

    return resp->error;
}
