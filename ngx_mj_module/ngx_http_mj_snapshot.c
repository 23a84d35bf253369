/*
 * ngx_http_mj_snapshot.c: the snapshots that write a zone's state file
 * (its format: mj_state_parse.h), out of the workers' way.
 *
 * They are written by nginx's cache manager process, which nginx starts
 * because the state file's folder is a path with a manager
 * (ngx_http_mj_state_path()): a process beside the workers that serves no
 * request, so its writes, fsyncs and renames never stall one.  The zone's
 * lock is taken for a block at a time (a scan of a few thousand slots and
 * a copy of a 4k block), so a worker waits microseconds for it at most.
 * The master writes the last snapshot when nginx stops, the workers gone;
 * with master_process off the one process writes them on a timer.
 *
 * A snapshot starts a new journal generation first, under the lock: every
 * change after that point is in the new journal, and every change before
 * it is in the zone the snapshot copies, so the file and the journals from
 * its generation on hold everything, whatever changes while the copy goes
 * on.  Only after the file is on disk (fsync, rename, fsync of the folder)
 * do the older journals go.  One snapshot of a zone runs at a time: the
 * zone notes the writer's pid.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <signal.h>
#include <sys/file.h>

#include "ngx_http_mj_module.h"
#include "mj_state_parse.h"


#define NGX_HTTP_MJ_SNAP_SCAN    4096   /* slots looked at in one locking */
#define NGX_HTTP_MJ_SNAP_BLOCKS  16     /* blocks written in one write() */


/* a table of the zone, as a section of the file */
typedef struct {
    u_char                    *slots;
    ngx_uint_t                 n;
    size_t                     size;
    size_t                     used;        /* a field 0 in a free slot */
    uint32_t                   kind;
    ngx_uint_t                 copies;
} ngx_http_mj_snap_table_t;


typedef struct {
    ngx_http_mj_zone_t        *z;
    ngx_log_t                 *log;
    ngx_uint_t                 how;
    ngx_fd_t                   fd;
    u_char                    *tmp;
    u_char                    *buf;
    size_t                     len;
    mj_state_head_t            head;
} ngx_http_mj_snap_t;


static ngx_event_t       ngx_http_mj_snapshot_event;

/* a timer's debug lines read its data as a connection: one with no fd */
static ngx_connection_t  ngx_http_mj_snapshot_dumb;


/* the zone's snapshot is ours, unless a live process writes one */
static ngx_int_t
ngx_http_mj_snapshot_begin(ngx_http_mj_snap_t *s)
{
    ngx_pid_t               pid;
    ngx_http_mj_zone_sh_t  *sh;

    sh = s->z->sh;

    ngx_shmtx_lock(&s->z->shpool->mutex);

    pid = sh->snap_pid;

    if (pid && pid != ngx_pid && s->how != NGX_HTTP_MJ_SNAP_EXIT
        && (kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH))
    {
        ngx_shmtx_unlock(&s->z->shpool->mutex);
        return NGX_DECLINED;
    }

    sh->snap_pid = ngx_pid;
    sh->snap_soon = 0;

    /* from here on every change goes to the next journal */
    s->head.gen = ++sh->jgen;
    s->head.seq = sh->jseq;

    ngx_shmtx_unlock(&s->z->shpool->mutex);

    s->head.day = (uint32_t) (ngx_time() / 86400);
    ngx_memcpy(s->head.secret, sh->secret, sizeof(s->head.secret));

    return NGX_OK;
}


static void
ngx_http_mj_snapshot_end(ngx_http_mj_snap_t *s)
{
    ngx_shmtx_lock(&s->z->shpool->mutex);

    if (s->z->sh->snap_pid == ngx_pid) {
        s->z->sh->snap_pid = 0;
    }

    ngx_shmtx_unlock(&s->z->shpool->mutex);
}


static ngx_int_t
ngx_http_mj_snapshot_write(ngx_http_mj_snap_t *s)
{
    if (s->len
        && ngx_write_fd(s->fd, s->buf, s->len) != (ssize_t) s->len)
    {
        return NGX_ERROR;
    }

    s->len = 0;

    return NGX_OK;
}


/*
 * Up to a block of the table's used records from slot *i on, into b; the
 * lock is held for NGX_HTTP_MJ_SNAP_SCAN slots at most, so a sparse table
 * takes several lockings for a block.
 */
static uint32_t
ngx_http_mj_snapshot_fill(ngx_http_mj_snap_t *s, ngx_http_mj_snap_table_t *t,
    ngx_uint_t *i, u_char *b)
{
    u_char      *rec;
    uint32_t     k, max;
    ngx_uint_t   end;

    k = 0;
    max = mj_state_per_block(t->size);

    while (k < max && *i < t->n) {
        end = ngx_min(t->n, *i + NGX_HTTP_MJ_SNAP_SCAN);

        ngx_shmtx_lock(&s->z->shpool->mutex);

        for ( /* void */ ; *i < end && k < max; (*i)++) {
            rec = t->slots + *i * t->size;

            if (*(uint64_t *) (rec + t->used)) {
                ngx_memcpy(b + k++ * t->size, rec, t->size);
            }
        }

        ngx_shmtx_unlock(&s->z->shpool->mutex);
    }

    return k;
}


/* the manager stops when nginx does; meanwhile the journal stays synced */
static ngx_int_t
ngx_http_mj_snapshot_yield(ngx_http_mj_snap_t *s)
{
    if (s->how != NGX_HTTP_MJ_SNAP_MANAGER) {
        return NGX_OK;
    }

    if (ngx_quit || ngx_terminate) {
        return NGX_ABORT;
    }

    ngx_time_update();
    ngx_http_mj_journal_sync(s->z, s->log);

    return NGX_OK;
}


/* a table's blocks, each "copies" times; the records written, or -1 */
static ngx_int_t
ngx_http_mj_snapshot_table(ngx_http_mj_snap_t *s, ngx_http_mj_snap_table_t *t)
{
    u_char                  *b;
    uint32_t                 k, n, index;
    ngx_uint_t               i, c, total;
    ngx_http_mj_counters_t  *u;

    total = 0;

    for (i = 0, index = 0; i < t->n; index++) {
        b = s->buf + s->len;
        n = ngx_http_mj_snapshot_fill(s, t, &i, b + sizeof(mj_state_bhead_t));

        if (n == 0) {
            break;
        }

        mj_state_block_seal(b, t->kind, index, n, t->size, ngx_http_mj_crc);

        for (c = 1; c < t->copies; c++) {
            ngx_memcpy(b + c * MJ_STATE_BLOCK_SIZE, b, MJ_STATE_BLOCK_SIZE);
        }

        s->len += t->copies * MJ_STATE_BLOCK_SIZE;
        total += n;

        /* the quota units it holds, for the head: what a restore checks */
        for (k = 0; t->kind == MJ_STATE_USERS && k < n; k++) {
            u = (ngx_http_mj_counters_t *)
                    (b + sizeof(mj_state_bhead_t) + k * t->size);

            if (u->day == s->head.day) {
                s->head.units += ngx_http_mj_ustat_settled(u);
            }
        }

        if ((s->len + 2 * MJ_STATE_BLOCK_SIZE
             > NGX_HTTP_MJ_SNAP_BLOCKS * MJ_STATE_BLOCK_SIZE
             && ngx_http_mj_snapshot_write(s) != NGX_OK)
            || ngx_http_mj_snapshot_yield(s) != NGX_OK)
        {
            return -1;
        }
    }

    if (t->kind == MJ_STATE_USERS) {
        s->head.users = total;
        s->head.ublocks = index;

    } else {
        s->head.tasks = total;
        s->head.tblocks = index;
    }

    return total;
}


/*
 * The file in its place, unless a newer snapshot is there: after a reload
 * that resized the zone the old cycle's manager may finish one of the old
 * zone while the new one writes its own.  Under a lock on the folder, so
 * that the look and the rename are one step for other writers.
 */
static ngx_int_t
ngx_http_mj_snapshot_rename(ngx_http_mj_snap_t *s)
{
    ngx_fd_t          dir, fd;
    ngx_int_t         rc;
    mj_state_head_t   h;

    dir = ngx_open_file(s->z->state_dir.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                        0);
    if (dir == NGX_INVALID_FILE || flock(dir, LOCK_EX) == -1) {
        ngx_log_error(NGX_LOG_ALERT, s->log, ngx_errno,
                      "mj_zone \"%V\": locking the folder \"%V\" failed",
                      &s->z->shm_zone->shm.name, &s->z->state_dir);
        rc = NGX_ERROR;
        goto done;
    }

    fd = ngx_open_file(s->z->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        if (pread(fd, &h, sizeof(h), 0) == (ssize_t) sizeof(h)
            && mj_state_head_valid(&h, sizeof(ngx_http_mj_task_t),
                                   sizeof(ngx_http_mj_counters_t),
                                   ngx_http_mj_crc)
            && h.gen > s->head.gen)
        {
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "mj_zone \"%V\": a newer snapshot is in place: "
                          "this one goes", &s->z->shm_zone->shm.name);
            (void) ngx_close_file(fd);
            rc = NGX_DECLINED;
            goto done;
        }

        (void) ngx_close_file(fd);
    }

    if (ngx_rename_file(s->tmp, s->z->state.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, s->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      s->tmp, &s->z->state);
        rc = NGX_DECLINED;
        goto done;
    }

    /* the new name on disk before the journals it replaces go */
    if (fsync(dir) == -1) {
        ngx_log_error(NGX_LOG_ALERT, s->log, ngx_errno,
                      "mj_zone \"%V\": fsync() of the folder \"%V\" failed",
                      &s->z->shm_zone->shm.name, &s->z->state_dir);
    }

    rc = NGX_OK;

done:

    if (dir != NGX_INVALID_FILE) {
        (void) ngx_close_file(dir);
    }

    return rc;
}


/* the head written last, at both ends; the file on disk, in its place */
static ngx_int_t
ngx_http_mj_snapshot_close(ngx_http_mj_snap_t *s)
{
    ngx_fd_t  fd;

    mj_state_head_seal(&s->head, sizeof(ngx_http_mj_task_t),
                       sizeof(ngx_http_mj_counters_t), ngx_http_mj_crc);

    ngx_memcpy(s->buf + s->len, &s->head, sizeof(mj_state_head_t));
    s->len += sizeof(mj_state_head_t);

    if (ngx_http_mj_snapshot_write(s) != NGX_OK
        || pwrite(s->fd, &s->head, sizeof(mj_state_head_t), 0)
           != (ssize_t) sizeof(mj_state_head_t)
        || fsync(s->fd) == -1)
    {
        return NGX_ERROR;
    }

    fd = s->fd;
    s->fd = NGX_INVALID_FILE;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_mj_snapshot_rename(s);
}


/* the users' counters (each block twice), then the tasks */
static ngx_int_t
ngx_http_mj_snapshot_file(ngx_http_mj_snap_t *s)
{
    ngx_http_mj_zone_sh_t     *sh;
    ngx_http_mj_snap_table_t   users, tasks;

    sh = s->z->sh;

    users.slots = (u_char *) sh->users;
    users.n = sh->nusers;
    users.size = sizeof(ngx_http_mj_counters_t);
    users.used = offsetof(ngx_http_mj_counters_t, owner);
    users.kind = MJ_STATE_USERS;
    users.copies = 2;

    tasks.slots = (u_char *) sh->tasks;
    tasks.n = sh->nslots;
    tasks.size = sizeof(ngx_http_mj_task_t);
    tasks.used = offsetof(ngx_http_mj_task_t, owner);
    tasks.kind = MJ_STATE_TASKS;
    tasks.copies = 1;

    /* the head, a placeholder until the counts are known */
    ngx_memzero(s->buf, sizeof(mj_state_head_t));
    s->len = sizeof(mj_state_head_t);

    if (ngx_http_mj_snapshot_table(s, &users) == -1
        || ngx_http_mj_snapshot_table(s, &tasks) == -1)
    {
        return NGX_ERROR;
    }

    return ngx_http_mj_snapshot_close(s);
}


void
ngx_http_mj_snapshot(ngx_http_mj_zone_t *z, ngx_log_t *log, ngx_uint_t how)
{
    ngx_int_t           rc;
    ngx_http_mj_snap_t  s;

    if (z->state.len == 0 || z->sh == NULL) {
        return;
    }

    ngx_memzero(&s, sizeof(ngx_http_mj_snap_t));
    s.z = z;
    s.log = log;
    s.how = how;
    s.fd = NGX_INVALID_FILE;

    if (ngx_http_mj_snapshot_begin(&s) != NGX_OK) {
        return;
    }

    s.tmp = ngx_alloc(z->state.len + sizeof(".tmp.") + NGX_INT_T_LEN, log);
    s.buf = ngx_alloc(NGX_HTTP_MJ_SNAP_BLOCKS * MJ_STATE_BLOCK_SIZE, log);
    if (s.tmp == NULL || s.buf == NULL) {
        goto done;
    }

    ngx_sprintf(s.tmp, "%V.tmp.%P%Z", &z->state, ngx_pid);

    s.fd = ngx_open_file(s.tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                         NGX_FILE_OWNER_ACCESS);
    if (s.fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", s.tmp);
        goto done;
    }

    rc = ngx_http_mj_snapshot_file(&s);

    if (rc == NGX_OK) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                       "mj_zone: wrote %uL tasks, %uL users to \"%V\"",
                       s.head.tasks, s.head.users, &z->state);

        /* what came before this generation is in the file now */
        ngx_http_mj_journal_drop(z, s.head.gen, log);
        goto done;
    }

    if (rc == NGX_ERROR && !(ngx_quit || ngx_terminate)) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mj_zone \"%V\": writing \"%s\" failed; the journal "
                      "is kept", &z->shm_zone->shm.name, s.tmp);
    }

    (void) ngx_delete_file(s.tmp);

done:

    if (s.fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(s.fd);
    }

    if (s.tmp) {
        ngx_free(s.tmp);
    }

    if (s.buf) {
        ngx_free(s.buf);
    }

    ngx_http_mj_snapshot_end(&s);
}


/*
 * The cache manager's call (and the single process's timer): each zone's
 * snapshot when it is due, its journal synced when journal_fsync=TIME is
 * due.  The time until the next of them.
 */
ngx_msec_t
ngx_http_mj_snapshot_manager(void *data)
{
    ngx_msec_t                 next;
    ngx_uint_t                 i;
    ngx_msec_int_t             left;
    ngx_http_mj_zone_t       **zp, *z;
    ngx_http_mj_main_conf_t   *mmcf;

    /*
     * A manager whose master was killed would go on writing an old zone
     * over the state file of the next nginx: it stops
     */
    if (ngx_process == NGX_PROCESS_HELPER && getppid() != ngx_parent) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mj_zone: the master process is gone, no more "
                      "snapshots");
        ngx_terminate = 1;
        return 1;
    }

    /* the running cycle's: a single process's timer outlives a reload */
    mmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_mj_module);
    next = 3600000;

    zp = mmcf ? mmcf->zones.elts : NULL;

    for (i = 0; mmcf && i < mmcf->zones.nelts; i++) {
        z = zp[i];

        if (z->state.len == 0 || z->sh == NULL) {
            continue;
        }

        if (z->snap_next == 0) {
            z->snap_next = ngx_current_msec
                           + (z->sh->snap_soon ? 0 : z->snapshot);
        }

        ngx_http_mj_journal_sync(z, ngx_cycle->log);

        if ((ngx_msec_int_t) (ngx_current_msec - z->snap_next) >= 0) {
            ngx_http_mj_snapshot(z, ngx_cycle->log, NGX_HTTP_MJ_SNAP_MANAGER);
            ngx_time_update();
            z->snap_next = ngx_current_msec + z->snapshot;
        }

        left = z->snap_next - ngx_current_msec;

        if (z->journal && z->fsync != NGX_HTTP_MJ_FSYNC_OFF
            && z->fsync != NGX_HTTP_MJ_FSYNC_ALWAYS)
        {
            left = ngx_min(left, (ngx_msec_int_t) (z->sync_next
                                                   - ngx_current_msec));
        }

        next = ngx_min(next, (ngx_msec_t) ngx_max(left, 1));
    }

    return next;
}


static void
ngx_http_mj_snapshot_tick(ngx_event_t *ev)
{
    ngx_msec_t  next;

    next = ngx_http_mj_snapshot_manager(NULL);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, next);
    }
}


/* master_process off: the one process is its own manager */
void
ngx_http_mj_snapshot_timer(ngx_cycle_t *cycle)
{
    ngx_event_t  *ev;

    ev = &ngx_http_mj_snapshot_event;

    ngx_http_mj_snapshot_dumb.fd = (ngx_socket_t) -1;

    ev->data = &ngx_http_mj_snapshot_dumb;
    ev->handler = ngx_http_mj_snapshot_tick;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_mj_snapshot_tick(ev);
}
