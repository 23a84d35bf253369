/*
 * ngx_http_mj_endpoint.c: which endpoint of the contract a request names,
 * and what it means to the gateway.
 *
 * The tables below are the whole surface the gateway relays; everything
 * else under a gateway location is refused before the upstream is
 * contacted.  Each entry says what the later stages do with the endpoint:
 * whether its answer makes a task, where the tasks it names are, which
 * bucket it spends, and where its task action comes from.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


#define ngx_http_mj_ep(name, path, method, flags, source, action)            \
    { ngx_string(name), ngx_string(path), NGX_HTTP_##method, flags,          \
      NGX_HTTP_MJ_ACTION_##source, MJ_ACT_##action }

#define S  NGX_HTTP_MJ_EP_SUBMIT
#define T  NGX_HTTP_MJ_EP_PATH_TASK|NGX_HTTP_MJ_EP_POLL


static ngx_http_mj_endpoint_t  ngx_http_mj_fixed[] = {
    ngx_http_mj_ep("imagine", "submit/imagine", POST, S, FIXED, IMAGINE),
    ngx_http_mj_ep("action", "submit/action", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK, CUSTOM_ID, NONE),
    ngx_http_mj_ep("blend", "submit/blend", POST, S, FIXED, BLEND),
    ngx_http_mj_ep("describe", "submit/describe", POST, S, FIXED, DESCRIBE),
    ngx_http_mj_ep("modal", "submit/modal", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK|NGX_HTTP_MJ_EP_MODAL,
                   TASK, NONE),
    ngx_http_mj_ep("shorten", "submit/shorten", POST, S, FIXED, SHORTEN),
    ngx_http_mj_ep("change", "submit/change", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK, CHANGE, NONE),
    ngx_http_mj_ep("simple-change", "submit/simple-change", POST,
                   S|NGX_HTTP_MJ_EP_CONTENT, CONTENT, NONE),
    ngx_http_mj_ep("upload-discord-images", "submit/upload-discord-images",
                   POST, 0, FIXED, NONE),
    ngx_http_mj_ep("edits", "submit/edits", POST, S, FIXED, EDIT),
    ngx_http_mj_ep("video", "submit/video", POST, S, FIXED, VIDEO),
    ngx_http_mj_ep("swap", "insight-face/swap", POST, S, FIXED, SWAP_FACE),
    ngx_http_mj_ep("list-by-condition", "task/list-by-condition", POST,
                   NGX_HTTP_MJ_EP_LIST|NGX_HTTP_MJ_EP_POLL, FIXED, NONE),
    { ngx_null_string, ngx_null_string, 0, 0, 0, 0 }
};


/* task/{id}/<op> */
static ngx_http_mj_endpoint_t  ngx_http_mj_task_ops[] = {
    ngx_http_mj_ep("fetch", "fetch", GET, T|NGX_HTTP_MJ_EP_STATUS,
                   FIXED, NONE),
    ngx_http_mj_ep("image-seed", "image-seed", GET, T, FIXED, NONE),
    ngx_http_mj_ep("cancel", "cancel", POST, T, FIXED, NONE),
    { ngx_null_string, ngx_null_string, 0, 0, 0, 0 }
};

#undef S
#undef T


/* speed-mode prefixes: trueai and new-api serve the API under these too */
static ngx_str_t  ngx_http_mj_modes[] = {
    ngx_string("/mj-fast"),
    ngx_string("/mj-relax"),
    ngx_string("/mj-turbo"),
    ngx_null_string
};


/* what a customId does, by a part of its text */
typedef struct {
    char                      *part;
    ngx_uint_t                 action;
} ngx_http_mj_custom_t;


static ngx_http_mj_custom_t  ngx_http_mj_customs[] = {
    { "::upsample::", MJ_ACT_UPSCALE },
    { "::upsample_", MJ_ACT_UPSCALE },
    { "variation::", MJ_ACT_VARIATION },         /* low_ and high_ too */
    { "::reroll::", MJ_ACT_REROLL },
    { "::pan_", MJ_ACT_PAN },
    { "::Outpaint::", MJ_ACT_ZOOM },
    { "::CustomZoom::", MJ_ACT_ZOOM },
    { "::Inpaint::", MJ_ACT_INPAINT },
    { "::PicReader::", MJ_ACT_IMAGINE },         /* from a describe */
    { "::PromptAnalyzer::", MJ_ACT_IMAGINE },    /* from a shorten */
    { NULL, 0 }
};


static ngx_http_mj_endpoint_t *
ngx_http_mj_find(ngx_http_mj_endpoint_t *ep, u_char *p, size_t len)
{
    for ( /* void */ ; ep->name.len; ep++) {
        if (ep->path.len == len && ngx_strncmp(ep->path.data, p, len) == 0) {
            return ep;
        }
    }

    return NULL;
}


ngx_uint_t
ngx_http_mj_valid_task_id(const u_char *p, size_t len)
{
    /* A-Z a-z 0-9 _ -: a bit a byte, as nginx's own escape tables are */
    static uint32_t  allowed[] = {
        0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */

                    /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
        0x03ff2000, /* 0000 0011 1111 1111  0010 0000 0000 0000 */

                    /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
        0x87fffffe, /* 1000 0111 1111 1111  1111 1111 1111 1110 */

                    /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
        0x07fffffe, /* 0000 0111 1111 1111  1111 1111 1111 1110 */

        0, 0, 0, 0
    };

    size_t  i;

    if (len == 0 || len > NGX_HTTP_MJ_TASK_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(allowed[p[i] >> 5] & (1U << (p[i] & 0x1f)))) {
            return 0;
        }
    }

    return 1;
}


/* "/mj/...", after a speed-mode prefix if there is one; NULL if not */
static u_char *
ngx_http_mj_api_path(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t  *mode;

    p = r->uri.data;
    end = p + r->uri.len;

    for (mode = ngx_http_mj_modes; mode->len; mode++) {
        if ((size_t) (end - p) > mode->len
            && ngx_strncmp(p, mode->data, mode->len) == 0
            && p[mode->len] == '/')
        {
            p += mode->len;
            break;
        }
    }

    if (end - p < 4 || ngx_strncmp(p, "/mj/", 4) != 0) {
        return NULL;
    }

    return p + 4;
}


ngx_int_t
ngx_http_mj_classify(ngx_http_request_t *r, ngx_http_mj_endpoint_t **endp,
    ngx_str_t *task_id, char **error)
{
    char                    *allow;
    u_char                  *p, *end, *slash;
    ngx_http_mj_endpoint_t  *ep;

    end = r->uri.data + r->uri.len;
    p = ngx_http_mj_api_path(r);
    ep = p ? ngx_http_mj_find(ngx_http_mj_fixed, p, end - p) : NULL;

    if (ep == NULL && p && end - p > 5 && ngx_strncmp(p, "task/", 5) == 0) {
        p += 5;

        /* task/list and task/queue, without an id, show every user's */
        slash = ngx_strlchr(p, end, '/');

        ep = slash ? ngx_http_mj_find(ngx_http_mj_task_ops, slash + 1,
                                      end - slash - 1)
                   : NULL;

        if (ep && !ngx_http_mj_valid_task_id(p, slash - p)) {
            *error = NGX_HTTP_MJ_BAD_TASK_ID;
            return NGX_HTTP_BAD_REQUEST;
        }

        if (ep) {
            task_id->data = p;
            task_id->len = slash - p;
        }
    }

    if (ep == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mj: refused unknown endpoint \"%V\"", &r->uri);

        *error = "unknown endpoint";
        return NGX_HTTP_NOT_FOUND;
    }

    *endp = ep;

    /* a preflight carries no key: it is answered, whatever the method */
    if (r->method == ep->method || r->method == NGX_HTTP_OPTIONS) {
        return NGX_OK;
    }

    allow = (ep->method == NGX_HTTP_GET) ? "GET, OPTIONS" : "POST, OPTIONS";

    if (ngx_http_mj_add_header(r, "Allow", (u_char *) allow,
                               ngx_strlen(allow))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *error = "method not allowed for this endpoint";

    return NGX_HTTP_NOT_ALLOWED;
}


void
ngx_http_mj_content_split(ngx_str_t *content, ngx_str_t *id, ngx_str_t *rest)
{
    u_char  *p, *end;

    p = content->data;
    end = p + content->len;

    while (p < end && *p == ' ') {
        p++;
    }

    id->data = p;

    while (p < end && *p != ' ') {
        p++;
    }

    id->len = p - id->data;

    while (p < end && *p == ' ') {
        p++;
    }

    rest->data = p;
    rest->len = end - p;
}


static ngx_uint_t
ngx_http_mj_action_of_custom_id(ngx_str_t *custom_id)
{
    u_char                *end;
    ngx_http_mj_custom_t  *c;

    end = custom_id->data + custom_id->len;

    for (c = ngx_http_mj_customs; c->part; c++) {
        if (ngx_strlcasestrn(custom_id->data, end, (u_char *) c->part,
                             ngx_strlen(c->part) - 1)
            != NULL)
        {
            return c->action;
        }
    }

    return MJ_ACT_NONE;
}


ngx_uint_t
ngx_http_mj_action_of(ngx_http_mj_endpoint_t *ep, ngx_str_t *custom_id,
    ngx_str_t *change, ngx_str_t *content)
{
    ngx_str_t   id, rest;
    ngx_uint_t  a;

    switch (ep->source) {

    case NGX_HTTP_MJ_ACTION_CUSTOM_ID:
        return custom_id->len ? ngx_http_mj_action_of_custom_id(custom_id)
                              : MJ_ACT_NONE;

    case NGX_HTTP_MJ_ACTION_CHANGE:
        a = change->data ? mj_action_index((char *) change->data, change->len)
                         : MJ_ACT_NONE;

        /* of the actions, change knows these three, spelled exactly */
        return (a == MJ_ACT_UPSCALE || a == MJ_ACT_VARIATION
                || a == MJ_ACT_REROLL) ? a : MJ_ACT_NONE;

    case NGX_HTTP_MJ_ACTION_CONTENT:
        /* "<taskId> U2": the letter after the id */
        ngx_http_mj_content_split(content, &id, &rest);

        switch (rest.len ? rest.data[0] : '\0') {
        case 'U': case 'u':
            return MJ_ACT_UPSCALE;
        case 'V': case 'v':
            return MJ_ACT_VARIATION;
        case 'R': case 'r':
            return MJ_ACT_REROLL;
        }

        return MJ_ACT_NONE;

    default: /* FIXED; TASK is the store's to say */
        return ep->action;
    }
}
