/*
 * ngx_http_mj_journal.c: the journal of a zone's changes between two
 * snapshots (its records: mj_journal_parse.h).
 *
 * Every change a crash must not lose is appended as it happens: a
 * submit's task and its user's counters when the task is recorded
 * (before the client sees its id), a status the gateway sees change, a
 * charge kept without a task.  The zone gives each record its sequence
 * number under its lock; the worker writes the records after the lock,
 * in one write() to "<state>.journal.<gen>" opened with O_APPEND.
 *
 * Several workers append to the same file.  For a regular file Linux
 * takes the inode's lock for the whole of a write() and puts an O_APPEND
 * write's offset at the end under it, so one write() lands whole, never
 * interleaved with another's; a batch is a few hundred bytes.  A write
 * cut short (a full disk, a process killed between two pages of it)
 * leaves a torn record, which the reader skips.  The records are in the
 * page cache as soon as write() returns, and the page cache outlives any
 * nginx process: no fsync is needed against a crash of nginx.  Against a
 * crash of the host, journal_fsync= says when they reach the disk.
 *
 * A snapshot (ngx_http_mj_state.c) starts a new generation, and so a new
 * file, before it copies the zone: the snapshot and the journals from its
 * generation on hold everything, and a start replays those journals on
 * the snapshot in the order of their sequence numbers.  Records say what
 * a change left (a task as committed, a status, a user's counters), so a
 * change in both the snapshot and the journal comes out the same.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <zlib.h>

#include "ngx_http_mj_module.h"
#include "mj_journal_parse.h"


/* a record read at a start, sorted by its sequence number */
typedef struct {
    uint64_t                   seq;
    const u_char              *payload;
    ngx_uint_t                 type;
} ngx_http_mj_jentry_t;


typedef struct {
    ngx_http_mj_jentry_t      *e;
    ngx_uint_t                 n;
    ngx_uint_t                 nalloc;
    uint64_t                   max_seq;
    ngx_uint_t                 failed;
} ngx_http_mj_jindex_t;


/*
 * CRC-32 (the same as ngx_crc32_long()) by zlib, which takes several bytes
 * a step where nginx's takes one: a snapshot's blocks cost a fraction of
 * their copy.
 */
uint32_t
ngx_http_mj_crc(const unsigned char *p, size_t n)
{
    return (uint32_t) crc32(0L, p, (uInt) n);
}


static void
ngx_http_mj_journal_add_locked(ngx_http_mj_zone_t *z, ngx_http_mj_jbatch_t *b,
    ngx_uint_t type, const void *payload, size_t n)
{
    u_char  *p;
    size_t   cap;

    if (b->len + sizeof(mj_journal_head_t) + n > b->cap) {
        /* a list answer with many statuses: rare, so a heap buffer */
        cap = 2 * b->cap + sizeof(mj_journal_head_t) + n;

        p = ngx_alloc(cap, ngx_cycle->log);
        if (p == NULL) {
            return;
        }

        ngx_memcpy(p, b->p, b->len);

        if (b->p != b->room) {
            ngx_free(b->p);
        }

        b->p = p;
        b->cap = cap;
    }

    b->gen = z->sh->jgen;
    b->len += mj_journal_record(b->p + b->len, type, z->sh->jseq++, payload,
                                n);
}


void
ngx_http_mj_journal_task_locked(ngx_http_mj_zone_t *z,
    ngx_http_mj_jbatch_t *b, ngx_uint_t type, ngx_http_mj_task_t *t)
{
    if (z->journal) {
        ngx_http_mj_journal_add_locked(z, b, type, t,
                                       sizeof(ngx_http_mj_task_t));
    }
}


void
ngx_http_mj_journal_user_locked(ngx_http_mj_zone_t *z,
    ngx_http_mj_jbatch_t *b, ngx_http_mj_counters_t *u)
{
    ngx_http_mj_juser_t  j;

    if (!z->journal || u == NULL) {
        return;
    }

    j.owner = u->owner;
    j.requests = u->requests;
    j.submits = u->submits;
    j.day = u->day;
    j.quota_used = ngx_http_mj_ustat_settled(u);
    ngx_memcpy(j.rejected, u->rejected, sizeof(j.rejected));

    ngx_http_mj_journal_add_locked(z, b, MJ_JOURNAL_USER, &j, sizeof(j));
}


/* this process's descriptor on the journal of generation "gen" */
static ngx_int_t
ngx_http_mj_journal_open(ngx_http_mj_zone_t *z, uint64_t gen,
    ngx_uint_t create, ngx_log_t *log)
{
    ngx_fd_t    fd;
    ngx_uint_t  how;

    ngx_sprintf(z->jpath, "%V.journal.%uL%Z", &z->state, gen);

    how = create ? NGX_FILE_CREATE_OR_OPEN : NGX_FILE_OPEN;
    fd = ngx_open_file(z->jpath, NGX_FILE_APPEND, how, NGX_FILE_OWNER_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        if (create || ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed", z->jpath);
        }

        return NGX_ERROR;
    }

    if (z->jfd != NGX_INVALID_FILE) {
        (void) ngx_close_file(z->jfd);
    }

    z->jfd = fd;
    z->jfd_gen = gen;

    /*
     * A new file's name must reach the disk too: the worker's job with
     * journal_fsync=always, else the manager's when it opens the file
     */
    if (z->fsync == NGX_HTTP_MJ_FSYNC_ALWAYS
        || (z->fsync != NGX_HTTP_MJ_FSYNC_OFF && !create))
    {
        ngx_http_mj_journal_sync_dir(z, log);
    }

    return NGX_OK;
}


void
ngx_http_mj_journal_flush(ngx_http_mj_zone_t *z, ngx_http_mj_jbatch_t *b,
    ngx_log_t *log)
{
    ssize_t  n;

    if (b->len == 0) {
        return;
    }

    mj_journal_seal(b->p, b->len);

    n = NGX_ERROR;

    if (z->jfd_gen == b->gen && z->jfd != NGX_INVALID_FILE) {
        n = ngx_write_fd(z->jfd, b->p, b->len);

    } else if (ngx_http_mj_journal_open(z, b->gen, 1, log) == NGX_OK) {
        n = ngx_write_fd(z->jfd, b->p, b->len);
    }

    if (n == (ssize_t) b->len && z->fsync == NGX_HTTP_MJ_FSYNC_ALWAYS
        && fdatasync(z->jfd) == -1)
    {
        n = NGX_ERROR;
    }

    /* logged once a second at most: a full disk fails every write */
    if (n != (ssize_t) b->len && z->jfailed != ngx_time()) {
        z->jfailed = ngx_time();
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mj_zone \"%V\": writing the journal \"%V.journal."
                      "%uL\" failed: a crash would lose these changes",
                      &z->shm_zone->shm.name, &z->state, b->gen);
    }

    if (b->p != b->room) {
        ngx_free(b->p);
        b->p = b->room;
    }

    b->len = 0;
}


void
ngx_http_mj_journal_sync(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    uint64_t  gen;

    if (!z->journal || z->fsync == NGX_HTTP_MJ_FSYNC_OFF
        || z->fsync == NGX_HTTP_MJ_FSYNC_ALWAYS
        || ngx_current_msec < z->sync_next)
    {
        return;
    }

    z->sync_next = ngx_current_msec + z->fsync;

    ngx_shmtx_lock(&z->shpool->mutex);
    gen = z->sh->jgen;
    ngx_shmtx_unlock(&z->shpool->mutex);

    /* what was written to the file before this one last goes first */
    if (z->jfd != NGX_INVALID_FILE && fdatasync(z->jfd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mj_zone \"%V\": fdatasync() of \"%V.journal.%uL\" "
                      "failed", &z->shm_zone->shm.name, &z->state,
                      z->jfd_gen);
    }

    if (z->jfd_gen != gen
        && ngx_http_mj_journal_open(z, gen, 0, log) == NGX_OK
        && fdatasync(z->jfd) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mj_zone \"%V\": fdatasync() of \"%s\" failed",
                      &z->shm_zone->shm.name, z->jpath);
    }
}


/*
 * An entry of the folder: 1 for a journal ("<state>.journal.<gen>"), 2 for
 * a snapshot's temp file ("<state>.tmp.<pid>"), 0 for anything else.
 */
static ngx_uint_t
ngx_http_mj_journal_entry(ngx_str_t *base, u_char *name, size_t len,
    uint64_t *n)
{
    u_char      *p, *end;
    ngx_uint_t   kind;

    end = name + len;

    if (len <= base->len || ngx_strncmp(name, base->data, base->len) != 0) {
        return 0;
    }

    p = name + base->len;

    if (end - p > 9 && ngx_strncmp(p, ".journal.", 9) == 0) {
        kind = 1;
        p += 9;

    } else if (end - p > 5 && ngx_strncmp(p, ".tmp.", 5) == 0) {
        kind = 2;
        p += 5;

    } else {
        return 0;
    }

    if (end - p > 19) {
        return 0;
    }

    for (*n = 0; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }

        *n = *n * 10 + (*p - '0');
    }

    return kind;
}


/*
 * The folder's journals from generation "from" on, sorted; with "drop",
 * the older ones and the temp files of dead processes are deleted
 * instead.  NULL: none (or the folder cannot be read).
 */
static uint64_t *
ngx_http_mj_journal_scan(ngx_http_mj_zone_t *z, uint64_t from,
    ngx_uint_t drop, ngx_uint_t *n, ngx_log_t *log)
{
    uint64_t     num, *gens, *g;
    ngx_dir_t    d;
    ngx_uint_t   kind, nalloc;

    *n = 0;
    nalloc = 0;
    gens = NULL;

    if (ngx_open_dir(&z->state_dir, &d) == NGX_ERROR) {
        return NULL;
    }

    while (ngx_read_dir(&d) == NGX_OK) {
        kind = ngx_http_mj_journal_entry(&z->state_base, ngx_de_name(&d),
                                         ngx_de_namelen(&d), &num);

        if (drop && kind == 1 && num < from) {
            ngx_sprintf(z->jpath, "%V.journal.%uL%Z", &z->state, num);
            (void) ngx_delete_file(z->jpath);

        } else if (drop && kind == 2 && num != (uint64_t) ngx_pid
                   && num < NGX_MAX_INT32_VALUE
                   && kill((pid_t) num, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            ngx_sprintf(z->jpath, "%V.tmp.%uL%Z", &z->state, num);
            (void) ngx_delete_file(z->jpath);

        } else if (!drop && kind == 1 && num >= from) {
            if (*n == nalloc) {
                nalloc = nalloc ? 2 * nalloc : 8;
                g = ngx_alloc(nalloc * sizeof(uint64_t), log);
                if (g == NULL) {
                    break;
                }

                if (gens) {
                    ngx_memcpy(g, gens, *n * sizeof(uint64_t));
                    ngx_free(gens);
                }

                gens = g;
            }

            gens[(*n)++] = num;
        }
    }

    (void) ngx_close_dir(&d);

    return gens;
}


static int ngx_libc_cdecl
ngx_http_mj_gen_cmp(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static int ngx_libc_cdecl
ngx_http_mj_jentry_cmp(const void *a, const void *b)
{
    uint64_t  x = ((const ngx_http_mj_jentry_t *) a)->seq;
    uint64_t  y = ((const ngx_http_mj_jentry_t *) b)->seq;

    return (x > y) - (x < y);
}


static void
ngx_http_mj_journal_index(void *data, const mj_journal_head_t *h,
    const unsigned char *payload)
{
    ngx_http_mj_jindex_t  *ix = data;

    ngx_http_mj_jentry_t  *e;

    if (ix->n == ix->nalloc) {
        ix->nalloc = ix->nalloc ? 2 * ix->nalloc : 1024;
        e = ngx_alloc(ix->nalloc * sizeof(ngx_http_mj_jentry_t),
                      ngx_cycle->log);
        if (e == NULL) {
            ix->failed++;
            ix->nalloc = ix->n;
            return;
        }

        if (ix->e) {
            ngx_memcpy(e, ix->e, ix->n * sizeof(ngx_http_mj_jentry_t));
            ngx_free(ix->e);
        }

        ix->e = e;
    }

    ix->e[ix->n].seq = h->seq;
    ix->e[ix->n].type = h->type;
    ix->e[ix->n].payload = payload;
    ix->n++;

    ix->max_seq = ngx_max(ix->max_seq, h->seq);
}


/* a journal file read whole; NULL if there is none or it cannot be read */
static u_char *
ngx_http_mj_journal_load(ngx_http_mj_zone_t *z, uint64_t gen, size_t *len,
    ngx_log_t *log)
{
    u_char           *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    ngx_sprintf(z->jpath, "%V.journal.%uL%Z", &z->state, gen);

    fd = ngx_open_file(z->jpath, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", z->jpath);
        return NULL;
    }

    buf = NULL;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR) {
        *len = (size_t) ngx_file_size(&fi);
        buf = ngx_alloc(*len + 1, log);
    }

    if (buf && *len) {
        n = ngx_read_fd(fd, buf, *len);

        if (n != (ssize_t) *len) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "reading \"%s\" failed", z->jpath);
            ngx_free(buf);
            buf = NULL;
        }
    }

    (void) ngx_close_file(fd);

    return buf;
}


/* one journal file into the index; what was not a record is logged */
static u_char *
ngx_http_mj_journal_read(ngx_http_mj_zone_t *z, uint64_t gen,
    ngx_http_mj_jindex_t *ix, ngx_log_t *log)
{
    mj_journal_reader_t  rd;

    ngx_memzero(&rd, sizeof(mj_journal_reader_t));

    rd.p = ngx_http_mj_journal_load(z, gen, &rd.len, log);
    if (rd.p == NULL) {
        return NULL;
    }

    rd.size[MJ_JOURNAL_COMMIT] = sizeof(ngx_http_mj_task_t);
    rd.size[MJ_JOURNAL_STATUS] = sizeof(ngx_http_mj_task_t);
    rd.size[MJ_JOURNAL_USER] = sizeof(ngx_http_mj_juser_t);
    rd.rec = ngx_http_mj_journal_index;
    rd.data = ix;

    mj_journal_read(&rd);

    if (rd.damaged) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": journal \"%s\" is damaged: %uz bytes "
                      "in %uz places were not records (the changes in them "
                      "are lost); the %uz records around them were read",
                      &z->shm_zone->shm.name, z->jpath, rd.skipped,
                      rd.damaged, rd.records);
    }

    if (rd.tail) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\": journal \"%s\" ends in %uz bytes "
                      "that are no whole record (a write torn by a crash): "
                      "ignored, the %uz records before them were read",
                      &z->shm_zone->shm.name, z->jpath, rd.tail,
                      rd.records);
    }

    return (u_char *) rd.p;
}


/* the records, in the order the zone made them, into the zone */
static void
ngx_http_mj_journal_apply(ngx_http_mj_zone_t *z, ngx_http_mj_jindex_t *ix,
    ngx_uint_t *count, ngx_log_t *log)
{
    ngx_uint_t              i;
    ngx_http_mj_task_t      t;
    ngx_http_mj_juser_t     j;
    ngx_http_mj_jentry_t   *e;

    ngx_qsort(ix->e, ix->n, sizeof(ngx_http_mj_jentry_t),
              ngx_http_mj_jentry_cmp);

    for (i = 0; i < ix->n; i++) {
        e = &ix->e[i];

        if (e->type == MJ_JOURNAL_USER) {
            ngx_memcpy(&j, e->payload, sizeof(j));

            if (ngx_http_mj_ustat_replay_locked(z->sh, &j) != NGX_OK) {
                count[0]++;
                continue;
            }

        } else {
            ngx_memcpy(&t, e->payload, sizeof(t));

            if (ngx_http_mj_replay_task_locked(z, e->type, &t, log)
                != NGX_OK)
            {
                count[0]++;
                continue;
            }
        }

        count[e->type]++;
    }
}


void
ngx_http_mj_journal_replay(ngx_http_mj_zone_t *z, uint64_t from,
    ngx_log_t *log)
{
    u_char                **bufs;
    uint64_t               *gens, last;
    ngx_uint_t              i, n, level, count[MJ_JOURNAL_TYPES];
    ngx_http_mj_jindex_t    ix;

    gens = ngx_http_mj_journal_scan(z, from, 0, &n, log);
    last = from;

    ngx_memzero(&ix, sizeof(ngx_http_mj_jindex_t));
    ngx_memzero(count, sizeof(count));

    bufs = gens ? ngx_alloc(n * sizeof(u_char *), log) : NULL;

    if (bufs) {
        ngx_qsort(gens, n, sizeof(uint64_t), ngx_http_mj_gen_cmp);

        for (i = 0; i < n; i++) {
            bufs[i] = ngx_http_mj_journal_read(z, gens[i], &ix, log);
        }

        last = gens[n - 1];

        ngx_http_mj_journal_apply(z, &ix, count, log);

        for (i = 0; i < n; i++) {
            if (bufs[i]) {
                ngx_free(bufs[i]);
            }
        }

        ngx_free(bufs);
    }

    level = (ix.failed || count[0]) ? NGX_LOG_ERR : NGX_LOG_NOTICE;

    if (ix.n || ix.failed) {
        ngx_log_error(level, log, 0,
                      "mj_zone \"%V\": replayed %ui journal records from "
                      "%ui files: %ui tasks recorded, %ui statuses, %ui "
                      "users' counters; %ui did not fit or were invalid, "
                      "%ui could not be read for want of memory",
                      &z->shm_zone->shm.name, ix.n, n,
                      count[MJ_JOURNAL_COMMIT], count[MJ_JOURNAL_STATUS],
                      count[MJ_JOURNAL_USER], count[0], ix.failed);
    }

    /* new records go to a file of their own: never after a torn one */
    z->sh->jgen = last + 1;
    z->sh->jseq = ngx_max(z->sh->jseq, ix.max_seq + 1);

    /* what was replayed is snapshotted at once */
    if (ix.n) {
        z->sh->snap_soon = 1;
    }

    if (ix.e) {
        ngx_free(ix.e);
    }

    if (gens) {
        ngx_free(gens);
    }
}


void
ngx_http_mj_journal_drop(ngx_http_mj_zone_t *z, uint64_t gen, ngx_log_t *log)
{
    ngx_uint_t  n;

    /* the manager's descriptor on a journal that goes */
    if (z->jfd != NGX_INVALID_FILE && z->jfd_gen < gen) {
        (void) ngx_close_file(z->jfd);
        z->jfd = NGX_INVALID_FILE;
        z->jfd_gen = 0;
    }

    (void) ngx_http_mj_journal_scan(z, gen, 1, &n, log);
}


void
ngx_http_mj_journal_sync_dir(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(z->state_dir.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE || fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "mj_zone \"%V\": fsync() of the folder \"%V\" failed",
                      &z->shm_zone->shm.name, &z->state_dir);
    }

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }
}


/* journal=on|off, journal_fsync=off|always|TIME: NGX_DECLINED if neither */
ngx_int_t
ngx_http_mj_journal_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value)
{
    ngx_str_t  s;

    if (ngx_strcmp(value->data, "journal=on") == 0) {
        z->journal = 1;
        return NGX_OK;
    }

    if (ngx_strcmp(value->data, "journal=off") == 0) {
        z->journal = 0;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "journal_fsync=", 14) != 0) {
        return NGX_DECLINED;
    }

    s.data = value->data + 14;
    s.len = value->len - 14;

    if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
        z->fsync = NGX_HTTP_MJ_FSYNC_OFF;
        return NGX_OK;
    }

    if (s.len == 6 && ngx_strncmp(s.data, "always", 6) == 0) {
        z->fsync = NGX_HTTP_MJ_FSYNC_ALWAYS;
        return NGX_OK;
    }

    z->fsync = ngx_http_mj_conf_time(value, 14, 0);

    if (z->fsync == (ngx_msec_t) NGX_ERROR || z->fsync == 0
        || z->fsync == NGX_HTTP_MJ_FSYNC_ALWAYS)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid journal_fsync \"%V\" (off, always or "
                           "a time)", value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* after the state file's name is known: the journal's, or no journal */
char *
ngx_http_mj_journal_conf(ngx_conf_t *cf, ngx_http_mj_zone_t *z)
{
    z->jfd = NGX_INVALID_FILE;

    if (z->state.len == 0) {
        z->journal = 0;
        return NGX_CONF_OK;
    }

    /* "<state>.journal.<gen>", "<state>.tmp.<pid>" */
    z->jpath = ngx_pnalloc(cf->pool, z->state.len + sizeof(".journal.")
                                     + NGX_INT64_LEN + 1);
    if (z->jpath == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
