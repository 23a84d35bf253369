/*
 * mjctl_user.c: mjctl user add, revoke, rotate, enable, disable, list.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mjctl.h"
#include "table.h"
#include "util.h"


#define CTL_KEY_LEN  64             /* room for "mj-" and 43 chars */


/* the upstream key of a new user: --upstream, or the only key there is */
static const char *
ctl_upstream(const ctl_conf_t *cf)
{
    size_t          i, n;
    const char     *name;
    mj_ukey_rec_t  *keys;
    static char     only[MJ_NAME_MAX + 1];

    if (ctl_keys_load(cf->keys, &keys, &n) != 0) {
        if (cf->upstream) {
            tl_err("warning: upstream key \"%s\" not checked", cf->upstream);
        } else {
            tl_err("cannot choose an upstream key: give --upstream");
        }
        return cf->upstream;
    }

    name = cf->upstream;

    if (name) {
        for (i = 0; i < n && strcmp(keys[i].name, name) != 0; i++) {
            /* find it */
        }

        if (i == n) {
            tl_err("%s has no upstream key \"%s\"", cf->keys, name);
            name = NULL;
        }

    } else if (n == 1) {
        snprintf(only, sizeof(only), "%s", keys[0].name);
        name = only;

    } else {
        tl_err("%s has %zu upstream keys: choose one with --upstream",
               cf->keys, n);
    }

    ctl_keys_free(keys, n);

    return name;
}


/* one field of a line: no blanks, no comment */
static int
ctl_field_ok(const char *what, const char *s)
{
    if (*s == '\0' || strpbrk(s, " \t\r\n#") != NULL) {
        tl_err("invalid %s \"%s\"", what, s);
        return 0;
    }

    return 1;
}


/* a user record from the command line, checked by the module's parser */
static int
ctl_user_rec(const ctl_conf_t *cf, const char *name, const char *upstream,
    const char *hex, mj_user_rec_t *u)
{
    size_t           i, n, len;
    char            *line;
    mj_user_rec_t   *users;
    mj_parse_err_t   err;

    len = strlen(name) + strlen(upstream) + strlen(hex) + 4;
    for (i = 0; i < cf->nsettings; i++) {
        len += strlen(cf->settings[i]) + 1;
    }

    if (!ctl_field_ok("user name", name)
        || !ctl_field_ok("upstream key name", upstream))
    {
        return -1;
    }

    line = tl_alloc(len);
    sprintf(line, "%s %s %s", name, hex, upstream);

    for (i = 0; i < cf->nsettings; i++) {
        if (!ctl_field_ok("setting", cf->settings[i])) {
            free(line);
            return -1;
        }

        strcat(line, " ");
        strcat(line, cf->settings[i]);
    }

    if (mj_users_parse(line, strlen(line), &users, &n, &err) != 0) {
        tl_err("user %s: %s", name, err.msg);
        free(line);
        return -1;
    }

    *u = users[0];
    u->line = 0;

    free(users);
    free(line);

    return 0;
}


static void
ctl_print_key(const char *key)
{
    printf("%s\n", key);
    fflush(stdout);
}


static int
ctl_user_add(const ctl_conf_t *cf, ctl_users_t *uf, const char *name)
{
    int              rc;
    char             key[CTL_KEY_LEN], hex[2 * MJ_DIGEST_LEN + 1], *line;
    const char      *upstream;
    mj_user_rec_t    u, *old;

    upstream = ctl_upstream(cf);
    if (upstream == NULL) {
        return CTL_EXIT_ERROR;
    }

    ctl_key_new(key, sizeof(key), hex);

    if (ctl_user_rec(cf, name, upstream, hex, &u) != 0) {
        OPENSSL_cleanse(key, sizeof(key));
        return CTL_EXIT_USAGE;
    }

    old = ctl_users_find(uf, name);
    if (old) {
        tl_err("user \"%s\" exists already (%s:%u)", name, uf->path,
               old->line);
        OPENSSL_cleanse(key, sizeof(key));
        return CTL_EXIT_ERROR;
    }

    line = ctl_user_line(&u, NULL);
    rc = ctl_users_put(uf, 0, line);
    free(line);

    if (rc == 0) {
        ctl_print_key(key);
        tl_err("added user %s (upstream key %s) to %s", name, upstream,
               uf->path);
    }

    OPENSSL_cleanse(key, sizeof(key));

    return rc ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}


/* revoke, rotate, enable or disable user u */
static int
ctl_user_change(ctl_users_t *uf, const char *cmd, mj_user_rec_t *u)
{
    int          rc, rotate;
    char         key[CTL_KEY_LEN], hex[2 * MJ_DIGEST_LEN + 1], *line;
    const char  *done;

    rotate = strcmp(cmd, "rotate") == 0;
    line = NULL;

    if (strcmp(cmd, "revoke") == 0) {
        done = "revoked";

    } else if (rotate) {
        ctl_key_new(key, sizeof(key), hex);
        mj_hex_digest(hex, strlen(hex), u->digest);
        done = "new key for";

    } else if (u->disabled == (strcmp(cmd, "disable") == 0)) {
        tl_err("user %s is %sd already", u->name, cmd);
        return CTL_EXIT_OK;

    } else {
        u->disabled = !u->disabled;
        done = u->disabled ? "disabled" : "enabled";
    }

    if (strcmp(cmd, "revoke") != 0) {
        line = ctl_user_line(u, uf);
    }

    rc = ctl_users_put(uf, u->line, line);
    free(line);

    if (rc == 0 && rotate) {
        ctl_print_key(key);
    }

    if (rotate) {
        OPENSSL_cleanse(key, sizeof(key));
    }

    if (rc == 0) {
        tl_err("%s user %s in %s", done, u->name, uf->path);
    }

    return rc ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}


static int
ctl_user_list(const ctl_users_t *uf)
{
    size_t      i;
    char        set[512];
    tl_table_t  t;

    tl_table_init(&t, 3);
    tl_table_cell(&t, "NAME");
    tl_table_cell(&t, "UPSTREAM");
    tl_table_cell(&t, "SETTINGS");

    for (i = 0; i < uf->n; i++) {
        ctl_user_settings(&uf->users[i], set, sizeof(set));
        tl_table_cell(&t, "%s", uf->users[i].name);
        tl_table_cell(&t, "%s", uf->users[i].key);
        tl_table_cell(&t, "%s", set[0] ? set + 1 : "-");
    }

    tl_table_print(&t, stdout);
    tl_table_free(&t);

    return CTL_EXIT_OK;
}


int
ctl_user(const ctl_conf_t *cf, const char *cmd, int argc, char **argv)
{
    int             rc, change, add;
    ctl_users_t     uf;
    mj_user_rec_t  *u;

    add = strcmp(cmd, "add") == 0;
    change = add || strcmp(cmd, "revoke") == 0 || strcmp(cmd, "rotate") == 0
             || strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0;

    if (strcmp(cmd, "list") == 0 ? argc != 0 : (!change || argc != 1)) {
        tl_err("usage: mjctl user add|revoke|rotate|enable|disable NAME, "
               "or mjctl user list");
        return CTL_EXIT_USAGE;
    }

    if (!add && cf->nsettings) {
        tl_err("user %s takes no settings", cmd);
        return CTL_EXIT_USAGE;
    }

    if (ctl_users_load(&uf, cf->users, change, add) != 0) {
        return CTL_EXIT_ERROR;
    }

    if (!change) {
        rc = ctl_user_list(&uf);
        ctl_users_free(&uf);
        return rc;
    }

    if (add) {
        rc = ctl_user_add(cf, &uf, argv[0]);

    } else {
        u = ctl_users_find(&uf, argv[0]);

        if (u == NULL) {
            tl_err("%s has no user \"%s\"", cf->users, argv[0]);
            rc = CTL_EXIT_ERROR;

        } else {
            rc = ctl_user_change(&uf, cmd, u);
        }
    }

    /* unlocked before nginx reads the file */
    ctl_users_free(&uf);

    if (rc == CTL_EXIT_OK && cf->reload) {
        rc = ctl_reload(cf);
    }

    return rc;
}
