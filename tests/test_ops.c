/* test_ops.c — the reference kernels on odd shapes (1x1, non-square, stride 2, channel counts
 * that are not multiples of 8), each against an independent formulation: hand-computed
 * values, a double-precision re-derivation written differently (explicitly zero-padded
 * input), or another kernel with an equivalent meaning (depthwise = dense conv with a
 * block-diagonal filter, pointwise = 1x1 conv). Then every kernel table against the
 * reference table. Tolerance 1e-5 relative: float32 sums of <= 1000 terms of O(1) values. */
#include "test.h"

#include "cpu/backend.h"
#include "core/pool.h"
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#define OPS_TOL 1e-5

/* conv in double on an explicitly zero-padded copy of the input (no bounds tests inside) */
static void conv_double(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                        bool depthwise, double *y) {
    int ph = (d->ho - 1) * d->sh + d->kh, pw = (d->wo - 1) * d->sw + d->kw;
    double *xp = calloc((size_t)d->n * ph * pw * d->ci, sizeof(double));
    for (int n = 0; n < d->n; n++)
        for (int iy = 0; iy < d->h; iy++)
            for (int ix = 0; ix < d->w; ix++)
                for (int c = 0; c < d->ci; c++) {
                    int py = iy + d->pt, px = ix + d->pl;
                    if (py < ph && px < pw)
                        xp[(((size_t)n * ph + py) * pw + px) * d->ci + c] =
                            x[(((size_t)n * d->h + iy) * d->w + ix) * d->ci + c];
                }
    for (int n = 0; n < d->n; n++)
        for (int co = 0; co < d->co; co++)
            for (int oy = 0; oy < d->ho; oy++)
                for (int ox = 0; ox < d->wo; ox++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ky = 0; ky < d->kh; ky++)
                        for (int kx = 0; kx < d->kw; kx++) {
                            const double *px =
                                xp + (((size_t)n * ph + oy * d->sh + ky) * pw + ox * d->sw + kx) *
                                         d->ci;
                            if (depthwise)
                                acc += px[co] * w[(ky * d->kw + kx) * d->co + co];
                            else
                                for (int ci = 0; ci < d->ci; ci++)
                                    acc += px[ci] * w[((co * d->kh + ky) * d->kw + kx) * d->ci + ci];
                        }
                    y[(((size_t)n * d->ho + oy) * d->wo + ox) * d->co + co] = acc;
                }
    free(xp);
}

static double max_rel_vs_double(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1.0);
        if (r > m || isnan(r)) m = isnan(r) ? INFINITY : r;
    }
    return m;
}

typedef struct {
    int n, h, w, ci, co, kh, kw, s, pt, pl, pb, pr;
} conv_case;

static vg_conv_desc desc_of(const conv_case *c) {
    vg_conv_desc d = {c->n, c->h, c->w, c->ci, c->co, c->kh, c->kw, c->s, c->s, c->pt, c->pl,
                      (c->h + c->pt + c->pb - c->kh) / c->s + 1,
                      (c->w + c->pl + c->pr - c->kw) / c->s + 1};
    return d;
}

static const conv_case conv_cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* 1x1 everything */
    {2, 7, 5, 3, 13, 3, 3, 2, 1, 1, 1, 1},   /* non-square, stride 2, symmetric pad */
    {1, 8, 8, 3, 10, 3, 3, 2, 0, 0, 1, 1},   /* TF SAME on even input: pad after only */
    {1, 9, 6, 5, 7, 3, 3, 1, 1, 1, 1, 1},    /* stride 1 same-size */
    {3, 4, 11, 17, 9, 1, 1, 1, 0, 0, 0, 0},  /* pointwise, odd channels */
    {1, 6, 9, 2, 3, 5, 3, 2, 2, 1, 2, 1},    /* non-square kernel */
    {1, 3, 3, 4, 6, 3, 3, 1, 0, 0, 0, 0},    /* valid, 1x1 output */
    {1, 41, 37, 3, 32, 3, 3, 2, 0, 0, 1, 1}, /* the stem, smaller: rows over several tasks */
};

static void test_conv_cases(void) {
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
        vg_conv_desc d = desc_of(&conv_cases[t]);
        size_t nx = (size_t)d.n * d.h * d.w * d.ci, nw = (size_t)d.co * d.kh * d.kw * d.ci;
        size_t ny = (size_t)d.n * d.ho * d.wo * d.co;
        /* the bias serves the depthwise variant too, whose channel count is ci */
        size_t nb = (size_t)(d.co > d.ci ? d.co : d.ci);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(nb * 4);
        float *y = malloc(ny * 4);
        double *yd = malloc(ny * 8);
        vg_test_seed(t + 1);
        vg_test_fill(x, nx, -1, 1);
        vg_test_fill(w, nw, -1, 1);
        vg_test_fill(b, nb, -1, 1);
        vg_conv2d_ref(&d, x, w, b, VG_ACT_NONE, y);
        conv_double(&d, x, w, b, false, yd);
        double e = max_rel_vs_double(y, yd, ny);
        CHECK(e < OPS_TOL, "conv case %zu (%dx%dx%d -> %dx%dx%d, k%dx%d s%d): rel err %.3g", t,
              d.h, d.w, d.ci, d.ho, d.wo, d.co, d.kh, d.kw, d.sh, e);

        /* ReLU6 fused == ReLU6 applied after */
        float *y6 = malloc(ny * 4);
        vg_conv2d_ref(&d, x, w, b, VG_ACT_RELU6, y6);
        int bad = 0;
        for (size_t i = 0; i < ny; i++) bad += y6[i] != vg_act_apply1(VG_ACT_RELU6, y[i]);
        CHECK(bad == 0, "conv case %zu: fused relu6 differs at %d places", t, bad);

        /* depthwise == dense conv with a block-diagonal filter (needs co == ci) */
        vg_conv_desc dd = d;
        dd.co = dd.ci;
        size_t ndy = (size_t)d.n * d.ho * d.wo * d.ci;
        float *wd = malloc((size_t)d.kh * d.kw * d.ci * 4);
        float *wfull = calloc((size_t)d.ci * d.kh * d.kw * d.ci, 4);
        float *yd1 = malloc(ndy * 4), *yd2 = malloc(ndy * 4);
        double *ydd = malloc(ndy * 8);
        vg_test_fill(wd, (size_t)d.kh * d.kw * d.ci, -1, 1);
        for (int c = 0; c < d.ci; c++)
            for (int k = 0; k < d.kh * d.kw; k++)
                wfull[((size_t)c * d.kh * d.kw + k) * d.ci + c] = wd[(size_t)k * d.ci + c];
        vg_dwconv_ref(&dd, x, wd, b, VG_ACT_NONE, yd1);
        vg_conv2d_ref(&dd, x, wfull, b, VG_ACT_NONE, yd2);
        conv_double(&dd, x, wd, b, true, ydd);
        CHECK(vg_test_max_rel_err(yd1, yd2, ndy, 1.0, NULL) < OPS_TOL,
              "depthwise case %zu differs from block-diagonal conv", t);
        CHECK(max_rel_vs_double(yd1, ydd, ndy) < OPS_TOL, "depthwise case %zu vs double", t);

        /* pointwise as matmul == 1x1 conv */
        if (d.kh == 1 && d.kw == 1 && d.sh == 1 && d.pt == 0 && d.pl == 0) {
            float *ym = malloc(ny * 4);
            vg_matmul_ref(d.n * d.h * d.w, d.co, d.ci, x, w, b, VG_ACT_NONE, ym);
            CHECK(vg_test_max_rel_err(ym, y, ny, 1.0, NULL) < OPS_TOL,
                  "case %zu: matmul differs from 1x1 conv", t);
            free(ym);
        }
        free(x), free(w), free(b), free(y), free(yd), free(y6), free(wd), free(wfull);
        free(yd1), free(yd2), free(ydd);
    }
}

/* TF SAME by hand: 4x4 ones, 3x3 ones, stride 2 -> pad 0 before, 1 after -> [9 6; 6 4] */
static void test_same_by_hand(void) {
    int o, pb, pa;
    vg_same_padding(4, 3, 2, &o, &pb, &pa);
    CHECK(o == 2 && pb == 0 && pa == 1, "same(4,3,2): out %d pad %d/%d", o, pb, pa);
    vg_same_padding(224, 3, 2, &o, &pb, &pa);
    CHECK(o == 112 && pb == 0 && pa == 1, "same(224,3,2): out %d pad %d/%d", o, pb, pa);
    vg_same_padding(7, 3, 1, &o, &pb, &pa);
    CHECK(o == 7 && pb == 1 && pa == 1, "same(7,3,1): out %d pad %d/%d", o, pb, pa);
    vg_same_padding(5, 1, 2, &o, &pb, &pa);
    CHECK(o == 3 && pb == 0 && pa == 0, "same(5,1,2): out %d pad %d/%d", o, pb, pa);
    float x[16], w[9], y[4];
    for (int i = 0; i < 16; i++) x[i] = 1;
    for (int i = 0; i < 9; i++) w[i] = 1;
    vg_conv_desc d = {1, 4, 4, 1, 1, 3, 3, 2, 2, 0, 0, 2, 2};
    vg_conv2d_ref(&d, x, w, NULL, VG_ACT_NONE, y);
    CHECK(y[0] == 9 && y[1] == 6 && y[2] == 6 && y[3] == 4, "SAME by hand: %g %g %g %g", y[0],
          y[1], y[2], y[3]);
    vg_dwconv_ref(&d, x, w, NULL, VG_ACT_NONE, y);
    CHECK(y[0] == 9 && y[1] == 6 && y[2] == 6 && y[3] == 4, "dw SAME by hand: %g %g %g %g",
          y[0], y[1], y[2], y[3]);
}

static void test_small_ops(void) {
    /* activations */
    float a[6] = {-2, -0.0f, 0.5f, 6, 7, 1e30f}, r[6];
    vg_relu_ref(6, a, r);
    CHECK(r[0] == 0 && r[2] == 0.5f && r[4] == 7 && r[5] == 1e30f, "relu");
    vg_relu6_ref(6, a, r);
    CHECK(r[0] == 0 && r[2] == 0.5f && r[3] == 6 && r[4] == 6 && r[5] == 6, "relu6");
    /* PyTorch's hard-swish and hard-sigmoid, and sigmoid, against the formulas in double,
     * across their bends at -3 and 3 */
    for (int i = 0; i <= 80; i++) {
        double v = -5 + i * 0.125, r6 = fmin(fmax(v + 3, 0), 6);
        CHECK_NEAR(vg_act_apply1(VG_ACT_HSWISH, (float)v), v * r6 / 6, 1e-6, "hardswish(%g)", v);
        CHECK_NEAR(vg_act_apply1(VG_ACT_HSIGMOID, (float)v), r6 / 6, 1e-7, "hardsigmoid(%g)", v);
        CHECK_NEAR(vg_act_apply1(VG_ACT_SIGMOID, (float)v), 1 / (1 + exp(-v)), 1e-7, "sigmoid(%g)",
                   v);
    }
    CHECK(vg_act_apply1(VG_ACT_SIGMOID, -200) == 0 && vg_act_apply1(VG_ACT_SIGMOID, 200) == 1,
          "sigmoid saturates without NaN");
    /* their backward from the output, against central differences of the forward */
    static const float at[] = {-3.5f, -2.5f, -0.7f, 0.3f, 2.2f, 3.6f};
    for (int ai = VG_ACT_HSIGMOID; ai <= VG_ACT_SIGMOID; ai++)
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            float y = vg_act_apply1((vg_act)ai, at[i]), dy = 1;
            vg_act_bwd_ref((vg_act)ai, 1, &y, &dy);
            double fd = (vg_act_apply1((vg_act)ai, at[i] + 1e-3f) -
                         vg_act_apply1((vg_act)ai, at[i] - 1e-3f)) /
                        2e-3;
            CHECK_NEAR(dy, fd, 1e-3, "%s' at %g", vg_act_name((vg_act)ai), (double)at[i]);
        }
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) { /* hard-swish's, from its input */
        float dy = 1;
        vg_hswish_bwd_ref(1, &at[i], &dy);
        double fd = (vg_act_apply1(VG_ACT_HSWISH, at[i] + 1e-3f) -
                     vg_act_apply1(VG_ACT_HSWISH, at[i] - 1e-3f)) /
                    2e-3;
        CHECK_NEAR(dy, fd, 1e-3, "hardswish' at %g", (double)at[i]);
    }
    /* product: per channel (n = 2 images of 2 pixels, 3 channels) and same shape, with an
     * activation, in place */
    float ma[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, mb[6] = {2, 0, -1, 0.5f, 1, 3};
    vg_mul_ref(2, 2, 3, ma, mb, true, VG_ACT_NONE, ma);
    CHECK(ma[0] == 2 && ma[1] == 0 && ma[2] == -3 && ma[3] == 8 && ma[5] == -6 && ma[6] == -0.5f &&
              ma[7] == -2 && ma[8] == -9 && ma[11] == -18,
          "mul per channel");
    float mc[3] = {1, -2, 3}, md[3] = {4, 5, -6};
    vg_mul_ref(1, 1, 3, mc, md, false, VG_ACT_RELU, mc);
    CHECK(mc[0] == 4 && mc[1] == 0 && mc[2] == 0, "mul relu: %g %g %g", mc[0], mc[1], mc[2]);
    /* add with activation, in place */
    float p[3] = {1, -3, 5}, q[3] = {2, 1, 4};
    vg_add_ref(3, p, q, VG_ACT_RELU6, p);
    CHECK(p[0] == 3 && p[1] == 0 && p[2] == 6, "add relu6 in place: %g %g %g", p[0], p[1], p[2]);
    /* global average pool: n=2, hw=3, c=2 */
    float g[12] = {1, 10, 2, 20, 3, 30, -1, 0, -2, 0, -3, 3}, gy[4];
    vg_gap_ref(2, 3, 2, g, gy);
    CHECK(gy[0] == 2 && gy[1] == 20 && gy[2] == -2 && gy[3] == 1, "gap: %g %g %g %g", gy[0],
          gy[1], gy[2], gy[3]);
    /* the backend's pool: the same sums in the same order, so the same bits; channel counts
     * around its 256-channel blocks, 7x7 and 1-pixel images */
    static const int gap_shapes[][3] = {{2, 49, 1287}, {1, 49, 1280}, {3, 1, 5}, {1, 7, 256}};
    for (size_t t = 0; t < sizeof gap_shapes / sizeof gap_shapes[0]; t++) {
        int gn = gap_shapes[t][0], ghw = gap_shapes[t][1], gc = gap_shapes[t][2];
        size_t nx = (size_t)gn * ghw * gc;
        float *gx = malloc(nx * 4), *g0 = malloc((size_t)gn * gc * 4), *g1 = malloc((size_t)gn * gc * 4);
        vg_test_seed(20 + t);
        vg_test_fill(gx, nx, -3, 5);
        vg_gap_ref(gn, ghw, gc, gx, g0);
        vg_cpu_gap(gn, ghw, gc, gx, g1);
        CHECK(memcmp(g0, g1, (size_t)gn * gc * 4) == 0, "vg_cpu_gap n%d hw%d c%d differs from "
              "vg_gap_ref", gn, ghw, gc);
        free(gx), free(g0), free(g1);
    }
    /* batch-norm against the formula in double, odd channel count, in place */
    enum { P = 5, C = 3 };
    float x[P * C], gam[C] = {1.5f, -0.5f, 2}, bet[C] = {0.1f, 0.2f, -0.3f};
    float mu[C] = {0.5f, -1, 0}, var[C] = {0.25f, 4, 1e-3f};
    vg_test_seed(7);
    vg_test_fill(x, P * C, -2, 2);
    float xc[P * C];
    memcpy(xc, x, sizeof x);
    vg_batchnorm_ref(P, C, x, gam, bet, mu, var, 1e-3f, VG_ACT_NONE, x);
    double worst = 0;
    for (int i = 0; i < P * C; i++) {
        int c = i % C;
        double ref = gam[c] * (xc[i] - mu[c]) / sqrt((double)var[c] + 1e-3) + bet[c];
        worst = fmax(worst, fabs(x[i] - ref) / fmax(fabs(ref), 1));
    }
    CHECK(worst < OPS_TOL, "batchnorm rel err %.3g", worst);
    /* fully connected: n=2, ci=3, co=2 by hand */
    float fx[6] = {1, 2, 3, -1, 0, 1}, fw[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, fb[2] = {10, 0};
    float fy[4];
    vg_fc_ref(2, 3, 2, fx, fw, fb, VG_ACT_NONE, fy);
    CHECK(fy[0] == 8 && fy[1] == 3 && fy[2] == 8 && fy[3] == 0, "fc: %g %g %g %g", fy[0], fy[1],
          fy[2], fy[3]);
    /* softmax: known values, shift invariance, no overflow at 1000 */
    float s[3] = {0, log(2.0f), log(5.0f)}, sy[3];
    vg_softmax_ref(1, 3, s, sy);
    CHECK_NEAR(sy[0], 0.125, 1e-6, "softmax[0]");
    CHECK_NEAR(sy[1], 0.25, 1e-6, "softmax[1]");
    CHECK_NEAR(sy[2], 0.625, 1e-6, "softmax[2]");
    float big[4] = {1000, 1001, -1000, 1000}, by[4];
    vg_softmax_ref(2, 2, big, by);
    CHECK(isfinite(by[0]) && fabsf(by[0] + by[1] - 1) < 1e-6f && by[1] > by[0], "softmax 1000");
    CHECK(by[2] == 0.0f && by[3] == 1.0f, "softmax -1000/1000: %g %g", by[2], by[3]);
}

/* Every kernel table this CPU supports against the reference on the conv cases (plus MobileNet-
 * like depthwise shapes with interior columns, channel tails of 1..15 lanes), through the
 * vg_cpu context with 1, 2 and 3 threads, which must agree bit for bit (convolutions: the
 * whole-image im2col with 1 thread, the implicit one inside the GEMM with 2 and 3). Tolerance 1e-5 relative
 * to max(|ref|, 1): the same sums as the reference in another order / with fused multiply-add
 * (at most a few hundred terms here). */
static const conv_case dw_cases[] = {
    {2, 12, 10, 32, 32, 3, 3, 1, 1, 1, 1, 1},  /* stride 1, interior + borders */
    {1, 13, 11, 19, 19, 3, 3, 2, 0, 0, 1, 1},  /* TF SAME stride 2, 16 + 3 lanes */
    {1, 9, 8, 40, 40, 3, 3, 2, 1, 1, 1, 1},    /* symmetric stride 2 */
    {1, 2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1},      /* image smaller than the kernel's span */
    {1, 11, 7, 24, 24, 5, 5, 2, 2, 2, 2, 2},   /* 5x5 */
};

static void compare_tables_on(const vg_conv_desc *dref, size_t t, bool conv) {
    vg_conv_desc d = *dref;
    if (!conv) d.co = d.ci;
    size_t nx = (size_t)d.n * d.h * d.w * d.ci;
    size_t nw = conv ? (size_t)d.co * d.kh * d.kw * d.ci : (size_t)d.kh * d.kw * d.ci;
    size_t ny = (size_t)d.n * d.ho * d.wo * d.co;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)d.co * 4);
    float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4);
    vg_test_seed(100 + t);
    /* wide enough ranges that ReLU6 clamps at both ends: a kernel with the upper clamp missing
     * or swapped must fail (checked below) */
    vg_test_fill(x, nx, -4, 4);
    vg_test_fill(w, nw, -1.5f, 1.5f);
    vg_test_fill(b, (size_t)d.co, -2, 4);
    const vg_kernels *const *tables = vg_kernels_all();
    for (int k = 0; tables[k]; k++) {
        vg_cpu *c1 = vg_cpu_new(tables[k], 1), *c2 = vg_cpu_new(tables[k], 2);
        vg_cpu *c3 = vg_cpu_new(tables[k], 3);
        vg_cpu_reserve(c1, vg_cpu_conv2d_scratch(&d));
        vg_cpu_reserve(c2, vg_cpu_conv2d_scratch(&d));
        for (int act = 0; act <= 2; act++) {
            const float *bb = act == 1 ? NULL : b;
            if (conv) {
                vg_conv2d_ref(&d, x, w, bb, (vg_act)act, y0);
                /* one context packs at each call, the other uses pre-packed weights */
                float *wp = vg_cpu_pack_weights(c2, d.co, d.kh * d.kw * d.ci, w);
                vg_cpu_conv2d(c1, &d, x, w, NULL, bb, (vg_act)act, y1);
                vg_cpu_conv2d(c2, &d, x, w, wp, bb, (vg_act)act, y2);
                vg_cpu_conv2d(c3, &d, x, w, wp, bb, (vg_act)act, y3);
                free(wp);
            } else {
                vg_dwconv_ref(&d, x, w, bb, (vg_act)act, y0);
                vg_cpu_dwconv(c1, &d, x, w, bb, (vg_act)act, y1);
                vg_cpu_dwconv(c2, &d, x, w, bb, (vg_act)act, y2);
                vg_cpu_dwconv(c3, &d, x, w, bb, (vg_act)act, y3);
            }
            if (act == VG_ACT_RELU6 && ny >= 16) {
                size_t at6 = 0, at0 = 0;
                for (size_t i = 0; i < ny; i++) at6 += y0[i] == 6.0f, at0 += y0[i] == 0.0f;
                CHECK(at6 > 0 && at0 > 0, "%s case %zu: test data never reaches the ReLU6 clamps "
                      "(%zu at 6, %zu at 0)", conv ? "conv2d" : "dwconv", t, at6, at0);
            }
            size_t wi;
            double e = vg_test_max_rel_err(y1, y0, ny, 1.0, &wi);
            CHECK(e < OPS_TOL, "%s %s case %zu act %d: rel err %.3g at %zu (%g vs %g)",
                  tables[k]->name, conv ? "conv2d" : "dwconv", t, act, e, wi, y1[wi], y0[wi]);
            CHECK(memcmp(y1, y2, ny * 4) == 0,
                  "%s %s case %zu: 1 thread (packing per call) and 2 (pre-packed) differ",
                  tables[k]->name, conv ? "conv2d" : "dwconv", t);
            CHECK(memcmp(y1, y3, ny * 4) == 0, "%s %s case %zu: 1 thread and 3 differ",
                  tables[k]->name, conv ? "conv2d" : "dwconv", t);
        }
        if (conv && d.kh == 1 && d.kw == 1) { /* the matmul path */
            size_t nm = (size_t)d.n * d.h * d.w * d.co;
            float *m0 = malloc(nm * 4), *m1 = malloc(nm * 4);
            vg_matmul_ref(d.n * d.h * d.w, d.co, d.ci, x, w, b, VG_ACT_RELU6, m0);
            float *wp = vg_cpu_pack_weights(c2, d.co, d.ci, w);
            vg_cpu_matmul(c2, d.n * d.h * d.w, d.co, d.ci, x, w, wp, b, VG_ACT_RELU6, m1);
            free(wp);
            CHECK(vg_test_max_rel_err(m1, m0, nm, 1.0, NULL) < OPS_TOL, "%s matmul case %zu",
                  tables[k]->name, t);
            free(m0), free(m1);
        }
        vg_cpu_free(c1);
        vg_cpu_free(c2);
        vg_cpu_free(c3);
    }
    free(x), free(w), free(b), free(y0), free(y1), free(y2), free(y3);
}

/* depthwise backward of every table against vg_dwconv_bwd_ref; 1 and 2 threads identical;
 * dw and db accumulate onto what is there */
static void compare_dw_backward(const vg_conv_desc *dref, size_t t) {
    vg_conv_desc d = *dref;
    d.co = d.ci;
    size_t nx = (size_t)d.n * d.h * d.w * d.ci, nw = (size_t)d.kh * d.kw * d.ci;
    size_t ny = (size_t)d.n * d.ho * d.wo * d.ci;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4);
    float *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4);
    float *dw0 = malloc(nw * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
    float *db0 = malloc((size_t)d.ci * 4), *db1 = malloc((size_t)d.ci * 4), *db2 = malloc((size_t)d.ci * 4);
    vg_test_seed(300 + t);
    vg_test_fill(x, nx, -1, 1);
    vg_test_fill(w, nw, -1, 1);
    vg_test_fill(dy, ny, -1, 1);
    const vg_kernels *const *tables = vg_kernels_all();
    for (int k = 0; tables[k]; k++) {
        vg_cpu *c1 = vg_cpu_new(tables[k], 1), *c2 = vg_cpu_new(tables[k], 2);
        for (size_t i = 0; i < nw; i++) dw0[i] = dw1[i] = dw2[i] = 0.25f;
        for (int i = 0; i < d.ci; i++) db0[i] = db1[i] = db2[i] = -0.5f;
        vg_dwconv_bwd_ref(&d, x, w, dy, dx0, dw0, db0);
        vg_cpu_dwconv_bwd(c1, &d, x, w, dy, dx1, dw1, db1);
        vg_cpu_dwconv_bwd(c2, &d, x, w, dy, dx2, dw2, db2);
        CHECK(vg_test_max_rel_err(dx1, dx0, nx, 1.0, NULL) < OPS_TOL, "%s dw-backward dx case %zu",
              tables[k]->name, t);
        CHECK(vg_test_max_rel_err(dw1, dw0, nw, 1.0, NULL) < OPS_TOL, "%s dw-backward dw case %zu",
              tables[k]->name, t);
        CHECK(vg_test_max_rel_err(db1, db0, (size_t)d.ci, 1.0, NULL) < OPS_TOL,
              "%s dw-backward db case %zu", tables[k]->name, t);
        CHECK(memcmp(dx1, dx2, nx * 4) == 0 && memcmp(dw1, dw2, nw * 4) == 0 &&
                  memcmp(db1, db2, (size_t)d.ci * 4) == 0,
              "%s dw-backward case %zu: 1 and 2 threads differ", tables[k]->name, t);
        vg_cpu_free(c1);
        vg_cpu_free(c2);
    }
    free(x), free(w), free(dy), free(dx0), free(dx1), free(dx2), free(dw0), free(dw1), free(dw2);
    free(db0), free(db1), free(db2);
}

/* A convolution whose patch (k = 360) spans two of the GEMM's K blocks, the second starting
 * inside a patch row: the implicit im2col (pre-packed weights, 2 and 3 threads) gives the bits
 * of the whole-image one (1 thread), and both are within the classical bound of a float sum
 * of k + 1 terms, (k + 2) 2^-24 sum |terms|, of the exact result (the fixed OPS_TOL is meant for
 * a few hundred terms of moderate size). */
static void test_conv_kblocks(void) {
    const conv_case cc = {2, 9, 7, 40, 20, 3, 3, 1, 1, 1, 1, 1};
    vg_conv_desc d = desc_of(&cc);
    int k = d.kh * d.kw * d.ci;
    size_t nx = (size_t)d.n * d.h * d.w * d.ci, nw = (size_t)d.co * k, ny = (size_t)d.n * d.ho * d.wo * d.co;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)d.co * 4);
    float *ax = malloc(nx * 4), *aw = malloc(nw * 4), *ab = malloc((size_t)d.co * 4);
    float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4);
    double *yd = malloc(ny * 8), *mag = malloc(ny * 8);
    vg_test_seed(77);
    vg_test_fill(x, nx, -4, 4);
    vg_test_fill(w, nw, -1.5f, 1.5f);
    vg_test_fill(b, (size_t)d.co, -2, 4);
    for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
    for (int i = 0; i < d.co; i++) ab[i] = fabsf(b[i]);
    conv_double(&d, x, w, b, false, yd);
    conv_double(&d, ax, aw, ab, false, mag);
    const vg_kernels *const *tables = vg_kernels_all();
    for (int t = 0; tables[t]; t++) {
        if (!tables[t]->uk) continue;
        vg_cpu *c1 = vg_cpu_new(tables[t], 1), *c2 = vg_cpu_new(tables[t], 2);
        vg_cpu *c3 = vg_cpu_new(tables[t], 3);
        vg_cpu_reserve(c1, vg_cpu_conv2d_scratch(&d));
        float *wp = vg_cpu_pack_weights(c2, d.co, k, w);
        vg_cpu_conv2d(c1, &d, x, w, NULL, b, VG_ACT_NONE, y1);
        vg_cpu_conv2d(c2, &d, x, w, wp, b, VG_ACT_NONE, y2);
        vg_cpu_conv2d(c3, &d, x, w, wp, b, VG_ACT_NONE, y3);
        int bad = 0;
        for (size_t i = 0; i < ny; i++)
            bad += !(fabs(y1[i] - yd[i]) <= (k + 2) * ldexp(1.0, -24) * mag[i]);
        CHECK(bad == 0, "%s conv k%d: %d outputs beyond the bound", tables[t]->name, k, bad);
        CHECK(memcmp(y1, y2, ny * 4) == 0 && memcmp(y1, y3, ny * 4) == 0,
              "%s conv k%d: implicit im2col (2, 3 threads) differs from the whole-image one",
              tables[t]->name, k);
        free(wp);
        vg_cpu_free(c1), vg_cpu_free(c2), vg_cpu_free(c3);
    }
    free(x), free(w), free(b), free(ax), free(aw), free(ab), free(y1), free(y2), free(y3);
    free(yd), free(mag);
}

static void test_tables(void) {
    const vg_kernels *const *tables = vg_kernels_all();
    printf("  kernel tables:");
    for (int k = 0; tables[k]; k++) printf(" %s", tables[k]->name);
    printf(" (best: %s)\n", vg_kernels_best()->name);
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
        vg_conv_desc d = desc_of(&conv_cases[t]);
        compare_tables_on(&d, t, true);
        compare_tables_on(&d, t, false);
    }
    for (size_t t = 0; t < sizeof dw_cases / sizeof dw_cases[0]; t++) {
        vg_conv_desc d = desc_of(&dw_cases[t]);
        compare_tables_on(&d, 100 + t, false);
        compare_dw_backward(&d, t);
    }
    test_conv_kblocks();
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
        vg_conv_desc d = desc_of(&conv_cases[t]);
        compare_dw_backward(&d, 50 + t);
    }
}

void test_ops(void) {
    test_same_by_hand();
    test_conv_cases();
    test_small_ops();
    test_tables();
}
