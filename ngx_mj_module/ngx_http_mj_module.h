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
#include "ngx_http_mj_zone.h"


#ifndef NGX_HTTP_MJ_STATE_DIR
#define NGX_HTTP_MJ_STATE_DIR  "/var/lib/nginx/mj"
#endif


#define NGX_HTTP_MJ_TASK_ID_MAX  64
#define NGX_HTTP_MJ_BAD_TASK_ID                                              \
    "invalid task id: 1 to 64 characters of A-Z, a-z, 0-9, \"_\" and \"-\""

/* contract codes (`code` in every JSON answer) */
#define NGX_HTTP_MJ_CODE_NOT_FOUND   3
#define NGX_HTTP_MJ_CODE_INVALID     4
#define NGX_HTTP_MJ_CODE_FAILURE     9
#define NGX_HTTP_MJ_CODE_LIMIT       23   /* "rejected, try again later" */


/* the handler's verdict for list-by-condition with none of the caller's ids */
#define NGX_HTTP_MJ_ANSWER_EMPTY     NGX_HTTP_OK


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
    ngx_str_t                  secret;     /* within value */
    ngx_str_t                  upstream;   /* $mj_upstream */
    uint32_t                   ident;      /* stable: from the name */
} ngx_http_mj_ukey_t;


typedef struct {
    ngx_str_t                  name;
    u_char                     digest[MJ_DIGEST_LEN];
    ngx_http_mj_ukey_t        *key;
    uint64_t                   owner;      /* stable: from the name */
    mj_limit_t                 limit[2];   /* submit, poll; from the file */
    long                       tasks;
    long                       quota;
    unsigned                   actions;    /* 0: every action */
    unsigned                   disabled:1;
} ngx_http_mj_user_t;


typedef struct {
    ngx_str_t                  users_file;
    ngx_str_t                  keys_file;
    ngx_http_mj_user_t       **table;      /* open addressing by digest */
    ngx_uint_t                 mask;
    ngx_uint_t                 nusers;
    ngx_array_t                keys;       /* ngx_http_mj_ukey_t */
    ngx_array_t                zones;      /* ngx_http_mj_zone_t * */
} ngx_http_mj_main_conf_t;


/* a leaky bucket's settings: requests per 1000 s, burst */
typedef struct {
    ngx_uint_t                 rate;       /* 0: no limit */
    ngx_uint_t                 burst;
} ngx_http_mj_rate_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_shm_zone_t            *shm_zone;
    ngx_http_mj_rate_t         limit[2];   /* submit, poll */
    ngx_int_t                  tasks;      /* unfinished cap; -1: none */
    time_t                     task_age;
    ngx_int_t                  quota;      /* units a UTC day; -1: none */
    ngx_uint_t                 cost[MJ_NACTIONS];
    ngx_uint_t                 limit_status;
    ngx_http_mj_rate_t         auth;       /* failed key checks per address */
    ngx_uint_t                 auth_log_level;
    ngx_shm_zone_t            *status_zone; /* mj_status */
    ngx_array_t               *hooks;      /* allowed notifyHook prefixes */
    ngx_flag_t                 set_cookie; /* pass the upstream's */
    ngx_array_t               *cors;       /* origins allowed; NULL: off */
    ngx_flag_t                 account_filter;
} ngx_http_mj_loc_conf_t;


/* what the gateway reads of an upstream answer: ngx_http_mj_json.c */
typedef struct {
    ngx_int_t                  code;       /* -1: none */
    ngx_str_t                  result;
    ngx_str_t                  id;
    ngx_str_t                  status;
    size_t                     start;      /* span, in an array */
    size_t                     end;
} ngx_http_mj_obj_t;


typedef struct {
    void                      *h;          /* yajl_handle */
    ngx_pool_t                *pool;
    ngx_uint_t                 depth;
    ngx_uint_t                 field;
    size_t                     offset;     /* of the chunk being parsed */
    ngx_http_mj_obj_t          cur;
    ngx_array_t               *objs;       /* of an array */
    unsigned                   array:1;
    unsigned                   stop:1;     /* at "status" */
    unsigned                   done:1;
    unsigned                   bad:1;
} ngx_http_mj_scan_t;


typedef struct {
    ngx_http_request_t        *request;
    ngx_http_mj_user_t        *user;
    ngx_http_mj_endpoint_t    *endpoint;
    ngx_http_mj_zone_t        *zone;
    ngx_http_mj_ukey_t        *ukey;       /* the key relayed with */
    ngx_str_t                  task_id;
    ngx_http_mj_tid_t          tid;        /* task_id as the zone keys it */

    /* the response as it is read: see ngx_http_mj_filter.c */
    ngx_buf_t                 *held;
    size_t                     held_size;
    ngx_http_mj_scan_t        *scan;
    void                     (*upstream_finalize)(ngx_http_request_t *r,
                                                  ngx_int_t rc);

    ngx_int_t                  status;     /* the handler's verdict */

    ngx_uint_t                 action;     /* MJ_ACTIONS index + 1; 0: none */
    ngx_uint_t                 charged;    /* quota units reserved */
    ngx_uint_t                 pending;    /* see ngx_http_mj_pending.c */
    uint32_t                   charge_day;

    /* an error the gateway makes: rendered as JSON by the filter */
    ngx_uint_t                 err_code;
    ngx_str_t                  err_desc;

    /* the filter replaces the response body with "json" */
    ngx_str_t                  json;

    unsigned                   checked:1;
    unsigned                   reading:1;
    unsigned                   reserved:1;
    unsigned                   hold:1;
    unsigned                   replace:1;
    unsigned                   replaced:1;
    unsigned                   inflight:1;
} ngx_http_mj_ctx_t;


extern ngx_module_t  ngx_http_mj_module;


/* ngx_http_mj_ustat.c */
void ngx_http_mj_ustat_reclaim(ngx_http_mj_zone_t *z,
    ngx_http_mj_main_conf_t *mmcf, ngx_log_t *log);


/* ngx_http_mj_endpoint.c */
ngx_int_t ngx_http_mj_classify(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx);
ngx_uint_t ngx_http_mj_valid_task_id(u_char *p, size_t len);

/* ngx_http_mj_users.c */
char *ngx_http_mj_load_users(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf);
/* a file read whole at config time, into cf->temp_pool */
ngx_int_t ngx_http_mj_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);
ngx_int_t ngx_http_mj_authenticate(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);
ngx_int_t ngx_http_mj_swap_credentials(ngx_http_request_t *r,
    ngx_http_mj_ukey_t *key);

ngx_http_mj_ukey_t *ngx_http_mj_find_ukey(ngx_http_request_t *r,
    uint32_t ident);

/* ngx_http_mj_body.c */
ngx_int_t ngx_http_mj_check_task(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, ngx_str_t *id);
ngx_int_t ngx_http_mj_read_body(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/* ngx_http_mj_limit.c */
#define NGX_HTTP_MJ_LIMIT_ALL   0
#define NGX_HTTP_MJ_LIMIT_RATE  1   /* refused anyway: the rate only */
#define NGX_HTTP_MJ_LIMIT_PEEK  2   /* before the body: a full bucket only */

ngx_int_t ngx_http_mj_limits(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_uint_t mode);
void ngx_http_mj_settle(ngx_http_mj_ctx_t *ctx, ngx_uint_t refund);
ngx_int_t ngx_http_mj_add_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);
ngx_int_t ngx_http_mj_auth_blocked(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);
void ngx_http_mj_auth_failed(ngx_http_request_t *r);
ngx_uint_t ngx_http_mj_action_of(ngx_str_t *endpoint, ngx_str_t *custom_id,
    ngx_str_t *change, ngx_str_t *content);
char *ngx_http_mj_rate_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_mj_tasks_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_mj_cost_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_mj_status_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_mj_hash.c */
ngx_int_t ngx_http_mj_sha256(const u_char *prefix, size_t plen,
    const u_char *data, size_t len, u_char *out);
void ngx_http_mj_hash_done(void);

/* ngx_http_mj_json.c */
ngx_int_t ngx_http_mj_error_json(ngx_http_request_t *r, ngx_str_t *out,
    ngx_uint_t code, ngx_str_t *desc);
void ngx_http_mj_status_error(ngx_uint_t status, ngx_uint_t *code,
    ngx_str_t *desc);
ngx_int_t ngx_http_mj_fail(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t code, char *desc);

void *ngx_http_mj_yajl_alloc_funcs(ngx_http_request_t *r);
ngx_http_mj_scan_t *ngx_http_mj_scan_create(ngx_http_request_t *r,
    ngx_uint_t array, ngx_uint_t stop);
ngx_int_t ngx_http_mj_scan(ngx_http_mj_scan_t *s, u_char *p, size_t len,
    ngx_uint_t last);

/* ngx_http_mj_filter.c */
ngx_int_t ngx_http_mj_filter_init(ngx_conf_t *cf);

/* ngx_http_mj_cors.c */
char *ngx_http_mj_cors_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_mj_preflight(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);
ngx_int_t ngx_http_mj_cors_headers(ngx_http_request_t *r);
void ngx_http_mj_cors_drop_upstream(ngx_http_request_t *r);

#endif /* NGX_HTTP_MJ_MODULE_H */
