/* q8_dw.c — the int8 depthwise convolution (see q8.h): bit-identical to vg_dwconv_q8_ref.
 *
 * AVX-512 VNNI: vpdpbusd sums four byte products per int32 lane, so each lane takes one
 * channel and four horizontal taps of one kernel row: a 3x3 filter is three instructions per
 * 16 outputs. For that the input rows are first rewritten ("prepared") so that the 4 bytes
 * of channel c at column j are x[j..j+3][c] (sign bit flipped: vpdpbusd wants them unsigned),
 * with the zero point standing for the padding. A prepared row serves every output row that
 * reads it (three for a 3x3 filter at stride 1): a small ring holds the last kh rows. The
 * zero point and the flip are folded into a per-channel bias:
 *   sum over taps (x - zp) w = sum (x + 128) w - (128 + zp) sum w
 * which also holds for padding taps, where x = zp contributes nothing.
 *
 * Elsewhere plain loops over channels run (dw_rows_portable). */
#include "cpu/backend.h"
#include "cpu/q8_rq.h"

#include <stdlib.h>
#include <string.h>

#define DW_MAX_K 16 /* larger filters run the reference */

/* prepared-row geometry: entries at columns j = 0, step, 2 step... (a stride that divides 4
 * only ever reads those) */
static int dw_step(const vg_conv_desc *d) {
    return 4 % d->sw == 0 ? d->sw : 1;
}
static int dw_entries(const vg_q8_dw_plan *p) {
    return (p->wx + dw_step(&p->d) - 1) / dw_step(&p->d);
}
static int dw_blocks(const vg_q8_dw_plan *p) {
    return (p->d.ci + 15) / 16;
}

bool vg_q8_dw_fast_shape(const vg_q8_sel *sel, const vg_conv_desc *d) {
    return sel && sel->fast && d->kh <= DW_MAX_K && d->kw <= DW_MAX_K;
}

bool vg_q8_dw_plan_init(vg_q8_dw_plan *p, const vg_conv_desc *d, const int8_t *w,
                        const int32_t *bias, const vg_q8_out *q, const vg_q8_sel *sel) {
    memset(p, 0, sizeof *p);
    p->d = *d, p->w = w, p->bias = bias, p->q = *q;
    /* the portable loops' epilogue: the selection's family, or the process-wide one */
    p->rq_isa = sel ? sel->isa : vg_q8_select(vg_kernels_choice()).isa;
    if (!vg_q8_rq_init(&p->rq, d->ci, q)) return false;
    p->fast = vg_q8_dw_fast_shape(sel, d) && p->rq.variant >= 0;
    if (!p->fast) return true;
    int C = d->ci, blocks = (C + 15) / 16;
    p->groups = (d->kw + 3) / 4;
    p->wx = d->sw * (d->wo - 1) + 4 * p->groups;
    size_t nwp = (size_t)d->kh * p->groups * blocks * 64;
    p->wp = vg_aligned_alloc(64, nwp);
    if (!p->wp) {
        vg_q8_dw_plan_free(p);
        return false;
    }
    /* weights: 4 taps of a row per channel, zeros past kw and past the channels */
    memset(p->wp, 0, nwp);
    for (int ky = 0; ky < d->kh; ky++)
        for (int kx = 0; kx < d->kw; kx++)
            for (int c = 0; c < C; c++) {
                size_t at = (((size_t)ky * p->groups + kx / 4) * blocks + c / 16) * 64 +
                            (c % 16) * 4 + kx % 4;
                p->wp[at] = w[((size_t)ky * d->kw + kx) * C + c];
            }
    for (int c = 0; c < C; c++) {
        int32_t s = 0;
        for (int t = 0; t < d->kh * d->kw; t++)
            s += w[(size_t)t * C + c];
        p->rq.bias[c] = (bias ? bias[c] : 0) - (128 + q->in_zp) * s;
    }
    return true;
}

void vg_q8_dw_plan_free(vg_q8_dw_plan *p) {
    free(p->wp);
    vg_q8_rq_free(&p->rq);
    memset(p, 0, sizeof *p);
}

/* per thread: kh ring rows + a padding row (blocks x entries x 64 bytes each), the staging
 * row (blocks x (wx + 3) columns x 16 bytes, + slack for the 64-byte reads of its last
 * columns) and the ring's row numbers */
static size_t dw_row_bytes(const vg_q8_dw_plan *p) {
    return (size_t)dw_blocks(p) * dw_entries(p) * 64;
}
static size_t dw_stage_bytes(const vg_q8_dw_plan *p) {
    return ((size_t)dw_blocks(p) * (p->wx + 3) * 16 + 48 + 63) / 64 * 64;
}

size_t vg_q8_dw_scratch(const vg_q8_dw_plan *p) {
    if (!p->fast) return 0;
    size_t rows = (size_t)(p->d.kh + 1) * dw_row_bytes(p);
    return (rows + dw_stage_bytes(p) + sizeof(int) * DW_MAX_K + 63) / 64 * 64;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

typedef struct {
    int8_t *ring, *padrow, *stage;
    int *ring_iy;
} dw_ws;

static dw_ws dw_carve(const vg_q8_dw_plan *p, void *mem) {
    dw_ws s;
    size_t rb = dw_row_bytes(p);
    s.ring = mem;
    s.padrow = s.ring + (size_t)p->d.kh * rb;
    s.stage = s.padrow + rb;
    s.ring_iy = (int *)(void *)(s.stage + dw_stage_bytes(p));
    return s;
}

/* Input row iy of image xn, prepared into dst: entry e of block b holds, for its 16
 * channels, the bytes of columns j .. j + 3 (j = e step, padded column index), sign bits
 * flipped. First the row goes to the staging row, block-major (16 bytes per column: any 4
 * consecutive columns are then one 64-byte load), whose padding columns hold the zero point
 * (written once by dw_rows). With pw, the row is computed there: xn is the input of the
 * pointwise layer pw, whose outputs are the depthwise's inputs. */
Q8_TV static void dw_prepare_row(const vg_q8_dw_plan *p, const vg_q8_gemm_plan *pw,
                                 const int8_t *xn, int iy, int b0, int b1, dw_ws *s, int8_t *dst) {
    const vg_conv_desc *d = &p->d;
    int C = d->ci, step = dw_step(d), ne = dw_entries(p);
    size_t cols = (size_t)p->wx + 3;
    int ix1 = d->w < (int)cols - d->pl ? d->w : (int)cols - d->pl; /* columns that are read */
    if (pw) {
        const int8_t *row = xn + (size_t)iy * d->w * pw->k;
        vg_q8_gemm_tile(pw, ix1, row, pw->k, b0, b1, s->stage + (size_t)d->pl * 16, 16, cols * 16);
    }
    const int8_t *row = xn + (size_t)iy * d->w * C;
    for (int b = b0; !pw && b < b1; b++) {
        int8_t *st = s->stage + ((size_t)b * cols + d->pl) * 16;
        const int8_t *src = row + (size_t)b * 16;
        if (C - b * 16 >= 16) {
            for (int ix = 0; ix < ix1; ix++)
                _mm_store_si128(
                    (__m128i *)(void *)(st + (size_t)ix * 16),
                    _mm_loadu_si128((const __m128i *)(const void *)(src + (size_t)ix * C)));
        } else {
            __mmask16 m = (__mmask16)((1u << (C - b * 16)) - 1);
            for (int ix = 0; ix < ix1; ix++)
                _mm_store_si128((__m128i *)(void *)(st + (size_t)ix * 16),
                                _mm_maskz_loadu_epi8(m, src + (size_t)ix * C));
        }
    }
    /* dword 4k + l of 4 columns (column k, channels 4l..4l+3) goes to dword 4l + k, then each
     * 4 x 4 byte square is transposed: byte 4i + k = channel 4l + i of column k */
    const __m512i dperm = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    const __m512i bperm =
        _mm512_broadcast_i32x4(_mm_set_epi8(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0));
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int b = b0; b < b1; b++) {
        const int8_t *st = s->stage + (size_t)b * cols * 16;
        __m512i *out = (__m512i *)(void *)(dst + (size_t)b * ne * 64);
        for (int e = 0; e < ne; e++) {
            __m512i z = _mm512_loadu_si512(st + (size_t)e * step * 16);
            z = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(dperm, z), bperm);
            _mm512_store_si512(out + e, _mm512_xor_si512(z, flip));
        }
    }
}

/* one output row from the kh prepared input rows (KH, G: compile-time 3, 1 for 3x3 filters,
 * 0 = read from the plan) */
Q8_TV Q8_INLINE void dw_out_row(int KH, int G, int variant, const vg_q8_dw_plan *p, int b0, int b1,
                                const int8_t *const *rows, int8_t *yr) {
    const vg_conv_desc *d = &p->d;
    int kh = KH ? KH : d->kh, groups = G ? G : p->groups;
    int C = d->ci, blocks = dw_blocks(p), ne = dw_entries(p), step = dw_step(d);
    int estride = d->sw / step; /* entries per output column */
    for (int b = b0; b < b1; b++) {
        int c0 = b * 16;
        const __m512i bias = _mm512_load_si512(p->rq.bias + c0);
        q8_rq16 rq = q8_rq16_load(&p->rq, c0);
        size_t boff = (size_t)b * ne * 64;
        if (KH == 3 && G == 1) {
            const int8_t *wb = p->wp + (size_t)b * 64;
            __m512i w0 = _mm512_load_si512(wb), w1 = _mm512_load_si512(wb + (size_t)blocks * 64);
            __m512i w2 = _mm512_load_si512(wb + (size_t)2 * blocks * 64);
            const int8_t *r0 = rows[0] + boff, *r1 = rows[1] + boff, *r2 = rows[2] + boff;
            for (int ox = 0; ox < d->wo; ox++) {
                size_t at = (size_t)ox * estride * 64;
                __m512i acc = q8_dpbusd(bias, _mm512_load_si512(r0 + at), w0);
                acc = q8_dpbusd(acc, _mm512_load_si512(r1 + at), w1);
                acc = q8_dpbusd(acc, _mm512_load_si512(r2 + at), w2);
                q8_store16(yr + (size_t)ox * C + c0, q8_rq16_apply(acc, &rq, &p->rq, variant),
                           C - c0);
            }
        } else {
            for (int ox = 0; ox < d->wo; ox++) {
                __m512i acc = bias;
                for (int ky = 0; ky < kh; ky++)
                    for (int g = 0; g < groups; g++) {
                        size_t at = boff + ((size_t)ox * estride + (size_t)g * 4 / step) * 64;
                        __m512i wv = _mm512_load_si512(
                            p->wp + (((size_t)ky * groups + g) * blocks + b) * 64);
                        acc = q8_dpbusd(acc, _mm512_load_si512(rows[ky] + at), wv);
                    }
                q8_store16(yr + (size_t)ox * C + c0, q8_rq16_apply(acc, &rq, &p->rq, variant),
                           C - c0);
            }
        }
    }
}

/* output rows [oy0, oy1) of image n, channel blocks [b0, b1); with pw, x is the input of the
 * pointwise layer pw, computed row by row as the depthwise needs it */
Q8_TV Q8_INLINE void dw_rows(int variant, const vg_q8_dw_plan *p, const vg_q8_gemm_plan *pw, int n,
                             int oy0, int oy1, int b0, int b1, const int8_t *x, int8_t *y,
                             void *mem) {
    const vg_conv_desc *d = &p->d;
    dw_ws s = dw_carve(p, mem);
    size_t rb = dw_row_bytes(p), bb = (size_t)dw_entries(p) * 64; /* bytes of a block's row */
    /* padding columns of the staging row: the zero point, for every row */
    size_t cols = (size_t)p->wx + 3;
    for (int b = b0; b < b1; b++)
        for (size_t j = 0; j < cols; j++)
            if ((int)j < d->pl || (int)j >= d->pl + d->w)
                memset(s.stage + ((size_t)b * cols + j) * 16, (int)(int8_t)p->q.in_zp, 16);
    memset(s.padrow + b0 * bb, (int)(int8_t)(p->q.in_zp ^ 0x80),
           (size_t)(b1 - b0) * bb); /* zp, flipped */
    for (int k = 0; k < d->kh; k++)
        s.ring_iy[k] = -1;
    const int8_t *xn = x + (size_t)n * d->h * d->w * (pw ? pw->k : d->ci);
    const int8_t *rows[DW_MAX_K];
    for (int oy = oy0; oy < oy1; oy++) {
        for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy * d->sh - d->pt + ky;
            if (iy < 0 || iy >= d->h) {
                rows[ky] = s.padrow;
                continue;
            }
            int slot = iy % d->kh; /* kh consecutive rows never share a slot */
            int8_t *buf = s.ring + (size_t)slot * rb;
            if (s.ring_iy[slot] != iy) {
                dw_prepare_row(p, pw, xn, iy, b0, b1, &s, buf);
                s.ring_iy[slot] = iy;
            }
            rows[ky] = buf;
        }
        int8_t *yr = y + (((size_t)n * d->ho + oy) * d->wo) * d->ci;
        if (d->kh == 3 && p->groups == 1)
            dw_out_row(3, 1, variant, p, b0, b1, rows, yr);
        else
            dw_out_row(0, 0, variant, p, b0, b1, rows, yr);
    }
}

#define DW_ROWS(V)                                                                                 \
    Q8_TV static void dw_rows_##V(const vg_q8_dw_plan *p, const vg_q8_gemm_plan *pw, int n,        \
                                  int oy0, int oy1, int b0, int b1, const int8_t *x, int8_t *y,    \
                                  void *mem) {                                                     \
        dw_rows(V, p, pw, n, oy0, oy1, b0, b1, x, y, mem);                                         \
    }
DW_ROWS(0)
DW_ROWS(1)
DW_ROWS(2)
DW_ROWS(3)
typedef void (*dw_rows_fn)(const vg_q8_dw_plan *p, const vg_q8_gemm_plan *pw, int n, int oy0,
                           int oy1, int b0, int b1, const int8_t *x, int8_t *y, void *mem);
static const dw_rows_fn dw_variants[4] = {dw_rows_0, dw_rows_1, dw_rows_2, dw_rows_3};
#endif

/* valid kernel taps [k0, k1) for output coordinate o (input o*s - pad + k in [0, in)) */
static inline void tap_range(int o, int s, int pad, int in, int k, int *k0, int *k1) {
    int start = o * s - pad;
    *k0 = start < 0 ? -start : 0;
    *k1 = in - start < k ? in - start : k;
}

/* portable: output rows [oy0, oy1) of image n, the reference's sums over the taps inside the
 * image, in channel loops that compilers vectorise */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
/* the channel loops in AVX2 where the CPU has it (a CPU without VNNI comes here) */
__attribute__((target_clones("avx2", "default")))
#endif
static void dw_rows_portable(const vg_q8_dw_plan *p, int n, int oy0, int oy1, const int8_t *x,
                             int8_t *y) {
    const vg_conv_desc *d = &p->d;
    const vg_q8_out *q = &p->q;
    int C = d->ci;
    enum { CB = 64 };
    int32_t acc[CB];
    /* a valid model's zero point is int8: then 16-bit products (twice the lanes per vector) */
    const bool zp16 = q->in_zp >= -128 && q->in_zp <= 127;
    const int16_t zp16v = (int16_t)(zp16 ? q->in_zp : 0);
    const int8_t *xn = x + (size_t)n * d->h * d->w * C;
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0, ky1;
        tap_range(oy, d->sh, d->pt, d->h, d->kh, &ky0, &ky1);
        for (int ox = 0; ox < d->wo; ox++) {
            int kx0, kx1;
            tap_range(ox, d->sw, d->pl, d->w, d->kw, &kx0, &kx1);
            int8_t *out = y + (((size_t)n * d->ho + oy) * d->wo + ox) * C;
            for (int c0 = 0; c0 < C; c0 += CB) {
                int nc = C - c0 < CB ? C - c0 : CB;
                for (int c = 0; c < nc; c++)
                    acc[c] = p->bias ? p->bias[c0 + c] : 0;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        const int8_t *xp =
                            xn +
                            ((size_t)(oy * d->sh - d->pt + ky) * d->w + (ox * d->sw - d->pl + kx)) *
                                C +
                            c0;
                        const int8_t *wp = p->w + ((size_t)ky * d->kw + kx) * C + c0;
                        if (zp16) /* |x - zp| <= 255, |w| <= 128: the product fits int16 */
                            for (int c = 0; c < nc; c++)
                                acc[c] += (int16_t)((int16_t)(xp[c] - zp16v) * wp[c]);
                        else
                            for (int c = 0; c < nc; c++)
                                acc[c] += ((int32_t)xp[c] - q->in_zp) * wp[c];
                    }
                if (p->rq.variant >= 0)
                    vg_q8_rq_run(&p->rq, p->rq_isa, acc, c0, nc, out + c0);
                else
                    for (int c = 0; c < nc; c++)
                        out[c0 + c] = vg_q8_requant1(acc[c], q, c0 + c);
            }
        }
    }
}

typedef struct {
    const vg_q8_dw_plan *p;
    const vg_q8_gemm_plan *pw; /* fused pointwise before, or NULL */
    const int8_t *x;
    int8_t *y;
    char *scratch;
    size_t scratch_bytes;
    int rows, chunks; /* pieces of output rows */
    int bpg, cgroups; /* pieces of channel blocks (fast path only) */
} dwq_job;

static void dwq_task(void *ctx, int task, int thread) {
    const dwq_job *J = ctx;
    const vg_q8_dw_plan *p = J->p;
    int cg = task % J->cgroups, rc = task / J->cgroups % J->chunks,
        n = task / J->cgroups / J->chunks;
    int oy0 = rc * J->rows, oy1 = oy0 + J->rows < p->d.ho ? oy0 + J->rows : p->d.ho;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (p->fast) {
        int b0 = cg * J->bpg, b1 = b0 + J->bpg < dw_blocks(p) ? b0 + J->bpg : dw_blocks(p);
        dw_variants[p->rq.variant](p, J->pw, n, oy0, oy1, b0, b1, J->x, J->y,
                                   J->scratch + (size_t)thread * J->scratch_bytes);
        return;
    }
#endif
    (void)thread, (void)cg;
    VG_ASSERT(!J->pw);
    dw_rows_portable(p, n, oy0, oy1, J->x, J->y);
}

static void dw_run(vg_pool *pool, const vg_q8_dw_plan *p, const vg_q8_gemm_plan *pw, int n,
                   const int8_t *x, int8_t *y, void *scratch) {
    int threads = vg_pool_threads(pool), ho = p->d.ho, blocks = dw_blocks(p);
    /* one piece per image on one thread; else about 4 pieces per thread. Bands of rows
     * prepare the kh - 1 input rows above them again (and compute them again when fused), so
     * bands have at least 8 rows. Fused layers split channel blocks in pairs (their GEMM takes
     * panels in pairs), then rows for about 3 pieces per thread; otherwise bands of rows, then
     * channel groups for small images. */
    int chunks = 1, cgroups = 1, want = 4 * threads;
    if (threads > 1 && pw) {
        cgroups = (blocks + 1) / 2;
        chunks = (3 * threads + n * cgroups - 1) / (n * cgroups);
        chunks = chunks > ho / 8 ? ho / 8 : chunks;
        chunks = chunks < 1 ? 1 : chunks;
    } else if (threads > 1) {
        chunks = want / n < ho / 8 ? want / n : ho / 8;
        chunks = chunks < 1 ? 1 : chunks;
        if (p->fast) cgroups = (want + n * chunks - 1) / (n * chunks);
    }
    cgroups = cgroups > blocks ? blocks : cgroups;
    chunks = chunks > ho ? ho : chunks;
    int rows = (ho + chunks - 1) / chunks, bpg = (blocks + cgroups - 1) / cgroups;
    dwq_job J = {.p = p, .pw = pw, .x = x, .y = y, .scratch = scratch};
    J.scratch_bytes = vg_q8_dw_scratch(p);
    J.rows = rows, J.chunks = (ho + rows - 1) / rows;
    J.bpg = bpg, J.cgroups = (blocks + bpg - 1) / bpg;
    vg_pool_run(pool, n * J.chunks * J.cgroups, dwq_task, &J);
}

void vg_q8_dw_run(vg_pool *pool, const vg_q8_dw_plan *p, int n, const int8_t *x, int8_t *y,
                  void *scratch) {
    dw_run(pool, p, NULL, n, x, y, scratch);
}

bool vg_q8_pwdw_fusable(const vg_q8_gemm_plan *pw, const vg_q8_dw_plan *dw) {
    return pw->fast && dw->fast && pw->n == dw->d.ci && pw->q.out_zp == dw->q.in_zp;
}

void vg_q8_pwdw_run(vg_pool *pool, const vg_q8_gemm_plan *pw, const vg_q8_dw_plan *dw, int n,
                    const int8_t *x, int8_t *y, void *scratch) {
    VG_ASSERT(vg_q8_pwdw_fusable(pw, dw));
    dw_run(pool, dw, pw, n, x, y, scratch);
}

bool vg_q8_dwconv(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                  const int32_t *bias, const vg_q8_out *q, int8_t *y, bool allow_fast) {
    vg_q8_dw_plan p;
    vg_q8_sel s = vg_q8_select(vg_kernels_choice());
    if (!vg_q8_dw_plan_init(&p, d, w, bias, q, allow_fast ? &s : NULL)) return false;
    size_t bytes = vg_q8_dw_scratch(&p) * (size_t)vg_pool_threads(pool);
    void *scratch = bytes ? vg_aligned_alloc(64, bytes) : NULL;
    if (bytes && !scratch) {
        vg_q8_dw_plan_free(&p);
        return false;
    }
    vg_q8_dw_run(pool, &p, d->n, x, y, scratch);
    free(scratch);
    vg_q8_dw_plan_free(&p);
    return true;
}
