/*
 * mj_state_parse.c: the reader of an mj_zone's state file; see
 * mj_state_parse.h.  A block is handed over only when it is whole and its
 * CRC is right, so a file cut short or damaged keeps everything else.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdlib.h>
#include <string.h>

#include "mj_state_parse.h"


/* version 2's head and block head */
typedef struct {
    unsigned char              magic[8];
    uint32_t                   version;
    uint32_t                   task_size;
    unsigned char              secret[16];
    uint32_t                   crc;       /* of the secret */
    uint32_t                   user_size;
} mj_state_v2_head_t;

typedef struct {
    uint32_t                   n;         /* 0: the end of a section */
    uint32_t                   crc;
} mj_state_v2_block_t;


void
mj_state_head_seal(mj_state_head_t *head, size_t task_size,
    size_t user_size, uint32_t (*crc)(const unsigned char *p, size_t n))
{
    memcpy(head->magic, MJ_STATE_MAGIC, 8);
    head->version = MJ_STATE_VERSION;
    head->task_size = (uint32_t) task_size;
    head->user_size = (uint32_t) user_size;
    head->reserved = 0;
    head->crc = crc((const unsigned char *) head,
                    offsetof(mj_state_head_t, crc));
}


void
mj_state_block_seal(unsigned char *b, uint32_t kind, uint32_t index,
    uint32_t n, size_t size, uint32_t (*crc)(const unsigned char *p, size_t n))
{
    mj_state_bhead_t  bh;

    memset(b + sizeof(bh) + n * size, 0, MJ_STATE_BLOCK - n * size);

    bh.kind = kind;
    bh.index = index;
    bh.n = n;
    bh.crc = 0;
    memcpy(b, &bh, sizeof(bh));

    bh.crc = crc(b, MJ_STATE_BLOCK_SIZE);
    memcpy(b, &bh, sizeof(bh));
}


int
mj_state_head_valid(const mj_state_head_t *h, size_t task_size,
    size_t user_size, uint32_t (*crc)(const unsigned char *p, size_t n))
{
    return memcmp(h->magic, MJ_STATE_MAGIC, 8) == 0
           && h->version == MJ_STATE_VERSION
           && h->crc == crc((const unsigned char *) h,
                            offsetof(mj_state_head_t, crc))
           && h->task_size == task_size
           && h->user_size == user_size;
}


/* a sound head at "off" */
static int
mj_state_head_ok(mj_state_reader_t *rd, off_t off, mj_state_head_t *h)
{
    if (off < 0
        || rd->pread(rd->io, h, sizeof(*h), off) != (ssize_t) sizeof(*h))
    {
        return 0;
    }

    return mj_state_head_valid(h, rd->task_size, rd->user_size, rd->crc);
}


/*
 * The block at "pos": 1 when it is sound (its records handed over unless
 * it is a users block already read), 0 when it is damaged, -1 when the
 * file ends before it.
 */
static int
mj_state_block(mj_state_reader_t *rd, unsigned char *b, size_t pos,
    mj_state_bhead_t *bh, uint32_t *last_users, uint64_t **handed)
{
    off_t     off;
    size_t    k, size;
    uint32_t  crc;
    int     (*rec)(void *data, const void *rec);

    off = (off_t) (sizeof(mj_state_head_t) + pos * MJ_STATE_BLOCK_SIZE);

    if (off + (off_t) MJ_STATE_BLOCK_SIZE > rd->size
        || rd->pread(rd->io, b, MJ_STATE_BLOCK_SIZE, off)
           != (ssize_t) MJ_STATE_BLOCK_SIZE)
    {
        return -1;
    }

    memcpy(bh, b, sizeof(*bh));
    crc = bh->crc;
    memset(b + offsetof(mj_state_bhead_t, crc), 0, sizeof(uint32_t));

    if (bh->kind != MJ_STATE_USERS && bh->kind != MJ_STATE_TASKS) {
        return 0;
    }

    size = (bh->kind == MJ_STATE_USERS) ? rd->user_size : rd->task_size;

    if (bh->n > mj_state_per_block(size)
        || rd->crc(b, MJ_STATE_BLOCK_SIZE) != crc)
    {
        return 0;
    }

    if (bh->kind == MJ_STATE_USERS) {
        if (*last_users == bh->index) {
            /* the copy of the block just read */
            return 1;
        }

        *last_users = bh->index;
    }

    rec = (bh->kind == MJ_STATE_USERS) ? rd->user : rd->task;

    for (k = 0; k < bh->n; k++) {
        if (rec(rd->data, b + sizeof(*bh) + k * size) != 0) {
            rd->skipped++;

        } else if (bh->kind == MJ_STATE_USERS) {
            rd->users++;

        } else {
            rd->tasks++;
        }
    }

    *handed[bh->kind == MJ_STATE_USERS] += bh->n;

    return 1;
}


/* with a sound head: each block where the head says it is */
static void
mj_state_placed(mj_state_reader_t *rd, unsigned char *b, uint64_t **handed)
{
    int               rc;
    size_t            i;
    uint32_t          last;
    mj_state_bhead_t  bh;

    last = (uint32_t) -1;

    for (i = 0; i < rd->head.ublocks; i++) {
        rc = mj_state_block(rd, b, 2 * i, &bh, &last, handed);

        if (rc == 1 && bh.kind == MJ_STATE_USERS && bh.index == i) {
            continue;
        }

        if (rc == -1) {
            rd->cut = 1;
            return;
        }

        /* the first copy is damaged: the second */
        rc = mj_state_block(rd, b, 2 * i + 1, &bh, &last, handed);

        if (rc == 1 && bh.kind == MJ_STATE_USERS && bh.index == i) {
            rd->recovered++;
            continue;
        }

        rd->damaged++;

        if (rc == -1) {
            rd->cut = 1;
            return;
        }
    }

    for (i = 0; i < rd->head.tblocks; i++) {
        rc = mj_state_block(rd, b, 2 * rd->head.ublocks + i, &bh, &last,
                            handed);

        if (rc == -1) {
            rd->cut = 1;
            return;
        }

        if (rc == 0 || bh.kind != MJ_STATE_TASKS) {
            rd->damaged++;
        }
    }

    /* the trailer is missing: nothing lost, but the file is not whole */
    if (rd->size < (off_t) (2 * sizeof(mj_state_head_t)
                            + (2 * (size_t) rd->head.ublocks
                               + rd->head.tblocks) * MJ_STATE_BLOCK_SIZE))
    {
        rd->cut = 1;
    }
}


static void
mj_state_blocks(mj_state_reader_t *rd, unsigned char *b)
{
    uint64_t  tasks, users, *handed[2];

    tasks = 0;
    users = 0;
    handed[0] = &tasks;
    handed[1] = &users;

    mj_state_placed(rd, b, handed);

    /* sound blocks, but not the records the head says it wrote */
    if (!rd->cut && (tasks != rd->head.tasks || users != rd->head.users)) {
        rd->damaged++;
    }
}


/* with no sound head: every whole block, in order */
static void
mj_state_scan(mj_state_reader_t *rd, unsigned char *b)
{
    int               rc;
    size_t            pos;
    uint32_t          last;
    uint64_t          n, *handed[2];
    mj_state_bhead_t  bh;

    last = (uint32_t) -1;
    handed[0] = &n;
    handed[1] = &n;

    for (pos = 0; /* void */ ; pos++) {
        rc = mj_state_block(rd, b, pos, &bh, &last, handed);

        if (rc == -1) {
            return;
        }

        if (rc == 0) {
            rd->damaged++;
        }
    }
}


static int
mj_state_v3(mj_state_reader_t *rd)
{
    unsigned char  *b;

    rd->head_ok = mj_state_head_ok(rd, 0, &rd->head);

    if (!rd->head_ok) {
        rd->trailer = 1;
        rd->head_ok = mj_state_head_ok(rd,
                                       rd->size
                                       - (off_t) sizeof(mj_state_head_t),
                                       &rd->head);
    }

    if (!rd->head_ok) {
        memset(&rd->head, 0, sizeof(rd->head));
    }

    b = malloc(MJ_STATE_BLOCK_SIZE);
    if (b == NULL) {
        return -3;
    }

    if (rd->head_ok) {
        mj_state_blocks(rd, b);

    } else {
        mj_state_scan(rd, b);
    }

    free(b);

    if (!rd->head_ok) {
        rd->why = "damaged in its head";

    } else if (rd->cut) {
        rd->why = "cut short";

    } else if (rd->damaged || rd->recovered || rd->trailer) {
        rd->why = "damaged";

    } else {
        return 0;
    }

    return -1;
}


/* version 2: one section, blocks of records of this size up to an empty one */
static int
mj_state_v2_section(mj_state_reader_t *rd, off_t *off, unsigned char *buf,
    size_t size, size_t max, int (*rec)(void *data, const void *rec),
    size_t *count)
{
    size_t               k;
    ssize_t              n;
    mj_state_v2_block_t  block;

    for ( ;; ) {
        n = rd->pread(rd->io, &block, sizeof(block), *off);

        if (n != (ssize_t) sizeof(block) || block.n > max) {
            rd->why = "cut short";
            rd->cut = 1;
            return -1;
        }

        *off += sizeof(block);

        if (block.n == 0) {
            return 0;
        }

        n = rd->pread(rd->io, buf, block.n * size, *off);

        if (n != (ssize_t) (block.n * size)) {
            rd->why = "cut short";
            rd->cut = 1;
            return -1;
        }

        *off += n;

        if (rd->crc(buf, n) != block.crc) {
            rd->why = "damaged";
            rd->damaged++;
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


static int
mj_state_v2(mj_state_reader_t *rd)
{
    int                  rc;
    off_t                off;
    unsigned char       *buf;
    mj_state_v2_head_t   h;

    if (rd->pread(rd->io, &h, sizeof(h), 0) != (ssize_t) sizeof(h)
        || h.task_size != rd->task_size || h.user_size != rd->user_size
        || h.crc != rd->crc(h.secret, sizeof(h.secret)))
    {
        rd->version = 0;
        rd->why = "not an ngx_mj state file of this build";
        return -2;
    }

    memset(&rd->head, 0, sizeof(rd->head));
    memcpy(rd->head.secret, h.secret, sizeof(h.secret));
    rd->head_ok = 1;

    buf = malloc(MJ_STATE_V2_BLOCK * rd->task_size);
    if (buf == NULL) {
        return -3;
    }

    off = sizeof(h);

    rc = mj_state_v2_section(rd, &off, buf, rd->task_size, MJ_STATE_V2_BLOCK,
                             rd->task, &rd->tasks);

    if (rc == 0) {
        rc = mj_state_v2_section(rd, &off, buf, rd->user_size,
                                 MJ_STATE_V2_BLOCK * rd->task_size
                                 / rd->user_size,
                                 rd->user, &rd->users);
    }

    free(buf);

    return rc;
}


int
mj_state_read(mj_state_reader_t *rd)
{
    unsigned char  start[12];
    uint32_t       version;

    rd->why = NULL;
    rd->version = 0;

    if (rd->pread(rd->io, start, sizeof(start), 0) != (ssize_t) sizeof(start)
        || rd->task_size == 0 || rd->user_size == 0
        || rd->task_size > MJ_STATE_BLOCK || rd->user_size > MJ_STATE_BLOCK)
    {
        rd->why = "not an ngx_mj state file";
        return -2;
    }

    memcpy(&version, start + 8, sizeof(version));

    if (memcmp(start, MJ_STATE_MAGIC, 8) == 0 && version == 2) {
        rd->version = 2;
        return mj_state_v2(rd);
    }

    if (memcmp(start, MJ_STATE_MAGIC, 8) == 0
        && version != MJ_STATE_VERSION)
    {
        rd->version = version;
        rd->why = "of another format version";
        return -2;
    }

    rd->version = MJ_STATE_VERSION;

    if (memcmp(start, MJ_STATE_MAGIC, 8) != 0
        && !mj_state_head_ok(rd, rd->size - (off_t) sizeof(mj_state_head_t),
                             &rd->head))
    {
        rd->version = 0;
        rd->why = "not an ngx_mj state file";
        return -2;
    }

    return mj_state_v3(rd);
}
