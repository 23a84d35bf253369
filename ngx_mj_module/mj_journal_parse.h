/*
 * mj_journal_parse.h: the records of an mj_zone's journal, and their
 * reader.
 *
 * A journal file is records and nothing else, appended by every worker.
 * A record is a 16-byte head (a 32-bit check of the rest of the record, a
 * magic byte, its type, its length, its sequence number) and a payload
 * whose size its type fixes.  The check is no CRC but a hash taken 8
 * bytes a step (mj_journal_sum()): it only has to tell a whole record from
 * a torn or damaged one, and a byte-wise CRC of each record would cost
 * more than all the rest of a submit's journaling.  The sequence numbers come from the zone, in
 * the order the zone changed; the writes may land in another order, so a
 * reader sorts them.
 *
 * What is not a record (a write torn by a crash, a damaged byte) is
 * skipped up to the next place where a whole record with a right CRC
 * starts; the bytes skipped before the end of the file are a torn tail.
 *
 * Plain C, shared by the module and its fuzzer.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_JOURNAL_PARSE_H
#define MJ_JOURNAL_PARSE_H

#include <stddef.h>
#include <stdint.h>


#define MJ_JOURNAL_MAGIC   0x4a            /* 'J', version 1 */

/* record types */
#define MJ_JOURNAL_COMMIT  1               /* a submit's task recorded */
#define MJ_JOURNAL_STATUS  2               /* a task's status seen */
#define MJ_JOURNAL_USER    3               /* a user's counters */
#define MJ_JOURNAL_TYPES   4

#define MJ_JOURNAL_MAX     256             /* the largest record */


typedef struct {
    uint32_t                   sum;       /* of the rest of the record */
    uint8_t                    magic;
    uint8_t                    type;
    uint16_t                   len;       /* of the whole record */
    uint64_t                   seq;
} mj_journal_head_t;


typedef struct {
    /* set by the caller */
    const unsigned char       *p;         /* the whole file */
    size_t                     len;
    size_t                     size[MJ_JOURNAL_TYPES];  /* payloads; 0:
                                                           no such type */
    /* a record; its payload may be unaligned */
    void                     (*rec)(void *data, const mj_journal_head_t *h,
                                    const unsigned char *payload);
    void                      *data;

    /* what was read */
    size_t                     records;
    size_t                     damaged;   /* spans skipped before a record */
    size_t                     skipped;   /* their bytes */
    size_t                     tail;      /* bytes after the last record */
} mj_journal_reader_t;


/* hand over every record of rd->p, skipping what is not one */
void mj_journal_read(mj_journal_reader_t *rd);

/*
 * A record of "type" with this payload and sequence number at "out"
 * (sizeof(mj_journal_head_t) + n bytes).  Its check is left for
 * mj_journal_seal(), so that a writer can build records under a lock and
 * seal them after.
 */
size_t mj_journal_record(unsigned char *out, unsigned type, uint64_t seq,
    const void *payload, size_t n);

/* the checks of the records in buf (as mj_journal_record() made them) */
void mj_journal_seal(unsigned char *buf, size_t len);

/* the check of n bytes */
uint32_t mj_journal_sum(const unsigned char *p, size_t n);

#endif /* MJ_JOURNAL_PARSE_H */
