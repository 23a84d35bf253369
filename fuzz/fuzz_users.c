/*
 * fuzz_users.c: the users-file and upstream-keys parsers
 * (mj_users_parse.c), which nginx -t and mjctl share.
 *
 * Either a file is refused with a line and a message, or every record
 * holds a valid name, unique in the file, and a known upstream key.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj_users_parse.h"
#include "fuzz_tree.h"



static void
fuzz_check_name(const char *name)
{
    size_t  n;

    n = strlen(name);
    fuzz_check(n >= 1 && n <= MJ_NAME_MAX);
    fuzz_check(strspn(name, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:")
               == n);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           i, j, nusers, nkeys;
    mj_user_rec_t   *users;
    mj_ukey_rec_t   *keys;
    mj_parse_err_t   err;

    users = NULL;
    keys = NULL;

    /* the same text as both files: either may take it or refuse it */
    if (mj_ukeys_parse((const char *) data, size, &keys, &nkeys, &err) != 0)
    {
        fuzz_check(err.msg[0] != '\0');
        nkeys = 0;

    } else {
        for (i = 0; i < nkeys; i++) {
            fuzz_check_name(keys[i].name);
            fuzz_check(keys[i].secret_len > 0
                       && keys[i].secret_len <= MJ_SECRET_MAX);

            for (j = 0; j < i; j++) {
                fuzz_check(strcmp(keys[i].name, keys[j].name) != 0);
            }
        }
    }

    if (mj_users_parse((const char *) data, size, &users, &nusers, &err)
        != 0)
    {
        fuzz_check(err.msg[0] != '\0');
        free(keys);
        return 0;
    }

    for (i = 0; i < nusers; i++) {
        fuzz_check_name(users[i].name);
        fuzz_check_name(users[i].key);
        fuzz_check(users[i].line >= 1);

        for (j = 0; j < i; j++) {
            fuzz_check(strcmp(users[i].name, users[j].name) != 0);
        }
    }

    if (keys && mj_users_check_keys(users, nusers, keys, nkeys, &err) == 0) {
        for (i = 0; i < nusers; i++) {
            for (j = 0; j < nkeys; j++) {
                if (strcmp(users[i].key, keys[j].name) == 0) {
                    break;
                }
            }

            fuzz_check(j < nkeys);
        }
    }

    free(users);
    free(keys);

    return 0;
}
