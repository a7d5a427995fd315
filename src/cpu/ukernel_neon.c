/* ukernel_neon.c — GEMM micro-kernel for AArch64 NEON (8 x 12: 24 q-register accumulators). */
#include "cpu/gemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

static void uk_neon(int kc, const float *ap, const float *bp, float *c, int ldc, int mr, int nr,
                    bool load_c, const float *bias, const float *res, int ldr, vg_act act) {
    float32x4_t acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) acc[i][j] = vdupq_n_f32(0.0f);
    for (int p = 0; p < kc; p++) {
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8);
        float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);
        acc[0][0] = vfmaq_laneq_f32(acc[0][0], b0, a0, 0);
        acc[0][1] = vfmaq_laneq_f32(acc[0][1], b1, a0, 0);
        acc[0][2] = vfmaq_laneq_f32(acc[0][2], b2, a0, 0);
        acc[1][0] = vfmaq_laneq_f32(acc[1][0], b0, a0, 1);
        acc[1][1] = vfmaq_laneq_f32(acc[1][1], b1, a0, 1);
        acc[1][2] = vfmaq_laneq_f32(acc[1][2], b2, a0, 1);
        acc[2][0] = vfmaq_laneq_f32(acc[2][0], b0, a0, 2);
        acc[2][1] = vfmaq_laneq_f32(acc[2][1], b1, a0, 2);
        acc[2][2] = vfmaq_laneq_f32(acc[2][2], b2, a0, 2);
        acc[3][0] = vfmaq_laneq_f32(acc[3][0], b0, a0, 3);
        acc[3][1] = vfmaq_laneq_f32(acc[3][1], b1, a0, 3);
        acc[3][2] = vfmaq_laneq_f32(acc[3][2], b2, a0, 3);
        acc[4][0] = vfmaq_laneq_f32(acc[4][0], b0, a1, 0);
        acc[4][1] = vfmaq_laneq_f32(acc[4][1], b1, a1, 0);
        acc[4][2] = vfmaq_laneq_f32(acc[4][2], b2, a1, 0);
        acc[5][0] = vfmaq_laneq_f32(acc[5][0], b0, a1, 1);
        acc[5][1] = vfmaq_laneq_f32(acc[5][1], b1, a1, 1);
        acc[5][2] = vfmaq_laneq_f32(acc[5][2], b2, a1, 1);
        acc[6][0] = vfmaq_laneq_f32(acc[6][0], b0, a1, 2);
        acc[6][1] = vfmaq_laneq_f32(acc[6][1], b1, a1, 2);
        acc[6][2] = vfmaq_laneq_f32(acc[6][2], b2, a1, 2);
        acc[7][0] = vfmaq_laneq_f32(acc[7][0], b0, a1, 3);
        acc[7][1] = vfmaq_laneq_f32(acc[7][1], b1, a1, 3);
        acc[7][2] = vfmaq_laneq_f32(acc[7][2], b2, a1, 3);
        ap += 8;
        bp += 12;
    }
    float t[8][12];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) vst1q_f32(&t[i][4 * j], acc[i][j]);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float v = t[i][j];
            if (load_c) v += c[(size_t)i * ldc + j];
            if (bias) v += bias[j];
            if (res) v += res[(size_t)i * ldr + j];
            c[(size_t)i * ldc + j] = vg_act_apply1(act, v);
        }
}

static const vg_ukernel neon = {"neon", 8, 12, uk_neon, NULL, 0, NULL};
const vg_ukernel *vg_ukernel_neon(void) { return &neon; }
#else
const vg_ukernel *vg_ukernel_neon(void) { return NULL; }
#endif
