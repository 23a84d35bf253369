/*
 * util.h: messages, files, base64 and time, shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#ifndef TL_UTIL_H
#define TL_UTIL_H

#include <stddef.h>
#include <sys/types.h>


extern const char  *tl_prog;         /* "mj" or "mjctl", for messages */
extern int          tl_line_open;    /* a progress line waits on stderr */


/* "prog: message" on stderr, ending a progress line first */
void tl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *tl_alloc(size_t size);
char *tl_strdup(const char *s);

/* the whole file, NUL-terminated; 0, or -1 with errno */
int tl_read_file(const char *path, char **data, size_t *len);
int tl_read_fd(int fd, char **data, size_t *len);

/*
 * Replaces path with data atomically: a temp file in the same folder,
 * fsync(), rename(), fsync() of the folder.  An existing file's mode and
 * owner are kept; a new file gets "mode".  0, or -1 with a message printed.
 */
int tl_write_atomic(const char *path, const char *data, size_t len,
    mode_t mode);

/* base64 (url: base64url without padding) of len bytes, malloc()ed */
char *tl_base64(const unsigned char *in, size_t len, int url);

double tl_now(void);
void tl_sleep(double seconds);

#endif /* TL_UTIL_H */
