/* q8_gemm.h — the fast int8 matrix multiply of the integer path (pointwise convolutions and
 * fully-connected layers): C (m, n) = requant(A (m, k) B (n, k)^T + bias), with A int8
 * activations (zero point in_zp), B int8 weights packed once, and TFLite's fixed-point
 * requantization. Bit-identical to vg_matmul_q8_ref (tests/test_quant.c). On x86 with
 * AVX-512 VNNI the dot products run on vpdpbusd (unsigned x signed bytes): the activations are
 * turned unsigned (x + 128, by flipping the sign bit) as they are broadcast, and the 128 + zp
 * they then carry is folded into a per-column corrected bias. */
#ifndef VG_Q8_GEMM_H
#define VG_Q8_GEMM_H

#include "core/pool.h"
#include "ops/ops_q8.h"

typedef struct {
    int n, k, k4;  /* columns, depth, depth in groups of 4 (padded) */
    int panels;    /* groups of 16 columns */
    int8_t *b;     /* panels x k4 x 16 x 4 bytes */
    int32_t *colsum; /* n: sum over k of B[j][k] (for the bias correction) */
} vg_q8_packed;

/* Packs B (n, k) int8; false on allocation failure. Free with vg_q8_packed_free. */
bool vg_q8_pack(int n, int k, const int8_t *b, vg_q8_packed *p);
void vg_q8_packed_free(vg_q8_packed *p);

/* Whether the fast kernel runs on this CPU (else vg_q8_gemm uses the reference). */
bool vg_q8_fast_available(void);

/* C = requant(A B^T + bias) with the packed B. A rows are read up to 3 bytes past k (they
 * multiply zero padding): the caller's buffers must allow it. */
void vg_q8_gemm(vg_pool *pool, int m, const int8_t *a, int lda, const vg_q8_packed *b,
                const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc);
/* The same with the fast kernel allowed or not (tests compare both paths). */
void vg_q8_gemm_ex(vg_pool *pool, int m, const int8_t *a, int lda, const vg_q8_packed *b,
                   const int32_t *bias, const vg_q8_out *q, int8_t *c, int ldc, bool allow_fast);

/* Depthwise int8 convolution, bit-identical to vg_dwconv_q8_ref (vectorised on AVX-512). */
void vg_q8_dwconv(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                  const int32_t *b, const vg_q8_out *q, int8_t *y);
void vg_q8_dwconv_ex(vg_pool *pool, const vg_conv_desc *d, const int8_t *x, const int8_t *w,
                     const int32_t *b, const vg_q8_out *q, int8_t *y, bool allow_fast);

#endif
