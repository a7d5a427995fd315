/* q8.h — the fast int8 kernels of the integer path, each bit-identical to its scalar reference
 * in ops/int8.c (tests/test_quant.c compares them on odd shapes):
 *   - matrix multiply (pointwise convolutions, fully-connected layers, im2col convolutions),
 *   - depthwise convolution,
 *   - residual add, input quantization, global average pool.
 * On x86 with AVX-512 VNNI the dot products run on vpdpbusd (unsigned x signed bytes): the
 * activations are made unsigned (x + 128, by flipping the sign bit) and the 128 + zp they then
 * carry is folded into a per-channel corrected bias. On AArch64 the matrix multiply runs on
 * NEON: SDOT (signed x signed, 4-byte dot products) where the CPU has the dot-product
 * extension, widening multiplies with pairwise accumulation (ARMv8.0: Cortex-A53/A57/A72, the
 * Jetson Nano and Raspberry Pi 3/4) elsewhere, over the same packed weights; x86 CPUs without
 * VNNI use AVX2 (bytes widened to int16, vpmaddwd). Elsewhere (or with the kernel choice "ref"
 * or "scalar", vg_set_kernels) portable code runs the same integer arithmetic.
 *
 * Layers are prepared once ("plans": packed weights, corrected biases, the requantization
 * constants per channel) and then run on any number of images. The work of a layer is split
 * into fixed pieces, so results never depend on the thread count. */
#ifndef VG_Q8_H
#define VG_Q8_H

#include "core/pool.h"
#include "ops/ops_q8.h"

/* The int8 kernels of a plan, for a kernel choice (cpu/backend.h; a runner's own or the
 * process-wide one): fast = the AVX-512 VNNI paths, isa = the matrix-multiply family below.
 * vg_q8_select honours vg_q8_gemm_force. Plans take a selection (NULL: the portable code). */
typedef struct {
    bool fast;
    int isa;
} vg_q8_sel;
vg_q8_sel vg_q8_select(int choice);
/* Whether the fast kernels run on this CPU under the process-wide choice. */
bool vg_q8_fast_available(void);
/* The matrix-multiply kernel families. Plans take the best one this CPU has; the kernel choice
 * (cpu/backend.h: vg_kernels_select) "ref" or "scalar" forces the portable code, "avx2" the
 * AVX2 kernels on an AVX-512 machine (what a CPU without AVX-512 runs). The CPU is probed once
 * per process, thread-safely. */
enum { VG_Q8_PORTABLE, VG_Q8_AVX2, VG_Q8_VNNI, VG_Q8_NEON, VG_Q8_NEON_DOT, VG_Q8_ISA_COUNT_ };
int vg_q8_gemm_isa(void);
const char *vg_q8_isa_name(int isa); /* "portable", "AVX2", "AVX-512 VNNI", "NEON", "NEON dotprod" */
/* Whether this CPU can run kernel family isa. */
bool vg_q8_isa_supported(int isa);
/* Tests: plans made from now on use isa (-1: back to the automatic choice); false, and no
 * change, when this CPU cannot run it. Not thread-safe: call it between plans. */
bool vg_q8_gemm_force(int isa);

/* Per-channel requantization constants laid out for the vector epilogue (internal to the
 * kernels; filled by the plans). */
typedef struct {
    int n16;                 /* channels rounded up to 16 (the tail holds harmless values) */
    int variant;             /* which epilogue: rounding mode x wide (see q8_rq.h) */
    int32_t *bias;           /* n16: accumulator start (bias + zero-point corrections) */
    int32_t *mult, *lsh;     /* n16: multiplier, TFLite's left shift */
    int64_t *add, *adj, *sh; /* n16: rounding addend, sign correction, total right shift */
    int64_t *add_n, *adj_n, *nsh_n; /* the same in channel order, minus the shift (AVX2, NEON) */
    int32_t out_zp, lo, hi;
} vg_q8_rq;

/* ---- matrix multiply: C (m, n) = requant(A (m, k) W (n, k)^T + bias) */

typedef struct {
    int n, k, k4;         /* columns, depth, depth in groups of 4 (padded with zero weights) */
    int panels;           /* groups of 16 columns */
    int8_t *w;            /* fast path: panels x k4 x 16 x 4 bytes (NULL for AVX2) */
    int16_t *w16;         /* AVX2: the same widened to int16, once rather than at every block
                             of rows (23 % off its pointwise layers) */
    const int8_t *w_rows; /* the caller's (n, k) weights, for the portable path */
    const int32_t *bias;  /* the caller's, or NULL */
    int32_t *bias_zp;     /* n: bias - in_zp x (sum of W's row), for the portable path */
    vg_q8_out q;          /* the caller's (its arrays must outlive the plan) */
    bool fast;            /* AVX-512 VNNI kernels (isa == VG_Q8_VNNI) */
    int isa;              /* the kernel family: VG_Q8_*; all but PORTABLE use the packed w */
    vg_q8_rq rq;
} vg_q8_gemm_plan;

/* Prepares W (n, k) int8 with its bias (n, or NULL) and requantization q, for the kernels of
 * sel (NULL: the portable path). w, bias and q's arrays must outlive the plan. False on
 * allocation failure. Free with vg_q8_gemm_plan_free. */
bool vg_q8_gemm_plan_init(vg_q8_gemm_plan *p, int n, int k, const int8_t *w, const int32_t *bias,
                          const vg_q8_out *q, const vg_q8_sel *sel);
void vg_q8_gemm_plan_free(vg_q8_gemm_plan *p);

/* C = requant(A W^T + bias). A rows (stride lda) are read up to 3 bytes past k (they multiply
 * zero padding): the caller's buffers must allow it. */
void vg_q8_gemm_run(vg_pool *pool, const vg_q8_gemm_plan *p, int m, const int8_t *a, int lda,
                    int8_t *c, int ldc);

/* Regular convolution (n images, d) with the plan of its (co, kh * kw * ci) weights: int8
 * im2col + the GEMM, tile by tile (the stem of MobileNetV2: 3x3, stride 2, 3 channels).
 * scratch: threads x vg_q8_conv_scratch bytes. */
size_t vg_q8_conv_scratch(const vg_q8_gemm_plan *p);
void vg_q8_conv_run(vg_pool *pool, const vg_q8_gemm_plan *p, const vg_conv_desc *d, const int8_t *x,
                    void *scratch, int8_t *y);

/* ---- depthwise convolution (kh x kw, any stride and padding) */

typedef struct {
    vg_conv_desc d;      /* geometry (d.n ignored: images are given at run time) */
    const int8_t *w;     /* the caller's (kh, kw, c) weights */
    const int32_t *bias; /* the caller's, or NULL */
    vg_q8_out q;
    bool fast;
    int rq_isa; /* the requantization epilogue's family (the portable loops use it too) */
    int groups; /* taps of a row in groups of 4 */
    int wx;     /* columns of a prepared input row */
    int8_t *wp; /* kh x groups x blocks of 16 channels x 64 bytes */
    vg_q8_rq rq;
} vg_q8_dw_plan;

bool vg_q8_dw_plan_init(vg_q8_dw_plan *p, const vg_conv_desc *d, const int8_t *w,
                        const int32_t *bias, const vg_q8_out *q, const vg_q8_sel *sel);
/* Whether the fast kernel of sel takes this geometry (filters up to 16 x 16). */
bool vg_q8_dw_fast_shape(const vg_q8_sel *sel, const vg_conv_desc *d);
void vg_q8_dw_plan_free(vg_q8_dw_plan *p);
/* Scratch bytes per thread that vg_q8_dw_run needs. */
size_t vg_q8_dw_scratch(const vg_q8_dw_plan *p);
/* n images x (n, h, w, c) -> y (n, ho, wo, c). scratch: threads x vg_q8_dw_scratch bytes,
 * 64-byte aligned. */
void vg_q8_dw_run(vg_pool *pool, const vg_q8_dw_plan *p, int n, const int8_t *x, int8_t *y,
                  void *scratch);

/* A pointwise layer and the depthwise layer that reads its output, as one pass: the pointwise
 * output rows are computed as the depthwise needs them, straight into its prepared rows, so
 * the expanded tensor of an inverted residual block never goes to memory. Same bytes as
 * vg_q8_gemm_run then vg_q8_dw_run. x: the pointwise input (n, h, w, pw->k), y: the depthwise
 * output; scratch as vg_q8_dw_run. Only where vg_q8_pwdw_fusable (both fast). */
bool vg_q8_pwdw_fusable(const vg_q8_gemm_plan *pw, const vg_q8_dw_plan *dw);
void vg_q8_pwdw_run(vg_pool *pool, const vg_q8_gemm_plan *pw, const vg_q8_dw_plan *dw, int n,
                    const int8_t *x, int8_t *y, void *scratch);

/* One-call forms (plan, run, free) for tests and occasional use, with the process-wide
 * choice's kernels (allow_fast false: the portable path); false (nothing written) on
 * allocation failure. */
bool vg_q8_gemm(vg_pool *pool, int m, int n, int k, const int8_t *a, int lda, const int8_t *w,
                const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc, bool allow_fast);
bool vg_q8_dwconv(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                  const int32_t *bias, const vg_q8_out *q, int8_t *y, bool allow_fast);

/* ---- elementwise */

/* vg_add_q8_ref, vectorised with sel's fast kernels (NULL: portable) */
void vg_q8_add(vg_pool *pool, size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p,
               int8_t *y, const vg_q8_sel *sel);
/* y = vg_quantize1(x, q) for n floats */
void vg_q8_quantize(vg_pool *pool, size_t n, const float *x, vg_qparam q, int8_t *y,
                    const vg_q8_sel *sel);
/* vg_gap_q8_ref with sums that compilers vectorise */
void vg_q8_gap(int n, int hw, int c, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y);

#endif
