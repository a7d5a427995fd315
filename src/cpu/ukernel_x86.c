/* ukernel_x86.c — GEMM micro-kernels for x86-64: AVX-512 (12 x 32: 24 zmm accumulators) and
 * AVX2+FMA (6 x 16: 12 ymm accumulators). Compiled with per-function target attributes so the
 * rest of the library stays baseline x86-64; the backend picks one at run time from cpuid. */
#include "cpu/gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,fma")))
#define T256 __attribute__((target("avx2,fma")))

/* ---- AVX-512, 12 x 32 */

T512 static inline __m512 epi512(__m512 v, bool load_c, const float *cp, __mmask16 m,
                                 const float *bias, const float *rp, vg_act act) {
    if (load_c) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, cp));
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
    if (rp) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rp));
    if (act != VG_ACT_NONE) {
        v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (act == VG_ACT_RELU6) v = _mm512_min_ps(v, _mm512_set1_ps(6.0f));
    }
    return v;
}

T512 static void uk_avx512(int kc, const float *ap, const float *bp, float *c, int ldc, int mr,
                           int nr, bool load_c, const float *bias, const float *res, int ldr,
                           vg_act act) {
    __m512 c0[12], c1[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        ap += 12;
        bp += 32;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const float *b1p = bias ? bias + 16 : NULL;
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        if (i >= mr) break;
        float *cp = c + (size_t)i * ldc;
        const float *r0 = res ? res + (size_t)i * ldr : NULL, *r1 = res ? r0 + 16 : NULL;
        _mm512_mask_storeu_ps(cp, m0, epi512(c0[i], load_c, cp, m0, bias, r0, act));
        if (m1)
            _mm512_mask_storeu_ps(cp + 16, m1, epi512(c1[i], load_c, cp + 16, m1, b1p, r1, act));
    }
}

/* A read in place: rows past mr repeat the last valid row (computed, never stored) */
T512 static void uk_avx512_direct(int kc, const float *a, int lda, const float *bp, float *c,
                                  int ldc, int mr, int nr, bool load_c, const float *bias,
                                  const float *res, int ldr, vg_act act) {
    const float *r[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) r[i] = a + (size_t)(i < mr ? i : mr - 1) * lda;
    __m512 c0[12], c1[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            __m512 av = _mm512_set1_ps(r[i][p]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        bp += 32;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const float *b1p = bias ? bias + 16 : NULL;
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        if (i >= mr) break;
        float *cp = c + (size_t)i * ldc;
        const float *r0 = res ? res + (size_t)i * ldr : NULL, *r1 = res ? r0 + 16 : NULL;
        _mm512_mask_storeu_ps(cp, m0, epi512(c0[i], load_c, cp, m0, bias, r0, act));
        if (m1)
            _mm512_mask_storeu_ps(cp + 16, m1, epi512(c1[i], load_c, cp + 16, m1, b1p, r1, act));
    }
}

/* 4 x 32, for tiles of at most 4 valid rows */
T512 static void uk_avx512_small(int kc, const float *a, int lda, const float *bp, float *c,
                                 int ldc, int mr, int nr, bool load_c, const float *bias,
                                 const float *res, int ldr, vg_act act) {
    const float *r[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) r[i] = a + (size_t)(i < mr ? i : mr - 1) * lda;
    __m512 c0[4], c1[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m512 av = _mm512_set1_ps(r[i][p]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        bp += 32;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const float *b1p = bias ? bias + 16 : NULL;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        if (i >= mr) break;
        float *cp = c + (size_t)i * ldc;
        const float *r0 = res ? res + (size_t)i * ldr : NULL, *r1 = res ? r0 + 16 : NULL;
        _mm512_mask_storeu_ps(cp, m0, epi512(c0[i], load_c, cp, m0, bias, r0, act));
        if (m1)
            _mm512_mask_storeu_ps(cp + 16, m1, epi512(c1[i], load_c, cp + 16, m1, b1p, r1, act));
    }
}

/* ---- AVX2, 6 x 16 */

T256 static void uk_avx2(int kc, const float *ap, const float *bp, float *c, int ldc, int mr,
                         int nr, bool load_c, const float *bias, const float *res, int ldr,
                         vg_act act) {
    __m256 c0[6], c1[6];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 a = _mm256_broadcast_ss(ap + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        ap += 6;
        bp += 16;
    }
    /* through a small buffer: AVX2 has no cheap masked store for a partial tile */
    float t[6][16] __attribute__((aligned(32)));
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        _mm256_store_ps(t[i], c0[i]);
        _mm256_store_ps(t[i] + 8, c1[i]);
    }
    for (int i = 0; i < mr; i++) {
        float *cp = c + (size_t)i * ldc;
        const float *rp = res ? res + (size_t)i * ldr : NULL;
        if (nr == 16) {
            __m256 v0 = _mm256_load_ps(t[i]), v1 = _mm256_load_ps(t[i] + 8);
            if (load_c) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp + 8));
            }
            if (bias) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(bias));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(bias + 8));
            }
            if (rp) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(rp));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(rp + 8));
            }
            if (act != VG_ACT_NONE) {
                v0 = _mm256_max_ps(v0, _mm256_setzero_ps());
                v1 = _mm256_max_ps(v1, _mm256_setzero_ps());
                if (act == VG_ACT_RELU6) {
                    v0 = _mm256_min_ps(v0, _mm256_set1_ps(6.0f));
                    v1 = _mm256_min_ps(v1, _mm256_set1_ps(6.0f));
                }
            }
            _mm256_storeu_ps(cp, v0);
            _mm256_storeu_ps(cp + 8, v1);
        } else {
            for (int j = 0; j < nr; j++) {
                float v = t[i][j];
                if (load_c) v += cp[j];
                if (bias) v += bias[j];
                if (rp) v += rp[j];
                cp[j] = vg_act_apply1(act, v);
            }
        }
    }
}

static const vg_ukernel avx512 = {"avx512", 12, 32, uk_avx512, uk_avx512_direct,
                                  4, uk_avx512_small};
static const vg_ukernel avx2 = {"avx2", 6, 16, uk_avx2, NULL, 0, NULL};
const vg_ukernel *vg_ukernel_avx512(void) { return &avx512; }
const vg_ukernel *vg_ukernel_avx2(void) { return &avx2; }

#else
const vg_ukernel *vg_ukernel_avx512(void) { return NULL; }
const vg_ukernel *vg_ukernel_avx2(void) { return NULL; }
#endif
