/*
 * ngx_http_mj_zone.h: the shared task-ownership zone.
 */

#ifndef NGX_HTTP_MJ_ZONE_H
#define NGX_HTTP_MJ_ZONE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mj_users_parse.h"


/* a task's last status as the gateway saw it in a fetch or list answer */
enum {
    NGX_HTTP_MJ_ST_UNKNOWN = 0,
    NGX_HTTP_MJ_ST_NOT_START,
    NGX_HTTP_MJ_ST_SUBMITTED,
    NGX_HTTP_MJ_ST_MODAL,
    NGX_HTTP_MJ_ST_IN_PROGRESS,
    NGX_HTTP_MJ_ST_SUCCESS,
    NGX_HTTP_MJ_ST_FAILURE,
    NGX_HTTP_MJ_ST_CANCEL
};

#define ngx_http_mj_finished(st)  ((st) >= NGX_HTTP_MJ_ST_SUCCESS)


#define NGX_HTTP_MJ_TASK_HASHED   0x01   /* id is a keyed hash, not digits */


/* one tracked task: 32 bytes, in a table preallocated in the zone */
typedef struct {
    uint64_t                   id;       /* the digits, or a keyed hash */
    uint64_t                   owner;    /* user identity; 0: free slot */
    uint32_t                   created;  /* unix time */
    uint32_t                   ukey;     /* upstream key identity */
    uint32_t                   seen;     /* unix time of the last status */
    uint8_t                    status;
    uint8_t                    flags;
    uint16_t                   spare;
} ngx_http_mj_task_t;


/* a user's counters: limits, quota, what the status endpoint shows */
#define NGX_HTTP_MJ_TRACK  MJ_TASKS_MAX  /* unfinished tasks tracked */

typedef struct {
    uint64_t                   id;
    uint32_t                   created;
    uint32_t                   spare;
} ngx_http_mj_track_t;


enum {
    NGX_HTTP_MJ_REJ_RATE = 0,
    NGX_HTTP_MJ_REJ_TASKS,
    NGX_HTTP_MJ_REJ_QUOTA,
    NGX_HTTP_MJ_REJ_ACTION,
    NGX_HTTP_MJ_REJ_N
};


typedef struct {
    uint64_t                   owner;       /* 0: free slot */
    uint64_t                   last[2];     /* ms: submit, poll buckets */
    uint32_t                   excess[2];   /* 1/1000 requests */
    uint32_t                   day;         /* UTC day of quota_used */
    uint32_t                   quota_used;
    uint64_t                   requests;
    uint64_t                   submits;
    uint32_t                   rejected[NGX_HTTP_MJ_REJ_N];
    uint32_t                   tracked;     /* tasks in the zone */
    uint32_t                   inflight;    /* submits not answered yet */
    uint32_t                   nunfinished;
    ngx_http_mj_track_t        unfinished[NGX_HTTP_MJ_TRACK];
} ngx_http_mj_ustat_t;


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


/* a task id as the zone keys it */
typedef struct {
    uint64_t                   id;
    uint8_t                    flags;
} ngx_http_mj_tid_t;


typedef struct {
    u_char                     secret[16];
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
    ngx_http_mj_ustat_t       *users;       /* after the tasks */
    ngx_uint_t                 nusers;      /* slots */
    ngx_uint_t                 users_max;   /* at most 3/4 of the slots */
    ngx_uint_t                 users_used;
    time_t                     users_logged;
    ngx_http_mj_pending_t     *pending;     /* before the users */
    ngx_uint_t                 npending;
    ngx_uint_t                 pending_hint;
    ngx_http_mj_task_t         tasks[1];
} ngx_http_mj_zone_sh_t;


typedef struct {
    ngx_http_mj_zone_sh_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_shm_zone_t            *shm_zone;
    ngx_str_t                  state;       /* empty: no state file */
    ngx_msec_t                 snapshot;
    time_t                     max_age;
    ngx_uint_t                 users;       /* user slots asked for */
    ngx_event_t                timer;
    struct ngx_http_mj_redis_s *redis;      /* NULL: no redis= */
} ngx_http_mj_zone_t;


char *ngx_http_mj_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mj_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_mj_zone_exit(ngx_cycle_t *cycle);

/* ngx_http_mj_redis.c: the redis parameters of mj_zone */
ngx_int_t ngx_http_mj_redis_zone_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value);
ngx_int_t ngx_http_mj_redis_zone_done(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name);

ngx_int_t ngx_http_mj_insert_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_http_mj_task_t *rec);

/* ngx_http_mj_state.c */
void ngx_http_mj_state_restore(ngx_http_mj_zone_t *z, ngx_log_t *log);

ngx_int_t ngx_http_mj_tid(ngx_http_mj_zone_t *z, ngx_str_t *id,
    ngx_http_mj_tid_t *tid);

/* the owner and upstream key identity of a task, 0 if not tracked */
uint64_t ngx_http_mj_task_owner(ngx_http_mj_zone_t *z,
    ngx_http_mj_tid_t *tid, uint32_t *ukey, ngx_uint_t *action);

/* "pending": the submit's slot in the zone's table of submits in flight */
ngx_int_t ngx_http_mj_task_reserve(ngx_http_mj_zone_t *z,
    ngx_uint_t *pending, uint64_t owner, ngx_log_t *log);
void ngx_http_mj_task_release(ngx_http_mj_zone_t *z, ngx_uint_t *pending);
ngx_int_t ngx_http_mj_task_commit(ngx_http_mj_zone_t *z,
    ngx_uint_t *pending, ngx_http_mj_tid_t *tid, uint64_t owner,
    uint32_t ukey, ngx_uint_t action, ngx_uint_t status, ngx_log_t *log);

/* ngx_http_mj_pending.c */
void ngx_http_mj_pending_mark_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_uint_t *slot, uint64_t owner, ngx_uint_t what);
void ngx_http_mj_pending_clear_locked(ngx_http_mj_zone_sh_t *sh,
    ngx_uint_t *slot, ngx_uint_t what);
void ngx_http_mj_pending_reap(ngx_http_mj_zone_t *z, ngx_log_t *log);
void ngx_http_mj_task_status(ngx_http_mj_zone_t *z, ngx_http_mj_tid_t *tid,
    ngx_uint_t status);
ngx_uint_t ngx_http_mj_status_code(u_char *s, size_t len);

/* ngx_http_mj_ustat.c */
/* under the zone's lock: a user's counters, made on first use; NULL: full */
ngx_http_mj_ustat_t *ngx_http_mj_ustat_locked(ngx_http_mj_zone_sh_t *sh,
    uint64_t owner, ngx_uint_t create);
void ngx_http_mj_untrack_locked(ngx_http_mj_zone_sh_t *sh, uint64_t owner,
    uint64_t id);

#endif /* NGX_HTTP_MJ_ZONE_H */
