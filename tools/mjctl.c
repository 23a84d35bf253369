/*
 * mjctl.c: the operator's tool for an ngx_mj gateway: options and the
 * command to run.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mjctl.h"
#include "util.h"


static const char  ctl_usage[] =
    "usage: mjctl [OPTIONS] COMMAND\n"
    "\n"
    "commands:\n"
    "  user add NAME       a new user; prints the user's key, once\n"
    "  user revoke NAME    removes the user\n"
    "  user rotate NAME    a new key for the user; prints it, once\n"
    "  user disable NAME   refuses the user's key, keeps the user's tasks\n"
    "  user enable NAME    accepts it again\n"
    "  user list           users, upstream keys and settings\n"
    "  check               checks the users and upstream keys files\n"
    "  status              the gateway's counters (--url)\n"
    "\n"
    "options:\n"
    "  --users FILE        the users file (/etc/nginx/mj/users)\n"
    "  --keys FILE         the upstream keys file\n"
    "                      (/etc/nginx/mj/upstream-keys)\n"
    "  --reload            after a change: nginx -t, then nginx -s reload\n"
    "  --nginx PATH        nginx for --reload (/usr/sbin/nginx)\n"
    "  --nginx-args ARGS   passed to it, e.g. \"-p PREFIX -c CONF\"\n"
    "  --url URL           status: http://127.0.0.1/mj-status\n"
    "  --timeout SEC       status: seconds the request may take (10)\n"
    "  --json              status: the answer as it is\n"
    "  -h, --help          this help\n"
    "\n"
    "user add settings (see docs/directives.md):\n"
    "  --upstream NAME     the user's upstream key (default: the only one)\n"
    "  --rate RATE         submits, e.g. 10r/m      --burst N\n"
    "  --poll-rate RATE    reads, e.g. 2r/s         --poll-burst N\n"
    "  --tasks N           unfinished tasks at most\n"
    "  --quota N           units a UTC day\n"
    "  --actions LIST      allowed actions, e.g. IMAGINE,UPSCALE\n"
    "  --disabled          added disabled\n"
    "\n"
    "exit codes: 0 done, 1 failed (the message says why), 2 usage\n";


/* CTL_OPT_RATE to CTL_OPT_DISABLED in the order of ctl_settings[] */
enum {
    CTL_OPT_USERS = 256, CTL_OPT_KEYS, CTL_OPT_UPSTREAM, CTL_OPT_RATE,
    CTL_OPT_BURST, CTL_OPT_POLL_RATE, CTL_OPT_POLL_BURST, CTL_OPT_TASKS,
    CTL_OPT_QUOTA, CTL_OPT_ACTIONS, CTL_OPT_DISABLED, CTL_OPT_RELOAD,
    CTL_OPT_NGINX, CTL_OPT_NGINX_ARGS, CTL_OPT_URL, CTL_OPT_TIMEOUT,
    CTL_OPT_JSON
};


static const struct option  ctl_options[] = {
    { "users",      required_argument, NULL, CTL_OPT_USERS },
    { "keys",       required_argument, NULL, CTL_OPT_KEYS },
    { "upstream",   required_argument, NULL, CTL_OPT_UPSTREAM },
    { "rate",       required_argument, NULL, CTL_OPT_RATE },
    { "burst",      required_argument, NULL, CTL_OPT_BURST },
    { "poll-rate",  required_argument, NULL, CTL_OPT_POLL_RATE },
    { "poll-burst", required_argument, NULL, CTL_OPT_POLL_BURST },
    { "tasks",      required_argument, NULL, CTL_OPT_TASKS },
    { "quota",      required_argument, NULL, CTL_OPT_QUOTA },
    { "actions",    required_argument, NULL, CTL_OPT_ACTIONS },
    { "disabled",   no_argument,       NULL, CTL_OPT_DISABLED },
    { "reload",     no_argument,       NULL, CTL_OPT_RELOAD },
    { "nginx",      required_argument, NULL, CTL_OPT_NGINX },
    { "nginx-args", required_argument, NULL, CTL_OPT_NGINX_ARGS },
    { "url",        required_argument, NULL, CTL_OPT_URL },
    { "timeout",    required_argument, NULL, CTL_OPT_TIMEOUT },
    { "json",       no_argument,       NULL, CTL_OPT_JSON },
    { "help",       no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


/* the users file's names of the settings options, CTL_OPT_RATE on */
static const char  *ctl_settings[] = {
    "rate", "burst", "poll_rate", "poll_burst", "tasks", "quota", "actions",
    "disabled"
};


/* a user setting as the users file spells it: "rate=10r/m", "disabled" */
static void
ctl_setting(ctl_conf_t *cf, const char *name, const char *value)
{
    char  *s, *p;

    if (cf->nsettings == CTL_MAX_SETTINGS) {
        tl_err("too many settings");
        exit(CTL_EXIT_USAGE);
    }

    s = tl_alloc(strlen(name) + (value ? strlen(value) : 0) + 2);
    sprintf(s, value ? "%s=%s" : "%s", name, value);

    /* action names are upper case */
    if (strcmp(name, "actions") == 0) {
        for (p = s; *p; p++) {
            *p = toupper((unsigned char) *p);
        }
        memcpy(s, "actions", 7);
    }

    cf->settings[cf->nsettings++] = s;
}


int
main(int argc, char **argv)
{
    int          c, rc;
    char        *end, **words;
    size_t       i;
    ctl_conf_t   cf;

    tl_prog = "mjctl";

    memset(&cf, 0, sizeof(cf));
    cf.users = "/etc/nginx/mj/users";
    cf.keys = "/etc/nginx/mj/upstream-keys";
    cf.nginx = "/usr/sbin/nginx";
    cf.nginx_args = "";
    cf.url = "http://127.0.0.1/mj-status";
    cf.timeout = 10;

    while ((c = getopt_long(argc, argv, "h", ctl_options, NULL)) != -1) {

        if (c >= CTL_OPT_RATE && c <= CTL_OPT_DISABLED) {
            ctl_setting(&cf, ctl_settings[c - CTL_OPT_RATE],
                        c == CTL_OPT_DISABLED ? NULL : optarg);
            continue;
        }

        switch (c) {
        case CTL_OPT_USERS:
            cf.users = optarg;
            break;
        case CTL_OPT_KEYS:
            cf.keys = optarg;
            break;
        case CTL_OPT_UPSTREAM:
            cf.upstream = optarg;
            break;
        case CTL_OPT_RELOAD:
            cf.reload = 1;
            break;
        case CTL_OPT_NGINX:
            cf.nginx = optarg;
            break;
        case CTL_OPT_NGINX_ARGS:
            cf.nginx_args = optarg;
            break;
        case CTL_OPT_URL:
            cf.url = optarg;
            break;
        case CTL_OPT_TIMEOUT:
            cf.timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(cf.timeout > 0)) {
                tl_err("--timeout: \"%s\" is not a number of seconds",
                       optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case CTL_OPT_JSON:
            cf.json = 1;
            break;
        case 'h':
            fputs(ctl_usage, stdout);
            return CTL_EXIT_OK;
        default:
            fputs(ctl_usage, stderr);
            return CTL_EXIT_USAGE;
        }
    }

    words = argv + optind;
    c = argc - optind;

    if (c >= 2 && strcmp(words[0], "user") == 0) {
        rc = ctl_user(&cf, words[1], c - 2, words + 2);

    } else if (c == 1 && strcmp(words[0], "check") == 0) {
        rc = ctl_check(&cf);

    } else if (c == 1 && strcmp(words[0], "status") == 0) {
        rc = ctl_status(&cf);

    } else {
        fputs(ctl_usage, stderr);
        rc = CTL_EXIT_USAGE;
    }

    for (i = 0; i < cf.nsettings; i++) {
        free(cf.settings[i]);
    }

    return rc;
}
