/*
 * ngx_http_mj_state.c: the state file that carries an mj_zone over a
 * restart (its format: mj_state_parse.h).
 *
 * Worker 0 writes it every "snapshot", the master at exit: a temp file,
 * fsync, rename.  It is read when the zone is first made; a damaged file
 * is read up to the damage.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"
#include "mj_state_parse.h"


/* users' counters a block: they fit in the same buffer as a task block */
#define NGX_HTTP_MJ_USERS_BLOCK                                              \
    (MJ_STATE_BLOCK * sizeof(ngx_http_mj_task_t)                             \
     / sizeof(ngx_http_mj_counters_t))


static ssize_t
ngx_http_mj_state_fd_read(void *io, void *buf, size_t n)
{
    return ngx_read_fd(*(ngx_fd_t *) io, buf, n);
}


static uint32_t
ngx_http_mj_state_crc(const unsigned char *p, size_t n)
{
    return ngx_crc32_long((u_char *) p, n);
}


static int
ngx_http_mj_state_task(void *data, const void *rec)
{
    ngx_http_mj_zone_t  *z = data;

    ngx_http_mj_task_t  t;

    ngx_memcpy(&t, rec, sizeof(ngx_http_mj_task_t));

    if (t.owner == 0 || t.status > NGX_HTTP_MJ_ST_CANCEL
        || ngx_http_mj_insert_locked(z->sh, &t) != NGX_OK)
    {
        return -1;
    }

    return 0;
}


static int
ngx_http_mj_state_user(void *data, const void *rec)
{
    ngx_http_mj_zone_t  *z = data;

    ngx_http_mj_counters_t   r, *u;

    ngx_memcpy(&r, rec, sizeof(ngx_http_mj_counters_t));

    if (r.owner == 0 || r.nunfinished > NGX_HTTP_MJ_TRACK) {
        return -1;
    }

    u = ngx_http_mj_ustat_locked(z->sh, r.owner, 1);
    if (u == NULL) {
        return -1;
    }

    *u = r;

    /* a snapshot's submits in flight died with the processes */
    u->inflight = 0;

    return 0;
}


void
ngx_http_mj_state_restore(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    ngx_fd_t           fd;
    ngx_int_t          rc;
    mj_state_reader_t  rd;

    fd = ngx_open_file(z->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_NOTICE, log, ngx_errno,
                      "mj_zone \"%V\": no state file \"%V\" yet, "
                      "starting empty", &z->shm_zone->shm.name, &z->state);
        return;
    }

    ngx_memzero(&rd, sizeof(mj_state_reader_t));
    rd.read = ngx_http_mj_state_fd_read;
    rd.io = &fd;
    rd.crc = ngx_http_mj_state_crc;
    rd.task_size = sizeof(ngx_http_mj_task_t);
    rd.user_size = sizeof(ngx_http_mj_counters_t);
    rd.task = ngx_http_mj_state_task;
    rd.user = ngx_http_mj_state_user;
    rd.data = z;

    rc = mj_state_read(&rd);

    if (rc != -2 && rc != -3) {
        ngx_memcpy(z->sh->secret, rd.secret, sizeof(z->sh->secret));
    }

    if (rd.why) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mj_zone \"%V\": state file \"%V\" is %s; restored "
                      "the %uz tasks before the damage",
                      &z->shm_zone->shm.name, &z->state, rd.why, rd.tasks);

    } else if (rc == 0) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mj_zone \"%V\": restored %uz tasks from \"%V\"",
                      &z->shm_zone->shm.name, rd.tasks, &z->state);
    }

    if (rd.skipped) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mj_zone \"%V\": %uz records of the state file did "
                      "not fit or were invalid", &z->shm_zone->shm.name,
                      rd.skipped);
    }

    (void) ngx_close_file(fd);
}


/*
 * One section of the file: the used records of a table of the zone,
 * copied out a block at a time so the lock is held for a short memcpy
 * only, then the empty block that ends it.  The records written, or -1.
 */
static ngx_int_t
ngx_http_mj_state_section(ngx_http_mj_zone_t *z, ngx_fd_t fd, u_char *buf,
    u_char *table, ngx_uint_t n, size_t size, size_t used, ngx_uint_t max)
{
    u_char            *rec;
    ngx_uint_t         i, k, total;
    mj_state_block_t   block;

    total = 0;
    i = 0;

    do {
        k = 0;

        ngx_shmtx_lock(&z->shpool->mutex);

        for ( /* void */ ; i < n && k < max; i++) {
            rec = table + i * size;

            /* the field at "used" is 0 in a free slot */
            if (*(uint64_t *) (rec + used)) {
                ngx_memcpy(buf + k++ * size, rec, size);
            }
        }

        ngx_shmtx_unlock(&z->shpool->mutex);

        block.n = (uint32_t) k;
        block.crc = ngx_crc32_long(buf, k * size);

        if (ngx_write_fd(fd, &block, sizeof(block)) != sizeof(block)
            || (k && ngx_write_fd(fd, buf, k * size) != (ssize_t) (k * size)))
        {
            return -1;
        }

        total += k;

    } while (k);

    return total;
}


/* the whole file: a temp file, fsync, rename */
static void
ngx_http_mj_state_write(ngx_http_mj_zone_t *z, ngx_log_t *log)
{
    u_char                 *tmp, *buf;
    ngx_fd_t                fd;
    ngx_int_t               tasks;
    mj_state_head_t         head;
    ngx_http_mj_zone_sh_t  *sh;

    if (z->state.len == 0 || z->sh == NULL) {
        return;
    }

    sh = z->sh;
    fd = NGX_INVALID_FILE;

    tmp = ngx_alloc(z->state.len + sizeof(".tmp.") + NGX_INT_T_LEN, log);
    buf = ngx_alloc(MJ_STATE_BLOCK * sizeof(ngx_http_mj_task_t), log);
    if (tmp == NULL || buf == NULL) {
        goto free;
    }

    ngx_sprintf(tmp, "%V.tmp.%P%Z", &z->state, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        goto free;
    }

    mj_state_head(&head, sizeof(ngx_http_mj_task_t),
                  sizeof(ngx_http_mj_counters_t), sh->secret,
                  ngx_http_mj_state_crc);

    if (ngx_write_fd(fd, &head, sizeof(head)) != sizeof(head)) {
        goto failed;
    }

    tasks = ngx_http_mj_state_section(z, fd, buf, (u_char *) sh->tasks,
                                      sh->nslots, sizeof(ngx_http_mj_task_t),
                                      offsetof(ngx_http_mj_task_t, owner),
                                      MJ_STATE_BLOCK);

    if (tasks == -1
        || ngx_http_mj_state_section(z, fd, buf, (u_char *) sh->users,
                                     sh->nusers,
                                     sizeof(ngx_http_mj_counters_t),
                                     offsetof(ngx_http_mj_counters_t, owner),
                                     NGX_HTTP_MJ_USERS_BLOCK) == -1
        || fsync(fd) == -1)
    {
        goto failed;
    }

    (void) ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    if (ngx_rename_file(tmp, z->state.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      tmp, &z->state);
        (void) ngx_delete_file(tmp);
        goto free;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "mj_zone: wrote %i tasks to \"%V\"", tasks, &z->state);

    goto free;

failed:

    ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                  "mj_zone \"%V\": writing \"%s\" failed",
                  &z->shm_zone->shm.name, tmp);
    (void) ngx_close_file(fd);
    (void) ngx_delete_file(tmp);

free:

    if (tmp) {
        ngx_free(tmp);
    }

    if (buf) {
        ngx_free(buf);
    }
}


/*
 * "state=PATH", "off", or the default: <dir>/<zone>.state.  Its folder is
 * an nginx path: created at start and given to the worker user, as
 * proxy_temp_path is, so workers can write there.
 */
char *
ngx_http_mj_state_path(ngx_conf_t *cf, ngx_http_mj_zone_t *z, ngx_str_t *name)
{
    u_char      *p;
    ngx_str_t    s;
    ngx_path_t  *path;

    if (z->state.len == 3 && ngx_strncmp(z->state.data, "off", 3) == 0) {
        ngx_str_null(&z->state);
        return NGX_CONF_OK;
    }

    if (z->state.len == sizeof(NGX_HTTP_MJ_STATE_DIR) - 1
        && ngx_strncmp(z->state.data, NGX_HTTP_MJ_STATE_DIR, z->state.len)
           == 0)
    {
        s.len = z->state.len + 1 + name->len + sizeof(".state") - 1;
        s.data = ngx_pnalloc(cf->pool, s.len);
        if (s.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(s.data, "%V/%V.state", &z->state, name);
        z->state = s;
    }

    if (ngx_conf_full_name(cf->cycle, &z->state, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

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

    return NGX_CONF_OK;
}


static void
ngx_http_mj_snapshot_handler(ngx_event_t *ev)
{
    ngx_http_mj_zone_t  *z = ev->data;

    ngx_http_mj_state_write(z, ev->log);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, z->snapshot);
    }
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


/* worker 0 snapshots every zone with a state file */
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

        /* a respawn after a crash: what the dead worker held comes back */
        ngx_http_mj_pending_reap(z, cycle->log);

        if (ngx_worker != 0) {
            continue;
        }

        ngx_http_mj_state_reclaim(z, mmcf, cycle->log);

        if (z->state.len == 0) {
            continue;
        }

        z->timer.handler = ngx_http_mj_snapshot_handler;
        z->timer.data = z;
        z->timer.log = cycle->log;
        z->timer.cancelable = 1;

        ngx_add_timer(&z->timer, z->snapshot);
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
        ngx_http_mj_state_write(zp[i], cycle->log);
    }
}
