/* matmul.c — reference matrix multiplies: c = a b^T + bias with activation (the pointwise
 * (1x1) convolution over all pixels, and the fully-connected layer; b is stored (n, k) so both
 * operands are read along k), and the general BLAS-style GEMM with transposes that the
 * training gradients need. */
#include "ops/ops.h"

void vg_matmul_ref(int m, int n, int k, const float *a, const float *b, const float *bias,
                   vg_act act, float *c) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = bias ? bias[j] : 0.0f;
            const float *ap = a + (size_t)i * k, *bp = b + (size_t)j * k;
            for (int p = 0; p < k; p++) acc += ap[p] * bp[p];
            c[(size_t)i * n + j] = vg_act_apply1(act, acc);
        }
}

void vg_fc_ref(int n, int ci, int co, const float *x, const float *w, const float *b, vg_act act,
               float *y) {
    vg_matmul_ref(n, co, ci, x, w, b, act, y);
}

void vg_gemm_ref(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b,
                 int ldb, bool accumulate, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                acc += av * bv;
            }
            float *cp = &c[(size_t)i * ldc + j];
            *cp = accumulate ? *cp + acc : acc;
        }
}

void vg_matmul_bwd_ref(int m, int n, int k, const float *a, const float *b, const float *dc,
                       float *da, float *db, float *dbias) {
    if (da)
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) {
                float acc = 0.0f;
                for (int j = 0; j < n; j++) acc += dc[(size_t)i * n + j] * b[(size_t)j * k + p];
                da[(size_t)i * k + p] = acc;
            }
    if (db)
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++) {
                float acc = 0.0f;
                for (int i = 0; i < m; i++) acc += dc[(size_t)i * n + j] * a[(size_t)i * k + p];
                db[(size_t)j * k + p] += acc;
            }
    if (dbias)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int i = 0; i < m; i++) acc += dc[(size_t)i * n + j];
            dbias[j] += acc;
        }
}
