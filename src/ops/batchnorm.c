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

void vg_batchnorm_train_ref(size_t p, int c, const float *x, const float *gamma,
                            const float *beta, float eps, float momentum, float *running_mean,
                            float *running_var, float *y, float *mean, float *invstd) {
    for (int ch = 0; ch < c; ch++) {
        /* two passes in double: the statistics of a whole batch must not lose digits */
        double s = 0, ss = 0;
        for (size_t i = 0; i < p; i++) s += x[i * c + ch];
        double mu = s / (double)p;
        for (size_t i = 0; i < p; i++) {
            double d = x[i * c + ch] - mu;
            ss += d * d;
        }
        double var = ss / (double)p;
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + eps));
        if (running_mean && running_var) {
            double unbiased = p > 1 ? ss / (double)(p - 1) : var;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
    for (size_t i = 0; i < p; i++)
        for (int ch = 0; ch < c; ch++)
            y[i * c + ch] = gamma[ch] * (x[i * c + ch] - mean[ch]) * invstd[ch] + beta[ch];
}

void vg_batchnorm_train_bwd_ref(size_t p, int c, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy,
                                float *dx, float *dgamma, float *dbeta) {
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0, sdyx = 0;
        for (size_t i = 0; i < p; i++) {
            double xh = (x[i * c + ch] - mean[ch]) * invstd[ch];
            sdy += dy[i * c + ch];
            sdyx += dy[i * c + ch] * xh;
        }
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
        if (!dx) continue;
        double k = (double)gamma[ch] * invstd[ch] / (double)p;
        for (size_t i = 0; i < p; i++) {
            double xh = (x[i * c + ch] - mean[ch]) * invstd[ch];
            dx[i * c + ch] = (float)(k * ((double)p * dy[i * c + ch] - sdy - xh * sdyx));
        }
    }
}
