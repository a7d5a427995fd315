/* backend.c — kernel tables, their run-time selection from cpuid, and the vg_cpu context that
 * runs layers with a thread pool. Work splits are fixed-size (rows, tiles), never "one piece
 * per thread", so results do not depend on the thread count. */
#include "cpu/backend.h"

#include "core/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables */

static vg_kernels ref_table = {"ref", NULL, NULL};
static vg_kernels scalar_table = {"scalar", NULL, NULL};
static vg_kernels avx2_table = {"avx2", NULL, NULL};
static vg_kernels avx512_table = {"avx512", NULL, NULL};
static vg_kernels neon_table = {"neon", NULL, NULL};

static bool has(const char *feature) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (strcmp(feature, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(feature, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    if (strcmp(feature, "neon") == 0) return true; /* mandatory in AArch64 */
#endif
    (void)feature;
    return false;
}

static const vg_kernels *all_tables[6];

/* Filled once per process, whichever thread comes first (two cameras may create their
 * runners at the same time): pthread_once, not a flag. */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void) {
    scalar_table.uk = vg_ukernel_scalar();
    scalar_table.dwconv = vg_dwconv_scalar();
    int n = 0;
    all_tables[n++] = &ref_table;
    all_tables[n++] = &scalar_table;
    if (has("avx2") && vg_ukernel_avx2() && vg_dwconv_avx2()) {
        avx2_table.uk = vg_ukernel_avx2();
        avx2_table.dwconv = vg_dwconv_avx2();
        all_tables[n++] = &avx2_table;
    }
    if (has("avx512") && vg_ukernel_avx512() && vg_dwconv_avx512()) {
        avx512_table.uk = vg_ukernel_avx512();
        avx512_table.dwconv = vg_dwconv_avx512();
        all_tables[n++] = &avx512_table;
    }
    if (has("neon") && vg_ukernel_neon() && vg_dwconv_neon()) {
        neon_table.uk = vg_ukernel_neon();
        neon_table.dwconv = vg_dwconv_neon();
        all_tables[n++] = &neon_table;
    }
    all_tables[n] = NULL;
}

static void init_tables(void) { pthread_once(&tables_once, fill_tables); }

/* The process-wide choice (vg_kernels_select): 0 = the fastest, else 1 + index in
 * choice_names. Atomic: read by every plan, set by the application before its first runner. */
static const char *const choice_names[VG_KERNELS_CHOICES - 1] = {"ref", "scalar", "avx2",
                                                                 "avx512", "neon"};
static _Atomic int choice;

int vg_kernels_choice(void) { return choice; }

const char *vg_kernels_choice_name(int c) {
    return c > 0 && c < VG_KERNELS_CHOICES ? choice_names[c - 1] : NULL;
}

vg_status vg_kernels_select(const char *name, vg_err *err) {
    int c = 0;
    vg_status st = name && *name ? vg_kernels_resolve(name, &c, err) : VG_OK;
    if (st == VG_OK) choice = c;
    return st;
}

vg_status vg_kernels_resolve(const char *name, int *out, vg_err *err) {
    if (!name || !*name) {
        *out = choice;
        return VG_OK;
    }
    init_tables();
    for (int i = 0; all_tables[i]; i++)
        if (strcmp(all_tables[i]->name, name) == 0)
            for (int c = 1; c < VG_KERNELS_CHOICES; c++)
                if (strcmp(choice_names[c - 1], name) == 0) {
                    *out = c;
                    return VG_OK;
                }
    char have[64] = "";
    for (int i = 0; all_tables[i]; i++) {
        size_t l = strlen(have);
        snprintf(have + l, sizeof have - l, "%s%s", i ? ", " : "", all_tables[i]->name);
    }
    return vg_err_set(err, VG_ERR_ARG, "kernels '%s': not a kernel set of this CPU (it has %s)",
                      name, have);
}

const vg_kernels *vg_kernels_ref(void) { return &ref_table; }

const vg_kernels *const *vg_kernels_all(void) {
    init_tables();
    return all_tables;
}

const vg_kernels *vg_kernels_best(void) { return vg_kernels_for(choice); }

const vg_kernels *vg_kernels_for(int c) {
    init_tables();
    const vg_kernels *best = &scalar_table;
    for (int i = 0; all_tables[i]; i++) best = all_tables[i]; /* listed slowest first */
    const char *force = vg_kernels_choice_name(c);
    if (force)
        for (int i = 0; all_tables[i]; i++)
            if (strcmp(all_tables[i]->name, force) == 0) return all_tables[i];
    return best;
}

/* ---- context */

struct vg_cpu {
    const vg_kernels *k;
    vg_pool *pool;
    vg_gemm_ws *ws;
    float *scratch;
    size_t scratch_floats;
    float *aux; /* second scratch, grown on demand (depthwise backward partial sums) */
    size_t aux_floats;
};

vg_cpu *vg_cpu_new(const vg_kernels *k, int threads) {
    vg_cpu *c = vg_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->k = k;
    c->pool = vg_pool_new(threads);
    c->ws = vg_gemm_ws_new(threads);
    if (!c->pool || !c->ws) {
        vg_cpu_free(c);
        return NULL;
    }
    return c;
}

void vg_cpu_free(vg_cpu *c) {
    if (!c) return;
    vg_pool_free(c->pool);
    vg_gemm_ws_free(c->ws);
    free(c->scratch);
    free(c->aux);
    free(c);
}

const vg_kernels *vg_cpu_kernels(const vg_cpu *c) { return c->k; }
int vg_cpu_threads(const vg_cpu *c) { return vg_pool_threads(c->pool); }
vg_pool *vg_cpu_pool(vg_cpu *c) { return c->pool; }

bool vg_cpu_reserve(vg_cpu *c, size_t floats) {
    if (floats <= c->scratch_floats) return true;
    float *s = vg_aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (!s) return false;
    free(c->scratch);
    c->scratch = s;
    c->scratch_floats = floats;
    return true;
}

/* grows the auxiliary scratch; false (and unchanged) when memory is short */
static bool vg_cpu_reserve_aux(vg_cpu *c, size_t floats) {
    if (floats <= c->aux_floats) return true;
    float *s = vg_aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (!s) return false;
    free(c->aux);
    c->aux = s;
    c->aux_floats = floats;
    return true;
}

size_t vg_cpu_conv2d_scratch(const vg_conv_desc *d) {
    return (size_t)d->ho * d->wo * d->kh * d->kw * d->ci;
}

/* im2col of one image: row (oy, ox) holds the (kh, kw, ci) patch, zeros outside the image,
 * in the same order as a weight row (co, kh, kw, ci), so the conv is one GEMM. */
void vg_cpu_im2col(const vg_conv_desc *d, const float *x, float *col) {
    size_t patch = (size_t)d->kh * d->kw * d->ci;
    for (int oy = 0; oy < d->ho; oy++)
        for (int ox = 0; ox < d->wo; ox++) {
            float *dst = col + ((size_t)oy * d->wo + ox) * patch;
            for (int ky = 0; ky < d->kh; ky++) {
                int iy = oy * d->sh - d->pt + ky;
                for (int kx = 0; kx < d->kw; kx++) {
                    int ix = ox * d->sw - d->pl + kx;
                    float *p = dst + ((size_t)ky * d->kw + kx) * d->ci;
                    bool inside = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w;
                    /* a plain loop: the stem has ci = 3, far too short for memcpy calls */
                    if (inside) {
                        const float *s = x + ((size_t)iy * d->w + ix) * d->ci;
                        for (int c = 0; c < d->ci; c++) p[c] = s[c];
                    } else {
                        for (int c = 0; c < d->ci; c++) p[c] = 0.0f;
                    }
                }
            }
        }
}

/* its transpose: every patch entry of col added back onto the pixel it came from */
void vg_cpu_col2im_add(const vg_conv_desc *d, const float *col, float *dx) {
    size_t patch = (size_t)d->kh * d->kw * d->ci;
    for (int oy = 0; oy < d->ho; oy++)
        for (int ox = 0; ox < d->wo; ox++) {
            const float *src = col + ((size_t)oy * d->wo + ox) * patch;
            for (int ky = 0; ky < d->kh; ky++) {
                int iy = oy * d->sh - d->pt + ky;
                if (iy < 0 || iy >= d->h) continue;
                for (int kx = 0; kx < d->kw; kx++) {
                    int ix = ox * d->sw - d->pl + kx;
                    if (ix < 0 || ix >= d->w) continue;
                    const float *s = src + ((size_t)ky * d->kw + kx) * d->ci;
                    float *p = dx + ((size_t)iy * d->w + ix) * d->ci;
                    for (int c = 0; c < d->ci; c++) p[c] += s[c];
                }
            }
        }
}

void vg_cpu_gemm(vg_cpu *c, bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float *y, int ldc, const vg_gemm_epi *epi) {
    if (!c->k->uk) {
        VG_ASSERT(!epi || (!epi->bias && epi->act == VG_ACT_NONE));
        vg_gemm_ref(ta, tb, m, n, k, a, lda, b, ldb, epi && epi->accumulate, y, ldc);
        return;
    }
    vg_gemm(c->k->uk, c->pool, c->ws, ta, tb, m, n, k, a, lda, b, ldb, y, ldc, epi);
}

float *vg_cpu_pack_weights(const vg_cpu *c, int n, int k, const float *w) {
    if (!c->k->uk) return NULL;
    size_t floats = vg_gemm_packed_floats(c->k->uk, n, k);
    float *p = vg_aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (p) vg_gemm_pack_b(c->k->uk, n, k, w, p);
    return p;
}

void vg_cpu_matmul(vg_cpu *c, int m, int n, int k, const float *a, const float *b,
                   const float *bp, const float *bias, vg_act act, float *y) {
    if (!c->k->uk) {
        vg_matmul_ref(m, n, k, a, b, bias, act, y);
        return;
    }
    vg_gemm_epi epi = {bias, act, false};
    if (bp)
        vg_gemm_packed(c->k->uk, c->pool, c->ws, m, n, k, a, k, bp, y, n, &epi);
    else
        vg_gemm(c->k->uk, c->pool, c->ws, false, true, m, n, k, a, k, b, k, y, n, &epi);
}

void vg_cpu_matmul_res(vg_cpu *c, int m, int n, int k, const float *a, const float *b,
                       const float *bp, const float *bias, const float *res, vg_act act, float *y) {
    if (!c->k->uk) {
        vg_matmul_ref(m, n, k, a, b, bias, VG_ACT_NONE, y);
        vg_add_ref((size_t)m * n, y, res, act, y);
        return;
    }
    vg_gemm_epi epi = {bias, act, false};
    if (bp)
        vg_gemm_packed_res(c->k->uk, c->pool, c->ws, m, n, k, a, k, bp, y, n, &epi, res, n);
    else
        vg_gemm_res(c->k->uk, c->pool, c->ws, false, true, m, n, k, a, k, b, k, y, n, &epi, res, n);
}

/* The im2col matrix, a block at a time (vg_gemm_gather_fn): rows are the output pixels of
 * the whole batch, columns the (ky, kx, ci) patch. Along one ky the patch is a contiguous run
 * of input memory (NHWC), cut by the left/right padding. */
typedef struct {
    const vg_conv_desc *d;
    const float *x;
} conv_gather;

static void im2col_gather(const void *ctx, int i0, int mc, int pc, int kc, float *dst) {
    const conv_gather *G = ctx;
    const vg_conv_desc *d = G->d;
    int ci = d->ci, rowlen = d->kw * ci, pe = pc + kc, pix = d->ho * d->wo;
    for (int i = 0; i < mc; i++) {
        int r = i0 + i, q = r % pix, oy = q / d->wo, ox = q % d->wo;
        const float *xn = G->x + (size_t)(r / pix) * d->h * d->w * ci;
        float *o = dst + (size_t)i * kc;
        int ix0 = ox * d->sw - d->pl;
        /* the valid part of a patch row, in floats from its start */
        int lo = ix0 < 0 ? -ix0 * ci : 0;
        int hi = d->w - ix0 < d->kw ? (d->w - ix0) * ci : rowlen;
        if (hi < lo) hi = lo;
        for (int ky = pc / rowlen; ky < d->kh && ky * rowlen < pe; ky++) {
            int b = ky * rowlen, iy = oy * d->sh - d->pt + ky;
            int s0 = b > pc ? b : pc, s1 = b + rowlen < pe ? b + rowlen : pe;
            int c0 = s0, c1 = s1; /* the copied part [c0, c1) of [s0, s1) */
            if (iy < 0 || iy >= d->h) {
                c0 = c1 = s1;
            } else {
                if (c0 < b + lo) c0 = b + lo < s1 ? b + lo : s1;
                if (c1 > b + hi) c1 = b + hi > c0 ? b + hi : c0;
            }
            for (int p = s0; p < c0; p++) o[p - pc] = 0.0f;
            if (c1 > c0) {
                /* input element of patch position p: pixel (iy, ix0 + (p - b) / ci) */
                const float *src = xn + ((size_t)iy * d->w + ix0 + lo / ci) * ci;
                int off = b + lo;
                for (int p = c0; p < c1; p++) o[p - pc] = src[p - off];
            }
            for (int p = c1; p < s1; p++) o[p - pc] = 0.0f;
        }
    }
}

void vg_cpu_conv2d(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                   const float *wp, const float *b, vg_act act, float *y) {
    if (!c->k->uk) {
        vg_conv2d_ref(d, x, w, b, act, y);
        return;
    }
    int patch = d->kh * d->kw * d->ci, pix = d->ho * d->wo;
    if (wp) { /* implicit GEMM: each task builds the im2col rows it multiplies */
        conv_gather G = {d, x};
        vg_gemm_epi epi = {b, act, false};
        vg_gemm_packed_gather(c->k->uk, c->pool, c->ws, d->n * pix, d->co, patch, im2col_gather,
                              &G, wp, y, d->co, &epi);
        return;
    }
    size_t need = vg_cpu_conv2d_scratch(d);
    VG_ASSERT(c->scratch_floats >= need); /* reserved when the layer was planned */
    for (int n = 0; n < d->n; n++) {
        vg_cpu_im2col(d, x + (size_t)n * d->h * d->w * d->ci, c->scratch);
        vg_cpu_matmul(c, pix, d->co, patch, c->scratch, w, wp, b, act,
                      y + (size_t)n * pix * d->co);
    }
}

/* Depthwise tasks: (image, band of output rows, group of 16-channel blocks), channel groups
 * innermost, so that a contiguous range of tasks (one thread's share, see pool.c) is a band of
 * the image, the band the same thread computed in the layer before. Several threads: about 8
 * tasks per thread, rows split first, channels too for the small images (7x7). */
typedef struct {
    const vg_conv_desc *d;
    vg_dw_fn fn;
    const float *x, *w, *b;
    vg_act act;
    float *y;
    int bands, groups, blocks; /* per image; blocks = 16-channel blocks */
} dw_job;

static void dw_task(void *ctx, int task, int thread) {
    (void)thread;
    const dw_job *J = ctx;
    const vg_conv_desc *d = J->d;
    int g = task % J->groups, band = task / J->groups % J->bands, n = task / J->groups / J->bands;
    int oy0 = (int)((long long)d->ho * band / J->bands);
    int oy1 = (int)((long long)d->ho * (band + 1) / J->bands);
    int cb = 16 * (int)((long long)J->blocks * g / J->groups);
    int ce = 16 * (int)((long long)J->blocks * (g + 1) / J->groups);
    if (ce > d->ci) ce = d->ci;
    J->fn(d, n, oy0, oy1, cb, ce, J->x, J->w, J->b, J->act, J->y);
}

void vg_cpu_dwconv(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                   const float *b, vg_act act, float *y) {
    if (!c->k->dwconv) {
        vg_dwconv_ref(d, x, w, b, act, y);
        return;
    }
    int threads = vg_pool_threads(c->pool), want = 8 * threads;
    dw_job J = {d, c->k->dwconv, x, w, b, act, y, 1, 1, (d->ci + 15) / 16};
    if (threads > 1) {
        int per_image = (want + d->n - 1) / d->n;
        J.bands = per_image < d->ho ? per_image : d->ho;
        if (d->n * J.bands < want) {
            J.groups = (want + d->n * J.bands - 1) / (d->n * J.bands);
            if (J.groups > J.blocks) J.groups = J.blocks;
        }
    }
    vg_pool_run(c->pool, d->n * J.bands * J.groups, dw_task, &J);
}

/* ---- depthwise backward.
 * Pixels outer, all channels inner: every read walks contiguous channel runs, so each cache
 * line is used whole (walking one block of channels across a whole tensor, then the next,
 * missed the cache on every pixel). Weight and bias gradients: each task (a fixed chunk of
 * output rows) accumulates into its own slice of scratch, and the slices are added in task
 * order afterwards, so the sum does not depend on the thread count. Input gradient: gather
 * form, each task (a chunk of input rows) writes its rows once. */

#define DWB_ROWS 4
#define DWB_MAX_TAPS 64

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__) /* TSan cannot run an ifunc resolver before it starts */
#define DWB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DWB_CLONES
#endif

typedef struct {
    const vg_conv_desc *d;
    const float *x, *w, *dy;
    float *dx;
    float *part; /* per task: taps x C weight gradients, then C bias gradients */
    int row_tasks_per_image;
} dwb_job;

static inline void mac(float *restrict acc, const float *restrict a, const float *restrict b,
                       int n) {
    for (int i = 0; i < n; i++) acc[i] += a[i] * b[i];
}
static inline void add_to(float *restrict acc, const float *restrict a, int n) {
    for (int i = 0; i < n; i++) acc[i] += a[i];
}

DWB_CLONES static void dwb_weights_task(void *ctx, int task, int thread) {
    (void)thread;
    const dwb_job *J = ctx;
    const vg_conv_desc *d = J->d;
    int C = d->ci, taps = d->kh * d->kw;
    int n = task / J->row_tasks_per_image, oy0 = (task % J->row_tasks_per_image) * DWB_ROWS;
    int oy1 = oy0 + DWB_ROWS < d->ho ? oy0 + DWB_ROWS : d->ho;
    float *acc = J->part + (size_t)task * (taps + 1) * C, *accb = acc + (size_t)taps * C;
    memset(acc, 0, sizeof(float) * (size_t)(taps + 1) * C);
    for (int oy = oy0; oy < oy1; oy++) {
        int ky0 = d->pt - oy * d->sh > 0 ? d->pt - oy * d->sh : 0;
        int ky1 = d->h + d->pt - oy * d->sh < d->kh ? d->h + d->pt - oy * d->sh : d->kh;
        for (int ox = 0; ox < d->wo; ox++) {
            int kx0 = d->pl - ox * d->sw > 0 ? d->pl - ox * d->sw : 0;
            int kx1 = d->w + d->pl - ox * d->sw < d->kw ? d->w + d->pl - ox * d->sw : d->kw;
            const float *g = J->dy + (((size_t)n * d->ho + oy) * d->wo + ox) * C;
            add_to(accb, g, C);
            for (int ky = ky0; ky < ky1; ky++) {
                const float *xr = J->x + (((size_t)n * d->h + oy * d->sh - d->pt + ky) * d->w) * C;
                for (int kx = kx0; kx < kx1; kx++)
                    mac(acc + (size_t)(ky * d->kw + kx) * C, g,
                        xr + (size_t)(ox * d->sw - d->pl + kx) * C, C);
            }
        }
    }
}

DWB_CLONES static void dwb_input_task(void *ctx, int task, int thread) {
    (void)thread;
    const dwb_job *J = ctx;
    const vg_conv_desc *d = J->d;
    int C = d->ci;
    int tasks_per_image = (d->h + DWB_ROWS - 1) / DWB_ROWS;
    int n = task / tasks_per_image, iy0 = (task % tasks_per_image) * DWB_ROWS;
    int iy1 = iy0 + DWB_ROWS < d->h ? iy0 + DWB_ROWS : d->h;
    for (int iy = iy0; iy < iy1; iy++)
        for (int ix = 0; ix < d->w; ix++) {
            float *o = J->dx + (((size_t)n * d->h + iy) * d->w + ix) * C;
            memset(o, 0, sizeof(float) * (size_t)C);
            for (int ky = 0; ky < d->kh; ky++) {
                int num = iy + d->pt - ky;
                if (num < 0 || num % d->sh || num / d->sh >= d->ho) continue;
                const float *gr = J->dy + (((size_t)n * d->ho + num / d->sh) * d->wo) * C;
                for (int kx = 0; kx < d->kw; kx++) {
                    int numx = ix + d->pl - kx;
                    if (numx < 0 || numx % d->sw || numx / d->sw >= d->wo) continue;
                    mac(o, gr + (size_t)(numx / d->sw) * C, J->w + (size_t)(ky * d->kw + kx) * C, C);
                }
            }
        }
}

void vg_cpu_dwconv_bwd(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db) {
    int taps = d->kh * d->kw, C = d->ci;
    int rows = (d->ho + DWB_ROWS - 1) / DWB_ROWS, tasks = d->n * rows;
    size_t part = (size_t)tasks * (taps + 1) * C;
    if (!c->k->dwconv || taps > DWB_MAX_TAPS || ((dw || db) && !vg_cpu_reserve_aux(c, part))) {
        vg_dwconv_bwd_ref(d, x, w, dy, dx, dw, db);
        return;
    }
    dwb_job J = {d, x, w, dy, dx, c->aux, rows};
    if (dw || db) {
        vg_pool_run(c->pool, tasks, dwb_weights_task, &J);
        for (int t = 0; t < tasks; t++) { /* fixed order: thread-count independent */
            const float *p = c->aux + (size_t)t * (taps + 1) * C;
            if (dw) add_to(dw, p, taps * C);
            if (db) add_to(db, p + (size_t)taps * C, C);
        }
    }
    if (dx) vg_pool_run(c->pool, d->n * ((d->h + DWB_ROWS - 1) / DWB_ROWS), dwb_input_task, &J);
}

/* Global average pool: the reference's sum over pixels in order, per channel, with the
 * channels in the inner loop (contiguous, vectorised) instead of a pixel-strided walk. */
DWB_CLONES void vg_cpu_gap(int n, int hw, int c, const float *x, float *y) {
    for (int b = 0; b < n; b++)
        for (int c0 = 0; c0 < c; c0 += 256) {
            int nc = c - c0 < 256 ? c - c0 : 256;
            float s[256] = {0};
            for (int i = 0; i < hw; i++) add_to(s, x + ((size_t)b * hw + i) * c + c0, nc);
            for (int j = 0; j < nc; j++) y[(size_t)b * c + c0 + j] = s[j] / (float)hw;
        }
}

DWB_CLONES void vg_cpu_colsum_add(const float *a, size_t rows, int cols, float *acc) {
    /* through a local row of sums in blocks of 256 columns: the inner loop then has no
     * possible aliasing and vectorises */
    for (int c0 = 0; c0 < cols; c0 += 256) {
        int nc = cols - c0 < 256 ? cols - c0 : 256;
        float s[256] = {0};
        for (size_t i = 0; i < rows; i++) add_to(s, a + i * (size_t)cols + c0, nc);
        add_to(acc + c0, s, nc);
    }
}
