/*
 * ngx_http_mj_redis_ping.c: "mj_redis_ping zone=NAME [eval=SCRIPT] [ARG...]",
 * a diagnostic.
 *
 * A location whose content is one command sent through its worker's
 * connection to the zone's Redis: PING, the ARGs as a command, or, with
 * eval=, the script through the EVALSHA helper with the ARGs as ARGV.  The
 * answer is the reply as JSON with the zone's Redis counters, 502 for an
 * error reply, and a JSON 503 when the command fails or times out.  The
 * command is fixed in the configuration: a client chooses nothing.
 */

#include "ngx_http_mj_redis.h"


#define NGX_HTTP_MJ_REDIS_JSON_DEPTH  8


typedef struct {
    ngx_http_mj_redis_t          *redis;
    ngx_http_mj_redis_script_t   *script;
    int                           argc;
    const char                  **argv;
    size_t                       *argvlen;
} ngx_http_mj_redis_ping_conf_t;


static const char  *ngx_http_mj_redis_ping_argv[] = { "PING" };
static size_t       ngx_http_mj_redis_ping_len[] = { 4 };


typedef struct {
    ngx_http_request_t           *request;
    ngx_msec_t                    start;
} ngx_http_mj_redis_ping_ctx_t;


static size_t
ngx_http_mj_redis_json_len(redisReply *rp, ngx_uint_t depth)
{
    size_t      len;
    ngx_uint_t  i;

    switch (rp->type) {

    case REDIS_REPLY_INTEGER:
        return NGX_INT64_LEN;

    case REDIS_REPLY_NIL:
        return 4;

    case REDIS_REPLY_ARRAY:
        len = 4;

        if (depth < NGX_HTTP_MJ_REDIS_JSON_DEPTH) {
            len += rp->elements;

            for (i = 0; i < rp->elements; i++) {
                len += ngx_http_mj_redis_json_len(rp->element[i], depth + 1);
            }
        }

        return len;

    default: /* a string, a status, an error: {"error":"..."} */
        return sizeof("{\"error\":\"\"}") - 1 + rp->len
               + ngx_escape_json(NULL, (u_char *) rp->str, rp->len);
    }
}


static u_char *
ngx_http_mj_redis_json(u_char *p, redisReply *rp, ngx_uint_t depth)
{
    ngx_uint_t  i;

    switch (rp->type) {

    case REDIS_REPLY_INTEGER:
        return ngx_sprintf(p, "%L", (int64_t) rp->integer);

    case REDIS_REPLY_NIL:
        return ngx_cpymem(p, "null", 4);

    case REDIS_REPLY_ARRAY:
        if (depth == NGX_HTTP_MJ_REDIS_JSON_DEPTH) {
            return ngx_cpymem(p, "null", 4);
        }

        *p++ = '[';

        for (i = 0; i < rp->elements; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_http_mj_redis_json(p, rp->element[i], depth + 1);
        }

        *p++ = ']';
        return p;

    case REDIS_REPLY_ERROR:
        p = ngx_cpymem(p, "{\"error\":\"", 10);
        p = (u_char *) ngx_escape_json(p, (u_char *) rp->str, rp->len);
        return ngx_cpymem(p, "\"}", 2);

    default:
        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, (u_char *) rp->str, rp->len);
        *p++ = '"';
        return p;
    }
}


static ngx_int_t
ngx_http_mj_redis_ping_send(ngx_http_request_t *r, redisReply *reply,
    ngx_int_t rc, ngx_msec_t start)
{
    char                           *desc;
    size_t                          len;
    ngx_int_t                       res;
    ngx_buf_t                      *b;
    ngx_chain_t                     out;
    ngx_http_mj_redis_ping_conf_t  *pcf;

    pcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_redis_module);

    desc = NULL;
    r->headers_out.status = NGX_HTTP_OK;

    if (reply == NULL) {
        desc = ngx_http_mj_redis_strerror(rc);
        r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        desc = "redis answered with an error";
        r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
    }

    len = sizeof("{\"code\":,\"description\":\"\",\"reply\":,\"ms\":,"
                 "\"redis\":}\n") - 1
          + NGX_INT_T_LEN * 2 + (desc ? ngx_strlen(desc) : 0)
          + (reply ? ngx_http_mj_redis_json_len(reply, 0) : 0)
          + NGX_HTTP_MJ_REDIS_STATS_JSON_MAX;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *b->last++ = '{';

    if (desc) {
        b->last = ngx_sprintf(b->last, "\"code\":%d,\"description\":\"%s\",",
                              NGX_HTTP_MJ_CODE_FAILURE, desc);
    }

    if (reply) {
        b->last = ngx_cpymem(b->last, "\"reply\":", 8);
        b->last = ngx_http_mj_redis_json(b->last, reply, 0);
        b->last = ngx_sprintf(b->last, ",\"ms\":%M,",
                              (ngx_msec_t) (ngx_current_msec - start));
    }

    b->last = ngx_cpymem(b->last, "\"redis\":", 8);
    b->last = ngx_http_mj_redis_stats_json(b->last, pcf->redis);
    b->last = ngx_cpymem(b->last, "}\n", 2);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    res = ngx_http_send_header(r);

    if (res == NGX_ERROR || res > NGX_OK || r->header_only) {
        return res;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the reply, or the failure; never after the request is gone */
static void
ngx_http_mj_redis_ping_done(redisReply *reply, ngx_int_t rc, void *data)
{
    ngx_http_mj_redis_ping_ctx_t  *ctx = data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_mj_redis_ping_send(r, reply, rc,
                                                             ctx->start));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_mj_redis_ping_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_mj_redis_ping_ctx_t   *ctx;
    ngx_http_mj_redis_ping_conf_t  *pcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    pcf = ngx_http_get_module_loc_conf(r, ngx_http_mj_redis_module);

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_mj_redis_ping_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->start = ngx_current_msec;

    /* the request's pool: a client that hangs up cancels the handler */
    rc = pcf->script
         ? ngx_http_mj_redis_eval(pcf->script, r->pool,
                                  ngx_http_mj_redis_ping_done, ctx, 0,
                                  pcf->argc, pcf->argv, pcf->argvlen)
         : ngx_http_mj_redis_command(pcf->redis, r->pool,
                                     ngx_http_mj_redis_ping_done, ctx,
                                     pcf->argc, pcf->argv, pcf->argvlen);

    if (rc != NGX_OK) {
        return ngx_http_mj_redis_ping_send(r, NULL, NGX_HTTP_MJ_REDIS_FAILED,
                                           ctx->start);
    }

    r->main->count++;

    /* notice a client that goes away; nothing else runs the phases again */
    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


void *
ngx_http_mj_redis_ping_create_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_mj_redis_ping_conf_t));
}


/* mj_redis_ping zone=NAME [eval=SCRIPT] [ARG...] */
char *
ngx_http_mj_redis_ping(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mj_redis_ping_conf_t  *pcf = conf;

    ngx_str_t                 *value, name, s;
    ngx_uint_t                 i, k, n;
    ngx_http_core_loc_conf_t  *clcf;

    if (pcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        return "takes \"zone=NAME\" first";
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    pcf->redis = ngx_http_mj_redis_find(cf, &name);
    if (pcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"mj_zone zone=%V:... redis=...\" before "
                           "this \"mj_redis_ping\"", &name);
        return NGX_CONF_ERROR;
    }

    i = 2;

    if (i < cf->args->nelts
        && ngx_strncmp(value[i].data, "eval=", 5) == 0)
    {
        s.data = value[i].data + 5;
        s.len = value[i].len - 5;

        pcf->script = ngx_http_mj_redis_script(cf, pcf->redis, &s);
        if (pcf->script == NULL) {
            return NGX_CONF_ERROR;
        }

        i++;
    }

    if (i == cf->args->nelts && pcf->script == NULL) {
        pcf->argc = 1;
        pcf->argv = ngx_http_mj_redis_ping_argv;
        pcf->argvlen = ngx_http_mj_redis_ping_len;

    } else {
        n = cf->args->nelts - i;
        pcf->argc = (int) n;
        pcf->argv = ngx_palloc(cf->pool, (n + 1) * sizeof(char *));
        pcf->argvlen = ngx_palloc(cf->pool, (n + 1) * sizeof(size_t));

        if (pcf->argv == NULL || pcf->argvlen == NULL) {
            return NGX_CONF_ERROR;
        }

        for (k = 0; k < n; k++) {
            pcf->argv[k] = (const char *) value[i + k].data;
            pcf->argvlen[k] = value[i + k].len;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mj_redis_ping_handler;

    return NGX_CONF_OK;
}
