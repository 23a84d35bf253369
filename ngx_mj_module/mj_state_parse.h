/*
 * mj_state_parse.h: the format of an mj_zone's state file, and its reader.
 *
 * Version 2: a header (magic, version, the two record sizes, the zone's
 * secret and its CRC), then blocks of task records, each block its count
 * and the CRC-32 of its records, ended by an empty block, then blocks of
 * users' counters the same way.  Plain C, shared by the module and its
 * fuzzer: the reader reads through the caller's function and hands each
 * record of a whole block to the caller.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_STATE_PARSE_H
#define MJ_STATE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define MJ_STATE_MAGIC    "NGXMJST1"
#define MJ_STATE_VERSION  2
#define MJ_STATE_BLOCK    1024            /* task records in a block */


typedef struct {
    unsigned char              magic[8];
    uint32_t                   version;
    uint32_t                   task_size;
    unsigned char              secret[16];
    uint32_t                   crc;       /* of the secret */
    uint32_t                   user_size;
} mj_state_head_t;


typedef struct {
    uint32_t                   n;         /* 0: the end of a section */
    uint32_t                   crc;
} mj_state_block_t;


typedef struct {
    /* set by the caller */
    ssize_t                  (*read)(void *io, void *buf, size_t n);
    void                      *io;
    uint32_t                 (*crc)(const unsigned char *p, size_t n);
    size_t                     task_size;
    size_t                     user_size;
    /* a record of a whole block: 0 if kept, -1 if skipped */
    int                      (*task)(void *data, const void *rec);
    int                      (*user)(void *data, const void *rec);
    void                      *data;

    /* what was read */
    unsigned char              secret[16];
    size_t                     tasks;
    size_t                     users;
    size_t                     skipped;
    const char                *why;      /* NULL: the whole file */
} mj_state_reader_t;


/* users' counters a block: as many bytes as a block of tasks */
#define mj_state_users_block(rd)                                             \
    (MJ_STATE_BLOCK * (rd)->task_size / (rd)->user_size)

/*
 * Read a state file: 0 when it was read whole; -1 when it is damaged
 * (rd->why says how) and what came before the damage was handed over;
 * -2 when it is not a state file of these record sizes; -3 when memory ran
 * out.
 */
int mj_state_read(mj_state_reader_t *rd);

/* the header of a state file of these record sizes and this secret */
void mj_state_head(mj_state_head_t *head, size_t task_size,
    size_t user_size, const unsigned char *secret,
    uint32_t (*crc)(const unsigned char *p, size_t n));

#endif /* MJ_STATE_PARSE_H */
