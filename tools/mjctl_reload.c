/*
 * mjctl_reload.c: --reload: nginx -t, then nginx -s reload, with the
 * --nginx-args (-p PREFIX -c CONF) of the nginx that serves the gateway.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mjctl.h"
#include "util.h"


#define CTL_MAX_ARGS  32


/* runs nginx with --nginx-args and "extra"; its output only on failure */
static int
ctl_nginx(const ctl_conf_t *cf, const char *extra)
{
    int      fds[2], status, n;
    char    *args, *words, *argv[CTL_MAX_ARGS + 1], *save, *w, *out;
    size_t   len;
    pid_t    pid;

    args = tl_alloc(strlen(cf->nginx_args) + strlen(extra) + 2);
    sprintf(args, "%s %s", cf->nginx_args, extra);

    n = 0;
    argv[n++] = (char *) cf->nginx;

    for (words = args; (w = strtok_r(words, " \t", &save)) != NULL;
         words = NULL)
    {
        if (n == CTL_MAX_ARGS) {
            tl_err("--nginx-args: too many words");
            free(args);
            return -1;
        }
        argv[n++] = w;
    }

    argv[n] = NULL;

    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        tl_err("cannot run %s: %s", cf->nginx, strerror(errno));
        free(args);
        return -1;
    }

    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(cf->nginx, argv);
        fprintf(stderr, "cannot run %s: %s\n", cf->nginx, strerror(errno));
        _exit(127);
    }

    close(fds[1]);

    if (tl_read_fd(fds[0], &out, &len) != 0) {
        out = tl_strdup("");
    }

    close(fds[0]);

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        /* wait on */
    }

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fputs(out, stderr);
        tl_err("%s %s failed", cf->nginx, extra);
        status = -1;

    } else {
        status = 0;
    }

    free(out);
    free(args);

    return status;
}


int
ctl_reload(const ctl_conf_t *cf)
{
    if (ctl_nginx(cf, "-t") != 0) {
        tl_err("the file is saved, but nginx was not reloaded");
        return CTL_EXIT_ERROR;
    }

    if (ctl_nginx(cf, "-s reload") != 0) {
        return CTL_EXIT_ERROR;
    }

    tl_err("nginx reloaded");

    return CTL_EXIT_OK;
}
