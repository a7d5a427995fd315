/* cmd_predict.c — `vigie predict MODEL IMAGE... [--top K] [--json] [--tiles RxC]`. With
 * tiles, each image is classified through the whole view and RxC overlapping tiles in one
 * batch, and the view with the highest alarm score gives the result (vigie.h, "tiles"). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"--top", "K", "classes to print per image (default 5, at most the number of classes)"},
    {"--json", NULL, "one JSON object per image: {\"image\":..., \"top\":[{\"label\":..., \"p\":...}]}"},
    {"--tiles", "RxC", "classify the whole image and RxC overlapping tiles in one batch; print "
                       "the view with the highest alarm score (p of every class but the "
                       "no-alarm class); --json adds every view's scores (default 1x1)"},
    {"--threads", "N", "worker threads (default 1)"},
    {"--precision", "P", "auto (int8 when the model has an int8 form), float or int8"},
};

typedef struct {
    int idx;
    float p;
} ranked;

static int by_p_desc(const void *a, const void *b) {
    float pa = ((const ranked *)a)->p, pb = ((const ranked *)b)->p;
    if (pa != pb) return pa < pb ? 1 : -1;
    return ((const ranked *)a)->idx - ((const ranked *)b)->idx; /* stable for ties */
}

int cmd_predict(int argc, char **argv) {
    cli_args a = {.cmd = "predict",
                  .synopsis = "MODEL IMAGE... [--top K] [--json] [--tiles RxC]",
                  .summary = "Classifies each image (JPEG, PNG or BMP) with the model (.vgm, or a\n"
                             ".tflite imported on the fly) and prints one line per class,\n"
                             "'label  NN.N%', most probable first.",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 2,
                  .max_pos = CLI_MAX_POS};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    long top, threads;
    if (!cli_int(&a, "--top", 5, 1, VG_MAX_CLASSES, &top) ||
        !cli_int(&a, "--threads", 1, 1, 256, &threads))
        return CLI_USAGE;
    bool json = cli_flag(&a, "--json");
    vg_precision prec;
    if (!cli_precision(&a, &prec)) return CLI_USAGE;
    vg_err err;
    int rows = 1, cols = 1;
    const char *tiles = cli_get(&a, "--tiles");
    if (tiles && vg_tiles_parse(tiles, &rows, &cols, &err) != VG_OK) {
        cli_error(a.cmd, "--%s", err.msg);
        return CLI_USAGE;
    }
    const int n_views = vg_tiles_count(rows, cols);
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    int n = info.n_classes;
    /* the views are ranked by the alarm score: every class but the model's no-alarm class
     * (vigie train records it; else the class labelled "neutral") */
    uint8_t *is_alarm = calloc((size_t)n, 1);
    int no_alarm = -1;
    if (n_views > 1 && is_alarm) {
        if (!vg_model_alarm(m, &no_alarm, NULL))
            for (int c = 0; c < n; c++)
                if (strcmp(vg_model_label(m, c), "neutral") == 0) no_alarm = c;
        if (no_alarm < 0 || n < 2) {
            cli_error(a.cmd, "--tiles: the model has no no-alarm class (none recorded by vigie "
                             "train, no 'neutral' label) to rank the views by their alarm score");
            free(is_alarm);
            vg_model_free(m);
            return CLI_FAIL;
        }
        for (int c = 0; c < n; c++)
            is_alarm[c] = c != no_alarm;
    }
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.unfused = cli_unfused;
    ro.threads = (int)threads;
    ro.precision = prec;
    ro.batch = n_views; /* all the views of an image in one forward pass */
    if (vg_runner_init(&r, m, &ro, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        free(is_alarm);
        vg_model_free(m);
        return CLI_FAIL;
    }
    if (top > n) top = n;
    float *probs = malloc(sizeof(float) * (size_t)n);
    float *per_view = malloc(sizeof(float) * (size_t)n * (size_t)n_views);
    ranked *rk = malloc(sizeof(ranked) * (size_t)n);
    int failures = 0;
    for (int i = 1; i < a.n_pos && probs && per_view && rk && is_alarm; i++) {
        const char *path = a.pos[i];
        vg_image img = {0, 0, NULL};
        int best = 0;
        vg_status st = vg_image_load(path, &img, &err);
        if (st == VG_OK)
            st = n_views == 1
                     ? vg_runner_classify(r, &img, probs, (size_t)n, &err)
                     : vg_runner_classify_tiles(r, &img, rows, cols, is_alarm, probs, (size_t)n,
                                                per_view, (size_t)n * n_views, &best, &err);
        if (st != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            vg_image_free(&img);
            failures++;
            continue;
        }
        vg_rect views[1 + VG_TILES_MAX * VG_TILES_MAX];
        int nv = 1;
        if (n_views > 1) /* cannot fail: the classification above made the same layout */
            vg_tiles_layout(img.w, img.h, rows, cols, views, n_views, &nv, NULL);
        vg_image_free(&img);
        for (int k = 0; k < n; k++) rk[k] = (ranked){k, probs[k]};
        qsort(rk, (size_t)n, sizeof *rk, by_p_desc);
        if (json) {
            printf("{\"image\":");
            cli_json_str(stdout, path);
            printf(",\"top\":[");
            for (int k = 0; k < top; k++) {
                printf("%s{\"label\":", k ? "," : "");
                cli_json_str(stdout, vg_model_label(m, rk[k].idx));
                printf(",\"p\":%.6f}", rk[k].p);
            }
            printf("]");
            if (n_views > 1) {
                /* every view: where it is in the image, its alarm score, its probabilities */
                printf(",\"tiles\":\"%dx%d\",\"best_view\":%d,\"views\":[", rows, cols, best);
                for (int v = 0; v < nv; v++) {
                    const float *p = per_view + (size_t)v * n;
                    double score = 0;
                    for (int c = 0; c < n; c++)
                        if (is_alarm[c]) score += p[c];
                    printf("%s{\"x\":%d,\"y\":%d,\"w\":%d,\"h\":%d,\"alarm\":%.6f,\"p\":{",
                           v ? "," : "", views[v].x, views[v].y, views[v].w, views[v].h, score);
                    for (int c = 0; c < n; c++) {
                        printf("%s", c ? "," : "");
                        cli_json_str(stdout, vg_model_label(m, c));
                        printf(":%.6f", p[c]);
                    }
                    printf("}}");
                }
                printf("]");
            }
            printf("}\n");
        } else {
            if (a.n_pos > 2) printf("%s%s\n", i > 1 ? "\n" : "", path);
            if (n_views > 1)
                printf("view %d of %d (%s, %dx%d at %d,%d)\n", best, nv,
                       best ? "tile" : "whole image", views[best].w, views[best].h, views[best].x,
                       views[best].y);
            for (int k = 0; k < top; k++)
                printf("%s  %.1f%%\n", vg_model_label(m, rk[k].idx), 100.0 * rk[k].p);
        }
        fflush(stdout);
    }
    if (!probs || !per_view || !rk || !is_alarm) {
        cli_error(a.cmd, "out of memory");
        failures++;
    }
    free(probs);
    free(per_view);
    free(rk);
    free(is_alarm);
    vg_runner_free(r);
    vg_model_free(m);
    return failures ? CLI_FAIL : CLI_OK;
}
