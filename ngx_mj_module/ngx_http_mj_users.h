/*
 * ngx_http_mj_users.h: users, their keys, and the upstream key a request
 * goes with (ngx_http_mj_users.c), in the order a request meets them.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_USERS_H
#define NGX_HTTP_MJ_USERS_H


/* config time: the users file and the upstream keys file into a table */
char *ngx_http_mj_load_users(ngx_conf_t *cf, ngx_http_mj_main_conf_t *mmcf);

/* a file read whole at config time, into cf->temp_pool */
ngx_int_t ngx_http_mj_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);

/* the client's key, its user: NGX_OK with ctx->user, or a refusal status */
ngx_int_t ngx_http_mj_authenticate(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);

/*
 * The upstream key a request goes with: the user's, or for a follow-up
 * the one that made its task.  NGX_OK, or a refusal (502) when that key
 * is no longer configured.
 */
ngx_int_t ngx_http_mj_choose_key(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, ngx_http_mj_task_info_t *task);

/* the client's credentials out, the upstream key in */
ngx_int_t ngx_http_mj_swap_credentials(ngx_http_request_t *r,
    ngx_http_mj_ukey_t *key);

/* every configured user's identity, for the zone's reclaim */
uint64_t *ngx_http_mj_user_owners(ngx_http_mj_main_conf_t *mmcf,
    ngx_uint_t *n, ngx_log_t *log);

#endif /* NGX_HTTP_MJ_USERS_H */
