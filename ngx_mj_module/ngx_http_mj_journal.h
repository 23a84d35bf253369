/*
 * ngx_http_mj_journal.h: the journal that carries a zone's changes from
 * one snapshot to the next (ngx_http_mj_journal.c; its records:
 * mj_journal_parse.h).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef NGX_HTTP_MJ_JOURNAL_H
#define NGX_HTTP_MJ_JOURNAL_H

#include "mj_journal_parse.h"


/* a user's counters as the journal keeps them */
typedef struct ngx_http_mj_juser_s {
    uint64_t                   owner;
    uint64_t                   requests;
    uint64_t                   submits;
    uint32_t                   day;
    uint32_t                   quota_used;  /* settled: without "held" */
    uint32_t                   rejected[NGX_HTTP_MJ_REJ_N];
} ngx_http_mj_juser_t;


/* records built under the zone's lock, written in one write() after it */
#define NGX_HTTP_MJ_JROOM  256

typedef struct {
    u_char                    *p;           /* room, or a larger buffer */
    size_t                     len;
    size_t                     cap;
    uint64_t                   gen;
    u_char                     room[NGX_HTTP_MJ_JROOM];
} ngx_http_mj_jbatch_t;

#define ngx_http_mj_jbatch_init(b)                                           \
    (b)->p = (b)->room; (b)->len = 0; (b)->cap = NGX_HTTP_MJ_JROOM


/* CRC-32, as nginx computes it: the state file's blocks */
uint32_t ngx_http_mj_crc(const unsigned char *p, size_t n);

/* under the lock: a task record (MJ_JOURNAL_COMMIT, _STATUS), a user's */
void ngx_http_mj_journal_task_locked(ngx_http_mj_zone_t *z,
    ngx_http_mj_jbatch_t *b, ngx_uint_t type, ngx_http_mj_task_t *t);
void ngx_http_mj_journal_user_locked(ngx_http_mj_zone_t *z,
    ngx_http_mj_jbatch_t *b, ngx_http_mj_counters_t *u);

/* after the lock: the batch appended to the journal */
void ngx_http_mj_journal_flush(ngx_http_mj_zone_t *z,
    ngx_http_mj_jbatch_t *b, ngx_log_t *log);

/* the manager: the journal to disk when journal_fsync=TIME is due */
void ngx_http_mj_journal_sync(ngx_http_mj_zone_t *z, ngx_log_t *log);

/* at a start: the journals from generation "from" on, into the zone */
void ngx_http_mj_journal_replay(ngx_http_mj_zone_t *z, uint64_t from,
    ngx_log_t *log);

/* after a snapshot of generation "gen": older journals and temp files go */
void ngx_http_mj_journal_drop(ngx_http_mj_zone_t *z, uint64_t gen,
    ngx_log_t *log);

/* the state file's folder: its entries to disk */
void ngx_http_mj_journal_sync_dir(ngx_http_mj_zone_t *z, ngx_log_t *log);

/* mj_zone's journal= and journal_fsync=; the journal's name */
ngx_int_t ngx_http_mj_journal_param(ngx_conf_t *cf, ngx_http_mj_zone_t *z,
    ngx_str_t *value);
char *ngx_http_mj_journal_conf(ngx_conf_t *cf, ngx_http_mj_zone_t *z);

#endif /* NGX_HTTP_MJ_JOURNAL_H */
