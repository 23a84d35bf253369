/*
 * ngx_http_mj_store_redis.c: the store (ngx_http_mj_store.h) shared by
 * several gateway nodes: "mj_zone ... redis=ADDRESS" makes the zone the
 * node's part of it and Redis the part all nodes share.
 *
 *   a poll     the zone first: a task it has costs no round trip (an owner
 *              never changes).  Tasks it lacks are asked for in Redis in
 *              one round trip (MGET), under the asking user's own keys:
 *              another user's task is not there, exactly like a task that
 *              does not exist.  What Redis has is kept in the zone.
 *   a submit   its limits (rate, cap, quota) checked and taken in Redis in
 *              one round trip (limits.lua), by the rules the zone keeps;
 *              its answer's task recorded there (commit.lua), and the
 *              answer held until Redis acknowledged it.
 *   statuses   seen in fetch and list answers, sent to Redis without
 *              waiting (status.lua): the cap sees tasks finished on any
 *              node.
 *
 * Redis cannot be reached (down, hung past redis_timeout, a bad reply):
 * fail=closed refuses submits before the upstream is contacted, and a
 * task the zone lacks is not found; fail=open admits on the node's own
 * counters.  A task committed while Redis could not take it stays in the
 * zone, and worker 0 publishes the zone again (republish.lua, quota.lua)
 * when Redis is back, and whenever Redis lost the node's mark: a Redis
 * restarted empty gets every node's tasks back.
 *
 * No call here waits: every Redis command goes through the worker's
 * connection (ngx_http_mj_redis.c), and its reply resumes the request.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"
#include "ngx_http_mj_redis.h"
#include "ngx_http_mj_store_redis.h"

/* the scripts, made by ngx_mj_module/redis/lua.sh from the .lua files */
#include "ngx_http_mj_lua.h"


#define NGX_HTTP_MJ_RSTORE_INFLIGHT  600     /* s a submit stays in flight */
#define NGX_HTTP_MJ_RSTORE_COUNTERS  172800  /* s a user's counters idle */
#define NGX_HTTP_MJ_RSTORE_TICK      1000    /* ms: worker 0's look */
#define NGX_HTTP_MJ_RSTORE_MARK      5       /* ticks: at its mark */
#define NGX_HTTP_MJ_RSTORE_BATCH     (32 * 1024)  /* bytes copied a step */
#define NGX_HTTP_MJ_RSTORE_KEY       (64 + 32 + NGX_HTTP_MJ_TASK_ID_MAX)
#define NGX_HTTP_MJ_RSTORE_ARGS      16      /* limits.lua: 3 + 11 */


enum {
    NGX_HTTP_MJ_LUA_LIMITS = 0,
    NGX_HTTP_MJ_LUA_COMMIT,
    NGX_HTTP_MJ_LUA_SETTLE,
    NGX_HTTP_MJ_LUA_STATUS,
    NGX_HTTP_MJ_LUA_REPUBLISH,
    NGX_HTTP_MJ_LUA_QUOTA,
    NGX_HTTP_MJ_LUA_N
};


/* the counters mj_status shows, and what the node's workers share */
typedef struct {
    ngx_atomic_t               lookups;     /* round trips for tasks */
    ngx_atomic_t               found;       /* tasks found in them */
    ngx_atomic_t               limits;      /* verdicts reached in Redis */
    ngx_atomic_t               commits;     /* tasks Redis acknowledged */
    ngx_atomic_t               statuses;    /* statuses sent */
    ngx_atomic_t               fail_closed; /* answers given by fail= */
    ngx_atomic_t               fail_open;
    ngx_atomic_t               unpublished; /* commits Redis did not take */
    ngx_atomic_t               republished; /* tasks published again */
    ngx_atomic_t               republishes; /* passes over the zone */
    ngx_atomic_t               dirty;       /* a pass is wanted */
    ngx_atomic_t               outage;      /* its fail mode logged */
} ngx_http_mj_rstore_shm_t;


struct ngx_http_mj_rstore_s {
    ngx_http_mj_zone_t          *zone;
    ngx_http_mj_redis_t         *redis;
    ngx_http_mj_redis_conf_t    *conf;
    ngx_http_mj_redis_script_t  *script[NGX_HTTP_MJ_LUA_N];
    ngx_http_mj_rstore_shm_t    *sh;

    /* a worker's */
    u_char                       node[16];    /* hex; 0: not yet */
    uint64_t                     serial;      /* its reservations */
    time_t                       logged;      /* a bad reply, last */

    /* worker 0's passes over the zone */
    ngx_event_t                  timer;
    u_char                      *buf;
    ngx_uint_t                   phase;       /* 0: none, tasks, users */
    ngx_uint_t                   cursor;
    ngx_uint_t                   outstanding;
    ngx_uint_t                   published;
    ngx_uint_t                   skipped;
    ngx_uint_t                   ticks;
    unsigned                     mark:1;      /* look for the node's mark */
    unsigned                     failed:1;    /* of the pass under way */
};


/* a request's dealings with Redis: a->remote */
typedef struct {
    ngx_http_mj_admit_t         *admit;
    ngx_http_mj_rstore_t        *rs;
    ngx_int_t                    rc;          /* the zone's, on the tasks */
    ngx_uint_t                   charged;     /* units Redis took */
    uint32_t                     day;
    u_char                       rid[48];     /* its reservation */
    size_t                       rid_len;
    ngx_str_t                    id;          /* the task it made */
    uint32_t                     ukey;        /* ... its record */
    ngx_uint_t                   action;
    ngx_uint_t                   status;
    unsigned                     refund:1;
    unsigned                     scripted:1;  /* commit.lua, not SET NX */
    unsigned                     failed:1;    /* Redis is not asked again */
    unsigned                     local:1;     /* admitted without Redis */
    unsigned                     held:1;      /* Redis holds rid, units */
} ngx_http_mj_rstore_req_t;


/* a command's arguments, formatted into a buffer of their own */
typedef struct {
    const char                  *argv[NGX_HTTP_MJ_RSTORE_ARGS];
    size_t                       len[NGX_HTTP_MJ_RSTORE_ARGS];
    int                          n;
    u_char                      *p;
    u_char                       buf[4 * NGX_HTTP_MJ_RSTORE_KEY + 256];
} ngx_http_mj_rstore_args_t;


enum {
    NGX_HTTP_MJ_PHASE_NONE = 0,
    NGX_HTTP_MJ_PHASE_TASKS,
    NGX_HTTP_MJ_PHASE_USERS
};


static ngx_int_t ngx_http_mj_rstore_step(ngx_http_mj_rstore_req_t *rq);
static void ngx_http_mj_rstore_node(ngx_http_mj_rstore_t *rs);
static void ngx_http_mj_rstore_batch(ngx_http_mj_rstore_t *rs);


/* arguments */

static void
ngx_http_mj_rstore_args(ngx_http_mj_rstore_args_t *args)
{
    args->n = 0;
    args->p = args->buf;
}


static void ngx_cdecl
ngx_http_mj_rstore_arg(ngx_http_mj_rstore_args_t *args, const char *fmt, ...)
{
    u_char   *start;
    va_list   ap;

    if (args->n == NGX_HTTP_MJ_RSTORE_ARGS) {
        /* the callers' commands have fewer: never here */
        return;
    }

    start = args->p;

    va_start(ap, fmt);
    args->p = ngx_vslprintf(args->p, args->buf + sizeof(args->buf), fmt, ap);
    va_end(ap);

    args->argv[args->n] = (const char *) start;
    args->len[args->n++] = args->p - start;
}


/* one of a user's keys: "P{U}:what", an id after it when "id" */
static void
ngx_http_mj_rstore_key(ngx_http_mj_rstore_args_t *args,
    ngx_http_mj_rstore_t *rs, uint64_t owner, char *what, ngx_str_t *id)
{
    ngx_str_t  none = ngx_null_string;

    ngx_http_mj_rstore_arg(args, "%V{%016xL}:%s%V", &rs->conf->prefix,
                           owner, what, id ? id : &none);
}


static ngx_int_t
ngx_http_mj_rstore_eval(ngx_http_mj_rstore_t *rs, ngx_uint_t script,
    ngx_pool_t *pool, ngx_http_mj_redis_handler_pt handler, void *data,
    int nkeys, ngx_http_mj_rstore_args_t *args)
{
    return ngx_http_mj_redis_eval(rs->script[script], pool, handler, data,
                                  nkeys, args->n, args->argv, args->len);
}


/* replies */

/*
 * Whether a reply is one of "type" (an array: of "n" elements, integers
 * when "ints"); a failure is NGX_ERROR too.  An error or another reply is
 * logged, at most once a second a worker (the adapter logs the outages).
 * A good one ends the fail mode's outage.
 */
static ngx_int_t
ngx_http_mj_rstore_reply(ngx_http_mj_rstore_t *rs, redisReply *reply,
    char *what, int type, size_t n, ngx_uint_t ints)
{
    size_t   i;
    char    *why;

    why = NULL;

    if (reply == NULL) {
        return NGX_ERROR;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        why = "an error";

    } else if (reply->type != type
               || (type == REDIS_REPLY_ARRAY && reply->elements != n))
    {
        why = "a reply of another kind";

    } else {
        for (i = 0; ints && i < n; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
                why = "a reply of another kind";
            }
        }
    }

    if (why) {
        if (rs->logged != ngx_time()) {
            rs->logged = ngx_time();
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "mj_zone \"%V\": redis answered %s with %s%s%*s",
                          &rs->zone->shm_zone->shm.name, what, why,
                          reply->type == REDIS_REPLY_ERROR ? ": " : "",
                          reply->type == REDIS_REPLY_ERROR
                          ? ngx_min(reply->len, 200) : 0, reply->str);
        }

        return NGX_ERROR;
    }

    if (rs->sh->outage && ngx_atomic_cmp_set(&rs->sh->outage, 1, 0)) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mj_zone \"%V\": redis answers again: the nodes "
                      "share their tasks and limits again",
                      &rs->zone->shm_zone->shm.name);
    }

    return NGX_OK;
}


/* a command sent without waiting: only a bad reply is of interest */
static void
ngx_http_mj_rstore_sent(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_t  *rs = data;

    if (reply) {
        (void) ngx_http_mj_rstore_reply(rs, reply, "a script",
                                        REDIS_REPLY_INTEGER, 0, 0);
    }
}


/*
 * Redis cannot answer this node: the fail mode's answer is given, and
 * said once an outage (for the node: the flag is shared by its workers).
 */
static void
ngx_http_mj_rstore_fallback(ngx_http_mj_rstore_t *rs, ngx_log_t *log)
{
    ngx_flag_t  open;

    open = rs->conf->fail_open;

    (void) ngx_atomic_fetch_add(open ? &rs->sh->fail_open
                                     : &rs->sh->fail_closed, 1);

    if (!ngx_atomic_cmp_set(&rs->sh->outage, 0, 1)) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "mj_zone \"%V\": redis %V cannot be reached: %s",
                  &rs->zone->shm_zone->shm.name, &rs->conf->addr,
                  open ? "this node admits on its own counters and "
                         "keeps its tasks to publish later (fail=open)"
                       : "submits are refused and tasks this node has "
                         "not seen are not found (fail=closed)");
}


/* "UKEY,ACTION,STATUS,CREATED" into a zone's record */
static ngx_int_t
ngx_http_mj_rstore_parse(u_char *p, size_t len, ngx_http_mj_task_t *rec)
{
    u_char     *last, *f[4], *end[4];
    ngx_int_t   n[4];
    ngx_uint_t  i;

    last = p + len;

    for (i = 0; i < 4; i++) {
        f[i] = p;

        while (p < last && *p != ',') {
            p++;
        }

        end[i] = p++;
    }

    if (end[3] != last) {
        return NGX_ERROR;
    }

    n[0] = ngx_hextoi(f[0], end[0] - f[0]);

    for (i = 1; i < 4; i++) {
        n[i] = ngx_atoi(f[i], end[i] - f[i]);
    }

    if (n[0] == NGX_ERROR || n[1] == NGX_ERROR || n[1] > MJ_NACTIONS
        || n[2] == NGX_ERROR || n[2] > NGX_HTTP_MJ_ST_CANCEL
        || n[3] == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    rec->ukey = (uint32_t) n[0];
    rec->action = (uint16_t) n[1];
    rec->status = (uint8_t) n[2];
    rec->created = (uint32_t) n[3];
    rec->seen = (uint32_t) ngx_time();

    return NGX_OK;
}


/* admission */

/* what Redis has of the tasks the zone lacks, kept in the zone */
static void
ngx_http_mj_rstore_found(ngx_http_mj_rstore_req_t *rq, redisReply *reply)
{
    ngx_uint_t                i, k, m;
    redisReply               *el;
    ngx_http_mj_task_t       *recs, *rec;
    ngx_http_mj_admit_t      *a;
    ngx_http_mj_task_info_t  *info;

    a = rq->admit;

    recs = ngx_pcalloc(a->pool, reply->elements * sizeof(ngx_http_mj_task_t));
    if (recs == NULL) {
        return;
    }

    for (i = 0, k = 0, m = 0; i < a->ntids; i++) {
        info = &a->info[i];

        if (info->remote || info->owner) {
            continue;
        }

        el = reply->element[k++];
        info->remote = 1;

        if (el->type == REDIS_REPLY_NIL) {
            continue;
        }

        rec = &recs[m];

        if (el->type != REDIS_REPLY_STRING
            || ngx_http_mj_rstore_parse((u_char *) el->str, el->len, rec)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, a->log, 0,
                          "mj_zone \"%V\": redis holds something else than "
                          "a task under task \"%V\"; taken as no task",
                          &rq->rs->zone->shm_zone->shm.name, &a->ids[i]);
            continue;
        }

        rec->id = a->tids[i].id;
        rec->flags = a->tids[i].flags;
        rec->owner = a->owner;
        m++;

        info->owner = a->owner;
        info->ukey = rec->ukey;
        info->action = rec->action;
        info->status = rec->status;
    }

    (void) ngx_atomic_fetch_add(&rq->rs->sh->found, m);

    ngx_http_mj_zone_cache(rq->rs->zone, recs, m, a->log);
}


/* every admission step that waited on Redis ends here */
static void
ngx_http_mj_rstore_resume(ngx_http_mj_rstore_req_t *rq, ngx_int_t rc)
{
    if (rc != NGX_AGAIN) {
        rq->admit->rc = rc;
        rq->admit->done(rq->admit);
    }
}


static void
ngx_http_mj_rstore_looked_up(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_req_t  *rq = data;

    if (ngx_http_mj_rstore_reply(rq->rs, reply, "MGET", REDIS_REPLY_ARRAY,
                                 rq->admit->missing, 0)
        == NGX_OK)
    {
        ngx_http_mj_rstore_found(rq, reply);

    } else {
        /* the tasks the zone lacks are missing */
        rq->failed = 1;
        ngx_http_mj_rstore_fallback(rq->rs, rq->admit->log);
    }

    ngx_http_mj_rstore_resume(rq, ngx_http_mj_rstore_step(rq));
}


/* the tasks the zone lacks, asked for under the user's own keys */
static ngx_int_t
ngx_http_mj_rstore_lookup(ngx_http_mj_rstore_req_t *rq)
{
    u_char                *p, *keys;
    size_t                *lens;
    ngx_uint_t             i, n;
    const char           **argv;
    ngx_str_t             *prefix;
    ngx_http_mj_admit_t   *a;

    a = rq->admit;
    prefix = &rq->rs->conf->prefix;

    argv = ngx_palloc(a->pool, (a->missing + 1) * sizeof(char *));
    lens = ngx_palloc(a->pool, (a->missing + 1) * sizeof(size_t));
    keys = ngx_pnalloc(a->pool, a->missing * NGX_HTTP_MJ_RSTORE_KEY);
    if (argv == NULL || lens == NULL || keys == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "MGET";
    lens[0] = 4;
    n = 1;

    for (i = 0, p = keys; i < a->ntids; i++) {
        if (a->info[i].remote || a->info[i].owner) {
            continue;
        }

        argv[n] = (const char *) p;
        p = ngx_sprintf(p, "%V{%016xL}:t:%V", prefix, a->owner, &a->ids[i]);
        lens[n] = p - (u_char *) argv[n];
        n++;
    }

    (void) ngx_atomic_fetch_add(&rq->rs->sh->lookups, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, a->log, 0,
                   "mj: redis: asked for %ui tasks the zone lacks",
                   a->missing);

    return ngx_http_mj_redis_command(rq->rs->redis, a->pool,
                                     ngx_http_mj_rstore_looked_up, rq,
                                     (int) n, argv, lens);
}


/*
 * Redis could not give the verdict (rc: the zone's on the tasks): the
 * fail mode's.  fail=closed refuses a submit the zone admitted, and gives
 * its place back; otherwise the node's counters decide.
 */
static ngx_int_t
ngx_http_mj_rstore_unreachable(ngx_http_mj_rstore_req_t *rq, ngx_int_t rc)
{
    ngx_int_t             vrc;
    ngx_http_mj_admit_t  *a;

    a = rq->admit;

    ngx_http_mj_rstore_fallback(rq->rs, a->log);

    if (rc == NGX_OK && a->place && !rq->rs->conf->fail_open) {
        ngx_http_mj_zone_release(a, 0);
        return NGX_HTTP_MJ_STORE_UNREACHABLE;
    }

    rq->local = 1;

    if (a->deferred) {
        vrc = ngx_http_mj_zone_verdict(a, 1, -1);

        if (vrc != NGX_OK) {
            return vrc;
        }
    }

    return rc;
}


/* limits.lua's answer, as the verdict ngx_http_mj_limit_apply() gives */
static ngx_int_t
ngx_http_mj_rstore_verdict(ngx_http_mj_rstore_req_t *rq, redisReply *reply)
{
    ngx_int_t               used;
    ngx_uint_t              reject;
    redisReply            **e;
    ngx_http_mj_verdict_t  *v;

    e = reply->element;
    v = &rq->admit->limits;
    reject = (ngx_uint_t) e[0]->integer;

    if (e[0]->integer < 0 || reject > NGX_HTTP_MJ_REJ_N || e[7]->integer <= 0)
    {
        return NGX_ERROR;
    }

    v->now = (time_t) e[7]->integer;
    v->day = (uint32_t) (v->now / 86400);

    if (v->rate) {
        ngx_http_mj_limit_rate_told(v, (ngx_msec_t) e[1]->integer,
                                    (ngx_uint_t) e[4]->integer,
                                    (ngx_msec_t) e[5]->integer);
    }

    if (reject == NGX_HTTP_MJ_REJ_TASKS || reject == NGX_HTTP_MJ_REJ_QUOTA) {
        v->reject = reject;
        v->wait = (time_t) e[2]->integer;
    }

    used = -1;

    if (v->submit && v->quota != NGX_MAX_UINT32_VALUE) {
        used = (ngx_int_t) e[6]->integer;
        ngx_http_mj_limit_quota_told(v, (ngx_uint_t) used);
    }

    v->charged = (ngx_uint_t) e[3]->integer;

    if (v->reject == NGX_HTTP_MJ_REJ_N) {
        rq->charged = v->charged;
        rq->day = v->day;
        rq->held = (rq->charged || rq->rid_len);
    }

    (void) ngx_atomic_fetch_add(&rq->rs->sh->limits, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rq->admit->log, 0,
                   "mj: redis: limits %s, %ui units, %i used today",
                   v->reject == NGX_HTTP_MJ_REJ_N ? "passed" : "refused",
                   v->charged, used);

    return ngx_http_mj_zone_verdict(rq->admit, 0, used);
}


static void
ngx_http_mj_rstore_limited(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_req_t  *rq = data;

    if (ngx_http_mj_rstore_reply(rq->rs, reply, "limits.lua",
                                 REDIS_REPLY_ARRAY, 8, 1) == NGX_OK
        && ngx_http_mj_rstore_verdict(rq, reply) == NGX_OK)
    {
        ngx_http_mj_rstore_resume(rq, rq->rc);
        return;
    }

    rq->failed = 1;
    rq->held = 0;
    ngx_http_mj_rstore_resume(rq, ngx_http_mj_rstore_unreachable(rq, rq->rc));
}


/* a submit's limits (a poll's with redis_poll_limit=cluster) in Redis */
static ngx_int_t
ngx_http_mj_rstore_limits(ngx_http_mj_rstore_req_t *rq, ngx_int_t rc)
{
    ngx_uint_t                  reserve;
    ngx_http_mj_admit_t        *a;
    ngx_http_mj_rstore_t       *rs;
    ngx_http_mj_verdict_t      *v;
    ngx_http_mj_rstore_args_t   args;

    a = rq->admit;
    rs = rq->rs;
    v = &a->limits;
    rq->rc = rc;

    if (ngx_http_mj_limit_action(v)) {
        /* refused before anything counts: nothing to ask */
        (void) ngx_http_mj_zone_verdict(a, 0, -1);
        return rc;
    }

    if (rq->failed) {
        return ngx_http_mj_rstore_unreachable(rq, rc);
    }

    /* a submit in flight counts against the cap until it is settled */
    reserve = (rc == NGX_OK && a->place && v->cap != NGX_MAX_UINT32_VALUE);

    if (reserve) {
        if (rs->node[0] == '\0') {
            ngx_http_mj_rstore_node(rs);
        }

        rq->rid_len = ngx_sprintf(rq->rid, "%*s:%P:%uL", sizeof(rs->node),
                                  rs->node, ngx_pid, ++rs->serial)
                      - rq->rid;
    }

    ngx_http_mj_rstore_args(&args);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "q", NULL);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "o", NULL);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "f", NULL);
    ngx_http_mj_rstore_arg(&args, "%s",
                           v->bucket == NGX_HTTP_MJ_POLL ? "p" : "s");
    ngx_http_mj_rstore_arg(&args, "%ui", v->rate);
    ngx_http_mj_rstore_arg(&args, "%ui", v->burst);
    ngx_http_mj_rstore_arg(&args, "%ui", v->submit ? 1 : 0);
    ngx_http_mj_rstore_arg(&args, "%i", v->cap == NGX_MAX_UINT32_VALUE
                                        ? -1 : (ngx_int_t) v->cap);
    ngx_http_mj_rstore_arg(&args, "%T", v->age);
    ngx_http_mj_rstore_arg(&args, "%i", v->quota == NGX_MAX_UINT32_VALUE
                                        ? -1 : (ngx_int_t) v->quota);
    ngx_http_mj_rstore_arg(&args, "%ui", ngx_http_mj_limit_cost(v));
    ngx_http_mj_rstore_arg(&args, "%*s", rq->rid_len, rq->rid);
    ngx_http_mj_rstore_arg(&args, "%d", NGX_HTTP_MJ_RSTORE_INFLIGHT);
    ngx_http_mj_rstore_arg(&args, "%d", NGX_HTTP_MJ_RSTORE_COUNTERS);

    if (ngx_http_mj_rstore_eval(rs, NGX_HTTP_MJ_LUA_LIMITS, a->pool,
                                ngx_http_mj_rstore_limited, rq, 3, &args)
        != NGX_OK)
    {
        rq->failed = 1;
        return ngx_http_mj_rstore_unreachable(rq, rc);
    }

    return NGX_AGAIN;
}


/*
 * The zone first; Redis for the tasks it lacks (then the zone again, with
 * them), then for the limits it does not keep.
 */
static ngx_int_t
ngx_http_mj_rstore_step(ngx_http_mj_rstore_req_t *rq)
{
    ngx_int_t             rc;
    ngx_http_mj_admit_t  *a;

    a = rq->admit;

    rc = ngx_http_mj_zone_admit(a);

    if (a->resolve && a->missing) {
        a->resolve = 0;

        if (!rq->failed && ngx_http_mj_rstore_lookup(rq) == NGX_OK) {
            return NGX_AGAIN;
        }

        rq->failed = 1;
        ngx_http_mj_rstore_fallback(rq->rs, a->log);

        /* they are missing */
        rc = ngx_http_mj_zone_admit(a);
    }

    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    if (a->deferred) {
        return ngx_http_mj_rstore_limits(rq, rc);
    }

    /*
     * A submit with no limit Redis keeps: its admission needs no round
     * trip, but fail=closed still keeps it from an upstream whose task
     * could not be recorded.
     */
    if (rc == NGX_OK && a->place
        && (rq->failed || !ngx_http_mj_redis_reachable(rq->rs->redis)))
    {
        return ngx_http_mj_rstore_unreachable(rq, rc);
    }

    return rc;
}


ngx_int_t
ngx_http_mj_rstore_admit(ngx_http_mj_admit_t *a)
{
    ngx_http_mj_verdict_t     *v;
    ngx_http_mj_rstore_t      *rs;
    ngx_http_mj_rstore_req_t  *rq;

    v = &a->limits;
    rs = a->store->rstore;

    if (v->mode == NGX_HTTP_MJ_LIMIT_PEEK) {
        /* before the body, on the node's counters: never waited for */
        return ngx_http_mj_zone_admit(a);
    }

    rq = ngx_pcalloc(a->pool, sizeof(ngx_http_mj_rstore_req_t));
    if (rq == NULL) {
        return NGX_ERROR;
    }

    rq->admit = a;
    rq->rs = rs;
    a->remote = rq;

    /* the limits all nodes keep together: a submit's, and a poll's rate
     * with redis_poll_limit=cluster */
    a->deferred = (v->rate && (a->place || rs->conf->poll_cluster))
                  || (a->place && (v->cap != NGX_MAX_UINT32_VALUE
                                   || v->quota != NGX_MAX_UINT32_VALUE));
    a->resolve = 1;

    return ngx_http_mj_rstore_step(rq);
}


/* a submit's end */

/* what Redis holds for a submit goes back there, without waiting */
static void
ngx_http_mj_rstore_settle(ngx_http_mj_rstore_req_t *rq, ngx_uint_t refund)
{
    ngx_http_mj_admit_t        *a;
    ngx_http_mj_rstore_args_t   args;

    a = rq->admit;

    if (!rq->held) {
        return;
    }

    rq->held = 0;

    ngx_http_mj_rstore_args(&args);
    ngx_http_mj_rstore_key(&args, rq->rs, a->owner, "q", NULL);
    ngx_http_mj_rstore_key(&args, rq->rs, a->owner, "f", NULL);
    ngx_http_mj_rstore_arg(&args, "%*s", rq->rid_len, rq->rid);
    ngx_http_mj_rstore_arg(&args, "%ui", refund ? rq->charged : 0);
    ngx_http_mj_rstore_arg(&args, "%uD", rq->day);

    if (ngx_http_mj_rstore_eval(rq->rs, NGX_HTTP_MJ_LUA_SETTLE, NULL,
                                ngx_http_mj_rstore_sent, rq->rs, 2, &args)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, a->log, 0,
                      "mj_zone \"%V\": redis cannot be reached: a submit "
                      "stays in flight there until its deadline%s",
                      &rq->rs->zone->shm_zone->shm.name,
                      refund && rq->charged ? ", its units are not given "
                                              "back" : "");
    }
}


/* a task Redis did not take: the node publishes it when Redis is back */
static void
ngx_http_mj_rstore_unpublished(ngx_http_mj_rstore_req_t *rq, ngx_str_t *id)
{
    ngx_http_mj_rstore_t  *rs;

    rs = rq->rs;

    (void) ngx_atomic_fetch_add(&rs->sh->unpublished, 1);
    rs->sh->dirty = 1;

    ngx_log_error(NGX_LOG_WARN, rq->admit->log, 0,
                  "mj_zone \"%V\": task \"%V\" is kept by this node only "
                  "until redis can take it", &rs->zone->shm_zone->shm.name,
                  id);
}


static ngx_int_t ngx_http_mj_rstore_record(ngx_http_mj_rstore_req_t *rq,
    ngx_uint_t script);


static void
ngx_http_mj_rstore_recorded(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_req_t  *rq = data;

    if (reply && reply->type == REDIS_REPLY_NIL && !rq->scripted
        && ngx_http_mj_rstore_record(rq, 1) == NGX_OK)
    {
        /* the user's task already (a modal step confirmed): the script
         * brings its status on */
        return;
    }

    if (reply && reply->type != REDIS_REPLY_NIL
        && ngx_http_mj_rstore_reply(rq->rs, reply,
                                    rq->scripted ? "commit.lua" : "SET",
                                    rq->scripted ? REDIS_REPLY_INTEGER
                                                 : REDIS_REPLY_STATUS,
                                    0, 0)
           == NGX_OK)
    {
        (void) ngx_atomic_fetch_add(&rq->rs->sh->commits, 1);

    } else {
        ngx_http_mj_rstore_fallback(rq->rs, rq->admit->log);
        ngx_http_mj_rstore_unpublished(rq, &rq->id);
    }

    /* the task is the user's either way: its answer goes out */
    ngx_http_mj_rstore_resume(rq, NGX_OK);
}


/*
 * The task's record: a plain SET NX when there is nothing else to do (the
 * common submit: cheap for Redis), else commit.lua, which also settles
 * the submit and counts the task against its owner's cap.
 */
static ngx_int_t
ngx_http_mj_rstore_record(ngx_http_mj_rstore_req_t *rq, ngx_uint_t script)
{
    ngx_int_t                   rc;
    ngx_http_mj_admit_t        *a;
    ngx_http_mj_rstore_t       *rs;
    ngx_http_mj_rstore_args_t   args;

    a = rq->admit;
    rs = rq->rs;
    rq->scripted = script;

    ngx_http_mj_rstore_args(&args);

    if (!script) {
        ngx_http_mj_rstore_arg(&args, "SET");
        ngx_http_mj_rstore_key(&args, rs, a->owner, "t:", &rq->id);
        ngx_http_mj_rstore_arg(&args, "%08xD,%ui,%ui,%T", rq->ukey,
                               rq->action, rq->status, ngx_time());
        ngx_http_mj_rstore_arg(&args, "NX");
        ngx_http_mj_rstore_arg(&args, "PX");
        ngx_http_mj_rstore_arg(&args, "%T000", a->store->max_age);

        return ngx_http_mj_redis_command(rs->redis, a->pool,
                                         ngx_http_mj_rstore_recorded, rq,
                                         args.n, args.argv, args.len);
    }

    ngx_http_mj_rstore_key(&args, rs, a->owner, "t:", &rq->id);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "o", NULL);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "q", NULL);
    ngx_http_mj_rstore_key(&args, rs, a->owner, "f", NULL);
    ngx_http_mj_rstore_arg(&args, "%08xD,%ui", rq->ukey, rq->action);
    ngx_http_mj_rstore_arg(&args, "%ui", rq->status);
    ngx_http_mj_rstore_arg(&args, "%T000", a->store->max_age);
    ngx_http_mj_rstore_arg(&args, "%V", &rq->id);
    ngx_http_mj_rstore_arg(&args, "%T", a->limits.age);

    /* a user without a cap has no unfinished tasks to count there */
    ngx_http_mj_rstore_arg(&args, "%d", a->limits.cap
                                        == NGX_MAX_UINT32_VALUE
                                        ? 0 : NGX_HTTP_MJ_TRACK);
    ngx_http_mj_rstore_arg(&args, "%*s", rq->held ? rq->rid_len : 0,
                           rq->rid);
    ngx_http_mj_rstore_arg(&args, "%ui", rq->held && rq->refund
                                         ? rq->charged : 0);
    ngx_http_mj_rstore_arg(&args, "%uD", rq->day);

    rc = ngx_http_mj_rstore_eval(rs, NGX_HTTP_MJ_LUA_COMMIT, a->pool,
                                 ngx_http_mj_rstore_recorded, rq, 4, &args);

    if (rc == NGX_OK) {
        /* the script settles the submit there */
        rq->held = 0;
    }

    return rc;
}


ngx_int_t
ngx_http_mj_rstore_commit(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tid,
    ngx_str_t *id, uint32_t ukey, ngx_uint_t action, ngx_uint_t status,
    ngx_uint_t refund)
{
    ngx_int_t                  rc;
    ngx_uint_t                 script;
    ngx_http_mj_rstore_req_t  *rq;

    rq = a->remote;

    rc = ngx_http_mj_zone_commit(a, tid, ukey, action, status, refund);

    if (rc != NGX_OK) {
        /* not recorded here: not there either */
        ngx_http_mj_rstore_settle(rq, refund);
        return rc;
    }

    if (rq->local) {
        /* admitted without Redis (fail=open): published when it is back */
        ngx_http_mj_rstore_unpublished(rq, id);
        return rc;
    }

    rq->id = *id;
    rq->ukey = ukey;
    rq->action = action;
    rq->status = status;
    rq->refund = refund;

    /* something to settle, or an unfinished task to count */
    script = rq->held
             || (status != NGX_HTTP_MJ_ST_MODAL
                 && a->limits.cap != NGX_MAX_UINT32_VALUE);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, a->log, 0,
                   "mj: redis: recording task \"%V\" (%s)", id,
                   script ? "commit.lua" : "SET NX");

    if (ngx_http_mj_rstore_record(rq, script) != NGX_OK) {
        ngx_http_mj_rstore_fallback(rq->rs, a->log);
        ngx_http_mj_rstore_unpublished(rq, id);
        return rc;
    }

    return NGX_AGAIN;
}


void
ngx_http_mj_rstore_release(ngx_http_mj_admit_t *a, ngx_uint_t refund)
{
    ngx_http_mj_zone_release(a, refund);

    if (a->remote) {
        ngx_http_mj_rstore_settle(a->remote, refund);
    }
}


/* a status seen, sent to Redis without waiting */
static void
ngx_http_mj_rstore_tell(ngx_http_mj_rstore_t *rs, uint64_t owner,
    ngx_str_t *id, ngx_uint_t status)
{
    ngx_http_mj_rstore_args_t  args;

    if (id == NULL || id->len == 0 || id->len > NGX_HTTP_MJ_TASK_ID_MAX) {
        return;
    }

    ngx_http_mj_rstore_args(&args);
    ngx_http_mj_rstore_key(&args, rs, owner, "t:", id);
    ngx_http_mj_rstore_key(&args, rs, owner, "o", NULL);
    ngx_http_mj_rstore_arg(&args, "%V", id);
    ngx_http_mj_rstore_arg(&args, "%ui", status);

    if (ngx_http_mj_rstore_eval(rs, NGX_HTTP_MJ_LUA_STATUS, NULL,
                                ngx_http_mj_rstore_sent, rs, 2, &args)
        == NGX_OK)
    {
        (void) ngx_atomic_fetch_add(&rs->sh->statuses, 1);
    }
}


void
ngx_http_mj_rstore_status(ngx_http_mj_admit_t *a, ngx_uint_t i,
    ngx_uint_t status)
{
    ngx_http_mj_zone_status(a->store, &a->tids[i], status);

    ngx_http_mj_rstore_tell(a->store->rstore, a->owner, &a->ids[i], status);
}


void
ngx_http_mj_rstore_list(ngx_http_mj_admit_t *a, ngx_http_mj_tid_t *tids,
    ngx_str_t *ids, ngx_uint_t *status, ngx_uint_t n,
    ngx_http_mj_task_info_t *info)
{
    ngx_uint_t                i, j;
    ngx_http_mj_task_info_t  *ai;

    ngx_http_mj_zone_list(a->store, a->owner, tids, status, n, info);

    for (i = 0; i < n; i++) {

        /* a task of the user the zone had no room to keep */
        for (j = 0; !info[i].kept && j < a->ntids; j++) {
            ai = &a->info[j];

            if (ai->remote && ai->kept && a->tids[j].id == tids[i].id
                && a->tids[j].flags == tids[i].flags)
            {
                info[i] = *ai;
            }
        }

        if (info[i].kept && status[i] != NGX_HTTP_MJ_ST_UNKNOWN
            && status[i] != info[i].status)
        {
            ngx_http_mj_rstore_tell(a->store->rstore, a->owner, &ids[i],
                                    status[i]);
        }
    }
}


/* worker 0 publishes the zone again */

/* the node's identity: a hash of the zone's secret, which its state keeps */
static void
ngx_http_mj_rstore_node(ngx_http_mj_rstore_t *rs)
{
    u_char  md[32];

    if (ngx_http_mj_sha256(rs->zone->sh->secret,
                           sizeof(rs->zone->sh->secret), (u_char *) "node",
                           4, md)
        != NGX_OK)
    {
        ngx_memzero(md, sizeof(md));
        md[0] = (u_char) ngx_pid;
    }

    (void) ngx_hex_dump(rs->node, md, sizeof(rs->node) / 2);
}


static void
ngx_http_mj_rstore_pass_end(ngx_http_mj_rstore_t *rs)
{
    rs->phase = NGX_HTTP_MJ_PHASE_NONE;

    if (rs->failed) {
        /* Redis went away meanwhile: the next pass starts over */
        rs->sh->dirty = 1;
        return;
    }

    (void) ngx_atomic_fetch_add(&rs->sh->republishes, 1);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "mj_zone \"%V\": published its tasks to redis again: "
                  "%ui it did not have%s", &rs->zone->shm_zone->shm.name,
                  rs->published,
                  rs->skipped ? " (tasks whose ids are not digits are "
                                "kept by this node only)" : "");
}


static void
ngx_http_mj_rstore_republished(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_t  *rs = data;

    if (ngx_http_mj_rstore_reply(rs, reply, "republish.lua",
                                 REDIS_REPLY_INTEGER, 0, 0)
        != NGX_OK)
    {
        rs->failed = 1;

    } else if (reply->integer == 1 && rs->phase == NGX_HTTP_MJ_PHASE_TASKS) {
        rs->published++;
        (void) ngx_atomic_fetch_add(&rs->sh->republished, 1);
    }

    if (--rs->outstanding == 0) {
        if (rs->failed) {
            ngx_http_mj_rstore_pass_end(rs);

        } else {
            ngx_http_mj_rstore_batch(rs);
        }
    }
}


/* one task of the zone, published unless Redis has it */
static ngx_int_t
ngx_http_mj_rstore_republish(ngx_http_mj_rstore_t *rs, ngx_http_mj_task_t *t)
{
    time_t                      left;
    ngx_str_t                   id;
    u_char                      digits[NGX_INT64_LEN];
    ngx_http_mj_rstore_args_t   args;

    left = (time_t) t->created + rs->zone->max_age - ngx_time();

    if (t->flags & NGX_HTTP_MJ_TASK_HASHED) {
        /* the zone keeps a hash of such an id, not the id */
        rs->skipped++;
        return NGX_DECLINED;
    }

    if (left <= 0) {
        return NGX_DECLINED;
    }

    id.data = digits;
    id.len = ngx_sprintf(digits, "%uL", t->id) - digits;

    ngx_http_mj_rstore_args(&args);
    ngx_http_mj_rstore_key(&args, rs, t->owner, "t:", &id);
    ngx_http_mj_rstore_key(&args, rs, t->owner, "o", NULL);
    ngx_http_mj_rstore_arg(&args, "%08xD,%ud,%ud,%uD", t->ukey,
                           (ngx_uint_t) t->action, (ngx_uint_t) t->status,
                           t->created);
    ngx_http_mj_rstore_arg(&args, "%T000", left);
    ngx_http_mj_rstore_arg(&args, "%V", &id);
    ngx_http_mj_rstore_arg(&args, "%uD", t->created);
    ngx_http_mj_rstore_arg(&args, "%d",
                           !ngx_http_mj_finished(t->status)
                           && t->status != NGX_HTTP_MJ_ST_MODAL);
    ngx_http_mj_rstore_arg(&args, "%T", rs->zone->max_age);
    ngx_http_mj_rstore_arg(&args, "%d", NGX_HTTP_MJ_TRACK);

    return ngx_http_mj_rstore_eval(rs, NGX_HTTP_MJ_LUA_REPUBLISH, NULL,
                                   ngx_http_mj_rstore_republished, rs, 2,
                                   &args);
}


/* one user's units of the day, published unless Redis counts more */
static ngx_int_t
ngx_http_mj_rstore_requota(ngx_http_mj_rstore_t *rs,
    ngx_http_mj_counters_t *u)
{
    ngx_http_mj_rstore_args_t  args;

    if (u->day != (uint32_t) (ngx_time() / 86400) || u->quota_used == 0) {
        return NGX_DECLINED;
    }

    ngx_http_mj_rstore_args(&args);
    ngx_http_mj_rstore_key(&args, rs, u->owner, "q", NULL);
    ngx_http_mj_rstore_arg(&args, "%uD", u->day);
    ngx_http_mj_rstore_arg(&args, "%uD", u->quota_used);
    ngx_http_mj_rstore_arg(&args, "%d", NGX_HTTP_MJ_RSTORE_COUNTERS);

    return ngx_http_mj_rstore_eval(rs, NGX_HTTP_MJ_LUA_QUOTA, NULL,
                                   ngx_http_mj_rstore_republished, rs, 1,
                                   &args);
}


/*
 * The next records of the zone (its tasks, then its users' counters),
 * sent at once: the next batch goes when their replies are in.
 */
static void
ngx_http_mj_rstore_batch(ngx_http_mj_rstore_t *rs)
{
    size_t      size;
    ngx_int_t   rc;
    ngx_uint_t  i, n, users;

    while (rs->outstanding == 0) {
        users = (rs->phase == NGX_HTTP_MJ_PHASE_USERS);
        size = users ? sizeof(ngx_http_mj_counters_t)
                     : sizeof(ngx_http_mj_task_t);

        n = ngx_http_mj_zone_copy(rs->zone, users, &rs->cursor, rs->buf,
                                  NGX_HTTP_MJ_RSTORE_BATCH / size);

        if (n == 0) {
            if (users) {
                ngx_http_mj_rstore_pass_end(rs);
                return;
            }

            rs->phase = NGX_HTTP_MJ_PHASE_USERS;
            rs->cursor = 0;
            continue;
        }

        for (i = 0; i < n; i++) {
            rc = users ? ngx_http_mj_rstore_requota(rs,
                                       (ngx_http_mj_counters_t *) rs->buf + i)
                       : ngx_http_mj_rstore_republish(rs,
                                       (ngx_http_mj_task_t *) rs->buf + i);

            if (rc == NGX_OK) {
                rs->outstanding++;

            } else if (rc == NGX_ERROR) {
                rs->failed = 1;
                break;
            }
        }

        if (rs->failed && rs->outstanding == 0) {
            ngx_http_mj_rstore_pass_end(rs);
            return;
        }
    }
}


static void
ngx_http_mj_rstore_pass(ngx_http_mj_rstore_t *rs)
{
    rs->phase = NGX_HTTP_MJ_PHASE_TASKS;
    rs->cursor = 0;
    rs->published = 0;
    rs->skipped = 0;
    rs->failed = 0;

    ngx_http_mj_rstore_batch(rs);
}


/* SET P{N}:node ... NX: "OK" when Redis had lost it (or never had it) */
static void
ngx_http_mj_rstore_marked(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_rstore_t  *rs = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        (void) ngx_http_mj_rstore_reply(rs, reply, "SET", REDIS_REPLY_STATUS,
                                        0, 0);
        rs->mark = 1;
        return;
    }

    if (reply->type == REDIS_REPLY_STATUS && rs->phase == 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mj_zone \"%V\": redis does not have this node's "
                      "tasks: publishing them",
                      &rs->zone->shm_zone->shm.name);
        ngx_http_mj_rstore_pass(rs);
    }
}


/*
 * Worker 0, every second: a pass when a task could not be published; the
 * node's mark looked for after a connect, and every few seconds (Redis may
 * lose what it has without a restart: FLUSHALL, a failover).
 */
static void
ngx_http_mj_rstore_tick(ngx_event_t *ev)
{
    ngx_http_mj_rstore_t  *rs = ev->data;

    const char  *argv[7];
    size_t       lens[7];
    u_char       key[NGX_HTTP_MJ_RSTORE_KEY], ttl[NGX_INT_T_LEN];

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_MJ_RSTORE_TICK);

    if (++rs->ticks % NGX_HTTP_MJ_RSTORE_MARK == 0) {
        rs->mark = 1;
    }

    if (rs->phase || !ngx_http_mj_redis_ready(rs->redis)) {
        return;
    }

    if (rs->mark) {
        rs->mark = 0;

        argv[0] = "SET";
        argv[1] = (const char *) key;
        lens[1] = ngx_sprintf(key, "%V{%*s}:node", &rs->conf->prefix,
                              sizeof(rs->node), rs->node) - key;
        argv[2] = (const char *) rs->node;
        lens[2] = sizeof(rs->node);
        argv[3] = "NX";
        argv[4] = "EX";
        argv[5] = (const char *) ttl;
        lens[5] = ngx_sprintf(ttl, "%T", rs->zone->max_age) - ttl;
        lens[0] = 3;
        lens[3] = 2;
        lens[4] = 2;

        if (ngx_http_mj_redis_command(rs->redis, NULL,
                                      ngx_http_mj_rstore_marked, rs, 6, argv,
                                      lens)
            != NGX_OK)
        {
            rs->mark = 1;
        }

        return;
    }

    if (rs->sh->dirty && ngx_atomic_cmp_set(&rs->sh->dirty, 1, 0)) {
        ngx_http_mj_rstore_pass(rs);
    }
}


/* a worker's connection is ready: worker 0 looks for the node's mark */
static void
ngx_http_mj_rstore_ready(void *data)
{
    ngx_http_mj_rstore_t  *rs = data;

    if (ngx_worker != 0) {
        return;
    }

    if (rs->node[0] == '\0') {
        ngx_http_mj_rstore_node(rs);
    }

    if (rs->buf == NULL) {
        rs->buf = ngx_palloc(ngx_cycle->pool, NGX_HTTP_MJ_RSTORE_BATCH);
        if (rs->buf == NULL) {
            return;
        }

        rs->timer.handler = ngx_http_mj_rstore_tick;
        rs->timer.data = rs;
        rs->timer.log = ngx_cycle->log;
        rs->timer.cancelable = 1;
    }

    rs->mark = 1;

    if (rs->timer.timer_set) {
        ngx_del_timer(&rs->timer);
    }

    ngx_add_timer(&rs->timer, 1);
}


/* configuration */

ngx_int_t
ngx_http_mj_rstore_conf(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name)
{
    ngx_str_t              s;
    ngx_uint_t             i;
    ngx_http_mj_rstore_t  *rs;

    static char  *sources[] = {
        ngx_http_mj_lua_limits, ngx_http_mj_lua_commit,
        ngx_http_mj_lua_settle, ngx_http_mj_lua_status,
        ngx_http_mj_lua_republish, ngx_http_mj_lua_quota
    };

    if (z->redis == NULL) {
        return NGX_OK;
    }

    rs = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_rstore_t));
    if (rs == NULL) {
        return NGX_ERROR;
    }

    rs->zone = z;
    rs->redis = z->redis;
    rs->conf = ngx_http_mj_redis_conf(z->redis);

    for (i = 0; i < NGX_HTTP_MJ_LUA_N; i++) {
        s.data = (u_char *) sources[i];
        s.len = ngx_strlen(sources[i]);

        rs->script[i] = ngx_http_mj_redis_script(cf, z->redis, &s);
        if (rs->script[i] == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mj_redis_shared(cf, name, "rstore",
                                 sizeof(ngx_http_mj_rstore_shm_t), &rs->sh)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mj_redis_on_ready(z->redis, ngx_http_mj_rstore_ready, rs);

    z->rstore = rs;

    return NGX_OK;
}


/* mj_status */

u_char *
ngx_http_mj_rstore_status_json(u_char *p, ngx_http_mj_zone_t *z)
{
    ngx_http_mj_rstore_t      *rs;
    ngx_http_mj_rstore_shm_t  *sh;

    rs = z->rstore;
    sh = rs->sh;

    p = ngx_sprintf(p, ",\"redis\":");
    p = ngx_http_mj_redis_stats_json(p, rs->redis);

    /* the adapter's object, one member more */
    p--;

    return ngx_sprintf(p, ",\"store\":{\"lookups\":%uA,\"found\":%uA,"
                       "\"limits\":%uA,\"commits\":%uA,\"statuses\":%uA,"
                       "\"unpublished\":%uA,\"republished\":%uA,"
                       "\"republishes\":%uA,\"fail_mode\":\"%s\","
                       "\"fail_answers\":{\"closed\":%uA,\"open\":%uA}}}",
                       sh->lookups, sh->found, sh->limits, sh->commits,
                       sh->statuses, sh->unpublished, sh->republished,
                       sh->republishes,
                       rs->conf->fail_open ? "open" : "closed",
                       sh->fail_closed, sh->fail_open);
}


u_char *
ngx_http_mj_rstore_status_prometheus(u_char *p, ngx_http_mj_zone_t *z)
{
    uint64_t                    cum;
    ngx_str_t                  *name;
    ngx_uint_t                  i;
    ngx_http_mj_rstore_shm_t   *sh;
    ngx_http_mj_redis_stats_t   st;

    name = &z->shm_zone->shm.name;
    sh = z->rstore->sh;

    ngx_http_mj_redis_stats(z->rstore->redis, &st);

    p = ngx_sprintf(p,
        "# HELP mj_redis_connected Workers connected to Redis now.\n"
        "# TYPE mj_redis_connected gauge\n"
        "mj_redis_connected{zone=\"%V\"} %ui\n"
        "# HELP mj_redis_round_trips_total Commands Redis answered.\n"
        "# TYPE mj_redis_round_trips_total counter\n"
        "mj_redis_round_trips_total{zone=\"%V\"} %ui\n"
        "# HELP mj_redis_errors_total Error replies among them.\n"
        "# TYPE mj_redis_errors_total counter\n"
        "mj_redis_errors_total{zone=\"%V\"} %ui\n"
        "# HELP mj_redis_timeouts_total Commands failed by a time-out.\n"
        "# TYPE mj_redis_timeouts_total counter\n"
        "mj_redis_timeouts_total{zone=\"%V\"} %ui\n"
        "# HELP mj_redis_failed_total Commands failed: Redis unreachable.\n"
        "# TYPE mj_redis_failed_total counter\n"
        "mj_redis_failed_total{zone=\"%V\"} %ui\n"
        "# HELP mj_redis_fail_answers_total Answers given by the fail "
        "mode.\n"
        "# TYPE mj_redis_fail_answers_total counter\n"
        "mj_redis_fail_answers_total{zone=\"%V\",mode=\"closed\"} %uA\n"
        "mj_redis_fail_answers_total{zone=\"%V\",mode=\"open\"} %uA\n"
        "# HELP mj_redis_republished_total Tasks published to Redis "
        "again.\n"
        "# TYPE mj_redis_republished_total counter\n"
        "mj_redis_republished_total{zone=\"%V\"} %uA\n"
        "# HELP mj_redis_round_trip_seconds Round trips to Redis.\n"
        "# TYPE mj_redis_round_trip_seconds histogram\n",
        name, st.connected, name, st.replies, name, st.errors, name,
        st.timeouts, name, st.failed, name, sh->fail_closed, name,
        sh->fail_open, name, sh->republished);

    for (i = 0, cum = 0; i < NGX_HTTP_MJ_REDIS_BUCKETS; i++) {
        cum += st.latency[i];

        if (i < NGX_HTTP_MJ_REDIS_BUCKETS - 1) {
            p = ngx_sprintf(p, "mj_redis_round_trip_seconds_bucket"
                            "{zone=\"%V\",le=\"%.6f\"} %uL\n", name,
                            (double) ngx_http_mj_redis_bucket_us[i] / 1e6,
                            cum);

        } else {
            p = ngx_sprintf(p, "mj_redis_round_trip_seconds_bucket"
                            "{zone=\"%V\",le=\"+Inf\"} %uL\n", name, cum);
        }
    }

    return ngx_sprintf(p, "mj_redis_round_trip_seconds_sum{zone=\"%V\"} "
                       "%.6f\nmj_redis_round_trip_seconds_count"
                       "{zone=\"%V\"} %uL\n", name,
                       (double) st.latency_us / 1e6, name, cum);
}
