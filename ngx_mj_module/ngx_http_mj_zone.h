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
    ngx_http_mj_task_t         tasks[1];
} ngx_http_mj_zone_sh_t;


/* the store: a zone (and, later, what else it keeps its state in) */
struct ngx_http_mj_store_s {
    ngx_http_mj_zone_sh_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_shm_zone_t            *shm_zone;
    ngx_str_t                  state;       /* empty: no state file */
    ngx_msec_t                 snapshot;
    time_t                     max_age;
    ngx_uint_t                 users;       /* user slots asked for */
    ngx_event_t                timer;
    struct ngx_http_mj_redis_s *redis;      /* NULL: no redis= */
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

/* ngx_http_mj_ustat.c: a user's counters, made on first use; NULL: full */
ngx_http_mj_counters_t *ngx_http_mj_ustat_locked(ngx_http_mj_zone_sh_t *sh,
    uint64_t owner, ngx_uint_t create);
void ngx_http_mj_untrack_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    uint64_t id);
void ngx_http_mj_ustat_reclaim(ngx_http_mj_zone_t *z, uint64_t *owners,
    ngx_uint_t n, ngx_log_t *log);

/* ngx_http_mj_pending.c */
void ngx_http_mj_pending_mark_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_uint_t *slot, uint64_t owner, ngx_uint_t what);
void ngx_http_mj_pending_clear_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_uint_t *slot, ngx_uint_t what);
void ngx_http_mj_pending_reap(ngx_http_mj_zone_t *z, ngx_log_t *log);

#include "ngx_http_mj_state.h"

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

#endif /* NGX_HTTP_MJ_ZONE_H */
