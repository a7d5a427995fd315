/* dwconv.c — depthwise convolution row kernels for the CPU backend: a portable one (plain C
 * over channels, which compilers vectorise; same summation order as the reference) and the
 * x86 AVX-512 / AVX2 ones, which keep the nine weight vectors of a 3x3 filter in registers
 * and go over channels in 16 / 8 lanes. Each computes output rows [oy0, oy1), channels
 * [cb, ce), of image n. */
#include "cpu/backend.h"

#include <string.h>

/* valid kernel taps [k0, k1) for output coordinate o (input o*s - pad + k in [0, in)) */
static inline void tap_range(int o, int s, int pad, int in, int k, int *k0, int *k1) {
    int start = o * s - pad;
    *k0 = start < 0 ? -start : 0;
    *k1 = in - start < k ? in - start : k;
}

static void dw_scalar(const vg_conv_desc *d, int n, int oy0, int oy1, int cb, int ce,
                      const float *x, const float *w, const float *b, vg_act act, float *y) {
    int C = d->ci;
    const float *xn = x + (size_t)n * d->h * d->w * C;
    float *yn = y + (size_t)n * d->ho * d->wo * C;
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0, ky1;
        tap_range(oy, d->sh, d->pt, d->h, d->kh, &ky0, &ky1);
        for (int ox = 0; ox < d->wo; ox++) {
            int kx0, kx1;
            tap_range(ox, d->sw, d->pl, d->w, d->kw, &kx0, &kx1);
            float *out = yn + ((size_t)oy * d->wo + ox) * C;
            for (int c = cb; c < ce; c++) out[c] = b ? b[c] : 0.0f;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *xr = xn + (size_t)(oy * d->sh - d->pt + ky) * d->w * C;
                for (int kx = kx0; kx < kx1; kx++) {
                    const float *xp = xr + (size_t)(ox * d->sw - d->pl + kx) * C;
                    const float *wp = w + ((size_t)ky * d->kw + kx) * C;
                    for (int c = cb; c < ce; c++) out[c] += xp[c] * wp[c];
                }
            }
            if (act != VG_ACT_NONE)
                for (int c = cb; c < ce; c++) out[c] = vg_act_apply1(act, out[c]);
        }
    }
}

vg_dw_fn vg_dwconv_scalar(void) { return dw_scalar; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 static inline __m512 act512(__m512 v, vg_act act) {
    if (act != VG_ACT_NONE) {
        v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (act == VG_ACT_RELU6) v = _mm512_min_ps(v, _mm512_set1_ps(6.0f));
    }
    return v;
}

T512 static void dw_avx512(const vg_conv_desc *d, int n, int oy0, int oy1, int cb, int ce,
                           const float *x, const float *w, const float *b, vg_act act, float *y) {
    int C = d->ci, W = d->w, sw = d->sw;
    const float *xn = x + (size_t)n * d->h * W * C;
    float *yn = y + (size_t)n * d->ho * d->wo * C;
    bool k3 = d->kh == 3 && d->kw == 3;
    /* output columns whose 3 taps are all inside the image */
    int ox_lo = (d->pl + sw - 1) / sw, ox_hi = W - 3 + d->pl < 0 ? 0 : (W - 3 + d->pl) / sw + 1;
    if (ox_hi > d->wo) ox_hi = d->wo;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0, ky1;
        tap_range(oy, d->sh, d->pt, d->h, d->kh, &ky0, &ky1);
        bool full_rows = k3 && ky0 == 0 && ky1 == 3;
        /* the input row of tap ky = 0 may lie above the image: rows are formed from ky0 on */
        const int iy0 = oy * d->sh - d->pt;
        const float *xr0 = full_rows ? xn + (size_t)iy0 * W * C : xn; /* full rows: inside */
        float *yr = yn + (size_t)oy * d->wo * C;
        for (int c0 = cb; c0 < ce; c0 += 16) {
            __mmask16 m = ce - c0 >= 16 ? 0xffff : (__mmask16)((1u << (ce - c0)) - 1);
            __m512 bias = b ? _mm512_maskz_loadu_ps(m, b + c0) : _mm512_setzero_ps();
            int ox = 0;
            if (full_rows) {
                __m512 w0 = _mm512_maskz_loadu_ps(m, w + 0 * C + c0);
                __m512 w1 = _mm512_maskz_loadu_ps(m, w + 1 * C + c0);
                __m512 w2 = _mm512_maskz_loadu_ps(m, w + 2 * C + c0);
                __m512 w3 = _mm512_maskz_loadu_ps(m, w + 3 * C + c0);
                __m512 w4 = _mm512_maskz_loadu_ps(m, w + 4 * C + c0);
                __m512 w5 = _mm512_maskz_loadu_ps(m, w + 5 * C + c0);
                __m512 w6 = _mm512_maskz_loadu_ps(m, w + 6 * C + c0);
                __m512 w7 = _mm512_maskz_loadu_ps(m, w + 7 * C + c0);
                __m512 w8 = _mm512_maskz_loadu_ps(m, w + 8 * C + c0);
                size_t rs = (size_t)W * C;
                for (ox = ox_lo; ox < ox_hi; ox++) {
                    const float *p = xr0 + (size_t)(ox * sw - d->pl) * C + c0;
                    __m512 acc = bias;
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p), w0, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + C), w1, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + 2 * C), w2, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + rs), w3, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + rs + C), w4, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + rs + 2 * C), w5, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + 2 * rs), w6, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + 2 * rs + C), w7, acc);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + 2 * rs + 2 * C), w8, acc);
                    _mm512_mask_storeu_ps(yr + (size_t)ox * C + c0, m, act512(acc, act));
                }
            }
            /* the rest (borders, other kernel sizes): taps clipped, weights from memory */
            for (int o = 0; o < d->wo; o++) {
                if (full_rows && o >= ox_lo && o < ox_hi) continue;
                int kx0, kx1;
                tap_range(o, sw, d->pl, W, d->kw, &kx0, &kx1);
                __m512 acc = bias;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *xr = xn + (size_t)(iy0 + ky) * W * C;
                    for (int kx = kx0; kx < kx1; kx++) {
                        __m512 xv = _mm512_maskz_loadu_ps(m, xr + (size_t)(o * sw - d->pl + kx) * C + c0);
                        __m512 wv = _mm512_maskz_loadu_ps(m, w + ((size_t)ky * d->kw + kx) * C + c0);
                        acc = _mm512_fmadd_ps(xv, wv, acc);
                    }
                }
                _mm512_mask_storeu_ps(yr + (size_t)o * C + c0, m, act512(acc, act));
            }
        }
    }
}

T256 static inline __m256 act256(__m256 v, vg_act act) {
    if (act != VG_ACT_NONE) {
        v = _mm256_max_ps(v, _mm256_setzero_ps());
        if (act == VG_ACT_RELU6) v = _mm256_min_ps(v, _mm256_set1_ps(6.0f));
    }
    return v;
}

/* AVX2: 8 channels per vector; a channel tail (C not a multiple of 8) goes to the scalar
 * kernel's formula, one channel at a time */
T256 static void dw_avx2(const vg_conv_desc *d, int n, int oy0, int oy1, int cb, int ce,
                         const float *x, const float *w, const float *b, vg_act act, float *y) {
    /* [cb, cv) in vectors, [cv, ce) one channel at a time: the split of a channel range is the
     * split the whole range would have (ranges start at multiples of 16) */
    int C = d->ci, W = d->w, sw = d->sw, cv = ce / 8 * 8;
    const float *xn = x + (size_t)n * d->h * W * C;
    float *yn = y + (size_t)n * d->ho * d->wo * C;
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0, ky1;
        tap_range(oy, d->sh, d->pt, d->h, d->kh, &ky0, &ky1);
        const int iy0 = oy * d->sh - d->pt; /* may be < 0: rows are formed from ky0 on */
        float *yr = yn + (size_t)oy * d->wo * C;
        for (int o = 0; o < d->wo; o++) {
            int kx0, kx1;
            tap_range(o, sw, d->pl, W, d->kw, &kx0, &kx1);
            float *out = yr + (size_t)o * C;
            for (int c0 = cb; c0 < cv; c0 += 8) {
                __m256 acc = b ? _mm256_loadu_ps(b + c0) : _mm256_setzero_ps();
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *xr = xn + (size_t)(iy0 + ky) * W * C;
                    for (int kx = kx0; kx < kx1; kx++)
                        acc = _mm256_fmadd_ps(
                            _mm256_loadu_ps(xr + (size_t)(o * sw - d->pl + kx) * C + c0),
                            _mm256_loadu_ps(w + ((size_t)ky * d->kw + kx) * C + c0), acc);
                }
                _mm256_storeu_ps(out + c0, act256(acc, act));
            }
            for (int c = cv > cb ? cv : cb; c < ce; c++) {
                float acc = b ? b[c] : 0.0f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        acc += xn[((size_t)(iy0 + ky) * W + o * sw - d->pl + kx) * C + c] *
                               w[((size_t)ky * d->kw + kx) * C + c];
                out[c] = vg_act_apply1(act, acc);
            }
        }
    }
}

vg_dw_fn vg_dwconv_avx512(void) { return dw_avx512; }
vg_dw_fn vg_dwconv_avx2(void) { return dw_avx2; }
#else
vg_dw_fn vg_dwconv_avx512(void) { return NULL; }
vg_dw_fn vg_dwconv_avx2(void) { return NULL; }
#endif

#if defined(__aarch64__)
#include <arm_neon.h>

static void dw_neon(const vg_conv_desc *d, int n, int oy0, int oy1, int cb, int ce,
                    const float *x, const float *w, const float *b, vg_act act, float *y) {
    int C = d->ci, W = d->w, sw = d->sw, cv = ce / 4 * 4; /* as dw_avx2 */
    const float *xn = x + (size_t)n * d->h * W * C;
    float *yn = y + (size_t)n * d->ho * d->wo * C;
    float32x4_t zero = vdupq_n_f32(0.0f), six = vdupq_n_f32(6.0f);
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0, ky1;
        tap_range(oy, d->sh, d->pt, d->h, d->kh, &ky0, &ky1);
        const int iy0 = oy * d->sh - d->pt; /* may be < 0: rows are formed from ky0 on */
        float *yr = yn + (size_t)oy * d->wo * C;
        for (int o = 0; o < d->wo; o++) {
            int kx0, kx1;
            tap_range(o, sw, d->pl, W, d->kw, &kx0, &kx1);
            float *out = yr + (size_t)o * C;
            for (int c0 = cb; c0 < cv; c0 += 4) {
                float32x4_t acc = b ? vld1q_f32(b + c0) : zero;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *xr = xn + (size_t)(iy0 + ky) * W * C;
                    for (int kx = kx0; kx < kx1; kx++)
                        acc = vfmaq_f32(acc, vld1q_f32(xr + (size_t)(o * sw - d->pl + kx) * C + c0),
                                        vld1q_f32(w + ((size_t)ky * d->kw + kx) * C + c0));
                }
                if (act != VG_ACT_NONE) acc = vmaxq_f32(acc, zero);
                if (act == VG_ACT_RELU6) acc = vminq_f32(acc, six);
                vst1q_f32(out + c0, acc);
            }
            for (int c = cv > cb ? cv : cb; c < ce; c++) {
                float acc = b ? b[c] : 0.0f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        acc += xn[((size_t)(iy0 + ky) * W + o * sw - d->pl + kx) * C + c] *
                               w[((size_t)ky * d->kw + kx) * C + c];
                out[c] = vg_act_apply1(act, acc);
            }
        }
    }
}
vg_dw_fn vg_dwconv_neon(void) { return dw_neon; }
#else
vg_dw_fn vg_dwconv_neon(void) { return NULL; }
#endif
