/* pool.c — reference global average and max pools, the cut between backbone and classifier
 * head. The max pool keeps a small strong local response (a distant flame) that averaging
 * over the whole image would dilute. */
#include "ops/ops.h"

#include <string.h>

void vg_gap_ref(int n, int hw, int c, const float *x, float *y) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float acc = 0.0f;
            for (int i = 0; i < hw; i++) acc += x[((size_t)b * hw + i) * c + ch];
            y[(size_t)b * c + ch] = acc / (float)hw;
        }
}

void vg_gap_bwd_ref(int n, int hw, int c, const float *dy, float *dx) {
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++)
            for (int ch = 0; ch < c; ch++)
                dx[((size_t)b * hw + i) * c + ch] = dy[(size_t)b * c + ch] / (float)hw;
}

void vg_gmax_ref(int n, int hw, int c, const float *x, float *y) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float m = x[(size_t)b * hw * c + ch];
            for (int i = 1; i < hw; i++) {
                float v = x[((size_t)b * hw + i) * c + ch];
                m = v > m ? v : m;
            }
            y[(size_t)b * c + ch] = m;
        }
}

void vg_gmax_bwd_ref(int n, int hw, int c, const float *x, const float *dy, float *dx) {
    memset(dx, 0, sizeof(float) * (size_t)n * hw * c);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            int best = 0;
            float m = x[(size_t)b * hw * c + ch];
            for (int i = 1; i < hw; i++) {
                float v = x[((size_t)b * hw + i) * c + ch];
                if (v > m) m = v, best = i;
            }
            dx[((size_t)b * hw + best) * c + ch] = dy[(size_t)b * c + ch];
        }
}
