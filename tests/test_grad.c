/* test_grad.c — backward reference kernels against central finite differences computed in
 * double precision. Each op's forward is written again here in double (independently of the
 * float kernels); the scalar loss is sum(y * r) for a fixed random r, so dL/dy = r. Every
 * analytic gradient element (or 60 sampled ones for large tensors) must match
 *   (L(p + h) - L(p - h)) / 2h,  h = 1e-5,
 * within 1e-4 relative to max(|numeric|, 1e-2): the float backward carries ~1e-6 relative
 * rounding, the double differences ~1e-9. Inputs near an activation kink are resampled. */
#include "test.h"

#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#define FD_H 1e-5
#define FD_TOL 1e-4

typedef double (*loss_fn)(void *ctx); /* evaluates the double forward loss */

/* Compares analytic gradient g (float, n) of parameter p (double, n, perturbed in place). */
static void fd_check(const char *what, double *p, const float *g, size_t n, loss_fn f,
                     void *ctx) {
    int bad = 0;
    double worst = 0;
    size_t stride = n > 60 ? n / 60 : 1;
    for (size_t i = 0; i < n; i += stride) {
        double keep = p[i];
        p[i] = keep + FD_H;
        double lp = f(ctx);
        p[i] = keep - FD_H;
        double lm = f(ctx);
        p[i] = keep;
        double num = (lp - lm) / (2 * FD_H);
        double err = fabs(num - g[i]) / fmax(fabs(num), 1e-2);
        if (err > worst) worst = err;
        if (!(err <= FD_TOL)) {
            if (bad < 3) printf("  %s[%zu]: analytic %.8g numeric %.8g\n", what, i, g[i], num);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d gradient elements off (worst rel err %.3g)", what, bad, worst);
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---- convolution (regular or depthwise) + activation */

typedef struct {
    vg_conv_desc d;
    bool depthwise;
    vg_act act;
    double *x, *w, *b, *r;
} conv_ctx;

static double conv_loss(void *vctx) {
    conv_ctx *c = vctx;
    const vg_conv_desc *d = &c->d;
    double L = 0;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int co = 0; co < d->co; co++) {
                    double acc = c->b[co];
                    for (int ky = 0; ky < d->kh; ky++)
                        for (int kx = 0; kx < d->kw; kx++) {
                            int iy = oy * d->sh - d->pt + ky, ix = ox * d->sw - d->pl + kx;
                            if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                            const double *xp = c->x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                            if (c->depthwise)
                                acc += xp[co] * c->w[(ky * d->kw + kx) * d->co + co];
                            else
                                for (int ci = 0; ci < d->ci; ci++)
                                    acc += xp[ci] * c->w[((co * d->kh + ky) * d->kw + kx) * d->ci + ci];
                        }
                    if (c->act != VG_ACT_NONE) acc = acc < 0 ? 0 : acc;
                    if (c->act == VG_ACT_RELU6 && acc > 6) acc = 6;
                    L += acc * c->r[(((size_t)n * d->ho + oy) * d->wo + ox) * d->co + co];
                }
    return L;
}

static void check_conv(const char *name, vg_conv_desc d, bool depthwise, vg_act act) {
    if (depthwise) d.co = d.ci;
    size_t nx = (size_t)d.n * d.h * d.w * d.ci;
    size_t nw = depthwise ? (size_t)d.kh * d.kw * d.ci : (size_t)d.co * d.kh * d.kw * d.ci;
    size_t ny = (size_t)d.n * d.ho * d.wo * d.co;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)d.co * 4);
    float *r = malloc(ny * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4);
    float *dx = malloc(nx * 4), *dw = calloc(nw, 4), *db = calloc((size_t)d.co, 4);
    /* resample until no pre-activation sits within 1e-3 of a kink (0 or 6) */
    for (int tries = 0; tries < 100; tries++) {
        vg_test_fill(x, nx, -1, 1);
        vg_test_fill(w, nw, -1, 1);
        vg_test_fill(b, (size_t)d.co, -0.5f, 3);
        if (depthwise) vg_dwconv_ref(&d, x, w, b, VG_ACT_NONE, y);
        else vg_conv2d_ref(&d, x, w, b, VG_ACT_NONE, y);
        bool near = false;
        for (size_t i = 0; i < ny && act != VG_ACT_NONE; i++)
            near |= fabsf(y[i]) < 1e-3f || fabsf(y[i] - 6) < 1e-3f;
        if (!near) break;
    }
    vg_test_fill(r, ny, -1, 1);
    if (depthwise) vg_dwconv_ref(&d, x, w, b, act, y);
    else vg_conv2d_ref(&d, x, w, b, act, y);
    memcpy(dy, r, ny * 4);
    vg_act_bwd_ref(act, ny, y, dy);
    if (depthwise) vg_dwconv_bwd_ref(&d, x, w, dy, dx, dw, db);
    else vg_conv2d_bwd_ref(&d, x, w, dy, dx, dw, db);
    conv_ctx c = {d, depthwise, act, to_double(x, nx), to_double(w, nw), to_double(b, (size_t)d.co),
                  to_double(r, ny)};
    char what[96];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, c.x, dx, nx, conv_loss, &c);
    snprintf(what, sizeof what, "%s dw", name);
    fd_check(what, c.w, dw, nw, conv_loss, &c);
    snprintf(what, sizeof what, "%s db", name);
    fd_check(what, c.b, db, (size_t)d.co, conv_loss, &c);
    free(c.x), free(c.w), free(c.b), free(c.r);
    free(x), free(w), free(b), free(r), free(y), free(dy), free(dx), free(dw), free(db);
}

/* ---- matmul (pointwise / fc) */

typedef struct {
    int m, n, k;
    double *a, *b, *bias, *r;
} mm_ctx;

static double mm_loss(void *vctx) {
    mm_ctx *c = vctx;
    double L = 0;
    for (int i = 0; i < c->m; i++)
        for (int j = 0; j < c->n; j++) {
            double acc = c->bias[j];
            for (int p = 0; p < c->k; p++) acc += c->a[i * c->k + p] * c->b[j * c->k + p];
            L += acc * c->r[i * c->n + j];
        }
    return L;
}

static void check_matmul(int m, int n, int k) {
    float *a = malloc((size_t)m * k * 4), *b = malloc((size_t)n * k * 4), *bias = malloc((size_t)n * 4);
    float *r = malloc((size_t)m * n * 4), *da = malloc((size_t)m * k * 4);
    float *db = calloc((size_t)n * k, 4), *dbias = calloc((size_t)n, 4);
    vg_test_fill(a, (size_t)m * k, -1, 1);
    vg_test_fill(b, (size_t)n * k, -1, 1);
    vg_test_fill(bias, (size_t)n, -1, 1);
    vg_test_fill(r, (size_t)m * n, -1, 1);
    vg_matmul_bwd_ref(m, n, k, a, b, r, da, db, dbias);
    mm_ctx c = {m, n, k, to_double(a, (size_t)m * k), to_double(b, (size_t)n * k),
                to_double(bias, (size_t)n), to_double(r, (size_t)m * n)};
    fd_check("matmul da", c.a, da, (size_t)m * k, mm_loss, &c);
    fd_check("matmul db", c.b, db, (size_t)n * k, mm_loss, &c);
    fd_check("matmul dbias", c.bias, dbias, (size_t)n, mm_loss, &c);
    free(c.a), free(c.b), free(c.bias), free(c.r);
    free(a), free(b), free(bias), free(r), free(da), free(db), free(dbias);
}

/* ---- global average pool */

typedef struct {
    int n, hw, c;
    double *x, *r;
} gap_ctx;

static double gap_loss(void *vctx) {
    gap_ctx *g = vctx;
    double L = 0;
    for (int b = 0; b < g->n; b++)
        for (int ch = 0; ch < g->c; ch++) {
            double s = 0;
            for (int i = 0; i < g->hw; i++) s += g->x[((size_t)b * g->hw + i) * g->c + ch];
            L += s / g->hw * g->r[b * g->c + ch];
        }
    return L;
}

static void check_gap(void) {
    int n = 2, hw = 7, c = 5;
    float x[70], r[10], dx[70];
    vg_test_fill(x, 70, -1, 1);
    vg_test_fill(r, 10, -1, 1);
    vg_gap_bwd_ref(n, hw, c, r, dx);
    gap_ctx g = {n, hw, c, to_double(x, 70), to_double(r, 10)};
    fd_check("gap dx", g.x, dx, 70, gap_loss, &g);
    free(g.x), free(g.r);
}

/* ---- training-mode batch-norm */

typedef struct {
    size_t p;
    int c;
    double *x, *gamma, *beta, *r;
    double eps;
} bn_ctx;

static double bn_loss(void *vctx) {
    bn_ctx *b = vctx;
    double L = 0;
    for (int ch = 0; ch < b->c; ch++) {
        double mu = 0, var = 0;
        for (size_t i = 0; i < b->p; i++) mu += b->x[i * b->c + ch];
        mu /= (double)b->p;
        for (size_t i = 0; i < b->p; i++) var += (b->x[i * b->c + ch] - mu) * (b->x[i * b->c + ch] - mu);
        var /= (double)b->p;
        for (size_t i = 0; i < b->p; i++) {
            double y = b->gamma[ch] * (b->x[i * b->c + ch] - mu) / sqrt(var + b->eps) + b->beta[ch];
            L += y * b->r[i * b->c + ch];
        }
    }
    return L;
}

static void check_bn(void) {
    enum { P = 13, C = 6 };
    float x[P * C], gamma[C], beta[C], r[P * C], y[P * C], mean[C], invstd[C], dx[P * C];
    float dgamma[C] = {0}, dbeta[C] = {0}, rm[C] = {0}, rv[C];
    vg_test_fill(x, P * C, -2, 3);
    vg_test_fill(gamma, C, 0.5f, 1.5f);
    vg_test_fill(beta, C, -0.5f, 0.5f);
    vg_test_fill(r, P * C, -1, 1);
    for (int i = 0; i < C; i++) rv[i] = 1;
    vg_batchnorm_train_ref(P, C, x, gamma, beta, 1e-3f, 0.1f, rm, rv, y, mean, invstd);
    vg_batchnorm_train_bwd_ref(P, C, x, gamma, mean, invstd, r, dx, dgamma, dbeta);
    bn_ctx b = {P, C, to_double(x, P * C), to_double(gamma, C), to_double(beta, C),
                to_double(r, P * C), 1e-3f};
    fd_check("bn dx", b.x, dx, P * C, bn_loss, &b);
    fd_check("bn dgamma", b.gamma, dgamma, C, bn_loss, &b);
    fd_check("bn dbeta", b.beta, dbeta, C, bn_loss, &b);
    /* running statistics: momentum 0.1 from (0, 1) with the unbiased variance */
    double mu = 0, ss = 0;
    for (int i = 0; i < P; i++) mu += x[i * C];
    mu /= P;
    for (int i = 0; i < P; i++) ss += (x[i * C] - mu) * (x[i * C] - mu);
    CHECK_NEAR(rm[0], 0.1 * mu, 1e-6, "running mean");
    CHECK_NEAR(rv[0], 0.9 + 0.1 * ss / (P - 1), 1e-6, "running var");
    free(b.x), free(b.gamma), free(b.beta), free(b.r);
}

/* ---- softmax cross-entropy with class weights and label smoothing */

typedef struct {
    int n, c;
    double *z;
    const int *y;
    const float *w;
    double eps;
} xent_ctx;

static double xent_loss(void *vctx) {
    xent_ctx *x = vctx;
    double L = 0, ws = 0;
    for (int i = 0; i < x->n; i++) {
        const double *z = x->z + (size_t)i * x->c;
        double mx = z[0], se = 0;
        for (int j = 1; j < x->c; j++) mx = fmax(mx, z[j]);
        for (int j = 0; j < x->c; j++) se += exp(z[j] - mx);
        for (int j = 0; j < x->c; j++) {
            double t = x->eps * x->w[j] / x->c + (j == x->y[i] ? (1 - x->eps) * x->w[j] : 0);
            L -= t * (z[j] - mx - log(se));
        }
        ws += x->w[x->y[i]];
    }
    return L / ws;
}

static void check_xent(void) {
    enum { N = 5, C = 3 };
    float z[N * C], dz[N * C], w[C] = {0.7f, 2.0f, 1.3f};
    int y[N] = {0, 2, 1, 1, 0};
    vg_test_fill(z, N * C, -3, 3);
    float L = vg_softmax_xent_ref(N, C, z, y, w, 0.1f, dz);
    xent_ctx x = {N, C, to_double(z, N * C), y, w, 0.1f};
    CHECK_NEAR(L, xent_loss(&x), 1e-6, "cross-entropy value");
    fd_check("xent dlogits", x.z, dz, N * C, xent_loss, &x);
    /* plain: no weights, no smoothing */
    float L0 = vg_softmax_xent_ref(N, C, z, y, NULL, 0.0f, dz);
    float ones[C] = {1, 1, 1};
    xent_ctx x0 = {N, C, x.z, y, ones, 0.0};
    CHECK_NEAR(L0, xent_loss(&x0), 1e-6, "plain cross-entropy value");
    fd_check("plain xent dlogits", x0.z, dz, N * C, xent_loss, &x0);
    free(x.z);
}

typedef struct {
    int n, c;
    double *z;
    const float *t, *w;
} soft_ctx;

static double soft_loss(void *vctx) {
    soft_ctx *x = vctx;
    double L = 0, ws = 0;
    for (int i = 0; i < x->n; i++) {
        const double *z = x->z + (size_t)i * x->c;
        double mx = z[0], se = 0;
        for (int j = 1; j < x->c; j++) mx = fmax(mx, z[j]);
        for (int j = 0; j < x->c; j++) se += exp(z[j] - mx);
        for (int j = 0; j < x->c; j++) L -= x->w[i] * x->t[i * x->c + j] * (z[j] - mx - log(se));
        ws += x->w[i];
    }
    return L / ws;
}

static void check_soft_xent(void) {
    enum { N = 4, C = 3 };
    float z[N * C], dz[N * C], w[N] = {1.0f, 0.4f, 2.5f, 1.2f};
    float t[N * C] = {0.7f, 0.3f, 0, 0, 0, 1, 0.25f, 0.25f, 0.5f, 0.1f, 0.8f, 0.1f};
    vg_test_fill(z, N * C, -3, 3);
    float L = vg_softmax_xent_soft_ref(N, C, z, t, w, dz);
    soft_ctx x = {N, C, to_double(z, N * C), t, w};
    CHECK_NEAR(L, soft_loss(&x), 1e-6, "soft cross-entropy value");
    fd_check("soft xent dlogits", x.z, dz, N * C, soft_loss, &x);
    /* one-hot targets and unit weights give the plain cross-entropy */
    float oh[N * C] = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1};
    int y[N] = {0, 2, 1, 2};
    CHECK_NEAR(vg_softmax_xent_soft_ref(N, C, z, oh, NULL, NULL),
               vg_softmax_xent_ref(N, C, z, y, NULL, 0.0f, NULL), 1e-6, "one-hot soft == hard");
    free(x.z);
}

typedef struct {
    int n, hw, c;
    double *x, *r;
} gmax_ctx;

static double gmax_loss(void *vctx) {
    gmax_ctx *g = vctx;
    double L = 0;
    for (int b = 0; b < g->n; b++)
        for (int ch = 0; ch < g->c; ch++) {
            double m = g->x[(size_t)b * g->hw * g->c + ch];
            for (int i = 1; i < g->hw; i++) m = fmax(m, g->x[((size_t)b * g->hw + i) * g->c + ch]);
            L += m * g->r[b * g->c + ch];
        }
    return L;
}

static void check_gmax(void) {
    enum { NB = 2, HW = 6, C = 4 };
    float x[NB * HW * C], r[NB * C], dx[NB * HW * C];
    /* distinct values (no ties within FD_H of each other) */
    for (int i = 0; i < NB * HW * C; i++) x[i] = (float)((i * 37) % 101) / 25.0f - 2.0f;
    vg_test_fill(r, NB * C, -1, 1);
    vg_gmax_bwd_ref(NB, HW, C, x, r, dx);
    gmax_ctx g = {NB, HW, C, to_double(x, NB * HW * C), to_double(r, NB * C)};
    fd_check("gmax dx", g.x, dx, NB * HW * C, gmax_loss, &g);
    float y[NB * C];
    vg_gmax_ref(NB, HW, C, x, y);
    double worst = 0;
    for (int b = 0; b < NB; b++)
        for (int ch = 0; ch < C; ch++) {
            float m = -1e30f;
            /* explicit compare, not fmaxf: gcc-12's aarch64 vectoriser ICEs on
             * fmax/fmaxf reductions here (vect_transform_reduction) */
            for (int i = 0; i < HW; i++)
                if (x[(b * HW + i) * C + ch] > m) m = x[(b * HW + i) * C + ch];
            double e = fabs(m - y[b * C + ch]);
            if (e > worst) worst = e;
        }
    CHECK(worst == 0, "gmax forward");
    free(g.x), free(g.r);
}

void test_grad(void) {
    vg_test_seed(11);
    vg_conv_desc d1 = {2, 5, 4, 3, 7, 3, 3, 2, 2, 0, 0, 2, 2};  /* SAME-like stride 2 */
    vg_conv_desc d2 = {1, 4, 5, 6, 5, 3, 3, 1, 1, 1, 1, 4, 5};  /* symmetric pad 1 */
    vg_conv_desc d3 = {2, 3, 3, 5, 4, 1, 1, 1, 1, 0, 0, 3, 3};  /* pointwise */
    vg_conv_desc d4 = {1, 7, 6, 4, 4, 5, 3, 2, 1, 2, 1, 4, 6};  /* non-square kernel/stride */
    check_conv("conv s2", d1, false, VG_ACT_NONE);
    check_conv("conv s1 relu6", d2, false, VG_ACT_RELU6);
    check_conv("conv 1x1 relu", d3, false, VG_ACT_RELU);
    check_conv("conv 5x3", d4, false, VG_ACT_RELU6);
    check_conv("dwconv s2", d1, true, VG_ACT_RELU6);
    check_conv("dwconv s1", d2, true, VG_ACT_NONE);
    check_conv("dwconv 5x3", d4, true, VG_ACT_RELU6);
    check_matmul(7, 5, 9);
    check_matmul(1, 3, 13);
    check_gap();
    check_bn();
    check_xent();
    check_soft_xent();
    check_gmax();
}
