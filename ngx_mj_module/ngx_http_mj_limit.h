/*
 * ngx_http_mj_limit.h: per-user limits: a user's counters, the verdict a
 * request gets on them, and how that verdict is told to the client.
 *
 * The verdict is reached in three steps: the settings (outside any lock),
 * ngx_http_mj_limit_apply() on the user's counters (by the store, in the
 * same step as it looks up and reserves), and the answer (headers, and the
 * refusal if there is one).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_LIMIT_H
#define NGX_HTTP_MJ_LIMIT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mj_users_parse.h"


/* the buckets */
#define NGX_HTTP_MJ_SUBMIT      0
#define NGX_HTTP_MJ_POLL        1

/* what a verdict is asked for */
#define NGX_HTTP_MJ_LIMIT_ALL   0   /* everything, taken */
#define NGX_HTTP_MJ_LIMIT_RATE  1   /* refused anyway: the rate only */
#define NGX_HTTP_MJ_LIMIT_PEEK  2   /* before the body: a full bucket only */

/* why a request was refused, as the status endpoint counts it */
enum {
    NGX_HTTP_MJ_REJ_RATE = 0,
    NGX_HTTP_MJ_REJ_TASKS,
    NGX_HTTP_MJ_REJ_QUOTA,
    NGX_HTTP_MJ_REJ_ACTION,
    NGX_HTTP_MJ_REJ_N
};


/* a user's unfinished tasks, counted against the cap */
#define NGX_HTTP_MJ_TRACK  MJ_TASKS_MAX

typedef struct {
    uint64_t                   id;
    uint32_t                   created;
    uint32_t                   pad;
} ngx_http_mj_track_t;


/* a user's counters: limits, quota, what the status endpoint shows */
typedef struct {
    uint64_t                   owner;       /* 0: a free slot */
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
    uint32_t                   held;        /* of quota_used, by submits
                                               not answered yet */
    ngx_http_mj_track_t        unfinished[NGX_HTTP_MJ_TRACK];
} ngx_http_mj_counters_t;


/* a leaky bucket's settings: requests per 1000 s, burst */
typedef struct {
    ngx_uint_t                 rate;        /* 0: no limit */
    ngx_uint_t                 burst;
} ngx_http_mj_rate_t;


/* RateLimit-Policy and RateLimit, as the IETF httpapi draft writes them */
typedef struct {
    ngx_uint_t                 on;
    char                      *name;
    ngx_uint_t                 quota;       /* q */
    time_t                     window;      /* w */
    ngx_uint_t                 left;        /* r */
    time_t                     reset;       /* t */
} ngx_http_mj_policy_t;


typedef struct {
    /* the settings */
    ngx_uint_t                 mode;        /* NGX_HTTP_MJ_LIMIT_* */
    ngx_uint_t                 bucket;      /* NGX_HTTP_MJ_SUBMIT, _POLL */
    ngx_uint_t                 submit;      /* a submit to charge */
    ngx_uint_t                 rate;
    ngx_uint_t                 burst;
    ngx_uint_t                 cap;         /* NGX_MAX_UINT32_VALUE: none */
    ngx_uint_t                 quota;       /* NGX_MAX_UINT32_VALUE: none */
    ngx_uint_t                 action;      /* MJ_ACT_*; the store sets a
                                               modal step's */
    unsigned                   actions;     /* allowed; 0: every one */
    ngx_uint_t                *costs;       /* units an action */
    time_t                     age;         /* unfinished counts so long */
    time_t                     now;
    uint64_t                   ms;
    uint32_t                   day;

    /* the verdict */
    ngx_uint_t                 reject;      /* NGX_HTTP_MJ_REJ_N: none */
    ngx_uint_t                 charged;     /* units taken */
    time_t                     wait;
    ngx_http_mj_policy_t       pol[2];      /* the rate, the quota */
} ngx_http_mj_verdict_t;


/* the settings of a user's request to an endpoint with these flags */
void ngx_http_mj_limit_settings(ngx_http_request_t *r,
    ngx_http_mj_user_t *user, ngx_uint_t flags, ngx_uint_t mode,
    ngx_http_mj_verdict_t *v);

/*
 * The verdict on a user's counters, in the store's locked step: refused
 * (v->reject), or taken (the rate; a submit's units, in v->charged).  A
 * peek only reads them.
 */
void ngx_http_mj_limit_apply(ngx_http_mj_counters_t *u,
    ngx_http_mj_verdict_t *v);

/* whether the verdict needs the user's counters (else it can go uncounted) */
ngx_uint_t ngx_http_mj_limit_counted(ngx_http_mj_verdict_t *v);

/*
 * The pieces of a verdict, for one reached elsewhere (Redis: the same
 * rules, kept in ngx_mj_module/redis/limits.lua):
 *   action    refuse an action outside the user's list (1: refused);
 *   cost      the units the submit's action costs;
 *   rate_told the bucket's answer: "delay" ms to wait (0: taken), what is
 *             left, the ms until it is empty;
 *   quota_told the day's units "used", counting this submit's;
 *   count     the verdict counted on the user's counters.
 */
ngx_uint_t ngx_http_mj_limit_action(ngx_http_mj_verdict_t *v);
ngx_uint_t ngx_http_mj_limit_cost(ngx_http_mj_verdict_t *v);
void ngx_http_mj_limit_rate_told(ngx_http_mj_verdict_t *v, ngx_msec_t delay,
    ngx_uint_t left, ngx_msec_t empty);
void ngx_http_mj_limit_quota_told(ngx_http_mj_verdict_t *v, ngx_uint_t used);
void ngx_http_mj_limit_count(ngx_http_mj_counters_t *u,
    ngx_http_mj_verdict_t *v);

/* the verdict told: headers, and a status if it is a refusal, else NGX_OK */
ngx_int_t ngx_http_mj_limit_answer(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx, ngx_http_mj_verdict_t *v);

/* a leaky bucket: the ms to wait when it has no room for one more, else 0 */
ngx_msec_t ngx_http_mj_bucket(uint64_t *last, uint32_t *excess,
    ngx_uint_t rate, ngx_uint_t burst, uint64_t now, ngx_uint_t take,
    ngx_uint_t *left, ngx_msec_t *empty);

uint64_t ngx_http_mj_now_ms(void);

/* failed key checks, per client address */
ngx_int_t ngx_http_mj_auth_blocked(ngx_http_request_t *r,
    ngx_http_mj_ctx_t *ctx);
void ngx_http_mj_auth_failed(ngx_http_request_t *r);

char *ngx_http_mj_rate_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_mj_limit_tasks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_mj_quota_cost(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

#endif /* NGX_HTTP_MJ_LIMIT_H */
