/*
 * ngx_http_mj_ustat.c: users' counters in the zone, one record a user,
 * found by the user's identity (open addressing, linear probing).
 *
 * Records outlive the users file: a user deleted from it keeps a record
 * until a worker 0 starts (a start, a reload) and finds that it holds
 * nothing that matters any more: no unfinished task, no submit in flight,
 * no quota spent today (a user revoked and added back the same day keeps
 * the day's count).  Without this, a users file with turnover would fill
 * the table for good, state file and restarts included.
 */

#include "ngx_http_mj_module.h"


static ngx_uint_t
ngx_http_mj_ustat_home(ngx_http_mj_zone_sh_t *sh, uint64_t owner)
{
    return (ngx_uint_t) ((owner >> 32) * sh->nusers >> 32);
}


ngx_http_mj_ustat_t *
ngx_http_mj_ustat_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    ngx_uint_t create)
{
    ngx_uint_t            i, n;
    ngx_http_mj_ustat_t  *u;

    if (sh->nusers == 0) {
        return NULL;
    }

    i = ngx_http_mj_ustat_home(sh, owner);

    for (n = 0; n < sh->nusers; n++) {
        u = &sh->users[i];

        if (u->owner == owner) {
            return u;
        }

        if (u->owner == 0) {
            if (!create || sh->users_used >= sh->users_max) {
                return NULL;
            }

            ngx_memzero(u, sizeof(ngx_http_mj_ustat_t));
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


/*
 * Frees record "i": the records after it in its run move back where a
 * lookup from their home slot still finds them (no tombstones).
 */
static void
ngx_http_mj_ustat_delete_locked(ngx_http_mj_zone_sh_t *sh, ngx_uint_t i)
{
    ngx_uint_t  j, k;

    j = i;

    for ( ;; ) {
        if (++j == sh->nusers) {
            j = 0;
        }

        if (sh->users[j].owner == 0) {
            break;
        }

        k = ngx_http_mj_ustat_home(sh, sh->users[j].owner);

        /* a record whose home is in (i, j] is found where it is */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
            continue;
        }

        sh->users[i] = sh->users[j];
        i = j;
    }

    ngx_memzero(&sh->users[i], sizeof(ngx_http_mj_ustat_t));
    sh->users_used--;
}


static int ngx_libc_cdecl
ngx_http_mj_owner_cmp(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/* frees the records of users no longer in the users file, see above */
void
ngx_http_mj_ustat_reclaim(ngx_http_mj_zone_t *z,
    ngx_http_mj_main_conf_t *mmcf, ngx_log_t *log)
{
    uint32_t                day;
    uint64_t               *owners;
    ngx_uint_t              i, n, freed;
    ngx_http_mj_ustat_t    *u;
    ngx_http_mj_zone_sh_t  *sh;

    if (mmcf->table == NULL) {
        return;
    }

    owners = ngx_alloc((mmcf->nusers + 1) * sizeof(uint64_t), log);
    if (owners == NULL) {
        return;
    }

    n = 0;

    for (i = 0; i <= mmcf->mask; i++) {
        if (mmcf->table[i]) {
            owners[n++] = mmcf->table[i]->owner;
        }
    }

    ngx_qsort(owners, n, sizeof(uint64_t), ngx_http_mj_owner_cmp);

    sh = z->sh;
    day = (uint32_t) (ngx_time() / 86400);
    freed = 0;

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
        ngx_http_mj_ustat_delete_locked(sh, i);
        freed++;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_free(owners);

    if (freed) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mj_zone \"%V\": the counters of %ui users no longer "
                      "in the users file were freed", &z->shm_zone->shm.name,
                      freed);
    }
}
