/* act.c — reference activations (ReLU, ReLU6) and the residual add. */
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

void vg_act_bwd_ref(vg_act act, size_t n, const float *y, float *dy) {
    /* branch-free selects: the pass/block pattern is data-dependent, so branches would
     * mispredict on every other element */
    if (act == VG_ACT_RELU)
        for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    else if (act == VG_ACT_RELU6)
        for (size_t i = 0; i < n; i++) dy[i] = ((y[i] > 0.0f) & (y[i] < 6.0f)) ? dy[i] : 0.0f;
}
