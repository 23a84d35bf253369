/*
 * ngx_http_mj_endpoint.c: which endpoint of the contract a request names.
 *
 * The table below is the whole surface the gateway relays; everything else
 * under a gateway location is refused before the upstream is contacted.
 */

#include "ngx_http_mj_module.h"


#define ngx_http_mj_ep(name, path, method, flags)                            \
    { ngx_string(name), ngx_string(path), NGX_HTTP_##method, flags }

#define S  NGX_HTTP_MJ_EP_SUBMIT


static ngx_http_mj_endpoint_t  ngx_http_mj_fixed[] = {
    ngx_http_mj_ep("imagine", "submit/imagine", POST, S),
    ngx_http_mj_ep("action", "submit/action", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK),
    ngx_http_mj_ep("blend", "submit/blend", POST, S),
    ngx_http_mj_ep("describe", "submit/describe", POST, S),
    ngx_http_mj_ep("modal", "submit/modal", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK),
    ngx_http_mj_ep("shorten", "submit/shorten", POST, S),
    ngx_http_mj_ep("change", "submit/change", POST,
                   S|NGX_HTTP_MJ_EP_BODY_TASK),
    ngx_http_mj_ep("simple-change", "submit/simple-change", POST,
                   S|NGX_HTTP_MJ_EP_CONTENT),
    ngx_http_mj_ep("upload-discord-images", "submit/upload-discord-images",
                   POST, 0),
    ngx_http_mj_ep("edits", "submit/edits", POST, S),
    ngx_http_mj_ep("video", "submit/video", POST, S),
    ngx_http_mj_ep("swap", "insight-face/swap", POST, S),
    ngx_http_mj_ep("list-by-condition", "task/list-by-condition", POST,
                   NGX_HTTP_MJ_EP_LIST|NGX_HTTP_MJ_EP_POLL),
    { ngx_null_string, ngx_null_string, 0, 0 }
};


/* task/{id}/<op> */
static ngx_http_mj_endpoint_t  ngx_http_mj_task_ops[] = {
    ngx_http_mj_ep("fetch", "fetch", GET,
                   NGX_HTTP_MJ_EP_PATH_TASK|NGX_HTTP_MJ_EP_POLL),
    ngx_http_mj_ep("image-seed", "image-seed", GET,
                   NGX_HTTP_MJ_EP_PATH_TASK|NGX_HTTP_MJ_EP_POLL),
    ngx_http_mj_ep("cancel", "cancel", POST,
                   NGX_HTTP_MJ_EP_PATH_TASK|NGX_HTTP_MJ_EP_POLL),
    { ngx_null_string, ngx_null_string, 0, 0 }
};

#undef S


/* speed-mode prefixes: trueai and new-api serve the API under these too */
static ngx_str_t  ngx_http_mj_modes[] = {
    ngx_string("/mj-fast"),
    ngx_string("/mj-relax"),
    ngx_string("/mj-turbo"),
    ngx_null_string
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
ngx_http_mj_valid_task_id(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_MJ_TASK_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
            || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


ngx_int_t
ngx_http_mj_classify(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    char                    *allow;
    u_char                  *p, *end, *slash;
    ngx_str_t               *mode;
    ngx_http_mj_endpoint_t  *ep;

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
        goto unknown;
    }

    p += 4;

    ep = ngx_http_mj_find(ngx_http_mj_fixed, p, end - p);

    if (ep == NULL && end - p > 5 && ngx_strncmp(p, "task/", 5) == 0) {
        p += 5;

        slash = ngx_strlchr(p, end, '/');
        if (slash == NULL) {
            /* task/list and task/queue show every user's tasks */
            goto unknown;
        }

        ep = ngx_http_mj_find(ngx_http_mj_task_ops, slash + 1,
                              end - slash - 1);
        if (ep == NULL) {
            goto unknown;
        }

        if (!ngx_http_mj_valid_task_id(p, slash - p)) {
            return ngx_http_mj_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_MJ_CODE_INVALID,
                                    NGX_HTTP_MJ_BAD_TASK_ID);
        }

        ctx->task_id.data = p;
        ctx->task_id.len = slash - p;
    }

    if (ep == NULL) {
        goto unknown;
    }

    ctx->endpoint = ep;

    if (r->method != ep->method && r->method != NGX_HTTP_OPTIONS) {
        allow = (ep->method == NGX_HTTP_GET) ? "GET, OPTIONS"
                                             : "POST, OPTIONS";

        if (ngx_http_mj_add_header(r, "Allow", (u_char *) allow,
                                   ngx_strlen(allow))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mj_fail(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                NGX_HTTP_MJ_CODE_INVALID,
                                "method not allowed for this endpoint");
    }

    return NGX_OK;

unknown:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mj: refused unknown endpoint \"%V\"", &r->uri);

    return ngx_http_mj_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                            NGX_HTTP_MJ_CODE_NOT_FOUND, "unknown endpoint");
}
