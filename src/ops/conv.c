/* conv.c — reference 2-D convolution (any kernel, stride, padding; groups = 1) and the TF
 * "SAME" padding rule. Written as the direct definition of the sum: it is the specification. */
#include "ops/ops.h"

#include <string.h>

void vg_conv2d_ref(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y) {
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int co = 0; co < d->co; co++) {
                    float acc = b ? b[co] : 0.0f;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            const float *xp = x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                            const float *wp = w + (((size_t)co * d->kh + ky) * d->kw + kx) * d->ci;
                            for (int ci = 0; ci < d->ci; ci++) acc += xp[ci] * wp[ci];
                        }
                    }
                    y[(((size_t)n * d->ho + oy) * d->wo + ox) * d->co + co] =
                        vg_act_apply1(act, acc);
                }
}

void vg_conv2d_bwd_ref(const vg_conv_desc *d, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db) {
    if (dx) memset(dx, 0, sizeof(float) * (size_t)d->n * d->h * d->w * d->ci);
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int co = 0; co < d->co; co++) {
                    float g = dy[(((size_t)n * d->ho + oy) * d->wo + ox) * d->co + co];
                    if (db) db[co] += g;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            size_t xo = (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                            size_t wo = (((size_t)co * d->kh + ky) * d->kw + kx) * d->ci;
                            for (int ci = 0; ci < d->ci; ci++) {
                                if (dx) dx[xo + ci] += g * w[wo + ci];
                                if (dw) dw[wo + ci] += g * x[xo + ci];
                            }
                        }
                    }
                }
}

void vg_same_padding(int in, int k, int s, int *out, int *pad_before, int *pad_after) {
    int o = (in + s - 1) / s;
    int total = (o - 1) * s + k - in;
    if (total < 0) total = 0;
    *out = o;
    *pad_before = total / 2;
    *pad_after = total - total / 2;
}
