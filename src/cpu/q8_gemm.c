/* q8_gemm.c — int8 GEMM (see q8_gemm.h): packing, the AVX-512 VNNI micro-kernel (8 rows x 32
 * columns) with a vectorised TFLite requantization, a portable fallback, and threading over
 * fixed tiles (results independent of the thread count). */
#include "cpu/q8_gemm.h"

#include <stdlib.h>
#include <string.h>

#define NR 16 /* columns per panel: one vector of int32 accumulators */
#define MR 8
#define TILE_ROWS 64

bool vg_q8_pack(int n, int k, const int8_t *b, vg_q8_packed *p) {
    memset(p, 0, sizeof *p);
    p->n = n, p->k = k, p->k4 = (k + 3) / 4, p->panels = (n + NR - 1) / NR;
    size_t bytes = (size_t)p->panels * p->k4 * NR * 4;
    p->b = aligned_alloc(64, (bytes + 63) / 64 * 64);
    p->colsum = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!p->b || !p->colsum) {
        vg_q8_packed_free(p);
        return false;
    }
    memset(p->b, 0, bytes);
    for (int j = 0; j < n; j++) {
        int32_t s = 0;
        int8_t *panel = p->b + (size_t)(j / NR) * p->k4 * NR * 4;
        for (int kk = 0; kk < k; kk++) {
            int8_t v = b[(size_t)j * k + kk];
            panel[((size_t)(kk / 4) * NR + j % NR) * 4 + kk % 4] = v;
            s += v;
        }
        p->colsum[j] = s;
    }
    return true;
}

void vg_q8_packed_free(vg_q8_packed *p) {
    free(p->b);
    free(p->colsum);
    memset(p, 0, sizeof *p);
}

/* ---- the tile kernel: rows [i0, i1), panels [p0, p1) */

typedef void (*tile_fn)(int i0, int i1, int p0, int p1, const int8_t *a, int lda,
                        const vg_q8_packed *b, const int32_t *bias, const vg_q8_out *q, int8_t *c,
                        int ldc);

static inline int8_t requant1(int32_t acc, const vg_q8_out *q, int j) {
    int32_t v = vg_mul_qmult(acc, q->mult[j], q->shift[j]) + q->out_zp;
    return (int8_t)(v < q->act_min ? q->act_min : v > q->act_max ? q->act_max : v);
}

/* portable: plain loops over the packed layout (the same sums in the same integer arithmetic,
 * so bit-identical; integer addition is exact) */
static void tile_scalar(int i0, int i1, int p0, int p1, const int8_t *a, int lda,
                        const vg_q8_packed *b, const int32_t *bias, const vg_q8_out *q, int8_t *c,
                        int ldc) {
    for (int i = i0; i < i1; i++)
        for (int pn = p0; pn < p1; pn++) {
            int32_t acc[NR] = {0};
            const int8_t *bp = b->b + (size_t)pn * b->k4 * NR * 4;
            const int8_t *ar = a + (size_t)i * lda;
            for (int k4 = 0; k4 < b->k4; k4++)
                for (int j = 0; j < NR; j++)
                    for (int t = 0; t < 4; t++) {
                        int kk = 4 * k4 + t;
                        if (kk < b->k) acc[j] += ((int32_t)ar[kk] - q->in_zp) * bp[((size_t)k4 * NR + j) * 4 + t];
                    }
            for (int j = 0; j < NR && pn * NR + j < b->n; j++) {
                int col = pn * NR + j;
                c[(size_t)i * ldc + col] = requant1(acc[j] + (bias ? bias[col] : 0), q, col);
            }
        }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TV __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

/* TFLite's requantization of 8 lanes held as 64-bit integers (exact: no lane overflows).
 * `left` is false when no multiplier exceeds 1 (the common case): no left shift is needed. */
TV static inline __m512i requant8(__m512i x, __m512i mult, __m512i shift, bool left) {
    __m512i zero = _mm512_setzero_si512();
    __m512i right = _mm512_max_epi64(_mm512_sub_epi64(zero, shift), zero);
    if (left) {
        x = _mm512_sllv_epi64(x, _mm512_max_epi64(shift, zero));
        x = _mm512_min_epi64(_mm512_max_epi64(x, _mm512_set1_epi64(INT32_MIN)), _mm512_set1_epi64(INT32_MAX));
    }
    /* both factors fit in 32 bits: the one-uop signed 32 x 32 -> 64 multiply */
    __m512i prod = _mm512_mul_epi32(x, mult);
    __mmask8 neg = _mm512_cmplt_epi64_mask(prod, zero);
    __m512i nudge = _mm512_mask_blend_epi64(neg, _mm512_set1_epi64(1ll << 30), _mm512_set1_epi64(1 - (1ll << 30)));
    __m512i t = _mm512_add_epi64(prod, nudge);
    /* division by 2^31 rounding toward zero */
    __mmask8 tneg = _mm512_cmplt_epi64_mask(t, zero);
    t = _mm512_mask_add_epi64(t, tneg, t, _mm512_set1_epi64((1ll << 31) - 1));
    __m512i v = _mm512_srai_epi64(t, 31);
    /* rounding divide by 2^right */
    __m512i one = _mm512_set1_epi64(1);
    __m512i mask = _mm512_sub_epi64(_mm512_sllv_epi64(one, right), one);
    __m512i rem = _mm512_and_si512(v, mask);
    __m512i thr = _mm512_srai_epi64(mask, 1);
    thr = _mm512_mask_add_epi64(thr, _mm512_cmplt_epi64_mask(v, zero), thr, one);
    v = _mm512_srav_epi64(v, right);
    v = _mm512_mask_add_epi64(v, _mm512_cmpgt_epi64_mask(rem, thr), v, one);
    return v;
}

/* accumulators (16 int32) -> 16 int8 outputs of columns col .. col + 15 */
TV static inline void epilogue16(__m512i acc, int col, int nvalid, const int32_t *bias,
                                 const vg_q8_out *q, int8_t *dst) {
    __mmask16 m = nvalid >= 16 ? 0xffff : (__mmask16)((1u << nvalid) - 1);
    acc = _mm512_add_epi32(acc, _mm512_maskz_loadu_epi32(m, bias + col));
    __m512i mult = _mm512_maskz_loadu_epi32(m, q->mult + col), sh = _mm512_maskz_loadu_epi32(m, q->shift + col);
    bool left = _mm512_cmpgt_epi32_mask(sh, _mm512_setzero_si512()) != 0;
    __m512i lo = requant8(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)),
                          _mm512_cvtepi32_epi64(_mm512_castsi512_si256(mult)),
                          _mm512_cvtepi32_epi64(_mm512_castsi512_si256(sh)), left);
    __m512i hi = requant8(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1)),
                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(mult, 1)),
                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(sh, 1)), left);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)),
                                   _mm512_cvtepi64_epi32(hi), 1);
    v = _mm512_add_epi32(v, _mm512_set1_epi32(q->out_zp));
    v = _mm512_max_epi32(v, _mm512_set1_epi32(q->act_min));
    v = _mm512_min_epi32(v, _mm512_set1_epi32(q->act_max));
    _mm_mask_storeu_epi8(dst, m, _mm512_cvtepi32_epi8(v));
}

TV static void tile_vnni(int i0, int i1, int p0, int p1, const int8_t *a, int lda,
                         const vg_q8_packed *b, const int32_t *bias, const vg_q8_out *q, int8_t *c,
                         int ldc) {
    /* bias here already holds the correction -(128 + in_zp) * colsum (see vg_q8_gemm) */
    const __m512i flip = _mm512_set1_epi32((int)0x80808080);
    for (int pn = p0; pn < p1; pn += 2) {
        bool two = pn + 1 < p1;
        const int8_t *b0 = b->b + (size_t)pn * b->k4 * NR * 4;
        const int8_t *b1 = two ? b0 + (size_t)b->k4 * NR * 4 : b0;
        for (int i = i0; i < i1; i += MR) {
            int mr = i1 - i < MR ? i1 - i : MR;
            const int8_t *r[MR];
            for (int t = 0; t < MR; t++) r[t] = a + (size_t)(i + (t < mr ? t : mr - 1)) * lda;
            __m512i c0[MR], c1[MR];
#pragma GCC unroll 8
            for (int t = 0; t < MR; t++) c0[t] = c1[t] = _mm512_setzero_si512();
            for (int k4 = 0; k4 < b->k4; k4++) {
                __m512i w0 = _mm512_load_si512(b0 + (size_t)k4 * 64), w1 = _mm512_load_si512(b1 + (size_t)k4 * 64);
#pragma GCC unroll 8
                for (int t = 0; t < MR; t++) {
                    int32_t v;
                    memcpy(&v, r[t] + 4 * k4, 4);
                    __m512i av = _mm512_xor_si512(_mm512_set1_epi32(v), flip);
                    c0[t] = _mm512_dpbusd_epi32(c0[t], av, w0);
                    c1[t] = _mm512_dpbusd_epi32(c1[t], av, w1);
                }
            }
            for (int t = 0; t < mr; t++) {
                int col = pn * NR;
                epilogue16(c0[t], col, b->n - col, bias, q, c + (size_t)(i + t) * ldc + col);
                if (two) epilogue16(c1[t], col + NR, b->n - col - NR, bias, q, c + (size_t)(i + t) * ldc + col + NR);
            }
        }
    }
}

/* depthwise: output rows [oy0, oy1) of image n; weights pre-widened to int32 (taps x C) */
TV static void dw_rows_avx512(const vg_conv_desc *d, int n, int oy0, int oy1, const int8_t *x,
                              const int32_t *w32, const int32_t *b, const vg_q8_out *q, int8_t *y) {
    int C = d->ci;
    __m512i zp = _mm512_set1_epi32(q->in_zp);
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0 = d->pt - oy * d->sh > 0 ? d->pt - oy * d->sh : 0;
        int ky1 = d->h + d->pt - oy * d->sh < d->kh ? d->h + d->pt - oy * d->sh : d->kh;
        for (int ox = 0; ox < d->wo; ox++) {
            int kx0 = d->pl - ox * d->sw > 0 ? d->pl - ox * d->sw : 0;
            int kx1 = d->w + d->pl - ox * d->sw < d->kw ? d->w + d->pl - ox * d->sw : d->kw;
            int8_t *out = y + (((size_t)n * d->ho + oy) * d->wo + ox) * C;
            for (int c0 = 0; c0 < C; c0 += 16) {
                int nv = C - c0 < 16 ? C - c0 : 16;
                __mmask16 m = nv == 16 ? 0xffff : (__mmask16)((1u << nv) - 1);
                __m512i acc = _mm512_setzero_si512();
                for (int ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = x + (((size_t)n * d->h + oy * d->sh - d->pt + ky) * d->w) * C + c0;
                    for (int kx = kx0; kx < kx1; kx++) {
                        __m512i xv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, xr + (size_t)(ox * d->sw - d->pl + kx) * C));
                        __m512i wv = _mm512_maskz_loadu_epi32(m, w32 + (size_t)(ky * d->kw + kx) * C + c0);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_sub_epi32(xv, zp), wv));
                    }
                }
                epilogue16(acc, c0, nv, b, q, out + c0);
            }
        }
    }
}

static bool vnni_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
#else
static bool vnni_ok(void) { return false; }
#endif

bool vg_q8_fast_available(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *force = getenv("VIGIE_KERNELS");
        cached = vnni_ok() && !(force && (!strcmp(force, "ref") || !strcmp(force, "scalar")));
    }
    return cached == 1;
}

typedef struct {
    tile_fn fn;
    int m;
    const int8_t *a;
    int lda;
    const vg_q8_packed *b;
    const int32_t *bias;
    const vg_q8_out *q;
    int8_t *c;
    int ldc;
    int row_tiles, panel_groups, panels_per_group;
} q8_job;

static void q8_task(void *ctx, int task, int thread) {
    (void)thread;
    const q8_job *J = ctx;
    int rt = task / J->panel_groups, pg = task % J->panel_groups;
    int i0 = rt * TILE_ROWS, i1 = i0 + TILE_ROWS < J->m ? i0 + TILE_ROWS : J->m;
    int p0 = pg * J->panels_per_group, p1 = p0 + J->panels_per_group;
    if (p1 > J->b->panels) p1 = J->b->panels;
    J->fn(i0, i1, p0, p1, J->a, J->lda, J->b, J->bias, J->q, J->c, J->ldc);
}

void vg_q8_gemm(vg_pool *pool, int m, const int8_t *a, int lda, const vg_q8_packed *b,
                const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc) {
    vg_q8_gemm_ex(pool, m, a, lda, b, bias, q, c, ldc, true);
}

void vg_q8_gemm_ex(vg_pool *pool, int m, const int8_t *a, int lda, const vg_q8_packed *b,
                   const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc, bool allow_fast) {
    if (m <= 0 || b->n <= 0) return;
    q8_job J = {tile_scalar, m, a, lda, b, bias, q, c, ldc, 0, 0, 0};
    int32_t *corr = NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (allow_fast && vg_q8_fast_available()) {
        /* the unsigned activations carry 128 + in_zp: fold its product with the column sums
         * into the bias, once per call */
        corr = malloc(sizeof(int32_t) * ((size_t)b->panels * NR + 16));
        if (corr) {
            for (int j = 0; j < b->panels * NR; j++)
                corr[j] = j < b->n ? (bias ? bias[j] : 0) - (128 + q->in_zp) * b->colsum[j] : 0;
            J.fn = tile_vnni;
            J.bias = corr;
        }
    }
#endif
    int threads = vg_pool_threads(pool);
    J.row_tiles = (m + TILE_ROWS - 1) / TILE_ROWS;
    J.panel_groups = 1;
    while (threads > 1 && J.row_tiles * J.panel_groups < 4 * threads && J.panel_groups < b->panels)
        J.panel_groups++;
    /* the VNNI kernel takes panels in pairs: keep groups even */
    J.panels_per_group = (b->panels + J.panel_groups - 1) / J.panel_groups;
    if (J.panels_per_group % 2 && J.panels_per_group < b->panels) J.panels_per_group++;
    J.panel_groups = (b->panels + J.panels_per_group - 1) / J.panels_per_group;
    vg_pool_run(pool, J.row_tiles * J.panel_groups, q8_task, &J);
    free(corr);
}

/* ---- depthwise */

typedef struct {
    const vg_conv_desc *d;
    const int8_t *x, *w;
    const int32_t *w32, *b;
    const vg_q8_out *q;
    int8_t *y;
    int rows, chunks, fast;
} dwq_job;

static void dwq_task(void *ctx, int task, int thread) {
    (void)thread;
    const dwq_job *J = ctx;
    int n = task / J->chunks, oy0 = (task % J->chunks) * J->rows;
    int oy1 = oy0 + J->rows < J->d->ho ? oy0 + J->rows : J->d->ho;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (J->fast) {
        dw_rows_avx512(J->d, n, oy0, oy1, J->x, J->w32, J->b, J->q, J->y);
        return;
    }
#endif
    /* the reference on this slice: same image, rows oy0 .. oy1 */
    vg_conv_desc s = *J->d;
    s.n = 1;
    int8_t *dst = J->y + (size_t)n * s.ho * s.wo * s.co;
    const int8_t *src = J->x + (size_t)n * s.h * s.w * s.ci;
    for (int oy = oy0; oy < oy1; oy++) {
        vg_conv_desc r = s;
        /* one output row: shift the window down by oy * stride */
        r.ho = 1;
        r.pt = s.pt - oy * s.sh;
        vg_dwconv_q8_ref(&r, src, J->w, J->b, J->q, dst + (size_t)oy * s.wo * s.co);
    }
}

void vg_q8_dwconv(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                  const int32_t *b, const vg_q8_out *q, int8_t *y) {
    vg_q8_dwconv_ex(pool, d, x, w, b, q, y, true);
}

void vg_q8_dwconv_ex(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                     const int32_t *b, const vg_q8_out *q, int8_t *y, bool allow_fast) {
    int threads = vg_pool_threads(pool);
    int rows = threads <= 1 ? d->ho : d->n * d->ho / (4 * threads);
    rows = rows < 1 ? 1 : rows > 8 ? 8 : rows;
    dwq_job J = {d, x, w, NULL, b, q, y, rows, (d->ho + rows - 1) / rows, 0};
    int32_t *w32 = NULL, *b0 = NULL;
    if (allow_fast && vg_q8_fast_available()) {
        size_t nw = (size_t)d->kh * d->kw * d->ci;
        w32 = malloc(sizeof(int32_t) * nw + 64);
        b0 = b ? NULL : calloc((size_t)d->ci + 16, sizeof(int32_t)); /* epilogue adds a bias */
        if (w32 && (b || b0)) {
            for (size_t i = 0; i < nw; i++) w32[i] = w[i];
            J.w32 = w32;
            J.b = b ? b : b0;
            J.fast = 1;
        }
    }
    vg_pool_run(pool, d->n * J.chunks, dwq_task, &J);
    free(w32);
    free(b0);
}
