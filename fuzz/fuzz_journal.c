/*
 * fuzz_journal.c: the journal reader (mj_journal_parse.c).
 *
 * Whatever the bytes, the reader hands over only whole records whose check
 * the target computes again, in the order they lie in the input, never two
 * that overlap; and every byte of the input is a record's, skipped in the
 * middle, or the tail.  Records built with mj_journal_record() and sealed
 * read back as they were built.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj_journal_parse.h"
#include "fuzz_tree.h"


typedef struct {
    const uint8_t  *p;
    size_t          len;
    size_t          next;        /* where the next record may start */
    size_t          bytes;       /* of the records handed over */
    size_t          calls;
} fuzz_io_t;


static const size_t  fuzz_size[MJ_JOURNAL_TYPES] = { 0, 32, 32, 48 };


static void
fuzz_rec(void *data, const mj_journal_head_t *h, const unsigned char *payload)
{
    fuzz_io_t  *f = data;

    size_t             off;
    mj_journal_head_t  in;

    fuzz_check(payload >= f->p + sizeof(*h) && payload <= f->p + f->len);

    off = (size_t) (payload - f->p) - sizeof(*h);

    fuzz_check(off >= f->next);
    fuzz_check(h->type > 0 && h->type < MJ_JOURNAL_TYPES);
    fuzz_check(h->len == sizeof(*h) + fuzz_size[h->type]);
    fuzz_check(off + h->len <= f->len);

    memcpy(&in, f->p + off, sizeof(in));
    fuzz_check(memcmp(&in, h, sizeof(in)) == 0);
    fuzz_check(in.magic == MJ_JOURNAL_MAGIC);
    fuzz_check(mj_journal_sum(f->p + off + 4, h->len - 4) == in.sum);

    f->next = off + h->len;
    f->bytes += h->len;
    f->calls++;
}


static void
fuzz_ignore(void *data, const mj_journal_head_t *h,
    const unsigned char *payload)
{
    size_t  *n = data;

    (*n)++;
}


static void
fuzz_read(mj_journal_reader_t *rd, const uint8_t *p, size_t len,
    void (*rec)(void *data, const mj_journal_head_t *h,
                const unsigned char *payload),
    void *data)
{
    memset(rd, 0, sizeof(*rd));
    rd->p = p;
    rd->len = len;
    memcpy(rd->size, fuzz_size, sizeof(rd->size));
    rd->rec = rec;
    rd->data = data;

    mj_journal_read(rd);
}


/* records built from the input read back whole */
static void
fuzz_roundtrip(const uint8_t *data, size_t size)
{
    size_t               len, n, k;
    unsigned char        buf[4 * MJ_JOURNAL_MAX];
    mj_journal_reader_t  rd;

    len = 0;
    n = 0;

    for (k = 0; k < 4 && size >= 48; k++, data += 48, size -= 48) {
        len += mj_journal_record(buf + len, 1 + data[0] % 3, k, data,
                                 fuzz_size[1 + data[0] % 3]);
        n++;
    }

    mj_journal_seal(buf, len);

    k = 0;
    fuzz_read(&rd, buf, len, fuzz_ignore, &k);

    fuzz_check(rd.records == n && k == n);
    fuzz_check(rd.damaged == 0 && rd.skipped == 0 && rd.tail == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_io_t            io;
    mj_journal_reader_t  rd;

    memset(&io, 0, sizeof(io));
    io.p = data;
    io.len = size;

    fuzz_read(&rd, data, size, fuzz_rec, &io);

    fuzz_check(rd.records == io.calls);
    fuzz_check(io.bytes + rd.skipped + rd.tail == size);
    fuzz_check(rd.damaged <= rd.records);
    fuzz_check((rd.skipped == 0) == (rd.damaged == 0));

    fuzz_roundtrip(data, size);

    return 0;
}
