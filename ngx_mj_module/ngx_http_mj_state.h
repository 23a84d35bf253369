/*
 * ngx_http_mj_state.h: the state file that carries a zone over a restart
 * (ngx_http_mj_state.c; its format: mj_state_parse.h), and the snapshots
 * that write it (ngx_http_mj_snapshot.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_STATE_H
#define NGX_HTTP_MJ_STATE_H


/* read when the zone is first made: the snapshot, then the journal */
void ngx_http_mj_state_restore(ngx_http_mj_zone_t *z, ngx_log_t *log);

/* "state=" of mj_zone: the file's full name, and its folder made at start */
char *ngx_http_mj_state_path(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name);

/* a worker's start; the master's (or a single process's) exit */
ngx_int_t ngx_http_mj_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_mj_zone_exit(ngx_cycle_t *cycle);

/* who writes a snapshot */
#define NGX_HTTP_MJ_SNAP_MANAGER  0    /* gives up when nginx stops */
#define NGX_HTTP_MJ_SNAP_EXIT     1    /* the last one: nothing else runs */

void ngx_http_mj_snapshot(ngx_http_mj_zone_t *z, ngx_log_t *log,
    ngx_uint_t how);

/* the cache manager's call; with master_process off, a timer's */
ngx_msec_t ngx_http_mj_snapshot_manager(void *data);
void ngx_http_mj_snapshot_timer(ngx_cycle_t *cycle);

#endif /* NGX_HTTP_MJ_STATE_H */
