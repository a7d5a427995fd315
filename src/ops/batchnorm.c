/* batchnorm.c — reference inference-mode batch-norm (running statistics). Imported TFLite
 * models have it folded into the convolutions already; PyTorch-style graphs keep it. */
#include "ops/ops.h"

#include <math.h>

void vg_batchnorm_ref(size_t p, int c, const float *x, const float *gamma, const float *beta,
                      const float *mean, const float *var, float eps, vg_act act, float *y) {
    for (size_t i = 0; i < p; i++)
        for (int ch = 0; ch < c; ch++) {
            float inv = 1.0f / sqrtf(var[ch] + eps);
            float v = gamma[ch] * (x[i * c + ch] - mean[ch]) * inv + beta[ch];
            y[i * c + ch] = vg_act_apply1(act, v);
        }
}
