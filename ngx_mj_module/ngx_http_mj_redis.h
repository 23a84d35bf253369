/*
 * ngx_http_mj_redis.h: a worker's connection to Redis, driven by nginx's
 * event loop (hiredis 0.14's async API; ngx_http_mj_redis.c).
 *
 * "mj_zone ... redis=ADDRESS" binds a zone to a Redis server; each worker
 * then holds one connection to it, made at its start, pipelined, made
 * again with a growing delay when it fails.  What this layer promises:
 *
 *   - No call here blocks the worker: the connect is non-blocking (a name
 *     in redis= is resolved when the configuration is read), and every
 *     reply comes through nginx's events.
 *
 *   - ngx_http_mj_redis_command() returns at once.  NGX_OK: the handler
 *     will be called exactly once, later (never from inside the call),
 *     with the reply, or with NULL when the command failed: a time-out,
 *     the connection lost, the handshake (AUTH, SELECT) refused.  The one
 *     exception: the handler is never called after "pool" (when not NULL)
 *     is destroyed, so a request's pool makes a late reply harmless, nor
 *     while the worker exits.  NGX_ERROR: the handler will never be called
 *     (Redis is known to be down and the connection waits for its next
 *     attempt, or the worker exits, or no memory).
 *
 *   - A reply is valid only while the handler runs; it may be an error
 *     reply (REDIS_REPLY_ERROR), which is a round trip, not a failure.
 *
 *   - Time-outs: every command must be answered within redis_timeout of
 *     being sent.  Replies come in order, so when the oldest command
 *     times out every command behind it is stuck too: all of them fail
 *     (NGX_HTTP_MJ_REDIS_TIMEOUT), the connection is dropped and made
 *     again.  A reply that comes later is never seen.
 *
 *   - Commands may be issued while the connection is being made: they are
 *     sent after the handshake (AUTH, SELECT, SCRIPT LOAD), on the same
 *     pipeline, and share its deadline rules.
 *
 *   - Handlers may issue commands, and may finalize requests.
 *
 *   - SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE and MONITOR change
 *     the connection's protocol and are refused (NGX_ERROR).
 *
 *   - The password (redis_password_file) is sent with AUTH only: never
 *     logged, never in a reply shown to a client.
 */

#ifndef NGX_HTTP_MJ_REDIS_H
#define NGX_HTTP_MJ_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_mj_module.h"


typedef struct ngx_http_mj_redis_s  ngx_http_mj_redis_t;


/* why a handler is called: "rc" of ngx_http_mj_redis_handler_pt */
#define NGX_HTTP_MJ_REDIS_REPLY     0   /* reply != NULL */
#define NGX_HTTP_MJ_REDIS_TIMEOUT   1   /* reply == NULL */
#define NGX_HTTP_MJ_REDIS_FAILED    2   /* reply == NULL: connection lost */

typedef void (*ngx_http_mj_redis_handler_pt)(redisReply *reply, ngx_int_t rc,
    void *data);


/* a Lua script, registered at config time: see ngx_http_mj_redis_eval() */
typedef struct {
    ngx_str_t                  source;
    u_char                     sha[41];     /* hex SHA-1, NUL-terminated */
    ngx_http_mj_redis_t       *redis;
} ngx_http_mj_redis_script_t;


/* round-trip latency buckets, upper bounds in microseconds; then +Inf */
#define NGX_HTTP_MJ_REDIS_BUCKETS  13

extern ngx_uint_t  ngx_http_mj_redis_bucket_us[NGX_HTTP_MJ_REDIS_BUCKETS - 1];


/*
 * A zone's counters, summed over its workers (kept in shared memory, so
 * they survive reloads).  "connected" is the number of workers whose
 * connection is ready now.
 */
typedef struct {
    ngx_uint_t                 connected;
    ngx_uint_t                 connects;    /* handshakes completed */
    ngx_uint_t                 losses;      /* connections lost or refused */
    ngx_uint_t                 commands;    /* commands sent */
    ngx_uint_t                 replies;     /* round trips answered */
    ngx_uint_t                 errors;      /* error replies among those */
    ngx_uint_t                 timeouts;    /* commands failed by a time-out */
    ngx_uint_t                 failed;      /* by a lost or down connection */
    ngx_uint_t                 noscript;    /* EVALSHA retried after NOSCRIPT */
    ngx_uint_t                 latency[NGX_HTTP_MJ_REDIS_BUCKETS];
    uint64_t                   latency_us;  /* sum */
} ngx_http_mj_redis_stats_t;

#define NGX_HTTP_MJ_REDIS_STATS_JSON_MAX  1024


/* the mj_zone parameters; read-only after the configuration is read */
typedef struct {
    ngx_str_t                  addr;        /* as written, for logs */
    u_char                    *host;        /* numeric; NULL: unix socket */
    u_char                    *path;        /* unix socket */
    int                        port;
    ngx_int_t                  db;          /* 0: no SELECT */
    ngx_str_t                  prefix;      /* of every key; default "mj:" */
    ngx_msec_t                 timeout;
    ngx_str_t                  password;    /* empty: no AUTH */
    ngx_flag_t                 fail_open;   /* fail=open */
    ngx_flag_t                 poll_cluster; /* redis_poll_limit=cluster */
} ngx_http_mj_redis_conf_t;


ngx_int_t ngx_http_mj_redis_command(ngx_http_mj_redis_t *rd,
    ngx_pool_t *pool, ngx_http_mj_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);

/*
 * At config time: a script this zone's Redis runs.  Its SHA-1 is computed
 * here, and every new connection loads it (SCRIPT LOAD) in its handshake.
 */
ngx_http_mj_redis_script_t *ngx_http_mj_redis_script(ngx_conf_t *cf,
    ngx_http_mj_redis_t *rd, ngx_str_t *source);

/*
 * EVALSHA sha nkeys argv...: the first nkeys of argv are KEYS, the rest
 * ARGV.  A NOSCRIPT answer (Redis restarted empty, SCRIPT FLUSH) loads the
 * script and retries once; the handler sees the retry's reply.  Otherwise
 * as ngx_http_mj_redis_command().
 */
ngx_int_t ngx_http_mj_redis_eval(ngx_http_mj_redis_script_t *script,
    ngx_pool_t *pool, ngx_http_mj_redis_handler_pt handler, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

ngx_http_mj_redis_conf_t *ngx_http_mj_redis_conf(ngx_http_mj_redis_t *rd);

/*
 * At config time: "handler" runs in a worker each time its connection is
 * ready (the handshake answered, after a start or an outage), after the
 * replies that made it so.  It may issue commands.
 */
void ngx_http_mj_redis_on_ready(ngx_http_mj_redis_t *rd,
    void (*handler)(void *data), void *data);

/* is this worker's connection ready (handshake done) now? */
ngx_uint_t ngx_http_mj_redis_ready(ngx_http_mj_redis_t *rd);

/* would a command be sent now (ready, or connecting), not fail at once? */
ngx_uint_t ngx_http_mj_redis_reachable(ngx_http_mj_redis_t *rd);

char *ngx_http_mj_redis_strerror(ngx_int_t rc);

void ngx_http_mj_redis_stats(ngx_http_mj_redis_t *rd,
    ngx_http_mj_redis_stats_t *st);

/* the counters as a JSON object, NGX_HTTP_MJ_REDIS_STATS_JSON_MAX at most */
u_char *ngx_http_mj_redis_stats_json(u_char *p, ngx_http_mj_redis_t *rd);

/*
 * At config time: "<zone>:<what>", a small shared zone of counters of
 * "size" bytes, zeroed when new, kept over reloads; *ptr (a pointer to
 * them) is set when it is mapped.
 */
ngx_int_t ngx_http_mj_redis_shared(ngx_conf_t *cf, ngx_str_t *zone,
    char *what, size_t size, void *ptr);

/* the Redis of an mj_zone by the zone's name, at config time; or NULL */
ngx_http_mj_redis_t *ngx_http_mj_redis_find(ngx_conf_t *cf, ngx_str_t *zone);


/* ngx_http_mj_redis_ping.c: mj_redis_ping, a diagnostic */
char *ngx_http_mj_redis_ping(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void *ngx_http_mj_redis_ping_create_conf(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_mj_redis_module;

#endif /* NGX_HTTP_MJ_REDIS_H */
