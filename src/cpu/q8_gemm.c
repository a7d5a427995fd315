/* q8_gemm.c — the int8 matrix multiply (see q8.h): weight packing, the requantization
 * constants (q8_rq.h), the AVX-512 VNNI micro-kernels (8, 4 or 1 rows x 32 columns), AVX2
 * ones (2 x 16), the AArch64 NEON ones (SDOT: 4 rows x 16 columns; ARMv8.0: 2 x 16), a portable fallback over the same packed layout, the int8 im2col convolution, and threading
 * over fixed tiles (results independent of the thread count). */
#include "cpu/backend.h"
#include "cpu/q8_rq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

#define NR        16 /* columns per panel: one vector of int32 accumulators */
#define TILE_ROWS 64 /* the most rows of a tile */

/* ---- requantization constants */

bool vg_q8_rq_init(vg_q8_rq *r, int n, const vg_q8_out *q) {
    memset(r, 0, sizeof *r);
    int n16 = (n + 15) / 16 * 16;
    r->n16 = n16;
    r->bias = vg_aligned_alloc(64, sizeof(int32_t) * (size_t)n16);
    r->mult = vg_aligned_alloc(64, sizeof(int32_t) * (size_t)n16);
    r->lsh = vg_aligned_alloc(64, sizeof(int32_t) * (size_t)n16);
    r->add = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    r->adj = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    r->sh = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    r->add_n = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    r->adj_n = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    r->nsh_n = vg_aligned_alloc(64, sizeof(int64_t) * (size_t)n16);
    if (!r->bias || !r->mult || !r->lsh || !r->add || !r->adj || !r->sh || !r->add_n ||
        !r->adj_n || !r->nsh_n) {
        vg_q8_rq_free(r);
        return false;
    }
    r->out_zp = q->out_zp, r->lo = q->act_min, r->hi = q->act_max;
    bool single = q->rounding == VG_Q8_ROUND_SINGLE, wide = false, ok = true;
    for (int j = 0; j < n16; j++) {
        /* tail lanes: multiplier 0 gives 0 in both rules */
        int32_t m = j < n ? q->mult[j] : 0, e = j < n ? q->shift[j] : -1;
        q8_rq_const c = q8_rq_const_of(e, single);
        wide |= c.wide;
        ok &= single || m != INT32_MIN; /* the saturating case of the doubling high multiply */
        /* 64-bit constants in even / odd lane order within each block of 16 */
        int at = j / 16 * 16 + (j % 2) * 8 + (j % 16) / 2;
        r->bias[j] = 0, r->mult[j] = m, r->lsh[j] = c.lsh;
        r->add[at] = c.add, r->adj[at] = c.adj, r->sh[at] = c.sh;
        r->add_n[j] = c.add, r->adj_n[j] = c.adj, r->nsh_n[j] = -c.sh;
    }
    r->variant = !ok ? -1 : (single ? Q8_RQ_SINGLE : 0) | (wide ? Q8_RQ_WIDE : 0);
    return true;
}

void vg_q8_rq_free(vg_q8_rq *r) {
    free(r->bias), free(r->mult), free(r->lsh), free(r->add), free(r->adj), free(r->sh);
    free(r->add_n), free(r->adj_n), free(r->nsh_n);
    memset(r, 0, sizeof *r);
}

/* ---- plans */

/* What this CPU has, detected once per process (pthread_once: runners may be created by
 * several threads at once), and from it, for each kernel choice of backend.c, whether the
 * AVX-512 VNNI fast paths run and which GEMM family plans take. */
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;
static bool hw_vnni;
static bool fast_for[VG_KERNELS_CHOICES];
static int isa_for[VG_KERNELS_CHOICES];

static bool hw_supports(int isa) {
    switch (isa) {
    case VG_Q8_PORTABLE: return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case VG_Q8_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2");
    case VG_Q8_VNNI: return hw_vnni;
#endif
#if defined(__aarch64__)
    case VG_Q8_NEON: return true; /* Advanced SIMD is mandatory in AArch64 */
    case VG_Q8_NEON_DOT: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    default: return false;
    }
}

static void detect_caps(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    hw_vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    for (int c = 0; c < VG_KERNELS_CHOICES; c++) {
        const char *k = vg_kernels_choice_name(c);
        bool portable = k && (!strcmp(k, "ref") || !strcmp(k, "scalar"));
        /* avx2: behave as a CPU without AVX-512 (the int8 kernels as the float ones) */
        fast_for[c] = hw_vnni && !portable && !(k && !strcmp(k, "avx2"));
        int best = VG_Q8_PORTABLE;
        static const int order[] = {VG_Q8_NEON_DOT, VG_Q8_NEON, VG_Q8_VNNI, VG_Q8_AVX2};
        for (size_t i = 0; !portable && i < sizeof order / sizeof order[0]; i++)
            if (hw_supports(order[i]) && (order[i] != VG_Q8_VNNI || fast_for[c])) {
                best = order[i];
                break;
            }
        isa_for[c] = best;
    }
}

static _Atomic int forced_isa = -1; /* vg_q8_gemm_force: tests */

vg_q8_sel vg_q8_select(int choice) {
    pthread_once(&caps_once, detect_caps);
    if (choice < 0 || choice >= VG_KERNELS_CHOICES) choice = 0;
    int f = forced_isa;
    vg_q8_sel s = {fast_for[choice], f >= 0 ? f : isa_for[choice]};
    return s;
}

bool vg_q8_fast_available(void) { return vg_q8_select(vg_kernels_choice()).fast; }

bool vg_q8_isa_supported(int isa) {
    pthread_once(&caps_once, detect_caps);
    if (isa == VG_Q8_VNNI) return vg_q8_fast_available();
    return hw_supports(isa);
}

int vg_q8_gemm_isa(void) { return vg_q8_select(vg_kernels_choice()).isa; }

bool vg_q8_gemm_force(int isa) {
    if (isa < 0) {
        forced_isa = -1;
        return true;
    }
    if (isa >= VG_Q8_ISA_COUNT_ || !vg_q8_isa_supported(isa)) return false;
    forced_isa = isa;
    return true;
}

const char *vg_q8_isa_name(int isa) {
    static const char *names[] = {"portable", "AVX2", "AVX-512 VNNI", "NEON", "NEON dotprod"};
    return isa >= 0 && isa < VG_Q8_ISA_COUNT_ ? names[isa] : "?";
}

bool vg_q8_gemm_plan_init(vg_q8_gemm_plan *p, int n, int k, const int8_t *w, const int32_t *bias,
                          const vg_q8_out *q, const vg_q8_sel *sel) {
    memset(p, 0, sizeof *p);
    p->n = n, p->k = k, p->k4 = (k + 3) / 4, p->panels = (n + NR - 1) / NR;
    p->w_rows = w, p->bias = bias, p->q = *q;
    /* sum (x - zp) w = sum x w - zp sum w: the zero point goes into the bias (the fast path
     * also folds the 128 of its unsigned activations) */
    p->bias_zp = vg_malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!p->bias_zp) return false;
    for (int j = 0; j < n; j++) {
        int32_t s = 0;
        for (int kk = 0; kk < k; kk++)
            s += w[(size_t)j * k + kk];
        /* wrapping arithmetic: a hostile model's extreme biases must not be undefined
         * behaviour (a valid model's sums are far from the int32 limits) */
        p->bias_zp[j] = (int32_t)((uint32_t)(bias ? bias[j] : 0) - (uint32_t)q->in_zp * (uint32_t)s);
    }
    if (!vg_q8_rq_init(&p->rq, n, q)) {
        vg_q8_gemm_plan_free(p);
        return false;
    }
    p->isa = sel && p->rq.variant >= 0 ? sel->isa : VG_Q8_PORTABLE;
    p->fast = p->isa == VG_Q8_VNNI;
    if (p->isa == VG_Q8_PORTABLE) return true;
    size_t bytes = (size_t)p->panels * p->k4 * NR * 4;
    p->w = vg_aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (!p->w) {
        vg_q8_gemm_plan_free(p);
        return false;
    }
    memset(p->w, 0, bytes);
    for (int j = 0; j < n; j++) {
        int8_t *panel = p->w + (size_t)(j / NR) * p->k4 * NR * 4;
        for (int kk = 0; kk < k; kk++)
            panel[((size_t)(kk / 4) * NR + j % NR) * 4 + kk % 4] = w[(size_t)j * k + kk];
    }
    if (p->isa == VG_Q8_AVX2) {
        p->w16 = vg_aligned_alloc(64, (bytes * 2 + 63) / 64 * 64 + 64);
        if (!p->w16) {
            vg_q8_gemm_plan_free(p);
            return false;
        }
        for (size_t i = 0; i < bytes; i++) p->w16[i] = p->w[i];
        free(p->w); /* the AVX2 kernel reads only the widened copy */
        p->w = NULL;
    }
    /* accumulator start per column (n16 long: the tail panel reads it whole); VNNI's unsigned
     * activations carry 128 more, the signed ones of the others do not */
    for (int j = 0; j < n; j++) {
        uint32_t s = 0;
        for (int kk = 0; p->fast && kk < k; kk++)
            s += (uint32_t)(int32_t)w[(size_t)j * k + kk];
        p->rq.bias[j] = (int32_t)((uint32_t)p->bias_zp[j] - 128u * s);
    }
    return true;
}

void vg_q8_gemm_plan_free(vg_q8_gemm_plan *p) {
    free(p->w);
    free(p->w16);
    free(p->bias_zp);
    vg_q8_rq_free(&p->rq);
    memset(p, 0, sizeof *p);
}

/* ---- tile kernels: rows [i0, i1), panels [p0, p1) */

/* Output column j of row i goes to c[i ldc + (j / 16) pstride + j % 16]: pstride is 16 for a
 * plain (m, n) matrix; the fused pointwise + depthwise writes blocks of 16 channels apart. */
typedef void (*tile_fn)(int i0, int i1, int p0, int p1, const int8_t *a, int lda,
                        const vg_q8_gemm_plan *p, int8_t *c, size_t ldc, size_t pstride);

/* portable: dot products of A rows and W rows (contiguous int8, which compilers vectorise),
 * the zero point folded into the bias; the same integer sums as the reference, so
 * bit-identical */
static void tile_scalar(int i0, int i1, int p0, int p1, const int8_t *a, int lda,
                        const vg_q8_gemm_plan *p, int8_t *c, size_t ldc, size_t pstride) {
    int j0 = p0 * NR, j1 = p1 * NR < p->n ? p1 * NR : p->n;
    for (int i = i0; i < i1; i++) {
        const int8_t *ar = a + (size_t)i * lda;
        for (int j = j0; j < j1; j++) {
            const int8_t *wr = p->w_rows + (size_t)j * p->k;
            int32_t acc = 0;
            for (int kk = 0; kk < p->k; kk++)
                acc += (int32_t)ar[kk] * wr[kk];
            acc += p->bias_zp[j];
            c[(size_t)i * ldc + (size_t)(j / NR) * pstride + j % NR] =
                p->rq.variant >= 0 ? q8_rq1(&p->rq, acc, j) : vg_q8_requant1(acc, &p->q, j);
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

/* MR rows (a block; rows past `rows` repeat the last one, computed but not stored) x PC
 * panels starting at panel pn. MR, PC and variant are constants at every call site. */
Q8_TV Q8_INLINE void vnni_block(int MR, int PC, int variant, int rows, const int8_t *a, int lda,
                                const vg_q8_gemm_plan *p, int pn, int8_t *c, size_t ldc,
                                size_t pstride) {
    const vg_q8_rq *rq = &p->rq;
    const __m512i flip = _mm512_set1_epi32((int)0x80808080);
    const int8_t *w0 = p->w + (size_t)pn * p->k4 * NR * 4;
    const int8_t *w1 = PC > 1 ? w0 + (size_t)p->k4 * NR * 4 : w0;
    const int8_t *r[8];
    for (int t = 0; t < MR; t++)
        r[t] = a + (size_t)(t < rows ? t : rows - 1) * lda;
    int col = pn * NR;
    __m512i c0[8], c1[8];
    __m512i b0 = _mm512_load_si512(rq->bias + col);
    __m512i b1 = PC > 1 ? _mm512_load_si512(rq->bias + col + NR) : b0;
#pragma GCC unroll 8
    for (int t = 0; t < MR; t++)
        c0[t] = b0, c1[t] = b1;
    for (int k4 = 0; k4 < p->k4; k4++) {
        __m512i wa = _mm512_load_si512(w0 + (size_t)k4 * 64);
        __m512i wb = PC > 1 ? _mm512_load_si512(w1 + (size_t)k4 * 64) : wa;
#pragma GCC unroll 8
        for (int t = 0; t < MR; t++) {
            int32_t v;
            memcpy(&v, r[t] + 4 * k4, 4);
            __m512i av = _mm512_xor_si512(_mm512_set1_epi32(v), flip);
            c0[t] = q8_dpbusd(c0[t], av, wa);
            if (PC > 1) c1[t] = q8_dpbusd(c1[t], av, wb);
        }
    }
    q8_rq16 q0 = q8_rq16_load(rq, col);
#pragma GCC unroll 8
    for (int t = 0; t < MR; t++)
        if (t < rows)
            q8_store16(c + (size_t)t * ldc + (size_t)pn * pstride,
                       q8_rq16_apply(c0[t], &q0, rq, variant), p->n - col);
    if (PC > 1) {
        q8_rq16 q1 = q8_rq16_load(rq, col + NR);
#pragma GCC unroll 8
        for (int t = 0; t < MR; t++)
            if (t < rows)
                q8_store16(c + (size_t)t * ldc + (size_t)(pn + 1) * pstride,
                           q8_rq16_apply(c1[t], &q1, rq, variant), p->n - col - NR);
    }
}

Q8_TV Q8_INLINE void vnni_tile(int variant, int i0, int i1, int p0, int p1, const int8_t *a,
                               int lda, const vg_q8_gemm_plan *p, int8_t *c, size_t ldc,
                               size_t pstride) {
    for (int pn = p0; pn < p1; pn += 2) {
        bool two = pn + 1 < p1;
        for (int i = i0; i < i1;) {
            int rows = i1 - i;
            const int8_t *ai = a + (size_t)i * lda;
            int8_t *ci = c + (size_t)i * ldc;
            size_t ps = pstride;
            if (rows >= 5) {
                rows = rows > 8 ? 8 : rows;
                if (two)
                    vnni_block(8, 2, variant, rows, ai, lda, p, pn, ci, ldc, ps);
                else
                    vnni_block(8, 1, variant, rows, ai, lda, p, pn, ci, ldc, ps);
            } else if (rows >= 2) {
                if (two)
                    vnni_block(4, 2, variant, rows, ai, lda, p, pn, ci, ldc, ps);
                else
                    vnni_block(4, 1, variant, rows, ai, lda, p, pn, ci, ldc, ps);
            } else {
                if (two)
                    vnni_block(1, 2, variant, 1, ai, lda, p, pn, ci, ldc, ps);
                else
                    vnni_block(1, 1, variant, 1, ai, lda, p, pn, ci, ldc, ps);
            }
            i += rows;
        }
    }
}

#define VNNI_TILE(V)                                                                               \
    Q8_TV static void tile_vnni_##V(int i0, int i1, int p0, int p1, const int8_t *a, int lda,      \
                                    const vg_q8_gemm_plan *p, int8_t *c, size_t ldc,               \
                                    size_t pstride) {                                              \
        vnni_tile(V, i0, i1, p0, p1, a, lda, p, c, ldc, pstride);                                  \
    }
VNNI_TILE(0)
VNNI_TILE(1)
VNNI_TILE(2)
VNNI_TILE(3)
static const tile_fn vnni_tiles[4] = {tile_vnni_0, tile_vnni_1, tile_vnni_2, tile_vnni_3};

/* ---- AVX2 (x86 without VNNI): bytes widened to int16 and multiplied in pairs by vpmaddwd
 * (vpmaddubsw would be faster but saturates its int16 pair sums: not exact). A k4 step's 16
 * weights for 4 columns are one register of 4 x 4 int16 (widened when the plan is made); the
 * row's 4 bytes, widened and
 * broadcast, give each column's k pairs in two int32 lanes, added by vphaddd at the end. */
#define Q8_AVX2 __attribute__((target("avx2,fma")))

/* requantization constants of one panel: 8 columns per register, 64-bit values of the even
 * and odd columns apart (as vpmuldq forms the products) */
typedef struct {
    __m256i mult[2], lsh[2];
    __m256i add_e[2], add_o[2], adj_e[2], adj_o[2], sh_e[2], sh_o[2];
} aq16;

/* 8 channel-order 64-bit values -> those of the even and of the odd channels */
Q8_AVX2 Q8_INLINE void a2_split(const int64_t *v, bool negate, __m256i *e, __m256i *o) {
    __m256i x = _mm256_loadu_si256((const __m256i *)v), y = _mm256_loadu_si256((const __m256i *)(v + 4));
    if (negate) {
        x = _mm256_sub_epi64(_mm256_setzero_si256(), x);
        y = _mm256_sub_epi64(_mm256_setzero_si256(), y);
    }
    *e = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(x, y), 0xD8);
    *o = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(x, y), 0xD8);
}

Q8_AVX2 Q8_INLINE void aq16_load(const vg_q8_rq *r, int col, aq16 *q) {
    for (int h = 0; h < 2; h++) {
        int c = col + 8 * h;
        q->mult[h] = _mm256_loadu_si256((const __m256i *)(r->mult + c));
        q->lsh[h] = _mm256_loadu_si256((const __m256i *)(r->lsh + c));
        a2_split(r->add_n + c, false, &q->add_e[h], &q->add_o[h]);
        a2_split(r->adj_n + c, false, &q->adj_e[h], &q->adj_o[h]);
        a2_split(r->nsh_n + c, true, &q->sh_e[h], &q->sh_o[h]);
    }
}

/* floor(t / 2^sh) per 64-bit lane (AVX2 has no arithmetic 64-bit shift) */
Q8_AVX2 Q8_INLINE __m256i a2_sra64(__m256i t, __m256i sh) {
    __m256i m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
    return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(t, m), sh), m);
}

/* 64-bit products of 4 lanes -> the formula of q8_rq.h, clamped to [lo64, hi64] if wide */
Q8_AVX2 Q8_INLINE __m256i a2_rq64(__m256i prod, __m256i add, __m256i adj, __m256i sh, bool single,
                                  bool wide, __m256i lo64, __m256i hi64) {
    __m256i t = _mm256_add_epi64(prod, add);
    if (!single) {
        __m256i neg = _mm256_cmpgt_epi64(_mm256_set1_epi64x(-(1ll << 30)), prod);
        t = _mm256_sub_epi64(t, _mm256_and_si256(adj, neg));
    }
    t = a2_sra64(t, sh);
    if (wide) {
        t = _mm256_blendv_epi8(t, lo64, _mm256_cmpgt_epi64(lo64, t));
        t = _mm256_blendv_epi8(t, hi64, _mm256_cmpgt_epi64(t, hi64));
    }
    return t;
}

/* 8 accumulators (columns 8h .. 8h + 7) -> 8 results in [lo, hi] */
Q8_AVX2 Q8_INLINE __m256i a2_apply(__m256i acc, const aq16 *q, int h, const vg_q8_rq *r,
                                   int variant) {
    const bool single = variant & Q8_RQ_SINGLE, wide = variant & Q8_RQ_WIDE;
    if (wide && !single) { /* TFLite: x * 2^left saturated to int32 */
        __m256i y = _mm256_sllv_epi32(acc, q->lsh[h]);
        __m256i ovf = _mm256_xor_si256(_mm256_cmpeq_epi32(_mm256_srav_epi32(y, q->lsh[h]), acc),
                                       _mm256_set1_epi32(-1));
        __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(INT32_MAX));
        acc = _mm256_blendv_epi8(y, sat, ovf);
    }
    __m256i lo64 = _mm256_setzero_si256(), hi64 = lo64;
    if (wide) {
        lo64 = _mm256_set1_epi64x((int64_t)r->lo - r->out_zp);
        hi64 = _mm256_set1_epi64x((int64_t)r->hi - r->out_zp);
    }
    __m256i pe = _mm256_mul_epi32(acc, q->mult[h]);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(q->mult[h], 32));
    pe = a2_rq64(pe, q->add_e[h], q->adj_e[h], q->sh_e[h], single, wide, lo64, hi64);
    po = a2_rq64(po, q->add_o[h], q->adj_o[h], q->sh_o[h], single, wide, lo64, hi64);
    __m256i y = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    y = _mm256_add_epi32(y, _mm256_set1_epi32(r->out_zp));
    return _mm256_min_epi32(_mm256_max_epi32(y, _mm256_set1_epi32(r->lo)),
                            _mm256_set1_epi32(r->hi));
}

/* 16 results in [-128, 127] (two registers of 8, in order) -> 16 bytes */
Q8_AVX2 Q8_INLINE __m128i a2_pack16(__m256i y0, __m256i y1) {
    __m256i h16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(h16), _mm256_extracti128_si256(h16, 1));
}

/* MR (1 or 2) rows x one panel; rows past `rows` repeat the last one, not stored */
Q8_AVX2 Q8_INLINE void avx2_block(int MR, int variant, int rows, const int8_t *a, int lda,
                                  const vg_q8_gemm_plan *p, int pn, const aq16 *q, int8_t *c,
                                  size_t ldc, size_t pstride) {
    const int16_t *w = p->w16 + (size_t)pn * p->k4 * NR * 4;
    const int8_t *r[2];
    for (int t = 0; t < MR; t++)
        r[t] = a + (size_t)(t < rows ? t : rows - 1) * lda;
    __m256i acc[2][4];
    for (int t = 0; t < MR; t++)
        for (int g = 0; g < 4; g++)
            acc[t][g] = _mm256_setzero_si256();
    for (int k4 = 0; k4 < p->k4; k4++) {
        const int16_t *wk = w + (size_t)k4 * 64;
        __m256i w16[4];
        for (int g = 0; g < 4; g++)
            w16[g] = _mm256_load_si256((const __m256i *)(wk + 16 * g));
        for (int t = 0; t < MR; t++) {
            int32_t v;
            memcpy(&v, r[t] + 4 * k4, 4);
            __m256i av = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)));
            for (int g = 0; g < 4; g++)
                acc[t][g] = _mm256_add_epi32(acc[t][g], _mm256_madd_epi16(av, w16[g]));
        }
    }
    int col = pn * NR;
    for (int t = 0; t < MR && t < rows; t++) {
        /* vphaddd pairs the k halves: lanes (c0 c1 c4 c5 | c2 c3 c6 c7); vpermq restores order */
        __m256i s0 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[t][0], acc[t][1]), 0xD8);
        __m256i s1 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[t][2], acc[t][3]), 0xD8);
        s0 = _mm256_add_epi32(s0, _mm256_loadu_si256((const __m256i *)(p->rq.bias + col)));
        s1 = _mm256_add_epi32(s1, _mm256_loadu_si256((const __m256i *)(p->rq.bias + col + 8)));
        __m128i b = a2_pack16(a2_apply(s0, q, 0, &p->rq, variant), a2_apply(s1, q, 1, &p->rq, variant));
        int8_t *dst = c + (size_t)t * ldc + (size_t)pn * pstride;
        int nvalid = p->n - col;
        if (nvalid >= 16) {
            _mm_storeu_si128((__m128i *)dst, b);
        } else {
            int8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, b);
            memcpy(dst, tmp, (size_t)nvalid);
        }
    }
}

#define AVX2_TILE(V)                                                                               \
    Q8_AVX2 static void tile_avx2_##V(int i0, int i1, int p0, int p1, const int8_t *a, int lda,    \
                                      const vg_q8_gemm_plan *p, int8_t *c, size_t ldc,             \
                                      size_t pstride) {                                            \
        for (int pn = p0; pn < p1; pn++) {                                                         \
            aq16 q;                                                                                \
            aq16_load(&p->rq, pn * NR, &q);                                                        \
            for (int i = i0; i < i1; i += 2) {                                                     \
                const int8_t *ai = a + (size_t)i * lda;                                            \
                int8_t *ci = c + (size_t)i * ldc;                                                  \
                if (i1 - i > 1)                                                                    \
                    avx2_block(2, V, 2, ai, lda, p, pn, &q, ci, ldc, pstride);                     \
                else                                                                               \
                    avx2_block(1, V, 1, ai, lda, p, pn, &q, ci, ldc, pstride);                     \
            }                                                                                      \
        }                                                                                          \
    }
AVX2_TILE(0)
AVX2_TILE(1)
AVX2_TILE(2)
AVX2_TILE(3)
static const tile_fn avx2_tiles[4] = {tile_avx2_0, tile_avx2_1, tile_avx2_2, tile_avx2_3};

#define AVX2_RQ(V)                                                                                 \
    Q8_AVX2 static void rq_avx2_##V(const vg_q8_rq *r, const int32_t *acc, int c0, int n16,       \
                                    int8_t *out) {                                                 \
        for (int i = 0; i < n16; i += 16) {                                                        \
            aq16 q;                                                                                \
            aq16_load(r, c0 + i, &q);                                                              \
            __m256i y0 = a2_apply(_mm256_loadu_si256((const __m256i *)(acc + i)), &q, 0, r, V);    \
            __m256i y1 = a2_apply(_mm256_loadu_si256((const __m256i *)(acc + i + 8)), &q, 1, r, V); \
            _mm_storeu_si128((__m128i *)(out + i), a2_pack16(y0, y1));                             \
        }                                                                                          \
    }
AVX2_RQ(0)
AVX2_RQ(1)
AVX2_RQ(2)
AVX2_RQ(3)
typedef void (*rq_fn)(const vg_q8_rq *r, const int32_t *acc, int c0, int n16, int8_t *out);
static const rq_fn rq_vec[4] = {rq_avx2_0, rq_avx2_1, rq_avx2_2, rq_avx2_3};
#endif

#if defined(__aarch64__)

/* The requantization constants of one panel (16 columns) in natural column order, for 4
 * vectors of 4 columns (rq keeps its 64-bit constants in AVX-512's even / odd lane order). */
typedef struct {
    int32x4_t mult[4], lsh[4];
    int64x2_t add[8], adj[8], nsh[8]; /* nsh: minus the right shift (vshl shifts right) */
    int32x4_t lo, hi, zp;             /* lo - zp, hi - zp, zp */
} nq16;

static inline void nq16_load(const vg_q8_rq *r, int col, nq16 *q) {
    /* SQSHL reads its count as a signed byte: clamp; by 31 every nonzero value saturates, as
     * the reference's shifts by 32 and more do */
    const int32x4_t max_lsh = vdupq_n_s32(31);
    for (int g = 0; g < 4; g++) {
        q->mult[g] = vld1q_s32(r->mult + col + 4 * g);
        q->lsh[g] = vminq_s32(vld1q_s32(r->lsh + col + 4 * g), max_lsh);
    }
    for (int h = 0; h < 8; h++) {
        q->add[h] = vld1q_s64(r->add_n + col + 2 * h);
        q->adj[h] = vld1q_s64(r->adj_n + col + 2 * h);
        q->nsh[h] = vld1q_s64(r->nsh_n + col + 2 * h);
    }
    q->lo = vdupq_n_s32(r->lo - r->out_zp), q->hi = vdupq_n_s32(r->hi - r->out_zp);
    q->zp = vdupq_n_s32(r->out_zp);
}

/* 4 accumulators (columns 4g .. 4g + 3 of the panel) -> 4 results in [lo, hi], the formula
 * of q8_rq.h in 64-bit lanes. The results of the formula lie in int32 except with `wide`,
 * where the reference clamps them to [lo - zp, hi - zp]: the saturating narrow then that
 * clamp give the same values. */
static inline __attribute__((always_inline)) int32x4_t nq_apply(int32x4_t acc, const nq16 *q,
                                                                 int g, int variant) {
    const bool single = variant & Q8_RQ_SINGLE, wide = variant & Q8_RQ_WIDE;
    if (wide && !single) acc = vqshlq_s32(acc, q->lsh[g]); /* TFLite's saturating left shift */
    int64x2_t p0 = vmull_s32(vget_low_s32(acc), vget_low_s32(q->mult[g]));
    int64x2_t p1 = vmull_high_s32(acc, q->mult[g]);
    int64x2_t t0 = vaddq_s64(p0, q->add[2 * g]), t1 = vaddq_s64(p1, q->add[2 * g + 1]);
    if (!single) {
        const int64x2_t thr = vdupq_n_s64(-(1ll << 30));
        t0 = vsubq_s64(t0, vandq_s64(q->adj[2 * g], vreinterpretq_s64_u64(vcltq_s64(p0, thr))));
        t1 = vsubq_s64(t1, vandq_s64(q->adj[2 * g + 1], vreinterpretq_s64_u64(vcltq_s64(p1, thr))));
    }
    t0 = vshlq_s64(t0, q->nsh[2 * g]), t1 = vshlq_s64(t1, q->nsh[2 * g + 1]);
    int32x4_t y = vcombine_s32(vqmovn_s64(t0), vqmovn_s64(t1));
    return vaddq_s32(vminq_s32(vmaxq_s32(y, q->lo), q->hi), q->zp);
}

/* 16 accumulators of one row (+ the accumulator start) -> 16 bytes at dst (nvalid of them) */
static inline __attribute__((always_inline)) void nq_store(const int32x4_t acc[4],
                                                           const int32_t *start, const nq16 *q,
                                                           int variant, int8_t *dst, int nvalid) {
    int32x4_t y[4];
    for (int g = 0; g < 4; g++)
        y[g] = nq_apply(vaddq_s32(acc[g], vld1q_s32(start + 4 * g)), q, g, variant);
    int16x8_t lo = vcombine_s16(vmovn_s32(y[0]), vmovn_s32(y[1]));
    int16x8_t hi = vcombine_s16(vmovn_s32(y[2]), vmovn_s32(y[3]));
    int8x16_t b = vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
    if (nvalid >= 16) {
        vst1q_s8(dst, b);
    } else {
        int8_t tmp[16];
        vst1q_s8(tmp, b);
        memcpy(dst, tmp, (size_t)nvalid);
    }
}

/* The 4 bytes of A at r (k values 4 k4 .. 4 k4 + 3) in every 32-bit lane */
static inline int8x16_t bcast4(const int8_t *r) {
    int32_t v;
    memcpy(&v, r, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

/* MR rows (rows past `rows` repeat the last one, computed but not stored) x one panel, with
 * SDOT: each 16-byte slice of a packed k4 step holds 4 columns x 4 k values, so one SDOT adds
 * 4 columns' 4-term dot products. */
#define Q8_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
Q8_DOTPROD static inline __attribute__((always_inline)) void
dot_block(int MR, int variant, int rows, const int8_t *a, int lda, const vg_q8_gemm_plan *p,
          int pn, const nq16 *q, int8_t *c, size_t ldc, size_t pstride) {
    const int8_t *w = p->w + (size_t)pn * p->k4 * NR * 4;
    const int8_t *r[4];
    for (int t = 0; t < MR; t++)
        r[t] = a + (size_t)(t < rows ? t : rows - 1) * lda;
    int32x4_t acc[4][4];
    for (int t = 0; t < MR; t++)
        for (int g = 0; g < 4; g++)
            acc[t][g] = vdupq_n_s32(0);
    for (int k4 = 0; k4 < p->k4; k4++) {
        const int8_t *wk = w + (size_t)k4 * 64;
        int8x16_t b0 = vld1q_s8(wk), b1 = vld1q_s8(wk + 16), b2 = vld1q_s8(wk + 32),
                  b3 = vld1q_s8(wk + 48);
        for (int t = 0; t < MR; t++) {
            int8x16_t av = bcast4(r[t] + 4 * k4);
            acc[t][0] = vdotq_s32(acc[t][0], av, b0);
            acc[t][1] = vdotq_s32(acc[t][1], av, b1);
            acc[t][2] = vdotq_s32(acc[t][2], av, b2);
            acc[t][3] = vdotq_s32(acc[t][3], av, b3);
        }
    }
    int col = pn * NR;
    for (int t = 0; t < MR && t < rows; t++)
        nq_store(acc[t], p->rq.bias + col, q, variant, c + (size_t)t * ldc + (size_t)pn * pstride,
                 p->n - col);
}

/* The same without SDOT (ARMv8.0): SMULL of the broadcast A bytes and one 8-byte half of a
 * slice (2 columns x 4 k values; int8 x int8 fits int16), SADALP adds neighbouring products
 * into int32 lanes (a column's k pairs), one ADDP per column group at the end. */
static inline __attribute__((always_inline)) void
mull_block(int MR, int variant, int rows, const int8_t *a, int lda, const vg_q8_gemm_plan *p,
           int pn, const nq16 *q, int8_t *c, size_t ldc, size_t pstride) {
    const int8_t *w = p->w + (size_t)pn * p->k4 * NR * 4;
    const int8_t *r[2];
    for (int t = 0; t < MR; t++)
        r[t] = a + (size_t)(t < rows ? t : rows - 1) * lda;
    int32x4_t acc[2][8];
    for (int t = 0; t < MR; t++)
        for (int h = 0; h < 8; h++)
            acc[t][h] = vdupq_n_s32(0);
    for (int k4 = 0; k4 < p->k4; k4++) {
        const int8_t *wk = w + (size_t)k4 * 64;
        int8x16_t b[4] = {vld1q_s8(wk), vld1q_s8(wk + 16), vld1q_s8(wk + 32), vld1q_s8(wk + 48)};
        for (int t = 0; t < MR; t++) {
            int8x16_t av = bcast4(r[t] + 4 * k4);
            int8x8_t al = vget_low_s8(av);
            for (int g = 0; g < 4; g++) {
                acc[t][2 * g] = vpadalq_s16(acc[t][2 * g], vmull_s8(al, vget_low_s8(b[g])));
                acc[t][2 * g + 1] = vpadalq_s16(acc[t][2 * g + 1], vmull_high_s8(av, b[g]));
            }
        }
    }
    int col = pn * NR;
    for (int t = 0; t < MR && t < rows; t++) {
        int32x4_t s[4];
        for (int g = 0; g < 4; g++)
            s[g] = vpaddq_s32(acc[t][2 * g], acc[t][2 * g + 1]);
        nq_store(s, p->rq.bias + col, q, variant, c + (size_t)t * ldc + (size_t)pn * pstride,
                 p->n - col);
    }
}

/* one tile kernel: panels [p0, p1) x rows [i0, i1) in blocks of MR rows (BLOCK: dot_block or
 * mull_block), the panel's requantization constants loaded once */
#define NEON_TILE(NAME, ATTR, BLOCK, MR, V)                                                        \
    ATTR static void NAME(int i0, int i1, int p0, int p1, const int8_t *a, int lda,                \
                          const vg_q8_gemm_plan *p, int8_t *c, size_t ldc, size_t pstride) {       \
        for (int pn = p0; pn < p1; pn++) {                                                         \
            nq16 q;                                                                                \
            nq16_load(&p->rq, pn * NR, &q);                                                        \
            for (int i = i0; i < i1; i += MR) {                                                    \
                int rows = i1 - i < MR ? i1 - i : MR;                                              \
                const int8_t *ai = a + (size_t)i * lda;                                            \
                int8_t *ci = c + (size_t)i * ldc;                                                  \
                if (rows > 1)                                                                      \
                    BLOCK(MR, V, rows, ai, lda, p, pn, &q, ci, ldc, pstride);                      \
                else                                                                               \
                    BLOCK(1, V, 1, ai, lda, p, pn, &q, ci, ldc, pstride);                          \
            }                                                                                      \
        }                                                                                          \
    }
#define NEON_TILES(V)                                                                              \
    NEON_TILE(tile_dot_##V, Q8_DOTPROD, dot_block, 4, V)                                           \
    NEON_TILE(tile_mull_##V, , mull_block, 2, V)
NEON_TILES(0)
NEON_TILES(1)
NEON_TILES(2)
NEON_TILES(3)
static const tile_fn dot_tiles[4] = {tile_dot_0, tile_dot_1, tile_dot_2, tile_dot_3};

#define NEON_RQ(V)                                                                                 \
    static void rq_neon_##V(const vg_q8_rq *r, const int32_t *acc, int c0, int n16,               \
                            int8_t *out) {                                                         \
        for (int i = 0; i < n16; i += 16) {                                                        \
            nq16 q;                                                                                \
            nq16_load(r, c0 + i, &q);                                                              \
            int32x4_t a4[4] = {vld1q_s32(acc + i), vld1q_s32(acc + i + 4), vld1q_s32(acc + i + 8), \
                               vld1q_s32(acc + i + 12)};                                           \
            static const int32_t none[16];                                                         \
            nq_store(a4, none, &q, V, out + i, 16);                                                \
        }                                                                                          \
    }
NEON_RQ(0)
NEON_RQ(1)
NEON_RQ(2)
NEON_RQ(3)
typedef void (*rq_fn)(const vg_q8_rq *r, const int32_t *acc, int c0, int n16, int8_t *out);
static const rq_fn rq_vec[4] = {rq_neon_0, rq_neon_1, rq_neon_2, rq_neon_3};
static const tile_fn mull_tiles[4] = {tile_mull_0, tile_mull_1, tile_mull_2, tile_mull_3};
#endif

void vg_q8_rq_run(const vg_q8_rq *r, int isa, const int32_t *acc, int c0, int nc, int8_t *out) {
    VG_ASSERT(r->variant >= 0 && c0 % 16 == 0);
    int done = 0;
#if (defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))) || defined(__aarch64__)
    if (isa == VG_Q8_AVX2 || isa == VG_Q8_VNNI || isa == VG_Q8_NEON || isa == VG_Q8_NEON_DOT) {
        done = nc / 16 * 16;
        if (done) rq_vec[r->variant](r, acc, c0, done, out);
    }
#endif
    for (int i = done; i < nc; i++)
        out[i] = q8_rq1(r, acc[i], c0 + i);
}

/* the tile kernel of a plan */
static tile_fn plan_tile(const vg_q8_gemm_plan *p) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (p->fast) return vnni_tiles[p->rq.variant];
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (p->isa == VG_Q8_AVX2) return avx2_tiles[p->rq.variant];
#endif
#if defined(__aarch64__)
    if (p->isa == VG_Q8_NEON_DOT) return dot_tiles[p->rq.variant];
    if (p->isa == VG_Q8_NEON) return mull_tiles[p->rq.variant];
#endif
    return tile_scalar;
}

/* ---- threading */

typedef struct {
    tile_fn fn;
    const vg_q8_gemm_plan *p;
    int m;
    const int8_t *a;
    int lda;
    int8_t *c;
    int ldc;
    int tile_rows, row_tiles, panel_groups, panels_per_group;
} q8_job;

/* Tiles of rows x groups of panels: enough pieces for the threads (at least 4 each when the
 * shape allows), rows in multiples of 8 (the micro-kernel's), panels in pairs. Any tiling
 * gives the same results: every output is the same sum whatever tile it falls in. */
static q8_job plan_job(vg_pool *pool, const vg_q8_gemm_plan *p, int m, const int8_t *a, int lda,
                       int8_t *c, int ldc) {
    int threads = vg_pool_threads(pool);
    int tile_rows = TILE_ROWS;
    if (threads > 1) {
        int want = (m + 4 * threads - 1) / (4 * threads);
        want = (want + 7) / 8 * 8;
        tile_rows = want < 8 ? 8 : want > TILE_ROWS ? TILE_ROWS : want;
    }
    q8_job J = {plan_tile(p), p, m, a, lda, c, ldc, tile_rows, (m + tile_rows - 1) / tile_rows, 1,
                p->panels};
    while (threads > 1 && J.row_tiles * J.panel_groups < 4 * threads && J.panel_groups < p->panels)
        J.panel_groups++;
    /* the VNNI kernel takes panels in pairs: keep groups even */
    J.panels_per_group = (p->panels + J.panel_groups - 1) / J.panel_groups;
    if (J.panels_per_group % 2 && J.panels_per_group < p->panels) J.panels_per_group++;
    J.panel_groups = (p->panels + J.panels_per_group - 1) / J.panels_per_group;
    return J;
}

static void q8_task(void *ctx, int task, int thread) {
    (void)thread;
    const q8_job *J = ctx;
    int rt = task / J->panel_groups, pg = task % J->panel_groups;
    int i0 = rt * J->tile_rows, i1 = i0 + J->tile_rows < J->m ? i0 + J->tile_rows : J->m;
    int p0 = pg * J->panels_per_group, p1 = p0 + J->panels_per_group;
    if (p1 > J->p->panels) p1 = J->p->panels;
    J->fn(i0, i1, p0, p1, J->a, J->lda, J->p, J->c, (size_t)J->ldc, NR);
}

void vg_q8_gemm_run(vg_pool *pool, const vg_q8_gemm_plan *p, int m, const int8_t *a, int lda,
                    int8_t *c, int ldc) {
    if (m <= 0 || p->n <= 0) return;
    q8_job J = plan_job(pool, p, m, a, lda, c, ldc);
    vg_pool_run(pool, J.row_tiles * J.panel_groups, q8_task, &J);
}

void vg_q8_gemm_tile(const vg_q8_gemm_plan *p, int m, const int8_t *a, int lda, int p0, int p1,
                     int8_t *c, size_t ldc, size_t pstride) {
    plan_tile(p)(0, m, p0, p1, a, lda, p, c, ldc, pstride);
}

bool vg_q8_gemm(vg_pool *pool, int m, int n, int k, const int8_t *a, int lda, const int8_t *w,
                const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc, bool allow_fast) {
    vg_q8_gemm_plan p;
    vg_q8_sel s = vg_q8_select(vg_kernels_choice());
    if (!vg_q8_gemm_plan_init(&p, n, k, w, bias, q, allow_fast ? &s : NULL)) return false;
    vg_q8_gemm_run(pool, &p, m, a, lda, c, ldc);
    vg_q8_gemm_plan_free(&p);
    return true;
}

/* ---- regular convolution: int8 im2col (padding = the input's zero point, which contributes
 * nothing) + the GEMM, one tile of output pixels at a time, so the patches stay in L1 */

size_t vg_q8_conv_scratch(const vg_q8_gemm_plan *p) {
    return ((size_t)TILE_ROWS * p->k + 64 + 63) / 64 * 64;
}

/* span (<= 16 here) bytes from src: one 16-byte move when the source has 16 bytes left (the
 * bytes past span land on the next tap or patch, written afterwards, or in the slack) */
static inline void copy_span(int8_t *dst, const int8_t *src, size_t span, size_t src_left) {
    if (span <= 16 && src_left >= 16)
        memcpy(dst, src, 16);
    else
        memcpy(dst, src, span);
}

/* Patches of output pixels [i0, i1) (over n, oy, ox) into col, in order. A patch row (ky) is
 * kw * ci contiguous input bytes when the window lies inside the image horizontally, so it
 * is copied in one go (the stem: 9 bytes); only border windows go tap by tap. */
static void im2col8(const vg_conv_desc *d, const int8_t *x, int8_t pad, int i0, int i1,
                    int8_t *col) {
    enum { KMAX = 16 };
    size_t patch = (size_t)d->kh * d->kw * d->ci, span = (size_t)d->kw * d->ci;
    size_t xbytes = (size_t)d->n * d->h * d->w * d->ci, xstep = (size_t)d->sw * d->ci;
    /* output columns whose window lies inside the image horizontally */
    int ox_lo = (d->pl + d->sw - 1) / d->sw;
    int ox_hi = d->w - d->kw + d->pl < 0 ? 0 : (d->w - d->kw + d->pl) / d->sw + 1;
    ox_hi = ox_hi > d->wo ? d->wo : ox_hi;
    ox_lo = ox_lo > ox_hi ? ox_hi : ox_lo;
    ptrdiff_t row[KMAX]; /* input row of each ky, or -1 for padding */
    bool rows_in = false;
    int n = i0 / (d->ho * d->wo), oy = i0 / d->wo % d->ho, ox = i0 % d->wo;
    for (int i = i0; i < i1; i++, ox++) {
        if (ox == d->wo) {
            ox = 0;
            if (++oy == d->ho) oy = 0, n++;
        }
        if (i == i0 || ox == 0) {
            rows_in = d->kh <= KMAX;
            for (int ky = 0; ky < d->kh && ky < KMAX; ky++) {
                int iy = oy * d->sh - d->pt + ky;
                row[ky] =
                    iy >= 0 && iy < d->h ? (ptrdiff_t)(((size_t)n * d->h + iy) * d->w * d->ci) : -1;
                rows_in &= row[ky] >= 0;
            }
        }
        int8_t *dst = col + (size_t)(i - i0) * patch;
        if (rows_in && ox >= ox_lo && ox < ox_hi) {
            size_t at = (size_t)ox * xstep - (size_t)d->pl * d->ci;
            for (int ky = 0; ky < d->kh; ky++)
                copy_span(dst + (size_t)ky * span, x + row[ky] + at, span,
                          xbytes - (size_t)row[ky] - at);
            continue;
        }
        for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy * d->sh - d->pt + ky;
            int8_t *p = dst + (size_t)ky * span;
            for (int kx = 0; kx < d->kw; kx++) {
                int ix = ox * d->sw - d->pl + kx;
                if (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w)
                    memcpy(p + (size_t)kx * d->ci,
                           x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci, (size_t)d->ci);
                else
                    memset(p + (size_t)kx * d->ci, pad, (size_t)d->ci);
            }
        }
    }
}

typedef struct {
    q8_job g; /* a, lda unused: each task forms its own patches */
    const vg_conv_desc *d;
    const int8_t *x;
    int8_t *scratch;
    size_t scratch_bytes;
} conv_job;

static void conv_task(void *ctx, int task, int thread) {
    const conv_job *J = ctx;
    int rt = task / J->g.panel_groups, pg = task % J->g.panel_groups;
    int i0 = rt * J->g.tile_rows, i1 = i0 + J->g.tile_rows < J->g.m ? i0 + J->g.tile_rows : J->g.m;
    int p0 = pg * J->g.panels_per_group, p1 = p0 + J->g.panels_per_group;
    if (p1 > J->g.p->panels) p1 = J->g.p->panels;
    int8_t *col = J->scratch + (size_t)thread * J->scratch_bytes;
    im2col8(J->d, J->x, (int8_t)J->g.p->q.in_zp, i0, i1, col);
    J->g.fn(0, i1 - i0, p0, p1, col, J->g.p->k, J->g.p, J->g.c + (size_t)i0 * J->g.ldc,
            (size_t)J->g.ldc, NR);
}

void vg_q8_conv_run(vg_pool *pool, const vg_q8_gemm_plan *p, const vg_conv_desc *d, const int8_t *x,
                    void *scratch, int8_t *y) {
    VG_ASSERT(p->k == d->kh * d->kw * d->ci && p->n == d->co);
    conv_job J = {plan_job(pool, p, d->n * d->ho * d->wo, NULL, 0, y, d->co), d, x, scratch,
                  vg_q8_conv_scratch(p)};
    if (J.g.m > 0 && p->n > 0) vg_pool_run(pool, J.g.row_tiles * J.g.panel_groups, conv_task, &J);
}
