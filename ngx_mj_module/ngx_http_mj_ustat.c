/*
 * ngx_http_mj_ustat.c: users' counters in the zone, one record a user,
 * found by the user's identity in a table of their own
 * (ngx_http_mj_table.c).
 *
 * Records outlive the users file: a user deleted from it keeps a record
 * until a worker 0 starts (a start, a reload) and finds that it holds
 * nothing that matters any more: no unfinished task, no submit in flight,
 * no quota spent today (a user revoked and added back the same day keeps
 * the day's count).  Without this, a users file with turnover would fill
 * the table for good, state file and restarts included.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


static ngx_uint_t
ngx_http_mj_owner_home(uint64_t owner, ngx_uint_t n)
{
    return (ngx_uint_t) ((owner >> 32) * n >> 32);
}


static ngx_uint_t
ngx_http_mj_ustat_home(const void *rec, ngx_uint_t n)
{
    return ngx_http_mj_owner_home(((const ngx_http_mj_counters_t *) rec)
                                  ->owner, n);
}


static ngx_uint_t
ngx_http_mj_ustat_used(const void *rec)
{
    const ngx_http_mj_counters_t  *u = rec;

    return u->owner != 0;
}


ngx_http_mj_counters_t *
ngx_http_mj_ustat_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    ngx_uint_t create)
{
    ngx_uint_t               i, n;
    ngx_http_mj_counters_t  *u;

    if (sh->nusers == 0) {
        return NULL;
    }

    i = ngx_http_mj_owner_home(owner, sh->nusers);

    for (n = 0; n < sh->nusers; n++) {
        u = &sh->users[i];

        if (u->owner == owner) {
            return u;
        }

        if (u->owner == 0) {
            if (!create || sh->users_used >= sh->users_max) {
                return NULL;
            }

            ngx_memzero(u, sizeof(ngx_http_mj_counters_t));
            u->owner = owner;
            sh->users_used++;
            return u;
        }

        if (++i == sh->nusers) {
            i = 0;
        }
    }

    return NULL;
}


/* a task finished or gone counts against its owner's cap no more */
void
ngx_http_mj_untrack_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    uint64_t id)
{
    ngx_uint_t               k;
    ngx_http_mj_counters_t  *u;

    u = ngx_http_mj_ustat_locked(sh, owner, 0);
    if (u == NULL) {
        return;
    }

    for (k = 0; k < u->nunfinished; k++) {
        if (u->unfinished[k].id == id) {
            u->unfinished[k] = u->unfinished[--u->nunfinished];
            return;
        }
    }
}


static int ngx_libc_cdecl
ngx_http_mj_owner_cmp(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/* frees the records of users not among "owners" (sorted here), see above */
void
ngx_http_mj_ustat_reclaim(ngx_http_mj_zone_t *z, uint64_t *owners,
    ngx_uint_t n, ngx_log_t *log)
{
    uint32_t                 day;
    ngx_uint_t               i, freed;
    ngx_http_mj_table_t      t;
    ngx_http_mj_counters_t  *u;
    ngx_http_mj_zone_sh_t   *sh;

    ngx_qsort(owners, n, sizeof(uint64_t), ngx_http_mj_owner_cmp);

    sh = z->sh;
    day = (uint32_t) (ngx_time() / 86400);
    freed = 0;

    t.slots = (u_char *) sh->users;
    t.size = sizeof(ngx_http_mj_counters_t);
    t.n = sh->nusers;
    t.home = ngx_http_mj_ustat_home;
    t.used = ngx_http_mj_ustat_used;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < sh->nusers; /* void */ ) {
        u = &sh->users[i];

        if (u->owner == 0 || u->nunfinished || u->inflight
            || (u->day == day && u->quota_used)
            || bsearch(&u->owner, owners, n, sizeof(uint64_t),
                       ngx_http_mj_owner_cmp))
        {
            i++;
            continue;
        }

        /* slot "i" may hold a record moved back into it: look again */
        ngx_http_mj_table_delete(&t, i);
        sh->users_used--;
        freed++;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (freed) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mj_zone \"%V\": the counters of %ui users no longer "
                      "in the users file were freed", &z->shm_zone->shm.name,
                      freed);
    }
}
