/*
 * fuzz_state.c: the state-file reader (mj_state_parse.c), versions 3 and 2.
 *
 * Whatever the bytes, the reader reads no more than there is, hands over
 * only records that are in the file (the target finds each in a block of
 * the input whose CRC it checks again, for version 3), says why it stopped
 * short, and calls a file whole only when it handed over what its head
 * says it holds.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mj_state_parse.h"
#include "fuzz_tree.h"


#define FUZZ_TASK_SIZE  32
#define FUZZ_USER_SIZE  344


typedef struct {
    const uint8_t  *p;
    size_t          len;
    size_t          calls;
    size_t          tasks;       /* records handed over */
    size_t          users;
    unsigned        version;
} fuzz_io_t;


static ssize_t
fuzz_pread(void *io, void *buf, size_t n, off_t off)
{
    fuzz_io_t  *f = io;

    fuzz_check(off >= 0);

    if ((size_t) off >= f->len) {
        return 0;
    }

    if (n > f->len - off) {
        n = f->len - off;
    }

    memcpy(buf, f->p + off, n);

    return (ssize_t) n;
}


static uint32_t
fuzz_crc(const unsigned char *p, size_t n)
{
    return (uint32_t) crc32(0, p, (uInt) n);
}


/* version 3: the record is in a block of the input whose CRC is right */
static int
fuzz_in_sound_block(fuzz_io_t *f, const void *rec, size_t size)
{
    size_t            off, k;
    unsigned char     b[MJ_STATE_BLOCK_SIZE];
    mj_state_bhead_t  bh;

    for (off = sizeof(mj_state_head_t);
         off + MJ_STATE_BLOCK_SIZE <= f->len;
         off += MJ_STATE_BLOCK_SIZE)
    {
        memcpy(b, f->p + off, MJ_STATE_BLOCK_SIZE);
        memcpy(&bh, b, sizeof(bh));
        memset(b + offsetof(mj_state_bhead_t, crc), 0, sizeof(uint32_t));

        if (fuzz_crc(b, MJ_STATE_BLOCK_SIZE) != bh.crc) {
            continue;
        }

        for (k = 0; k < bh.n && k < MJ_STATE_BLOCK / size; k++) {
            if (memcmp(b + sizeof(bh) + k * size, rec, size) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* a record is kept when its first byte is even, as owner != 0 would be */
static int
fuzz_record(fuzz_io_t *f, const void *rec, size_t size)
{
    f->calls++;

    if (f->version == MJ_STATE_VERSION) {
        fuzz_check(fuzz_in_sound_block(f, rec, size));
    }

    return (*(const unsigned char *) rec & 1) ? -1 : 0;
}


static int
fuzz_task(void *data, const void *rec)
{
    fuzz_io_t  *f = data;

    f->tasks++;
    return fuzz_record(f, rec, FUZZ_TASK_SIZE);
}


static int
fuzz_user(void *data, const void *rec)
{
    fuzz_io_t  *f = data;

    f->users++;
    return fuzz_record(f, rec, FUZZ_USER_SIZE);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    fuzz_io_t          io;
    mj_state_reader_t  rd;

    memset(&io, 0, sizeof(io));
    io.p = data;
    io.len = size;

    /* the version decides how records are checked: peek at it */
    if (size >= 12) {
        memcpy(&io.version, data + 8, sizeof(uint32_t));
    }

    memset(&rd, 0, sizeof(rd));
    rd.pread = fuzz_pread;
    rd.io = &io;
    rd.size = (off_t) size;
    rd.crc = fuzz_crc;
    rd.task_size = FUZZ_TASK_SIZE;
    rd.user_size = FUZZ_USER_SIZE;
    rd.task = fuzz_task;
    rd.user = fuzz_user;
    rd.data = &io;

    rc = mj_state_read(&rd);

    fuzz_check(rc == 0 || rc == -1 || rc == -2);
    fuzz_check((rc == 0) == (rd.why == NULL));
    fuzz_check(rd.tasks + rd.users + rd.skipped == io.calls);

    if (rc == -2) {
        fuzz_check(io.calls == 0);
    }

    if (rc == 0 && rd.version == MJ_STATE_VERSION) {
        /* a whole file: what its head says, no damage, no copy needed */
        fuzz_check(rd.head_ok && !rd.cut && !rd.trailer);
        fuzz_check(rd.damaged == 0 && rd.recovered == 0);
        fuzz_check(io.tasks == rd.head.tasks && io.users == rd.head.users);
        fuzz_check(size >= 2 * sizeof(mj_state_head_t)
                           + (2 * (size_t) rd.head.ublocks
                              + rd.head.tblocks) * MJ_STATE_BLOCK_SIZE);
    }

    if (rc == 0 && rd.version == 2) {
        /* a whole version 2 file: its head and two ends of sections */
        fuzz_check(size >= 40 + 2 * 8);
    }

    return 0;
}
