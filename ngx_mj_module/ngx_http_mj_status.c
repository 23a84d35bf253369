/*
 * ngx_http_mj_status.c: the status endpoint, "mj_status zone=NAME".
 *
 * Per user: requests, submits, refusals by cause, unfinished and tracked
 * tasks, today's quota; per zone: usage and evictions.  JSON, or the
 * Prometheus text format with "?format=prometheus".  The operator protects
 * the location (allow/deny, auth_basic): it names every user.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"
#include "ngx_http_mj_store_redis.h"


#define NGX_HTTP_MJ_USER_JSON_MAX   512
#define NGX_HTTP_MJ_USER_PROM_MAX   2048


static char *ngx_http_mj_causes[] = { "rate", "tasks", "quota", "action" };


typedef struct {
    ngx_http_mj_user_t        *user;
    ngx_http_mj_counters_t     stat;
    ngx_uint_t                 quota;      /* NGX_MAX_UINT32_VALUE: none */
} ngx_http_mj_status_user_t;


static int ngx_libc_cdecl
ngx_http_mj_status_cmp(const void *one, const void *two)
{
    const ngx_http_mj_status_user_t  *a = one;
    const ngx_http_mj_status_user_t  *b = two;

    return ngx_memn2cmp(a->user->name.data, b->user->name.data,
                        a->user->name.len, b->user->name.len);
}


/* a copy of every configured user's counters, taken under the lock */
static ngx_http_mj_status_user_t *
ngx_http_mj_status_users(ngx_http_request_t *r, ngx_http_mj_zone_t *z,
    ngx_uint_t *n)
{
    uint32_t                    day;
    ngx_uint_t                  i, k;
    ngx_http_mj_counters_t     *u;
    ngx_http_mj_loc_conf_t     *mlcf;
    ngx_http_mj_main_conf_t    *mmcf;
    ngx_http_mj_status_user_t  *out;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mj_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    out = ngx_pcalloc(r->pool, (mmcf->nusers + 1)
                               * sizeof(ngx_http_mj_status_user_t));
    if (out == NULL) {
        return NULL;
    }

    day = (uint32_t) (ngx_time() / 86400);
    k = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; mmcf->table && i <= mmcf->mask; i++) {
        if (mmcf->table[i] == NULL) {
            continue;
        }

        out[k].user = mmcf->table[i];
        out[k].quota = mmcf->table[i]->quota != MJ_UNSET
                       ? (ngx_uint_t) mmcf->table[i]->quota
                       : mlcf->quota >= 0 ? (ngx_uint_t) mlcf->quota
                       : NGX_MAX_UINT32_VALUE;

        u = ngx_http_mj_ustat_locked(z->sh, mmcf->table[i]->owner, 0);
        if (u) {
            out[k].stat = *u;

            if (u->day != day) {
                out[k].stat.quota_used = 0;
            }
        }

        k++;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_qsort(out, k, sizeof(ngx_http_mj_status_user_t),
              ngx_http_mj_status_cmp);

    *n = k;

    return out;
}


static u_char *
ngx_http_mj_status_json(u_char *p, ngx_http_mj_zone_t *z,
    ngx_http_mj_zone_sh_t *zs, ngx_http_mj_status_user_t *users, ngx_uint_t n)
{
    ngx_uint_t                  i, c;
    ngx_http_mj_status_user_t  *su;

    p = ngx_sprintf(p, "{\"zones\":[{\"name\":\"%V\",\"size\":%uz,"
                    "\"capacity\":%ui,\"tasks\":%ui,\"finished\":%ui,"
                    "\"reserved\":%ui,\"evicted\":%ui,\"refused\":%ui,"
                    "\"users\":%ui",
                    &z->shm_zone->shm.name, z->shm_zone->shm.size,
                    zs->max, zs->count, zs->finished, zs->reserved,
                    zs->evicted, zs->refused, zs->users_used);

    if (z->rstore) {
        p = ngx_http_mj_rstore_status_json(p, z);
    }

    p = ngx_sprintf(p, "}],\"users\":[");

    for (i = 0; i < n; i++) {
        su = &users[i];

        p = ngx_sprintf(p, "%s{\"name\":\"%V\",\"requests\":%uL,"
                        "\"submits\":%uL,\"rejected\":{",
                        i ? "," : "", &su->user->name, su->stat.requests,
                        su->stat.submits);

        for (c = 0; c < NGX_HTTP_MJ_REJ_N; c++) {
            p = ngx_sprintf(p, "%s\"%s\":%uD", c ? "," : "",
                            ngx_http_mj_causes[c], su->stat.rejected[c]);
        }

        p = ngx_sprintf(p, "},\"unfinished\":%uD,\"tracked\":%uD,"
                        "\"quota\":{\"used\":%uD,",
                        su->stat.nunfinished, su->stat.tracked,
                        su->stat.quota_used);

        if (su->quota == NGX_MAX_UINT32_VALUE) {
            p = ngx_sprintf(p, "\"limit\":null,\"left\":null}}");

        } else {
            p = ngx_sprintf(p, "\"limit\":%ui,\"left\":%ui}}", su->quota,
                            su->quota > su->stat.quota_used
                            ? su->quota - su->stat.quota_used : 0);
        }
    }

    return ngx_sprintf(p, "]}\n");
}


static struct {
    char  *name;
    char  *type;
    char  *help;
} metrics[] = {
    { "mj_user_requests_total", "counter",
      "Requests of the user's key to a gateway endpoint." },
    { "mj_user_submits_total", "counter",
      "Submits that passed the user's limits." },
    { "mj_user_rejected_total", "counter",
      "Requests refused by the user's limits, by cause." },
    { "mj_user_unfinished_tasks", "gauge",
      "Tasks counted against the user's cap." },
    { "mj_user_tracked_tasks", "gauge", "Tasks of the user in the zone." },
    { "mj_user_quota_used", "gauge", "Quota units used today (UTC)." },
    { "mj_user_quota_left", "gauge", "Quota units left today (UTC)." }
};


static u_char *
ngx_http_mj_status_prometheus(u_char *p, ngx_http_mj_zone_t *z,
    ngx_http_mj_zone_sh_t *zs, ngx_http_mj_status_user_t *users, ngx_uint_t n)
{
    uint64_t                    v[7];
    ngx_str_t                  *name;
    ngx_uint_t                  i, c, m;
    ngx_http_mj_status_user_t  *su;

    name = &z->shm_zone->shm.name;

    p = ngx_sprintf(p,
        "# HELP mj_zone_capacity Tasks the zone can track.\n"
        "# TYPE mj_zone_capacity gauge\n"
        "mj_zone_capacity{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_tasks Tasks tracked now.\n"
        "# TYPE mj_zone_tasks gauge\n"
        "mj_zone_tasks{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_finished_tasks Tracked tasks seen finished.\n"
        "# TYPE mj_zone_finished_tasks gauge\n"
        "mj_zone_finished_tasks{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_evicted_total Tasks evicted from the full zone.\n"
        "# TYPE mj_zone_evicted_total counter\n"
        "mj_zone_evicted_total{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_refused_total Submits refused by the full zone.\n"
        "# TYPE mj_zone_refused_total counter\n"
        "mj_zone_refused_total{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_users Users with counters in the zone.\n"
        "# TYPE mj_zone_users gauge\n"
        "mj_zone_users{zone=\"%V\"} %ui\n"
        "# HELP mj_zone_users_capacity Users the zone can count.\n"
        "# TYPE mj_zone_users_capacity gauge\n"
        "mj_zone_users_capacity{zone=\"%V\"} %ui\n",
        name, zs->max, name, zs->count, name, zs->finished,
        name, zs->evicted, name, zs->refused, name, zs->users_used,
        name, zs->users_max);

    if (z->rstore) {
        p = ngx_http_mj_rstore_status_prometheus(p, z);
    }

    /* each metric's HELP, TYPE and samples together, as the format asks */
    for (m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                        metrics[m].name, metrics[m].help, metrics[m].name,
                        metrics[m].type);

        for (i = 0; i < n; i++) {
            su = &users[i];
            name = &su->user->name;

            if (m == 2) {
                for (c = 0; c < NGX_HTTP_MJ_REJ_N; c++) {
                    p = ngx_sprintf(p, "%s{user=\"%V\",cause=\"%s\"} %uD\n",
                                    metrics[m].name, name,
                                    ngx_http_mj_causes[c],
                                    su->stat.rejected[c]);
                }

                continue;
            }

            if (m == 6 && su->quota == NGX_MAX_UINT32_VALUE) {
                continue;    /* no quota, nothing left to count */
            }

            v[0] = su->stat.requests;
            v[1] = su->stat.submits;
            v[2] = 0;
            v[3] = su->stat.nunfinished;
            v[4] = su->stat.tracked;
            v[5] = su->stat.quota_used;
            v[6] = su->quota > su->stat.quota_used
                   ? su->quota - su->stat.quota_used : 0;

            p = ngx_sprintf(p, "%s{user=\"%V\"} %uL\n", metrics[m].name, name,
                            v[m]);
        }
    }

    return p;
}


static ngx_int_t
ngx_http_mj_status_handler(ngx_http_request_t *r)
{
    u_char                     *p, *last;
    size_t                      size;
    ngx_int_t                   rc;
    ngx_str_t                   format;
    ngx_uint_t                  n, prom;
    ngx_http_mj_zone_t         *z;
    ngx_http_mj_zone_sh_t       zs;
    ngx_http_mj_loc_conf_t     *mlcf;
    ngx_http_mj_status_user_t  *users;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);
    z = mlcf->status_zone->data;

    prom = ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
           && format.len == 10
           && ngx_strncmp(format.data, "prometheus", 10) == 0;

    users = ngx_http_mj_status_users(r, z, &n);
    if (users == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&zs, sizeof(ngx_http_mj_zone_sh_t));

    ngx_shmtx_lock(&z->shpool->mutex);
    ngx_memcpy(&zs, z->sh, offsetof(ngx_http_mj_zone_sh_t, addrs));
    zs.users_used = z->sh->users_used;
    zs.users_max = z->sh->users_max;
    ngx_shmtx_unlock(&z->shpool->mutex);

    size = 2048 + NGX_HTTP_MJ_RSTORE_STATUS_MAX
           + n * (prom ? NGX_HTTP_MJ_USER_PROM_MAX
                       : NGX_HTTP_MJ_USER_JSON_MAX);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = prom ? ngx_http_mj_status_prometheus(p, z, &zs, users, n)
                : ngx_http_mj_status_json(p, z, &zs, users, n);

    return ngx_http_mj_send_buffer(r, NGX_HTTP_OK,
                                   prom ? "text/plain; version=0.0.4"
                                        : "application/json",
                                   p, last - p);
}


/* mj_status zone=NAME */
char *
ngx_http_mj_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    ngx_str_t                 *value, name;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        return "takes \"zone=NAME\"";
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    mlcf->status_zone = ngx_shared_memory_add(cf, &name, 0,
                                              &ngx_http_mj_module);
    if (mlcf->status_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mj_status_handler;

    return NGX_CONF_OK;
}
