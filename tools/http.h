/*
 * http.h: one blocking HTTP request with libcurl, shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef TL_HTTP_H
#define TL_HTTP_H

#include <stddef.h>


#define TL_HTTP_OK       0
#define TL_HTTP_NET      1     /* refused, reset, DNS, TLS, ... */
#define TL_HTTP_TIMEOUT  2


typedef struct {
    const char  *method;       /* "GET", "POST" */
    const char  *url;
    const char  *key;          /* sent as "Authorization: Bearer"; or NULL */
    const char  *body;         /* sent as application/json; or NULL */
    size_t       body_len;
    double       timeout;      /* seconds for the whole request; 0: none */
    int          follow;       /* follow redirects (image downloads) */
} tl_req_t;


typedef struct {
    int          error;        /* TL_HTTP_OK, TL_HTTP_NET, TL_HTTP_TIMEOUT */
    long         status;
    char        *body;         /* NUL-terminated; free() it */
    size_t       len;
    double       retry_after;  /* seconds; -1: no Retry-After */
    char         msg[256];     /* what went wrong, for TL_HTTP_NET */
} tl_resp_t;


void tl_http_init(void);

/* fills resp (free resp->body afterwards); returns resp->error */
int tl_http(const tl_req_t *req, tl_resp_t *resp);

#endif /* TL_HTTP_H */
