/*
 * mj_state_parse.h: the format of an mj_zone's state file, and its reader.
 *
 * Version 3:
 *
 *   head       96 bytes: magic, version, the record sizes, the zone's
 *              secret, the journal generation the snapshot began, what
 *              the file holds (tasks, users, their quota units of "day",
 *              blocks of each kind), and the head's CRC-32
 *   blocks     of MJ_STATE_BLOCK bytes each (a 16-byte block head: kind,
 *              index, records, CRC-32 of the block; then the records,
 *              zero-padded): first the users' counters, each block
 *              written twice in a row, then the tasks
 *   trailer    the head again
 *
 * Every block has the same size, so one that is damaged costs its own
 * records only: the reader goes on at the next.  Users' counters come
 * first and twice, so a file cut short loses tasks before it loses any
 * counter, and a damaged users block is read from its copy.  The head
 * says what the file holds, so the caller can say what was lost; a
 * damaged head is read from the trailer.
 *
 * Version 2 (read, never written): a 40-byte head, then blocks of task
 * records up to an empty block, then users' counters the same way.
 *
 * Plain C, shared by the module and its fuzzer: the reader reads through
 * the caller's function and hands each record of a sound block over.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_STATE_PARSE_H
#define MJ_STATE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define MJ_STATE_MAGIC    "NGXMJST1"
#define MJ_STATE_VERSION  3
#define MJ_STATE_BLOCK    4096            /* bytes of records in a block */
#define MJ_STATE_V2_BLOCK 1024            /* version 2: tasks in a block */

/* block kinds */
#define MJ_STATE_USERS    1
#define MJ_STATE_TASKS    2


typedef struct {
    unsigned char              magic[8];
    uint32_t                   version;
    uint32_t                   task_size;
    uint32_t                   user_size;
    uint32_t                   day;       /* the UTC day of "units" */
    unsigned char              secret[16];
    uint64_t                   gen;       /* journals from this one on */
    uint64_t                   seq;       /* the journal's at the start */
    uint64_t                   tasks;
    uint64_t                   users;
    uint64_t                   units;     /* quota units used on "day" */
    uint32_t                   ublocks;   /* users' blocks, each twice */
    uint32_t                   tblocks;
    uint32_t                   reserved;
    uint32_t                   crc;       /* of everything above */
} mj_state_head_t;


typedef struct {
    uint32_t                   kind;      /* MJ_STATE_USERS, _TASKS */
    uint32_t                   index;     /* of the block, in its kind */
    uint32_t                   n;         /* records in it */
    uint32_t                   crc;       /* of the above and the records */
} mj_state_bhead_t;


/* a block as written: its head, then its records, zero-padded */
#define MJ_STATE_BLOCK_SIZE  (sizeof(mj_state_bhead_t) + MJ_STATE_BLOCK)


typedef struct {
    /* set by the caller */
    ssize_t                  (*pread)(void *io, void *buf, size_t n,
                                      off_t off);
    void                      *io;
    off_t                      size;      /* of the file */
    uint32_t                 (*crc)(const unsigned char *p, size_t n);
    size_t                     task_size;
    size_t                     user_size;
    /* a record of a sound block: 0 if kept, -1 if skipped */
    int                      (*task)(void *data, const void *rec);
    int                      (*user)(void *data, const void *rec);
    void                      *data;

    /* what was read */
    unsigned                   version;
    unsigned                   head_ok:1;   /* head (or trailer) sound */
    unsigned                   cut:1;       /* the end is missing */
    unsigned                   trailer:1;   /* the head was damaged */
    mj_state_head_t            head;        /* when head_ok */
    size_t                     tasks;
    size_t                     users;
    size_t                     skipped;     /* records the caller refused */
    size_t                     damaged;     /* blocks unreadable */
    size_t                     recovered;   /* users' blocks read from
                                               their copy */
    const char                *why;        /* NULL: whole and sound */
} mj_state_reader_t;


/* records of "size" in a block */
#define mj_state_per_block(size)  (MJ_STATE_BLOCK / (size))

/*
 * Read a state file: 0 when it was read whole and sound; -1 when it is
 * cut short or damaged (rd->why says how; what could be read was handed
 * over, and rd->damaged, rd->recovered, rd->cut say what was not); -2
 * when it is not a state file of a version and record sizes read here;
 * -3 when memory ran out.
 */
int mj_state_read(mj_state_reader_t *rd);

/* 1 if "h" is a sound head of this version and these record sizes */
int mj_state_head_valid(const mj_state_head_t *h, size_t task_size,
    size_t user_size, uint32_t (*crc)(const unsigned char *p, size_t n));

/* a head of these record sizes, its CRC set (the caller fills the rest) */
void mj_state_head_seal(mj_state_head_t *head, size_t task_size,
    size_t user_size, uint32_t (*crc)(const unsigned char *p, size_t n));

/*
 * A block of "n" records of "kind" at b + sizeof(mj_state_bhead_t): its
 * padding zeroed and its head written; b holds MJ_STATE_BLOCK_SIZE bytes.
 */
void mj_state_block_seal(unsigned char *b, uint32_t kind, uint32_t index,
    uint32_t n, size_t size,
    uint32_t (*crc)(const unsigned char *p, size_t n));

#endif /* MJ_STATE_PARSE_H */
