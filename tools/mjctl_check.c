/*
 * mjctl_check.c: mjctl check: the users and keys files as nginx -t reads
 * them, with the module's own parser; "FILE:LINE: message" on errors.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mjctl.h"
#include "util.h"


int
ctl_check(const ctl_conf_t *cf)
{
    int             users_ok, keys_ok;
    size_t          nkeys;
    struct stat     st;
    ctl_users_t     uf;
    mj_ukey_rec_t  *keys;
    mj_parse_err_t  err;

    users_ok = ctl_users_load(&uf, cf->users, 0, 0) == 0;
    keys_ok = ctl_keys_load(cf->keys, &keys, &nkeys) == 0;

    if (keys_ok && stat(cf->keys, &st) == 0 && (st.st_mode & 077)) {
        tl_err("warning: %s is open to others than its owner (mode %04o): "
               "chmod 600 it", cf->keys, st.st_mode & 07777);
    }

    if (users_ok && keys_ok
        && mj_users_check_keys(uf.users, uf.n, keys, nkeys, &err) != 0)
    {
        ctl_parse_error(cf->users, &err);
        users_ok = 0;
    }

    if (users_ok && keys_ok) {
        printf("%s: %zu users, ok\n%s: %zu upstream keys, ok\n", cf->users,
               uf.n, cf->keys, nkeys);
    }

    if (users_ok) {
        ctl_users_free(&uf);
    }

    if (keys_ok) {
        ctl_keys_free(keys, nkeys);
    }

    return users_ok && keys_ok ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}
