/*
 * ngx_http_mj_module.h: types shared by the files of ngx_mj.
 *
 * A request's path: the PRECONTENT handler (ngx_http_mj_module.c) finds
 * the endpoint (ngx_http_mj_endpoint.c) and the user (ngx_http_mj_users.c)
 * and swaps the keys; proxy_pass relays; the filters (ngx_http_mj_filter.c)
 * turn every error in a gateway location into the contract's JSON shape
 * (ngx_http_mj_json.c).
 */

#ifndef NGX_HTTP_MJ_MODULE_H
#define NGX_HTTP_MJ_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mj_users_parse.h"


#define NGX_HTTP_MJ_TASK_ID_MAX  64

/* contract codes (`code` in every JSON answer) */
#define NGX_HTTP_MJ_CODE_NOT_FOUND   3
#define NGX_HTTP_MJ_CODE_INVALID     4
#define NGX_HTTP_MJ_CODE_FAILURE     9


/* what an endpoint carries and does, for the later stages */
#define NGX_HTTP_MJ_EP_SUBMIT     0x01   /* answer creates a task */
#define NGX_HTTP_MJ_EP_PATH_TASK  0x02   /* /mj/task/{id}/... */
#define NGX_HTTP_MJ_EP_BODY_TASK  0x04   /* taskId in the body */
#define NGX_HTTP_MJ_EP_CONTENT    0x08   /* "<taskId> U2" in content */
#define NGX_HTTP_MJ_EP_LIST       0x10   /* ids in the body */
#define NGX_HTTP_MJ_EP_POLL       0x20   /* cheap read: fetch, list, seed */


typedef struct {
    ngx_str_t                  name;       /* $mj_action */
    ngx_str_t                  path;       /* after "/mj/" */
    ngx_uint_t                 method;     /* NGX_HTTP_GET or NGX_HTTP_POST */
    ngx_uint_t                 flags;
} ngx_http_mj_endpoint_t;


typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  header;     /* "Authorization" or ... */
    ngx_str_t                  header_lc;
    ngx_uint_t                 header_hash;
    ngx_str_t                  value;      /* "Bearer <secret>" or secret */
    ngx_str_t                  upstream;   /* $mj_upstream */
} ngx_http_mj_ukey_t;


typedef struct {
    ngx_str_t                  name;
    u_char                     digest[MJ_DIGEST_LEN];
    ngx_http_mj_ukey_t        *key;
    unsigned                   disabled:1;
} ngx_http_mj_user_t;


typedef struct {
    ngx_str_t                  users_file;
    ngx_str_t                  keys_file;
    ngx_http_mj_user_t       **table;      /* open addressing by digest */
    ngx_uint_t                 mask;
    ngx_uint_t                 nusers;
} ngx_http_mj_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
} ngx_http_mj_loc_conf_t;


typedef struct {
    ngx_http_mj_user_t        *user;
    ngx_http_mj_endpoint_t    *endpoint;
    ngx_str_t                  task_id;

    /* an error the gateway makes: rendered as JSON by the filter */
    ngx_uint_t                 err_code;
    ngx_str_t                  err_desc;

    /* the filter replaces the response body with "json" */
    ngx_str_t                  json;

    unsigned                   checked:1;
    unsigned                   replace:1;
    unsigned                   replaced:1;
} ngx_http_mj_ctx_t;


extern ngx_module_t  ngx_http_mj_module;


/* ngx_http_mj_endpoint.c */
ngx_int_t ngx_http_mj_classify(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx);

/* ngx_http_mj_users.c */
char *ngx_http_mj_load_users(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf);
ngx_int_t ngx_http_mj_authenticate(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);
ngx_int_t ngx_http_mj_swap_credentials(ngx_http_request_t *r,
    ngx_http_mj_ukey_t *key);

/* ngx_http_mj_json.c */
ngx_int_t ngx_http_mj_error_json(ngx_http_request_t *r, ngx_str_t *out,
    ngx_uint_t code, ngx_str_t *desc);
void ngx_http_mj_status_error(ngx_uint_t status, ngx_uint_t *code,
    ngx_str_t *desc);
ngx_int_t ngx_http_mj_fail(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t code, char *desc);

/* ngx_http_mj_filter.c */
ngx_int_t ngx_http_mj_filter_init(ngx_conf_t *cf);

#endif /* NGX_HTTP_MJ_MODULE_H */
