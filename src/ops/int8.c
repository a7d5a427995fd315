/* int8.c — reference int8 kernels (see ops_q8.h). */
#include "ops/ops_q8.h"

#include <math.h>

/* int32 sums wrap like the vector kernels' (defined behaviour on a hostile model's extreme
 * biases; a valid model's sums never come near the limits) */
static inline int32_t wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static inline int8_t requant(int32_t acc, const vg_q8_out *q, int c) { return vg_q8_requant1(acc, q, c); }

void vg_conv2d_q8_ref(const vg_conv_desc *d, const int8_t *x, const int8_t *w, const int32_t *b,
                      const vg_q8_out *q, int8_t *y) {
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int co = 0; co < d->co; co++) {
                    int32_t acc = b ? b[co] : 0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            const int8_t *xp = x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                            const int8_t *wp = w + (((size_t)co * d->kh + ky) * d->kw + kx) * d->ci;
                            for (int ci = 0; ci < d->ci; ci++)
                                acc = wadd(acc, ((int32_t)xp[ci] - q->in_zp) * (int32_t)wp[ci]);
                        }
                    }
                    y[(((size_t)n * d->ho + oy) * d->wo + ox) * d->co + co] = requant(acc, q, co);
                }
}

void vg_dwconv_q8_ref(const vg_conv_desc *d, const int8_t *x, const int8_t *w, const int32_t *b,
                      const vg_q8_out *q, int8_t *y) {
    int c = d->ci;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->ho; oy++)
            for (int ox = 0; ox < d->wo; ox++)
                for (int ch = 0; ch < c; ch++) {
                    int32_t acc = b ? b[ch] : 0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pt + ky;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pl + kx;
                            if (ix < 0 || ix >= d->w) continue;
                            acc = wadd(acc, ((int32_t)x[(((size_t)n * d->h + iy) * d->w + ix) * c + ch] - q->in_zp) *
                                   (int32_t)w[((size_t)ky * d->kw + kx) * c + ch]);
                        }
                    }
                    y[(((size_t)n * d->ho + oy) * d->wo + ox) * c + ch] = requant(acc, q, ch);
                }
}

void vg_matmul_q8_ref(int m, int n, int k, const int8_t *a, const int8_t *b, const int32_t *bias,
                      const vg_q8_out *q, int8_t *c) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int32_t acc = bias ? bias[j] : 0;
            const int8_t *ap = a + (size_t)i * k, *bp = b + (size_t)j * k;
            for (int p = 0; p < k; p++) acc = wadd(acc, ((int32_t)ap[p] - q->in_zp) * (int32_t)bp[p]);
            c[(size_t)i * n + j] = requant(acc, q, j);
        }
}

void vg_add_q8_prepare(vg_qparam a, vg_qparam b, vg_qparam out, int act, vg_add_q8 *p) {
    const int left = 20;
    double twice_max = 2.0 * (a.scale > b.scale ? a.scale : b.scale);
    vg_quantize_multiplier(a.scale / twice_max, &p->m1, &p->s1);
    vg_quantize_multiplier(b.scale / twice_max, &p->m2, &p->s2);
    vg_quantize_multiplier(twice_max / ((double)(1 << left) * out.scale), &p->mo, &p->so);
    p->zp1 = a.zp, p->zp2 = b.zp, p->zp_out = out.zp;
    vg_act_range_q8(act, out, &p->act_min, &p->act_max);
}

void vg_add_q8_ref(size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p, int8_t *y) {
    for (size_t i = 0; i < n; i++) {
        int32_t x1 = ((int32_t)a[i] - p->zp1) * (1 << 20), x2 = ((int32_t)b[i] - p->zp2) * (1 << 20);
        int32_t s = wadd(vg_mul_qmult(x1, p->m1, p->s1), vg_mul_qmult(x2, p->m2, p->s2));
        int32_t v = wadd(vg_mul_qmult(s, p->mo, p->so), p->zp_out);
        v = v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v;
        y[i] = (int8_t)v;
    }
}

void vg_gap_q8_ref(int n, int hw, int c, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y) {
    float scale = in.scale / out.scale, bias = -(float)in.zp * scale + (float)out.zp;
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            int32_t sum = 0;
            for (int i = 0; i < hw; i++) sum += x[((size_t)b * hw + i) * c + ch];
            float v = roundf((float)sum / (float)hw * scale + bias);
            /* NaN (from extreme scale ratios) -> -128, as vg_quantize1 */
            v = !(v > -128.0f) ? -128.0f : v > 127.0f ? 127.0f : v;
            y[(size_t)b * c + ch] = (int8_t)v;
        }
}

void vg_requant_q8_ref(size_t n, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y) {
    int32_t m;
    int s;
    vg_quantize_multiplier((double)in.scale / out.scale, &m, &s);
    for (size_t i = 0; i < n; i++) {
        int32_t v = vg_mul_qmult((int32_t)x[i] - in.zp, m, s) + out.zp;
        y[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}
