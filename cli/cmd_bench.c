/* cmd_bench.c — `vigie bench MODEL [--threads N] [--runs N] [--batch N] [--json]`: latency of
 * the forward pass on a synthetic input (the image pipeline is not timed). */
#include "cli.h"

#include <stdlib.h>

static const cli_opt opts[] = {
    {"--threads", "N", "worker threads (default 1)"},
    {"--runs", "N", "timed forward passes (default 50)"},
    {"--warmup", "N", "untimed passes first (default 3)"},
    {"--batch", "N", "images per forward pass (default 1)"},
    {"--json", NULL, "print {\"median_ms\":..., \"p90_ms\":..., \"peak_rss_mb\":...}"},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile of sorted values */
static double percentile(const double *v, int n, double q) {
    int k = (int)(q * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

int cmd_bench(int argc, char **argv) {
    cli_args a = {.cmd = "bench",
                  .synopsis = "MODEL [--threads N] [--runs N] [--batch N] [--json]",
                  .summary = "Times the forward pass of MODEL at its input size on a synthetic\n"
                             "input and reports median and 90th-percentile latency, throughput,\n"
                             "activation memory and the process's peak resident memory.",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    long threads, runs, warmup, batch;
    if (!cli_int(&a, "--threads", 1, 1, 256, &threads) ||
        !cli_int(&a, "--runs", 50, 1, 1000000, &runs) ||
        !cli_int(&a, "--warmup", 3, 0, 1000000, &warmup) ||
        !cli_int(&a, "--batch", 1, 1, 4096, &batch))
        return CLI_USAGE;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_err err;
    vg_runner *r = NULL;
    vg_runner_opts ro = {(int)threads, (int)batch};
    if (vg_runner_init(&r, m, &ro, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        vg_model_free(m);
        return CLI_FAIL;
    }
    size_t n_in = (size_t)batch * info.input.w * info.input.h * info.input.c;
    float *in = malloc(n_in * sizeof(float));
    float *out = malloc((size_t)batch * info.n_classes * sizeof(float));
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!in || !out || !t) {
        cli_error(a.cmd, "out of memory");
        free(in), free(out), free(t);
        vg_runner_free(r);
        vg_model_free(m);
        return CLI_FAIL;
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < n_in; i++) { /* deterministic values in [-1, 1] */
        s = s * 1664525u + 1013904223u;
        in[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    for (long i = 0; i < warmup; i++) vg_runner_forward(r, in, out);
    for (long i = 0; i < runs; i++) {
        double t0 = vg_time_now();
        vg_runner_forward(r, in, out);
        t[i] = (vg_time_now() - t0) * 1e3;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double med = percentile(t, (int)runs, 0.5), p90 = percentile(t, (int)runs, 0.9);
    double rss = (double)vg_peak_rss_bytes() / (1024.0 * 1024.0);
    double act = (double)vg_runner_activation_bytes(r) / (1024.0 * 1024.0);
    if (cli_flag(&a, "--json")) {
        printf("{\"median_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,\"images_per_s\":%.2f,"
               "\"peak_rss_mb\":%.1f,\"activation_mb\":%.2f,\"threads\":%ld,\"batch\":%ld,"
               "\"runs\":%ld}\n",
               med, p90, t[0], 1e3 * (double)batch / med, rss, act, threads, batch, runs);
    } else {
        printf("model        %s (%dx%d, %.0f MFLOP/image)\n", a.pos[0], info.input.w, info.input.h,
               (double)info.flops / 1e6);
        printf("setup        %ld thread%s, batch %ld, %ld runs after %ld warm-up\n", threads,
               threads > 1 ? "s" : "", batch, runs, warmup);
        printf("latency      median %.2f ms, p90 %.2f ms, min %.2f ms\n", med, p90, t[0]);
        printf("throughput   %.1f images/s, %.2f GFLOP/s\n", 1e3 * (double)batch / med,
               (double)info.flops * (double)batch / (med * 1e6));
        printf("memory       activations %.2f MB, peak RSS %.1f MB\n", act, rss);
    }
    free(in);
    free(out);
    free(t);
    vg_runner_free(r);
    vg_model_free(m);
    return CLI_OK;
}
