/*
 * ngx_http_mj_store_redis.h: the store shared by several gateway nodes
 * through Redis, behind a zone with redis= (ngx_http_mj_store_redis.c; the
 * promises are the store's, ngx_http_mj_store.h; the scripts are
 * the .lua files of ngx_mj_module/redis).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_STORE_REDIS_H
#define NGX_HTTP_MJ_STORE_REDIS_H

#include "ngx_http_mj_module.h"


typedef struct ngx_http_mj_rstore_s  ngx_http_mj_rstore_t;


/* at config time, after the redis parameters of mj_zone "name" */
ngx_int_t ngx_http_mj_rstore_conf(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name);

ngx_int_t ngx_http_mj_rstore_admit(ngx_http_mj_admit_t *a);
ngx_int_t ngx_http_mj_rstore_commit(ngx_http_mj_admit_t *a,
    ngx_http_mj_tid_t *tid, ngx_str_t *id, uint32_t ukey, ngx_uint_t action,
    ngx_uint_t status, ngx_uint_t refund);
void ngx_http_mj_rstore_release(ngx_http_mj_admit_t *a, ngx_uint_t refund);
void ngx_http_mj_rstore_status(ngx_http_mj_admit_t *a, ngx_uint_t i,
    ngx_uint_t status);
void ngx_http_mj_rstore_list(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tids,
    ngx_str_t *ids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info);

/* mj_status: the zone's Redis, as JSON (a member) or Prometheus lines */
#define NGX_HTTP_MJ_RSTORE_STATUS_MAX  4096

u_char *ngx_http_mj_rstore_status_json(u_char *p, ngx_http_mj_zone_t *z);
u_char *ngx_http_mj_rstore_status_prometheus(u_char *p,
    ngx_http_mj_zone_t *z);

#endif /* NGX_HTTP_MJ_STORE_REDIS_H */
