/*
 * ngx_http_mj_zone.h: the store kept in a shared-memory zone ("mj_zone"):
 * its layout, and what its files share (ngx_http_mj_zone.c, the tasks and
 * the store's calls; ngx_http_mj_ustat.c, users' counters;
 * ngx_http_mj_pending.c, submits in flight; ngx_http_mj_state.c, the state
 * file; ngx_http_mj_table.c, the tables' probing).
 *
 * Everything in the zone is read and written under the slab pool's mutex:
 * the functions named *_locked expect it held.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_ZONE_H
#define NGX_HTTP_MJ_ZONE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* one tracked task: 32 bytes, in a table preallocated in the zone */
typedef struct {
    uint64_t                   id;       /* the digits, or a keyed hash */
    uint64_t                   owner;    /* user identity; 0: free slot */
    uint32_t                   created;  /* unix time */
    uint32_t                   ukey;     /* upstream key identity */
    uint32_t                   seen;     /* unix time of the last status */
    uint8_t                    status;
    uint8_t                    flags;    /* NGX_HTTP_MJ_TASK_HASHED */
    uint16_t                   action;   /* MJ_ACT_* */
} ngx_http_mj_task_t;


/*
 * Failed key checks of one client address, keyed by the whole address (an
 * IPv4 one as IPv6 maps it): sets of a few ways, the least recently failed
 * way of a full set making room.
 */
#define NGX_HTTP_MJ_ADDRS     192     /* 6 KiB of the zone */
#define NGX_HTTP_MJ_ADDR_WAYS 4

typedef struct {
    u_char                     addr[16];
    uint64_t                   last;        /* ms; 0: free */
    uint32_t                   excess;
    uint32_t                   family;
} ngx_http_mj_addr_t;


/* what a submit in flight holds: see ngx_http_mj_pending.c */
#define NGX_HTTP_MJ_PEND_RESERVED  1    /* a place in the zone */
#define NGX_HTTP_MJ_PEND_INFLIGHT  2    /* one of its user's "inflight" */

typedef struct {
    uint64_t                   owner;
    uint32_t                   pid;         /* 0: free */
    uint32_t                   what;        /* NGX_HTTP_MJ_PEND_* */
    uint32_t                   charged;     /* quota units held */
    uint32_t                   day;         /* of the charge */
    uint32_t                   since;       /* unix time of the admission */
    uint32_t                   pad;
} ngx_http_mj_pending_t;


typedef struct {
    u_char                     secret[16];  /* keys hashed task ids */
    ngx_uint_t                 nslots;
    ngx_uint_t                 max;         /* records allowed */
    ngx_uint_t                 count;
    ngx_uint_t                 reserved;    /* submits in flight */
    ngx_uint_t                 finished;    /* records seen finished */
    ngx_uint_t                 cursor;      /* eviction clock hand */
    time_t                     young_until; /* nothing is old until then */
    ngx_uint_t                 evicted;
    ngx_uint_t                 refused;
    time_t                     refused_logged;
    ngx_uint_t                 full_logged;
    ngx_http_mj_addr_t         addrs[NGX_HTTP_MJ_ADDRS];
    ngx_atomic_t               auth_last;   /* ms of the latest failure */
    ngx_atomic_t               auth_peak;   /* the fullest bucket left */
    ngx_http_mj_counters_t    *users;       /* after the tasks */
    ngx_uint_t                 nusers;      /* slots */
    ngx_uint_t                 users_max;   /* at most 3/4 of the slots */
    ngx_uint_t                 users_used;
    time_t                     users_logged;
    ngx_http_mj_pending_t     *pending;     /* before the users */
    ngx_uint_t                 npending;
    ngx_uint_t                 pending_hint;
    uint64_t                   jgen;        /* the journal file written */
    uint64_t                   jseq;        /* the next record's */
    ngx_pid_t                  snap_pid;    /* writing a snapshot; 0 */
    ngx_uint_t                 snap_soon;   /* a snapshot at once: made by a
                                               resize, or a journal replayed */
    ngx_http_mj_task_t         tasks[1];
} ngx_http_mj_zone_sh_t;


/* journal_fsync= */
#define NGX_HTTP_MJ_FSYNC_OFF     0
#define NGX_HTTP_MJ_FSYNC_ALWAYS  ((ngx_msec_t) -1)


/* the store: a zone, and Redis behind it when it has redis= */
struct ngx_http_mj_store_s {
    ngx_http_mj_zone_sh_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_shm_zone_t            *shm_zone;
    ngx_str_t                  state;       /* empty: no state file */
    ngx_str_t                  state_dir;   /* its folder, NUL-ended */
    ngx_str_t                  state_base;  /* its name in the folder */
    ngx_msec_t                 snapshot;
    time_t                     max_age;
    ngx_uint_t                 users;       /* user slots asked for */
    struct ngx_http_mj_redis_s *redis;      /* NULL: no redis= */
    struct ngx_http_mj_rstore_s *rstore;    /* the store behind it */

    /* the journal (ngx_http_mj_journal.c), this process's side of it */
    ngx_flag_t                 journal;
    ngx_msec_t                 fsync;       /* NGX_HTTP_MJ_FSYNC_*, or ms */
    u_char                    *jpath;       /* "<state>.journal.<gen>" */
    ngx_fd_t                   jfd;
    uint64_t                   jfd_gen;
    time_t                     jfailed;     /* a write failed: logged */
    ngx_msec_t                 snap_next;   /* the manager's times */
    ngx_msec_t                 sync_next;
    struct ngx_http_mj_cache_s *tids;       /* task ids hashed: a worker's */
};

typedef struct ngx_http_mj_store_s  ngx_http_mj_zone_t;


/* ngx_http_mj_zone.c */
char *ngx_http_mj_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_mj_redis.c: the redis parameters of mj_zone */
ngx_int_t ngx_http_mj_redis_zone_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value);
ngx_int_t ngx_http_mj_redis_zone_done(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name);

ngx_int_t ngx_http_mj_insert_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_task_t *rec);

/* the store's calls (ngx_http_mj_store.h), as the zone alone makes them */
ngx_int_t ngx_http_mj_zone_admit(ngx_http_mj_admit_t *a);
ngx_int_t ngx_http_mj_zone_commit(ngx_http_mj_admit_t *a,
    ngx_http_mj_tid_t *tid, uint32_t ukey, ngx_uint_t action,
    ngx_uint_t status, ngx_uint_t refund);
void ngx_http_mj_zone_release(ngx_http_mj_admit_t *a, ngx_uint_t refund);
void ngx_http_mj_zone_status(ngx_http_mj_store_t *store,
    ngx_http_mj_tid_t *tid, ngx_uint_t status);
void ngx_http_mj_zone_list(ngx_http_mj_store_t *store, uint64_t owner,
    ngx_http_mj_tid_t *tids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info);

/* ... and what a store behind the zone (Redis) asks of it */
ngx_int_t ngx_http_mj_zone_verdict(ngx_http_mj_admit_t *a, ngx_uint_t local,
    ngx_int_t used);
void ngx_http_mj_zone_cache(ngx_http_mj_zone_t *z, ngx_http_mj_task_t *recs,
    ngx_uint_t n, ngx_log_t *log);
ngx_uint_t ngx_http_mj_zone_copy(ngx_http_mj_zone_t *z, ngx_uint_t users,
    ngx_uint_t *cursor, void *buf, ngx_uint_t max);

/* ngx_http_mj_ustat.c: a user's counters, made on first use; NULL: full */
ngx_http_mj_counters_t *ngx_http_mj_ustat_locked(ngx_http_mj_zone_sh_t *sh,
    uint64_t owner, ngx_uint_t create);
void ngx_http_mj_untrack_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    uint64_t id);
void ngx_http_mj_ustat_reclaim(ngx_http_mj_zone_t *z, uint64_t *owners,
    ngx_uint_t n, ngx_log_t *log);

/* the units a crash would keep: quota_used but for those "held" */
uint32_t ngx_http_mj_ustat_settled(ngx_http_mj_counters_t *u);

/* a user's counters from a state file or a journal, after a crash */
ngx_int_t ngx_http_mj_ustat_restore_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_counters_t *rec);
struct ngx_http_mj_juser_s;
ngx_int_t ngx_http_mj_ustat_replay_locked(ngx_http_mj_zone_sh_t *sh,
    struct ngx_http_mj_juser_s *j);

/* ngx_http_mj_pending.c */
void ngx_http_mj_pending_mark_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_admit_t *a, ngx_uint_t what);
void ngx_http_mj_pending_clear_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_uint_t *slot, ngx_uint_t what);
void ngx_http_mj_pending_reap(ngx_http_mj_zone_t *z, ngx_cycle_t *cycle);

/* ngx_http_mj_zone.c: a journal record applied at a start */
ngx_int_t ngx_http_mj_replay_task_locked(ngx_http_mj_zone_t *z,
    ngx_uint_t type, ngx_http_mj_task_t *rec, ngx_log_t *log);

#include "ngx_http_mj_state.h"
#include "ngx_http_mj_journal.h"

/* ngx_http_mj_table.c: open addressing, linear probing, no tombstones */
typedef struct {
    u_char                    *slots;
    size_t                     size;        /* of a record */
    ngx_uint_t                 n;
    /* the slot a record's key hashes to */
    ngx_uint_t               (*home)(const void *rec, ngx_uint_t n);
    /* 0: a free slot */
    ngx_uint_t               (*used)(const void *rec);
} ngx_http_mj_table_t;

void ngx_http_mj_table_delete(ngx_http_mj_table_t *t, ngx_uint_t i);
ngx_uint_t ngx_http_mj_table_copy(u_char *slots, ngx_uint_t n, size_t size,
    size_t used, ngx_uint_t *cursor, u_char *buf, ngx_uint_t max);

#endif /* NGX_HTTP_MJ_ZONE_H */
