/*
 * mj_state_parse.c: the reader of an mj_zone's state file; see
 * mj_state_parse.h.  A block is handed over only when it is whole and its
 * CRC is right, so a file cut short or damaged keeps everything before
 * the damage.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdlib.h>
#include <string.h>

#include "mj_state_parse.h"


void
mj_state_head(mj_state_head_t *head, size_t task_size, size_t user_size,
    const unsigned char *secret,
    uint32_t (*crc)(const unsigned char *p, size_t n))
{
    memset(head, 0, sizeof(mj_state_head_t));
    memcpy(head->magic, MJ_STATE_MAGIC, 8);
    head->version = MJ_STATE_VERSION;
    head->task_size = (uint32_t) task_size;
    head->user_size = (uint32_t) user_size;
    memcpy(head->secret, secret, sizeof(head->secret));
    head->crc = crc(head->secret, sizeof(head->secret));
}


/* one section: blocks of records of this size, up to an empty block */
static int
mj_state_section(mj_state_reader_t *rd, unsigned char *buf, size_t size,
    size_t max, int (*rec)(void *data, const void *rec), size_t *count)
{
    size_t            k;
    ssize_t           n;
    mj_state_block_t  block;

    for ( ;; ) {
        n = rd->read(rd->io, &block, sizeof(block));

        if (n != (ssize_t) sizeof(block) || block.n > max) {
            rd->why = "truncated";
            return -1;
        }

        if (block.n == 0) {
            return 0;
        }

        n = rd->read(rd->io, buf, block.n * size);

        if (n != (ssize_t) (block.n * size)) {
            rd->why = "truncated";
            return -1;
        }

        if (rd->crc(buf, n) != block.crc) {
            rd->why = "corrupt";
            return -1;
        }

        for (k = 0; k < block.n; k++) {
            if (rec(rd->data, buf + k * size) == 0) {
                (*count)++;

            } else {
                rd->skipped++;
            }
        }
    }
}


int
mj_state_read(mj_state_reader_t *rd)
{
    int               rc;
    unsigned char    *buf;
    mj_state_head_t   head, want;

    rd->why = NULL;

    if (rd->read(rd->io, &head, sizeof(head)) != (ssize_t) sizeof(head)) {
        rd->why = "not an ngx_mj state file";
        return -2;
    }

    mj_state_head(&want, rd->task_size, rd->user_size, head.secret, rd->crc);

    if (memcmp(&head, &want, sizeof(head)) != 0) {
        rd->why = "not an ngx_mj state file";
        return -2;
    }

    memcpy(rd->secret, head.secret, sizeof(rd->secret));

    buf = malloc(MJ_STATE_BLOCK * rd->task_size);
    if (buf == NULL) {
        return -3;
    }

    rc = mj_state_section(rd, buf, rd->task_size, MJ_STATE_BLOCK, rd->task,
                          &rd->tasks);

    if (rc == 0) {
        rc = mj_state_section(rd, buf, rd->user_size,
                              mj_state_users_block(rd), rd->user,
                              &rd->users);
    }

    free(buf);

    return rc;
}
