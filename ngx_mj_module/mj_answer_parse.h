/*
 * mj_answer_parse.h: what the gateway reads of the upstream's answers.
 *
 * The top-level "code", "result", "id" and "status" of an object, or of
 * each object of an array with each object's byte span.  Plain C on yajl,
 * shared by the module and its fuzzers; an answer is read whole, in one
 * call (the gateway holds every answer before it goes on).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_ANSWER_PARSE_H
#define MJ_ANSWER_PARSE_H

#include <stddef.h>

#include <yajl/yajl_parse.h>

#include "mj_json.h"


#define MJ_ANSWER_NO_CODE   (-1)
#define MJ_ANSWER_BAD_CODE  (-2)     /* "code" is not a plain integer */


typedef struct {
    long                       code;      /* or MJ_ANSWER_*_CODE */
    mj_span_t                  result;
    mj_span_t                  id;
    mj_span_t                  status;
    size_t                     start;     /* the object's span, in an array */
    size_t                     end;
} mj_answer_obj_t;


typedef struct {
    /* set by the caller */
    yajl_alloc_funcs          *alloc;     /* what is read; NULL: libc */
    yajl_alloc_funcs          *parser;    /* yajl's own while it parses,
                                             all freed before it returns;
                                             NULL: alloc */
    unsigned                   array:1;   /* a list of task objects */
    unsigned                   stop:1;    /* done once "status" is known */
    unsigned                   quick:1;   /* an object: read it without
                                             yajl when it is plain text */

    /* what was read */
    mj_answer_obj_t            cur;       /* the object; in an array, the
                                             one being read */
    mj_answer_obj_t           *objs;      /* an array's objects */
    size_t                     nobjs;

    /* private */
    yajl_handle                h;
    const unsigned char       *text;
    size_t                     text_len;
    size_t                     cap;
    size_t                     copied;
    unsigned                   depth;
    unsigned                   field;
    unsigned                   bad:1;
    unsigned                   done:1;
    unsigned                   nomem:1;
} mj_answer_t;


/*
 * Read an answer: 0 (with stop, once "status" is read), -1 when it is not
 * the JSON the contract describes (not JSON, or not an object, or not an
 * array of objects), -2 when memory ran out.
 */
int mj_answer_scan(mj_answer_t *a, const unsigned char *p, size_t len);

#endif /* MJ_ANSWER_PARSE_H */
