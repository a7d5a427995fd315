/* pool.c — reference global average pool, the cut between backbone and classifier head. */
#include "ops/ops.h"

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
