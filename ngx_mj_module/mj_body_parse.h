/*
 * mj_body_parse.h: one reading of a JSON request body, the one every
 * upstream makes, and the rewrite of what the gateway removes.
 *
 * Plain C on yajl with no nginx dependency: the module and its fuzzers
 * build the same code.  The whole body is given as one block of memory,
 * which keeps yajl's lexer linear (a token split over two calls is scanned
 * again from its start at every call).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_BODY_PARSE_H
#define MJ_BODY_PARSE_H

#include <stddef.h>

#include <yajl/yajl_common.h>
#include <yajl/yajl_gen.h>

#include "mj_json.h"


#define MJ_BODY_MAX_DEPTH  64       /* System.Text.Json's default MaxDepth */


/* the top-level members the gateway acts on, matched ASCII-case-blind */
enum {
    MJ_BODY_OTHER = 0,
    MJ_BODY_TASKID,
    MJ_BODY_CUSTOMID,
    MJ_BODY_CONTENT,
    MJ_BODY_IDS,
    MJ_BODY_NOTIFYHOOK,
    MJ_BODY_ACCOUNTFILTER,
    MJ_BODY_ACTION,
    MJ_BODY_NKEYS
};

#define MJ_BODY_BIT(k)  (1u << (k))


typedef struct mj_body_s  mj_body_t;

struct mj_body_s {
    /* set by the caller */
    yajl_alloc_funcs          *alloc;     /* copies, ids; NULL: libc */
    yajl_alloc_funcs          *parser;    /* yajl's own while it parses,
                                             all freed before it returns;
                                             NULL: alloc */
    unsigned                   keep_account_filter:1;
    /* a notifyHook value the operator allows; NULL: none is */
    int                      (*hook_allowed)(void *data,
                                             const unsigned char *url,
                                             size_t len);
    void                      *data;

    /* what the inspection found */
    const char                *error;     /* why the body is refused */
    unsigned                   seen;      /* MJ_BODY_BIT per member met */
    unsigned                   drop;      /* MJ_BODY_BIT per member to remove */
    mj_span_t                  str[MJ_BODY_NKEYS];  /* top-level strings */
    mj_span_t                 *ids;       /* the strings of "ids" */
    size_t                     nids;

    /* what reading it cost: yajl_parse() calls, bytes copied out of it */
    unsigned                   parses;
    size_t                     copied;

    /* private */
    const unsigned char       *text;
    size_t                     text_len;
    size_t                     ids_cap;
    unsigned                   depth;
    unsigned                   key;       /* of the member being read */
    unsigned                   skip;      /* rewrite: depth ending a skip */
    unsigned                   nomem:1;
    yajl_gen                   gen;
    const mj_span_t           *keep;
    size_t                     nkeep;
};


/*
 * What refuses a body before anything else looks at it: every byte
 * sequence must be UTF-8 as Unicode defines it (no over-long forms, no
 * surrogates, nothing above U+10FFFF) and every \u escape a whole
 * character (a surrogate pair, or no surrogate).  Returns NULL, or why not.
 */
const char *mj_json_text_check(const unsigned char *p, size_t len);

/* a top-level key's MJ_BODY_*, matched without regard to ASCII case */
unsigned mj_body_key_class(const unsigned char *key, size_t len);

/*
 * Inspect a body: 0 (the fields above are filled in), -1 when it is
 * refused (b->error says why), -2 when memory ran out.
 */
int mj_body_inspect(mj_body_t *b, const unsigned char *p, size_t len);

/*
 * Write the inspected body again without the members in b->drop and, when
 * keep is not NULL, with "ids" cut to keep[0..nkeep-1].  The text goes to
 * print in pieces.  0, or -1 on an error (memory, or print's own).
 */
int mj_body_rewrite(mj_body_t *b, const mj_span_t *keep, size_t nkeep,
    yajl_print_t print, void *ctx);

#endif /* MJ_BODY_PARSE_H */
