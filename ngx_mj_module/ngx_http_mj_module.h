/*
 * ngx_http_mj_module.h: the configuration and the per-request context of
 * ngx_mj, and the headers of its concerns, in the order they depend on
 * each other.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 *
 * A request's path (docs/hacking.md): the PRECONTENT handler
 * (ngx_http_mj_module.c) finds the user (ngx_http_mj_users.c) and the
 * endpoint (ngx_http_mj_endpoint.c), reads the body
 * (ngx_http_mj_body.c), has the request admitted (ngx_http_mj_submit.c,
 * on the store: ngx_http_mj_zone.c) and swaps the keys; proxy_pass
 * relays; the filters (ngx_http_mj_filter.c) read the answer, settle the
 * submit and turn every error into the contract's JSON
 * (ngx_http_mj_json.c).
 */

#ifndef NGX_HTTP_MJ_MODULE_H
#define NGX_HTTP_MJ_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mj_users_parse.h"
#include "mj_body_parse.h"
#include "mj_answer_parse.h"


#ifndef NGX_HTTP_MJ_STATE_DIR
#define NGX_HTTP_MJ_STATE_DIR  "/var/lib/nginx/mj"
#endif


/* the contract's codes: the gateway's answers ... */
#define NGX_HTTP_MJ_CODE_NOT_FOUND   3
#define NGX_HTTP_MJ_CODE_INVALID     4
#define NGX_HTTP_MJ_CODE_FAILURE     9
#define NGX_HTTP_MJ_CODE_LIMIT       23   /* "rejected, try again later" */

/* ... and the upstream's answers to a submit that make a task */
#define NGX_HTTP_MJ_UP_SUBMITTED     1
#define NGX_HTTP_MJ_UP_MODAL         21   /* a MODAL task, to confirm */
#define NGX_HTTP_MJ_UP_QUEUED        22

#define ngx_http_mj_made_task(code)                                          \
    ((code) == NGX_HTTP_MJ_UP_SUBMITTED || (code) == NGX_HTTP_MJ_UP_MODAL    \
     || (code) == NGX_HTTP_MJ_UP_QUEUED)


typedef struct ngx_http_mj_ctx_s  ngx_http_mj_ctx_t;


/* an upstream key: ngx_http_mj_users.c */
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


/* a user: ngx_http_mj_users.c */
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


#include "ngx_http_mj_endpoint.h"
#include "ngx_http_mj_limit.h"
#include "ngx_http_mj_store.h"
#include "ngx_http_mj_zone.h"


typedef struct {
    ngx_str_t                  users_file;
    ngx_str_t                  keys_file;
    ngx_http_mj_user_t       **table;      /* open addressing by digest */
    ngx_uint_t                 mask;
    ngx_uint_t                 nusers;
    struct ngx_http_mj_cache_s *verified;  /* keys seen: ngx_http_mj_cache.c */
    ngx_array_t                keys;       /* ngx_http_mj_ukey_t */
    ngx_array_t                zones;      /* ngx_http_mj_zone_t * */
} ngx_http_mj_main_conf_t;


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
    ngx_flag_t                 account_filter;
    ngx_flag_t                 set_cookie; /* pass the upstream's */
    ngx_array_t               *cors;       /* origins allowed; NULL: off */
} ngx_http_mj_loc_conf_t;


/* where the handler is in a request's path: see ngx_http_mj_module.c */
enum {
    NGX_HTTP_MJ_STEP_START = 0,
    NGX_HTTP_MJ_STEP_BODY,                 /* the body is being read */
    NGX_HTTP_MJ_STEP_ADMIT,                /* the store is deciding */
    NGX_HTTP_MJ_STEP_DONE                  /* relayed, or answered */
};


struct ngx_http_mj_ctx_s {
    ngx_http_request_t        *request;
    ngx_uint_t                 step;
    ngx_int_t                  status;     /* a step's verdict */
    ngx_http_mj_user_t        *user;
    ngx_http_mj_endpoint_t    *endpoint;
    ngx_http_mj_zone_t        *zone;
    ngx_http_mj_ukey_t        *ukey;       /* the key relayed with */
    ngx_str_t                  named;      /* the task id it names */
    ngx_str_t                  task_id;    /* $mj_task_id: see submit.c */

    /* the body as read (and the tasks it names) */
    mj_body_t                 *body;

    /* the request's dealings with the store: ngx_http_mj_submit.c */
    ngx_http_mj_admit_t        admit;

    /* the answer as it is read: ngx_http_mj_filter.c */
    ngx_buf_t                 *held;
    size_t                     held_size;
    void                     (*upstream_finalize)(ngx_http_request_t *r,
                                                  ngx_int_t rc);

    /* an error the gateway makes: rendered as JSON by the filter */
    ngx_uint_t                 err_code;
    ngx_str_t                  err_desc;

    /* the filter replaces the response body with "json" */
    ngx_str_t                  json;

    unsigned                   body_in_file:1;
    unsigned                   hold:1;
    unsigned                   replace:1;
    unsigned                   replaced:1;
};


extern ngx_module_t  ngx_http_mj_module;


/* a plain-C reader's span as an nginx string */
#define ngx_http_mj_span_str(dst, src)                                       \
    ((dst)->data = (u_char *) (src)->data,                                   \
     (dst)->len = (src)->data ? (src)->len : 0)


#include "ngx_http_mj_json.h"
#include "ngx_http_mj_headers.h"
#include "ngx_http_mj_users.h"
#include "ngx_http_mj_body.h"
#include "ngx_http_mj_submit.h"
#include "ngx_http_mj_filter.h"
#include "ngx_http_mj_cors.h"
#include "ngx_http_mj_status.h"
#include "ngx_http_mj_hash.h"
#include "ngx_http_mj_cache.h"

#endif /* NGX_HTTP_MJ_MODULE_H */
