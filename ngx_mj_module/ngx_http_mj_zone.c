/*
 * ngx_http_mj_zone.c: which user owns which task, shared by all workers.
 *
 * "mj_zone zone=NAME:SIZE" holds a preallocated open-addressing table of
 * 32-byte records (linear probing, at most 3/4 full) in a slab pool, so a
 * check is one hash and a short probe under the pool's mutex, flat from a
 * thousand to millions of tasks.  When the table is full a clock hand
 * evicts a task seen finished, else the oldest past max_age; with neither,
 * submits are refused before they reach the upstream.
 *
 * The zone survives reloads (init_zone keeps the old table) and, through
 * a state file written by worker 0 every "snapshot" and by the master at
 * exit (temp file, fsync, rename), restarts.
 */

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_mj_module.h"


static ngx_int_t ngx_http_mj_zone_init(ngx_shm_zone_t *shm_zone, void *data);


static ngx_uint_t
ngx_http_mj_slot(ngx_http_mj_zone_sh_t *sh, uint64_t id)
{
    uint64_t  h;

    /* Fibonacci mixing, then a multiply-shift range reduction */
    h = (id * 0x9E3779B97F4A7C15ULL) >> 32;

    return (ngx_uint_t) ((h * sh->nslots) >> 32);
}


/* the slot of a task, or the free slot where it would go */
static ngx_uint_t
ngx_http_mj_probe(ngx_http_mj_zone_sh_t *sh, uint64_t id, uint8_t flags,
    ngx_uint_t *found)
{
    ngx_uint_t           i;
    ngx_http_mj_task_t  *t;

    i = ngx_http_mj_slot(sh, id);

    for ( ;; ) {
        t = &sh->tasks[i];

        if (t->owner == 0) {
            *found = 0;
            return i;
        }

        if (t->id == id && (t->flags & NGX_HTTP_MJ_TASK_HASHED) == flags) {
            *found = 1;
            return i;
        }

        if (++i == sh->nslots) {
            i = 0;
        }
    }
}


void
ngx_http_mj_untrack_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    uint64_t id)
{
    ngx_uint_t            k;
    ngx_http_mj_ustat_t  *u;

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


/* a task now running counts against its owner's cap of unfinished tasks */
static void
ngx_http_mj_track_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *t)
{
    ngx_uint_t            k, oldest;
    ngx_http_mj_ustat_t  *u;

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


/* backward-shift deletion keeps every probe chain unbroken */
static void
ngx_http_mj_delete(ngx_http_mj_zone_sh_t *sh, ngx_uint_t i)
{
    ngx_uint_t            j, home;
    ngx_http_mj_task_t   *t;
    ngx_http_mj_ustat_t  *u;

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
    j = i;

    for ( ;; ) {
        sh->tasks[i].owner = 0;

        for ( ;; ) {
            if (++j == sh->nslots) {
                j = 0;
            }

            t = &sh->tasks[j];

            if (t->owner == 0) {
                return;
            }

            home = ngx_http_mj_slot(sh, t->id);

            /* can the entry at j move back to the hole at i? */
            if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
                break;
            }
        }

        sh->tasks[i] = *t;
        i = j;
    }
}


static ngx_uint_t
ngx_http_mj_evict(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    time_t                  now, oldest;
    ngx_uint_t              n, i, victim, aged, batch;
    ngx_http_mj_task_t     *t;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;
    now = ngx_time();
    oldest = now;
    aged = 0;
    victim = NGX_ERROR;

    if (sh->finished) {
        for (n = 0; n < sh->nslots; n++) {
            i = sh->cursor;
            sh->cursor = (i + 1 == sh->nslots) ? 0 : i + 1;

            t = &sh->tasks[i];
            if (t->owner && ngx_http_mj_finished(t->status)) {
                victim = i;
                break;
            }
        }

    } else if (now >= sh->young_until) {
        for (i = 0; i < sh->nslots; i++) {
            t = &sh->tasks[i];
            if (t->owner && (time_t) t->created < oldest) {
                oldest = t->created;
                victim = i;
            }
        }

        if (victim != (ngx_uint_t) NGX_ERROR && now - oldest < z->max_age) {
            /* nothing can go before the oldest comes of age */
            sh->young_until = oldest + z->max_age;
            victim = NGX_ERROR;
        }

        aged = 1;
    }

    if (victim == (ngx_uint_t) NGX_ERROR) {
        return 0;
    }

    if (!sh->full_logged) {
        sh->full_logged = 1;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\" is full (%ui tasks): evicting tasks "
                      "seen finished, then tasks older than max_age",
                      &z->shm_zone->shm.name, sh->count);
    }

    ngx_http_mj_delete(sh, victim);
    sh->evicted++;

    if (aged) {
        /*
         * Finding the oldest took a pass over the whole table: let a few
         * more tasks of that second go too (a 64th of the zone, 64 at
         * most), so that the submits after this one find room without a
         * pass each.
         */
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
    }

    return 1;
}


ngx_int_t
ngx_http_mj_task_reserve(ngx_http_mj_zone_t *z, ngx_uint_t *pending,
    uint64_t owner, ngx_log_t *log)
{
    ngx_int_t               rc;
    ngx_http_mj_zone_sh_t  *sh;

    sh = z->sh;
    rc = NGX_OK;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (sh->count + sh->reserved >= sh->max
        && !ngx_http_mj_evict(z, log))
    {
        /* logged once a second at most: a full zone refuses in bursts */
        rc = (sh->refused_logged == ngx_time()) ? NGX_DECLINED : NGX_BUSY;
        sh->refused_logged = ngx_time();
        sh->refused++;

    } else {
        sh->reserved++;
        ngx_http_mj_pending_mark_locked(sh, pending, owner,
                                        NGX_HTTP_MJ_PEND_RESERVED);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\" is full and nothing can be evicted: "
                      "submits refused", &z->shm_zone->shm.name);
    }

    if (rc == NGX_DECLINED) {
        rc = NGX_BUSY;
    }

    return rc;
}


static void
ngx_http_mj_unreserve_locked(ngx_http_mj_zone_sh_t *sh, ngx_uint_t *pending)
{
    if (sh->reserved) {
        sh->reserved--;
    }

    ngx_http_mj_pending_clear_locked(sh, pending, NGX_HTTP_MJ_PEND_RESERVED);
}


void
ngx_http_mj_task_release(ngx_http_mj_zone_t *z, ngx_uint_t *pending)
{
    ngx_shmtx_lock(&z->shpool->mutex);
    ngx_http_mj_unreserve_locked(z->sh, pending);
    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_int_t
ngx_http_mj_insert_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_mj_task_t *rec)
{
    ngx_uint_t            i, found;
    ngx_http_mj_task_t   *t;
    ngx_http_mj_ustat_t  *u;

    i = ngx_http_mj_probe(sh, rec->id, rec->flags & NGX_HTTP_MJ_TASK_HASHED,
                          &found);
    t = &sh->tasks[i];

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
ngx_http_mj_task_commit(ngx_http_mj_zone_t *z, ngx_uint_t *pending,
    ngx_http_mj_tid_t *tid, uint64_t owner, uint32_t ukey, ngx_uint_t action,
    ngx_uint_t status, ngx_log_t *log)
{
    ngx_int_t            rc;
    ngx_uint_t           i, found;
    ngx_http_mj_task_t   rec, *t;

    ngx_memzero(&rec, sizeof(rec));
    rec.id = tid->id;
    rec.flags = tid->flags;
    rec.owner = owner;
    rec.ukey = ukey;
    rec.created = (uint32_t) ngx_time();
    rec.seen = rec.created;
    rec.status = (uint8_t) status;
    rec.spare = (uint16_t) action;

    ngx_shmtx_lock(&z->shpool->mutex);

    ngx_http_mj_unreserve_locked(z->sh, pending);

    rc = ngx_http_mj_insert_locked(z->sh, &rec);

    if (rc == NGX_OK) {
        i = ngx_http_mj_probe(z->sh, tid->id, tid->flags, &found);
        t = &z->sh->tasks[i];

        if (t->status == NGX_HTTP_MJ_ST_MODAL
            && status != NGX_HTTP_MJ_ST_MODAL)
        {
            /* a confirmed modal step: the same task, running now */
            t->status = (uint8_t) status;
            t->seen = rec.seen;
        }

        if (t->status != NGX_HTTP_MJ_ST_MODAL) {
            ngx_http_mj_track_locked(z->sh, t);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj: the upstream answered with a task id another "
                      "user owns; not recorded");
    }

    return rc;
}


uint64_t
ngx_http_mj_task_owner(ngx_http_mj_zone_t *z, ngx_http_mj_tid_t *tid,
    uint32_t *ukey, ngx_uint_t *action)
{
    uint64_t             owner;
    ngx_uint_t           i, found;
    ngx_http_mj_task_t  *t;

    owner = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    i = ngx_http_mj_probe(z->sh, tid->id, tid->flags, &found);

    if (found) {
        t = &z->sh->tasks[i];
        owner = t->owner;
        *ukey = t->ukey;

        if (action) {
            *action = t->spare;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return owner;
}


void
ngx_http_mj_task_status(ngx_http_mj_zone_t *z, ngx_http_mj_tid_t *tid,
    ngx_uint_t status)
{
    ngx_uint_t           i, found;
    ngx_http_mj_task_t  *t;

    ngx_shmtx_lock(&z->shpool->mutex);

    i = ngx_http_mj_probe(z->sh, tid->id, tid->flags, &found);

    if (found) {
        t = &z->sh->tasks[i];

        if (t->status != status) {
            if (ngx_http_mj_finished(status)
                && !ngx_http_mj_finished(t->status))
            {
                z->sh->finished++;
                ngx_http_mj_untrack_locked(z->sh, t->owner, t->id);

            } else if (!ngx_http_mj_finished(status)
                       && ngx_http_mj_finished(t->status))
            {
                z->sh->finished--;
            }

            t->status = (uint8_t) status;
            t->seen = (uint32_t) ngx_time();
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_uint_t
ngx_http_mj_status_code(u_char *s, size_t len)
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
ngx_http_mj_tid(ngx_http_mj_zone_t *z, ngx_str_t *id, ngx_http_mj_tid_t *tid)
{
    size_t      i;
    uint64_t    v;
    u_char      md[EVP_MAX_MD_SIZE];

    if (!ngx_http_mj_valid_task_id(id->data, id->len)) {
        return NGX_ERROR;
    }

    if (id->len <= 19 && id->data[0] != '0') {
        v = 0;

        for (i = 0; i < id->len; i++) {
            if (id->data[i] < '0' || id->data[i] > '9') {
                break;
            }

            v = v * 10 + (id->data[i] - '0');
        }

        if (i == id->len) {
            tid->id = v;
            tid->flags = 0;
            return NGX_OK;
        }
    }

    if (ngx_http_mj_sha256(z->sh->secret, sizeof(z->sh->secret), id->data,
                           id->len, md) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(&tid->id, md, sizeof(tid->id));
    tid->flags = NGX_HTTP_MJ_TASK_HASHED;

    return NGX_OK;
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
    ngx_list_part_t         *part;
    ngx_shm_zone_t          *old;
    ngx_http_mj_zone_t      *oz;
    ngx_http_mj_ustat_t     *u;
    ngx_http_mj_zone_sh_t   *osh;

    if (ngx_cycle == NULL || ngx_cycle->shared_memory.part.elts == NULL) {
        return NGX_DECLINED;
    }

    oz = NULL;
    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;

    for ( /* void */ ; part && oz == NULL; part = part->next) {
        old = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (old[i].tag == shm_zone->tag
                && old[i].shm.name.len == shm_zone->shm.name.len
                && ngx_strncmp(old[i].shm.name.data, shm_zone->shm.name.data,
                               shm_zone->shm.name.len) == 0
                && old[i].data && ((ngx_http_mj_zone_t *) old[i].data)->sh)
            {
                oz = old[i].data;
                break;
            }
        }
    }

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
            }
        }
    }

    z->sh->evicted = osh->evicted;
    z->sh->refused = osh->refused;

    ngx_shmtx_unlock(&oz->shpool->mutex);

    level = lost ? NGX_LOG_WARN : NGX_LOG_NOTICE;

    ngx_log_error(level, shm_zone->shm.log, 0,
                  "mj_zone \"%V\" was resized: %ui tasks carried over, "
                  "%ui did not fit", &shm_zone->shm.name, copied, lost);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mj_zone_t  *oz = data;

    size_t               size, tail;
    ngx_uint_t           pages, users, want, pending;
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
    want = shm_zone->shm.size / 8 / sizeof(ngx_http_mj_ustat_t);
    want = z->users ? z->users : ngx_max(16, ngx_min(16384, want));
    users = want + want / 3 + 2;

    /* submits in flight: one a 4k of zone, bigger zones serve more */
    pending = ngx_max(32, ngx_min(4096, shm_zone->shm.size / 4096));
    tail = users * sizeof(ngx_http_mj_ustat_t)
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
    z->sh->users = (ngx_http_mj_ustat_t *)
                       ((u_char *) z->sh + size
                        - users * sizeof(ngx_http_mj_ustat_t));
    z->sh->npending = pending;
    z->sh->pending = (ngx_http_mj_pending_t *) ((u_char *) z->sh + size
                                                - tail);
    z->sh->nslots = (size - offsetof(ngx_http_mj_zone_sh_t, tasks) - tail)
                    / sizeof(ngx_http_mj_task_t);
    z->sh->max = z->sh->nslots / 4 * 3;

    if (RAND_bytes(z->sh->secret, sizeof(z->sh->secret)) != 1) {
        return NGX_ERROR;
    }

    z->shpool->log_nomem = 0;

    if (ngx_http_mj_zone_carry_over(z, shm_zone) == NGX_OK) {
        return NGX_OK;
    }

    if (z->state.len) {
        ngx_http_mj_state_restore(z, shm_zone->shm.log);
    }

    return NGX_OK;
}


/* mj_zone zone=NAME:SIZE [state=PATH|off] [snapshot=TIME] [max_age=TIME] */
char *
ngx_http_mj_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_main_conf_t  *mmcf = conf;

    u_char               *p;
    size_t                size;
    ngx_int_t             n, rc;
    ngx_str_t            *value, name, s;
    ngx_uint_t            i;
    ngx_path_t           *path;
    ngx_http_mj_zone_t   *z, **zp;

    value = cf->args->elts;

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&name);
    size = 0;
    z->snapshot = 30000;
    z->max_age = 7 * 86400;
    ngx_str_set(&z->state, NGX_HTTP_MJ_STATE_DIR);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == (size_t) NGX_ERROR || name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < 8 * ngx_pagesize) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0) {
            z->state.data = value[i].data + 6;
            z->state.len = value[i].len - 6;
            continue;
        }

        if (ngx_strncmp(value[i].data, "snapshot=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            z->snapshot = ngx_parse_time(&s, 0);

            if (z->snapshot == (ngx_msec_t) NGX_ERROR || z->snapshot < 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid snapshot interval \"%V\" "
                                   "(1s at least)", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "users=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n < 16) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid users \"%V\" (16 at least)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            z->users = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            z->max_age = ngx_parse_time(&s, 1);

            if (z->max_age == (time_t) NGX_ERROR || z->max_age == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_age \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_http_mj_redis_zone_param(cf, z, &value[i]);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
        }

        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mj_redis_zone_done(cf, z, &name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (z->state.len == 3 && ngx_strncmp(z->state.data, "off", 3) == 0) {
        ngx_str_null(&z->state);

    } else {
        if (z->state.len == sizeof(NGX_HTTP_MJ_STATE_DIR) - 1
            && ngx_strncmp(z->state.data, NGX_HTTP_MJ_STATE_DIR,
                           z->state.len) == 0)
        {
            /* the default: <dir>/<zone>.state */
            s.len = z->state.len + 1 + name.len + sizeof(".state") - 1;
            s.data = ngx_pnalloc(cf->pool, s.len);
            if (s.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_sprintf(s.data, "%V/%V.state", &z->state, &name);
            z->state = s;
        }

        if (ngx_conf_full_name(cf->cycle, &z->state, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /*
         * The folder is an nginx path: created at start and given to the
         * worker user, as proxy_temp_path is, so workers can write there.
         */
        path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
        if (path == NULL) {
            return NGX_CONF_ERROR;
        }

        path->name = z->state;
        while (path->name.len && path->name.data[path->name.len - 1] != '/') {
            path->name.len--;
        }

        if (path->name.len > 1) {
            path->name.len--;
        }

        path->name.data = ngx_pstrdup(cf->pool, &path->name);
        if (path->name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        /* ngx_create_paths() wants a NUL-terminated name */
        p = ngx_pnalloc(cf->pool, path->name.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, path->name.data, path->name.len);
        p[path->name.len] = '\0';
        path->name.data = p;
        path->conf_file = cf->conf_file->file.name.data;
        path->line = cf->conf_file->line;

        if (ngx_add_path(cf, &path) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
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
