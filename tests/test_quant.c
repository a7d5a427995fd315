/* test_quant.c — int8 arithmetic and the reference int8 kernels. The fixed-point helpers are
 * checked on hand-computed cases (TFLite's rounding) and against double arithmetic; each
 * kernel against a float computation of the same quantized values: the integer result may
 * differ from round(float result) by at most one step (rounding of the fixed-point
 * multiplier and of intermediate requantizations). */
#include "test.h"

#include "cpu/backend.h"
#include "cpu/q8.h"
#include "ops/ops_q8.h"

#include <stdlib.h>
#include <string.h>

static int8_t rnd8(void) { return (int8_t)(int)vg_test_uniform(-128, 127.99f); }

static void test_fixed_point(void) {
    CHECK(vg_rdivpot(5, 1) == 3 && vg_rdivpot(-5, 1) == -3 && vg_rdivpot(4, 1) == 2 &&
              vg_rdivpot(-4, 1) == -2 && vg_rdivpot(7, 2) == 2 && vg_rdivpot(6, 2) == 2,
          "rounding divide: %d %d %d %d %d %d", vg_rdivpot(5, 1), vg_rdivpot(-5, 1), vg_rdivpot(4, 1),
          vg_rdivpot(-4, 1), vg_rdivpot(7, 2), vg_rdivpot(6, 2));
    CHECK(vg_srdhm(INT32_MIN, INT32_MIN) == INT32_MAX, "srdhm saturation");
    CHECK(vg_srdhm(1 << 30, 1 << 30) == 1 << 29, "srdhm 0.5 * 0.5");
    int32_t m;
    int s;
    vg_quantize_multiplier(0.75, &m, &s);
    CHECK(m == (int32_t)(0.75 * 2147483648.0) && s == 0, "multiplier of 0.75: %d %d", m, s);
    vg_quantize_multiplier(3.0, &m, &s);
    CHECK(m == (int32_t)(0.75 * 2147483648.0) && s == 2, "multiplier of 3: %d %d", m, s);
    vg_test_seed(21);
    int bad = 0;
    for (int t = 0; t < 20000; t++) {
        double real = exp(vg_test_uniform(-11.5f, 1.3f)); /* 1e-5 .. 3.7 */
        int32_t x = (int32_t)vg_test_uniform(-1048576, 1048576);
        vg_quantize_multiplier(real, &m, &s);
        double want = x * real, got = vg_mul_qmult(x, m, s);
        if (fabs(got - want) > 1.0) bad++;
    }
    CHECK(bad == 0, "%d of 20000 fixed-point products off by more than 1", bad);
    /* quantize / dequantize round trip within half a step */
    vg_qparam q = {0.0473f, -7};
    double worst = 0;
    for (int i = 0; i < 1000; i++) {
        float x = vg_test_uniform(q.scale * (-128 - q.zp), q.scale * (127 - q.zp));
        worst = fmax(worst, fabs(vg_dequantize1(vg_quantize1(x, q), q) - x));
    }
    CHECK(worst <= 0.5 * q.scale * (1 + 1e-6), "round trip error %.3g > half step %.3g", worst, 0.5 * q.scale);
    CHECK(vg_quantize1(1e9f, q) == 127 && vg_quantize1(-1e9f, q) == -128 && vg_quantize1(NAN, q) == -128,
          "saturation");
    int32_t lo, hi;
    vg_qparam r6 = {6.0f / 255.0f, -128};
    vg_act_range_q8(VG_ACT_RELU6, r6, &lo, &hi);
    CHECK(lo == -128 && hi == 127, "relu6 range at 6/255: %d %d", lo, hi);
    vg_qparam wide = {0.1f, 3};
    vg_act_range_q8(VG_ACT_RELU6, wide, &lo, &hi);
    CHECK(lo == 3 && hi == 63, "relu6 range at 0.1: %d %d", lo, hi);
}

/* expected int8 output of an accumulator given in real units */
static int expect_q(double real, vg_qparam o, int32_t lo, int32_t hi) {
    double v = nearbyint(real / o.scale) + o.zp;
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

static void test_kernels(void) {
    vg_test_seed(22);
    vg_conv_desc d = {2, 7, 6, 5, 9, 3, 3, 2, 2, 1, 0, 4, 3};
    vg_qparam in = {0.05f, -3}, out = {0.11f, 5};
    size_t nx = (size_t)d.n * d.h * d.w * d.ci, nw = (size_t)d.co * 9 * d.ci;
    size_t ny = (size_t)d.n * d.ho * d.wo * d.co;
    int8_t *x = malloc(nx), *w = malloc(nw), *y = malloc(ny);
    int32_t b[16], mult[16], shift[16];
    float ws[16];
    for (size_t i = 0; i < nx; i++) x[i] = rnd8();
    for (size_t i = 0; i < nw; i++) w[i] = rnd8();
    for (int c = 0; c < d.co; c++) {
        ws[c] = vg_test_uniform(0.0005f, 0.004f);
        b[c] = (int32_t)vg_test_uniform(-2000, 2000);
        vg_quantize_multiplier((double)in.scale * ws[c] / out.scale, &mult[c], &shift[c]);
    }
    int32_t lo, hi;
    vg_act_range_q8(VG_ACT_RELU6, out, &lo, &hi);
    vg_q8_out q = {in.zp, out.zp, lo, hi, mult, shift, VG_Q8_ROUND_TFLITE};
    /* conv */
    vg_conv2d_q8_ref(&d, x, w, b, &q, y);
    int bad = 0;
    for (int n = 0; n < d.n; n++)
        for (int oy = 0; oy < d.ho; oy++)
            for (int ox = 0; ox < d.wo; ox++)
                for (int co = 0; co < d.co; co++) {
                    double acc = b[co] * (double)in.scale * ws[co];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = oy * 2 - 1 + ky, ix = ox * 2 + kx;
                            if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) continue;
                            for (int ci = 0; ci < d.ci; ci++)
                                acc += in.scale * (x[((n * d.h + iy) * d.w + ix) * d.ci + ci] - in.zp) *
                                       (double)ws[co] * w[((co * 3 + ky) * 3 + kx) * d.ci + ci];
                        }
                    int e = expect_q(acc, out, lo, hi);
                    bad += abs(e - y[((n * d.ho + oy) * d.wo + ox) * d.co + co]) > 1;
                }
    CHECK(bad == 0, "conv q8: %d outputs more than one step from the float result", bad);
    /* depthwise (co = ci) */
    vg_conv_desc dd = d;
    dd.co = dd.ci;
    vg_dwconv_q8_ref(&dd, x, w, b, &q, y);
    bad = 0;
    for (int n = 0; n < d.n; n++)
        for (int oy = 0; oy < d.ho; oy++)
            for (int ox = 0; ox < d.wo; ox++)
                for (int c = 0; c < d.ci; c++) {
                    double acc = b[c] * (double)in.scale * ws[c];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = oy * 2 - 1 + ky, ix = ox * 2 + kx;
                            if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) continue;
                            acc += in.scale * (x[((n * d.h + iy) * d.w + ix) * d.ci + c] - in.zp) *
                                   (double)ws[c] * w[(ky * 3 + kx) * d.ci + c];
                        }
                    bad += abs(expect_q(acc, out, lo, hi) - y[((n * d.ho + oy) * d.wo + ox) * d.ci + c]) > 1;
                }
    CHECK(bad == 0, "dwconv q8: %d outputs off", bad);
    /* matmul (no activation) */
    q.act_min = -128, q.act_max = 127;
    int M = 11, N = 9, K = 37;
    int8_t *a = malloc((size_t)M * K), *bm = malloc((size_t)N * K), *c = malloc((size_t)M * N);
    for (int i = 0; i < M * K; i++) a[i] = rnd8();
    for (int i = 0; i < N * K; i++) bm[i] = rnd8();
    vg_matmul_q8_ref(M, N, K, a, bm, b, &q, c);
    bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = b[j] * (double)in.scale * ws[j];
            for (int p = 0; p < K; p++) acc += in.scale * (a[i * K + p] - in.zp) * (double)ws[j] * bm[j * K + p];
            bad += abs(expect_q(acc, out, -128, 127) - c[i * N + j]) > 1;
        }
    CHECK(bad == 0, "matmul q8: %d outputs off", bad);
    /* add with different scales */
    vg_qparam pa = {0.07f, 10}, pb = {0.023f, -40}, po = {0.09f, -2};
    vg_add_q8 ap;
    vg_add_q8_prepare(pa, pb, po, VG_ACT_NONE, &ap);
    int8_t u[256], v[256], s[256];
    for (int i = 0; i < 256; i++) u[i] = rnd8(), v[i] = rnd8();
    vg_add_q8_ref(256, u, v, &ap, s);
    bad = 0;
    for (int i = 0; i < 256; i++)
        bad += abs(expect_q(pa.scale * (u[i] - pa.zp) + (double)pb.scale * (v[i] - pb.zp), po, -128, 127) - s[i]) > 1;
    CHECK(bad == 0, "add q8: %d outputs off", bad);
    /* global average pool and requantize */
    int8_t g[2 * 10 * 3], gy[6];
    for (int i = 0; i < 60; i++) g[i] = rnd8();
    vg_gap_q8_ref(2, 10, 3, g, pa, po, gy);
    bad = 0;
    for (int n = 0; n < 2; n++)
        for (int ch = 0; ch < 3; ch++) {
            double m = 0;
            for (int i = 0; i < 10; i++) m += pa.scale * (g[(n * 10 + i) * 3 + ch] - pa.zp);
            bad += abs(expect_q(m / 10, po, -128, 127) - gy[n * 3 + ch]) > 1;
        }
    CHECK(bad == 0, "gap q8: %d outputs off", bad);
    vg_requant_q8_ref(256, u, pa, po, s);
    bad = 0;
    for (int i = 0; i < 256; i++) bad += abs(expect_q(pa.scale * (u[i] - pa.zp), po, -128, 127) - s[i]) > 1;
    CHECK(bad == 0, "requant q8: %d outputs off", bad);
    free(x), free(w), free(y), free(a), free(bm), free(c);
}

/* Per-channel multipliers of one of three kinds: all below one half (the fast epilogue of
 * real models), some in [1/2, 1) (no right shift: the wide epilogue), some above 1 (TFLite's
 * saturating left shift). Some are powers of two, whose products end in exact halves often:
 * the rounding rules differ only there. */
static void fill_mults(int n, int kind, int32_t *mult, int32_t *shift) {
    for (int j = 0; j < n; j++) {
        double real = exp(vg_test_uniform(-12, -1.5f));
        if (kind == 1 && j % 5 == 2) real = vg_test_uniform(0.5f, 0.999f);
        if (kind == 2 && j % 7 == 3) real = vg_test_uniform(1.0f, 3.0f);
        if (kind >= 1 && j % 11 == 6) real = 0.5; /* exactly: multiplier 2^30, shift 0 */
        if (j % 13 == 9) real = ldexp(1.0, -(j % 9) - 2); /* powers of two: frequent exact halves */
        vg_quantize_multiplier(real, &mult[j], &shift[j]);
    }
}

/* the fast int8 GEMM == the reference, bit for bit, on odd shapes, with both paths, both
 * rounding rules, every kind of multiplier, 1 and 2 threads and a row stride above k */
static void test_q8_gemm(void) {
    static const int shapes[][3] = {{1, 1, 1},   {1, 16, 4},   {3, 17, 5},    {8, 32, 96},
                                    {9, 33, 7},  {64, 24, 144}, {77, 70, 37}, {130, 160, 576},
                                    {5, 1001, 64}, {300, 16, 32}, {196, 96, 24}, {49, 48, 16}};
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(23);
    int runs = 0;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int kind = 0; kind < 3; kind++)
            for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
                int m = shapes[t][0], n = shapes[t][1], k = shapes[t][2], lda = k + (int)(t % 3) * 5;
                int8_t *a = malloc((size_t)m * lda + 64), *ac = malloc((size_t)m * k + 64), *b = malloc((size_t)n * k);
                int8_t *c0 = malloc((size_t)m * n), *c1 = malloc((size_t)m * n), *c2 = malloc((size_t)m * n);
                int32_t *bias = malloc(sizeof(int32_t) * (size_t)n), *mult = malloc(sizeof(int32_t) * (size_t)n);
                int32_t *shift = malloc(sizeof(int32_t) * (size_t)n);
                for (int i = 0; i < m * lda + 64; i++) a[i] = rnd8();
                for (int i = 0; i < m; i++) memcpy(ac + (size_t)i * k, a + (size_t)i * lda, (size_t)k);
                for (int i = 0; i < n * k; i++) b[i] = rnd8();
                /* large biases with the left shifts: products reach the int32 limits */
                float br = kind == 2 ? 1.0e9f : 30000;
                for (int j = 0; j < n; j++) bias[j] = (int32_t)vg_test_uniform(-br, br);
                fill_mults(n, kind, mult, shift);
                int32_t zp = t == 0 ? -128 : t == 1 ? 127 : (int32_t)vg_test_uniform(-128, 127);
                vg_q8_out q = {zp, (int32_t)vg_test_uniform(-20, 20), t % 2 ? -128 : -5, t % 3 ? 127 : 60,
                               mult, shift, rnd};
                const int32_t *bb = t % 4 == 2 ? NULL : bias;
                vg_matmul_q8_ref(m, n, k, ac, b, bb, &q, c0);
                CHECK(vg_q8_gemm(p1, m, n, k, a, lda, b, bb, &q, c1, n, true) &&
                          vg_q8_gemm(p2, m, n, k, a, lda, b, bb, &q, c2, n, true),
                      "int8 GEMM plan");
                int diff = 0;
                for (int i = 0; i < m * n; i++) diff += c1[i] != c0[i];
                CHECK(diff == 0, "int8 GEMM m%d n%d k%d mults %d rounding %d: %d outputs differ from the reference",
                      m, n, k, kind, rnd, diff);
                CHECK(memcmp(c1, c2, (size_t)m * n) == 0, "int8 GEMM m%d n%d k%d: 1 and 2 threads differ", m, n, k);
                /* the portable path as well */
                CHECK(vg_q8_gemm(p2, m, n, k, a, lda, b, bb, &q, c2, n, false), "portable plan");
                diff = 0;
                for (int i = 0; i < m * n; i++) diff += c2[i] != c0[i];
                CHECK(diff == 0, "portable int8 GEMM m%d n%d k%d: %d outputs differ", m, n, k, diff);
                free(a), free(ac), free(b), free(c0), free(c1), free(c2), free(bias), free(mult), free(shift);
                runs++;
            }
    CHECK(runs == 72, "%d GEMM cases", runs);
    vg_pool_free(p1);
    vg_pool_free(p2);
}

/* Every small accumulator (-384 .. 383) through the requantization of both rules, with
 * multipliers that make exact halves at every step (powers of two, 1/2) and others, all below
 * one half (the narrow epilogue) or not (the wide one), output zero points 0 and -7: the fast
 * and portable epilogues against the reference. Random data rarely lands on these cases (a
 * TFLite product just below -2^30, a tie after it). A GEMM with k = 1: accumulator = bias + a. */
static void test_q8_requant_edges(void) {
    enum { M = 256, N = 48 };
    static const double narrow[] = {0.25,   0.125, 0.0625, 1.0 / 32, 1.0 / 64, 1.0 / 1024, 0.3,
                                    0.4999, 0.0017, 0.2, 1.0 / 4096, 0.37, 0.011, 0.49};
    static const double all[] = {0.5, 0.25, 0.125, 0.0625, 1.0 / 32, 1.0 / 64, 1.0 / 1024,
                                 0.3, 0.7,  0.999, 1.5,    3.0,      0.0017,   0.75};
    int8_t a[M + 64], w[N], c0[M * N], c1[M * N];
    int32_t bias[N], mult[N], shift[N];
    for (int i = 0; i < M + 64; i++) a[i] = (int8_t)(i - 128);
    for (int set = 0; set < 2; set++) {
        const double *reals = set ? all : narrow;
        for (int j = 0; j < N; j++) {
            w[j] = 1;
            bias[j] = (j % 3 - 1) * 256; /* accumulators -384 .. -129, -128 .. 127, 128 .. 383 */
            vg_quantize_multiplier(reals[j % 14], &mult[j], &shift[j]);
        }
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++)
            for (int zp = 0; zp > -8; zp -= 7)
                for (int fast = 0; fast < 2; fast++) {
                    vg_q8_out q = {0, zp, -128, 127, mult, shift, rnd};
                    vg_matmul_q8_ref(M, N, 1, a, w, bias, &q, c0);
                    CHECK(vg_q8_gemm(NULL, M, N, 1, a, 1, w, bias, &q, c1, N, fast), "plan");
                    int diff = 0, f = 0;
                    for (int i = M * N - 1; i >= 0; i--)
                        if (c1[i] != c0[i]) diff++, f = i;
                    CHECK(diff == 0, "requantization (%s multipliers) rounding %d zp %d fast %d: %d outputs differ "
                          "(first: accumulator %d, multiplier %g: %d, reference %d)", set ? "all" : "narrow", rnd, zp,
                          fast, diff, bias[f % N] + a[f / N], reals[f % N % 14], c1[f], c0[f]);
                }
    }
}

/* regular convolution through the int8 im2col: stride 2 with TF "SAME" padding (the stem),
 * padding on every side, 5x5 */
static void test_q8_conv(void) {
    vg_q8_sel sel = vg_q8_select(vg_kernels_choice()); /* (after vg_q8_gemm_force) */
    static const vg_conv_desc cases[] = {
        {2, 17, 15, 3, 32, 3, 3, 2, 2, 0, 0, 9, 8},  {1, 10, 9, 5, 20, 3, 3, 1, 1, 1, 1, 10, 9},
        {1, 11, 12, 7, 9, 5, 5, 2, 2, 2, 1, 6, 6},   {1, 1, 1, 3, 16, 3, 3, 2, 2, 1, 1, 1, 1},
        {1, 23, 21, 3, 24, 3, 3, 2, 2, 1, 1, 12, 11}, /* tiles of 64 pixels end mid-row */
    };
    vg_pool *p2 = vg_pool_new(2);
    vg_test_seed(25);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            const vg_conv_desc *d = &cases[t];
            int patch = d->kh * d->kw * d->ci;
            size_t nx = (size_t)d->n * d->h * d->w * d->ci, nw = (size_t)d->co * patch;
            size_t ny = (size_t)d->n * d->ho * d->wo * d->co;
            int8_t *x = malloc(nx), *w = malloc(nw), *y0 = malloc(ny), *y1 = malloc(ny);
            int32_t *b = malloc(sizeof(int32_t) * (size_t)d->co), *mult = malloc(sizeof(int32_t) * (size_t)d->co);
            int32_t *shift = malloc(sizeof(int32_t) * (size_t)d->co);
            for (size_t i = 0; i < nx; i++) x[i] = rnd8();
            for (size_t i = 0; i < nw; i++) w[i] = rnd8();
            for (int c = 0; c < d->co; c++) b[c] = (int32_t)vg_test_uniform(-5000, 5000);
            fill_mults(d->co, (int)t % 3, mult, shift);
            vg_q8_out q = {(int32_t)vg_test_uniform(-128, 127), -7, -128, 127, mult, shift, rnd};
            vg_conv2d_q8_ref(d, x, w, b, &q, y0);
            for (int fast = 0; fast < 2; fast++) {
                vg_q8_gemm_plan p;
                CHECK(vg_q8_gemm_plan_init(&p, d->co, patch, w, b, &q, fast ? &sel : NULL), "plan");
                memset(y1, 0, ny);
                void *col = aligned_alloc(64, 2 * vg_q8_conv_scratch(&p));
                vg_q8_conv_run(p2, &p, d, x, col, y1);
                free(col);
                int diff = 0;
                for (size_t i = 0; i < ny; i++) diff += y1[i] != y0[i];
                CHECK(diff == 0, "int8 conv case %zu rounding %d fast %d: %d outputs differ", t, rnd, fast, diff);
                vg_q8_gemm_plan_free(&p);
            }
            free(x), free(w), free(y0), free(y1), free(b), free(mult), free(shift);
        }
    vg_pool_free(p2);
}

static void test_q8_dwconv(void) {
    static const vg_conv_desc cases[] = {
        {2, 12, 10, 32, 32, 3, 3, 1, 1, 1, 1, 12, 10}, {1, 13, 11, 19, 19, 3, 3, 2, 2, 0, 0, 7, 6},
        {1, 9, 8, 40, 40, 3, 3, 2, 2, 1, 1, 5, 4},     {1, 2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 2, 2},
        {1, 11, 7, 24, 24, 5, 5, 2, 2, 2, 2, 6, 4},    {3, 7, 7, 97, 97, 3, 3, 1, 1, 1, 1, 7, 7},
        {1, 1, 1, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1},     {2, 5, 17, 3, 3, 3, 3, 1, 2, 2, 0, 5, 9},
        {1, 6, 6, 33, 33, 3, 3, 3, 3, 1, 1, 2, 2},     {1, 8, 9, 20, 20, 7, 7, 1, 1, 3, 3, 8, 9},
        {1, 4, 4, 16, 16, 1, 1, 1, 1, 0, 0, 4, 4},     {1, 9, 9, 8, 8, 3, 3, 4, 4, 1, 1, 3, 3},
        {1, 30, 3, 48, 48, 3, 3, 1, 1, 1, 1, 30, 3},   {1, 3, 30, 17, 17, 3, 3, 2, 2, 1, 1, 2, 15},
    };
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(24);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            const vg_conv_desc *d = &cases[t];
            size_t nx = (size_t)d->n * d->h * d->w * d->ci, nw = (size_t)d->kh * d->kw * d->ci;
            size_t ny = (size_t)d->n * d->ho * d->wo * d->ci;
            int8_t *x = malloc(nx + 64), *w = malloc(nw), *y0 = malloc(ny), *y1 = malloc(ny), *y2 = malloc(ny);
            int32_t *b = malloc(sizeof(int32_t) * (size_t)d->ci), *mult = malloc(sizeof(int32_t) * (size_t)d->ci);
            int32_t *shift = malloc(sizeof(int32_t) * (size_t)d->ci);
            for (size_t i = 0; i < nx; i++) x[i] = rnd8();
            for (size_t i = 0; i < nw; i++) w[i] = rnd8();
            for (int c = 0; c < d->ci; c++) b[c] = (int32_t)vg_test_uniform(-5000, 5000);
            fill_mults(d->ci, (int)t % 3, mult, shift);
            int32_t zp = t == 1 ? -128 : t == 2 ? 127 : (int32_t)vg_test_uniform(-128, 127);
            vg_q8_out q = {zp, 3, t % 4 == 1 ? 3 : -128, t % 2 ? 100 : 127, mult, shift, rnd};
            const int32_t *bb = t == 3 ? NULL : b;
            vg_dwconv_q8_ref(d, x, w, bb, &q, y0);
            CHECK(vg_q8_dwconv(p1, d, x, w, bb, &q, y1, true) && vg_q8_dwconv(p2, d, x, w, bb, &q, y2, false),
                  "depthwise plans");
            int d1 = 0, d2 = 0;
            for (size_t i = 0; i < ny; i++) d1 += y1[i] != y0[i], d2 += y2[i] != y0[i];
            CHECK(d1 == 0, "int8 depthwise case %zu rounding %d: %d outputs differ from the reference", t, rnd, d1);
            CHECK(d2 == 0, "portable int8 depthwise case %zu (2 threads): %d outputs differ", t, d2);
            CHECK(vg_q8_dwconv(p2, d, x, w, bb, &q, y2, true), "depthwise plan");
            CHECK(memcmp(y1, y2, ny) == 0, "int8 depthwise case %zu: 1 and 2 threads differ", t);
            free(x), free(w), free(y0), free(y1), free(y2), free(b), free(mult), free(shift);
        }
    vg_pool_free(p1);
    vg_pool_free(p2);
}

/* the fused pointwise + depthwise == the two reference layers: channels not multiples of 16,
 * strides 1 and 2, padding on every side, one row, batches, 1 and 2 threads, both rules */
static void test_q8_pwdw(void) {
    vg_q8_sel sel = vg_q8_select(vg_kernels_choice()); /* (after vg_q8_gemm_force) */
    static const struct {
        int k;
        vg_conv_desc d; /* the depthwise, on the pointwise output (d.ci channels) */
    } cases[] = {
        {16, {1, 12, 11, 96, 96, 3, 3, 2, 2, 0, 0, 6, 6}},  {24, {2, 9, 10, 40, 40, 3, 3, 1, 1, 1, 1, 9, 10}},
        {13, {1, 7, 5, 19, 19, 3, 3, 1, 1, 1, 1, 7, 5}},    {32, {1, 1, 1, 33, 33, 3, 3, 1, 1, 1, 1, 1, 1}},
        {8, {1, 20, 6, 160, 160, 3, 3, 1, 1, 1, 1, 20, 6}}, {40, {3, 8, 9, 272, 272, 5, 5, 2, 2, 2, 1, 4, 5}},
    };
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(28);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int rnd = 0; rnd < VG_Q8_ROUND_COUNT_; rnd++) {
            int k = cases[t].k;
            vg_conv_desc d = cases[t].d;
            int C = d.ci;
            size_t npix = (size_t)d.n * d.h * d.w, ny = (size_t)d.n * d.ho * d.wo * C;
            int8_t *x = malloc(npix * k + 64), *w1 = malloc((size_t)C * k), *w2 = malloc((size_t)d.kh * d.kw * C);
            int8_t *mid = malloc(npix * C), *y0 = malloc(ny), *y1 = malloc(ny), *y2 = malloc(ny);
            int32_t *b1 = malloc(sizeof(int32_t) * C), *b2 = malloc(sizeof(int32_t) * C);
            int32_t *m1 = malloc(sizeof(int32_t) * C), *s1 = malloc(sizeof(int32_t) * C);
            int32_t *m2 = malloc(sizeof(int32_t) * C), *s2 = malloc(sizeof(int32_t) * C);
            for (size_t i = 0; i < npix * k + 64; i++) x[i] = rnd8();
            for (int i = 0; i < C * k; i++) w1[i] = rnd8();
            for (int i = 0; i < d.kh * d.kw * C; i++) w2[i] = rnd8();
            for (int c = 0; c < C; c++) b1[c] = (int32_t)vg_test_uniform(-9000, 9000), b2[c] = (int32_t)vg_test_uniform(-9000, 9000);
            fill_mults(C, 0, m1, s1);
            fill_mults(C, (int)t % 2, m2, s2);
            int32_t mid_zp = t == 2 ? -128 : (int32_t)vg_test_uniform(-128, 0);
            vg_q8_out q1 = {(int32_t)vg_test_uniform(-128, 127), mid_zp, mid_zp, 127, m1, s1, rnd};
            vg_q8_out q2 = {mid_zp, (int32_t)vg_test_uniform(-10, 10), -128, t % 2 ? 90 : 127, m2, s2, rnd};
            vg_matmul_q8_ref((int)npix, C, k, x, w1, b1, &q1, mid);
            vg_dwconv_q8_ref(&d, mid, w2, b2, &q2, y0);
            vg_q8_gemm_plan pw;
            vg_q8_dw_plan dw;
            CHECK(vg_q8_gemm_plan_init(&pw, C, k, w1, b1, &q1, &sel) && vg_q8_dw_plan_init(&dw, &d, w2, b2, &q2, &sel),
                  "plans");
            if (vg_q8_pwdw_fusable(&pw, &dw)) {
                void *scratch = aligned_alloc(64, 2 * vg_q8_dw_scratch(&dw));
                vg_q8_pwdw_run(p1, &pw, &dw, d.n, x, y1, scratch);
                vg_q8_pwdw_run(p2, &pw, &dw, d.n, x, y2, scratch);
                int d1 = 0, d2 = 0;
                for (size_t i = 0; i < ny; i++) d1 += y1[i] != y0[i], d2 += y2[i] != y0[i];
                CHECK(d1 == 0 && d2 == 0, "fused pointwise + depthwise case %zu rounding %d: %d / %d outputs differ "
                      "(1 / 2 threads)", t, rnd, d1, d2);
                free(scratch);
            } else {
                CHECK(!vg_q8_fast_available(), "fast plans not fusable");
            }
            vg_q8_gemm_plan_free(&pw);
            vg_q8_dw_plan_free(&dw);
            free(x), free(w1), free(w2), free(mid), free(y0), free(y1), free(y2);
            free(b1), free(b2), free(m1), free(s1), free(m2), free(s2);
        }
    vg_pool_free(p1);
    vg_pool_free(p2);
}

/* residual add: every pair of inputs (and an odd tail past the add's pieces), scales equal
 * (multiplier exactly 1/2) or not, activations */
static void test_q8_add(void) {
    vg_q8_sel sel = vg_q8_select(vg_kernels_choice()); /* (after vg_q8_gemm_force) */
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(26);
    size_t n = 65536 + 11;
    int8_t *a = malloc(n), *b = malloc(n), *y0 = malloc(n), *y1 = malloc(n), *y2 = malloc(n);
    for (size_t i = 0; i < n; i++) a[i] = (int8_t)(i & 255), b[i] = (int8_t)((i >> 8) & 255);
    for (int t = 0; t < 6; t++) {
        vg_qparam pa = {vg_test_uniform(0.01f, 0.3f), (int32_t)vg_test_uniform(-128, 127)};
        vg_qparam pb = {t == 0 ? pa.scale : vg_test_uniform(0.01f, 0.3f), (int32_t)vg_test_uniform(-128, 127)};
        vg_qparam po = {vg_test_uniform(0.02f, 0.5f), (int32_t)vg_test_uniform(-128, 127)};
        if (t == 5) pa.zp = -128, pb.zp = 127, po.scale = 0.004f; /* extremes, saturating output */
        vg_add_q8 ap;
        vg_add_q8_prepare(pa, pb, po, t % 3, &ap);
        vg_add_q8_ref(n, a, b, &ap, y0);
        vg_q8_add(p1, n, a, b, &ap, y1, &sel);
        vg_q8_add(p2, n, a, b, &ap, y2, &sel);
        int d1 = 0, d2 = 0;
        for (size_t i = 0; i < n; i++) d1 += y1[i] != y0[i], d2 += y2[i] != y0[i];
        CHECK(d1 == 0 && d2 == 0, "int8 add case %d: %d / %d outputs differ (1 / 2 threads)", t, d1, d2);
        vg_q8_add(p2, n, a, b, &ap, y2, false); /* every pair of input bytes */
        d2 = 0;
        for (size_t i = 0; i < n; i++) d2 += y2[i] != y0[i];
        CHECK(d2 == 0, "portable int8 add case %d: %d outputs differ", t, d2);
    }
    free(a), free(b), free(y0), free(y1), free(y2);
    vg_pool_free(p1);
    vg_pool_free(p2);
}

/* input quantization: exact halves (round away from zero), values next to them, NaN,
 * infinities, saturation; global average pool */
static void test_q8_quantize_gap(void) {
    vg_q8_sel sel = vg_q8_select(vg_kernels_choice()); /* (after vg_q8_gemm_force) */
    vg_test_seed(27);
    enum { N = 70001 }; /* more than two pieces of the threaded quantization */
    float *x = malloc(sizeof(float) * N);
    int8_t *y0 = malloc(N), *y1 = malloc(N);
    vg_qparam qs[3] = {{0.0625f, 3}, {1.0f / 127.5f, -1}, {1.0f, -128}};
    for (int t = 0; t < 3; t++) {
        vg_qparam q = qs[t];
        for (int i = 0; i < N; i++) {
            float k = (float)(int)vg_test_uniform(-140, 140);
            switch (i % 6) {
            case 0: x[i] = (k + 0.5f) * q.scale; break;
            case 1: x[i] = nextafterf((k + 0.5f) * q.scale, 0.0f); break;
            case 2: x[i] = nextafterf((k + 0.5f) * q.scale, 1e9f); break;
            default: x[i] = vg_test_uniform(-200, 200) * q.scale;
            }
        }
        x[0] = NAN, x[1] = INFINITY, x[2] = -INFINITY, x[3] = 1e30f, x[4] = -0.0f, x[5] = 0.49999997f;
        for (int i = 0; i < N; i++) y0[i] = vg_quantize1(x[i], q);
        vg_pool *p2 = vg_pool_new(2);
        vg_q8_quantize(p2, N, x, q, y1, &sel);
        vg_pool_free(p2);
        int diff = 0;
        for (int i = 0; i < N; i++) diff += y1[i] != y0[i];
        CHECK(diff == 0, "int8 quantize case %d: %d of %d values differ", t, diff, N);
    }
    int c = 1287, hw = 49;
    int8_t *g = malloc((size_t)2 * hw * c), *g0 = malloc((size_t)2 * c), *g1 = malloc((size_t)2 * c);
    for (int i = 0; i < 2 * hw * c; i++) g[i] = rnd8();
    vg_qparam in = {0.05f, -9}, out = {0.02f, 4};
    vg_gap_q8_ref(2, hw, c, g, in, out, g0);
    vg_q8_gap(2, hw, c, g, in, out, g1);
    CHECK(memcmp(g0, g1, (size_t)2 * c) == 0, "int8 global average pool differs from the reference");
    free(x), free(y0), free(y1), free(g), free(g0), free(g1);
}

void test_quant(void) {
    test_fixed_point();
    test_kernels();
    /* the int8 kernels in every GEMM family this CPU runs; then back to the automatic choice */
    int runs = 0;
    for (int isa = 0; isa < VG_Q8_ISA_COUNT_; isa++) {
        if (!vg_q8_gemm_force(isa)) continue;
        printf("  int8 GEMM kernels: %s\n", vg_q8_isa_name(isa));
        test_q8_gemm();
        test_q8_requant_edges();
        test_q8_conv();
        test_q8_dwconv(); /* its portable path requantizes with the family's vector epilogue */
        runs++;
    }
    vg_q8_gemm_force(-1);
    printf("  int8 GEMM kernels chosen: %s\n", vg_q8_isa_name(vg_q8_gemm_isa()));
    CHECK(runs >= 2 || vg_q8_gemm_isa() == VG_Q8_PORTABLE, "only %d int8 GEMM kernel families tested", runs);
    test_q8_pwdw();
    test_q8_add();
    test_q8_quantize_gap();
}
