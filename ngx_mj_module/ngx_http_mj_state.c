/*
 * ngx_http_mj_state.c: the state file that carries an mj_zone over a
 * restart (its format: mj_state_parse.h; its writer:
 * ngx_http_mj_snapshot.c).
 *
 * It is read when the zone is first made, then the journal after it
 * (ngx_http_mj_journal.c).  A damaged file is read wherever it can be,
 * and what was lost is logged at "error" with its counts: the file's head
 * says what it held.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"
#include "mj_state_parse.h"


/* what a restore has read, for its log line */
typedef struct {
    ngx_http_mj_zone_t        *z;
    mj_state_reader_t         *rd;
    uint64_t                   tasks;       /* records read, kept or not */
    uint64_t                   users;
    uint64_t                   units;       /* of the head's day */
} ngx_http_mj_restore_t;


static ssize_t
ngx_http_mj_state_pread(void *io, void *buf, size_t n, off_t off)
{
    return pread(*(ngx_fd_t *) io, buf, n, off);
}


static int
ngx_http_mj_state_task(void *data, const void *rec)
{
    ngx_http_mj_restore_t  *rs = data;

    ngx_http_mj_task_t  t;

    ngx_memcpy(&t, rec, sizeof(ngx_http_mj_task_t));
    rs->tasks++;

    if (t.owner == 0 || t.status > NGX_HTTP_MJ_ST_CANCEL
        || ngx_http_mj_insert_locked(rs->z->sh, &t) != NGX_OK)
    {
        return -1;
    }

    return 0;
}


static int
ngx_http_mj_state_user(void *data, const void *rec)
{
    ngx_http_mj_restore_t  *rs = data;

    ngx_http_mj_counters_t  u;

    ngx_memcpy(&u, rec, sizeof(ngx_http_mj_counters_t));
    rs->users++;

    /* "held" was padding in version 2 */
    if (rs->rd->version == 2) {
        u.held = 0;
    }

    if (u.day == rs->rd->head.day) {
        rs->units += ngx_http_mj_ustat_settled(&u);
    }

    return ngx_http_mj_ustat_restore_locked(rs->z->sh, &u) == NGX_OK
           ? 0 : -1;
}


/* a damaged file: what was lost, as far as its head tells */
static void
ngx_http_mj_state_lost(ngx_http_mj_zone_t *z, ngx_http_mj_restore_t *rs,
    ngx_log_t *log)
{
    u_char              day[sizeof("1970-01-01")];
    ngx_tm_t            tm;
    mj_state_head_t    *h;
    mj_state_reader_t  *rd;

    rd = rs->rd;
    h = &rd->head;

    if (!rd->head_ok) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": state file \"%V\" is damaged in its "
                      "head and trailer: restored %uL tasks and the counters "
                      "of %uL users from its sound blocks; %uz blocks could "
                      "not be read and what they held is unknown; the zone's "
                      "secret is lost, so tasks whose ids are not digits "
                      "cannot be found any more", &z->shm_zone->shm.name,
                      &z->state, rs->tasks, rs->users, rd->damaged);
        return;
    }

    if (rd->version == 2) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": state file \"%V\" (format version 2) "
                      "is %s: restored the %uL tasks and the counters of "
                      "%uL users before the damage; a version 2 file does "
                      "not say what came after it", &z->shm_zone->shm.name,
                      &z->state, rd->why, rs->tasks, rs->users);
        return;
    }

    if (rs->tasks >= h->tasks && rs->users >= h->users) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\": state file \"%V\" is %s, but "
                      "nothing was lost (%s, %uz blocks of users' counters "
                      "read from their copies): restored %uL tasks and the "
                      "counters of %uL users", &z->shm_zone->shm.name,
                      &z->state, rd->why,
                      rd->trailer ? "its head read from its trailer"
                                  : "its head sound",
                      rd->recovered, rs->tasks, rs->users);
        return;
    }

    ngx_gmtime((time_t) h->day * 86400, &tm);
    ngx_sprintf(day, "%4d-%02d-%02d%Z", tm.ngx_tm_year, tm.ngx_tm_mon,
                tm.ngx_tm_mday);

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "mj_zone \"%V\": state file \"%V\" is %s: lost %uL of "
                  "%uL tasks and the counters of %uL of %uL users (%uL "
                  "quota units used on %s); restored the other %uL tasks "
                  "and the counters of %uL users", &z->shm_zone->shm.name,
                  &z->state, rd->why, h->tasks - ngx_min(h->tasks, rs->tasks),
                  h->tasks, h->users - ngx_min(h->users, rs->users), h->users,
                  h->units - ngx_min(h->units, rs->units), day, rs->tasks,
                  rs->users);
}


/* the snapshot into the zone; the journal generation to replay from */
static uint64_t
ngx_http_mj_state_read(ngx_http_mj_zone_t *z, ngx_fd_t fd, ngx_log_t *log)
{
    ngx_int_t               rc;
    ngx_file_info_t         fi;
    mj_state_reader_t       rd;
    ngx_http_mj_restore_t   rs;

    ngx_memzero(&rd, sizeof(mj_state_reader_t));
    ngx_memzero(&rs, sizeof(ngx_http_mj_restore_t));

    rs.z = z;
    rs.rd = &rd;

    rd.pread = ngx_http_mj_state_pread;
    rd.io = &fd;
    rd.size = ngx_fd_info(fd, &fi) == NGX_FILE_ERROR ? 0
                                                     : ngx_file_size(&fi);
    rd.crc = ngx_http_mj_crc;
    rd.task_size = sizeof(ngx_http_mj_task_t);
    rd.user_size = sizeof(ngx_http_mj_counters_t);
    rd.task = ngx_http_mj_state_task;
    rd.user = ngx_http_mj_state_user;
    rd.data = &rs;

    rc = mj_state_read(&rd);

    if (rc == -2 && rd.version) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": state file \"%V\" is of format "
                      "version %uD, which this build does not read (it "
                      "reads 2 and 3): not read; the zone starts from the "
                      "journal alone, and the next snapshot replaces the "
                      "file", &z->shm_zone->shm.name, &z->state,
                      (uint32_t) rd.version);
        return 0;
    }

    if (rc == -2 || rc == -3) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": state file \"%V\" is %s: not "
                      "read; the zone starts from the journal alone, and "
                      "the next snapshot replaces the file",
                      &z->shm_zone->shm.name, &z->state,
                      rc == -3 ? "too large for the memory left" : rd.why);
        return 0;
    }

    if (rd.head_ok) {
        ngx_memcpy(z->sh->secret, rd.head.secret, sizeof(z->sh->secret));
        z->sh->jseq = rd.head.seq;
    }

    if (rc == 0) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mj_zone \"%V\": restored %uz tasks and the counters "
                      "of %uz users from \"%V\"%s", &z->shm_zone->shm.name,
                      rd.tasks, rd.users, &z->state,
                      rd.version == 2 ? " (format version 2: the next "
                                        "snapshot writes version 3)" : "");

    } else {
        ngx_http_mj_state_lost(z, &rs, log);
    }

    if (rd.skipped) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\": %uz records of the state file did "
                      "not fit or were invalid", &z->shm_zone->shm.name,
                      rd.skipped);
    }

    return rd.head_ok ? rd.head.gen : 0;
}


/* at the zone's making: the last snapshot, then the journal after it */
void
ngx_http_mj_state_restore(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    uint64_t  gen;
    ngx_fd_t  fd;

    gen = 0;

    fd = ngx_open_file(z->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_NOTICE, log, ngx_errno,
                      "mj_zone \"%V\": no state file \"%V\" yet, "
                      "starting from its journal, if any",
                      &z->shm_zone->shm.name, &z->state);

    } else {
        gen = ngx_http_mj_state_read(z, fd, log);
        (void) ngx_close_file(fd);
    }

    ngx_http_mj_journal_replay(z, gen, log);
}


/*
 * "state=PATH", "off", or the default: <dir>/<zone>.state.  Its folder is
 * an nginx path: created at start and given to the worker user, as
 * proxy_temp_path is, so workers can write there.  The path's manager
 * makes nginx start its cache manager process, which writes the
 * snapshots (ngx_http_mj_snapshot.c) beside the workers; every mj_zone's
 * folder shares the same data, so two zones may share a folder, but
 * another module's path may not.
 */
char *
ngx_http_mj_state_path(ngx_conf_t *cf, ngx_http_mj_zone_t *z, ngx_str_t *name)
{
    ngx_str_t    s;
    ngx_path_t  *path;

    if (z->state.len == 3 && ngx_strncmp(z->state.data, "off", 3) == 0) {
        ngx_str_null(&z->state);
        return ngx_http_mj_journal_conf(cf, z);
    }

    if (z->state.len == sizeof(NGX_HTTP_MJ_STATE_DIR) - 1
        && ngx_strncmp(z->state.data, NGX_HTTP_MJ_STATE_DIR, z->state.len)
           == 0)
    {
        /* the name is given to open() and rename() as it is: NUL-ended */
        s.len = z->state.len + 1 + name->len + sizeof(".state") - 1;
        s.data = ngx_pnalloc(cf->pool, s.len + 1);
        if (s.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(s.data, "%V/%V.state%Z", &z->state, name);
        z->state = s;
    }

    if (ngx_conf_full_name(cf->cycle, &z->state, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    s = z->state;
    while (s.len && s.data[s.len - 1] != '/') {
        s.len--;
    }

    z->state_base.data = z->state.data + s.len;
    z->state_base.len = z->state.len - s.len;

    if (s.len > 1) {
        s.len--;
    }

    /* ngx_create_paths() and ngx_open_dir() want a NUL-terminated name */
    z->state_dir.len = s.len;
    z->state_dir.data = ngx_pnalloc(cf->pool, s.len + 1);
    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (z->state_dir.data == NULL || path == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(z->state_dir.data, s.data, s.len);
    z->state_dir.data[s.len] = '\0';

    path->name = z->state_dir;
    path->manager = ngx_http_mj_snapshot_manager;
    path->data = ngx_http_conf_get_module_main_conf(cf, ngx_http_mj_module);
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_mj_journal_conf(cf, z);
}


/* the counters of users no longer in the users file go (ngx_http_mj_ustat.c) */
static void
ngx_http_mj_state_reclaim(ngx_http_mj_zone_t *z,
    ngx_http_mj_main_conf_t *mmcf, ngx_log_t *log)
{
    uint64_t    *owners;
    ngx_uint_t   n;

    if (mmcf->table == NULL) {
        return;
    }

    owners = ngx_http_mj_user_owners(mmcf, &n, log);
    if (owners == NULL) {
        return;
    }

    ngx_http_mj_ustat_reclaim(z, owners, n, log);

    ngx_free(owners);
}


/*
 * A worker starts: what dead workers' submits held comes back (a respawn
 * after a crash), and worker 0 frees the counters of users gone.  With
 * master_process off the one process snapshots on a timer of its own.
 */
ngx_int_t
ngx_http_mj_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i;
    ngx_http_mj_zone_t       **zp, *z;
    ngx_http_mj_main_conf_t   *mmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mj_module);
    if (mmcf == NULL) {
        return NGX_OK;
    }

    zp = mmcf->zones.elts;

    for (i = 0; i < mmcf->zones.nelts; i++) {
        z = zp[i];

        ngx_http_mj_pending_reap(z, cycle);

        if (ngx_worker == 0) {
            ngx_http_mj_state_reclaim(z, mmcf, cycle->log);
        }
    }

    if (ngx_process == NGX_PROCESS_SINGLE) {
        ngx_http_mj_snapshot_timer(cycle);
    }

    return NGX_OK;
}


/* at exit: the master (or a single process) writes the final snapshot */
void
ngx_http_mj_zone_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i;
    ngx_http_mj_zone_t       **zp;
    ngx_http_mj_main_conf_t   *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mj_module);
    if (mmcf == NULL) {
        return;
    }

    zp = mmcf->zones.elts;

    for (i = 0; i < mmcf->zones.nelts; i++) {
        ngx_http_mj_snapshot(zp[i], cycle->log, NGX_HTTP_MJ_SNAP_EXIT);
    }
}
