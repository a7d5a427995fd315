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
