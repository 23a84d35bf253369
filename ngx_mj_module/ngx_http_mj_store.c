/*
 * ngx_http_mj_store.c: the store's calls (ngx_http_mj_store.h), made by
 * the zone alone (ngx_http_mj_zone.c) or, for a zone with redis=, by the
 * zone with Redis behind it (ngx_http_mj_store_redis.c).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"
#include "ngx_http_mj_store_redis.h"


ngx_int_t
ngx_http_mj_store_admit(ngx_http_mj_admit_t *a)
{
    return a->store->rstore ? ngx_http_mj_rstore_admit(a)
                            : ngx_http_mj_zone_admit(a);
}


ngx_int_t
ngx_http_mj_store_commit(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tid,
    ngx_str_t *id, uint32_t ukey, ngx_uint_t action, ngx_uint_t status,
    ngx_uint_t refund)
{
    return a->store->rstore
           ? ngx_http_mj_rstore_commit(a, tid, id, ukey, action, status,
                                       refund)
           : ngx_http_mj_zone_commit(a, tid, ukey, action, status, refund);
}


void
ngx_http_mj_store_release(ngx_http_mj_admit_t *a, ngx_uint_t refund)
{
    if (a->store->rstore) {
        ngx_http_mj_rstore_release(a, refund);

    } else {
        ngx_http_mj_zone_release(a, refund);
    }
}


void
ngx_http_mj_store_status(ngx_http_mj_admit_t *a, ngx_uint_t i,
    ngx_uint_t status)
{
    if (a->store->rstore) {
        ngx_http_mj_rstore_status(a, i, status);

    } else {
        ngx_http_mj_zone_status(a->store, &a->tids[i], status);
    }
}


void
ngx_http_mj_store_list(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tids,
    ngx_str_t *ids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info)
{
    if (a->store->rstore) {
        ngx_http_mj_rstore_list(a, tids, ids, status, n, info);

    } else {
        ngx_http_mj_zone_list(a->store, a->owner, tids, status, n, info);
    }
}
