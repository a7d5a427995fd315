/* dwconv.c — reference depthwise convolution (one filter per channel, multiplier 1), the
 * cheap spatial filter of MobileNetV2's inverted residual blocks. */
#include "ops/ops.h"

#include <string.h>

void vg_dwconv_ref(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y) {
    int c = d->ci;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int ch = 0; ch < c; ch++) {
                    float acc = b ? b[ch] : 0.0f;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            acc += x[(((size_t)n * d->h + iy) * d->w + ix) * c + ch] *
                                   w[((size_t)ky * d->kw + kx) * c + ch];
                        }
                    }
                    y[(((size_t)n * d->ho + oy) * d->wo + ox) * c + ch] = vg_act_apply1(act, acc);
                }
}

void vg_dwconv_bwd_ref(const vg_conv_desc *d, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db) {
    int c = d->ci;
    if (dx) memset(dx, 0, sizeof(float) * (size_t)d->n * d->h * d->w * c);
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int ch = 0; ch < c; ch++) {
                    float g = dy[(((size_t)n * d->ho + oy) * d->wo + ox) * c + ch];
                    if (db) db[ch] += g;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            size_t xo = (((size_t)n * d->h + iy) * d->w + ix) * c + ch;
                            size_t wo = ((size_t)ky * d->kw + kx) * c + ch;
                            if (dx) dx[xo] += g * w[wo];
                            if (dw) dw[wo] += g * x[xo];
                        }
                    }
                }
}
