/*
 * mj_users_parse.h: the users file and upstream keys file formats.
 *
 * Plain C with no nginx dependency: the module and mjctl build the same
 * parser, so `mjctl check` and `nginx -t` can never disagree.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef MJ_USERS_PARSE_H
#define MJ_USERS_PARSE_H

#include <stddef.h>

#define MJ_DIGEST_LEN    32
#define MJ_NAME_MAX      64
#define MJ_SECRET_MAX    1024
#define MJ_ERR_MAX       256

#define MJ_KEY_BEARER    0     /* Authorization: Bearer <secret> */
#define MJ_KEY_HEADER    1     /* mj-api-secret: <secret> */


/* the task actions a user may be allowed, as bits of mj_user_rec_t.actions */
#define MJ_ACTIONS  "IMAGINE", "UPSCALE", "VARIATION", "REROLL", "PAN",       \
                    "ZOOM", "INPAINT", "BLEND", "DESCRIBE", "SHORTEN",        \
                    "SWAP_FACE", "EDIT", "VIDEO"
#define MJ_NACTIONS  13

/* the same, as an action's index + 1 (0: none) */
enum {
    MJ_ACT_NONE = 0, MJ_ACT_IMAGINE, MJ_ACT_UPSCALE, MJ_ACT_VARIATION,
    MJ_ACT_REROLL, MJ_ACT_PAN, MJ_ACT_ZOOM, MJ_ACT_INPAINT, MJ_ACT_BLEND,
    MJ_ACT_DESCRIBE, MJ_ACT_SHORTEN, MJ_ACT_SWAP_FACE, MJ_ACT_EDIT,
    MJ_ACT_VIDEO
};

#define MJ_UNSET  (-1)
#define MJ_TASKS_MAX  16                      /* the largest tasks= cap */


/*
 * A rate: "10r/s" or "30r/m", kept as requests per 1000 seconds, as
 * limit_req keeps its rates in requests per 1000 milliseconds.
 */
typedef struct {
    long           rate;                      /* MJ_UNSET: the default */
    long           burst;                     /* MJ_UNSET: the default */
} mj_limit_t;


typedef struct {
    char           name[MJ_NAME_MAX + 1];
    unsigned char  digest[MJ_DIGEST_LEN];
    char           key[MJ_NAME_MAX + 1];      /* upstream key name */
    unsigned       line;
    unsigned       disabled:1;

    /* settings; MJ_UNSET where the users file leaves the default */
    mj_limit_t     submit;                    /* rate=, burst= */
    mj_limit_t     poll;                      /* poll_rate=, poll_burst= */
    long           tasks;                     /* tasks=: unfinished cap */
    long           quota;                     /* quota=: units a UTC day */
    unsigned       actions;                   /* actions=: bits, 0: all */
} mj_user_rec_t;


typedef struct {
    char           name[MJ_NAME_MAX + 1];
    char           secret[MJ_SECRET_MAX + 1];
    size_t         secret_len;
    char           upstream[MJ_NAME_MAX + 1]; /* "" if none */
    unsigned       line;
    int            style;                     /* MJ_KEY_BEARER, ... */
} mj_ukey_rec_t;


typedef struct {
    unsigned       line;                      /* 0: not tied to a line */
    char           msg[MJ_ERR_MAX];
} mj_parse_err_t;


/*
 * Both parsers return 0 and a malloc()ed array (free() it), or -1 with
 * err filled in.  They refuse anything they do not know.
 */
int mj_users_parse(const char *text, size_t len, mj_user_rec_t **users,
    size_t *n, mj_parse_err_t *err);
int mj_ukeys_parse(const char *text, size_t len, mj_ukey_rec_t **keys,
    size_t *n, mj_parse_err_t *err);

/* every user's key name must exist among the upstream keys */
int mj_users_check_keys(const mj_user_rec_t *users, size_t nusers,
    const mj_ukey_rec_t *keys, size_t nkeys, mj_parse_err_t *err);

int mj_hex_digest(const char *hex, size_t len, unsigned char *out);

/* "10r/s", "30r/m": requests per 1000 s, or -1 */
long mj_parse_rate(const char *s, size_t len);

/* an action name's bit, or 0; its index + 1, or 0 */
unsigned mj_action_bit(const char *s, size_t len);
unsigned mj_action_index(const char *s, size_t len);

#endif /* MJ_USERS_PARSE_H */
