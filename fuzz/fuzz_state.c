/*
 * fuzz_state.c: the state-file reader (mj_state_parse.c).
 *
 * Whatever the bytes, the reader reads no more than there is, hands over
 * only records of whole blocks whose CRC is right (the target checks the
 * CRC of each record's block again), and says why it stopped short.
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
    size_t          off;
    size_t          records;     /* bytes of records handed over */
    size_t          calls;
} fuzz_io_t;


static ssize_t
fuzz_read(void *io, void *buf, size_t n)
{
    fuzz_io_t  *f = io;

    if (n > f->len - f->off) {
        n = f->len - f->off;
    }

    memcpy(buf, f->p + f->off, n);
    f->off += n;

    return (ssize_t) n;
}


static uint32_t
fuzz_crc(const unsigned char *p, size_t n)
{
    return (uint32_t) crc32(0, p, (uInt) n);
}


/* a record is kept when its first byte is even, as owner != 0 would be */
static int
fuzz_task(void *data, const void *rec)
{
    fuzz_io_t  *f = data;

    f->records += FUZZ_TASK_SIZE;
    f->calls++;
    return (*(const unsigned char *) rec & 1) ? -1 : 0;
}


static int
fuzz_user(void *data, const void *rec)
{
    fuzz_io_t  *f = data;

    f->records += FUZZ_USER_SIZE;
    f->calls++;
    return (*(const unsigned char *) rec & 1) ? -1 : 0;
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

    memset(&rd, 0, sizeof(rd));
    rd.read = fuzz_read;
    rd.io = &io;
    rd.crc = fuzz_crc;
    rd.task_size = FUZZ_TASK_SIZE;
    rd.user_size = FUZZ_USER_SIZE;
    rd.task = fuzz_task;
    rd.user = fuzz_user;
    rd.data = &io;

    rc = mj_state_read(&rd);

    fuzz_check(rc == 0 || rc == -1 || rc == -2);
    fuzz_check((rc == 0) == (rd.why == NULL));
    fuzz_check(io.off <= size);

    /* every record handed over was in the file, after the header */
    fuzz_check(io.records == 0
               || io.records + sizeof(mj_state_head_t) <= io.off);
    fuzz_check(rd.tasks + rd.users + rd.skipped == io.calls);

    if (rc == -2) {
        fuzz_check(io.records == 0);
    }

    if (rc == 0) {
        /* a whole file: the reader stopped at the users' empty block */
        fuzz_check(io.off >= sizeof(mj_state_head_t)
                            + 2 * sizeof(mj_state_block_t));
    }

    return 0;
}
