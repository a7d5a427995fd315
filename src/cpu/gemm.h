/* gemm.h — the fast single-precision GEMM: BLIS-style blocking (NC x KC x MC), both operands
 * packed into micro-panels, a register-blocked micro-kernel per architecture, and an epilogue
 * (bias, residual, activation) fused into the last store. Work is split into fixed tiles of C,
 * each computed whole by one task with the same summation order, so results are bit-identical
 * for any number of threads. Semantics are those of vg_gemm_ref (src/ops/ops.h), plus the
 * epilogue. */
#ifndef VG_GEMM_H
#define VG_GEMM_H

#include "core/pool.h"
#include "ops/ops.h"

/* C tile update: acc (mr x nr) = sum over kc of ap[p*MR + i] * bp[p*NR + j], then
 *   acc += C            when load_c (accumulating, or not the first K block)
 *   acc += bias[j]      when bias != NULL (last K block only)
 *   acc += res[i*ldr+j] when res != NULL (last K block only: a residual connection)
 *   acc = act(acc)      (last K block only; the caller passes VG_ACT_NONE otherwise)
 * and stores the valid mr x nr corner into C (row stride ldc). ap and bp are zero-padded to
 * full MR / NR, so the kernel may compute the whole tile and store part of it. The additions
 * happen in this order, so a 1x1 convolution followed by a residual add gives, fused, the
 * bits of the two separate layers. */
typedef void (*vg_ukernel_fn)(int kc, const float *ap, const float *bp, float *c, int ldc, int mr,
                              int nr, bool load_c, const float *bias, const float *res, int ldr,
                              vg_act act);

/* The same with A read in place: row i of the tile starts at a + i * lda (rows beyond mr may
 * alias valid rows; they are computed and not stored). Saves packing A when op(A) is
 * row-major, which is what the forward pass and dX need. NULL if the kernel lacks it. */
typedef void (*vg_ukernel_direct_fn)(int kc, const float *a, int lda, const float *bp, float *c,
                                     int ldc, int mr, int nr, bool load_c, const float *bias,
                                     const float *res, int ldr, vg_act act);

typedef struct {
    const char *name;
    int mr, nr;
    vg_ukernel_fn kernel;
    vg_ukernel_direct_fn direct;
    /* optional direct kernel for tiles with at most small_mr valid rows (same NR): batch-1
     * classifiers and the last row tile of small images would otherwise compute mr rows */
    int small_mr;
    vg_ukernel_direct_fn direct_small;
} vg_ukernel;

const vg_ukernel *vg_ukernel_scalar(void);
const vg_ukernel *vg_ukernel_avx2(void);   /* NULL when not built for x86 */
const vg_ukernel *vg_ukernel_avx512(void); /* NULL when not built for x86 */
const vg_ukernel *vg_ukernel_neon(void);   /* NULL when not built for aarch64 */

/* Per-thread packing memory for the GEMM; sized for the blocking constants, allocated once. */
typedef struct vg_gemm_ws vg_gemm_ws;
vg_gemm_ws *vg_gemm_ws_new(int threads);
void vg_gemm_ws_free(vg_gemm_ws *ws);

typedef struct {
    const float *bias; /* (n), added before the activation, or NULL */
    vg_act act;
    bool accumulate; /* C += op(A) op(B) instead of C = */
} vg_gemm_epi;

/* C = epilogue(op(A) op(B)). uk: micro-kernel; pool may be NULL; ws must have been made for at
 * least the pool's thread count. */
void vg_gemm(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, bool ta, bool tb, int m, int n,
             int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
             const vg_gemm_epi *epi);
/* The same with a residual R (m, n), row stride ldr, added in the epilogue after the bias and
 * before the activation: C = act([C +] op(A) op(B) + bias + R). Rounds exactly like vg_gemm
 * followed by vg_add_ref(C, R, act). R must not overlap C (C holds partial sums while R is
 * still to be read when K spans several blocks). */
void vg_gemm_res(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, bool ta, bool tb, int m,
                 int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc,
                 const vg_gemm_epi *epi, const float *res, int ldr);

/* Pre-packed B: constant weights (the forward pass's op(B) with tb, i.e. W stored (n, k)) are
 * packed once into the micro-kernel's panel layout, so calls skip packing B, which dominates
 * when M is small (7x7 layers, batch-1 classifiers). Layout: for each KC block of k, every
 * NR-column panel, kc x NR floats, zero-padded. */
size_t vg_gemm_packed_floats(const vg_ukernel *uk, int n, int k);
void vg_gemm_pack_b(const vg_ukernel *uk, int n, int k, const float *w, float *packed);
/* C = epilogue(A op(B)) with A (m, k) row-major and op(B) given pre-packed. */
void vg_gemm_packed(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n, int k,
                    const float *a, int lda, const float *bpacked, float *c, int ldc,
                    const vg_gemm_epi *epi);
/* A given block by block instead of as a matrix: gather(ctx, i0, mc, pc, kc, dst) writes
 * A[i0 : i0+mc, pc : pc+kc] into dst, row-major (row stride kc). A convolution passes its
 * im2col this way, so the im2col matrix is never stored whole and is built in parallel, block
 * by block, inside the GEMM's tasks (an implicit GEMM). mc <= 160 and kc <= 256. */
typedef void (*vg_gemm_gather_fn)(const void *ctx, int i0, int mc, int pc, int kc, float *dst);
void vg_gemm_packed_gather(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n,
                           int k, vg_gemm_gather_fn gather, const void *ctx, const float *bpacked,
                           float *c, int ldc, const vg_gemm_epi *epi);
/* vg_gemm_packed with a residual, as vg_gemm_res. */
void vg_gemm_packed_res(const vg_ukernel *uk, vg_pool *pool, vg_gemm_ws *ws, int m, int n, int k,
                        const float *a, int lda, const float *bpacked, float *c, int ldc,
                        const vg_gemm_epi *epi, const float *res, int ldr);

#endif
