/*
 * ngx_http_mj_headers.c: the header lists the gateway reads and changes,
 * the small answers it makes itself, and the URLs and times its
 * directives take.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


ngx_int_t
ngx_http_mj_add_header(ngx_http_request_t *r, char *name, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/* the first header of this name (case-blind), and how many there are */
ngx_table_elt_t *
ngx_http_mj_find_header(ngx_list_t *headers, char *name, ngx_uint_t *count)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(name);
    found = NULL;
    *count = 0;

    for (part = &headers->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
            {
                if (found == NULL) {
                    found = &h[i];
                }

                (*count)++;
            }
        }
    }

    return found;
}


/* the headers of this name, or (prefix) whose names begin so, go no further */
void
ngx_http_mj_drop_headers(ngx_list_t *headers, char *name, ngx_uint_t prefix)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    for (part = &headers->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if ((h[i].key.len == len || (prefix && h[i].key.len > len))
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
            {
                h[i].hash = 0;
            }
        }
    }
}


/* the last buffer of an answer, holding p[0..len-1], in "out" */
ngx_int_t
ngx_http_mj_last_buf(ngx_http_request_t *r, u_char *p, size_t len,
    ngx_chain_t *out)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out->buf = b;
    out->next = NULL;

    return NGX_OK;
}


/* a small answer of the gateway's own: the header, the body in one buffer */
ngx_int_t
ngx_http_mj_send_buffer(ngx_http_request_t *r, ngx_uint_t status,
    char *type, u_char *p, size_t len)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (ngx_http_mj_last_buf(r, p, len, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_output_filter(r, &out);
}


/*
 * A directive's list of URLs: each "http(s)://host" and then, with "path",
 * a "/" and what follows (a prefix that pins the host), without it nothing
 * (an origin).
 */
char *
ngx_http_mj_conf_urls(ngx_conf_t *cf, ngx_array_t **list, ngx_uint_t path)
{
    u_char      *host, *end;
    ngx_str_t   *value, *u;
    ngx_uint_t   i;

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        end = value[i].data + value[i].len;
        host = NULL;

        if (ngx_strncmp(value[i].data, "https://", 8) == 0) {
            host = value[i].data + 8;

        } else if (ngx_strncmp(value[i].data, "http://", 7) == 0) {
            host = value[i].data + 7;
        }

        if (host == NULL || host == end || *host == '/'
            || (ngx_strlchr(host, end, '/') != NULL) != (path != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               path ? "invalid URL prefix \"%V\": a URL "
                                      "with a path, like \"https://host/\""
                                    : "invalid origin \"%V\": \"*\" alone, "
                                      "or origins like "
                                      "\"https://app.example.com\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        u = ngx_array_push(*list);
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        *u = value[i];
    }

    return NGX_CONF_OK;
}


/* "key=TIME": the time after the "key=" of "len" bytes, or NGX_ERROR */
ngx_int_t
ngx_http_mj_conf_time(ngx_str_t *value, size_t len, ngx_uint_t sec)
{
    ngx_str_t  s;

    s.data = value->data + len;
    s.len = value->len - len;

    return ngx_parse_time(&s, sec);
}
