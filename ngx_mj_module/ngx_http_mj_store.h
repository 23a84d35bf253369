/*
 * ngx_http_mj_store.h: what the gateway keeps about tasks and users, behind
 * one small interface.
 *
 * The handler and the filters call only these.  ngx_http_mj_zone.c keeps
 * them in a shared-memory zone and takes the zone's lock once a call; a
 * store on the network (Redis) would keep them there, and answer later.
 *
 * Which calls may complete later: ngx_http_mj_store_admit() and
 * ngx_http_mj_store_commit() may return NGX_AGAIN; the store then calls
 * a->done(a) once, when a->rc holds what the call would have returned, and
 * the caller resumes (the handler returns NGX_DONE meanwhile and runs the
 * phases again; the filter holds the answer).  The zone always answers at
 * once.  The other calls never make the caller wait: what they change
 * reaches a network store in the background.
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
} ngx_http_mj_task_info_t;


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
    ngx_uint_t                 ntids;
    unsigned                   list:1;   /* tids is a list to cut */
    unsigned                   place:1;  /* a submit: room for its task */
    ngx_http_mj_verdict_t      limits;   /* settings in, verdict out */
    ngx_log_t                 *log;
    void                     (*done)(ngx_http_mj_admit_t *a);
    void                      *data;

    /* the store's answer */
    ngx_http_mj_task_info_t   *info;     /* one per tid */
    ngx_int_t                  rc;

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
 * NGX_AGAIN (see above), NGX_ERROR.
 */
ngx_int_t ngx_http_mj_store_admit(ngx_http_mj_admit_t *a);

/*
 * An admitted submit was answered with a task: record it (owner, upstream
 * key, action, status), give back its place and its in-flight count, and
 * give back its units when "refund" (a modal step costs nothing until it
 * is confirmed).  NGX_OK, NGX_DECLINED (the id is another user's task: not
 * recorded), NGX_BUSY (no room), NGX_AGAIN (see above).
 */
ngx_int_t ngx_http_mj_store_commit(ngx_http_mj_admit_t *a,
    ngx_http_mj_tid_t *tid, uint32_t ukey, ngx_uint_t action,
    ngx_uint_t status, ngx_uint_t refund);

/* an admitted submit made no task: its place back, and its units if "refund" */
void ngx_http_mj_store_release(ngx_http_mj_admit_t *a, ngx_uint_t refund);

/* a task's status as an answer showed it */
void ngx_http_mj_store_status(ngx_http_mj_store_t *store,
    ngx_http_mj_tid_t *tid, ngx_uint_t status);

/*
 * A list answer's tasks: info[i] for each of them, with kept set for the
 * owner's, whose statuses are noted.
 */
void ngx_http_mj_store_list(ngx_http_mj_store_t *store, uint64_t owner,
    ngx_http_mj_tid_t *tids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info);

/* a task id as the store keys it: digits as they are, else a keyed hash */
ngx_int_t ngx_http_mj_store_tid(ngx_http_mj_store_t *store, u_char *id,
    size_t len, ngx_http_mj_tid_t *tid);

/* "NOT_START", ...: NGX_HTTP_MJ_ST_*, or NGX_HTTP_MJ_ST_UNKNOWN */
ngx_uint_t ngx_http_mj_status_code(const u_char *s, size_t len);

#endif /* NGX_HTTP_MJ_STORE_H */
