/*
 * mjctl_users.c: the users file (read under a lock, a line changed, written
 * atomically) and the upstream keys file, both checked by the module's own
 * parser (ngx_mj_module/mj_users_parse.c); users' keys and their hashes.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mjctl.h"
#include "util.h"


static const char  *ctl_action_names[] = { MJ_ACTIONS };


void
ctl_parse_error(const char *path, const mj_parse_err_t *err)
{
    if (err->line) {
        fprintf(stderr, "%s:%u: %s\n", path, err->line, err->msg);

    } else {
        fprintf(stderr, "%s: %s\n", path, err->msg);
    }
}


/* opens path and locks it; retries if it was replaced meanwhile */
static int
ctl_lock(const char *path, int create)
{
    int          fd;
    struct stat  a, b;

    for ( ;; ) {
        fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
        if (fd < 0) {
            return -1;
        }

        if (flock(fd, LOCK_EX) != 0 || fstat(fd, &a) != 0) {
            close(fd);
            return -1;
        }

        if (stat(path, &b) == 0 && a.st_dev == b.st_dev
            && a.st_ino == b.st_ino)
        {
            return fd;
        }

        close(fd);
    }
}


int
ctl_users_load(ctl_users_t *uf, const char *path, int lock, int create)
{
    mj_parse_err_t  err;

    memset(uf, 0, sizeof(*uf));
    uf->path = path;

    uf->fd = lock ? ctl_lock(path, create)
                  : open(path, O_RDONLY | O_CLOEXEC);

    if (uf->fd < 0 || tl_read_fd(uf->fd, &uf->text, &uf->len) != 0) {
        tl_err("%s: %s", path, strerror(errno));
        ctl_users_free(uf);
        return -1;
    }

    if (mj_users_parse(uf->text, uf->len, &uf->users, &uf->n, &err) != 0) {
        ctl_parse_error(path, &err);
        ctl_users_free(uf);
        return -1;
    }

    return 0;
}


void
ctl_users_free(ctl_users_t *uf)
{
    if (uf->fd >= 0) {
        close(uf->fd);
    }

    free(uf->text);
    free(uf->users);
    memset(uf, 0, sizeof(*uf));
    uf->fd = -1;
}


mj_user_rec_t *
ctl_users_find(const ctl_users_t *uf, const char *name)
{
    size_t  i;

    for (i = 0; i < uf->n; i++) {
        if (strcmp(uf->users[i].name, name) == 0) {
            return &uf->users[i];
        }
    }

    return NULL;
}


/* where line "line" (1-based) starts, and where its "\n" is */
static void
ctl_line(const ctl_users_t *uf, unsigned line, size_t *start, size_t *end)
{
    const char  *p, *nl;
    unsigned     n;

    p = uf->text;

    for (n = 1; n < line; n++) {
        nl = memchr(p, '\n', uf->text + uf->len - p);
        p = nl ? nl + 1 : uf->text + uf->len;
    }

    nl = memchr(p, '\n', uf->text + uf->len - p);

    *start = p - uf->text;
    *end = (nl ? nl : uf->text + uf->len) - uf->text;
}


/*
 * Replaces line "line" with "text" (line 0: appends it; text NULL: removes
 * the line), checks the result with the module's parser, and writes it.
 */
int
ctl_users_put(ctl_users_t *uf, unsigned line, const char *text)
{
    int              rc;
    char            *out, *p;
    size_t           start, end, n, tlen;
    mj_user_rec_t   *users;
    mj_parse_err_t   err;

    tlen = text ? strlen(text) : 0;

    if (line == 0) {
        start = end = uf->len;

    } else {
        ctl_line(uf, line, &start, &end);

        if (text == NULL && end < uf->len) {
            end++;
        }
    }

    out = tl_alloc(uf->len + tlen + 3);
    memcpy(out, uf->text, start);
    p = out + start;

    /* a line appended to a file that does not end with "\n" */
    if (line == 0 && start && out[start - 1] != '\n') {
        *p++ = '\n';
    }

    memcpy(p, text ? text : "", tlen);
    p += tlen;

    if (line == 0) {
        *p++ = '\n';
    }

    memcpy(p, uf->text + end, uf->len - end);
    p += uf->len - end;

    if (mj_users_parse(out, p - out, &users, &n, &err) != 0) {
        tl_err("the changed file would not load, left unchanged:");
        ctl_parse_error(uf->path, &err);
        free(out);
        return -1;
    }

    free(users);

    rc = tl_write_atomic(uf->path, out, p - out, 0644);
    free(out);

    return rc;
}


int
ctl_keys_load(const char *path, mj_ukey_rec_t **keys, size_t *n)
{
    int             rc;
    char           *text;
    size_t          len;
    mj_parse_err_t  err;

    if (tl_read_file(path, &text, &len) != 0) {
        tl_err("%s: %s", path, strerror(errno));
        return -1;
    }

    rc = mj_ukeys_parse(text, len, keys, n, &err);

    if (rc != 0) {
        ctl_parse_error(path, &err);
    }

    OPENSSL_cleanse(text, len);
    free(text);

    return rc;
}


void
ctl_keys_free(mj_ukey_rec_t *keys, size_t n)
{
    if (keys) {
        OPENSSL_cleanse(keys, n * sizeof(mj_ukey_rec_t));
        free(keys);
    }
}


static void
ctl_hex(const unsigned char *d, size_t n, char *hex)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(hex + 2 * i, "%02x", d[i]);
    }
}


/* a rate as the users file writes it; the parser keeps r/1000 s */
static int
ctl_rate(char *buf, size_t size, const char *name, long rate)
{
    if (rate % 1000 == 0) {
        return snprintf(buf, size, " %s=%ldr/s", name, rate / 1000);
    }

    return snprintf(buf, size, " %s=%ldr/m", name, (rate * 60 + 500) / 1000);
}


/* the settings of a user, as " rate=10r/m burst=5 ..."; "" for none */
void
ctl_user_settings(const mj_user_rec_t *u, char *buf, size_t size)
{
    unsigned     i;
    size_t       n = 0;
    const char  *sep;

#define ctl_put(...)                                                          \
    n += snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__)

#define ctl_num(name, v)                                                      \
    if ((v) != MJ_UNSET) {                                                    \
        ctl_put(" %s=%ld", name, (long) (v));                                 \
    }

    buf[0] = '\0';

    if (u->submit.rate != MJ_UNSET) {
        n += ctl_rate(buf + n, n < size ? size - n : 0, "rate",
                      u->submit.rate);
    }

    ctl_num("burst", u->submit.burst);

    if (u->poll.rate != MJ_UNSET) {
        n += ctl_rate(buf + n, n < size ? size - n : 0, "poll_rate",
                      u->poll.rate);
    }

    ctl_num("poll_burst", u->poll.burst);
    ctl_num("tasks", u->tasks);
    ctl_num("quota", u->quota);

    sep = " actions=";

    for (i = 0; i < MJ_NACTIONS; i++) {
        if (u->actions & (1u << i)) {
            ctl_put("%s%s", sep, ctl_action_names[i]);
            sep = ",";
        }
    }

    if (u->disabled) {
        ctl_put(" disabled");
    }

#undef ctl_num
#undef ctl_put
}


/*
 * A user's line of the users file, malloc()ed: name, key hash, upstream
 * key, settings, and the comment the line had in uf (or NULL), if any.
 */
char *
ctl_user_line(const mj_user_rec_t *u, const ctl_users_t *uf)
{
    char         hex[2 * MJ_DIGEST_LEN + 1], set[512], *line;
    size_t       start, end;
    const char  *comment;
    int          clen;

    ctl_hex(u->digest, MJ_DIGEST_LEN, hex);
    ctl_user_settings(u, set, sizeof(set));

    comment = NULL;
    clen = 0;

    if (uf && u->line) {
        ctl_line(uf, u->line, &start, &end);
        comment = memchr(uf->text + start, '#', end - start);
        clen = comment ? (int) (uf->text + end - comment) : 0;
    }

    line = tl_alloc(strlen(u->name) + strlen(u->key) + sizeof(hex)
                    + strlen(set) + clen + 8);
    sprintf(line, "%s %s %s%s%s%.*s", u->name, hex, u->key, set,
            clen ? "  " : "", clen, comment ? comment : "");

    return line;
}


/* a new key, "mj-" and 43 base64url chars, and the hex of its SHA-256 */
void
ctl_key_new(char *key, size_t size, char *hex)
{
    unsigned char  rnd[CTL_KEY_BYTES], md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;
    size_t         got;
    ssize_t        n;
    char          *b64;

    for (got = 0; got < sizeof(rnd); got += n) {
        n = getrandom(rnd + got, sizeof(rnd) - got, 0);

        if (n < 0 && errno == EINTR) {
            n = 0;

        } else if (n < 0) {
            tl_err("getrandom: %s", strerror(errno));
            exit(CTL_EXIT_ERROR);
        }
    }

    b64 = tl_base64(rnd, sizeof(rnd), 1);
    snprintf(key, size, "mj-%s", b64);

    if (EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) != 1) {
        tl_err("SHA-256 failed");
        exit(CTL_EXIT_ERROR);
    }

    ctl_hex(md, mdlen, hex);

    OPENSSL_cleanse(rnd, sizeof(rnd));
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
}
