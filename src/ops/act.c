/* act.c — reference activations (ReLU, ReLU6, hard-swish, hard-sigmoid, sigmoid), the residual
 * add and the elementwise product (squeeze-excitation). */
#include "ops/ops.h"

void vg_relu_ref(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = vg_act_apply1(VG_ACT_RELU, x[i]);
}

void vg_relu6_ref(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = vg_act_apply1(VG_ACT_RELU6, x[i]);
}

void vg_add_ref(size_t n, const float *a, const float *b, vg_act act, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = vg_act_apply1(act, a[i] + b[i]);
}

void vg_act_ref(vg_act act, size_t n, float *y) {
    /* one loop per activation, the same arithmetic as vg_act_apply1: the compiler vectorizes
     * these (the runner's pass after the layers whose kernels fuse only ReLU / ReLU6) */
    switch (act) {
    case VG_ACT_HSWISH:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] * vg_relu6_1(y[i] + 3.0f) / 6.0f;
        break;
    case VG_ACT_HSIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = vg_relu6_1(y[i] + 3.0f) / 6.0f;
        break;
    default:
        if (act != VG_ACT_NONE)
            for (size_t i = 0; i < n; i++)
                y[i] = vg_act_apply1(act, y[i]);
    }
}

void vg_mul_ref(int n, int hw, int c, const float *a, const float *b, bool per_channel, vg_act act,
                float *y) {
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            for (int ch = 0; ch < c; ch++) {
                size_t k = ((size_t)i * hw + p) * c + ch;
                float s = per_channel ? b[(size_t)i * c + ch] : b[k];
                y[k] = vg_act_apply1(act, a[k] * s);
            }
}

void vg_hswish_bwd_ref(size_t n, const float *x, float *dy) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        dy[i] *= v < -3.0f ? 0.0f : v > 3.0f ? 1.0f : (2.0f * v + 3.0f) / 6.0f;
    }
}

void vg_mul_bwd_ref(int n, int hw, int c, const float *a, const float *b, bool per_channel,
                    const float *dy, float *da, float *db) {
    if (db && per_channel)
        for (size_t i = 0; i < (size_t)n * c; i++)
            db[i] = 0.0f;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            for (int ch = 0; ch < c; ch++) {
                size_t k = ((size_t)i * hw + p) * c + ch, kb = per_channel ? (size_t)i * c + ch : k;
                if (da) da[k] = dy[k] * b[kb];
                if (db && per_channel)
                    db[kb] += dy[k] * a[k];
                else if (db)
                    db[k] = dy[k] * a[k];
            }
}

const char *vg_act_name(vg_act a) {
    static const char *names[VG_ACT_COUNT_] = {"",          "relu",        "relu6",
                                               "hardswish", "hardsigmoid", "sigmoid"};
    return (unsigned)a < VG_ACT_COUNT_ ? names[a] : "?";
}

void vg_act_bwd_ref(vg_act act, size_t n, const float *y, float *dy) {
    /* branch-free selects: the pass/block pattern is data-dependent, so branches would
     * mispredict on every other element */
    if (act == VG_ACT_RELU)
        for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    else if (act == VG_ACT_RELU6)
        for (size_t i = 0; i < n; i++) dy[i] = ((y[i] > 0.0f) & (y[i] < 6.0f)) ? dy[i] : 0.0f;
    else if (act == VG_ACT_HSIGMOID)
        for (size_t i = 0; i < n; i++)
            dy[i] = ((y[i] > 0.0f) & (y[i] < 1.0f)) ? dy[i] / 6.0f : 0.0f;
    else if (act == VG_ACT_SIGMOID)
        for (size_t i = 0; i < n; i++)
            dy[i] *= y[i] * (1.0f - y[i]);
}
