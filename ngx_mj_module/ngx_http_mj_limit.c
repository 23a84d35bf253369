/*
 * ngx_http_mj_limit.c: per-user limits, quotas and allowed actions.
 *
 * All of a user's counters sit in one record of the store, so a verdict
 * is reached in the store's one locked step: two leaky buckets in the
 * manner of limit_req (submits, and polling), the unfinished tasks
 * counted against a cap, and units of a daily (UTC) quota, reserved when
 * a submit is relayed and given back when the upstream does not take it.
 * Failed key checks are limited per client address the same way.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include "ngx_http_mj_module.h"


static char *ngx_http_mj_policy_names[] = { "submit", "poll" };
static char *ngx_http_mj_reject_desc[] = {
    "too many requests: the rate limit is reached",
    "too many unfinished tasks: wait for one to finish",
    "the daily quota is used up",
    "this action is not allowed for this key"
};


uint64_t
ngx_http_mj_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * A leaky bucket in 1/1000 requests: take one request if the bucket has
 * room.  Returns the milliseconds to wait when it has none, else 0, and
 * what is left.
 */
ngx_msec_t
ngx_http_mj_bucket(uint64_t *last, uint32_t *excess, ngx_uint_t rate,
    ngx_uint_t burst, uint64_t now, ngx_uint_t take, ngx_uint_t *left,
    ngx_msec_t *empty)
{
    int64_t   ex, elapsed;

    elapsed = (int64_t) (now - *last);
    if (elapsed < 0 || *last == 0) {
        elapsed = *last ? 0 : 60000000;
    }

    ex = (int64_t) *excess - (int64_t) rate * elapsed / 1000;
    if (ex < 0) {
        ex = 0;
    }

    if (take) {
        if (ex + 1000 > (int64_t) (burst * 1000 + 1000)) {
            *left = 0;
            *empty = (ngx_msec_t) (ex * 1000 / rate);
            return (ngx_msec_t) ((ex - (int64_t) burst * 1000) * 1000
                                 / rate) + 1;
        }

        ex += 1000;
        *excess = (uint32_t) ex;
        *last = now;
    }

    *left = (ngx_uint_t) (((int64_t) burst * 1000 + 1000 - ex) / 1000);
    *empty = (ngx_msec_t) (ex * 1000 / rate);

    return 0;
}


/* a number in decimal: ngx_sprintf() reads its format every time */
static u_char *
ngx_http_mj_decimal(u_char *p, int64_t n)
{
    u_char    buf[NGX_INT64_LEN], *d;
    uint64_t  u;

    if (n < 0) {
        *p++ = '-';
    }

    u = (n < 0) ? (uint64_t) 0 - (uint64_t) n : (uint64_t) n;
    d = buf + sizeof(buf);

    do {
        *--d = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    return ngx_cpymem(p, d, buf + sizeof(buf) - d);
}


/* "NAME";q=N;w=M or "NAME";r=N;t=M: "keys" is "qw" or "rt" */
static u_char *
ngx_http_mj_policy_item(u_char *p, char *name, char *keys, ngx_uint_t a,
    time_t b)
{
    *p++ = '"';
    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '"';
    *p++ = ';';
    *p++ = keys[0];
    *p++ = '=';
    p = ngx_http_mj_decimal(p, (int64_t) a);
    *p++ = ';';
    *p++ = keys[1];
    *p++ = '=';

    return ngx_http_mj_decimal(p, (int64_t) b);
}


/* RateLimit-Policy and RateLimit, as the IETF httpapi draft writes them */
static ngx_int_t
ngx_http_mj_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_mj_policy_t *pol, ngx_uint_t n)
{
    u_char      *p, *q, *policy, *state;
    ngx_uint_t   i;

    for (i = 0; i < n && !pol[i].on; i++) { /* void */ }

    if (i == n) {
        return NGX_OK;
    }

    policy = ngx_pnalloc(r->pool, n * (32 + 2 * NGX_INT_T_LEN));
    state = ngx_pnalloc(r->pool, n * (32 + 2 * NGX_INT_T_LEN));
    if (policy == NULL || state == NULL) {
        return NGX_ERROR;
    }

    p = policy;
    q = state;

    for (i = 0; i < n; i++) {
        if (!pol[i].on) {
            continue;
        }

        if (p != policy) {
            p = ngx_cpymem(p, ", ", 2);
            q = ngx_cpymem(q, ", ", 2);
        }

        p = ngx_http_mj_policy_item(p, pol[i].name, "qw", pol[i].quota,
                                    pol[i].window);
        q = ngx_http_mj_policy_item(q, pol[i].name, "rt", pol[i].left,
                                    pol[i].reset);
    }

    if (p == policy) {
        return NGX_OK;
    }

    if (ngx_http_mj_add_header(r, "RateLimit-Policy", policy, p - policy)
        != NGX_OK
        || ngx_http_mj_add_header(r, "RateLimit", state, q - state)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mj_retry_after(ngx_http_request_t *r, time_t seconds)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mj_add_header(r, "Retry-After", p,
                                  ngx_sprintf(p, "%T", seconds < 1 ? 1
                                                                   : seconds)
                                  - p);
}


static ngx_uint_t
ngx_http_mj_setting(long user, ngx_int_t conf)
{
    return user != MJ_UNSET ? (ngx_uint_t) user
           : conf >= 0 ? (ngx_uint_t) conf : NGX_MAX_UINT32_VALUE;
}


void
ngx_http_mj_limit_settings(ngx_http_request_t *r, ngx_http_mj_user_t *user,
    ngx_uint_t flags, ngx_uint_t mode, ngx_http_mj_verdict_t *v)
{
    ngx_uint_t               b;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    b = (flags & NGX_HTTP_MJ_EP_POLL) ? NGX_HTTP_MJ_POLL : NGX_HTTP_MJ_SUBMIT;

    v->mode = mode;
    v->bucket = b;

    /* a request refused anyway (no such task) counts for its rate only */
    v->submit = (flags & NGX_HTTP_MJ_EP_SUBMIT)
                && mode != NGX_HTTP_MJ_LIMIT_RATE;

    v->rate = user->limit[b].rate != MJ_UNSET
              ? (ngx_uint_t) user->limit[b].rate : mlcf->limit[b].rate;
    v->burst = ngx_http_mj_setting(user->limit[b].burst,
                                   (ngx_int_t) mlcf->limit[b].burst);
    if (v->burst == NGX_MAX_UINT32_VALUE) {
        v->burst = 0;
    }

    v->cap = ngx_http_mj_setting(user->tasks, mlcf->tasks);
    v->quota = ngx_http_mj_setting(user->quota, mlcf->quota);
    v->actions = user->actions;
    v->costs = mlcf->cost;
    v->age = mlcf->task_age;

    v->now = ngx_time();
    v->ms = ngx_http_mj_now_ms();
    v->day = (uint32_t) (v->now / 86400);
    v->reject = NGX_HTTP_MJ_REJ_N;
}


ngx_uint_t
ngx_http_mj_limit_counted(ngx_http_mj_verdict_t *v)
{
    return v->rate
           || (v->submit && (v->actions || v->cap != NGX_MAX_UINT32_VALUE
                             || v->quota != NGX_MAX_UINT32_VALUE));
}


/* the request's bucket; a peek takes from a copy */
static void
ngx_http_mj_limit_rate(ngx_http_mj_counters_t *u, ngx_http_mj_verdict_t *v)
{
    uint64_t               last, *lastp;
    uint32_t               excess, *excessp;
    ngx_uint_t             left;
    ngx_msec_t             delay, empty;

    if (!v->rate || v->reject != NGX_HTTP_MJ_REJ_N) {
        return;
    }

    lastp = &u->last[v->bucket];
    excessp = &u->excess[v->bucket];

    if (v->mode == NGX_HTTP_MJ_LIMIT_PEEK) {
        last = *lastp;
        excess = *excessp;
        lastp = &last;
        excessp = &excess;
    }

    delay = ngx_http_mj_bucket(lastp, excessp, v->rate, v->burst, v->ms, 1,
                               &left, &empty);

    ngx_http_mj_limit_rate_told(v, delay, left, empty);
}


void
ngx_http_mj_limit_rate_told(ngx_http_mj_verdict_t *v, ngx_msec_t delay,
    ngx_uint_t left, ngx_msec_t empty)
{
    ngx_http_mj_policy_t  *pol;

    if (delay) {
        v->reject = NGX_HTTP_MJ_REJ_RATE;
        v->wait = (delay + 999) / 1000;
    }

    pol = &v->pol[0];
    pol->on = 1;
    pol->name = ngx_http_mj_policy_names[v->bucket];
    pol->quota = v->burst + 1;
    pol->window = (time_t) ((v->burst + 1) * 1000 + v->rate - 1) / v->rate;
    pol->left = left;
    pol->reset = (time_t) (empty + 999) / 1000;
}


/* the unfinished tasks, and submits not answered yet, against the cap */
static void
ngx_http_mj_limit_cap(ngx_http_mj_counters_t *u, ngx_http_mj_verdict_t *v)
{
    ngx_uint_t  k;

    if (!v->submit || v->cap == NGX_MAX_UINT32_VALUE
        || v->mode == NGX_HTTP_MJ_LIMIT_PEEK)
    {
        return;
    }

    /* tasks older than the age count no more */
    for (k = 0; k < u->nunfinished; /* void */ ) {
        if (v->now - (time_t) u->unfinished[k].created >= v->age) {
            u->unfinished[k] = u->unfinished[--u->nunfinished];
            continue;
        }

        k++;
    }

    /* submits not answered yet count too, or concurrent ones pass */
    if (u->nunfinished + u->inflight < v->cap
        || v->reject != NGX_HTTP_MJ_REJ_N)
    {
        return;
    }

    v->reject = NGX_HTTP_MJ_REJ_TASKS;
    v->wait = v->age;

    for (k = 0; k < u->nunfinished; k++) {
        v->wait = ngx_min(v->wait,
                          (time_t) u->unfinished[k].created + v->age - v->now);
    }
}


/* the units of the day; a peek only reads them */
static void
ngx_http_mj_limit_quota(ngx_http_mj_counters_t *u, ngx_http_mj_verdict_t *v)
{
    uint32_t    used;
    ngx_uint_t  cost;

    if (!v->submit || v->quota == NGX_MAX_UINT32_VALUE) {
        return;
    }

    used = (u->day == v->day) ? u->quota_used : 0;
    cost = ngx_http_mj_limit_cost(v);

    if (v->mode != NGX_HTTP_MJ_LIMIT_PEEK) {
        u->day = v->day;
        u->quota_used = used;

        if (used + cost > v->quota && v->reject == NGX_HTTP_MJ_REJ_N) {
            v->reject = NGX_HTTP_MJ_REJ_QUOTA;
            v->wait = (time_t) (v->day + 1) * 86400 - v->now;
        }

        if (v->reject == NGX_HTTP_MJ_REJ_N) {
            u->quota_used += cost;
            used = u->quota_used;
            v->charged = cost;
        }
    }

    ngx_http_mj_limit_quota_told(v, used);
}


ngx_uint_t
ngx_http_mj_limit_cost(ngx_http_mj_verdict_t *v)
{
    return v->action ? v->costs[v->action - 1] : 1;
}


void
ngx_http_mj_limit_quota_told(ngx_http_mj_verdict_t *v, ngx_uint_t used)
{
    ngx_http_mj_policy_t  *pol;

    pol = &v->pol[1];
    pol->on = 1;
    pol->name = "quota";
    pol->quota = v->quota;
    pol->window = 86400;
    pol->left = v->quota > used ? v->quota - used : 0;
    pol->reset = (time_t) (v->day + 1) * 86400 - v->now;
}


ngx_uint_t
ngx_http_mj_limit_action(ngx_http_mj_verdict_t *v)
{
    /* an action outside the user's list is refused before anything counts */
    if (v->submit && v->mode == NGX_HTTP_MJ_LIMIT_ALL && v->actions
        && (v->action == MJ_ACT_NONE
            || !(v->actions & (1u << (v->action - 1)))))
    {
        v->reject = NGX_HTTP_MJ_REJ_ACTION;
        return 1;
    }

    return 0;
}


void
ngx_http_mj_limit_count(ngx_http_mj_counters_t *u, ngx_http_mj_verdict_t *v)
{
    u->requests++;

    if (v->reject != NGX_HTTP_MJ_REJ_N) {
        u->rejected[v->reject]++;

    } else if (v->submit) {
        u->submits++;
    }
}


void
ngx_http_mj_limit_apply(ngx_http_mj_counters_t *u, ngx_http_mj_verdict_t *v)
{
    (void) ngx_http_mj_limit_action(v);

    ngx_http_mj_limit_rate(u, v);

    /* a peek that passes leaves no trace */
    if (v->mode == NGX_HTTP_MJ_LIMIT_PEEK && v->reject == NGX_HTTP_MJ_REJ_N) {
        return;
    }

    ngx_http_mj_limit_cap(u, v);
    ngx_http_mj_limit_quota(u, v);
    ngx_http_mj_limit_count(u, v);
}


/* the headers every verdict carries, and the refusal if there is one */
ngx_int_t
ngx_http_mj_limit_answer(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx,
    ngx_http_mj_verdict_t *v)
{
    ngx_http_mj_loc_conf_t  *mlcf;

    if (ngx_http_mj_ratelimit_headers(r, v->pol, 2) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mj: limits of \"%V\": %s, %ui units",
                   &ctx->user->name,
                   v->reject == NGX_HTTP_MJ_REJ_N
                   ? "passed" : ngx_http_mj_reject_desc[v->reject],
                   v->charged);

    if (v->reject == NGX_HTTP_MJ_REJ_N) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mj: user \"%V\" refused: %s", &ctx->user->name,
                  ngx_http_mj_reject_desc[v->reject]);

    if (v->reject == NGX_HTTP_MJ_REJ_ACTION) {
        return ngx_http_mj_fail(r, ctx, NGX_HTTP_FORBIDDEN,
                                NGX_HTTP_MJ_CODE_INVALID,
                                ngx_http_mj_reject_desc[v->reject]);
    }

    if (ngx_http_mj_retry_after(r, v->wait) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    return ngx_http_mj_fail(r, ctx, mlcf->limit_status,
                            NGX_HTTP_MJ_CODE_LIMIT,
                            ngx_http_mj_reject_desc[v->reject]);
}


/* the client's address, whole: AF_INET as IPv6 maps it, AF_UNIX as zeros */
static void
ngx_http_mj_client_addr(ngx_http_request_t *r, u_char *addr,
    uint32_t *family)
{
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    ngx_memzero(addr, 16);
    *family = r->connection->sockaddr->sa_family;

    switch (*family) {

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        addr[10] = 0xff;
        addr[11] = 0xff;
        ngx_memcpy(addr + 12, &sin->sin_addr.s_addr, 4);
        *family = AF_INET6;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        ngx_memcpy(addr, sin6->sin6_addr.s6_addr, 16);
        break;
#endif
    }
}


static ngx_http_mj_addr_t *
ngx_http_mj_addr_locked(ngx_http_mj_zone_sh_t *sh, ngx_http_request_t *r)
{
    u_char               addr[16];
    uint32_t             family;
    ngx_uint_t           i;
    ngx_http_mj_addr_t  *set, *a;

    ngx_http_mj_client_addr(r, addr, &family);

    set = &sh->addrs[(ngx_crc32_short(addr, 16) % (NGX_HTTP_MJ_ADDRS
                                                  / NGX_HTTP_MJ_ADDR_WAYS))
                     * NGX_HTTP_MJ_ADDR_WAYS];
    a = set;

    for (i = 0; i < NGX_HTTP_MJ_ADDR_WAYS; i++) {
        if (set[i].last && set[i].family == family
            && ngx_memcmp(set[i].addr, addr, 16) == 0)
        {
            return &set[i];
        }

        if (set[i].last < a->last) {
            a = &set[i];
        }
    }

    ngx_memzero(a, sizeof(ngx_http_mj_addr_t));
    ngx_memcpy(a->addr, addr, 16);
    a->family = family;

    return a;
}


/*
 * The bucket of failed key checks of the client's address: "take", a
 * failure (a full bucket stays full: each failure past it keeps it so);
 * else a look at it.  The ms to wait, or 0.
 */
static ngx_msec_t
ngx_http_mj_auth_bucket(ngx_http_request_t *r, ngx_http_mj_loc_conf_t *mlcf,
    ngx_uint_t take)
{
    uint64_t             ms, last;
    uint32_t             excess;
    ngx_uint_t           left;
    ngx_msec_t           delay, empty;
    ngx_http_mj_zone_t  *z;
    ngx_http_mj_addr_t  *a;

    z = mlcf->shm_zone->data;
    ms = ngx_http_mj_now_ms();

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_mj_addr_locked(z->sh, r);
    last = a->last;
    excess = a->excess;

    delay = ngx_http_mj_bucket(&last, &excess, mlcf->auth.rate,
                               mlcf->auth.burst, ms, 1, &left, &empty);

    if (take) {
        a->last = delay ? ms : last;
        a->excess = excess;

        /* what bounds every address's bucket: see auth_maybe_blocked() */
        if (a->excess > z->sh->auth_peak) {
            z->sh->auth_peak = a->excess;
        }

        ngx_memory_barrier();

        if (a->last > z->sh->auth_last) {
            z->sh->auth_last = a->last;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return delay;
}


/*
 * Whether any address may be over its bucket: none is when a bucket as
 * full as the fullest a failure ever left, filled at the latest failure
 * anywhere, has room now.  Read without the lock (two aligned words,
 * written in the other order under it), so that with no key guessed
 * lately a request does not take the zone's lock for this; when one may
 * be, its own bucket is looked at under the lock.
 */
static ngx_uint_t
ngx_http_mj_auth_maybe_blocked(ngx_http_mj_loc_conf_t *mlcf)
{
    uint64_t             last;
    uint32_t             excess;
    ngx_uint_t           left;
    ngx_msec_t           empty;
    ngx_http_mj_zone_t  *z;

    z = mlcf->shm_zone->data;

    last = z->sh->auth_last;
    ngx_memory_barrier();
    excess = (uint32_t) z->sh->auth_peak;

    if (last == 0) {
        return 0;
    }

    return ngx_http_mj_bucket(&last, &excess, mlcf->auth.rate,
                              mlcf->auth.burst, ngx_http_mj_now_ms(), 1,
                              &left, &empty)
           != 0;
}


/* an address that failed too many key checks is refused before the check */
ngx_int_t
ngx_http_mj_auth_blocked(ngx_http_request_t *r, ngx_http_mj_ctx_t *ctx)
{
    ngx_msec_t               delay;
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (mlcf->auth.rate == 0 || !ngx_http_mj_auth_maybe_blocked(mlcf)) {
        return NGX_OK;
    }

    delay = ngx_http_mj_auth_bucket(r, mlcf, 0);

    if (delay == 0) {
        return NGX_OK;
    }

    if (ngx_http_mj_retry_after(r, (delay + 999) / 1000) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(mlcf->auth_log_level, r->connection->log, 0,
                  "mj: too many failed key checks from this address");

    return ngx_http_mj_fail(r, ctx, mlcf->limit_status,
                            NGX_HTTP_MJ_CODE_LIMIT,
                            "too many failed key checks: try again later");
}


void
ngx_http_mj_auth_failed(ngx_http_request_t *r)
{
    ngx_http_mj_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_module);

    if (mlcf->auth.rate) {
        (void) ngx_http_mj_auth_bucket(r, mlcf, 1);
    }
}


/* directives */


/* mj_limit_submit | mj_limit_poll | mj_limit_auth rate=N[r/s|r/m] [burst=N]
 * [nodelay] */
char *
ngx_http_mj_rate_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    long                 rate;
    ngx_int_t            n;
    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_http_mj_rate_t  *lim;

    lim = (ngx_http_mj_rate_t *) (p + cmd->offset);

    if (lim->rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    lim->burst = 0;
    rate = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            rate = mj_parse_rate((char *) value[i].data + 5, value[i].len - 5);
            if (rate <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            lim->burst = n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            /* the gateway never delays: beyond the burst it refuses */
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"rate\" parameter", &cmd->name);
        return NGX_CONF_ERROR;
    }

    lim->rate = (ngx_uint_t) rate;

    return NGX_CONF_OK;
}


/* mj_limit_tasks N [age=TIME] */
char *
ngx_http_mj_limit_tasks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (mlcf->tasks != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->tasks = ngx_atoi(value[1].data, value[1].len);
    if (mlcf->tasks == NGX_ERROR || mlcf->tasks > NGX_HTTP_MJ_TRACK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of tasks \"%V\" (0 to %d)",
                           &value[1], NGX_HTTP_MJ_TRACK);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "age=", 4) == 0) {
            mlcf->task_age = ngx_http_mj_conf_time(&value[i], 4, 1);

            if (mlcf->task_age == (time_t) NGX_ERROR || mlcf->task_age == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid age \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* mj_quota_cost ACTION=N ... */
char *
ngx_http_mj_quota_cost(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_loc_conf_t  *mlcf = conf;

    u_char      *eq;
    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i, a;

    if (mlcf->cost[0] != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    for (a = 0; a < MJ_NACTIONS; a++) {
        mlcf->cost[a] = 1;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
        a = eq ? mj_action_index((char *) value[i].data, eq - value[i].data)
               : 0;
        n = eq ? ngx_atoi(eq + 1, value[i].data + value[i].len - eq - 1)
               : NGX_ERROR;

        if (a == 0 || n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cost \"%V\": ACTION=UNITS, with an "
                               "action of the task actions", &value[i]);
            return NGX_CONF_ERROR;
        }

        mlcf->cost[a - 1] = (ngx_uint_t) n;
    }

    return NGX_CONF_OK;
}
