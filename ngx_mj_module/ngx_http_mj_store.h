/*
 * ngx_http_mj_store.h: what the gateway keeps about tasks and users, behind
 * one small interface.
 *
 * The handler and the filters call only these (ngx_http_mj_store.c
 * dispatches them).  ngx_http_mj_zone.c keeps everything in a
 * shared-memory zone and takes the zone's lock once a call.  A zone with
 * "redis=" is the local part of a store shared by several gateway nodes
 * (ngx_http_mj_store_redis.c): the zone first, Redis for what the zone
 * lacks, and for the limits every node must count together.
 *
 * Which calls may complete later: ngx_http_mj_store_admit() and
 * ngx_http_mj_store_commit() may return NGX_AGAIN; the store then calls
 * a->done(a) exactly once, never from inside the call, when a->rc holds
 * what the call would have returned, and the caller resumes (the handler
 * returns NGX_DONE meanwhile and runs the phases again; the filter holds
 * the answer).  a->done is never called once a->pool is destroyed: a
 * request that ends meanwhile ends the wait.  The zone alone always
 * answers at once.  The other calls never make the caller wait: what they
 * change reaches Redis in the background.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_STORE_H
#define NGX_HTTP_MJ_STORE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mj_limit.h"


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

/* a task id as the store keys it */
typedef struct {
    uint64_t                   id;       /* the digits, or a keyed hash */
    uint8_t                    flags;
} ngx_http_mj_tid_t;


/* what the store knows of a task */
typedef struct {
    uint64_t                   owner;    /* 0: no such task */
    uint32_t                   ukey;     /* the upstream key that made it */
    ngx_uint_t                 action;   /* MJ_ACTIONS index + 1; 0: none */
    ngx_uint_t                 status;   /* NGX_HTTP_MJ_ST_* */
    unsigned                   kept:1;   /* the caller's, and admitted */
    unsigned                   remote:1; /* as Redis told it (owner 0: it
                                            has none): the zone does not
                                            look again */
} ngx_http_mj_task_info_t;


/* admitted as nothing: a store shared through Redis that cannot be reached
 * refuses submits (fail=closed) */
#define NGX_HTTP_MJ_STORE_UNREACHABLE  (-100)


typedef struct ngx_http_mj_store_s  ngx_http_mj_store_t;
typedef struct ngx_http_mj_admit_s  ngx_http_mj_admit_t;

/*
 * One request's dealings with the store: what it asks to be admitted
 * with, the verdict, and what it holds until its answer is settled.
 */
struct ngx_http_mj_admit_s {
    /* the caller's */
    ngx_http_mj_store_t       *store;
    uint64_t                   owner;    /* the user */
    ngx_http_mj_tid_t         *tids;     /* the tasks the request names */
    ngx_str_t                 *ids;      /* ... as it names them */
    ngx_uint_t                 ntids;
    unsigned                   list:1;   /* tids is a list to cut */
    unsigned                   place:1;  /* a submit: room for its task */
    ngx_http_mj_verdict_t      limits;   /* settings in, verdict out */
    ngx_log_t                 *log;
    ngx_pool_t                *pool;     /* the request's: see above */
    void                     (*done)(ngx_http_mj_admit_t *a);
    void                      *data;

    /* the store's answer */
    ngx_http_mj_task_info_t   *info;     /* one per tid, zeroed */
    ngx_int_t                  rc;

    /* the zone's step, as a store behind it (Redis) asks for it */
    ngx_uint_t                 missing;  /* named tasks the zone lacks */
    unsigned                   resolve:1;   /* stop at one: count nothing */
    unsigned                   deferred:1;  /* the limits are decided
                                               behind the zone */
    void                      *remote;   /* that store's state */

    /* what an admitted submit holds until it is settled */
    ngx_uint_t                 charged;  /* quota units */
    uint32_t                   charge_day;
    ngx_uint_t                 pending;  /* the store's note of it */
    unsigned                   reserved:1;  /* a place for its task */
    unsigned                   inflight:1;  /* one of the user's in flight */
};


/*
 * Admit a request, in one step:
 *
 *   1. look up the tasks it names: info[i];
 *   2. the ownership rule: a task counts if it is the user's; of a list,
 *      the user's tasks made with the same upstream key as the first of
 *      them (info[i].kept);
 *   3. the limits (ngx_http_mj_limit.h) on the user's counters: the rate
 *      alone when a named task is not the user's or a list keeps none
 *      (guessing ids costs as much as polling), everything else otherwise;
 *   4. a submit: room for its task (evicting if the store is full), and
 *      one more of the user's submits in flight.
 *
 * Returns NGX_OK (admitted, unless a->limits.reject says the limits
 * refused it), NGX_DECLINED (a named task is not the user's, or a list
 * keeps none: only the rate was counted), NGX_BUSY (no room for a task),
 * NGX_ABORT (no room for the user's counters),
 * NGX_HTTP_MJ_STORE_UNREACHABLE (a submit, and Redis cannot be reached
 * with fail=closed: nothing was counted), NGX_AGAIN (see above),
 * NGX_ERROR.
 *
 * With Redis: a task the zone lacks is asked for there (one round trip for
 * all of them, under the user's own keys, so another user's task is never
 * seen at all) and kept in the zone; the limits of a submit (and of a poll
 * with redis_poll_limit=cluster) are decided there, in one round trip.  A
 * poll of a task the zone has costs no round trip.  When Redis cannot be
 * reached, a task the zone lacks is missing, and a submit is refused
 * (fail=closed) or admitted on the node's own counters (fail=open).
 */
ngx_int_t ngx_http_mj_store_admit(ngx_http_mj_admit_t *a);

/*
 * An admitted submit was answered with the task "id" (tid as the store
 * keys it): record it (owner, upstream key, action, status), give back
 * its place and its in-flight count, and give back its units when
 * "refund" (a modal step costs nothing until it is confirmed).  NGX_OK,
 * NGX_DECLINED (the id is another user's task: not recorded), NGX_BUSY
 * (no room), NGX_AGAIN (see above).
 *
 * With Redis the record is kept there too, for max_age, and the call
 * completes once Redis has acknowledged it.  When Redis cannot be reached
 * the task is kept in the zone all the same (the upstream made it; it is
 * the user's) and published when Redis is back.
 */
ngx_int_t ngx_http_mj_store_commit(ngx_http_mj_admit_t *a,
    ngx_http_mj_tid_t *tid, ngx_str_t *id, uint32_t ukey,
    ngx_uint_t action, ngx_uint_t status, ngx_uint_t refund);

/* an admitted submit made no task: its place back, and its units if "refund" */
void ngx_http_mj_store_release(ngx_http_mj_admit_t *a, ngx_uint_t refund);

/* the status of a's task i (the one a fetch named) as its answer showed it */
void ngx_http_mj_store_status(ngx_http_mj_admit_t *a, ngx_uint_t i,
    ngx_uint_t status);

/*
 * The tasks of a list answer to the admitted request "a" (tids and their
 * ids as the answer gives them, status as it shows them): info[i] for
 * each, with kept set for a->owner's, and status the one the store had
 * before; the statuses shown are noted.
 */
void ngx_http_mj_store_list(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tids,
    ngx_str_t *ids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info);

/* a task id as the store keys it: digits as they are, else a keyed hash */
ngx_int_t ngx_http_mj_store_tid(ngx_http_mj_store_t *store, u_char *id,
    size_t len, ngx_http_mj_tid_t *tid);

/* "NOT_START", ...: NGX_HTTP_MJ_ST_*, or NGX_HTTP_MJ_ST_UNKNOWN */
ngx_uint_t ngx_http_mj_status_code(const u_char *s, size_t len);

#endif /* NGX_HTTP_MJ_STORE_H */
