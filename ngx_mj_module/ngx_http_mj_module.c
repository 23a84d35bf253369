/*
 * ngx_http_mj_module.c: directives, configuration, variables and the
 * request handler of ngx_mj, a multi-tenant Midjourney API gateway.
 *
 * The handler runs in the PRECONTENT phase, which always runs for a main
 * request: an operator's "satisfy any" with "allow" or "auth_basic" ends
 * the ACCESS phase early and so cannot skip the gateway.
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
static ngx_int_t ngx_http_mj_init(ngx_conf_t *cf);


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

    { ngx_string("mj_gateway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mj_loc_conf_t, enable),
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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
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


static ngx_int_t
ngx_http_mj_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
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

    if (ctx && ctx->checked) {
        return NGX_DECLINED;
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mj_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mj_module);
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        /* CORS preflights are the location's business, keyless */
        if (ngx_http_mj_swap_credentials(r, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->checked = 1;
        return NGX_DECLINED;
    }

    rc = ngx_http_mj_authenticate(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mj_classify(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mj_swap_credentials(r, ctx->user->key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * proxy_pass without a URI part sends the request line's raw URI;
     * make it send the normalized one the gateway has checked instead.
     */
    r->valid_unparsed_uri = 0;

    ctx->checked = 1;

    return NGX_DECLINED;
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

        case NGX_HTTP_MJ_VAR_UPSTREAM:
            s = ctx->user ? &ctx->user->key->upstream : NULL;
            break;

        default: /* NGX_HTTP_MJ_VAR_UPSTREAM_KEY */
            s = ctx->user ? &ctx->user->key->name : NULL;
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


static void *
ngx_http_mj_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_main_conf_t));
}


static char *
ngx_http_mj_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mj_main_conf_t  *mmcf = conf;

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

    conf->enable = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mj_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mj_loc_conf_t  *prev = parent;
    ngx_http_mj_loc_conf_t  *conf = child;

    ngx_http_mj_main_conf_t  *mmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->enable) {
        mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mj_module);

        if (mmcf->users_file.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mj_gateway\" is on but no \"mj_users\" "
                               "file is configured");
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
