/*
 * mj.c: the user's command-line client for an ngx_mj gateway: options,
 * environment, and the command to run.
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj.h"
#include "util.h"


#define MJC_MAX_IMAGES  5


static const char  mjc_usage[] =
    "usage: mj [OPTIONS] COMMAND ARGS...\n"
    "\n"
    "commands:\n"
    "  imagine PROMPT           make a grid of four images (--image)\n"
    "  blend IMG1 IMG2 [...]    blend 2 to 5 image files (--dimensions)\n"
    "  describe IMG|URL         four prompts that describe an image\n"
    "  shorten PROMPT           analyse and shorten a prompt\n"
    "  action TASK LABEL        press a button of a finished task: U1..U4,\n"
    "                           V1..V4, reroll, \"Custom Zoom\", ... or a\n"
    "                           raw customId\n"
    "  modal TASK [PROMPT]      confirm a task waiting for a modal step\n"
    "  change TASK UPSCALE|VARIATION N, change TASK REROLL\n"
    "                           a grid's upscale, variation or reroll\n"
    "  simple-change TASK U1-U4|V1-V4|R\n"
    "                           the same, in the short form\n"
    "  swap FACE-IMG TARGET-IMG put the face of one image on another\n"
    "  edits PROMPT             edit an image (--image) as the prompt says\n"
    "  video [PROMPT]           a video from a prompt, an --image, or both\n"
    "  upload IMG...            upload 1 to 10 images; prints their URLs\n"
    "  fetch TASK               show a task\n"
    "  list TASK...             show several tasks\n"
    "  seed TASK                the seed of a finished task\n"
    "  cancel TASK              cancel a task not finished yet\n"
    "\n"
    "options:\n"
    "  --base-url URL     the gateway (MJ_BASE_URL), http://host:port\n"
    "  --key KEY          your API key (MJ_API_KEY, better: ps shows\n"
    "                     arguments)\n"
    "  -w, --wait         poll the task until it ends, then show it\n"
    "  --interval SEC     seconds between polls (3)\n"
    "  --wait-max SEC     give up a --wait after SEC seconds (3600)\n"
    "  -o, --output FILE  save the task's image to FILE\n"
    "  --json             print the gateway's JSON answers\n"
    "  --timeout SEC      seconds a request may take (30)\n"
    "  --retries N        retries of a request refused with 429, or of a\n"
    "                     poll that failed (5)\n"
    "  --image FILE       imagine: an image prompt (up to 5); edits,\n"
    "                     video: the image (a file or an http(s) URL)\n"
    "  --dimensions DIM   blend: PORTRAIT, SQUARE or LANDSCAPE\n"
    "  --bot BOT          MID_JOURNEY or NIJI_JOURNEY\n"
    "  --mask FILE        modal: the mask of a Vary (Region)\n"
    "  -h, --help         this help\n"
    "\n"
    "Quote a prompt with Midjourney parameters (\"a fox --ar 16:9\"), or\n"
    "put -- before it.\n"
    "\n"
    "exit codes: 0 done, 1 refused by the API or the task failed, 2 usage,\n"
    "3 no key or key refused, 4 not found, 5 too many requests (429),\n"
    "6 other HTTP error, 7 network error, 8 timeout\n";


enum {
    MJC_OPT_BASE = 256, MJC_OPT_KEY, MJC_OPT_INTERVAL, MJC_OPT_JSON,
    MJC_OPT_TIMEOUT, MJC_OPT_RETRIES, MJC_OPT_IMAGE, MJC_OPT_DIMENSIONS,
    MJC_OPT_BOT, MJC_OPT_MASK, MJC_OPT_WAIT_MAX
};


static const struct option  mjc_options[] = {
    { "base-url",   required_argument, NULL, MJC_OPT_BASE },
    { "key",        required_argument, NULL, MJC_OPT_KEY },
    { "wait",       no_argument,       NULL, 'w' },
    { "interval",   required_argument, NULL, MJC_OPT_INTERVAL },
    { "wait-max",   required_argument, NULL, MJC_OPT_WAIT_MAX },
    { "output",     required_argument, NULL, 'o' },
    { "json",       no_argument,       NULL, MJC_OPT_JSON },
    { "timeout",    required_argument, NULL, MJC_OPT_TIMEOUT },
    { "retries",    required_argument, NULL, MJC_OPT_RETRIES },
    { "image",      required_argument, NULL, MJC_OPT_IMAGE },
    { "dimensions", required_argument, NULL, MJC_OPT_DIMENSIONS },
    { "bot",        required_argument, NULL, MJC_OPT_BOT },
    { "mask",       required_argument, NULL, MJC_OPT_MASK },
    { "help",       no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


/* a number of seconds (or a count) in [min, max], or exit */
static double
mjc_number(const char *opt, const char *s, double min, double max)
{
    char    *end;
    double   v;

    v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v >= min && v <= max)) {
        tl_err("--%s: \"%s\" is not a number from %g to %g", opt, s, min,
               max);
        exit(MJ_EXIT_USAGE);
    }

    return v;
}


static const char *
mjc_env(const char *name)
{
    const char  *v = getenv(name);

    return v && *v ? v : NULL;
}


int
main(int argc, char **argv)
{
    int          c, rc;
    char        *base;
    size_t       n;
    mjc_conf_t   cf;
    const char  *images[MJC_MAX_IMAGES];

    tl_prog = "mj";

    memset(&cf, 0, sizeof(cf));
    cf.base = mjc_env("MJ_BASE_URL");
    cf.key = mjc_env("MJ_API_KEY");
    cf.timeout = 30;
    cf.interval = 3;
    cf.wait_max = 3600;
    cf.retries = 5;
    cf.images = images;

    while ((c = getopt_long(argc, argv, "wo:h", mjc_options, NULL)) != -1) {
        switch (c) {
        case MJC_OPT_BASE:
            cf.base = optarg;
            break;
        case MJC_OPT_KEY:
            cf.key = optarg;
            break;
        case 'w':
            cf.wait = 1;
            break;
        case MJC_OPT_INTERVAL:
            cf.interval = mjc_number("interval", optarg, 0.01, 3600);
            break;
        case MJC_OPT_WAIT_MAX:
            cf.wait_max = mjc_number("wait-max", optarg, 0.1, 7 * 86400);
            break;
        case 'o':
            cf.output = optarg;
            break;
        case MJC_OPT_JSON:
            cf.json = 1;
            break;
        case MJC_OPT_TIMEOUT:
            cf.timeout = mjc_number("timeout", optarg, 0.1, 86400);
            break;
        case MJC_OPT_RETRIES:
            cf.retries = (int) mjc_number("retries", optarg, 0, 100);
            break;
        case MJC_OPT_IMAGE:
            if (cf.nimages == MJC_MAX_IMAGES) {
                tl_err("--image: %d images at most", MJC_MAX_IMAGES);
                return MJ_EXIT_USAGE;
            }
            images[cf.nimages++] = optarg;
            break;
        case MJC_OPT_DIMENSIONS:
            cf.dimensions = optarg;
            break;
        case MJC_OPT_BOT:
            cf.bot = optarg;
            break;
        case MJC_OPT_MASK:
            cf.mask = optarg;
            break;
        case 'h':
            fputs(mjc_usage, stdout);
            return MJ_EXIT_OK;
        default:
            fputs(mjc_usage, stderr);
            return MJ_EXIT_USAGE;
        }
    }

    if (optind == argc) {
        fputs(mjc_usage, stderr);
        return MJ_EXIT_USAGE;
    }

    if (cf.base == NULL) {
        tl_err("no gateway: set MJ_BASE_URL or use --base-url");
        return MJ_EXIT_USAGE;
    }

    if (cf.key == NULL) {
        tl_err("no API key: set MJ_API_KEY or use --key");
        return MJ_EXIT_AUTH;
    }

    /* paths start with "/mj/": drop the base URL's trailing slashes */
    base = tl_strdup(cf.base);
    for (n = strlen(base); n > 0 && base[n - 1] == '/'; n--) {
        base[n - 1] = '\0';
    }
    cf.base = base;

    tl_http_init();

    rc = mjc_command(&cf, argv[optind], argc - optind - 1, argv + optind + 1);

    free(base);

    return rc;
}
