/* q8_rq.h — internal to the int8 kernels (q8_*.c): the requantization of 16 int32
 * accumulators into int8 in AVX-512, bit-identical to vg_q8_requant1 (ops_q8.h), and the
 * per-channel constants it reads (vg_q8_rq in q8.h).
 *
 * Why it is cheap: both rounding rules reduce to one 64-bit product, one addend, one
 * arithmetic shift. With a = acc (after TFLite's left shift, if any), M the multiplier and
 * r the right shift:
 *   TFLite  v = floor((a M + 2^30) / 2^31)       SaturatingRoundingDoublingHighMul (its
 *                                                 nudge of 1 - 2^30 for negative products
 *                                                 plus truncation is this floor)
 *           RoundingDivideByPOT(v, r) = floor((v + 2^(r-1) - [v < 0]) / 2^r)   (r >= 1)
 *   so      y = floor((a M + 2^30 + 2^(r+30) - [a M < -2^30] 2^31) / 2^(31+r))
 *           (nested floors of integer divisions merge; v < 0 exactly when a M < -2^30)
 *   single  y = floor((a M + 2^(s-1)) / 2^s),  s = 31 - shift
 * The products are formed in the even and odd 32-bit lanes separately (vpmuldq) and merged
 * with one permutation. The "wide" variants also handle multipliers >= 1/2 (results that
 * can reach the int32 limits, where the reference clamps): TFLite's saturating left shift
 * first, and a 64-bit clamp before the lanes are narrowed. */
#ifndef VG_Q8_RQ_H
#define VG_Q8_RQ_H

#include "cpu/q8.h"

#define Q8_RQ_SINGLE 1 /* variant bits */
#define Q8_RQ_WIDE   2

/* The constants of that formula for one channel: multiplier m, exponent e (a left shift when
 * > 0, else a right shift of -e: vg_mul_qmult's convention), TFLite's or the single rounding.
 * y = floor((a m + add - [a m < -2^30] adj) / 2^sh), after a saturating left shift of lsh.
 * wide: results can reach the int32 limits. The one place these are derived: the GEMM /
 * depthwise constants (vg_q8_rq_init), the AVX-512 add and the portable add use it. */
typedef struct {
    int64_t add, adj, sh;
    int32_t lsh;
    bool wide;
} q8_rq_const;

static inline q8_rq_const q8_rq_const_of(int e, bool single) {
    q8_rq_const c = {0, 0, 0, 0, false};
    if (single) {
        int s = 31 - e;
        s = s < 1 ? 1 : s > 62 ? 62 : s;
        c.add = (int64_t)1 << (s - 1), c.sh = s;
        c.wide = s < 32; /* |a M| / 2^s may reach the int32 limits */
    } else {
        int right = e > 0 ? 0 : -e;
        right = right > 31 ? 31 : right;
        c.lsh = e > 0 ? e : 0;
        c.sh = 31 + right;
        c.add = ((int64_t)1 << 30) + (right ? (int64_t)1 << (30 + right) : 0);
        c.adj = right ? (int64_t)1 << 31 : 0;
        c.wide = right == 0;
    }
    return c;
}

/* Fills r for n channels of q (bias zeroed: the kernel writes its corrected bias). variant is
 * -1 when the formula cannot reproduce q (a multiplier of INT32_MIN): use vg_q8_requant1
 * then. False on allocation failure. */
bool vg_q8_rq_init(vg_q8_rq *r, int n, const vg_q8_out *q);
void vg_q8_rq_free(vg_q8_rq *r);

/* Rows [0, m) of A times panels [p0, p1) of the plan, on the calling thread; output column j
 * of row i goes to c[i ldc + (j / 16) pstride + j % 16] (the fused pointwise + depthwise
 * writes its prepared rows with it). */
void vg_q8_gemm_tile(const vg_q8_gemm_plan *p, int m, const int8_t *a, int lda, int p0, int p1,
                     int8_t *c, size_t ldc, size_t pstride);

/* out[i] = the requantization of acc[i] for channels c0 + i, i < nc (c0 a multiple of 16,
 * r->variant >= 0), with the vector epilogue of the CPU's GEMM kernels (AVX2, NEON) where it
 * has one: for the portable depthwise convolution. */
void vg_q8_rq_run(const vg_q8_rq *r, int isa, const int32_t *acc, int c0, int nc, int8_t *out);

/* The same formula for one channel in scalar 64-bit arithmetic (the portable kernels): about
 * twice as fast as vg_mul_qmult's two roundings with their branches. With y in 64 bits,
 * clamping y + zp equals the reference's clamp of its int32 result plus zp. */
static inline int8_t q8_rq1(const vg_q8_rq *r, int32_t acc, int j) {
    int at = j / 16 * 16 + (j % 2) * 8 + (j % 16) / 2;
    int64_t x = acc;
    if (r->lsh[j]) { /* TFLite: x * 2^left saturated to int32 */
        x = r->lsh[j] >= 32 ? (x > 0   ? INT32_MAX
                               : x < 0 ? INT32_MIN
                                       : 0)
                            : x * ((int64_t)1 << r->lsh[j]);
        x = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x;
    }
    int64_t prod = x * r->mult[j], t = prod + r->add[at];
    if (prod < -((int64_t)1 << 30)) t -= r->adj[at]; /* adj is 0 for the single rounding */
    int64_t y = (t >> r->sh[at]) + r->out_zp;
    return (int8_t)(y < r->lo ? r->lo : y > r->hi ? r->hi : y);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define Q8_TV     __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define Q8_INLINE static inline __attribute__((always_inline))

/* acc + the 4-byte dot products of a (unsigned) and b (signed) in each int32 lane, as
 * _mm512_dpbusd_epi32. Written in asm because GCC 12 does not keep the intrinsic's
 * accumulator in its output register: it copies every accumulator at every step (and spills
 * some), which halves the speed of the matrix multiply. */
Q8_TV Q8_INLINE __m512i q8_dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "vm"(b));
    return acc;
}

/* the constants of 16 channels, loaded once per block of outputs that share them */
typedef struct {
    __m512i mult, mult_odd, add_e, add_o, adj_e, adj_o, sh_e, sh_o, lsh, zp, lo, hi;
} q8_rq16;

Q8_TV Q8_INLINE q8_rq16 q8_rq16_load(const vg_q8_rq *r, int col) {
    q8_rq16 p;
    p.mult = _mm512_loadu_si512(r->mult + col);
    p.mult_odd = _mm512_srli_epi64(p.mult, 32);
    p.add_e = _mm512_loadu_si512(r->add + col), p.add_o = _mm512_loadu_si512(r->add + col + 8);
    p.adj_e = _mm512_loadu_si512(r->adj + col), p.adj_o = _mm512_loadu_si512(r->adj + col + 8);
    p.sh_e = _mm512_loadu_si512(r->sh + col), p.sh_o = _mm512_loadu_si512(r->sh + col + 8);
    p.lsh = _mm512_loadu_si512(r->lsh + col);
    /* in registers: the stores of the outputs might alias r, for all the compiler knows */
    p.zp = _mm512_set1_epi32(r->out_zp), p.lo = _mm512_set1_epi32(r->lo),
    p.hi = _mm512_set1_epi32(r->hi);
    return p;
}

/* The multiply of 16 lanes (TFLite's left shift aside): int32 results, or with `wide` the
 * results clamped to [lo - zp, hi - zp] (which lies inside int32) before the lanes narrow.
 * Also the add's three multiplies (q8_elem.c), with per-tensor constants. */
Q8_TV Q8_INLINE __m512i q8_mul16(__m512i acc, const q8_rq16 *p, bool single, bool wide,
                                 __m512i lo64, __m512i hi64) {
    __m512i pe = _mm512_mul_epi32(acc, p->mult);
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), p->mult_odd);
    if (!single) {
        const __m512i thr = _mm512_set1_epi64(-(1ll << 30));
        __mmask8 ne = _mm512_cmplt_epi64_mask(pe, thr), no = _mm512_cmplt_epi64_mask(po, thr);
        pe = _mm512_add_epi64(pe, p->add_e), po = _mm512_add_epi64(po, p->add_o);
        pe = _mm512_mask_sub_epi64(pe, ne, pe, p->adj_e);
        po = _mm512_mask_sub_epi64(po, no, po, p->adj_o);
    } else {
        pe = _mm512_add_epi64(pe, p->add_e), po = _mm512_add_epi64(po, p->add_o);
    }
    pe = _mm512_srav_epi64(pe, p->sh_e), po = _mm512_srav_epi64(po, p->sh_o);
    if (wide) {
        pe = _mm512_min_epi64(_mm512_max_epi64(pe, lo64), hi64);
        po = _mm512_min_epi64(_mm512_max_epi64(po, lo64), hi64);
    }
    const __m512i idx = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
    return _mm512_permutex2var_epi32(pe, idx, po);
}

/* 16 accumulators -> 16 int32 results in [lo, hi] (variant: a compile-time constant) */
Q8_TV Q8_INLINE __m512i q8_rq16_apply(__m512i acc, const q8_rq16 *p, const vg_q8_rq *r,
                                      int variant) {
    const bool single = variant & Q8_RQ_SINGLE, wide = variant & Q8_RQ_WIDE;
    if (wide && !single) { /* TFLite: x * 2^left saturated to int32 */
        __m512i y = _mm512_sllv_epi32(acc, p->lsh);
        __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(y, p->lsh), acc);
        __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(acc, 31), _mm512_set1_epi32(INT32_MAX));
        acc = _mm512_mask_mov_epi32(y, ovf, sat);
    }
    __m512i lo64 = _mm512_setzero_si512(), hi64 = lo64;
    if (wide) {
        lo64 = _mm512_set1_epi64((int64_t)r->lo - r->out_zp);
        hi64 = _mm512_set1_epi64((int64_t)r->hi - r->out_zp);
    }
    __m512i v = _mm512_add_epi32(q8_mul16(acc, p, single, wide, lo64, hi64), p->zp);
    return _mm512_min_epi32(_mm512_max_epi32(v, p->lo), p->hi);
}

/* the 16 results as bytes at dst (the first nvalid of them) */
Q8_TV Q8_INLINE void q8_store16(int8_t *dst, __m512i v, int nvalid) {
    __m128i b = _mm512_cvtepi32_epi8(v);
    if (nvalid >= 16)
        _mm_storeu_si128((__m128i *)dst, b);
    else
        _mm_mask_storeu_epi8(dst, (__mmask16)((1u << nvalid) - 1), b);
}
#endif

#endif
