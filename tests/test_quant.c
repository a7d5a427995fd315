/* test_quant.c — int8 arithmetic and the reference int8 kernels. The fixed-point helpers are
 * checked on hand-computed cases (TFLite's rounding) and against double arithmetic; each
 * kernel against a float computation of the same quantized values: the integer result may
 * differ from round(float result) by at most one step (rounding of the fixed-point
 * multiplier and of intermediate requantizations). */
#include "test.h"

#include "cpu/q8_gemm.h"
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
    vg_q8_out q = {in.zp, out.zp, lo, hi, mult, shift};
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

/* the fast int8 GEMM == the reference, bit for bit, on odd shapes, with both paths */
static void test_q8_gemm(void) {
    static const int shapes[][3] = {{1, 1, 1},   {1, 16, 4},   {3, 17, 5},    {8, 32, 96},
                                    {9, 33, 7},  {64, 24, 144}, {77, 70, 37}, {130, 160, 576},
                                    {5, 1001, 64}, {300, 16, 32}};
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(23);
    printf("  int8 GEMM fast kernel: %s\n", vg_q8_fast_available() ? "AVX-512 VNNI" : "portable");
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
        int8_t *a = malloc((size_t)m * k + 64), *b = malloc((size_t)n * k);
        int8_t *c0 = malloc((size_t)m * n), *c1 = malloc((size_t)m * n), *c2 = malloc((size_t)m * n);
        int32_t *bias = malloc(sizeof(int32_t) * (size_t)n), *mult = malloc(sizeof(int32_t) * (size_t)n);
        int32_t *shift = malloc(sizeof(int32_t) * (size_t)n);
        for (int i = 0; i < m * k + 64; i++) a[i] = rnd8();
        for (int i = 0; i < n * k; i++) b[i] = rnd8();
        for (int j = 0; j < n; j++) {
            bias[j] = (int32_t)vg_test_uniform(-30000, 30000);
            /* mostly small multipliers, some above 1 (positive shift) */
            double real = j % 7 == 3 ? vg_test_uniform(1.0f, 3.0f) : exp(vg_test_uniform(-12, -2));
            vg_quantize_multiplier(real, &mult[j], &shift[j]);
        }
        int32_t zp = t == 0 ? -128 : t == 1 ? 127 : (int32_t)vg_test_uniform(-128, 127);
        vg_q8_out q = {zp, (int32_t)vg_test_uniform(-20, 20), t % 2 ? -128 : -5, t % 3 ? 127 : 60,
                       mult, shift};
        vg_matmul_q8_ref(m, n, k, a, b, t % 4 == 2 ? NULL : bias, &q, c0);
        vg_q8_packed pk;
        CHECK(vg_q8_pack(n, k, b, &pk), "pack");
        vg_q8_gemm(p1, m, a, k, &pk, t % 4 == 2 ? NULL : bias, &q, c1, n);
        vg_q8_gemm(p2, m, a, k, &pk, t % 4 == 2 ? NULL : bias, &q, c2, n);
        int diff = 0;
        for (int i = 0; i < m * n; i++) diff += c1[i] != c0[i];
        CHECK(diff == 0, "int8 GEMM m%d n%d k%d: %d outputs differ from the reference", m, n, k, diff);
        CHECK(memcmp(c1, c2, (size_t)m * n) == 0, "int8 GEMM m%d n%d k%d: 1 and 2 threads differ", m, n, k);
        /* the portable path as well */
        vg_q8_gemm_ex(p2, m, a, k, &pk, t % 4 == 2 ? NULL : bias, &q, c2, n, false);
        diff = 0;
        for (int i = 0; i < m * n; i++) diff += c2[i] != c0[i];
        CHECK(diff == 0, "portable int8 GEMM m%d n%d k%d: %d outputs differ", m, n, k, diff);
        vg_q8_packed_free(&pk);
        free(a), free(b), free(c0), free(c1), free(c2), free(bias), free(mult), free(shift);
    }
    vg_pool_free(p1);
    vg_pool_free(p2);
}

static void test_q8_dwconv(void) {
    static const vg_conv_desc cases[] = {
        {2, 12, 10, 32, 32, 3, 3, 1, 1, 1, 1, 12, 10}, {1, 13, 11, 19, 19, 3, 3, 2, 2, 0, 0, 7, 6},
        {1, 9, 8, 40, 40, 3, 3, 2, 2, 1, 1, 5, 4},     {1, 2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 2, 2},
        {1, 11, 7, 24, 24, 5, 5, 2, 2, 2, 2, 6, 4},    {3, 7, 7, 97, 97, 3, 3, 1, 1, 1, 1, 7, 7},
    };
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_test_seed(24);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const vg_conv_desc *d = &cases[t];
        size_t nx = (size_t)d->n * d->h * d->w * d->ci, nw = (size_t)d->kh * d->kw * d->ci;
        size_t ny = (size_t)d->n * d->ho * d->wo * d->ci;
        int8_t *x = malloc(nx + 64), *w = malloc(nw), *y0 = malloc(ny), *y1 = malloc(ny), *y2 = malloc(ny);
        int32_t *b = malloc(sizeof(int32_t) * (size_t)d->ci), *mult = malloc(sizeof(int32_t) * (size_t)d->ci);
        int32_t *shift = malloc(sizeof(int32_t) * (size_t)d->ci);
        for (size_t i = 0; i < nx; i++) x[i] = rnd8();
        for (size_t i = 0; i < nw; i++) w[i] = rnd8();
        for (int c = 0; c < d->ci; c++) {
            b[c] = (int32_t)vg_test_uniform(-5000, 5000);
            vg_quantize_multiplier(exp(vg_test_uniform(-10, -3)), &mult[c], &shift[c]);
        }
        vg_q8_out q = {(int32_t)vg_test_uniform(-128, 127), 3, -128, t % 2 ? 100 : 127, mult, shift};
        const int32_t *bb = t == 3 ? NULL : b;
        vg_dwconv_q8_ref(d, x, w, bb, &q, y0);
        vg_q8_dwconv(p1, d, x, w, bb, &q, y1);
        vg_q8_dwconv_ex(p2, d, x, w, bb, &q, y2, false);
        int d1 = 0, d2 = 0;
        for (size_t i = 0; i < ny; i++) d1 += y1[i] != y0[i], d2 += y2[i] != y0[i];
        CHECK(d1 == 0, "int8 depthwise case %zu: %d outputs differ from the reference", t, d1);
        CHECK(d2 == 0, "portable int8 depthwise case %zu (2 threads): %d outputs differ", t, d2);
        vg_q8_dwconv(p2, d, x, w, bb, &q, y2);
        CHECK(memcmp(y1, y2, ny) == 0, "int8 depthwise case %zu: 1 and 2 threads differ", t);
        free(x), free(w), free(y0), free(y1), free(y2), free(b), free(mult), free(shift);
    }
    vg_pool_free(p1);
    vg_pool_free(p2);
}

void test_quant(void) {
    test_fixed_point();
    test_kernels();
    test_q8_gemm();
    test_q8_dwconv();
}
