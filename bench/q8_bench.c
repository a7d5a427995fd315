/* q8_bench.c — milliseconds of the int8 kernels (cpu/q8.h) on MobileNetV2 224's layer shapes,
 * fast and portable, with TFLite's rounding (imported models) and the single rounding (vigie
 * optimize --int8): the best of many runs, since the machines this runs on are shared.
 *   make && cc -std=c11 -O2 -D_DEFAULT_SOURCE -Iinclude -Isrc bench/q8_bench.c \
 *       build/libvigie.a -lz -lm -pthread -o build/q8_bench && build/q8_bench [threads] */
#include "cpu/q8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define RUNS 100

static int8_t *bytes(size_t n, unsigned seed) {
    int8_t *p = malloc(n + 64);
    for (size_t i = 0; i < n + 64; i++)
        p[i] = (int8_t)((i * 2654435761u + seed) >> 13);
    return p;
}

typedef struct {
    vg_pool *pool;
    int32_t *mult, *shift, *bias;
    void *scratch;
    vg_q8_sel sel; /* the kernels of the process's choice (VIGIE_KERNELS is not read here) */
} ctx;

/* best time of RUNS calls, ms */
#define BEST(ms, call)                                                                             \
    do {                                                                                           \
        ms = 1e9;                                                                                  \
        for (int r_ = 0; r_ < RUNS; r_++) {                                                        \
            double t0_ = vg_time_now();                                                            \
            call;                                                                                  \
            double t_ = (vg_time_now() - t0_) * 1e3;                                               \
            if (t_ < ms) ms = t_;                                                                  \
        }                                                                                          \
    } while (0)

static void gemm_row(ctx *c, int m, int n, int k) {
    int8_t *a = bytes((size_t)m * k, 1), *w = bytes((size_t)n * k, 2), *y = malloc((size_t)m * n);
    printf("pointwise %5d x %4d x %4d", m, n, k);
    for (int fast = 1; fast >= 0; fast--)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            vg_q8_out q = {-3, 5, -128, 127, c->mult, c->shift, rnd};
            vg_q8_gemm_plan p;
            double ms;
            if (!vg_q8_gemm_plan_init(&p, n, k, w, c->bias, &q, fast ? &c->sel : NULL)) exit(1);
            BEST(ms, vg_q8_gemm_run(c->pool, &p, m, a, k, y, n));
            printf(" %9.4f", ms);
            vg_q8_gemm_plan_free(&p);
        }
    printf("\n");
    free(a), free(w), free(y);
}

static void dw_row(ctx *c, int hw, int ch, int s) {
    vg_conv_desc d = {1, hw, hw, ch, ch, 3, 3, s, s, s == 1, s == 1, hw / s, hw / s};
    int8_t *x = bytes((size_t)hw * hw * ch, 3), *w = bytes(9 * (size_t)ch, 4);
    int8_t *y = malloc((size_t)d.ho * d.wo * ch);
    printf("dw 3x3/%d  %4d x %4d x %4d", s, hw, hw, ch);
    for (int fast = 1; fast >= 0; fast--)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            vg_q8_out q = {-3, 5, -128, 127, c->mult, c->shift, rnd};
            vg_q8_dw_plan p;
            double ms;
            if (!vg_q8_dw_plan_init(&p, &d, w, c->bias, &q, fast ? &c->sel : NULL)) exit(1);
            BEST(ms, vg_q8_dw_run(c->pool, &p, 1, x, y, c->scratch));
            printf(" %9.4f", ms);
            vg_q8_dw_plan_free(&p);
        }
    printf("\n");
    free(x), free(w), free(y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    ctx c = {vg_pool_new(threads), malloc(4 * 2048), malloc(4 * 2048), malloc(4 * 2048),
             aligned_alloc(64, (size_t)threads << 21), vg_q8_select(0)};
    for (int j = 0; j < 2048; j++) {
        vg_quantize_multiplier(exp(-6.0 - j % 5), &c.mult[j], &c.shift[j]);
        c.bias[j] = j * 37 % 2000 - 1000;
    }
    printf("int8 kernels, %d thread%s, %s; best of %d runs, ms\n", threads, threads > 1 ? "s" : "",
           vg_q8_fast_available() ? "AVX-512 VNNI" : "portable only", RUNS);
    printf("%-30s %9s %9s %9s %9s\n", "", "tflite", "single", "tfl/port", "sgl/port");
    static const int pw[][3] = {{12544, 16, 32}, {12544, 96, 16}, {3136, 24, 96}, {3136, 144, 24},
                                {3136, 24, 144}, {784, 192, 32},  {196, 384, 64}, {196, 64, 384},
                                {49, 960, 160},  {49, 1280, 320}, {1, 1001, 1280}};
    for (size_t i = 0; i < sizeof pw / sizeof pw[0]; i++)
        gemm_row(&c, pw[i][0], pw[i][1], pw[i][2]);
    static const int dw[][3] = {{112, 32, 1}, {112, 96, 2}, {56, 144, 1}, {56, 144, 2},
                                {28, 192, 1}, {14, 576, 1}, {7, 960, 1}};
    for (size_t i = 0; i < sizeof dw / sizeof dw[0]; i++)
        dw_row(&c, dw[i][0], dw[i][1], dw[i][2]);
    /* the stem: 3x3 stride 2 over 3 channels, im2col + GEMM */
    vg_conv_desc d = {1, 224, 224, 3, 32, 3, 3, 2, 2, 0, 0, 112, 112};
    int8_t *x = bytes(224 * 224 * 3, 5), *w = bytes(32 * 27, 6), *y = malloc(112 * 112 * 32);
    printf("%-30s", "stem 3x3/2 224 x 224 x 3");
    for (int fast = 1; fast >= 0; fast--)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            vg_q8_out q = {-3, 5, -128, 127, c.mult, c.shift, rnd};
            vg_q8_gemm_plan p;
            double ms;
            if (!vg_q8_gemm_plan_init(&p, 32, 27, w, c.bias, &q, fast ? &c.sel : NULL)) return 1;
            BEST(ms, vg_q8_conv_run(c.pool, &p, &d, x, c.scratch, y));
            printf(" %9.4f", ms);
            vg_q8_gemm_plan_free(&p);
        }
    printf("\n");
    /* residual add and input quantization (rounding-independent) */
    size_t n = 56 * 56 * 24;
    int8_t *a = bytes(n, 7), *b = bytes(n, 8), *s = malloc(n);
    vg_add_q8 ap;
    vg_add_q8_prepare((vg_qparam){0.1f, 3}, (vg_qparam){0.07f, -5}, (vg_qparam){0.12f, 1}, 0, &ap);
    double ms_fast, ms_port;
    BEST(ms_fast, vg_q8_add(c.pool, n, a, b, &ap, s, &c.sel));
    BEST(ms_port, vg_q8_add(c.pool, n, a, b, &ap, s, NULL));
    printf("%-30s %9.4f %9s %9.4f\n", "add 56 x 56 x 24", ms_fast, "", ms_port);
    size_t nf = 224 * 224 * 3;
    float *f = malloc(sizeof(float) * nf);
    for (size_t i = 0; i < nf; i++)
        f[i] = (float)(i % 255) / 127.5f - 1.0f;
    int8_t *fq = malloc(nf);
    BEST(ms_fast, vg_q8_quantize(c.pool, nf, f, (vg_qparam){1 / 127.5f, -1}, fq, &c.sel));
    BEST(ms_port, vg_q8_quantize(c.pool, nf, f, (vg_qparam){1 / 127.5f, -1}, fq, NULL));
    printf("%-30s %9.4f %9s %9.4f\n", "quantize 224 x 224 x 3", ms_fast, "", ms_port);
    free(x), free(w), free(y), free(a), free(b), free(s), free(f), free(fq);
    free(c.mult), free(c.shift), free(c.bias), free(c.scratch);
    vg_pool_free(c.pool);
    return 0;
}
