/* backend.h — the CPU backend: kernel tables per instruction set and a context (vg_cpu) that
 * owns the thread pool and scratch memory and runs whole layers with them. Model code calls
 * vg_cpu_* and never sees an #ifdef. The "ref" table runs the scalar _ref kernels of src/ops
 * (the specification); every other table is tested against it (tests/test_ops.c). */
#ifndef VG_BACKEND_H
#define VG_BACKEND_H

#include "core/pool.h"
#include "cpu/gemm.h"
#include "ops/ops.h"

/* Depthwise convolution of output rows [oy0, oy1), channels [cb, ce), of image n (d->n is
 * ignored). cb is a multiple of 16 and ce one too or d->ci: a channel is computed with the
 * same instructions whatever range it is in. */
typedef void (*vg_dw_fn)(const vg_conv_desc *d, int n, int oy0, int oy1, int cb, int ce,
                         const float *x, const float *w, const float *b, vg_act act, float *y);

typedef struct {
    const char *name;
    const vg_ukernel *uk; /* GEMM micro-kernel; NULL = the reference kernels */
    vg_dw_fn dwconv;
} vg_kernels;

const vg_kernels *vg_kernels_ref(void);
/* The fastest table this CPU supports, or the one vg_kernels_select chose. */
const vg_kernels *vg_kernels_best(void);
/* The process-wide kernel choice behind vg_set_kernels (vigie.h): NULL or "" = the fastest,
 * else a table name of vg_kernels_all(); VG_ERR_ARG for another name. It steers the float
 * tables and the int8 families (cpu/q8.h): "ref" and "scalar" the portable int8 code, "avx2"
 * the AVX2 int8 kernels as on a CPU without AVX-512. vg_kernels_choice() is 0 for the fastest,
 * else c with vg_kernels_choice_name(c) the chosen name (1 .. VG_KERNELS_CHOICES - 1). */
#define VG_KERNELS_CHOICES 6
vg_status vg_kernels_select(const char *name, vg_err *err);
int vg_kernels_choice(void);
/* A kernel set for one runner (vg_runner_opts.kernels): NULL or "" = the process-wide choice
 * (vg_kernels_choice()), else the choice of that name; VG_ERR_ARG as vg_kernels_select. */
vg_status vg_kernels_resolve(const char *name, int *choice, vg_err *err);
/* The float table of a choice (vg_kernels_best() is the one of the process-wide choice). */
const vg_kernels *vg_kernels_for(int choice);
const char *vg_kernels_choice_name(int c);
/* Every table usable on this CPU (for tests), NULL-terminated. */
const vg_kernels *const *vg_kernels_all(void);

/* per-architecture depthwise kernels (NULL when not built for this architecture) */
vg_dw_fn vg_dwconv_scalar(void);
vg_dw_fn vg_dwconv_avx512(void);
vg_dw_fn vg_dwconv_avx2(void);
vg_dw_fn vg_dwconv_neon(void);

typedef struct vg_cpu vg_cpu;

/* A context with `threads` threads (>= 1). NULL on allocation failure. */
vg_cpu *vg_cpu_new(const vg_kernels *k, int threads);
void vg_cpu_free(vg_cpu *c);
const vg_kernels *vg_cpu_kernels(const vg_cpu *c);
int vg_cpu_threads(const vg_cpu *c);
vg_pool *vg_cpu_pool(vg_cpu *c);
/* Makes sure `floats` of scratch exist (im2col); false on allocation failure. */
bool vg_cpu_reserve(vg_cpu *c, size_t floats);
/* Scratch needed by vg_cpu_conv2d for this geometry without pre-packed weights (wp NULL: a
 * whole image's im2col matrix). With them it needs none: the im2col rows are built block by
 * block inside the GEMM's tasks. */
size_t vg_cpu_conv2d_scratch(const vg_conv_desc *d);
/* im2col of one image (d->n ignored): row (oy, ox) of col holds the (kh, kw, ci) patch, zeros
 * outside the image, in the order of a weight row (co, kh, kw, ci), so a convolution is one
 * GEMM; col has vg_cpu_conv2d_scratch(d) floats. vg_cpu_col2im_add is its transpose (the
 * backward pass): each patch entry added onto the pixel it came from (padding dropped). */
void vg_cpu_im2col(const vg_conv_desc *d, const float *x, float *col);
void vg_cpu_col2im_add(const vg_conv_desc *d, const float *col, float *dx);

/* Constant weights w (n, k) packed for this context's GEMM, used by conv2d / matmul instead
 * of packing at every call. Returns NULL when the kernels do not pack (reference table) or on
 * allocation failure (then the unpacked path is used); free with free(). */
float *vg_cpu_pack_weights(const vg_cpu *c, int n, int k, const float *w);

/* Whole layers, same semantics as the _ref kernels (src/ops/ops.h), using the pool.
 * `wp` is the vg_cpu_pack_weights() of w, or NULL. */
void vg_cpu_conv2d(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                   const float *wp, const float *b, vg_act act, float *y);
void vg_cpu_dwconv(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                   const float *b, vg_act act, float *y);
void vg_cpu_matmul(vg_cpu *c, int m, int n, int k, const float *a, const float *b,
                   const float *bp, const float *bias, vg_act act, float *y);
/* y = act(a b^T + bias + res): vg_cpu_matmul with act NONE followed by vg_add_ref(y, res, act),
 * same bits, in one pass (the residual is added in the GEMM's last store). res (m, n) must not
 * overlap y. */
void vg_cpu_matmul_res(vg_cpu *c, int m, int n, int k, const float *a, const float *b,
                       const float *bp, const float *bias, const float *res, vg_act act, float *y);
/* Depthwise backward: dx (overwritten, or NULL), dw and db (accumulated, or NULL), split by
 * channel blocks so each weight gradient is summed by one task in a fixed order. */
void vg_cpu_dwconv_bwd(vg_cpu *c, const vg_conv_desc *d, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *db);
/* vg_gap_ref, same bits (the same sums in the same order), faster */
void vg_cpu_gap(int n, int hw, int c, const float *x, float *y);
/* acc (cols) += column sums of a (rows, cols): bias gradients */
void vg_cpu_colsum_add(const float *a, size_t rows, int cols, float *acc);
void vg_cpu_gemm(vg_cpu *c, bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float *y, int ldc, const vg_gemm_epi *epi);

#endif
