/* ukernel_scalar.c — portable GEMM micro-kernel (4 x 8), plain C that compilers vectorise
 * where they can. The fallback on CPUs without a dedicated kernel. */
#include "cpu/gemm.h"

#define MR 4
#define NR 8

static void uk_scalar(int kc, const float *ap, const float *bp, float *c, int ldc, int mr, int nr,
                      bool load_c, const float *bias, const float *res, int ldr, vg_act act) {
    float acc[MR][NR] = {{0}};
    for (int p = 0; p < kc; p++) {
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
        ap += MR;
        bp += NR;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float v = acc[i][j];
            if (load_c) v += c[(size_t)i * ldc + j];
            if (bias) v += bias[j];
            if (res) v += res[(size_t)i * ldr + j];
            c[(size_t)i * ldc + j] = vg_act_apply1(act, v);
        }
}

static const vg_ukernel scalar = {"scalar", MR, NR, uk_scalar, NULL, 0, NULL};
const vg_ukernel *vg_ukernel_scalar(void) { return &scalar; }
