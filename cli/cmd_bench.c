/* cmd_bench.c — `vigie bench MODEL [--threads N] [--runs N] [--batch N] [--json]`: latency of
 * the forward pass on a synthetic input (the image pipeline is not timed). With --train: the
 * time of one optimizer step of full fine-tuning (a new 3-class head on MODEL's features, every
 * layer learning, batch-norm in training mode where there is some, AdamW), i.e. what `vigie
 * train --train all` spends per batch once the images are decoded. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"--threads", "N", "worker threads (default 1)"},
    {"--runs", "N", "timed forward passes (default 50)"},
    {"--warmup", "N", "untimed passes first (default 3)"},
    {"--batch", "N", "images per forward pass (default 1)"},
    {"--precision", "P", "auto (int8 when the model has an int8 form), float or int8"},
    {"--kernels", "SET",
     "kernel set of this run: ref, scalar, avx2, avx512 or neon, as this CPU has them "
     "(default: the fastest, or VIGIE_KERNELS)"},
    {"--train", NULL, "time full fine-tuning steps instead (batch default 32, 2 threads)"},
    {"--chunk", "N", "with --train: images per forward/backward pass (default 16, as vigie train)"},
    {"--profile", NULL, "per-layer table: time, GFLOP/s, share of total; fraction of CPU peak"},
    {"--json", NULL, "print {\"median_ms\":..., \"p90_ms\":..., \"peak_rss_mb\":...}"},
};

/* per-layer times over `runs` more passes, printed as a table (or JSON fields) */
static void profile(vg_runner *r, const float *in, float *out, long runs, long batch, bool json) {
    vg_runner_profile(r, 1);
    for (long i = 0; i < runs; i++) vg_runner_forward(r, in, out);
    int n = vg_runner_layer_stats(r, NULL, 0);
    vg_layer_stat *st = calloc((size_t)n, sizeof *st);
    if (!st) return;
    vg_runner_layer_stats(r, st, n);
    vg_runner_profile(r, 0);
    double total = 0, pw_s = 0, pw_f = 0;
    for (int i = 0; i < n; i++) total += st[i].seconds;
    double peak = vg_cpu_peak_gflops();
    if (json) {
        printf(",\"kernels\":\"%s\",", vg_runner_kernels(r));
        if (vg_runner_is_int8(r)) printf("\"int8_kernels\":\"%s\",", vg_runner_int8_kernels(r));
        printf("\"peak_gflops\":%.1f,\"layers\":[", peak);
    }
    else
        printf("\n%4s  %-16s %-22s %9s %9s %9s %6s\n", "#", "layer", "in -> out", "MFLOP", "ms",
               "GFLOP/s", "share");
    for (int i = 0; i < n; i++) {
        const vg_layer_stat *s = &st[i];
        double ms = s->calls ? s->seconds * 1e3 / s->calls : 0;
        double gf = s->seconds > 0 ? (double)s->flops * batch * s->calls / s->seconds / 1e9 : 0;
        if (strcmp(s->kind, "pointwise") == 0) pw_s += s->seconds, pw_f += (double)s->flops * batch * s->calls;
        if (json) {
            printf("%s{\"kind\":\"%s\",\"in\":[%d,%d,%d],\"out\":[%d,%d,%d],\"mflop\":%.3f,"
                   "\"ms\":%.4f,\"gflops\":%.2f}",
                   i ? "," : "", s->kind, s->in_h, s->in_w, s->in_c, s->out_h, s->out_w, s->out_c,
                   (double)s->flops * batch / 1e6, ms, gf);
        } else {
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%dx%d -> %dx%dx%d", s->in_h, s->in_w, s->in_c,
                     s->out_h, s->out_w, s->out_c);
            printf("%4d  %-16s %-22s %9.2f %9.3f %9.1f %5.1f%%\n", i, s->kind, shape,
                   (double)s->flops * batch / 1e6, ms, gf, 100.0 * s->seconds / total);
        }
    }
    double pw_g = pw_s > 0 ? pw_f / pw_s / 1e9 : 0;
    if (json) {
        printf("],\"pointwise_gflops\":%.2f,\"pointwise_share\":%.4f", pw_g, pw_s / total);
    } else {
        printf("pointwise layers: %.1f%% of the time at %.1f GFLOP/s", 100.0 * pw_s / total, pw_g);
        /* (the peak is the float FMA rate: no yardstick for the integer kernels) */
        if (peak > 0 && !vg_runner_is_int8(r))
            printf(" = %.0f%% of this core's measured %s peak (%.1f GFLOP/s)", 100.0 * pw_g / peak, vg_runner_kernels(r), peak);
        printf("\n");
    }
    free(st);
}

/* --train: optimizer steps of full fine-tuning on synthetic images (vg_train_bench) */
static int bench_train(const char *cmd, const vg_model *bb, long threads, long runs, long warmup,
                       long batch, long chunk, bool json) {
    vg_err err;
    vg_train_bench_opts o = {(int)threads, (int)batch, (int)chunk, (int)runs, (int)warmup};
    vg_train_bench_result r;
    if (vg_train_bench(bb, &o, &r, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    double rss = (double)r.peak_rss / (1024.0 * 1024.0), buf = (double)r.buffers / 1048576.0;
    if (json)
        printf("{\"median_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,\"images_per_s\":%.2f,"
               "\"peak_rss_mb\":%.1f,\"buffers_mb\":%.1f,\"threads\":%ld,\"batch\":%ld,\"chunk\":%d,"
               "\"runs\":%ld,\"mode\":\"train\",\"loss\":%.4f}\n",
               r.median_ms, r.p90_ms, r.min_ms, r.images_per_s, rss, buf, threads, batch, r.chunk,
               runs, r.loss);
    else {
        printf("training     full fine-tuning, %dx%d, batch %ld (chunks of %d), AdamW, %ld thread%s,\n"
               "             %ld steps after %ld warm-up, synthetic images\n",
               r.w, r.h, batch, r.chunk, threads, threads > 1 ? "s" : "", runs, warmup);
        printf("step         median %.1f ms, p90 %.1f ms, min %.1f ms\n", r.median_ms, r.p90_ms, r.min_ms);
        printf("throughput   %.1f images/s\n", r.images_per_s);
        printf("memory       training buffers %.0f MB, peak RSS %.0f MB\n", buf, rss);
    }
    return CLI_OK;
}

int cmd_bench(int argc, char **argv) {
    cli_args a = {.cmd = "bench",
                  .synopsis = "MODEL [--threads N] [--runs N] [--batch N] [--profile] [--json]",
                  .summary = "Times the forward pass of MODEL at its input size on a synthetic\n"
                             "input and reports median and 90th-percentile latency, throughput,\n"
                             "activation memory and the process's peak resident memory.",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    long threads, runs, warmup, batch, chunk;
    bool train = cli_flag(&a, "--train");
    if (!cli_int(&a, "--threads", train ? 2 : 1, 1, 256, &threads) ||
        !cli_int(&a, "--runs", train ? 10 : 50, 1, 1000000, &runs) ||
        !cli_int(&a, "--warmup", train ? 2 : 3, 0, 1000000, &warmup) ||
        !cli_int(&a, "--batch", train ? 32 : 1, 1, 4096, &batch) ||
        !cli_int(&a, "--chunk", 16, 1, 4096, &chunk))
        return CLI_USAGE;
    if (train) {
        if (cli_get(&a, "--precision") || cli_flag(&a, "--profile") || cli_get(&a, "--kernels")) {
            cli_error(a.cmd, "--train takes neither --precision, --profile nor --kernels (VIGIE_KERNELS sets training's)");
            return CLI_USAGE;
        }
        vg_model *bb = cli_load_model(a.cmd, a.pos[0]);
        if (!bb) return CLI_FAIL;
        rc = bench_train(a.cmd, bb, threads, runs, warmup, batch, chunk, cli_flag(&a, "--json"));
        vg_model_free(bb);
        return rc;
    }
    vg_precision prec;
    if (!cli_precision(&a, &prec)) return CLI_USAGE;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_err err;
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = (int)threads, ro.batch = (int)batch, ro.precision = prec;
    ro.unfused = cli_unfused;
    ro.kernels = cli_get(&a, "--kernels");
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
    vg_sort_doubles(t, (int)runs);
    double med = vg_percentile_sorted(t, (int)runs, 0.5), p90 = vg_percentile_sorted(t, (int)runs, 0.9);
    double rss = (double)vg_peak_rss_bytes() / (1024.0 * 1024.0);
    double act = (double)vg_runner_activation_bytes(r) / (1024.0 * 1024.0);
    bool json = cli_flag(&a, "--json"), prof = cli_flag(&a, "--profile");
    if (json) {
        printf("{\"median_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,\"images_per_s\":%.2f,"
               "\"peak_rss_mb\":%.1f,\"activation_mb\":%.2f,\"threads\":%ld,\"batch\":%ld,"
               "\"runs\":%ld,\"precision\":\"%s\"",
               med, p90, t[0], 1e3 * (double)batch / med, rss, act, threads, batch, runs,
               vg_runner_is_int8(r) ? "int8" : "float32");
        if (prof) profile(r, in, out, runs, batch, true);
        printf("}\n");
    } else {
        printf("model        %s (%dx%d, %.0f MFLOP/image)\n", a.pos[0], info.input.w, info.input.h,
               (double)info.flops / 1e6);
        printf("setup        %ld thread%s, batch %ld, %ld runs after %ld warm-up\n", threads,
               threads > 1 ? "s" : "", batch, runs, warmup);
        printf("latency      median %.2f ms, p90 %.2f ms, min %.2f ms\n", med, p90, t[0]);
        printf("throughput   %.1f images/s, %.2f GFLOP/s\n", 1e3 * (double)batch / med,
               (double)info.flops * (double)batch / (med * 1e6));
        printf("memory       activations %.2f MB, peak RSS %.1f MB\n", act, rss);
        if (vg_runner_is_int8(r))
            printf("kernels      int8 (GEMM: %s), float parts: %s\n", vg_runner_int8_kernels(r),
                   vg_runner_kernels(r));
        else
            printf("kernels      %s, float32\n", vg_runner_kernels(r));
        if (prof) profile(r, in, out, runs, batch, false);
    }
    free(in);
    free(out);
    free(t);
    vg_runner_free(r);
    vg_model_free(m);
    return CLI_OK;
}
