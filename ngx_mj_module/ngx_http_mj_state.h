/*
 * ngx_http_mj_state.h: the state file that carries a zone over a restart,
 * and the snapshots that write it (ngx_http_mj_state.c; its format:
 * mj_state_parse.h).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_STATE_H
#define NGX_HTTP_MJ_STATE_H


/* read when the zone is first made: what it holds goes into the zone */
void ngx_http_mj_state_restore(ngx_http_mj_zone_t *z, ngx_log_t *log);

/* "state=" of mj_zone: the file's full name, and its folder made at start */
char *ngx_http_mj_state_path(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name);

/* worker 0 snapshots every zone on a timer; the master at exit */
ngx_int_t ngx_http_mj_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_mj_zone_exit(ngx_cycle_t *cycle);

#endif /* NGX_HTTP_MJ_STATE_H */
