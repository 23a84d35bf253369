/*
 * ngx_http_mj_status.h: the status endpoint, "mj_status zone=NAME"
 * (ngx_http_mj_status.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_STATUS_H
#define NGX_HTTP_MJ_STATUS_H


char *ngx_http_mj_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#endif /* NGX_HTTP_MJ_STATUS_H */
