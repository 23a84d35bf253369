/*
 * ngx_http_mj_headers.h: the header lists the gateway reads and changes,
 * and the URLs its directives take (ngx_http_mj_headers.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_HEADERS_H
#define NGX_HTTP_MJ_HEADERS_H


ngx_int_t ngx_http_mj_add_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);

/* the first header of this name (case-blind), and how many there are */
ngx_table_elt_t *ngx_http_mj_find_header(ngx_list_t *headers, char *name,
    ngx_uint_t *count);

/* the headers of this name, or (prefix) whose names begin so, go no further */
void ngx_http_mj_drop_headers(ngx_list_t *headers, char *name,
    ngx_uint_t prefix);

/* a directive's URLs: prefixes with a path, or origins without one */
char *ngx_http_mj_conf_urls(ngx_conf_t *cf, ngx_array_t **list,
    ngx_uint_t path);

/* "key=TIME": the time after the "key=" of "len" bytes, or NGX_ERROR */
ngx_int_t ngx_http_mj_conf_time(ngx_str_t *value, size_t len, ngx_uint_t sec);

/* the last buffer of an answer, holding p[0..len-1], in "out" */
ngx_int_t ngx_http_mj_last_buf(ngx_http_request_t *r, u_char *p, size_t len,
    ngx_chain_t *out);

/* a small answer of the gateway's own, header and body */
ngx_int_t ngx_http_mj_send_buffer(ngx_http_request_t *r, ngx_uint_t status,
    char *type, u_char *p, size_t len);

#endif /* NGX_HTTP_MJ_HEADERS_H */
