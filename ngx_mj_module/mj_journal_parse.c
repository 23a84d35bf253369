/*
 * mj_journal_parse.c: the records of an mj_zone's journal and their
 * reader; see mj_journal_parse.h.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <string.h>

#include "mj_journal_parse.h"


size_t
mj_journal_record(unsigned char *out, unsigned type, uint64_t seq,
    const void *payload, size_t n)
{
    mj_journal_head_t  h;

    h.sum = 0;
    h.magic = MJ_JOURNAL_MAGIC;
    h.type = (uint8_t) type;
    h.len = (uint16_t) (sizeof(h) + n);
    h.seq = seq;

    memcpy(out, &h, sizeof(h));
    memcpy(out + sizeof(h), payload, n);

    return sizeof(h) + n;
}


/*
 * 32 bits of a 64-bit multiply-xorshift hash, 8 bytes a step: any change
 * of the bytes, a torn end included, passes with a chance of 2^-32.
 */
uint32_t
mj_journal_sum(const unsigned char *p, size_t n)
{
    size_t    i;
    uint64_t  h, w;

    h = 0x6a09e667f3bcc909ULL ^ n;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }

    if (i < n) {
        w = 0;
        memcpy(&w, p + i, n - i);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }

    h *= 0xbf58476d1ce4e5b9ULL;

    return (uint32_t) (h ^ (h >> 32));
}


void
mj_journal_seal(unsigned char *buf, size_t len)
{
    size_t             off;
    uint32_t           c;
    mj_journal_head_t  h;

    for (off = 0; off + sizeof(h) <= len; off += h.len) {
        memcpy(&h, buf + off, sizeof(h));

        if (h.len < sizeof(h) || h.len > len - off) {
            return;
        }

        c = mj_journal_sum(buf + off + sizeof(uint32_t),
                           h.len - sizeof(uint32_t));
        memcpy(buf + off, &c, sizeof(c));
    }
}


/* the length of a whole, sound record at off, or 0 */
static size_t
mj_journal_at(mj_journal_reader_t *rd, size_t off, mj_journal_head_t *h)
{
    if (rd->len - off < sizeof(*h)) {
        return 0;
    }

    memcpy(h, rd->p + off, sizeof(*h));

    if (h->magic != MJ_JOURNAL_MAGIC || h->type >= MJ_JOURNAL_TYPES
        || rd->size[h->type] == 0
        || h->len != sizeof(*h) + rd->size[h->type]
        || h->len > rd->len - off)
    {
        return 0;
    }

    if (mj_journal_sum(rd->p + off + sizeof(uint32_t),
                       h->len - sizeof(uint32_t))
        != h->sum)
    {
        return 0;
    }

    return h->len;
}


void
mj_journal_read(mj_journal_reader_t *rd)
{
    size_t             off, n, bad;
    mj_journal_head_t  h;

    bad = 0;

    for (off = 0; off < rd->len; /* void */ ) {
        n = mj_journal_at(rd, off, &h);

        if (n == 0) {
            /* not a record: look for the next one a byte further */
            bad++;
            off++;
            continue;
        }

        if (bad) {
            rd->damaged++;
            rd->skipped += bad;
            bad = 0;
        }

        rd->rec(rd->data, &h, rd->p + off + sizeof(h));
        rd->records++;
        off += n;
    }

    rd->tail = bad;
}
