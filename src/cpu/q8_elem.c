/* q8_elem.c — the elementwise int8 kernels (see q8.h): residual add, input quantization and
 * global average pool, each bit-identical to its reference in ops/int8.c and compress/quant.c.
 * The add and the quantization have AVX-512 forms; the pool's integer sums are written so
 * that compilers vectorise them, and its float rescale is the reference's, channel by
 * channel. */
#include "cpu/q8_rq.h"

#include <math.h>
#include <string.h>

/* elements per task: fixed, so threads never change results */
#define ADD_PIECE   16384
#define QUANT_PIECE 32768

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

/* the constants of vg_mul_qmult(x, m, shift) for every lane, for a multiplier below one half
 * or of exactly one half (shift <= 0: no left shift), the formula of q8_rq.h */
Q8_TV Q8_INLINE q8_rq16 mulq_const(int32_t m, int shift) {
    q8_rq_const k = q8_rq_const_of(shift, false);
    q8_rq16 c;
    memset(&c, 0, sizeof c);
    c.mult = c.mult_odd = _mm512_set1_epi32(m);
    c.add_e = c.add_o = _mm512_set1_epi64(k.add);
    c.adj_e = c.adj_o = _mm512_set1_epi64(k.adj);
    c.sh_e = c.sh_o = _mm512_set1_epi64(k.sh);
    return c;
}

Q8_TV Q8_INLINE __m512i mulq16(__m512i x, const q8_rq16 *c) {
    return q8_mul16(x, c, false, false, _mm512_setzero_si512(), _mm512_setzero_si512());
}

Q8_TV static void add_avx512(size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p,
                             int8_t *y) {
    q8_rq16 c1 = mulq_const(p->m1, p->s1), c2 = mulq_const(p->m2, p->s2),
            co = mulq_const(p->mo, p->so);
    const __m512i z1 = _mm512_set1_epi32(p->zp1), z2 = _mm512_set1_epi32(p->zp2);
    const __m512i zo = _mm512_set1_epi32(p->zp_out);
    const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512i x1 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i));
        __m512i x2 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i));
        x1 = _mm512_slli_epi32(_mm512_sub_epi32(x1, z1), 20);
        x2 = _mm512_slli_epi32(_mm512_sub_epi32(x2, z2), 20);
        __m512i s = _mm512_add_epi32(mulq16(x1, &c1), mulq16(x2, &c2));
        __m512i v = _mm512_add_epi32(mulq16(s, &co), zo);
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(v));
    }
}

/* roundf(x / scale) + zp, saturated as vg_quantize1 does (NaN -> -128) */
Q8_TV static void quantize_avx512(size_t n, const float *x, vg_qparam q, int8_t *y) {
    const __m512 scale = _mm512_set1_ps(q.scale), zp = _mm512_set1_ps((float)q.zp);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
        /* roundf: halves away from zero; v - trunc(v) is exact */
        __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512 f = _mm512_sub_ps(v, t);
        __m512 sone = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_and_si512(_mm512_castps_si512(v), sign), _mm512_castps_si512(one)));
        __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(f), half, _CMP_GE_OQ);
        t = _mm512_mask_add_ps(t, up, t, sone);
        v = _mm512_add_ps(t, zp);
        /* !(v > -128) -> -128, NaN included; v > 127 -> 127 */
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ), lo, v);
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), v, hi);
        _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
}
#endif

/* Portable add: each input's rescaled value depends on its byte alone, so it comes from a
 * 256-entry table of the reference's own vg_mul_qmult; the output multiply (a right shift
 * only, as the add constructs it) is the one-product formula of q8_rq.h, branch-free so that
 * compilers vectorise it (AVX2 gathers for the tables). Exact; 4x faster than three
 * vg_mul_qmult per element. */
typedef struct {
    int32_t t1[256], t2[256];
    int64_t mo, add, adj, sh;
    bool ok; /* the output multiplier's shift is <= 0 */
} add_tables;

static void add_tables_init(const vg_add_q8 *p, add_tables *t) {
    for (int v = -128; v < 128; v++) {
        t->t1[v + 128] = vg_mul_qmult((v - p->zp1) * (1 << 20), p->m1, p->s1);
        t->t2[v + 128] = vg_mul_qmult((v - p->zp2) * (1 << 20), p->m2, p->s2);
    }
    t->ok = p->so <= 0 && p->mo != INT32_MIN;
    q8_rq_const k = q8_rq_const_of(p->so, false);
    t->mo = p->mo, t->add = k.add, t->adj = k.adj, t->sh = k.sh;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("avx2", "default")))
#endif
static void add_portable(size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p,
                         const add_tables *t, int8_t *y) {
    const int64_t mo = t->mo, add = t->add, adj = t->adj, sh = t->sh;
    const int64_t zp = p->zp_out, lo = p->act_min, hi = p->act_max;
    for (size_t i = 0; i < n; i++) {
        int32_t s = (int32_t)((uint32_t)t->t1[a[i] + 128] + (uint32_t)t->t2[b[i] + 128]);
        int64_t prod = (int64_t)s * mo;
        int64_t u = prod + add - (prod < -(1ll << 30) ? adj : 0);
        int64_t v = (u >> sh) + zp;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[i] = (int8_t)v;
    }
}

typedef struct {
    const int8_t *a, *b;
    const vg_add_q8 *p;
    int8_t *y;
    size_t n;
    bool fast;
    const add_tables *t; /* or NULL: the reference */
} add_job;

static void add_task(void *ctx, int task, int thread) {
    (void)thread;
    const add_job *J = ctx;
    size_t i0 = (size_t)task * ADD_PIECE, len = J->n - i0 < ADD_PIECE ? J->n - i0 : ADD_PIECE;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (J->fast) {
        add_avx512(len, J->a + i0, J->b + i0, J->p, J->y + i0);
        return;
    }
#endif
    if (J->t)
        add_portable(len, J->a + i0, J->b + i0, J->p, J->t, J->y + i0);
    else
        vg_add_q8_ref(len, J->a + i0, J->b + i0, J->p, J->y + i0);
}

void vg_q8_add(vg_pool *pool, size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p,
               int8_t *y, const vg_q8_sel *sel) {
    /* the vector form covers multipliers up to one half (the add's own construction: each
     * input's is scale / (2 max scale) <= 1/2, the output's far below) */
    bool fast = sel && sel->fast && p->s1 <= 0 && p->s2 <= 0 && p->so <= 0;
    add_tables t;
    if (!fast) add_tables_init(p, &t);
    add_job J = {a, b, p, y, n, fast, !fast && t.ok ? &t : NULL};
    vg_pool_run(pool, (int)((n + ADD_PIECE - 1) / ADD_PIECE), add_task, &J);
}

typedef struct {
    const float *x;
    vg_qparam q;
    int8_t *y;
    size_t n;
    bool fast;
} quant_job;

static void quant_task(void *ctx, int task, int thread) {
    (void)thread;
    const quant_job *J = ctx;
    size_t i0 = (size_t)task * QUANT_PIECE, len = J->n - i0 < QUANT_PIECE ? J->n - i0 : QUANT_PIECE;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (J->fast) {
        quantize_avx512(len, J->x + i0, J->q, J->y + i0);
        return;
    }
#endif
    for (size_t i = i0; i < i0 + len; i++)
        J->y[i] = vg_quantize1(J->x[i], J->q);
}

void vg_q8_quantize(vg_pool *pool, size_t n, const float *x, vg_qparam q, int8_t *y,
                    const vg_q8_sel *sel) {
    quant_job J = {x, q, y, n, sel && sel->fast};
    vg_pool_run(pool, (int)((n + QUANT_PIECE - 1) / QUANT_PIECE), quant_task, &J);
}

void vg_q8_gap(int n, int hw, int c, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y) {
    /* the reference's float arithmetic, term for term */
    float scale = in.scale / out.scale, bias = -(float)in.zp * scale + (float)out.zp;
    enum { CB = 256 };
    int32_t sum[CB];
    for (int b = 0; b < n; b++)
        for (int c0 = 0; c0 < c; c0 += CB) {
            int nc = c - c0 < CB ? c - c0 : CB;
            memset(sum, 0, sizeof sum);
            for (int i = 0; i < hw; i++) {
                const int8_t *xp = x + ((size_t)b * hw + i) * c + c0;
                for (int k = 0; k < nc; k++)
                    sum[k] += xp[k];
            }
            for (int k = 0; k < nc; k++) {
                float v = roundf((float)sum[k] / (float)hw * scale + bias);
                /* NaN (from extreme scale ratios) -> -128, as vg_quantize1 */
                v = !(v > -128.0f) ? -128.0f : v > 127.0f ? 127.0f : v;
                y[(size_t)b * c + c0 + k] = (int8_t)v;
            }
        }
}
