/*
 * ngx_http_mj_redis.c: hiredis 0.14's async API on nginx's event loop.
 *
 * hiredis owns the socket and its buffers; nginx owns the waiting.  The
 * socket is wrapped in an nginx connection whose read and write events
 * call redisAsyncHandleRead() and redisAsyncHandleWrite(), and hiredis's
 * five event hooks add and delete those events.  The events are
 * level-triggered: hiredis reads at most 16 KB a call, and an
 * edge-triggered epoll would not wake it again for the rest.  A command
 * on a connected socket is written from a posted event, at the end of
 * the event loop's pass, with the others of that pass; epoll is asked
 * to wait only for the connect and for a socket whose buffer is full.
 *
 * hiredis 0.14 has no time-outs of its own.  Every command sent is also
 * queued here, in the order replies come, with its deadline; one timer
 * per connection watches the oldest.  When it passes, the connection is
 * freed, which fails every pending command, and made again.
 *
 * Promises to callers are in ngx_http_mj_redis.h.
 */

#include <hiredis/async.h>
#include <openssl/evp.h>

#include "ngx_http_mj_redis.h"


#define NGX_HTTP_MJ_REDIS_PORT         6379
#define NGX_HTTP_MJ_REDIS_WAIT         500    /* redis_timeout */
#define NGX_HTTP_MJ_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MJ_REDIS_BACKOFF_MAX  2000
#define NGX_HTTP_MJ_REDIS_WORKERS      128    /* with a "connected" flag */
#define NGX_HTTP_MJ_REDIS_FREE_MAX     1024   /* spare commands kept */
#define NGX_HTTP_MJ_REDIS_PASSWORD_MAX 4096


enum {
    NGX_HTTP_MJ_REDIS_IDLE = 0,      /* no attempt in this process yet */
    NGX_HTTP_MJ_REDIS_DOWN,          /* waiting for the next attempt */
    NGX_HTTP_MJ_REDIS_CONNECTING,    /* until the handshake is answered */
    NGX_HTTP_MJ_REDIS_READY
};


typedef struct {
    ngx_pid_t                  pid;
    ngx_atomic_t               ready;
} ngx_http_mj_redis_worker_t;


/* the counters, in a small shared zone of their own ("<zone>:redis") */
typedef struct {
    ngx_atomic_t               connects;
    ngx_atomic_t               losses;
    ngx_atomic_t               commands;
    ngx_atomic_t               replies;
    ngx_atomic_t               errors;
    ngx_atomic_t               timeouts;
    ngx_atomic_t               failed;
    ngx_atomic_t               noscript;
    ngx_atomic_t               latency[NGX_HTTP_MJ_REDIS_BUCKETS];
    ngx_atomic_t               latency_us;
    ngx_http_mj_redis_worker_t workers[NGX_HTTP_MJ_REDIS_WORKERS];
} ngx_http_mj_redis_shm_t;


typedef struct ngx_http_mj_redis_cmd_s  ngx_http_mj_redis_cmd_t;

struct ngx_http_mj_redis_cmd_s {
    ngx_queue_t                    queue;     /* pending, or spare */
    ngx_http_mj_redis_t           *redis;
    ngx_http_mj_redis_handler_pt   handler;   /* NULL: nobody waits */
    void                          *data;
    ngx_pool_cleanup_t            *cln;       /* the caller's pool */
    ngx_http_mj_redis_script_t    *script;    /* an EVALSHA: retried */
    char                          *formatted; /* ... so kept whole */
    size_t                         len;
    char                          *what;      /* a handshake step */
    ngx_msec_t                     deadline;
    uint64_t                       sent;      /* us, monotonic */
    unsigned                       handshake:1;
    unsigned                       retried:1;
};


struct ngx_http_mj_redis_s {
    ngx_http_mj_redis_conf_t       conf;
    ngx_str_t                      zone;
    ngx_array_t                    scripts;   /* ngx_http_mj_redis_script_t * */
    ngx_http_mj_redis_shm_t       *sh;
    void                         (*on_ready)(void *data);
    void                          *on_ready_data;

    /* a worker's connection */
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;     /* deadline, or next attempt */
    ngx_queue_t                    pending;   /* in the order of replies */
    ngx_queue_t                    spare;
    ngx_uint_t                     npending;
    ngx_uint_t                     nspare;
    ngx_uint_t                     state;
    ngx_uint_t                     handshake; /* replies still awaited */
    ngx_uint_t                     failures;  /* attempts failed in a row */
    ngx_int_t                      why;       /* of the commands failed */
    char                          *reason;    /* why it is closed here */
    ngx_http_mj_redis_worker_t    *slot;
    u_char                         errbuf[256];
    unsigned                       closing:1;
    unsigned                       broken:1;  /* an event could not be set */
    unsigned                       exiting:1;
    unsigned                       outage:1;  /* logged, not over yet */
    unsigned                       noauth:1;
    unsigned                       writing:1; /* in redisAsyncHandleWrite */
};


typedef struct {
    ngx_array_t                    redis;     /* ngx_http_mj_redis_t * */
} ngx_http_mj_redis_main_conf_t;


static void ngx_http_mj_redis_connect(ngx_http_mj_redis_t *rd);
static void ngx_http_mj_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void *ngx_http_mj_redis_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_mj_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_mj_redis_exit_process(ngx_cycle_t *cycle);


ngx_uint_t  ngx_http_mj_redis_bucket_us[NGX_HTTP_MJ_REDIS_BUCKETS - 1] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000
};


/* commands that would take the connection out of request-reply order */
static ngx_str_t  ngx_http_mj_redis_refused[] = {
    ngx_string("subscribe"),
    ngx_string("psubscribe"),
    ngx_string("unsubscribe"),
    ngx_string("punsubscribe"),
    ngx_string("monitor"),
    ngx_null_string
};


static ngx_command_t  ngx_http_mj_redis_commands[] = {

    { ngx_string("mj_redis_ping"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mj_redis_ping,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mj_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_mj_redis_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mj_redis_ping_create_conf,    /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_mj_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_mj_redis_module_ctx,         /* module context */
    ngx_http_mj_redis_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mj_redis_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mj_redis_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration: the redis parameters of mj_zone */

static void *
ngx_http_mj_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mj_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->redis, cf->pool, 2,
                       sizeof(ngx_http_mj_redis_t *)) != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


static ngx_http_mj_redis_t *
ngx_http_mj_redis_create(ngx_conf_t *cf)
{
    ngx_http_mj_redis_t            *rd, **rdp;
    ngx_http_mj_redis_main_conf_t  *rmcf;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf.db = NGX_CONF_UNSET;
    rd->conf.timeout = NGX_CONF_UNSET_MSEC;
    rd->conf.fail_open = NGX_CONF_UNSET;
    rd->conf.poll_cluster = NGX_CONF_UNSET;

    if (ngx_array_init(&rd->scripts, cf->pool, 2,
                       sizeof(ngx_http_mj_redis_script_t *)) != NGX_OK)
    {
        return NULL;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mj_redis_module);

    rdp = ngx_array_push(&rmcf->redis);
    if (rdp == NULL) {
        return NULL;
    }

    *rdp = rd;

    return rd;
}


/* redis=HOST[:PORT] | unix:PATH; a name is resolved here, once */
static ngx_int_t
ngx_http_mj_redis_address(ngx_conf_t *cf, ngx_http_mj_redis_conf_t *rc,
    ngx_str_t *s)
{
    size_t     n;
    ngx_url_t  u;

    rc->addr = *s;

    if (s->len > 5 && ngx_strncmp(s->data, "unix:", 5) == 0) {
        rc->path = ngx_pnalloc(cf->pool, s->len - 5 + 1);
        if (rc->path == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_cpystrn(rc->path, s->data + 5, s->len - 5 + 1);
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *s;
    u.default_port = NGX_HTTP_MJ_REDIS_PORT;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
        || u.uri.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in \"redis=%V\"",
                           u.err ? u.err : "not an address", s);
        return NGX_ERROR;
    }

    rc->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (rc->host == NULL) {
        return NGX_ERROR;
    }

    /* hiredis gets the numeric address: its getaddrinfo() never waits */
    n = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, rc->host,
                      NGX_SOCKADDR_STRLEN, 0);
    rc->host[n] = '\0';
    rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_OK;
}


/* the password: one line of a file only root should read */
static ngx_int_t
ngx_http_mj_redis_password(ngx_conf_t *cf, ngx_http_mj_redis_conf_t *rc,
    ngx_str_t *file)
{
    u_char           *p, *last;
    ngx_str_t         name, text;
    ngx_file_info_t   fi;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_info(name.data, &fi) != NGX_FILE_ERROR
        && (fi.st_mode & 077))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis password file \"%V\" is readable by "
                           "others than its owner; chmod 600 it", &name);
    }

    if (ngx_http_mj_read_file(cf, &name, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    last = text.data + text.len;

    while (last > text.data
           && (last[-1] == '\n' || last[-1] == '\r' || last[-1] == ' '
               || last[-1] == '\t'))
    {
        last--;
    }

    for (p = text.data; p < last; p++) {
        if (*p == '\n' || *p == '\r') {
            break;
        }
    }

    if (last == text.data || p < last
        || last - text.data > NGX_HTTP_MJ_REDIS_PASSWORD_MAX)
    {
        ngx_explicit_memzero(text.data, text.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%V\" must hold one line "
                           "of 1 to %d bytes", &name,
                           NGX_HTTP_MJ_REDIS_PASSWORD_MAX);
        return NGX_ERROR;
    }

    rc->password.len = last - text.data;
    rc->password.data = ngx_pnalloc(cf->pool, rc->password.len + 1);
    if (rc->password.data == NULL) {
        return NGX_ERROR;
    }

    /* NUL-terminated too: ngx_strnstr() looks for it in replies */
    ngx_memcpy(rc->password.data, text.data, rc->password.len);
    rc->password.data[rc->password.len] = '\0';
    ngx_explicit_memzero(text.data, text.len);

    return NGX_OK;
}


/* "name=" at the start of a parameter: the value after it, in *s */
static ngx_uint_t
ngx_http_mj_redis_is(ngx_str_t *value, char *name, ngx_str_t *s)
{
    size_t  n;

    n = ngx_strlen(name);

    if (value->len < n || ngx_strncmp(value->data, name, n) != 0) {
        return 0;
    }

    s->data = value->data + n;
    s->len = value->len - n;

    return 1;
}


/* "no" or "yes" as the value names them: 0, 1, or NGX_ERROR */
static ngx_int_t
ngx_http_mj_redis_choice(ngx_str_t *s, char *no, char *yes)
{
    if (s->len == ngx_strlen(no) && ngx_strncmp(s->data, no, s->len) == 0) {
        return 0;
    }

    if (s->len == ngx_strlen(yes) && ngx_strncmp(s->data, yes, s->len) == 0)
    {
        return 1;
    }

    return NGX_ERROR;
}


/*
 * One parameter of mj_zone: NGX_DECLINED when it is not one of the redis
 * ones, NGX_ERROR when it is wrong (logged with the file and line).
 */
ngx_int_t
ngx_http_mj_redis_zone_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value)
{
    u_char                    *p;
    ngx_str_t                  s;
    ngx_uint_t                 i, dup;
    ngx_http_mj_redis_conf_t  *rc;

    static char  *names[] = {
        "redis=", "redis_db=", "redis_prefix=", "redis_timeout=",
        "redis_password_file=", "redis_poll_limit=", "fail=", NULL
    };

    for (i = 0; names[i]; i++) {
        if (ngx_http_mj_redis_is(value, names[i], &s)) {
            break;
        }
    }

    if (names[i] == NULL) {
        return NGX_DECLINED;
    }

    if (z->redis == NULL) {
        z->redis = ngx_http_mj_redis_create(cf);
        if (z->redis == NULL) {
            return NGX_ERROR;
        }
    }

    rc = &z->redis->conf;

    switch (i) {

    case 0: /* redis= */
        dup = (rc->addr.data != NULL);

        if (!dup && ngx_http_mj_redis_address(cf, rc, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case 1: /* redis_db= */
        dup = (rc->db != NGX_CONF_UNSET);
        rc->db = ngx_atoi(s.data, s.len);

        if (rc->db == NGX_ERROR) {
            goto invalid;
        }

        break;

    case 2: /* redis_prefix= */
        dup = (rc->prefix.data != NULL);

        /* a "{" would end the hash tag the store puts after the prefix */
        for (p = s.data; p < s.data + s.len; p++) {
            if (*p <= ' ' || *p >= 0x7f || *p == '{' || *p == '}') {
                goto invalid;
            }
        }

        if (s.len == 0 || s.len > 64) {
            goto invalid;
        }

        rc->prefix = s;
        break;

    case 3: /* redis_timeout= */
        dup = (rc->timeout != NGX_CONF_UNSET_MSEC);
        rc->timeout = ngx_parse_time(&s, 0);

        if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
            goto invalid;
        }

        break;

    case 4: /* redis_password_file= */
        dup = (rc->password.data != NULL);

        if (s.len == 0) {
            goto invalid;
        }

        if (!dup && ngx_http_mj_redis_password(cf, rc, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case 5: /* redis_poll_limit= */
        dup = (rc->poll_cluster != NGX_CONF_UNSET);
        rc->poll_cluster = ngx_http_mj_redis_choice(&s, "node", "cluster");

        if (rc->poll_cluster == NGX_ERROR) {
            goto invalid;
        }

        break;

    default: /* fail= */
        dup = (rc->fail_open != NGX_CONF_UNSET);
        rc->fail_open = ngx_http_mj_redis_choice(&s, "closed", "open");

        if (rc->fail_open == NGX_ERROR) {
            goto invalid;
        }
    }

    if (dup) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate parameter \"%V\"", value);
        return NGX_ERROR;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", value);
    return NGX_ERROR;
}


/* a small zone of counters: where its pointer goes, and their size */
typedef struct {
    void                          *ptr;       /* the address of a T * */
    size_t                         size;
} ngx_http_mj_redis_shared_t;


static ngx_int_t
ngx_http_mj_redis_shared_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mj_redis_shared_t  *old = data;

    void                        *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_mj_redis_shared_t  *sd;

    sd = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (old) {
        /* a reload: the counters go on */
        ngx_memcpy(&sh, old->ptr, sizeof(void *));

    } else if (shm_zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sd->size);
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;
    }

    ngx_memcpy(sd->ptr, &sh, sizeof(void *));

    return NGX_OK;
}


/*
 * At config time: "<zone>:<what>", a small shared zone of counters of
 * "size" bytes, zeroed when it is new and kept over reloads; "ptr" is the
 * address of the pointer to them, set when the zone is mapped.  No
 * NAME:SIZE zone can be called that.
 */
ngx_int_t
ngx_http_mj_redis_shared(ngx_conf_t *cf, ngx_str_t *zone, char *what,
    size_t size, void *ptr)
{
    ngx_str_t                    s;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_mj_redis_shared_t  *sd;

    s.len = zone->len + 1 + ngx_strlen(what);
    s.data = ngx_pnalloc(cf->pool, s.len);
    sd = ngx_palloc(cf->pool, sizeof(ngx_http_mj_redis_shared_t));
    if (s.data == NULL || sd == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(s.data, "%V:%s", zone, what);

    shm_zone = ngx_shared_memory_add(cf, &s, 8 * ngx_pagesize,
                                     &ngx_http_mj_redis_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate mj_zone \"%V\"", zone);
        return NGX_ERROR;
    }

    sd->ptr = ptr;
    sd->size = size;

    shm_zone->init = ngx_http_mj_redis_shared_init;
    shm_zone->data = sd;

    return NGX_OK;
}


/* after the last parameter of mj_zone "name": defaults and the counters */
ngx_int_t
ngx_http_mj_redis_zone_done(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *name)
{
    ngx_http_mj_redis_t       *rd;
    ngx_http_mj_redis_conf_t  *rc;

    rd = z->redis;
    if (rd == NULL) {
        return NGX_OK;
    }

    rc = &rd->conf;

    if (rc->addr.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the redis parameters of mj_zone \"%V\" need "
                           "\"redis=ADDRESS\"", name);
        return NGX_ERROR;
    }

    if (rc->db == NGX_CONF_UNSET) {
        rc->db = 0;
    }

    if (rc->prefix.data == NULL) {
        ngx_str_set(&rc->prefix, "mj:");
    }

    ngx_conf_init_msec_value(rc->timeout, NGX_HTTP_MJ_REDIS_WAIT);
    ngx_conf_init_value(rc->fail_open, 0);
    ngx_conf_init_value(rc->poll_cluster, 0);

    rd->zone = *name;

    return ngx_http_mj_redis_shared(cf, name, "redis",
                                    sizeof(ngx_http_mj_redis_shm_t),
                                    &rd->sh);
}


ngx_http_mj_redis_t *
ngx_http_mj_redis_find(ngx_conf_t *cf, ngx_str_t *zone)
{
    ngx_uint_t                      i;
    ngx_http_mj_redis_t           **rdp;
    ngx_http_mj_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mj_redis_module);
    rdp = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        if (rdp[i]->zone.len == zone->len
            && ngx_strncmp(rdp[i]->zone.data, zone->data, zone->len) == 0)
        {
            return rdp[i];
        }
    }

    return NULL;
}


ngx_http_mj_redis_script_t *
ngx_http_mj_redis_script(ngx_conf_t *cf, ngx_http_mj_redis_t *rd,
    ngx_str_t *source)
{
    u_char                       md[EVP_MAX_MD_SIZE];
    unsigned int                 n;
    ngx_http_mj_redis_script_t  *script, **sp;

    script = ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_redis_script_t));
    if (script == NULL) {
        return NULL;
    }

    script->source.len = source->len;
    script->source.data = ngx_pstrdup(cf->pool, source);
    if (script->source.data == NULL) {
        return NULL;
    }

    /* the name Redis gives the script: EVALSHA needs no SCRIPT LOAD first */
    if (EVP_Digest(source->data, source->len, md, &n, EVP_sha1(), NULL) != 1
        || n != 20)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "SHA-1 failed");
        return NULL;
    }

    *ngx_hex_dump(script->sha, md, n) = '\0';
    script->redis = rd;

    sp = ngx_array_push(&rd->scripts);
    if (sp == NULL) {
        return NULL;
    }

    *sp = script;

    return script;
}


/* a worker's connection: events */

static uint64_t
ngx_http_mj_redis_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
ngx_http_mj_redis_arm(ngx_http_mj_redis_t *rd, ngx_msec_t delay,
    ngx_uint_t cancelable)
{
    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    /*
     * A deadline keeps a worker that shuts down gracefully until its
     * commands are answered or time out; a next attempt does not.
     */
    rd->timer.cancelable = cancelable;
    ngx_add_timer(&rd->timer, delay);
}


static void
ngx_http_mj_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_mj_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->conn == c && !rd->broken) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_mj_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_mj_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->conn == c && !rd->broken) {
        rd->writing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->writing = 0;
    }
}


/*
 * The hooks run inside hiredis, which must not be freed under its own
 * feet: an event that cannot be set breaks the connection, and the timer
 * closes it at once, from outside.
 */
static void
ngx_http_mj_redis_event(ngx_connection_t *c, ngx_event_t *ev,
    ngx_int_t event, ngx_uint_t add)
{
    ngx_int_t             rc;
    ngx_http_mj_redis_t  *rd;

    if (add == ev->active) {
        return;
    }

    rc = add ? ngx_add_event(ev, event, NGX_LEVEL_EVENT)
             : ngx_del_event(ev, event, 0);

    if (rc != NGX_OK) {
        rd = c->data;
        rd->broken = 1;
        rd->reason = "cannot wait for the socket";
        ngx_http_mj_redis_arm(rd, 1, 0);
    }
}


static void
ngx_http_mj_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_mj_redis_event(c, c->read, NGX_READ_EVENT, 1);
}


static void
ngx_http_mj_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_mj_redis_event(c, c->read, NGX_READ_EVENT, 0);
}


/*
 * A command queued on a connected socket goes out when this pass of the
 * event loop is over (a posted write event), with every other command
 * queued in the pass, in one write(): not after a trip through epoll for
 * each (two epoll_ctl() calls and a wake-up a command).  The connect, and
 * a write the socket's buffer left unfinished, wait for epoll.
 */
static void
ngx_http_mj_redis_add_write(void *privdata)
{
    ngx_connection_t     *c = privdata;
    ngx_http_mj_redis_t  *rd;

    rd = c->data;

    if (rd->writing || rd->ac == NULL
        || !(rd->ac->c.flags & REDIS_CONNECTED))
    {
        ngx_http_mj_redis_event(c, c->write, NGX_WRITE_EVENT, 1);
        return;
    }

    if (!c->write->active && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


static void
ngx_http_mj_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_http_mj_redis_event(c, c->write, NGX_WRITE_EVENT, 0);
}


/*
 * This worker's "connected" flag.  Its slot is its worker number's: after
 * a reload the new worker of that number owns it, and an old one exiting
 * later must leave it alone.
 */
static void
ngx_http_mj_redis_mark(ngx_http_mj_redis_t *rd, ngx_uint_t ready)
{
    if (rd->slot && rd->slot->pid == ngx_pid) {
        rd->slot->ready = ready;
    }
}


/* the connection is gone (or never was): log it, try again later */
static void
ngx_http_mj_redis_down(ngx_http_mj_redis_t *rd, char *reason)
{
    ngx_msec_t  delay;
    ngx_uint_t  level;

    if (rd->state == NGX_HTTP_MJ_REDIS_READY) {
        ngx_http_mj_redis_mark(rd, 0);
    }

    rd->state = NGX_HTTP_MJ_REDIS_DOWN;

    if (rd->exiting) {
        return;
    }

    rd->failures++;
    (void) ngx_atomic_fetch_add(&rd->sh->losses, 1);

    delay = NGX_HTTP_MJ_REDIS_BACKOFF_MIN
            << ngx_min(rd->failures - 1, 5);
    delay = ngx_min(delay, NGX_HTTP_MJ_REDIS_BACKOFF_MAX);

    /* an outage is an error once; its further attempts are noted */
    level = rd->outage ? NGX_LOG_INFO : NGX_LOG_ERR;
    rd->outage = 1;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "mj_zone \"%V\": redis %V: %s; next attempt in %Mms",
                  &rd->zone, &rd->conf.addr, reason, delay);

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_mj_redis_arm(rd, delay, 1);
}


/* hiredis frees the context: after the pending callbacks, before close() */
static void
ngx_http_mj_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    char                 *reason;
    redisAsyncContext    *ac;
    ngx_http_mj_redis_t  *rd;

    rd = c->data;
    ac = rd->ac;

    reason = rd->reason ? rd->reason
             : (ac->err && ac->errstr) ? ac->errstr
             : "connection closed";

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    /* hiredis closes the socket itself, right after this */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    rd->ac = NULL;
    rd->conn = NULL;
    rd->closing = 0;
    rd->broken = 0;
    rd->reason = NULL;
    rd->handshake = 0;

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_http_mj_redis_down(rd, reason);
}


/* drop the connection; its pending commands fail with "why" */
static void
ngx_http_mj_redis_close(ngx_http_mj_redis_t *rd, ngx_int_t why,
    char *reason)
{
    if (rd->ac == NULL || rd->closing) {
        return;
    }

    rd->closing = 1;
    rd->why = why;

    if (rd->reason == NULL) {
        rd->reason = reason;
    }

    /* inside a reply callback, hiredis frees it when the callback returns */
    redisAsyncFree(rd->ac);
}


static void
ngx_http_mj_redis_timer_handler(ngx_event_t *ev)
{
    ngx_msec_int_t            left;
    ngx_queue_t              *q;
    ngx_http_mj_redis_t      *rd;
    ngx_http_mj_redis_cmd_t  *cmd;

    rd = ev->data;

    if (rd->state == NGX_HTTP_MJ_REDIS_DOWN) {
        if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
            ngx_http_mj_redis_connect(rd);
        }

        return;
    }

    if (rd->ac == NULL || rd->closing) {
        return;
    }

    if (rd->broken) {
        ngx_http_mj_redis_close(rd, NGX_HTTP_MJ_REDIS_FAILED, rd->reason);
        return;
    }

    if (ngx_queue_empty(&rd->pending)) {
        return;
    }

    q = ngx_queue_head(&rd->pending);
    cmd = ngx_queue_data(q, ngx_http_mj_redis_cmd_t, queue);
    left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    if (left > 0) {
        /* the command this timer was set for is answered: the next one */
        ngx_http_mj_redis_arm(rd, left, 0);
        return;
    }

    *ngx_snprintf(rd->errbuf, sizeof(rd->errbuf) - 1,
                  "no answer within %Mms, %ui commands failed",
                  rd->conf.timeout, rd->npending) = '\0';

    ngx_http_mj_redis_close(rd, NGX_HTTP_MJ_REDIS_TIMEOUT,
                            (char *) rd->errbuf);
}


/* commands */

static ngx_http_mj_redis_cmd_t *
ngx_http_mj_redis_cmd(ngx_http_mj_redis_t *rd)
{
    ngx_queue_t              *q;
    ngx_http_mj_redis_cmd_t  *cmd;

    if (!ngx_queue_empty(&rd->spare)) {
        q = ngx_queue_head(&rd->spare);
        ngx_queue_remove(q);
        rd->nspare--;
        cmd = ngx_queue_data(q, ngx_http_mj_redis_cmd_t, queue);

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_mj_redis_cmd_t), ngx_cycle->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cmd, sizeof(ngx_http_mj_redis_cmd_t));
    cmd->redis = rd;

    return cmd;
}


static void
ngx_http_mj_redis_cmd_free(ngx_http_mj_redis_cmd_t *cmd)
{
    ngx_http_mj_redis_t  *rd;

    rd = cmd->redis;

    if (cmd->formatted) {
        redisFreeCommand(cmd->formatted);
        cmd->formatted = NULL;
    }

    if (rd->nspare < NGX_HTTP_MJ_REDIS_FREE_MAX && !rd->exiting) {
        ngx_queue_insert_head(&rd->spare, &cmd->queue);
        rd->nspare++;
        return;
    }

    ngx_free(cmd);
}


/* the caller's pool is destroyed: its handler must never run */
static void
ngx_http_mj_redis_cancel(void *data)
{
    ngx_http_mj_redis_cmd_t  *cmd = data;

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->cln = NULL;
}


static ngx_int_t
ngx_http_mj_redis_send(ngx_http_mj_redis_t *rd, ngx_http_mj_redis_cmd_t *cmd,
    int argc, const char **argv, const size_t *argvlen)
{
    int  rc;

    if (cmd->formatted) {
        rc = redisAsyncFormattedCommand(rd->ac, ngx_http_mj_redis_reply, cmd,
                                        cmd->formatted, cmd->len);

    } else {
        rc = redisAsyncCommandArgv(rd->ac, ngx_http_mj_redis_reply, cmd,
                                   argc, argv, argvlen);
    }

    if (rc != REDIS_OK) {
        return NGX_ERROR;
    }

    cmd->deadline = ngx_current_msec + rd->conf.timeout;
    cmd->sent = ngx_http_mj_redis_usec();

    ngx_queue_insert_tail(&rd->pending, &cmd->queue);
    rd->npending++;
    (void) ngx_atomic_fetch_add(&rd->sh->commands, 1);

    /* set for an older deadline already, when it is set */
    if (!rd->timer.timer_set) {
        ngx_http_mj_redis_arm(rd, rd->conf.timeout, 0);
    }

    return NGX_OK;
}


/*
 * A step of the handshake (AUTH, SELECT, SCRIPT LOAD, or PING when there
 * is nothing to set up), or a SCRIPT LOAD after a NOSCRIPT.  An error reply
 * to a step fails the connection: the commands behind it would fail too
 * (NOAUTH, LOADING), or run without their script.
 */
static ngx_int_t
ngx_http_mj_redis_step(ngx_http_mj_redis_t *rd, char *what,
    ngx_http_mj_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_mj_redis_cmd_t  *cmd;

    cmd = ngx_http_mj_redis_cmd(rd);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->what = what;
    cmd->handshake = (rd->state == NGX_HTTP_MJ_REDIS_CONNECTING);
    cmd->handler = handler;
    cmd->data = data;

    if (ngx_http_mj_redis_send(rd, cmd, argc, argv, argvlen) != NGX_OK) {
        ngx_http_mj_redis_cmd_free(cmd);
        return NGX_ERROR;
    }

    if (cmd->handshake) {
        rd->handshake++;
    }

    return NGX_OK;
}


static void
ngx_http_mj_redis_loaded(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_redis_script_t  *script = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (script->redis->state != NGX_HTTP_MJ_REDIS_READY) {
            /* the handshake failed: logged as such */
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mj_zone \"%V\": redis refused script %s: %*s",
                      &script->redis->zone, script->sha,
                      (size_t) reply->len, reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->len != 40
        || ngx_strncmp(reply->str, script->sha, 40) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "mj_zone \"%V\": redis loaded script %s under "
                      "another name", &script->redis->zone, script->sha);
    }
}


static ngx_int_t
ngx_http_mj_redis_load(ngx_http_mj_redis_script_t *script)
{
    const char  *argv[3];
    size_t       argvlen[3];

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;
    argv[2] = (const char *) script->source.data;
    argvlen[2] = script->source.len;

    return ngx_http_mj_redis_step(script->redis, "SCRIPT LOAD",
                                  ngx_http_mj_redis_loaded, script,
                                  3, argv, argvlen);
}


static ngx_int_t
ngx_http_mj_redis_start(ngx_http_mj_redis_t *rd)
{
    u_char                        db[NGX_INT_T_LEN];
    ngx_uint_t                    i;
    const char                   *argv[2];
    size_t                        argvlen[2];
    ngx_http_mj_redis_script_t  **sp;

    if (rd->conf.password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rd->conf.password.data;
        argvlen[1] = rd->conf.password.len;

        if (ngx_http_mj_redis_step(rd, "AUTH", NULL, NULL, 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (rd->conf.db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rd->conf.db) - db;

        if (ngx_http_mj_redis_step(rd, "SELECT", NULL, NULL, 2, argv,
                                   argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    sp = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        if (ngx_http_mj_redis_load(sp[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (rd->handshake) {
        return NGX_OK;
    }

    /* nothing to set up: a PING still proves the server answers */
    argv[0] = "PING";
    argvlen[0] = 4;

    return ngx_http_mj_redis_step(rd, "PING", NULL, NULL, 1, argv, argvlen);
}


static void
ngx_http_mj_redis_connect(ngx_http_mj_redis_t *rd)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    rd->state = NGX_HTTP_MJ_REDIS_CONNECTING;
    rd->why = NGX_HTTP_MJ_REDIS_FAILED;
    rd->reason = NULL;
    rd->noauth = 0;

    /* non-blocking; the address is numeric */
    ac = rd->conf.path ? redisAsyncConnectUnix((char *) rd->conf.path)
                       : redisAsyncConnect((char *) rd->conf.host,
                                           rd->conf.port);
    if (ac == NULL) {
        ngx_http_mj_redis_down(rd, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_http_mj_redis_down(rd, ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        ngx_http_mj_redis_down(rd, "no free connection");
        redisAsyncFree(ac);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_mj_redis_read_handler;
    c->write->handler = ngx_http_mj_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_mj_redis_add_read;
    ac->ev.delRead = ngx_http_mj_redis_del_read;
    ac->ev.addWrite = ngx_http_mj_redis_add_write;
    ac->ev.delWrite = ngx_http_mj_redis_del_write;
    ac->ev.cleanup = ngx_http_mj_redis_cleanup;

    rd->ac = ac;
    rd->conn = c;

    /* the connect completes on the first write event */
    ngx_http_mj_redis_add_write(c);

    if (ngx_http_mj_redis_start(rd) != NGX_OK) {
        ngx_http_mj_redis_close(rd, NGX_HTTP_MJ_REDIS_FAILED,
                                "cannot queue the handshake");
    }
}


/* a process's first use: its connection, its place in the counters */
static void
ngx_http_mj_redis_begin(ngx_http_mj_redis_t *rd)
{
    ngx_queue_init(&rd->pending);
    ngx_queue_init(&rd->spare);

    /*
     * A new worker's clock is the master's, from before the fork: a
     * deadline counted from it would come early.
     */
    ngx_time_update();

    rd->timer.handler = ngx_http_mj_redis_timer_handler;
    rd->timer.data = rd;
    rd->timer.log = ngx_cycle->log;

    if (ngx_worker < NGX_HTTP_MJ_REDIS_WORKERS) {
        /* a respawned worker takes its predecessor's place */
        rd->slot = &rd->sh->workers[ngx_worker];
        rd->slot->ready = 0;
        rd->slot->pid = ngx_pid;
    }

    ngx_http_mj_redis_connect(rd);
}


static void
ngx_http_mj_redis_ready_now(ngx_http_mj_redis_t *rd)
{
    ngx_uint_t  level;

    rd->state = NGX_HTTP_MJ_REDIS_READY;
    rd->failures = 0;

    ngx_http_mj_redis_mark(rd, 1);
    (void) ngx_atomic_fetch_add(&rd->sh->connects, 1);

    level = rd->outage ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, ngx_cycle->log, 0, "mj_zone \"%V\": redis %V %s",
                  &rd->zone, &rd->conf.addr,
                  rd->outage ? "is back" : "connected");

    rd->outage = 0;

    if (rd->on_ready) {
        rd->on_ready(rd->on_ready_data);
    }
}


/* an error reply to a handshake step; the password is never printed */
static void
ngx_http_mj_redis_refused_step(ngx_http_mj_redis_t *rd,
    ngx_http_mj_redis_cmd_t *cmd, redisReply *reply)
{
    size_t      len;
    ngx_str_t  *pw;

    pw = &rd->conf.password;
    len = reply->len;

    if (pw->len && ngx_strnstr((u_char *) reply->str, (char *) pw->data,
                               reply->len))
    {
        len = 0;
    }

    /* a long reply is cut, and the text stays NUL-terminated */
    *ngx_snprintf(rd->errbuf, sizeof(rd->errbuf) - 1, "%s refused: %*s",
                  cmd->what, len, reply->str) = '\0';

    ngx_http_mj_redis_close(rd, NGX_HTTP_MJ_REDIS_FAILED,
                            (char *) rd->errbuf);
}


static void
ngx_http_mj_redis_account(ngx_http_mj_redis_t *rd,
    ngx_http_mj_redis_cmd_t *cmd, redisReply *reply)
{
    uint64_t                  us;
    ngx_uint_t                i;
    ngx_http_mj_redis_shm_t  *sh;

    sh = rd->sh;
    us = ngx_http_mj_redis_usec() - cmd->sent;

    for (i = 0; i < NGX_HTTP_MJ_REDIS_BUCKETS - 1; i++) {
        if (us <= ngx_http_mj_redis_bucket_us[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->replies, 1);
    (void) ngx_atomic_fetch_add(&sh->latency[i], 1);
    (void) ngx_atomic_fetch_add(&sh->latency_us, (ngx_atomic_int_t) us);

    if (reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->errors, 1);

    if (!rd->noauth && reply->len >= 6
        && ngx_strncmp(reply->str, "NOAUTH", 6) == 0)
    {
        rd->noauth = 1;
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mj_zone \"%V\": redis %V wants a password: set "
                      "redis_password_file", &rd->zone, &rd->conf.addr);
    }
}


/* NOSCRIPT: load the script and send the same EVALSHA again, once */
static ngx_int_t
ngx_http_mj_redis_retry(ngx_http_mj_redis_t *rd, ngx_http_mj_redis_cmd_t *cmd)
{
    if (ngx_http_mj_redis_load(cmd->script) != NGX_OK) {
        return NGX_ERROR;
    }

    cmd->retried = 1;

    if (ngx_http_mj_redis_send(rd, cmd, 0, NULL, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    (void) ngx_atomic_fetch_add(&rd->sh->noscript, 1);

    return NGX_OK;
}


/* every command ends here, once: hiredis calls it with NULL on failure */
static void
ngx_http_mj_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_http_mj_redis_cmd_t  *cmd = privdata;

    void                          *data;
    ngx_int_t                      rc;
    ngx_uint_t                     step;
    ngx_http_mj_redis_t           *rd;
    ngx_http_mj_redis_handler_pt   handler;

    rd = cmd->redis;

    ngx_queue_remove(&cmd->queue);
    rd->npending--;

    if (ngx_queue_empty(&rd->pending) && rd->timer.timer_set
        && !rd->broken)
    {
        ngx_del_timer(&rd->timer);
    }

    if (reply == NULL) {
        rc = rd->why;

        if (!rd->exiting) {
            (void) ngx_atomic_fetch_add(rc == NGX_HTTP_MJ_REDIS_TIMEOUT
                                        ? &rd->sh->timeouts
                                        : &rd->sh->failed, 1);
        }

    } else {
        rc = NGX_HTTP_MJ_REDIS_REPLY;
        ngx_http_mj_redis_account(rd, cmd, reply);

        if (reply->type == REDIS_REPLY_ERROR && cmd->script
            && !cmd->retried && !rd->closing && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ngx_http_mj_redis_retry(rd, cmd) == NGX_OK)
        {
            return;
        }

        if (reply->type == REDIS_REPLY_ERROR && cmd->handshake) {
            ngx_http_mj_redis_refused_step(rd, cmd, reply);
        }
    }

    step = cmd->handshake && reply && !rd->closing;
    handler = rd->exiting ? NULL : cmd->handler;
    data = cmd->data;

    if (cmd->cln) {
        cmd->cln->handler = NULL;
    }

    ngx_http_mj_redis_cmd_free(cmd);

    if (handler) {
        handler(reply, rc, data);
    }

    if (step && rd->ac == ac && !rd->closing && --rd->handshake == 0) {
        ngx_http_mj_redis_ready_now(rd);
    }
}


/* may a command be sent now?  A process's first command connects */
static ngx_int_t
ngx_http_mj_redis_usable(ngx_http_mj_redis_t *rd, const char *name,
    size_t len)
{
    ngx_str_t  *s;

    for (s = ngx_http_mj_redis_refused; s->len; s++) {
        if (s->len == len && ngx_strncasecmp((u_char *) name, s->data, len)
                             == 0)
        {
            return NGX_ERROR;
        }
    }

    if (rd->exiting || rd->sh == NULL) {
        return NGX_ERROR;
    }

    if (rd->state == NGX_HTTP_MJ_REDIS_IDLE
        && (ngx_process == NGX_PROCESS_WORKER
            || ngx_process == NGX_PROCESS_SINGLE))
    {
        ngx_http_mj_redis_begin(rd);
    }

    if (rd->ac == NULL || rd->closing || rd->broken) {
        (void) ngx_atomic_fetch_add(&rd->sh->failed, 1);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* send a command made ready, and tie it to the caller's pool */
static ngx_int_t
ngx_http_mj_redis_submit(ngx_http_mj_redis_t *rd,
    ngx_http_mj_redis_cmd_t *cmd, ngx_pool_t *pool,
    ngx_http_mj_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_mj_redis_send(rd, cmd, argc, argv, argvlen) != NGX_OK) {
        ngx_http_mj_redis_cmd_free(cmd);
        return NGX_ERROR;
    }

    if (pool) {
        cln = ngx_pool_cleanup_add(pool, 0);
        if (cln == NULL) {
            /* sent already: it ends unseen */
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mj_redis_cancel;
        cln->data = cmd;
        cmd->cln = cln;
    }

    cmd->handler = handler;
    cmd->data = data;

    return NGX_OK;
}


ngx_int_t
ngx_http_mj_redis_command(ngx_http_mj_redis_t *rd, ngx_pool_t *pool,
    ngx_http_mj_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_mj_redis_cmd_t  *cmd;

    if (argc < 1
        || ngx_http_mj_redis_usable(rd, argv[0], argvlen[0]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd = ngx_http_mj_redis_cmd(rd);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mj_redis_submit(rd, cmd, pool, handler, data, argc, argv,
                                    argvlen);
}


ngx_int_t
ngx_http_mj_redis_eval(ngx_http_mj_redis_script_t *script, ngx_pool_t *pool,
    ngx_http_mj_redis_handler_pt handler, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen)
{
    int                       i, len;
    u_char                    n[NGX_INT_T_LEN];
    size_t                   *lens;
    const char              **args;
    ngx_http_mj_redis_t      *rd;
    ngx_http_mj_redis_cmd_t  *cmd;

    rd = script->redis;

    if (nkeys < 0 || nkeys > argc
        || ngx_http_mj_redis_usable(rd, "EVALSHA", 7) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd = ngx_http_mj_redis_cmd(rd);
    args = ngx_alloc((argc + 3) * (sizeof(char *) + sizeof(size_t)),
                     ngx_cycle->log);

    if (cmd == NULL || args == NULL) {
        goto failed;
    }

    lens = (size_t *) (args + argc + 3);

    args[0] = "EVALSHA";
    lens[0] = 7;
    args[1] = (const char *) script->sha;
    lens[1] = 40;
    args[2] = (const char *) n;
    lens[2] = ngx_sprintf(n, "%d", nkeys) - n;

    for (i = 0; i < argc; i++) {
        args[i + 3] = argv[i];
        lens[i + 3] = argvlen[i];
    }

    /* kept whole, to be sent again after a NOSCRIPT */
    len = redisFormatCommandArgv(&cmd->formatted, argc + 3, args, lens);

    ngx_free(args);
    args = NULL;

    if (len < 0) {
        goto failed;
    }

    cmd->len = len;
    cmd->script = script;

    return ngx_http_mj_redis_submit(rd, cmd, pool, handler, data, 0, NULL,
                                    NULL);

failed:

    if (args) {
        ngx_free(args);
    }

    if (cmd) {
        ngx_http_mj_redis_cmd_free(cmd);
    }

    return NGX_ERROR;
}


ngx_http_mj_redis_conf_t *
ngx_http_mj_redis_conf(ngx_http_mj_redis_t *rd)
{
    return &rd->conf;
}


void
ngx_http_mj_redis_on_ready(ngx_http_mj_redis_t *rd, void (*handler)(void *),
    void *data)
{
    rd->on_ready = handler;
    rd->on_ready_data = data;
}


ngx_uint_t
ngx_http_mj_redis_ready(ngx_http_mj_redis_t *rd)
{
    return rd->state == NGX_HTTP_MJ_REDIS_READY && !rd->closing;
}


ngx_uint_t
ngx_http_mj_redis_reachable(ngx_http_mj_redis_t *rd)
{
    /* a first command connects; one made while connecting waits for it */
    return rd->state == NGX_HTTP_MJ_REDIS_IDLE
           || (rd->ac && !rd->closing && !rd->broken);
}


char *
ngx_http_mj_redis_strerror(ngx_int_t rc)
{
    switch (rc) {

    case NGX_HTTP_MJ_REDIS_REPLY:
        return "answered";

    case NGX_HTTP_MJ_REDIS_TIMEOUT:
        return "redis did not answer in time";

    default:
        return "redis is not reachable";
    }
}


/* counters */

void
ngx_http_mj_redis_stats(ngx_http_mj_redis_t *rd, ngx_http_mj_redis_stats_t *st)
{
    ngx_uint_t                i;
    ngx_http_mj_redis_shm_t  *sh;

    ngx_memzero(st, sizeof(ngx_http_mj_redis_stats_t));

    sh = rd->sh;
    if (sh == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_MJ_REDIS_WORKERS; i++) {
        if (sh->workers[i].pid && sh->workers[i].ready) {
            st->connected++;
        }
    }

    st->connects = sh->connects;
    st->losses = sh->losses;
    st->commands = sh->commands;
    st->replies = sh->replies;
    st->errors = sh->errors;
    st->timeouts = sh->timeouts;
    st->failed = sh->failed;
    st->noscript = sh->noscript;
    st->latency_us = sh->latency_us;

    for (i = 0; i < NGX_HTTP_MJ_REDIS_BUCKETS; i++) {
        st->latency[i] = sh->latency[i];
    }
}


u_char *
ngx_http_mj_redis_stats_json(u_char *p, ngx_http_mj_redis_t *rd)
{
    ngx_uint_t                 i;
    ngx_http_mj_redis_stats_t  st;

    ngx_http_mj_redis_stats(rd, &st);

    p = ngx_sprintf(p, "{\"connected\":%ui,\"connects\":%ui,\"losses\":%ui,"
                    "\"commands\":%ui,\"replies\":%ui,\"errors\":%ui,"
                    "\"timeouts\":%ui,\"failed\":%ui,\"noscript\":%ui,"
                    "\"latency_us\":{\"le\":[",
                    st.connected, st.connects, st.losses, st.commands,
                    st.replies, st.errors, st.timeouts, st.failed,
                    st.noscript);

    for (i = 0; i < NGX_HTTP_MJ_REDIS_BUCKETS - 1; i++) {
        p = ngx_sprintf(p, "%s%ui", i ? "," : "",
                        ngx_http_mj_redis_bucket_us[i]);
    }

    p = ngx_sprintf(p, "],\"count\":[");

    for (i = 0; i < NGX_HTTP_MJ_REDIS_BUCKETS; i++) {
        p = ngx_sprintf(p, "%s%ui", i ? "," : "", st.latency[i]);
    }

    return ngx_sprintf(p, "],\"sum\":%uL}}", st.latency_us);
}


/* a worker's start and exit */

static ngx_int_t
ngx_http_mj_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_mj_redis_t           **rdp;
    ngx_http_mj_redis_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mj_redis_module);
    if (rmcf == NULL) {
        return NGX_OK;
    }

    rdp = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        ngx_http_mj_redis_begin(rdp[i]);
    }

    return NGX_OK;
}


/* no handler runs now: the requests are going away with the worker */
static void
ngx_http_mj_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_queue_t                    *q;
    ngx_http_mj_redis_t           **rdp, *rd;
    ngx_http_mj_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mj_redis_module);
    if (rmcf == NULL) {
        return;
    }

    rdp = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        rd = rdp[i];

        if (rd->state == NGX_HTTP_MJ_REDIS_IDLE) {
            continue;
        }

        rd->exiting = 1;

        if (rd->ac) {
            rd->reason = "worker exits";
            redisAsyncFree(rd->ac);
        }

        if (rd->timer.timer_set) {
            ngx_del_timer(&rd->timer);
        }

        if (rd->slot && rd->slot->pid == ngx_pid) {
            rd->slot->pid = 0;
        }

        while (!ngx_queue_empty(&rd->spare)) {
            q = ngx_queue_head(&rd->spare);
            ngx_queue_remove(q);
            ngx_free(ngx_queue_data(q, ngx_http_mj_redis_cmd_t, queue));
        }

        rd->nspare = 0;
    }
}
