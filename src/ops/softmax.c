/* softmax.c — reference softmax over the last axis, max-subtracted for range safety. */
#include "ops/ops.h"

#include <math.h>

void vg_softmax_ref(int n, int c, const float *x, float *y) {
    for (int b = 0; b < n; b++) {
        const float *xr = x + (size_t)b * c;
        float *yr = y + (size_t)b * c;
        float mx = xr[0];
        for (int i = 1; i < c; i++) mx = xr[i] > mx ? xr[i] : mx;
        float sum = 0.0f;
        for (int i = 0; i < c; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        for (int i = 0; i < c; i++) yr[i] /= sum;
    }
}

float vg_softmax_xent_ref(int n, int c, const float *logits, const int *labels,
                          const float *class_w, float smoothing, float *dlogits) {
    double loss = 0, wsum = 0;
    for (int i = 0; i < n; i++) wsum += class_w ? class_w[labels[i]] : 1.0;
    if (wsum <= 0) wsum = 1; /* every sample weighted 0: no gradient, loss 0 */
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        double mx = z[0];
        for (int j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp(z[j] - mx);
        double lse = mx + log(se);
        double tsum = 0;
        for (int j = 0; j < c; j++) {
            double wj = class_w ? class_w[j] : 1.0;
            double t = smoothing * wj / c + (j == labels[i] ? (1.0 - smoothing) * wj : 0.0);
            loss += t * (lse - z[j]);
            tsum += t;
        }
        if (dlogits)
            for (int j = 0; j < c; j++) {
                double wj = class_w ? class_w[j] : 1.0;
                double t = smoothing * wj / c + (j == labels[i] ? (1.0 - smoothing) * wj : 0.0);
                dlogits[(size_t)i * c + j] = (float)((tsum * exp(z[j] - lse) - t) / wsum);
            }
    }
    return (float)(loss / wsum);
}

float vg_softmax_xent_soft_ref(int n, int c, const float *logits, const float *targets,
                               const float *sample_w, float *dlogits) {
    double loss = 0, wsum = 0;
    for (int i = 0; i < n; i++) wsum += sample_w ? sample_w[i] : 1.0;
    if (wsum <= 0) wsum = 1;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c, *t = targets + (size_t)i * c;
        double wi = sample_w ? sample_w[i] : 1.0;
        double mx = z[0];
        for (int j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp(z[j] - mx);
        double lse = mx + log(se), tsum = 0;
        for (int j = 0; j < c; j++) {
            loss += wi * t[j] * (lse - z[j]);
            tsum += t[j];
        }
        if (dlogits)
            for (int j = 0; j < c; j++)
                dlogits[(size_t)i * c + j] = (float)(wi * (tsum * exp(z[j] - lse) - t[j]) / wsum);
    }
    return (float)(loss / wsum);
}
