/*
 * util.c: messages, files, base64 and time, shared by mj and mjctl.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"


const char  *tl_prog = "mj";
int          tl_line_open;


void
tl_err(const char *fmt, ...)
{
    va_list  ap;

    if (tl_line_open) {
        fputc('\n', stderr);
        tl_line_open = 0;
    }

    fprintf(stderr, "%s: ", tl_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


void *
tl_alloc(size_t size)
{
    void  *p = calloc(1, size ? size : 1);

    if (p == NULL) {
        tl_err("out of memory");
        exit(70);
    }

    return p;
}


char *
tl_strdup(const char *s)
{
    size_t  n = strlen(s) + 1;

    return memcpy(tl_alloc(n), s, n);
}


int
tl_read_fd(int fd, char **data, size_t *len)
{
    char     *buf, *p;
    size_t    n, cap;
    ssize_t   r;

    n = 0;
    cap = 4096;
    buf = tl_alloc(cap);

    for ( ;; ) {
        if (cap - n < 2) {
            p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = p;
            cap *= 2;
        }

        r = read(fd, buf + n, cap - n - 1);

        if (r < 0 && errno == EINTR) {
            continue;
        }

        if (r < 0) {
            free(buf);
            return -1;
        }

        if (r == 0) {
            break;
        }

        n += r;
    }

    buf[n] = '\0';
    *data = buf;
    *len = n;

    return 0;
}


int
tl_read_file(const char *path, char **data, size_t *len)
{
    int  fd, rc, e;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }

    rc = tl_read_fd(fd, data, len);
    e = errno;
    close(fd);
    errno = e;

    return rc;
}


static int
tl_write_all(int fd, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            return -1;
        }

        p += n;
        len -= n;
    }

    return 0;
}


/* the folder of path, and a temp file name in it */
static void
tl_temp_name(const char *path, char **dir, char **tmp)
{
    const char  *slash, *base;
    size_t       dlen;

    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    dlen = slash ? (slash == path ? 1 : (size_t) (slash - path)) : 1;

    *dir = tl_alloc(dlen + 1);
    memcpy(*dir, slash ? path : ".", dlen);

    *tmp = tl_alloc(dlen + strlen(base) + 16);
    sprintf(*tmp, "%s/.%s.XXXXXX", *dir, base);
}


int
tl_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    int          fd, dfd, have, e;
    char        *dir, *tmp, real[PATH_MAX];
    mode_t       mask;
    struct stat  st;
    const char  *what;

    /* a link to the file stays a link: replace what it points to */
    if (realpath(path, real) != NULL) {
        path = real;
    }

    have = (stat(path, &st) == 0);

    if (!have && errno != ENOENT) {
        tl_err("%s: %s", path, strerror(errno));
        return -1;
    }

    if (!have) {
        mask = umask(0);
        umask(mask);
        mode &= ~mask;
    }

    tl_temp_name(path, &dir, &tmp);

    fd = mkstemp(tmp);
    if (fd < 0) {
        tl_err("cannot create a temp file in %s: %s", dir, strerror(errno));
        free(dir);
        free(tmp);
        return -1;
    }

    what = NULL;

    if (tl_write_all(fd, data, len) != 0) {
        what = "write";

    } else if (have && fchown(fd, st.st_uid, st.st_gid) != 0) {
        what = "keep the owner of";

    } else if (fchmod(fd, have ? st.st_mode & 07777 : mode) != 0) {
        what = "set the mode of";

    } else if (fsync(fd) != 0) {
        what = "fsync";
    }

    e = errno;

    if (close(fd) != 0 && what == NULL) {
        what = "write";
        e = errno;
    }

    if (what == NULL && rename(tmp, path) != 0) {
        what = "rename a temp file over";
        e = errno;
    }

    if (what) {
        tl_err("cannot %s %s: %s", what, path, strerror(e));
        unlink(tmp);
        free(dir);
        free(tmp);
        return -1;
    }

    /* the rename itself is durable once the folder is synced */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void) fsync(dfd);
        close(dfd);
    }

    free(dir);
    free(tmp);

    return 0;
}


char *
tl_base64(const unsigned char *in, size_t len, int url)
{
    char    *out, *p, *q;

    out = tl_alloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    if (url) {
        for (p = q = out; *p; p++) {
            if (*p == '=') {
                continue;
            }
            *q++ = (*p == '+') ? '-' : (*p == '/') ? '_' : *p;
        }
        *q = '\0';
    }

    return out;
}


double
tl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


void
tl_sleep(double seconds)
{
    struct timespec  ts;

    if (seconds <= 0) {
        return;
    }

    ts.tv_sec = (time_t) seconds;
    ts.tv_nsec = (long) ((seconds - ts.tv_sec) * 1e9);

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* go on sleeping what is left */
    }
}
