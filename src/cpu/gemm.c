/* gemm.c — the blocked GEMM driver (see gemm.h). Loop nest, outermost first:
 *   jc over N in NC columns, pc over K in KC steps: pack op(B)[pc.., jc..] once, in parallel;
 *   tasks over (MC-row block of M) x (group of NR panels): pack op(A)[ic.., pc..] into the
 *   thread's scratch, then run the micro-kernel over the MR x NR tiles.
 * With B pre-packed (constant weights, the forward pass) there is nothing to share between
 * tasks, so the K loop moves inside the task and a whole GEMM is one job of the pool
 * (split_packed).
 * KC is sized so that an A micro-panel and a B micro-panel stay in L1 while the micro-kernel
 * runs; MC so that the packed A block stays in L2. */
#include "cpu/gemm.h"

#include <string.h>

#define KC 256
#define MC_TARGET 144
#define NC 2048
#define MAX_MR 16
#define MAX_NR 64
#define MAX_THREADS 256

struct vg_gemm_ws {
    int threads;
    float *bpack;              /* KC x NC, shared */
    float *apack[MAX_THREADS]; /* MC x KC per thread */
    float *arows[MAX_THREADS]; /* MC x KC per thread: a gathered block of A, row-major */
};

vg_gemm_ws *vg_gemm_ws_new(int threads) {
    if (threads < 1 || threads > MAX_THREADS) return NULL;
    vg_gemm_ws *ws = vg_calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->threads = threads;
    ws->bpack = vg_aligned_alloc(64, sizeof(float) * KC * (NC + MAX_NR));
    bool ok = ws->bpack != NULL;
    for (int t = 0; ok && t < threads; t++) {
        ws->apack[t] = vg_aligned_alloc(64, sizeof(float) * KC * (MC_TARGET + MAX_MR));
        ws->arows[t] = vg_aligned_alloc(64, sizeof(float) * KC * (MC_TARGET + MAX_MR));
        ok = ws->apack[t] && ws->arows[t];
    }
    if (!ok) {
        vg_gemm_ws_free(ws);
        return NULL;
    }
    return ws;
}

void vg_gemm_ws_free(vg_gemm_ws *ws) {
    if (!ws) return;
    free(ws->bpack);
    for (int t = 0; t < ws->threads; t++) free(ws->apack[t]), free(ws->arows[t]);
    free(ws);
}

typedef struct {
    const vg_ukernel *uk;
    vg_gemm_ws *ws;
    const float *bpre; /* pre-packed B (whole K x N), or NULL to pack per block */
    bool ta, tb;
    int m, n, k;
    const float *a, *b;
    int lda, ldb;
    float *c;
    int ldc;
    const vg_gemm_epi *epi;
    const float *res; /* residual (m, n), row stride ldr, or NULL */
    int ldr;
    /* current block */
    int jc, nc, pc, kc, mc;
    int n_panels, panels_per_group, n_groups, m_blocks;
    /* pre-packed B: row blocks and panel groups as balanced ranges (split_packed) */
    int tiles;
    bool cols_first;          /* tasks numbered panel group first (split_packed) */
    vg_gemm_gather_fn gather; /* A written block by block (implicit im2col), or NULL */
    const void *gather_ctx;
} gemm_job;

/* Packs op(B)[pc : pc+kc, jc + jp*NR : +NR] into panel jp, zero-padded to NR columns. */
static void pack_b_panel(const gemm_job *J, int jp) {
    int nr = J->uk->nr;
    float *dst = J->ws->bpack + (size_t)jp * J->kc * nr;
    int j0 = J->jc + jp * nr;
    int nv = J->n - j0 < nr ? J->n - j0 : nr;
    if (nv > J->jc + J->nc - j0) nv = J->jc + J->nc - j0;
    for (int p = 0; p < J->kc; p++) {
        float *d = dst + (size_t)p * nr;
        int kk = J->pc + p;
        if (J->tb) {
            for (int j = 0; j < nv; j++) d[j] = J->b[(size_t)(j0 + j) * J->ldb + kk];
        } else {
            memcpy(d, J->b + (size_t)kk * J->ldb + j0, sizeof(float) * (size_t)nv);
        }
        for (int j = nv; j < nr; j++) d[j] = 0.0f;
    }
}

static void pack_b_task(void *ctx, int task, int thread) {
    (void)thread;
    pack_b_panel(ctx, task);
}

/* Packs mc rows of kc floats (row i at src + i * ld) into MR-row panels, zero-padded. */
static void pack_rows(const float *src, size_t ld, int mc, int kc, int mr, float *dst) {
    for (int ip = 0; ip < mc; ip += mr) {
        int mv = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (size_t)ip * kc;
        for (int i = 0; i < mv; i++) {
            const float *r = src + (ip + i) * ld;
            for (int p = 0; p < kc; p++) d[(size_t)p * mr + i] = r[p];
        }
        for (int i = mv; i < mr; i++)
            for (int p = 0; p < kc; p++) d[(size_t)p * mr + i] = 0.0f;
    }
}

/* Packs op(A)[i0 : i0+mc, pc : pc+kc] into MR-row panels, zero-padded. */
static void pack_a(const gemm_job *J, int i0, int mc, int pc, int kc, float *dst) {
    int mr = J->uk->mr;
    for (int ip = 0; ip < mc; ip += mr) {
        int mv = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (size_t)ip * kc;
        if (J->ta) {
            for (int p = 0; p < kc; p++) {
                const float *s = J->a + (size_t)(pc + p) * J->lda + i0 + ip;
                for (int i = 0; i < mv; i++) d[(size_t)p * mr + i] = s[i];
                for (int i = mv; i < mr; i++) d[(size_t)p * mr + i] = 0.0f;
            }
        } else {
            pack_rows(J->a + (size_t)(i0 + ip) * J->lda + pc, (size_t)J->lda, mv, kc, mr, d);
        }
    }
}

/* C[i0 : i0+mc, panels jp0..jp1) for the K block [pc, pc+kc). A comes packed (ap, MR-row
 * panels of kc) or, when ap is NULL, read in place: row i of the block at ar + i * lda. */
static void tiles(const gemm_job *J, const float *ap, const float *ar, int lda, int i0, int mc,
                  int jp0, int jp1, int pc, int kc) {
    const vg_ukernel *uk = J->uk;
    int mr = uk->mr, nr = uk->nr;
    bool first = pc == 0, last = pc + kc == J->k;
    bool load_c = J->epi->accumulate || !first;
    vg_act act = last ? J->epi->act : VG_ACT_NONE;
    for (int jp = jp0; jp < jp1; jp++) {
        int j0 = J->jc + jp * nr;
        int nv = J->jc + J->nc - j0 < nr ? J->jc + J->nc - j0 : nr;
        const float *bp = J->bpre ? J->bpre + (size_t)pc * J->n_panels * nr + (size_t)jp * kc * nr
                                  : J->ws->bpack + (size_t)jp * kc * nr;
        const float *bias = last && J->epi->bias ? J->epi->bias + j0 : NULL;
        for (int ip = 0; ip < mc; ip += mr) {
            int mv = mc - ip < mr ? mc - ip : mr;
            float *cp = J->c + (size_t)(i0 + ip) * J->ldc + j0;
            const float *rp = last && J->res ? J->res + (size_t)(i0 + ip) * J->ldr + j0 : NULL;
            if (ap)
                uk->kernel(kc, ap + (size_t)ip * kc, bp, cp, J->ldc, mv, nv, load_c, bias, rp,
                           J->ldr, act);
            else if (mv <= uk->small_mr)
                uk->direct_small(kc, ar + (size_t)ip * lda, lda, bp, cp, J->ldc, mv, nv, load_c,
                                 bias, rp, J->ldr, act);
            else
                uk->direct(kc, ar + (size_t)ip * lda, lda, bp, cp, J->ldc, mv, nv, load_c, bias,
                           rp, J->ldr, act);
        }
    }
}

/* one (MC-row block, panel group) of the current K block (B packed for it in ws->bpack) */
static void compute_task(void *ctx, int task, int thread) {
    const gemm_job *J = ctx;
    int mb = task / J->n_groups, g = task % J->n_groups;
    int i0 = mb * J->mc;
    int mc = J->m - i0 < J->mc ? J->m - i0 : J->mc;
    int jp0 = g * J->panels_per_group;
    int jp1 = jp0 + J->panels_per_group < J->n_panels ? jp0 + J->panels_per_group : J->n_panels;
    bool direct = J->uk->direct && !J->ta;
    float *ap = NULL;
    if (!direct) {
        ap = J->ws->apack[thread];
        pack_a(J, i0, mc, J->pc, J->kc, ap);
    }
    tiles(J, ap, J->a + (size_t)i0 * J->lda + J->pc, J->lda, i0, mc, jp0, jp1, J->pc, J->kc);
}

void vg_gemm_res(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, bool ta, bool tb, int m,
                 int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                 const vg_gemm_epi *epi, const float *res, int ldr) {
    static const vg_gemm_epi plain = {NULL, VG_ACT_NONE, false};
    if (!epi) epi = &plain;
    if (m <= 0 || n <= 0) return;
    VG_ASSERT(uk->mr <= MAX_MR && uk->nr <= MAX_NR && ws && ws->threads >= vg_pool_threads(pool));
    if (k <= 0) { /* empty sum: C = epilogue(0 [+ C]) */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float v = epi->accumulate ? c[(size_t)i * ldc + j] : 0.0f;
                if (epi->bias) v += epi->bias[j];
                if (res) v += res[(size_t)i * ldr + j];
                c[(size_t)i * ldc + j] = vg_act_apply1(epi->act, v);
            }
        return;
    }
    gemm_job J = {uk, ws, NULL, ta, tb, m, n, k, a, b, lda, ldb, c, ldc, epi, res, ldr,
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false, NULL, NULL};
    J.mc = MC_TARGET / uk->mr * uk->mr;
    J.m_blocks = (m + J.mc - 1) / J.mc;
    int threads = vg_pool_threads(pool);
    for (J.jc = 0; J.jc < n; J.jc += NC) {
        J.nc = n - J.jc < NC ? n - J.jc : NC;
        J.n_panels = (J.nc + uk->nr - 1) / uk->nr;
        /* enough tasks to keep every thread busy: split N when M alone does not */
        J.n_groups = 1;
        while (threads > 1 && J.m_blocks * J.n_groups < 4 * threads && J.n_groups < J.n_panels)
            J.n_groups++;
        J.panels_per_group = (J.n_panels + J.n_groups - 1) / J.n_groups;
        J.n_groups = (J.n_panels + J.panels_per_group - 1) / J.panels_per_group;
        for (J.pc = 0; J.pc < k; J.pc += KC) {
            J.kc = k - J.pc < KC ? k - J.pc : KC;
            vg_pool_run(threads > 1 && J.n_panels > 1 ? pool : NULL, J.n_panels, pack_b_task, &J);
            vg_pool_run(pool, J.m_blocks * J.n_groups, compute_task, &J);
        }
    }
}

void vg_gemm(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, bool ta, bool tb, int m, int n,
             int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
             const vg_gemm_epi *epi) {
    vg_gemm_res(uk, pool, ws, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, epi, NULL, 0);
}

size_t vg_gemm_packed_floats(const vg_ukernel *uk, int n, int k) {
    size_t panels = (size_t)(n + uk->nr - 1) / uk->nr;
    return panels * uk->nr * (size_t)(k > 0 ? k : 1);
}

void vg_gemm_pack_b(const vg_ukernel *uk, int n, int k, const float *w, float *packed) {
    gemm_job J;
    memset(&J, 0, sizeof J);
    J.uk = uk;
    J.tb = true;
    J.b = w;
    J.ldb = k;
    J.n = n;
    J.k = k;
    J.jc = 0;
    J.nc = n;
    int n_panels = (n + uk->nr - 1) / uk->nr;
    vg_gemm_ws fake; /* pack_b_panel writes through ws->bpack */
    for (J.pc = 0; J.pc < k; J.pc += KC) {
        J.kc = k - J.pc < KC ? k - J.pc : KC;
        fake.bpack = packed + (size_t)J.pc * n_panels * uk->nr;
        J.ws = &fake;
        for (int jp = 0; jp < n_panels; jp++) pack_b_panel(&J, jp);
    }
}

/* Tasks of a GEMM with pre-packed B: row blocks (balanced ranges of MR-row tiles) times panel
 * groups (balanced ranges of NR-column panels). The pool gives each thread a contiguous range
 * of task numbers (pool.c), and which operand that range keeps local is chosen by numbering:
 * - rows first (row block outer), the usual case: each thread computes a band of C's rows,
 *   the same band from one layer to the next when M is the pixels of an image, so it reads A
 *   from its own cache and leaves C where the next layer's task for that band will run; every
 *   thread reads all of B.
 * - columns first, when B (the weights) is bigger than A and C together (7x7 layers with
 *   hundreds of channels, batch-1 classifiers): each thread then streams only its half of the
 *   weights, which dominate the traffic, and reads all of the small A.
 * One thread: whole MC-row blocks (the L2 blocking), all panels. Several: about 8 tasks per
 * thread where the shape allows (the pool evens out the rest by stealing). How C is cut never
 * changes what is computed for one element: the same micro-kernel sum over the same K blocks. */
static void split_packed(gemm_job *J, int threads) {
    int mr = J->uk->mr, rb_max = MC_TARGET / mr;
    int want = threads > 1 ? 8 * threads : 1;
    J->tiles = (J->m + mr - 1) / mr;
    J->cols_first = threads > 1 && (double)J->k * J->n > (double)J->m * (J->k + J->n);
    if (J->cols_first) {
        J->n_groups = J->n_panels < want ? J->n_panels : want;
        J->m_blocks = (want + J->n_groups - 1) / J->n_groups;
        if (J->m_blocks > J->tiles) J->m_blocks = J->tiles;
        int min_blocks = (J->tiles + rb_max - 1) / rb_max; /* a block fits the A scratch */
        if (J->m_blocks < min_blocks) J->m_blocks = min_blocks;
        return;
    }
    int rb = J->tiles / want;
    rb = rb < 1 ? 1 : rb > rb_max ? rb_max : rb;
    J->m_blocks = (J->tiles + rb - 1) / rb;
    J->n_groups = 1;
    if (J->m_blocks < want) {
        J->n_groups = (want + J->m_blocks - 1) / J->m_blocks;
        if (J->n_groups > J->n_panels) J->n_groups = J->n_panels;
    }
}

/* one row block x panel group, every K block (so one pool job per GEMM, no barrier between
 * K blocks; a tile still sees its K blocks in order, as in vg_gemm) */
static void packed_task(void *ctx, int task, int thread) {
    const gemm_job *J = ctx;
    const vg_ukernel *uk = J->uk;
    int mr = uk->mr;
    int mb = J->cols_first ? task % J->m_blocks : task / J->n_groups;
    int g = J->cols_first ? task / J->m_blocks : task % J->n_groups;
    int t0 = (int)((long long)J->tiles * mb / J->m_blocks);
    int t1 = (int)((long long)J->tiles * (mb + 1) / J->m_blocks);
    int i0 = t0 * mr, mc = (t1 * mr < J->m ? t1 * mr : J->m) - i0;
    int jp0 = (int)((long long)J->n_panels * g / J->n_groups);
    int jp1 = (int)((long long)J->n_panels * (g + 1) / J->n_groups);
    bool direct = uk->direct != NULL;
    for (int pc = 0; pc < J->k; pc += KC) {
        int kc = J->k - pc < KC ? J->k - pc : KC;
        const float *ar;
        int lda = J->lda;
        if (J->gather) { /* no A matrix (NULL): its rows are formed here */
            float *rows = J->ws->arows[thread];
            J->gather(J->gather_ctx, i0, mc, pc, kc, rows);
            ar = rows, lda = kc;
        } else {
            ar = J->a + (size_t)i0 * J->lda + pc;
        }
        float *ap = NULL;
        if (!direct) {
            ap = J->ws->apack[thread];
            pack_rows(ar, (size_t)lda, mc, kc, mr, ap);
        }
        tiles(J, ap, ar, lda, i0, mc, jp0, jp1, pc, kc);
    }
}

static void run_packed(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n, int k,
                       const float *a, int lda, vg_gemm_gather_fn gather, const void *gctx,
                       const float *bpacked, float *c, int ldc, const vg_gemm_epi *epi,
                       const float *res, int ldr) {
    VG_ASSERT(uk->mr <= MAX_MR && uk->nr <= MAX_NR && ws && ws->threads >= vg_pool_threads(pool));
    gemm_job J = {uk, ws, bpacked, false, true, m, n, k, a, NULL, lda, 0, c, ldc, epi, res, ldr,
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false, gather, gctx};
    J.jc = 0;
    J.nc = n;
    J.n_panels = (n + uk->nr - 1) / uk->nr;
    split_packed(&J, vg_pool_threads(pool));
    vg_pool_run(pool, J.m_blocks * J.n_groups, packed_task, &J);
}

void vg_gemm_packed_res(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n, int k,
                        const float *a, int lda, const float *bpacked, float *c, int ldc,
                        const vg_gemm_epi *epi, const float *res, int ldr) {
    static const vg_gemm_epi plain = {NULL, VG_ACT_NONE, false};
    if (!epi) epi = &plain;
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        vg_gemm_res(uk, pool, ws, false, true, m, n, k, a, lda, NULL, k, c, ldc, epi, res, ldr);
        return;
    }
    run_packed(uk, pool, ws, m, n, k, a, lda, NULL, NULL, bpacked, c, ldc, epi, res, ldr);
}

void vg_gemm_packed_gather(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n,
                           int k, vg_gemm_gather_fn gather, const void *ctx, const float *bpacked,
                           float *c, int ldc, const vg_gemm_epi *epi) {
    static const vg_gemm_epi plain = {NULL, VG_ACT_NONE, false};
    if (!epi) epi = &plain;
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        vg_gemm_res(uk, pool, ws, false, true, m, n, k, NULL, 0, NULL, k, c, ldc, epi, NULL, 0);
        return;
    }
    run_packed(uk, pool, ws, m, n, k, NULL, 0, gather, ctx, bpacked, c, ldc, epi, NULL, 0);
}

void vg_gemm_packed(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n, int k,
                    const float *a, int lda, const float *bpacked, float *c, int ldc,
                    const vg_gemm_epi *epi) {
    vg_gemm_packed_res(uk, pool, ws, m, n, k, a, lda, bpacked, c, ldc, epi, NULL, 0);
}
