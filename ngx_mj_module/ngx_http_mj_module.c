/*
 * ngx_http_mj_module.c: directives, configuration, variables and the
 * request handler of ngx_mj, a multi-tenant Midjourney API gateway.
 *
 * The handler runs in the PRECONTENT phase, which always runs for a main
 * request: an operator's "satisfy any" with "allow" or "auth_basic" ends
 * the ACCESS phase early and so cannot skip the gateway.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


static ngx_int_t ngx_http_mj_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mj_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mj_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_mj_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mj_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mj_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mj_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mj_file_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mj_gateway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mj_allow_notify_hook(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_mj_init(ngx_conf_t *cf);
static void ngx_http_mj_exit_process(ngx_cycle_t *cycle);
static void ngx_http_mj_exit_master(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_mj_limit_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


static ngx_conf_enum_t  ngx_http_mj_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_mj_commands[] = {

    { ngx_string("mj_users"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mj_file_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mj_main_conf_t, users_file),
      NULL },

    { ngx_string("mj_upstream_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mj_file_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mj_main_conf_t, keys_file),
      NULL },

    { ngx_string("mj_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mj_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_gateway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mj_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_allow_notify_hook"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_allow_notify_hook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_limit_submit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_rate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, limit[0]),
      NULL },

    { ngx_string("mj_limit_poll"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_rate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, limit[1]),
      NULL },

    { ngx_string("mj_limit_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_rate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, auth),
      NULL },

    { ngx_string("mj_limit_tasks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_mj_limit_tasks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_quota"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, quota),
      NULL },

    { ngx_string("mj_quota_cost"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_quota_cost,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, limit_status),
      &ngx_http_mj_limit_status_bounds },

    { ngx_string("mj_auth_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, auth_log_level),
      &ngx_http_mj_log_levels },

    { ngx_string("mj_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mj_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mj_pass_set_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, set_cookie),
      NULL },

    { ngx_string("mj_cors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_cors,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, cors),
      NULL },

    { ngx_string("mj_allow_account_filter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, account_filter),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mj_module_ctx = {
    ngx_http_mj_add_variables,             /* preconfiguration */
    ngx_http_mj_init,                      /* postconfiguration */

    ngx_http_mj_create_main_conf,          /* create main configuration */
    ngx_http_mj_init_main_conf,            /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mj_create_loc_conf,           /* create location configuration */
    ngx_http_mj_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_http_mj_module = {
    NGX_MODULE_V1,
    &ngx_http_mj_module_ctx,               /* module context */
    ngx_http_mj_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mj_zone_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mj_exit_process,              /* exit process */
    ngx_http_mj_exit_master,               /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_MJ_VAR_USER = 0,
    NGX_HTTP_MJ_VAR_ACTION,
    NGX_HTTP_MJ_VAR_TASK_ID,
    NGX_HTTP_MJ_VAR_UPSTREAM,
    NGX_HTTP_MJ_VAR_UPSTREAM_KEY
};


static ngx_http_variable_t  ngx_http_mj_vars[] = {

    { ngx_string("mj_user"), NULL, ngx_http_mj_variable,
      NGX_HTTP_MJ_VAR_USER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mj_action"), NULL, ngx_http_mj_variable,
      NGX_HTTP_MJ_VAR_ACTION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mj_task_id"), NULL, ngx_http_mj_variable,
      NGX_HTTP_MJ_VAR_TASK_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mj_upstream"), NULL, ngx_http_mj_variable,
      NGX_HTTP_MJ_VAR_UPSTREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mj_upstream_key"), NULL, ngx_http_mj_variable,
      NGX_HTTP_MJ_VAR_UPSTREAM_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* list-by-condition naming none of the caller's tasks: [] */
static ngx_int_t
ngx_http_mj_answer_empty(ngx_http_request_t *r)
{
    return ngx_http_mj_send_buffer(r, NGX_HTTP_OK, "application/json",
                                   (u_char *) "[]", 2);
}


/* the request was admitted, or refused: relay it, or answer */
static ngx_int_t
ngx_http_mj_proceed(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    ctx->step = NGX_HTTP_MJ_STEP_DONE;

    if (rc == NGX_HTTP_MJ_ANSWER_EMPTY) {
        ngx_http_finalize_request(r, ngx_http_mj_answer_empty(r));
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mj_swap_credentials(r, ctx->ukey) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * proxy_pass without a URI part sends the request line's raw URI;
     * make it send the normalized one the gateway has checked instead.
     */
    r->valid_unparsed_uri = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: \"%V\" relayed with the key \"%V\"",
                   &ctx->endpoint->name, &ctx->ukey->name);

    return NGX_DECLINED;
}


/* a new request: the user, the endpoint, then the body or the admission */
static ngx_int_t
ngx_http_mj_start(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_http_mj_loc_conf_t *mlcf)
{
    char       *error;
    ngx_int_t   rc;

    ctx->zone = mlcf->shm_zone->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: gateway request \"%V\"", &r->uri);

    if (r->method != NGX_HTTP_OPTIONS) {
        rc = ngx_http_mj_auth_blocked(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_mj_authenticate(r, ctx);
        if (rc != NGX_OK) {
            if (rc == NGX_HTTP_UNAUTHORIZED) {
                ngx_http_mj_auth_failed(r);
            }

            return rc;
        }
    }

    rc = ngx_http_mj_classify(r, &ctx->endpoint, &ctx->named, &error);
    if (rc != NGX_OK) {
        return ngx_http_mj_refuse_status(r, ctx, rc, error);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: endpoint \"%V\", flags %xi",
                   &ctx->endpoint->name, ctx->endpoint->flags);

    if (r->method == NGX_HTTP_OPTIONS) {
        /* a preflight carries no key: the gateway answers it, never relays */
        ctx->step = NGX_HTTP_MJ_STEP_DONE;
        ngx_http_finalize_request(r, ngx_http_mj_preflight(r, ctx));
        return NGX_DONE;
    }

    if (ctx->endpoint->flags & NGX_HTTP_MJ_EP_PATH_TASK) {
        return ngx_http_mj_proceed(r, ctx, ngx_http_mj_admit(r, ctx));
    }

    /* every other endpoint is a POST with a JSON body */
    if (!ngx_http_mj_body_here(r)) {
        rc = ngx_http_mj_admit_peek(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_mj_read_body(r, ctx);
}


static ngx_int_t
ngx_http_mj_handler(ngx_http_request_t *r)
{
    ngx_http_mj_ctx_t       *ctx;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (!mlcf->enable) {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        /* a subrequest shares the main request's headers: never relay */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mj: subrequest to a gateway location refused");
        return NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mj_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_http_mj_module);

        return ngx_http_mj_start(r, ctx, mlcf);
    }

    switch (ctx->step) {

    case NGX_HTTP_MJ_STEP_BODY:
        /* back after the body was read and inspected */
        if (ctx->status == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (ctx->status != NGX_OK) {
            ctx->step = NGX_HTTP_MJ_STEP_DONE;
            return ctx->status;
        }

        return ngx_http_mj_proceed(r, ctx, ngx_http_mj_admit(r, ctx));

    case NGX_HTTP_MJ_STEP_ADMIT:
        /* back after the store answered */
        if (ctx->admit.rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        return ngx_http_mj_proceed(r, ctx, ngx_http_mj_admitted(r, ctx));

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_mj_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mj_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t          *s;
    ngx_http_mj_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mj_module);
    s = NULL;

    if (ctx) {
        switch (data) {

        case NGX_HTTP_MJ_VAR_USER:
            s = ctx->user ? &ctx->user->name : NULL;
            break;

        case NGX_HTTP_MJ_VAR_ACTION:
            s = ctx->endpoint ? &ctx->endpoint->name : NULL;
            break;

        case NGX_HTTP_MJ_VAR_TASK_ID:
            s = &ctx->task_id;
            break;

        /* the key the request goes with: a follow-up's is its parent's */
        case NGX_HTTP_MJ_VAR_UPSTREAM:
            s = ctx->ukey ? &ctx->ukey->upstream : NULL;
            break;

        default: /* NGX_HTTP_MJ_VAR_UPSTREAM_KEY */
            s = ctx->ukey ? &ctx->ukey->name : NULL;
            break;
        }
    }

    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static char *
ngx_http_mj_file_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *field = value[1];

    if (ngx_conf_full_name(cf->cycle, field, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* mj_gateway zone=NAME | off */
static char *
ngx_http_mj_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    ngx_str_t  *value, name;

    if (mlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        mlcf->enable = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mj_gateway\" takes \"zone=NAME\" (an "
                           "\"mj_zone\" that records task owners) or "
                           "\"off\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    mlcf->shm_zone = ngx_shared_memory_add(cf, &name, 0, &ngx_http_mj_module);
    if (mlcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mlcf->enable = 1;

    return NGX_CONF_OK;
}


/* mj_allow_notify_hook URL-prefix ... */
static char *
ngx_http_mj_allow_notify_hook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    if (mlcf->hooks != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    /* a prefix must pin the host: scheme, host and a "/" after it */
    return ngx_http_mj_conf_urls(cf, &mlcf->hooks, 1);
}


static void
ngx_http_mj_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mj_hash_done();
}


static void
ngx_http_mj_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_mj_zone_exit(cycle);
    ngx_http_mj_hash_done();
}


static void *
ngx_http_mj_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_main_conf_t));
}


/* the folder part of a path, up to its last "/" */
static size_t
ngx_http_mj_dirlen(ngx_str_t *path)
{
    size_t  n;

    for (n = path->len; n && path->data[n - 1] != '/'; n--) { /* void */ }

    return n;
}


/*
 * A state folder is given to the worker user at start, as nginx does with
 * its temp paths: it must not be the folder of the keys or users files.
 */
static char *
ngx_http_mj_check_state_dirs(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf)
{
    size_t                n;
    ngx_str_t            *f, *files[2];
    ngx_uint_t            i, k;
    ngx_http_mj_zone_t  **zp;

    files[0] = &mmcf->users_file;
    files[1] = &mmcf->keys_file;
    zp = mmcf->zones.elts;

    for (i = 0; i < mmcf->zones.nelts; i++) {
        if (zp[i]->state.len == 0) {
            continue;
        }

        n = ngx_http_mj_dirlen(&zp[i]->state);

        for (k = 0; k < 2; k++) {
            f = files[k];

            if (f->len && ngx_http_mj_dirlen(f) == n
                && ngx_strncmp(f->data, zp[i]->state.data, n) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the state file of mj_zone \"%V\" must "
                                   "be in a folder of its own, not in the "
                                   "folder of \"%V\": nginx gives that "
                                   "folder to the worker user",
                                   &zp[i]->shm_zone->shm.name, f);
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mj_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mj_main_conf_t  *mmcf = conf;

    if (ngx_http_mj_check_state_dirs(cf, mmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (mmcf->users_file.len == 0) {
        if (mmcf->keys_file.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mj_upstream_keys\" needs \"mj_users\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    return ngx_http_mj_load_users(cf, mmcf);
}


static void *
ngx_http_mj_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mj_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->shm_zone = NULL;
     *     conf->hooks = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->account_filter = NGX_CONF_UNSET;
    conf->set_cookie = NGX_CONF_UNSET;
    conf->hooks = NGX_CONF_UNSET_PTR;
    conf->cors = NGX_CONF_UNSET_PTR;
    conf->limit[0].rate = NGX_CONF_UNSET_UINT;
    conf->limit[1].rate = NGX_CONF_UNSET_UINT;
    conf->auth.rate = NGX_CONF_UNSET_UINT;
    conf->tasks = NGX_CONF_UNSET;
    conf->task_age = NGX_CONF_UNSET;
    conf->quota = NGX_CONF_UNSET;
    conf->cost[0] = NGX_CONF_UNSET_UINT;
    conf->limit_status = NGX_CONF_UNSET_UINT;
    conf->auth_log_level = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_mj_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mj_loc_conf_t  *prev = parent;
    ngx_http_mj_loc_conf_t  *conf = child;

    ngx_http_mj_main_conf_t  *mmcf;


    ngx_uint_t  i;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->account_filter, prev->account_filter, 0);
    ngx_conf_merge_value(conf->set_cookie, prev->set_cookie, 0);
    ngx_conf_merge_ptr_value(conf->hooks, prev->hooks, NULL);
    ngx_conf_merge_ptr_value(conf->cors, prev->cors, NULL);

    for (i = 0; i < 2; i++) {
        if (conf->limit[i].rate == NGX_CONF_UNSET_UINT) {
            conf->limit[i] = prev->limit[i].rate == NGX_CONF_UNSET_UINT
                             ? (ngx_http_mj_rate_t) { 0, 0 }
                             : prev->limit[i];
        }
    }

    if (conf->auth.rate == NGX_CONF_UNSET_UINT) {
        conf->auth = prev->auth.rate == NGX_CONF_UNSET_UINT
                     ? (ngx_http_mj_rate_t) { 0, 0 } : prev->auth;
    }

    if (conf->tasks == NGX_CONF_UNSET) {
        conf->tasks = prev->tasks == NGX_CONF_UNSET ? -1 : prev->tasks;
        conf->task_age = prev->task_age;
    }

    ngx_conf_merge_value(conf->task_age, prev->task_age, 3600);
    ngx_conf_merge_value(conf->quota, prev->quota, -1);

    if (conf->cost[0] == NGX_CONF_UNSET_UINT) {
        for (i = 0; i < MJ_NACTIONS; i++) {
            conf->cost[i] = prev->cost[0] == NGX_CONF_UNSET_UINT
                            ? 1 : prev->cost[i];
        }
    }

    ngx_conf_merge_uint_value(conf->limit_status, prev->limit_status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->auth_log_level, prev->auth_log_level,
                              NGX_LOG_INFO);

    if (conf->shm_zone == NULL) {
        conf->shm_zone = prev->shm_zone;
    }

    if (conf->enable) {
        mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mj_module);

        if (mmcf->users_file.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mj_gateway\" is on but no \"mj_users\" "
                               "file is configured");
            return NGX_CONF_ERROR;
        }

        if (conf->shm_zone->data == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown mj_zone \"%V\"",
                               &conf->shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mj_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mj_handler;

    return ngx_http_mj_filter_init(cf);
}
