/*
 * mjctl.h: the operator's tool for an ngx_mj gateway: users, checks,
 * status.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJCTL_H
#define MJCTL_H

#include <stddef.h>

#include "mj_users_parse.h"


#define CTL_EXIT_OK     0
#define CTL_EXIT_ERROR  1
#define CTL_EXIT_USAGE  2

#define CTL_KEY_BYTES     32      /* a key: "mj-" and 43 base64url chars */
#define CTL_MAX_SETTINGS  16


typedef struct {
    const char      *users;        /* --users */
    const char      *keys;         /* --keys */
    const char      *upstream;     /* --upstream */
    char            *settings[CTL_MAX_SETTINGS];   /* "rate=10r/m", ... */
    size_t           nsettings;
    int              reload;       /* --reload */
    const char      *nginx;        /* --nginx */
    const char      *nginx_args;   /* --nginx-args */
    const char      *url;          /* status: --url */
    double           timeout;      /* status: --timeout */
    int              json;         /* status: --json */
} ctl_conf_t;


/* the users file as read, under an exclusive lock when it will change */
typedef struct {
    const char      *path;
    int              fd;
    char            *text;
    size_t           len;
    mj_user_rec_t   *users;
    size_t           n;
} ctl_users_t;


/* mjctl_users.c: the users and keys files */
int ctl_users_load(ctl_users_t *uf, const char *path, int lock, int create);
void ctl_users_free(ctl_users_t *uf);
mj_user_rec_t *ctl_users_find(const ctl_users_t *uf, const char *name);
int ctl_users_put(ctl_users_t *uf, unsigned line, const char *text);
int ctl_keys_load(const char *path, mj_ukey_rec_t **keys, size_t *n);
void ctl_keys_free(mj_ukey_rec_t *keys, size_t n);
char *ctl_user_line(const mj_user_rec_t *u, const ctl_users_t *uf);
void ctl_user_settings(const mj_user_rec_t *u, char *buf, size_t size);
void ctl_key_new(char *key, size_t size, char *hex);
void ctl_parse_error(const char *path, const mj_parse_err_t *err);

/* the commands */
int ctl_user(const ctl_conf_t *cf, const char *cmd, int argc, char **argv);
int ctl_check(const ctl_conf_t *cf);
int ctl_status(const ctl_conf_t *cf);
int ctl_reload(const ctl_conf_t *cf);

#endif /* MJCTL_H */
