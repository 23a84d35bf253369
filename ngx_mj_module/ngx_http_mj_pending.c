/*
 * ngx_http_mj_pending.c: what a submit in flight holds, under its worker's
 * pid.
 *
 * A submit holds a place in the zone ("reserved") and counts against its
 * user's cap of unfinished tasks ("inflight") until its answer is read.
 * A worker that dies mid-submit (a crash, SIGKILL) never gives them back,
 * so each submit notes what it holds in a small table of the zone, and a
 * worker that starts gives back what dead workers' submits held.  When the
 * table is full a submit goes unnoted: only its crash would leak.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <signal.h>

#include "ngx_http_mj_module.h"


/* under the zone's lock: the submit "slot" (index + 1, 0: none) holds "what" */
void
ngx_http_mj_pending_mark_locked(ngx_http_mj_zone_sh_t *sh, ngx_uint_t *slot,
    uint64_t owner, ngx_uint_t what)
{
    ngx_uint_t              i, n;
    ngx_http_mj_pending_t  *p;

    if (*slot == 0) {
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
        p->owner = owner;
        p->pid = (uint32_t) ngx_pid;
        p->what = 0;
        *slot = i + 1;
    }

    sh->pending[*slot - 1].what |= (uint32_t) what;
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


/* a worker starts: what dead workers' submits held is given back */
void
ngx_http_mj_pending_reap(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    ngx_uint_t              i, n;
    ngx_http_mj_counters_t *u;
    ngx_http_mj_zone_sh_t  *sh;
    ngx_http_mj_pending_t  *p;

    sh = z->sh;
    n = 0;

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

        if ((p->what & NGX_HTTP_MJ_PEND_RESERVED) && sh->reserved) {
            sh->reserved--;
        }

        if (p->what & NGX_HTTP_MJ_PEND_INFLIGHT) {
            u = ngx_http_mj_ustat_locked(sh, p->owner, 0);
            if (u && u->inflight) {
                u->inflight--;
            }
        }

        ngx_memzero(p, sizeof(ngx_http_mj_pending_t));
        n++;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mj_zone \"%V\": %ui submits of a worker process "
                      "that died were given back", &z->shm_zone->shm.name,
                      n);
    }
}
