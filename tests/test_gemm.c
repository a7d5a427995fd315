/* test_gemm.c — the blocked GEMM with every micro-kernel this CPU runs, against the product
 * computed in double: all four transpose combinations, tails in M, N and K, K beyond one
 * block, accumulation, the bias + activation epilogue, 1 and 2 threads (which must agree bit
 * for bit); the pre-packed path (A in place or gathered block by block) with 1, 2 and 3
 * threads, which must give vg_gemm's bits. vg_gemm_ref (float) is held to the same bound.
 *
 * Tolerance: the classical bound for a float sum of k+2 terms in any order,
 *   |computed - exact| <= (k + 2) * 2^-24 * (sum |a b| + |c_old| + |bias|),
 * per element. A wrong index or a lost tile gives errors of the size of the terms themselves,
 * far above it. */
#include "test.h"

#include "cpu/gemm.h"

#include <stdlib.h>
#include <string.h>

static bool cpu_has(const char *name) {
#if defined(__x86_64__)
    if (strcmp(name, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)name;
    return true;
}

/* exact (double) result and its error bound; act is monotonic and 1-Lipschitz, so the bound
 * before the activation holds after it */
static void exact(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b,
                  int ldb, const float *cold, bool acc, const float *bias, vg_act act, double *x,
                  double *bound) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double t = (double)(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                           (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
                s += t;
                mag += fabs(t);
            }
            if (acc) s += cold[(size_t)i * n + j], mag += fabs(cold[(size_t)i * n + j]);
            if (bias) s += bias[j], mag += fabs(bias[j]);
            if (act != VG_ACT_NONE) s = s < 0 ? 0 : (act == VG_ACT_RELU6 && s > 6 ? 6 : s);
            x[(size_t)i * n + j] = s;
            bound[(size_t)i * n + j] = (k + 2) * ldexp(1.0, -24) * mag;
        }
}

/* number of elements outside the bound; the worst excess ratio in *worst */
static int outside(const float *c, const double *x, const double *bound, size_t n, double *worst) {
    int bad = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(c[i] - x[i]);
        if (!(e <= bound[i])) bad++;
        if (bound[i] > 0 && e / bound[i] > *worst) *worst = e / bound[i];
    }
    return bad;
}

static void one_case(const vg_ukernel *uk, vg_pool *p1, vg_pool *p2, vg_gemm_ws *ws, int m, int n,
                     int k, bool ta, bool tb, bool acc, bool use_bias, vg_act act) {
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = malloc(na * 4 + 4), *b = malloc(nb * 4 + 4), *bias = malloc((size_t)n * 4);
    float *c0 = malloc(nc * 4 + 4), *c1 = malloc(nc * 4 + 4), *c2 = malloc(nc * 4 + 4);
    vg_test_fill(a, na, -1, 1);
    vg_test_fill(b, nb, -1, 1);
    vg_test_fill(bias, (size_t)n, -1, 1);
    vg_test_fill(c0, nc, -1, 1);
    memcpy(c1, c0, nc * 4);
    memcpy(c2, c0, nc * 4);
    int lda = ta ? m : k, ldb = tb ? k : n;
    double *x = malloc(nc * 8 + 8), *bound = malloc(nc * 8 + 8);
    exact(ta, tb, m, n, k, a, lda, b, ldb, c0, acc, use_bias ? bias : NULL, act, x, bound);
    vg_gemm_epi epi = {use_bias ? bias : NULL, act, acc};
    vg_gemm(uk, p1, ws, ta, tb, m, n, k, a, lda, b, ldb, c1, n, &epi);
    vg_gemm(uk, p2, ws, ta, tb, m, n, k, a, lda, b, ldb, c2, n, &epi);
    double worst;
    int bad = outside(c1, x, bound, nc, &worst);
    CHECK(bad == 0, "%s m%d n%d k%d ta%d tb%d acc%d bias%d act%d: %d elements beyond the bound "
          "(worst %.2fx)", uk->name, m, n, k, ta, tb, acc, use_bias, act, bad, worst);
    CHECK(memcmp(c1, c2, nc * 4) == 0, "%s m%d n%d k%d: 1 and 2 threads differ", uk->name, m, n, k);
    /* the float reference obeys the same bound (without the epilogue it does not have) */
    if (!use_bias && act == VG_ACT_NONE) {
        vg_gemm_ref(ta, tb, m, n, k, a, lda, b, ldb, acc, c0, n);
        bad = outside(c0, x, bound, nc, &worst);
        CHECK(bad == 0, "vg_gemm_ref m%d n%d k%d: %d elements beyond the bound", m, n, k, bad);
    }
    free(x), free(bound);
    free(a), free(b), free(bias), free(c0), free(c1), free(c2);
}

/* A handed over block by block (vg_gemm_packed_gather): a plain copy of the block */
typedef struct {
    const float *a;
    int lda;
} rows_src;

static void copy_block(const void *ctx, int i0, int mc, int pc, int kc, float *dst) {
    const rows_src *src = ctx;
    for (int i = 0; i < mc; i++)
        memcpy(dst + (size_t)i * kc, src->a + (size_t)(i0 + i) * src->lda + pc, sizeof(float) * kc);
}

/* Pre-packed B, A in place and gathered, with 1, 2 and 3 threads: within the bound, and the
 * same bits as vg_gemm (B (n, k), one thread) in every variant. */
static void packed_case(const vg_ukernel *uk, vg_pool *const *pools, vg_gemm_ws *ws, int m, int n,
                        int k, bool use_bias, vg_act act) {
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = malloc(na * 4 + 4), *b = malloc(nb * 4 + 4), *bias = malloc((size_t)n * 4);
    float *c0 = malloc(nc * 4 + 4), *c1 = malloc(nc * 4 + 4);
    float *bp = aligned_alloc(64, (vg_gemm_packed_floats(uk, n, k) * 4 + 63) / 64 * 64);
    double *x = malloc(nc * 8 + 8), *bound = malloc(nc * 8 + 8);
    vg_test_fill(a, na, -1, 1);
    vg_test_fill(b, nb, -1, 1);
    vg_test_fill(bias, (size_t)n, -1, 1);
    exact(false, true, m, n, k, a, k, b, k, NULL, false, use_bias ? bias : NULL, act, x, bound);
    vg_gemm_epi epi = {use_bias ? bias : NULL, act, false};
    vg_gemm(uk, pools[0], ws, false, true, m, n, k, a, k, b, k, c0, n, &epi);
    vg_gemm_pack_b(uk, n, k, b, bp);
    rows_src src = {a, k};
    for (int t = 0; t < 3; t++)
        for (int gather = 0; gather < 2; gather++) {
            memset(c1, 0xff, nc * 4); /* NaNs: a tile left unwritten fails the bound */
            if (gather)
                vg_gemm_packed_gather(uk, pools[t], ws, m, n, k, copy_block, &src, bp, c1, n, &epi);
            else
                vg_gemm_packed(uk, pools[t], ws, m, n, k, a, k, bp, c1, n, &epi);
            double worst;
            int bad = outside(c1, x, bound, nc, &worst);
            CHECK(bad == 0, "%s packed%s m%d n%d k%d, %d threads: %d elements beyond the bound "
                  "(worst %.2fx)", uk->name, gather ? " gather" : "", m, n, k, t + 1, bad, worst);
            CHECK(memcmp(c0, c1, nc * 4) == 0, "%s packed%s m%d n%d k%d, %d threads: differs "
                  "from vg_gemm", uk->name, gather ? " gather" : "", m, n, k, t + 1);
        }
    free(x), free(bound), free(bp);
    free(a), free(b), free(bias), free(c0), free(c1);
}

void test_gemm(void) {
    const vg_ukernel *uks[] = {vg_ukernel_scalar(), vg_ukernel_avx2(), vg_ukernel_avx512(),
                               vg_ukernel_neon()};
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2), *p3 = vg_pool_new(3);
    vg_gemm_ws *ws = vg_gemm_ws_new(3);
    static const int shapes[][3] = {
        {1, 1, 1},    {1, 5, 3},     {7, 1, 2},     {12, 32, 16},  {13, 33, 17}, {25, 24, 96},
        {49, 40, 320}, {5, 1001, 64}, {300, 17, 9},  {37, 70, 600}, {150, 96, 24}, {3, 2100, 5},
    };
    vg_test_seed(3);
    for (size_t u = 0; u < sizeof uks / sizeof uks[0]; u++) {
        const vg_ukernel *uk = uks[u];
        if (!uk) continue;
        if (!cpu_has(uk->name)) {
            printf("  (%s: not supported by this CPU, skipped)\n", uk->name);
            continue;
        }
        printf("  micro-kernel %s (%dx%d)\n", uk->name, uk->mr, uk->nr);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                one_case(uk, p1, p2, ws, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1,
                         s % 2 == 1, s % 3 == 0, (vg_act)(s % 3));
        /* k = 0: the epilogue alone */
        one_case(uk, p1, p2, ws, 3, 4, 0, false, true, true, true, VG_ACT_RELU6);
        /* the forward pass's pre-packed path, its tasks cut by 1, 2 and 3 threads */
        vg_pool *pools[3] = {p1, p2, p3};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            packed_case(uk, pools, ws, shapes[s][0], shapes[s][1], shapes[s][2], s % 2 == 0,
                        (vg_act)(s % 3));
        packed_case(uk, pools, ws, 197, 70, 27, true, VG_ACT_RELU6); /* rows over 12 tiles */
        packed_case(uk, pools, ws, 1, 1001, 1280, true, VG_ACT_NONE); /* a classifier */
    }
    vg_gemm_ws_free(ws);
    vg_pool_free(p1);
    vg_pool_free(p2);
    vg_pool_free(p3);
}
