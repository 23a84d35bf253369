/*
 * ngx_http_mj_zone.c: the store (ngx_http_mj_store.h) in a shared-memory
 * zone: which user owns which task, and users' counters, shared by all
 * workers.
 *
 * "mj_zone zone=NAME:SIZE" holds a preallocated open-addressing table of
 * 32-byte task records (linear probing, at most 3/4 full) in a slab pool,
 * so a lookup is one hash and a short probe, flat from a thousand to
 * millions of tasks.  Each of the store's calls takes the pool's mutex
 * once, and holds it for the table's work only.  When the table is full
 * a clock hand evicts a task seen finished, else the oldest past max_age;
 * with neither, submits are refused before they reach the upstream.
 *
 * The zone survives reloads (init_zone keeps the old table) and, through
 * a state file (ngx_http_mj_state.c), restarts.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_mj_module.h"
#include "ngx_http_mj_store_redis.h"


/* task ids a worker remembers the keyed hash of: slots of its cache */
#define NGX_HTTP_MJ_TIDS_CACHED  4096


static ngx_int_t ngx_http_mj_zone_init(ngx_shm_zone_t *shm_zone, void *data);


static ngx_uint_t
ngx_http_mj_id_home(uint64_t id, ngx_uint_t n)
{
    uint64_t  h;

    /* Fibonacci mixing, then a multiply-shift range reduction */
    h = (id * 0x9E3779B97F4A7C15ULL) >> 32;

    return (ngx_uint_t) ((h * n) >> 32);
}


static ngx_uint_t
ngx_http_mj_task_home(const void *rec, ngx_uint_t n)
{
    return ngx_http_mj_id_home(((const ngx_http_mj_task_t *) rec)->id, n);
}


static ngx_uint_t
ngx_http_mj_task_used(const void *rec)
{
    return ((const ngx_http_mj_task_t *) rec)->owner != 0;
}


/* the slot of a task, or the free slot where it would go */
static ngx_uint_t
ngx_http_mj_probe(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_tid_t *tid,
    ngx_uint_t *found)
{
    ngx_uint_t           i;
    ngx_http_mj_task_t  *t;

    i = ngx_http_mj_id_home(tid->id, sh->nslots);

    for ( ;; ) {
        t = &sh->tasks[i];

        if (t->owner == 0) {
            *found = 0;
            return i;
        }

        if (t->id == tid->id
            && (t->flags & NGX_HTTP_MJ_TASK_HASHED) == tid->flags)
        {
            *found = 1;
            return i;
        }

        if (++i == sh->nslots) {
            i = 0;
        }
    }
}


static ngx_http_mj_task_t *
ngx_http_mj_find_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_tid_t *tid)
{
    ngx_uint_t  i, found;

    i = ngx_http_mj_probe(sh, tid, &found);

    return found ? &sh->tasks[i] : NULL;
}


/* a task now running counts against its owner's cap of unfinished tasks */
static void
ngx_http_mj_track_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *t)
{
    ngx_uint_t               k, oldest;
    ngx_http_mj_counters_t  *u;

    u = ngx_http_mj_ustat_locked(sh, t->owner, 1);
    if (u == NULL) {
        return;
    }

    for (k = 0; k < u->nunfinished; k++) {
        if (u->unfinished[k].id == t->id) {
            return;
        }
    }

    if (u->nunfinished == NGX_HTTP_MJ_TRACK) {
        /* more than the largest cap: the oldest counts no more */
        oldest = 0;

        for (k = 1; k < u->nunfinished; k++) {
            if (u->unfinished[k].created < u->unfinished[oldest].created) {
                oldest = k;
            }
        }

        u->unfinished[oldest] = u->unfinished[--u->nunfinished];
    }

    u->unfinished[u->nunfinished].id = t->id;
    u->unfinished[u->nunfinished].created = t->created;
    u->nunfinished++;
}


static void
ngx_http_mj_delete(ngx_http_mj_zone_sh_t *sh, ngx_uint_t i)
{
    ngx_http_mj_table_t      tab;
    ngx_http_mj_task_t      *t;
    ngx_http_mj_counters_t  *u;

    t = &sh->tasks[i];

    if (ngx_http_mj_finished(t->status)) {
        sh->finished--;

    } else {
        ngx_http_mj_untrack_locked(sh, t->owner, t->id);
    }

    u = ngx_http_mj_ustat_locked(sh, t->owner, 0);
    if (u && u->tracked) {
        u->tracked--;
    }

    sh->count--;

    tab.slots = (u_char *) sh->tasks;
    tab.size = sizeof(ngx_http_mj_task_t);
    tab.n = sh->nslots;
    tab.home = ngx_http_mj_task_home;
    tab.used = ngx_http_mj_task_used;

    ngx_http_mj_table_delete(&tab, i);
}


/* the clock hand's next task seen finished, or NGX_ERROR */
static ngx_uint_t
ngx_http_mj_evict_finished(ngx_http_mj_zone_sh_t *sh)
{
    ngx_uint_t           n, i;
    ngx_http_mj_task_t  *t;

    for (n = 0; n < sh->nslots; n++) {
        i = sh->cursor;
        sh->cursor = (i + 1 == sh->nslots) ? 0 : i + 1;

        t = &sh->tasks[i];
        if (t->owner && ngx_http_mj_finished(t->status)) {
            return i;
        }
    }

    return (ngx_uint_t) NGX_ERROR;
}


/*
 * The oldest task, when it is past max_age: a pass over the whole table.
 * So let a few more tasks of that second go too (a 64th of the zone, 64
 * at most), and the submits after this one find room without a pass each.
 */
static ngx_uint_t
ngx_http_mj_evict_oldest(ngx_http_mj_zone_t *z, time_t now)
{
    time_t                  oldest;
    ngx_uint_t              n, i, victim, batch;
    ngx_http_mj_task_t     *t;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;
    oldest = now;
    victim = (ngx_uint_t) NGX_ERROR;

    for (i = 0; i < sh->nslots; i++) {
        t = &sh->tasks[i];
        if (t->owner && (time_t) t->created < oldest) {
            oldest = t->created;
            victim = i;
        }
    }

    if (victim == (ngx_uint_t) NGX_ERROR || now - oldest < z->max_age) {
        /* nothing can go before the oldest comes of age */
        sh->young_until = oldest + z->max_age;
        return 0;
    }

    ngx_http_mj_delete(sh, victim);
    sh->evicted++;

    batch = ngx_min(64, sh->max / 64);

    for (i = victim, n = 0; i < sh->nslots && n < batch; /* void */ ) {
        t = &sh->tasks[i];

        if (t->owner && (time_t) t->created == oldest
            && !ngx_http_mj_finished(t->status))
        {
            /* the slot takes the next entry of its chain: look again */
            ngx_http_mj_delete(sh, i);
            sh->evicted++;
            n++;
            continue;
        }

        i++;
    }

    return 1;
}


/* room for a task: a task seen finished goes, else the oldest past max_age */
static ngx_uint_t
ngx_http_mj_evict(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    time_t                  now;
    ngx_uint_t              victim, done, count;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;
    now = ngx_time();
    count = sh->count;
    done = 0;

    if (sh->finished) {
        victim = ngx_http_mj_evict_finished(sh);

        if (victim != (ngx_uint_t) NGX_ERROR) {
            ngx_http_mj_delete(sh, victim);
            sh->evicted++;
            done = 1;
        }

    } else if (now >= sh->young_until) {
        done = ngx_http_mj_evict_oldest(z, now);
    }

    if (done && !sh->full_logged) {
        sh->full_logged = 1;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\" is full (%ui tasks): evicting tasks "
                      "seen finished, then tasks older than max_age",
                      &z->shm_zone->shm.name, count);
    }

    return done;
}


/* the slot of the task a record is of: found, or where it would go */
static ngx_http_mj_task_t *
ngx_http_mj_probe_rec(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *rec,
    ngx_uint_t *found)
{
    ngx_http_mj_tid_t  tid;

    tid.id = rec->id;
    tid.flags = rec->flags & NGX_HTTP_MJ_TASK_HASHED;

    return &sh->tasks[ngx_http_mj_probe(sh, &tid, found)];
}


/* the task recorded, or found; *tp: its slot */
static ngx_int_t
ngx_http_mj_insert_slot_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_task_t *rec, ngx_http_mj_task_t **tp)
{
    ngx_uint_t               found;
    ngx_http_mj_task_t      *t;
    ngx_http_mj_counters_t  *u;

    t = ngx_http_mj_probe_rec(sh, rec, &found);
    *tp = t;

    if (found) {
        return t->owner == rec->owner ? NGX_OK : NGX_DECLINED;
    }

    if (sh->count >= sh->max) {
        return NGX_BUSY;
    }

    *t = *rec;
    sh->count++;

    u = ngx_http_mj_ustat_locked(sh, t->owner, 1);
    if (u) {
        u->tracked++;
    }

    if (ngx_http_mj_finished(t->status)) {
        sh->finished++;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mj_insert_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *rec)
{
    ngx_http_mj_task_t  *t;

    return ngx_http_mj_insert_slot_locked(sh, rec, &t);
}


/* a task's status changes: the finished count and its owner's cap follow */
static void
ngx_http_mj_set_status_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_task_t *t, ngx_uint_t status)
{
    if (t->status == status) {
        return;
    }

    if (ngx_http_mj_finished(status) && !ngx_http_mj_finished(t->status)) {
        sh->finished++;
        ngx_http_mj_untrack_locked(sh, t->owner, t->id);

    } else if (!ngx_http_mj_finished(status)
               && ngx_http_mj_finished(t->status))
    {
        sh->finished--;
    }

    t->status = (uint8_t) status;
    t->seen = (uint32_t) ngx_time();
}


/*
 * The tasks a request names, and the ownership rule: a task counts if it
 * is the user's; of a list, the user's made with the same upstream key as
 * the first of them.  Returns whether anything counts.  A task Redis told
 * of is taken as told; the tasks the zone lacks are counted in a->missing.
 */
static ngx_uint_t
ngx_http_mj_lookup_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_admit_t *a)
{
    ngx_uint_t                i, kept;
    ngx_http_mj_task_t       *t;
    ngx_http_mj_task_info_t  *info, *first;

    kept = 0;
    first = NULL;
    a->missing = 0;

    for (i = 0; i < a->ntids; i++) {
        info = &a->info[i];

        if (!info->remote) {
            t = ngx_http_mj_find_locked(sh, &a->tids[i]);

            ngx_memzero(info, sizeof(ngx_http_mj_task_info_t));

            if (t == NULL) {
                a->missing++;
                continue;
            }

            info->owner = t->owner;
            info->ukey = t->ukey;
            info->action = t->action;
            info->status = t->status;
        }

        if (info->owner != a->owner
            || (first && first->ukey != info->ukey))
        {
            continue;
        }

        if (first == NULL) {
            first = info;
        }

        info->kept = 1;
        kept++;
    }

    return a->list ? kept > 0 : kept == a->ntids;
}


/* room for one more task: NGX_OK, or NGX_BUSY (*log: say so) */
static ngx_int_t
ngx_http_mj_place_locked(ngx_http_mj_zone_t *z, ngx_log_t *log,
    ngx_uint_t *logit)
{
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;

    if (sh->count + sh->reserved < sh->max || ngx_http_mj_evict(z, log)) {
        return NGX_OK;
    }

    /* logged once a second at most: a full zone refuses in bursts */
    *logit = (sh->refused_logged != ngx_time());
    sh->refused_logged = ngx_time();
    sh->refused++;

    return NGX_BUSY;
}


/*
 * An admitted submit holds a place and one of its user's submits in
 * flight (once: a verdict reached after the place was taken comes back
 * for the rest).
 */
static void
ngx_http_mj_admit_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_admit_t *a,
    ngx_http_mj_counters_t *u)
{
    if (!a->reserved) {
        sh->reserved++;
        a->reserved = 1;
    }

    a->charged = a->limits.charged;
    a->charge_day = a->limits.day;

    if (u && !a->inflight) {
        u->inflight++;
        u->held += a->charged;
        a->inflight = 1;
    }

    ngx_http_mj_pending_mark_locked(sh, a,
                                    NGX_HTTP_MJ_PEND_RESERVED
                                    |(a->inflight ? NGX_HTTP_MJ_PEND_INFLIGHT
                                                  : 0));
}


/* an admitted submit's place; NGX_BUSY: none, and nothing stays charged */
static ngx_int_t
ngx_http_mj_claim_locked(ngx_http_mj_zone_t *z, ngx_http_mj_admit_t *a,
    ngx_http_mj_counters_t *u, ngx_uint_t *logit)
{
    ngx_http_mj_verdict_t  *v;

    v = &a->limits;

    if (ngx_http_mj_place_locked(z, a->log, logit) == NGX_OK) {
        ngx_http_mj_admit_locked(z->sh, a, u);
        return NGX_OK;
    }

    /* no room for its task: nothing charged */
    if (u) {
        u->quota_used -= ngx_min(u->quota_used, v->charged);
        u->submits--;
    }

    v->charged = 0;

    return NGX_BUSY;
}


ngx_int_t
ngx_http_mj_zone_admit(ngx_http_mj_admit_t *a)
{
    ngx_int_t                rc;
    ngx_uint_t               logit, nolog, found;
    ngx_http_mj_zone_t      *z;
    ngx_http_mj_verdict_t   *v;
    ngx_http_mj_counters_t  *u;

    z = a->store;
    v = &a->limits;
    rc = NGX_OK;
    logit = 0;
    nolog = 1;

    ngx_shmtx_lock(&z->shpool->mutex);

    found = ngx_http_mj_lookup_locked(z->sh, a);

    if (a->resolve && a->missing) {
        /* Redis is asked for them first: nothing counts yet */
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }

    if (!found) {
        /* not the user's: the request counts against its rate only */
        rc = NGX_DECLINED;
        v->mode = NGX_HTTP_MJ_LIMIT_RATE;
        v->submit = 0;

    } else if (v->action == MJ_ACT_NONE && a->ntids == 1 && !a->list) {
        /* a modal step is its MODAL task's action */
        v->action = a->info[0].action;
    }

    u = a->deferred ? NULL
                    : ngx_http_mj_ustat_locked(z->sh, a->owner,
                                               v->mode
                                               != NGX_HTTP_MJ_LIMIT_PEEK);

    if (u) {
        ngx_http_mj_limit_apply(u, v);

    } else if (v->mode != NGX_HTTP_MJ_LIMIT_PEEK && !a->deferred) {
        /* a peek finds an empty bucket: the full check comes after */
        nolog = (z->sh->users_logged == v->now);
        z->sh->users_logged = v->now;

        /* with no limit to keep, the request goes on uncounted */
        if (ngx_http_mj_limit_counted(v)) {
            rc = NGX_ABORT;
        }
    }

    if (rc == NGX_OK && a->place && v->reject == NGX_HTTP_MJ_REJ_N) {
        rc = ngx_http_mj_claim_locked(z, a, u, &logit);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (logit) {
        ngx_log_error(NGX_LOG_ERR, a->log, 0,
                      "mj_zone \"%V\" is full and nothing can be evicted: "
                      "submits refused", &z->shm_zone->shm.name);
    }

    if (rc == NGX_ABORT && !nolog) {
        ngx_log_error(NGX_LOG_ERR, a->log, 0,
                      "mj_zone \"%V\" has no room for more users' "
                      "counters: raise its users=", &z->shm_zone->shm.name);
    }

    return rc;
}


/*
 * Under the lock: what an admitted submit held goes back; its units too
 * if "refund", else they are no longer held but settled (what the journal
 * keeps of them).  The user's counters, or NULL.
 */
static ngx_http_mj_counters_t *
ngx_http_mj_settle_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_admit_t *a,
    ngx_uint_t refund)
{
    ngx_http_mj_counters_t  *u;

    if (a->reserved && sh->reserved) {
        sh->reserved--;
    }

    u = ngx_http_mj_ustat_locked(sh, a->owner, 0);

    if (u && a->inflight && u->inflight) {
        u->inflight--;
    }

    if (u && a->inflight) {
        u->held -= ngx_min(u->held, a->charged);
    }

    if (u && refund && a->charged && u->day == a->charge_day) {
        u->quota_used -= ngx_min(u->quota_used, a->charged);
    }

    ngx_http_mj_pending_clear_locked(sh, &a->pending,
                                     NGX_HTTP_MJ_PEND_RESERVED
                                     |NGX_HTTP_MJ_PEND_INFLIGHT);

    a->reserved = 0;
    a->inflight = 0;
    a->charged = 0;

    return u;
}


/*
 * A submit's task recorded, as a commit (and its replay) does it: a
 * confirmed modal step is the same task, running now; a running task
 * counts against its owner's cap.  NGX_OK, NGX_DECLINED, NGX_BUSY.
 */
static ngx_int_t
ngx_http_mj_commit_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *rec)
{
    ngx_int_t            rc;
    ngx_http_mj_task_t  *t;

    rc = ngx_http_mj_insert_slot_locked(sh, rec, &t);

    if (rc != NGX_OK) {
        return rc;
    }

    if (t->status == NGX_HTTP_MJ_ST_MODAL
        && rec->status != NGX_HTTP_MJ_ST_MODAL)
    {
        t->status = rec->status;
        t->seen = rec->seen;
    }

    if (t->status != NGX_HTTP_MJ_ST_MODAL) {
        ngx_http_mj_track_locked(sh, t);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mj_zone_commit(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tid,
    uint32_t ukey, ngx_uint_t action, ngx_uint_t status, ngx_uint_t refund)
{
    ngx_int_t                rc;
    ngx_http_mj_zone_t      *z;
    ngx_http_mj_task_t       rec;
    ngx_http_mj_jbatch_t     jb;
    ngx_http_mj_counters_t  *u;

    z = a->store;

    ngx_memzero(&rec, sizeof(rec));
    rec.id = tid->id;
    rec.flags = tid->flags;
    rec.owner = a->owner;
    rec.ukey = ukey;
    rec.created = (uint32_t) ngx_time();
    rec.seen = rec.created;
    rec.status = (uint8_t) status;
    rec.action = (uint16_t) action;

    ngx_http_mj_jbatch_init(&jb);

    ngx_shmtx_lock(&z->shpool->mutex);

    /* its place is taken by the task itself */
    if (a->reserved && z->sh->reserved) {
        z->sh->reserved--;
    }

    a->reserved = 0;

    rc = ngx_http_mj_commit_locked(z->sh, &rec);

    u = ngx_http_mj_settle_locked(z->sh, a, refund);

    /* the task and its charge reach the journal before the client's id */
    if (rc == NGX_OK) {
        ngx_http_mj_journal_task_locked(z, &jb, MJ_JOURNAL_COMMIT, &rec);
    }

    ngx_http_mj_journal_user_locked(z, &jb, u);

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_mj_journal_flush(z, &jb, a->log);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, a->log, 0,
                      "mj: the upstream answered with a task id another "
                      "user owns; not recorded");
    }

    return rc;
}


void
ngx_http_mj_zone_release(ngx_http_mj_admit_t *a, ngx_uint_t refund)
{
    ngx_uint_t               kept;
    ngx_http_mj_zone_t      *z;
    ngx_http_mj_jbatch_t     jb;
    ngx_http_mj_counters_t  *u;

    if (!a->reserved && !a->inflight && !a->charged) {
        return;
    }

    z = a->store;
    kept = (a->charged && !refund);

    ngx_http_mj_jbatch_init(&jb);

    ngx_shmtx_lock(&z->shpool->mutex);

    u = ngx_http_mj_settle_locked(z->sh, a, refund);

    /* units kept without a task are settled: a crash keeps them too */
    if (kept) {
        ngx_http_mj_journal_user_locked(z, &jb, u);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_mj_journal_flush(z, &jb, a->log);
}


/* a status seen: noted, and journaled if it changed */
static void
ngx_http_mj_status_locked(ngx_http_mj_zone_t *z, ngx_http_mj_task_t *t,
    ngx_uint_t status, ngx_http_mj_jbatch_t *jb)
{
    if (t->status == status) {
        return;
    }

    ngx_http_mj_set_status_locked(z->sh, t, status);
    ngx_http_mj_journal_task_locked(z, jb, MJ_JOURNAL_STATUS, t);
}


void
ngx_http_mj_zone_status(ngx_http_mj_store_t *store, ngx_http_mj_tid_t *tid,
    ngx_uint_t status)
{
    ngx_http_mj_task_t    *t;
    ngx_http_mj_jbatch_t   jb;

    ngx_http_mj_jbatch_init(&jb);

    ngx_shmtx_lock(&store->shpool->mutex);

    t = ngx_http_mj_find_locked(store->sh, tid);

    if (t) {
        ngx_http_mj_status_locked(store, t, status, &jb);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    ngx_http_mj_journal_flush(store, &jb, ngx_cycle->log);
}


void
ngx_http_mj_zone_list(ngx_http_mj_store_t *store, uint64_t owner,
    ngx_http_mj_tid_t *tids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info)
{
    ngx_uint_t             i;
    ngx_http_mj_task_t    *t;
    ngx_http_mj_jbatch_t   jb;

    ngx_http_mj_jbatch_init(&jb);

    ngx_shmtx_lock(&store->shpool->mutex);

    for (i = 0; i < n; i++) {
        t = ngx_http_mj_find_locked(store->sh, &tids[i]);

        ngx_memzero(&info[i], sizeof(ngx_http_mj_task_info_t));

        if (t == NULL || t->owner != owner) {
            continue;
        }

        /* the status before this answer: what a store behind the zone
         * may have to be told */
        info[i].owner = t->owner;
        info[i].ukey = t->ukey;
        info[i].action = t->action;
        info[i].status = t->status;
        info[i].kept = 1;

        if (status[i] != NGX_HTTP_MJ_ST_UNKNOWN) {
            ngx_http_mj_status_locked(store, t, status[i], &jb);
        }
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    ngx_http_mj_journal_flush(store, &jb, ngx_cycle->log);
}


/*
 * A journal record at a start, done again as the store did it: a commit
 * makes room first as its admission did (the zone evicts what it would
 * have evicted then); a status applies to the task if it is there.
 */
ngx_int_t
ngx_http_mj_replay_task_locked(ngx_http_mj_zone_t *z, ngx_uint_t type,
    ngx_http_mj_task_t *rec, ngx_log_t *log)
{
    ngx_uint_t           found;
    ngx_http_mj_task_t  *t;

    if (rec->owner == 0 || rec->status > NGX_HTTP_MJ_ST_CANCEL) {
        return NGX_ERROR;
    }

    t = ngx_http_mj_probe_rec(z->sh, rec, &found);

    if (type == MJ_JOURNAL_STATUS) {
        if (found) {
            ngx_http_mj_set_status_locked(z->sh, t, rec->status);
            t->seen = rec->seen;
        }

        return NGX_OK;
    }

    if (!found && z->sh->count >= z->sh->max) {
        (void) ngx_http_mj_evict(z, log);
    }

    return ngx_http_mj_commit_locked(z->sh, rec) == NGX_BUSY
           ? NGX_ERROR : NGX_OK;
}


/*
 * The verdict on a request the zone admitted with a->deferred, reached
 * behind it (Redis): counted on the user's counters ("used": the day's
 * units as Redis counts them, or -1).  With "local", Redis could not be
 * asked (fail=open): the verdict is reached here, on the node's counters.
 * A refused submit gives its place back.  NGX_OK, or NGX_ABORT (no room
 * for the user's counters, and limits to keep: the place goes back too).
 */
ngx_int_t
ngx_http_mj_zone_verdict(ngx_http_mj_admit_t *a, ngx_uint_t local,
    ngx_int_t used)
{
    ngx_int_t                rc;
    ngx_http_mj_zone_t      *z;
    ngx_http_mj_verdict_t   *v;
    ngx_http_mj_counters_t  *u;

    z = a->store;
    v = &a->limits;
    rc = NGX_OK;

    ngx_shmtx_lock(&z->shpool->mutex);

    u = ngx_http_mj_ustat_locked(z->sh, a->owner, 1);

    if (u == NULL) {
        rc = (local && ngx_http_mj_limit_counted(v)) ? NGX_ABORT : NGX_OK;

    } else if (local) {
        ngx_http_mj_limit_apply(u, v);

    } else {
        ngx_http_mj_limit_count(u, v);

        if (used >= 0) {
            u->day = v->day;
            u->quota_used = (uint32_t) used;
        }
    }

    if (a->reserved) {
        if (rc != NGX_OK || v->reject != NGX_HTTP_MJ_REJ_N) {
            ngx_http_mj_settle_locked(z->sh, a, 0);

        } else {
            /* what it holds now: the units charged, one more in flight */
            ngx_http_mj_admit_locked(z->sh, a, u);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


/*
 * Tasks Redis told of, kept in the zone: an owner never changes, so they
 * are not asked for again.  A full zone makes room as for a submit; a task
 * that finds none is not kept, and is asked for again next time.
 */
void
ngx_http_mj_zone_cache(ngx_http_mj_zone_t *z, ngx_http_mj_task_t *recs,
    ngx_uint_t n, ngx_log_t *log)
{
    ngx_uint_t              i;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < n; i++) {
        if (sh->count + sh->reserved >= sh->max && !ngx_http_mj_evict(z, log))
        {
            break;
        }

        (void) ngx_http_mj_insert_locked(sh, &recs[i]);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/*
 * Up to "max" records of the zone's tasks (or, "users", of its users'
 * counters) from slot *cursor on, copied into "buf" under the lock, for
 * work done without it; *cursor moves past them.  How many were copied.
 */
ngx_uint_t
ngx_http_mj_zone_copy(ngx_http_mj_zone_t *z, ngx_uint_t users,
    ngx_uint_t *cursor, void *buf, ngx_uint_t max)
{
    ngx_uint_t              n;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = users ? ngx_http_mj_table_copy((u_char *) sh->users, sh->nusers,
                                       sizeof(ngx_http_mj_counters_t),
                                       offsetof(ngx_http_mj_counters_t,
                                                owner),
                                       cursor, buf, max)
              : ngx_http_mj_table_copy((u_char *) sh->tasks, sh->nslots,
                                       sizeof(ngx_http_mj_task_t),
                                       offsetof(ngx_http_mj_task_t, owner),
                                       cursor, buf, max);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n;
}


ngx_uint_t
ngx_http_mj_status_code(const u_char *s, size_t len)
{
    static ngx_str_t  names[] = {
        ngx_null_string,
        ngx_string("NOT_START"),
        ngx_string("SUBMITTED"),
        ngx_string("MODAL"),
        ngx_string("IN_PROGRESS"),
        ngx_string("SUCCESS"),
        ngx_string("FAILURE"),
        ngx_string("CANCEL")
    };

    ngx_uint_t  i;

    for (i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].len == len && ngx_strncmp(names[i].data, s, len) == 0) {
            return i;
        }
    }

    return NGX_HTTP_MJ_ST_UNKNOWN;
}


/*
 * Upstream task ids are digits (a millisecond time and three random
 * digits): those are kept exactly.  Any other id is kept as 64 bits of a
 * SHA-256 keyed with the zone's secret (prefixed: the hashes are never
 * shown, so no length extension helps anyone), so ids cannot be chosen
 * to collide.
 */
ngx_int_t
ngx_http_mj_store_tid(ngx_http_mj_store_t *store, u_char *id, size_t len,
    ngx_http_mj_tid_t *tid)
{
    size_t      i;
    uint64_t    v, tag;
    u_char      md[EVP_MAX_MD_SIZE];

    if (!ngx_http_mj_valid_task_id(id, len)) {
        return NGX_ERROR;
    }

    if (len <= 19 && id[0] != '0') {
        v = 0;

        for (i = 0; i < len; i++) {
            if (id[i] < '0' || id[i] > '9') {
                break;
            }

            v = v * 10 + (id[i] - '0');
        }

        if (i == len) {
            tid->id = v;
            tid->flags = 0;
            return NGX_OK;
        }
    }

    tid->flags = NGX_HTTP_MJ_TASK_HASHED;

    /* the zone's secret is fixed for the life of this configuration */
    if (ngx_http_mj_cache_find(store->tids, id, len, &tag, &tid->id)) {
        return NGX_OK;
    }

    if (ngx_http_mj_sha256(store->sh->secret, sizeof(store->sh->secret), id,
                           len, md)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(&tid->id, md, sizeof(tid->id));
    ngx_http_mj_cache_add(store->tids, id, len, tag, tid->id);

    return NGX_OK;
}


/* the running cycle's zone of this name, or NULL */
static ngx_http_mj_zone_t *
ngx_http_mj_zone_running(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *old;
    ngx_list_part_t  *part;

    if (ngx_cycle == NULL || ngx_cycle->shared_memory.part.elts == NULL) {
        return NULL;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;

    for ( /* void */ ; part; part = part->next) {
        old = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (old[i].tag == shm_zone->tag
                && old[i].shm.name.len == shm_zone->shm.name.len
                && ngx_strncmp(old[i].shm.name.data, shm_zone->shm.name.data,
                               shm_zone->shm.name.len) == 0
                && old[i].data && ((ngx_http_mj_zone_t *) old[i].data)->sh)
            {
                return old[i].data;
            }
        }
    }

    return NULL;
}


/*
 * A reload that resized the zone makes a new one.  The running cycle's
 * zone of the same name is still mapped: copy what it holds, which is
 * newer than the last snapshot.  NGX_DECLINED when there is none.
 */
static ngx_int_t
ngx_http_mj_zone_carry_over(ngx_http_mj_zone_t *z, ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t               i, copied, lost, level;
    ngx_http_mj_zone_t      *oz;
    ngx_http_mj_counters_t  *u;
    ngx_http_mj_zone_sh_t   *osh;

    oz = ngx_http_mj_zone_running(shm_zone);
    if (oz == NULL) {
        return NGX_DECLINED;
    }

    osh = oz->sh;
    copied = 0;
    lost = 0;

    ngx_shmtx_lock(&oz->shpool->mutex);

    ngx_memcpy(z->sh->secret, osh->secret, sizeof(osh->secret));

    for (i = 0; i < osh->nslots; i++) {
        if (osh->tasks[i].owner == 0) {
            continue;
        }

        if (ngx_http_mj_insert_locked(z->sh, &osh->tasks[i]) == NGX_OK) {
            copied++;

        } else {
            lost++;
        }
    }

    for (i = 0; i < osh->nusers; i++) {
        if (osh->users[i].owner) {
            u = ngx_http_mj_ustat_locked(z->sh, osh->users[i].owner, 1);
            if (u) {
                *u = osh->users[i];

                /* old workers answer their submits in the old zone */
                u->inflight = 0;
                u->held = 0;
            }
        }
    }

    z->sh->evicted = osh->evicted;
    z->sh->refused = osh->refused;

    /*
     * The journal goes on in a file of its own (generations skipped for
     * the old manager's snapshots, if it writes any before it quits),
     * and a record of the old workers sorts before any of the new zone's.
     * What old workers record from now on is not in the new zone; the new
     * manager's first call writes a snapshot of it, so that a crash does
     * not bring those records back from the journal either.
     */
    z->sh->jgen = osh->jgen + 16;
    z->sh->jseq = osh->jseq + ((uint64_t) 1 << 32);
    z->sh->snap_soon = 1;

    ngx_shmtx_unlock(&oz->shpool->mutex);

    level = lost ? NGX_LOG_WARN : NGX_LOG_NOTICE;

    ngx_log_error(level, shm_zone->shm.log, 0,
                  "mj_zone \"%V\" was resized: %ui tasks carried over, "
                  "%ui did not fit", &shm_zone->shm.name, copied, lost);

    return NGX_OK;
}


/*
 * A new zone: the whole of it but one page is the task table, then the
 * submits in flight, then users' counters.
 */
static ngx_int_t
ngx_http_mj_zone_layout(ngx_http_mj_zone_t *z, ngx_shm_zone_t *shm_zone)
{
    size_t      size, tail;
    ngx_uint_t  pages, users, want, pending;

    pages = z->shpool->pfree;
    if (pages < 2) {
        return NGX_ERROR;
    }

    /* the whole zone but one page: the task table, then users' counters */
    size = (pages - 1) * ngx_pagesize;

    z->sh = ngx_slab_alloc(z->shpool, size);
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(z->sh, size);

    /* users asked for, or an eighth of the zone; slots for 3/4 full */
    want = shm_zone->shm.size / 8 / sizeof(ngx_http_mj_counters_t);
    want = z->users ? z->users : ngx_max(16, ngx_min(16384, want));
    users = want + want / 3 + 2;

    /* submits in flight: one a 4k of zone, bigger zones serve more */
    pending = ngx_max(32, ngx_min(4096, shm_zone->shm.size / 4096));
    tail = users * sizeof(ngx_http_mj_counters_t)
           + pending * sizeof(ngx_http_mj_pending_t);

    if (offsetof(ngx_http_mj_zone_sh_t, tasks) + tail
        + 64 * sizeof(ngx_http_mj_task_t) > size)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "mj_zone \"%V\" is too small for %ui users",
                      &shm_zone->shm.name, want);
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;
    z->sh->nusers = users;
    z->sh->users_max = want;
    z->sh->users = (ngx_http_mj_counters_t *)
                       ((u_char *) z->sh + size
                        - users * sizeof(ngx_http_mj_counters_t));
    z->sh->npending = pending;
    z->sh->pending = (ngx_http_mj_pending_t *) ((u_char *) z->sh + size
                                                - tail);
    z->sh->nslots = (size - offsetof(ngx_http_mj_zone_sh_t, tasks) - tail)
                    / sizeof(ngx_http_mj_task_t);
    z->sh->max = z->sh->nslots / 4 * 3;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mj_zone_t  *oz = data;

    ngx_http_mj_zone_t  *z;

    z = shm_zone->data;

    if (oz) {
        /* a reload: same name, size and tag, so the old table goes on */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    if (ngx_http_mj_zone_layout(z, shm_zone) != NGX_OK) {
        return NGX_ERROR;
    }

    if (RAND_bytes(z->sh->secret, sizeof(z->sh->secret)) != 1) {
        return NGX_ERROR;
    }

    z->shpool->log_nomem = 0;

    if (ngx_http_mj_zone_carry_over(z, shm_zone) == NGX_OK) {
        return NGX_OK;
    }

    z->sh->jgen = 1;

    if (z->state.len) {
        ngx_http_mj_state_restore(z, shm_zone->shm.log);
    }

    return NGX_OK;
}


/* zone=NAME:SIZE */
static ngx_int_t
ngx_http_mj_zone_size(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    size_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    name->data = value->data + 5;
    p = (u_char *) ngx_strchr(name->data, ':');

    if (p) {
        name->len = p - name->data;
        s.data = p + 1;
        s.len = value->data + value->len - s.data;
        *size = ngx_parse_size(&s);
    }

    if (p == NULL || *size == (size_t) NGX_ERROR || name->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NGX_ERROR;
    }

    if (*size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one of the other parameters: NGX_OK, NGX_ERROR, NGX_DECLINED (unknown) */
static ngx_int_t
ngx_http_mj_zone_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value)
{
    ngx_int_t  n;

    if (ngx_strncmp(value->data, "state=", 6) == 0) {
        z->state.data = value->data + 6;
        z->state.len = value->len - 6;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "snapshot=", 9) == 0) {
        z->snapshot = ngx_http_mj_conf_time(value, 9, 0);

        if (z->snapshot == (ngx_msec_t) NGX_ERROR || z->snapshot < 1000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid snapshot interval \"%V\" "
                               "(1s at least)", value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "users=", 6) == 0) {
        n = ngx_atoi(value->data + 6, value->len - 6);

        if (n == NGX_ERROR || n < 16) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid users \"%V\" (16 at least)", value);
            return NGX_ERROR;
        }

        z->users = n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "max_age=", 8) == 0) {
        z->max_age = ngx_http_mj_conf_time(value, 8, 1);

        if (z->max_age == (time_t) NGX_ERROR || z->max_age == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_age \"%V\"", value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    n = ngx_http_mj_journal_param(cf, z, value);

    if (n != NGX_DECLINED) {
        return n;
    }

    return ngx_http_mj_redis_zone_param(cf, z, value);
}


/*
 * mj_zone zone=NAME:SIZE [state=PATH|off] [snapshot=TIME] [journal=on|off]
 * [journal_fsync=off|always|TIME] [max_age=TIME] [users=N] [redis=...]
 */
char *
ngx_http_mj_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_main_conf_t  *mmcf = conf;

    size_t                size;
    ngx_int_t             rc;
    ngx_str_t            *value, name;
    ngx_uint_t            i;
    ngx_http_mj_zone_t   *z, **zp;

    value = cf->args->elts;

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&name);
    size = 0;
    z->snapshot = 30000;
    z->journal = 1;
    z->max_age = 7 * 86400;
    ngx_str_set(&z->state, NGX_HTTP_MJ_STATE_DIR);

    for (i = 1; i < cf->args->nelts; i++) {

        rc = (ngx_strncmp(value[i].data, "zone=", 5) == 0)
             ? ngx_http_mj_zone_size(cf, &value[i], &name, &size)
             : ngx_http_mj_zone_param(cf, z, &value[i]);

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
        }

        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mj_redis_zone_done(cf, z, &name) != NGX_OK
        || ngx_http_mj_rstore_conf(cf, z, &name) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mj_state_path(cf, z, &name) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    z->shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_mj_module);
    if (z->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (z->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate mj_zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    z->shm_zone->init = ngx_http_mj_zone_init;
    z->shm_zone->data = z;

    z->tids = ngx_http_mj_cache_create(cf->pool, NGX_HTTP_MJ_TIDS_CACHED);
    if (z->tids == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mmcf->zones.elts == NULL
        && ngx_array_init(&mmcf->zones, cf->pool, 2,
                          sizeof(ngx_http_mj_zone_t *)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    zp = ngx_array_push(&mmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = z;

    return NGX_CONF_OK;
}
