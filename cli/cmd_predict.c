/* cmd_predict.c — `vigie predict MODEL IMAGE... [--top K] [--json]`. */
#include "cli.h"

#include <stdlib.h>

static const cli_opt opts[] = {
    {"--top", "K", "classes to print per image (default 5, at most the number of classes)"},
    {"--json", NULL, "one JSON object per image: {\"image\":..., \"top\":[{\"label\":..., \"p\":...}]}"},
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
                  .synopsis = "MODEL IMAGE... [--top K] [--json]",
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
    int prec;
    if (!cli_precision(&a, &prec)) return CLI_USAGE;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_err err;
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = (int)threads;
    ro.precision = prec;
    if (vg_runner_init(&r, m, &ro, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        vg_model_free(m);
        return CLI_FAIL;
    }
    int n = info.n_classes;
    if (top > n) top = n;
    float *probs = malloc(sizeof(float) * (size_t)n);
    ranked *rk = malloc(sizeof(ranked) * (size_t)n);
    int failures = 0;
    for (int i = 1; i < a.n_pos && probs && rk; i++) {
        const char *path = a.pos[i];
        vg_image img = {0, 0, NULL};
        if (vg_image_load(path, &img, &err) != VG_OK ||
            vg_runner_classify(r, &img, probs, &err) != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            vg_image_free(&img);
            failures++;
            continue;
        }
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
            printf("]}\n");
        } else {
            if (a.n_pos > 2) printf("%s%s\n", i > 1 ? "\n" : "", path);
            for (int k = 0; k < top; k++)
                printf("%s  %.1f%%\n", vg_model_label(m, rk[k].idx), 100.0 * rk[k].p);
        }
        fflush(stdout);
    }
    if (!probs || !rk) {
        cli_error(a.cmd, "out of memory");
        failures++;
    }
    free(probs);
    free(rk);
    vg_runner_free(r);
    vg_model_free(m);
    return failures ? CLI_FAIL : CLI_OK;
}
