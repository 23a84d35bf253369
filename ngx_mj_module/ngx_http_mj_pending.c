/*
 * ngx_http_mj_pending.c: what a submit in flight holds, under its worker's
 * pid.
 *
 * A submit holds a place in the zone ("reserved"), counts against its
 * user's cap of unfinished tasks ("inflight") and holds its quota units
 * until its answer is read.  A worker that dies mid-submit (a crash,
 * SIGKILL) never gives them back, so each submit notes what it holds in a
 * small table of the zone, and a worker that starts gives back what dead
 * workers' submits held.  When the table is full a submit goes unnoted:
 * only its crash would leak.
 *
 * The units go back too.  The worker died before the upstream's answer
 * was read, so the client never got a task id: it cannot fetch, change or
 * list the task, and an operator who sells quota does not charge for what
 * the client cannot have.  But the upstream may have made the task (and
 * bills the operator for it; a notifyHook of the client's hears of it),
 * so each such submit is logged at "error" with its user and the time it
 * was admitted, for the operator to reconcile with the upstream's list.
 * The journal never kept these units (ngx_http_mj_ustat_settled()): a
 * crash of the whole of nginx gives them back the same way, unlogged.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <signal.h>

#include "ngx_http_mj_module.h"


/* a dead worker's submit, as the log tells it */
typedef struct {
    uint64_t                   owner;
    uint32_t                   since;
    uint32_t                   refunded;
} ngx_http_mj_reaped_t;


/* under the zone's lock: a submit's slot (index + 1; 0: none) holds "what" */
void
ngx_http_mj_pending_mark_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_admit_t *a, ngx_uint_t what)
{
    ngx_uint_t              i, n;
    ngx_http_mj_pending_t  *p;

    if (a->pending == 0) {
        i = sh->pending_hint;

        for (n = 0; n < sh->npending; n++) {
            if (++i >= sh->npending) {
                i = 0;
            }

            if (sh->pending[i].pid == 0) {
                break;
            }
        }

        if (n == sh->npending) {
            return;
        }

        sh->pending_hint = i;
        p = &sh->pending[i];
        p->owner = a->owner;
        p->pid = (uint32_t) ngx_pid;
        p->what = 0;
        p->charged = (uint32_t) a->charged;
        p->day = a->charge_day;
        p->since = (uint32_t) ngx_time();
        a->pending = i + 1;
    }

    sh->pending[a->pending - 1].what |= (uint32_t) what;
}


/* under the zone's lock: the submit holds "what" no more */
void
ngx_http_mj_pending_clear_locked(ngx_http_mj_zone_sh_t *sh, ngx_uint_t *slot,
    ngx_uint_t what)
{
    ngx_http_mj_pending_t  *p;

    if (*slot == 0) {
        return;
    }

    p = &sh->pending[*slot - 1];
    p->what &= (uint32_t) ~what;

    if (p->what == 0) {
        ngx_memzero(p, sizeof(ngx_http_mj_pending_t));
        *slot = 0;
    }
}


/* under the lock: a dead worker's submit gives back what it held */
static void
ngx_http_mj_pending_free_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_pending_t *p, ngx_http_mj_reaped_t *r)
{
    ngx_http_mj_counters_t  *u;

    if ((p->what & NGX_HTTP_MJ_PEND_RESERVED) && sh->reserved) {
        sh->reserved--;
    }

    u = ngx_http_mj_ustat_locked(sh, p->owner, 0);

    r->owner = p->owner;
    r->since = p->since;
    r->refunded = 0;

    if (u && (p->what & NGX_HTTP_MJ_PEND_INFLIGHT)) {
        if (u->inflight) {
            u->inflight--;
        }

        u->held -= ngx_min(u->held, p->charged);

        if (u->day == p->day) {
            r->refunded = ngx_min(u->quota_used, p->charged);
            u->quota_used -= r->refunded;
        }
    }

    ngx_memzero(p, sizeof(ngx_http_mj_pending_t));
}


/* the log line of each submit a dead worker held, by its user's name */
static void
ngx_http_mj_pending_log(ngx_http_mj_zone_t *z, ngx_cycle_t *cycle,
    ngx_http_mj_reaped_t *r, ngx_uint_t n)
{
    u_char                    since[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t                  tm;
    ngx_str_t                 unknown = ngx_string("(not in the users file)");
    ngx_str_t                *name;
    ngx_uint_t                i, k;
    ngx_http_mj_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mj_module);

    for (i = 0; i < n; i++) {
        name = &unknown;

        for (k = 0; mmcf && mmcf->table && k <= mmcf->mask; k++) {
            if (mmcf->table[k] && mmcf->table[k]->owner == r[i].owner) {
                name = &mmcf->table[k]->name;
                break;
            }
        }

        ngx_gmtime(r[i].since, &tm);
        ngx_sprintf(since, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "mj_zone \"%V\": a submit of user \"%V\" admitted "
                      "at %s was in flight in a worker process that died: "
                      "its answer was never read, %uD quota units were "
                      "given back; the upstream may have made its task",
                      &z->shm_zone->shm.name, name, since, r[i].refunded);
    }
}


/* a worker starts: what dead workers' submits held is given back */
void
ngx_http_mj_pending_reap(ngx_http_mj_zone_t *z, ngx_cycle_t *cycle)
{
    ngx_uint_t              i, n;
    ngx_http_mj_reaped_t   *r;
    ngx_http_mj_zone_sh_t  *sh;
    ngx_http_mj_pending_t  *p;

    sh = z->sh;
    n = 0;

    r = ngx_alloc(sh->npending * sizeof(ngx_http_mj_reaped_t), cycle->log);
    if (r == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < sh->npending; i++) {
        p = &sh->pending[i];

        /*
         * Alive, or another user's process (EPERM): not ours to reap.  An
         * entry under this very pid is a dead worker's whose pid came back
         * to us: a starting worker has no submit in flight yet.
         */
        if (p->pid == 0
            || (p->pid != (uint32_t) ngx_pid
                && (kill((pid_t) p->pid, 0) == 0 || ngx_errno != NGX_ESRCH)))
        {
            continue;
        }

        ngx_http_mj_pending_free_locked(sh, p, &r[n++]);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "mj_zone \"%V\": %ui submits of a worker process "
                      "that died were given back", &z->shm_zone->shm.name,
                      n);

        ngx_http_mj_pending_log(z, cycle, r, n);
    }

    ngx_free(r);
}
