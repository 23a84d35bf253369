/*
 * mj_cmd.c: mj's commands: the submits (imagine, blend, describe, shorten,
 * action, modal, change, simple-change, swap, edits, video), upload, and
 * the task endpoints (fetch, list, seed, cancel).
 *
 * Copyright (C) 2026 the ngx_mj authors; BSD-2-Clause, see LICENSE.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mj.h"
#include "table.h"
#include "util.h"


typedef int (*mjc_cmd_pt)(const mjc_conf_t *cf, int argc, char **argv);


/* the words of a prompt, joined by spaces */
static char *
mjc_join(int argc, char **argv)
{
    int      i;
    size_t   n = 1;
    char    *s;

    for (i = 0; i < argc; i++) {
        n += strlen(argv[i]) + 1;
    }

    s = tl_alloc(n);

    for (i = 0; i < argc; i++) {
        strcat(s, i ? " " : "");
        strcat(s, argv[i]);
    }

    return s;
}


static const char *
mjc_image_type(const unsigned char *p, size_t n)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return "image/png";
    }

    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) {
        return "image/jpeg";
    }

    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
    {
        return "image/gif";
    }

    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
        return "image/webp";
    }

    return NULL;
}


/* an image file as a data URL, or NULL with a message */
static char *
mjc_data_url(const char *file)
{
    char        *data, *b64, *url;
    size_t       len;
    const char  *type;

    if (tl_read_file(file, &data, &len) != 0) {
        tl_err("%s: %s", file, strerror(errno));
        return NULL;
    }

    type = mjc_image_type((unsigned char *) data, len);
    if (type == NULL) {
        tl_err("%s: not a PNG, JPEG, GIF or WebP image", file);
        free(data);
        return NULL;
    }

    b64 = tl_base64((unsigned char *) data, len, 0);
    url = tl_alloc(strlen(b64) + 64);
    sprintf(url, "data:%s;base64,%s", type, b64);

    free(data);
    free(b64);

    return url;
}


static int
mjc_is_link(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}


/* an image named by the user: an http(s) URL as it is, a file as a data URL */
static char *
mjc_image_arg(const char *arg)
{
    return mjc_is_link(arg) ? tl_strdup(arg) : mjc_data_url(arg);
}


/* data URLs of files; NULL with a message if one cannot be read */
static char **
mjc_data_urls(const char *const *files, size_t n)
{
    size_t   i;
    char   **urls;

    urls = tl_alloc((n + 1) * sizeof(char *));

    for (i = 0; i < n; i++) {
        urls[i] = mjc_data_url(files[i]);

        if (urls[i] == NULL) {
            while (i--) {
                free(urls[i]);
            }
            free(urls);
            return NULL;
        }
    }

    return urls;
}


static void
mjc_free_list(char **list, size_t n)
{
    size_t  i;

    for (i = 0; list && i < n; i++) {
        free(list[i]);
    }

    free(list);
}


/*
 * POSTs the fields as a JSON object to path; with --json prints the answer.
 * The caller judges the answer's code, and frees the answer.
 */
static int
mjc_post(const mjc_conf_t *cf, const char *path, const char *what,
    const tl_jfield_t *f, size_t n, mjc_answer_t *a, long long *code)
{
    int     rc;
    char   *body;
    size_t  len;

    memset(a, 0, sizeof(mjc_answer_t));

    body = tl_json_object(f, n, &len);
    if (body == NULL) {
        return MJ_EXIT_FAILED;
    }

    rc = mjc_call(cf, "POST", path, body, len, 0, what, a);
    free(body);

    if (rc != MJ_EXIT_OK) {
        return rc;
    }

    if (cf->json) {
        mjc_print_raw(a);
    }

    *code = -1;
    tl_jnum(a->json, "code", NULL, code);

    return MJ_EXIT_OK;
}


/* POST /mj/submit/<name>; prints the new task id, or waits for it */
static int
mjc_submit(const mjc_conf_t *cf, const char *name, const tl_jfield_t *f,
    size_t n)
{
    int           rc;
    char          path[64], *id;
    long long     code, queue;
    const char   *result;
    mjc_answer_t  a;

    /* face swap is the one submit outside /mj/submit/ */
    snprintf(path, sizeof(path), "/mj/%s/%s",
             strcmp(name, "swap") == 0 ? "insight-face" : "submit", name);

    rc = mjc_post(cf, path, name, f, n, &a, &code);

    if (rc != MJ_EXIT_OK) {
        mjc_answer_free(&a);
        return rc;
    }

    result = tl_jstr(a.json, "result", NULL);

    if ((code != 1 && code != 21 && code != 22)
        || result == NULL || !mjc_task_id_ok(result))
    {
        rc = mjc_code_error(&a, name);
        mjc_answer_free(&a);
        return rc;
    }

    id = tl_strdup(result);

    if (code == 22) {
        queue = 0;
        tl_jnum(a.json, "properties", "numberOfQueues", &queue);
        tl_err("task %s is queued (position %lld)", id, queue);
    }

    if (code == 21) {
        tl_err("task %s needs a modal step: mj modal %s [PROMPT]", id, id);
    }

    mjc_answer_free(&a);

    if (cf->wait && code != 21) {
        rc = mjc_wait(cf, id);

    } else if (!cf->json) {
        printf("%s\n", id);
    }

    free(id);

    return rc;
}


static int
mjc_imagine(const mjc_conf_t *cf, int argc, char **argv)
{
    int          rc;
    char        *prompt, **urls;
    tl_jfield_t  f[3];

    urls = mjc_data_urls(cf->images, cf->nimages);
    if (urls == NULL) {
        return MJ_EXIT_USAGE;
    }

    prompt = mjc_join(argc, argv);

    memset(f, 0, sizeof(f));
    f[0].name = "prompt";
    f[0].value = prompt;
    f[1].name = "base64Array";
    f[1].values = cf->nimages ? (const char *const *) urls : NULL;
    f[1].nvalues = cf->nimages;
    f[2].name = "botType";
    f[2].value = cf->bot;

    rc = mjc_submit(cf, "imagine", f, 3);

    free(prompt);
    mjc_free_list(urls, cf->nimages);

    return rc;
}


/*
 * a submit whose first fields are the command's image files as data URLs:
 * all in f[0], an array, when the caller set its nvalues (blend), else one
 * a field (swap)
 */
static int
mjc_submit_files(const mjc_conf_t *cf, const char *name, int argc,
    char **argv, tl_jfield_t *f, size_t n)
{
    int     rc, i;
    char  **urls;

    urls = mjc_data_urls((const char *const *) argv, argc);
    if (urls == NULL) {
        return MJ_EXIT_USAGE;
    }

    if (f[0].nvalues) {
        f[0].values = (const char *const *) urls;

    } else {
        for (i = 0; i < argc; i++) {
            f[i].value = urls[i];
        }
    }

    rc = mjc_submit(cf, name, f, n);

    mjc_free_list(urls, argc);

    return rc;
}


static int
mjc_blend(const mjc_conf_t *cf, int argc, char **argv)
{
    tl_jfield_t  f[3];

    memset(f, 0, sizeof(f));
    f[0].name = "base64Array";
    f[0].nvalues = argc;
    f[1].name = "dimensions";
    f[1].value = cf->dimensions;
    f[2].name = "botType";
    f[2].value = cf->bot;

    return mjc_submit_files(cf, "blend", argc, argv, f, 3);
}


/* a submit of one text field and botType */
static int
mjc_submit_text(const mjc_conf_t *cf, const char *name, const char *field,
    const char *value)
{
    tl_jfield_t  f[2];

    memset(f, 0, sizeof(f));
    f[0].name = field;
    f[0].value = value;
    f[1].name = "botType";
    f[1].value = cf->bot;

    return mjc_submit(cf, name, f, 2);
}


static int
mjc_describe(const mjc_conf_t *cf, int argc, char **argv)
{
    int    rc;
    char  *url;

    (void) argc;

    url = mjc_image_arg(argv[0]);
    if (url == NULL) {
        return MJ_EXIT_USAGE;
    }

    rc = mjc_submit_text(cf, "describe",
                         mjc_is_link(argv[0]) ? "link" : "base64", url);

    free(url);

    return rc;
}


static int
mjc_shorten(const mjc_conf_t *cf, int argc, char **argv)
{
    int    rc;
    char  *prompt;

    prompt = mjc_join(argc, argv);
    rc = mjc_submit_text(cf, "shorten", "prompt", prompt);
    free(prompt);

    return rc;
}


/* a button of the task, by name ("U1") or customId, as a customId */
static int
mjc_custom_id(const mjc_conf_t *cf, const char *task, const char *name,
    char **cid)
{
    int           rc;
    char          path[128], what[96], *list;
    const char   *found;
    mjc_answer_t  a;

    /* a raw customId: the upstream checks it against the task's buttons */
    if (strstr(name, "::")) {
        *cid = tl_strdup(name);
        return MJ_EXIT_OK;
    }

    snprintf(path, sizeof(path), "/mj/task/%s/fetch", task);
    snprintf(what, sizeof(what), "task %s", task);

    rc = mjc_call(cf, "GET", path, NULL, 0, 0, what, &a);

    if (rc == MJ_EXIT_OK && tl_jstr(a.json, "status", NULL) == NULL) {
        rc = mjc_code_error(&a, what);
    }

    if (rc != MJ_EXIT_OK) {
        mjc_answer_free(&a);
        return rc;
    }

    found = mjc_button_find(a.json, name);

    if (found) {
        *cid = tl_strdup(found);

    } else {
        list = mjc_button_list(a.json);

        if (*list) {
            tl_err("task %s has no button \"%s\"; its buttons: %s",
                   task, name, list);
            rc = MJ_EXIT_USAGE;

        } else {
            tl_err("task %s has no buttons (status %s)", task,
                   tl_jstr(a.json, "status", NULL));
            rc = MJ_EXIT_FAILED;
        }

        free(list);
    }

    mjc_answer_free(&a);

    return rc;
}


static int
mjc_action(const mjc_conf_t *cf, int argc, char **argv)
{
    int          rc;
    char        *cid;
    tl_jfield_t  f[2];

    (void) argc;

    rc = mjc_custom_id(cf, argv[0], argv[1], &cid);
    if (rc != MJ_EXIT_OK) {
        return rc;
    }

    memset(f, 0, sizeof(f));
    f[0].name = "taskId";
    f[0].value = argv[0];
    f[1].name = "customId";
    f[1].value = cid;

    rc = mjc_submit(cf, "action", f, 2);

    free(cid);

    return rc;
}


static int
mjc_modal(const mjc_conf_t *cf, int argc, char **argv)
{
    int          rc;
    char        *prompt, *mask;
    tl_jfield_t  f[3];

    mask = NULL;

    if (cf->mask) {
        mask = mjc_data_url(cf->mask);
        if (mask == NULL) {
            return MJ_EXIT_USAGE;
        }
    }

    prompt = argc > 1 ? mjc_join(argc - 1, argv + 1) : NULL;

    memset(f, 0, sizeof(f));
    f[0].name = "taskId";
    f[0].value = argv[0];
    f[1].name = "prompt";
    f[1].value = prompt;
    f[2].name = "maskBase64";
    f[2].value = mask;

    rc = mjc_submit(cf, "modal", f, 3);

    free(prompt);
    free(mask);

    return rc;
}


/* "UPSCALE" 1..4, "VARIATION" 1..4 or "REROLL": the changes of a grid */
static int
mjc_change(const mjc_conf_t *cf, int argc, char **argv)
{
    size_t       i;
    tl_jfield_t  f[3];
    char         action[16];

    snprintf(action, sizeof(action), "%s", argv[1]);

    for (i = 0; action[i]; i++) {
        action[i] = toupper((unsigned char) action[i]);
    }

    if (strcmp(action, "UPSCALE") != 0 && strcmp(action, "VARIATION") != 0
        && strcmp(action, "REROLL") != 0)
    {
        tl_err("change: \"%s\" is not UPSCALE, VARIATION or REROLL", argv[1]);
        return MJ_EXIT_USAGE;
    }

    /* the upstream wants the index as a number, and none for a reroll */
    if ((strcmp(action, "REROLL") == 0) != (argc == 2)
        || (argc == 3 && !(argv[2][0] >= '1' && argv[2][0] <= '4'
                           && argv[2][1] == '\0')))
    {
        tl_err("usage: mj change TASK UPSCALE|VARIATION 1-4, "
               "or mj change TASK REROLL");
        return MJ_EXIT_USAGE;
    }

    memset(f, 0, sizeof(f));
    f[0].name = "taskId";
    f[0].value = argv[0];
    f[1].name = "action";
    f[1].value = action;
    f[2].name = "index";
    f[2].value = argc == 3 ? argv[2] : NULL;
    f[2].number = 1;

    return mjc_submit(cf, "change", f, 3);
}


/* "U1".."U4", "V1".."V4" or "R" in any case: sent as "<taskId> U2" */
static int
mjc_simple_change(const mjc_conf_t *cf, int argc, char **argv)
{
    int          ok;
    char         content[96];
    const char  *w = argv[1];
    tl_jfield_t  f[1];

    (void) argc;

    ok = (w[0] && strchr("UuVv", w[0]) && w[1] >= '1' && w[1] <= '4'
          && w[2] == '\0')
         || ((w[0] == 'R' || w[0] == 'r') && w[1] == '\0');

    if (!ok) {
        tl_err("simple-change: \"%s\" is not U1-U4, V1-V4 or R", w);
        return MJ_EXIT_USAGE;
    }

    snprintf(content, sizeof(content), "%s %s", argv[0], w);

    memset(f, 0, sizeof(f));
    f[0].name = "content";
    f[0].value = content;

    return mjc_submit(cf, "simple-change", f, 1);
}


static int
mjc_swap(const mjc_conf_t *cf, int argc, char **argv)
{
    tl_jfield_t  f[2];

    memset(f, 0, sizeof(f));
    f[0].name = "sourceBase64";
    f[1].name = "targetBase64";

    return mjc_submit_files(cf, "swap", argc, argv, f, 2);
}


/* edits and video: a prompt, and one --image, a file or a URL */
static int
mjc_prompt_image(const mjc_conf_t *cf, const char *name, int argc,
    char **argv)
{
    int          rc;
    char        *prompt, *image;
    tl_jfield_t  f[3];

    if (cf->nimages > 1) {
        tl_err("%s: one --image at most", name);
        return MJ_EXIT_USAGE;
    }

    image = NULL;

    if (cf->nimages) {
        image = mjc_image_arg(cf->images[0]);
        if (image == NULL) {
            return MJ_EXIT_USAGE;
        }
    }

    prompt = argc ? mjc_join(argc, argv) : NULL;

    memset(f, 0, sizeof(f));
    f[0].name = "prompt";
    f[0].value = prompt;
    f[1].name = "image";
    f[1].value = image;
    f[2].name = "botType";
    f[2].value = cf->bot;

    rc = mjc_submit(cf, name, f, 3);

    free(prompt);
    free(image);

    return rc;
}


static int
mjc_edits(const mjc_conf_t *cf, int argc, char **argv)
{
    return mjc_prompt_image(cf, "edits", argc, argv);
}


static int
mjc_video(const mjc_conf_t *cf, int argc, char **argv)
{
    if (argc == 0 && cf->nimages == 0) {
        tl_err("video: give a prompt, an --image, or both");
        return MJ_EXIT_USAGE;
    }

    return mjc_prompt_image(cf, "video", argc, argv);
}


/* upload-discord-images: the URLs the images are served at, one a line */
static int
mjc_upload(const mjc_conf_t *cf, int argc, char **argv)
{
    int           rc;
    char        **urls;
    size_t        i;
    yajl_val      res;
    long long     code;
    tl_jfield_t   f;
    mjc_answer_t  a;
    const char   *path[] = { "result", NULL };

    urls = mjc_data_urls((const char *const *) argv, argc);
    if (urls == NULL) {
        return MJ_EXIT_USAGE;
    }

    memset(&f, 0, sizeof(f));
    f.name = "base64Array";
    f.values = (const char *const *) urls;
    f.nvalues = argc;

    rc = mjc_post(cf, "/mj/submit/upload-discord-images", "upload", &f, 1,
                  &a, &code);
    mjc_free_list(urls, argc);

    res = yajl_tree_get(a.json, path, yajl_t_array);

    if (rc == MJ_EXIT_OK && (code != 1 || res == NULL)) {
        rc = mjc_code_error(&a, "upload");
    }

    if (rc != MJ_EXIT_OK) {
        mjc_answer_free(&a);
        return rc;
    }

    for (i = 0; !cf->json && i < YAJL_GET_ARRAY(res)->len; i++) {
        if (YAJL_IS_STRING(YAJL_GET_ARRAY(res)->values[i])) {
            printf("%s\n", YAJL_GET_STRING(YAJL_GET_ARRAY(res)->values[i]));
        }
    }

    mjc_answer_free(&a);

    return MJ_EXIT_OK;
}


static int
mjc_fetch(const mjc_conf_t *cf, int argc, char **argv)
{
    int           rc;
    char          path[128], what[96];
    mjc_answer_t  a;

    (void) argc;

    if (cf->wait) {
        return mjc_wait(cf, argv[0]);
    }

    snprintf(path, sizeof(path), "/mj/task/%s/fetch", argv[0]);
    snprintf(what, sizeof(what), "task %s", argv[0]);

    rc = mjc_call(cf, "GET", path, NULL, 0, 0, what, &a);

    if (rc == MJ_EXIT_OK) {
        rc = tl_jstr(a.json, "status", NULL) ? mjc_task_done(cf, &a, 0)
                                             : mjc_code_error(&a, what);
    }

    mjc_answer_free(&a);

    return rc;
}


/* the task of the list answer with this id, or NULL */
static yajl_val
mjc_list_find(yajl_val list, const char *id)
{
    size_t       i;
    const char  *tid;

    for (i = 0; i < YAJL_GET_ARRAY(list)->len; i++) {
        tid = tl_jstr(YAJL_GET_ARRAY(list)->values[i], "id", NULL);

        if (tid && strcmp(tid, id) == 0) {
            return YAJL_GET_ARRAY(list)->values[i];
        }
    }

    return NULL;
}


static void
mjc_list_cell(tl_table_t *tab, yajl_val task, const char *name)
{
    const char  *v = tl_jstr(task, name, NULL);

    tl_table_cell(tab, "%s", v && *v ? v : "-");
}


static int
mjc_list(const mjc_conf_t *cf, int argc, char **argv)
{
    int           rc, i;
    char         *body;
    size_t        len;
    yajl_val      t;
    tl_table_t    tab;
    tl_jfield_t   f;
    mjc_answer_t  a;

    memset(&f, 0, sizeof(f));
    f.name = "ids";
    f.values = (const char *const *) argv;
    f.nvalues = argc;

    body = tl_json_object(&f, 1, &len);
    if (body == NULL) {
        return MJ_EXIT_FAILED;
    }

    rc = mjc_call(cf, "POST", "/mj/task/list-by-condition", body, len, 0,
                  "list", &a);
    free(body);

    if (rc == MJ_EXIT_OK && !YAJL_IS_ARRAY(a.json)) {
        rc = mjc_code_error(&a, "list");
    }

    if (rc != MJ_EXIT_OK) {
        mjc_answer_free(&a);
        return rc;
    }

    if (cf->json) {
        mjc_print_raw(&a);
    }

    tl_table_init(&tab, 5);

    for (i = 0; i < argc; i++) {
        t = mjc_list_find(a.json, argv[i]);

        if (t == NULL) {
            tl_err("task %s: not found", argv[i]);
            rc = MJ_EXIT_NOTFOUND;
            continue;
        }

        if (tab.ncells == 0) {
            tl_table_cell(&tab, "ID");
            tl_table_cell(&tab, "ACTION");
            tl_table_cell(&tab, "STATUS");
            tl_table_cell(&tab, "PROGRESS");
            tl_table_cell(&tab, "IMAGE");
        }

        mjc_list_cell(&tab, t, "id");
        mjc_list_cell(&tab, t, "action");
        mjc_list_cell(&tab, t, "status");
        mjc_list_cell(&tab, t, "progress");
        mjc_list_cell(&tab, t, "imageUrl");
    }

    if (!cf->json) {
        tl_table_print(&tab, stdout);
    }

    tl_table_free(&tab);
    mjc_answer_free(&a);

    return rc;
}


/* a task endpoint that answers in the submit shape: prints its "result" */
static int
mjc_task_result(const mjc_conf_t *cf, const char *method, const char *id,
    const char *endpoint, const char *body)
{
    int           rc;
    char          path[128], what[96];
    long long     code;
    const char   *result;
    mjc_answer_t  a;

    snprintf(path, sizeof(path), "/mj/task/%s/%s", id, endpoint);
    snprintf(what, sizeof(what), "task %s", id);

    rc = mjc_call(cf, method, path, body, body ? strlen(body) : 0, 0, what,
                  &a);

    if (rc == MJ_EXIT_OK) {
        code = -1;
        tl_jnum(a.json, "code", NULL, &code);
        result = tl_jstr(a.json, "result", NULL);

        if (cf->json) {
            mjc_print_raw(&a);
        }

        if (code != 1 || result == NULL) {
            rc = mjc_code_error(&a, what);

        } else if (!cf->json) {
            printf("%s\n", result);
        }
    }

    mjc_answer_free(&a);

    return rc;
}


static int
mjc_seed(const mjc_conf_t *cf, int argc, char **argv)
{
    (void) argc;

    return mjc_task_result(cf, "GET", argv[0], "image-seed", NULL);
}


static int
mjc_cancel(const mjc_conf_t *cf, int argc, char **argv)
{
    (void) argc;

    return mjc_task_result(cf, "POST", argv[0], "cancel", "{}");
}


static const struct {
    const char  *name;
    int          min;
    int          max;            /* -1: any number */
    int          ids;            /* how many leading words are task ids */
    mjc_cmd_pt   handler;
    const char  *usage;
} mjc_cmds[] = {
    { "imagine",  1, -1, 0,  mjc_imagine,  "PROMPT" },
    { "blend",    2,  5, 0,  mjc_blend,    "IMG1 IMG2 [IMG3 IMG4 IMG5]" },
    { "describe", 1,  1, 0,  mjc_describe, "IMG|URL" },
    { "shorten",  1, -1, 0,  mjc_shorten,  "PROMPT" },
    { "action",   2,  2, 1,  mjc_action,   "TASK LABEL|CUSTOM-ID" },
    { "modal",    1, -1, 1,  mjc_modal,    "TASK [PROMPT]" },
    { "change",   2,  3, 1,  mjc_change,
      "TASK UPSCALE|VARIATION|REROLL [1-4]" },
    { "simple-change", 2, 2, 1, mjc_simple_change, "TASK U1-U4|V1-V4|R" },
    { "swap",     2,  2, 0,  mjc_swap,     "FACE-IMG TARGET-IMG" },
    { "edits",    1, -1, 0,  mjc_edits,    "PROMPT [--image IMG|URL]" },
    { "video",    0, -1, 0,  mjc_video,    "[PROMPT] [--image IMG|URL]" },
    { "upload",   1, 10, 0,  mjc_upload,   "IMG1 [IMG2 ... IMG10]" },
    { "fetch",    1,  1, 1,  mjc_fetch,    "TASK" },
    { "list",     1, -1, -1, mjc_list,     "TASK..." },
    { "seed",     1,  1, 1,  mjc_seed,     "TASK" },
    { "cancel",   1,  1, 1,  mjc_cancel,   "TASK" },
};


int
mjc_command(const mjc_conf_t *cf, const char *cmd, int argc, char **argv)
{
    int     i, ids;
    size_t  c;

    for (c = 0; c < sizeof(mjc_cmds) / sizeof(mjc_cmds[0]); c++) {
        if (strcmp(mjc_cmds[c].name, cmd) == 0) {
            break;
        }
    }

    if (c == sizeof(mjc_cmds) / sizeof(mjc_cmds[0])) {
        tl_err("unknown command \"%s\"; see mj --help", cmd);
        return MJ_EXIT_USAGE;
    }

    if (argc < mjc_cmds[c].min
        || (mjc_cmds[c].max >= 0 && argc > mjc_cmds[c].max))
    {
        tl_err("usage: mj %s %s", cmd, mjc_cmds[c].usage);
        return MJ_EXIT_USAGE;
    }

    ids = mjc_cmds[c].ids < 0 ? argc : mjc_cmds[c].ids;

    for (i = 0; i < ids; i++) {
        if (!mjc_task_id_ok(argv[i])) {
            tl_err("\"%s\" is not a task id", argv[i]);
            return MJ_EXIT_USAGE;
        }
    }

    return mjc_cmds[c].handler(cf, argc, argv);
}
