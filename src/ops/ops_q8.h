/* ops_q8.h — the scalar reference int8 kernels (the specification of the integer path), with
 * TFLite's integer semantics: activations int8 with a per-tensor zero point, weights int8
 * symmetric per output channel, int32 accumulation and bias, requantization by fixed-point
 * multipliers (ops/quant.h), clamping to the fused activation's range. Layouts as the
 * float kernels (ops.h). Out-of-image taps contribute nothing, i.e. padding holds the input's
 * zero point. */
#ifndef VG_OPS_Q8_H
#define VG_OPS_Q8_H

#include "ops/quant.h"
#include "ops/ops.h"

/* how accumulators become int8 outputs, per output channel */
typedef struct {
    int32_t in_zp;         /* subtracted from every input value */
    int32_t out_zp;        /* added after requantization */
    int32_t act_min, act_max;
    const int32_t *mult;   /* per output channel */
    const int32_t *shift;  /* per output channel */
    int rounding;          /* vg_q8_rounding: how mult and shift apply (0 = TFLite's) */
} vg_q8_out;

/* requant(acc) of output channel c: the multiply of q->rounding, plus out_zp (in 64 bits: a
 * product near the int32 limits must clamp, not wrap), clamped to the activation's range */
static inline int8_t vg_q8_requant1(int32_t acc, const vg_q8_out *q, int c) {
    int64_t v = q->rounding == VG_Q8_ROUND_SINGLE ? vg_mul_qmult_single(acc, q->mult[c], q->shift[c])
                                                  : vg_mul_qmult(acc, q->mult[c], q->shift[c]);
    v += q->out_zp;
    return (int8_t)(v < q->act_min ? q->act_min : v > q->act_max ? q->act_max : v);
}

/* y = requant(sum (x - in_zp) * w + b) */
void vg_conv2d_q8_ref(const vg_conv_desc *d, const int8_t *x, const int8_t *w, const int32_t *b,
                      const vg_q8_out *q, int8_t *y);
void vg_dwconv_q8_ref(const vg_conv_desc *d, const int8_t *x, const int8_t *w, const int32_t *b,
                      const vg_q8_out *q, int8_t *y);
/* c (m, n) = requant(a (m, k) b (n, k)^T + bias): pointwise conv and fully connected */
void vg_matmul_q8_ref(int m, int n, int k, const int8_t *a, const int8_t *b, const int32_t *bias,
                      const vg_q8_out *q, int8_t *c);

/* elementwise add of two int8 tensors with different scales (TFLite's 20-bit left shift) */
typedef struct {
    int32_t zp1, zp2, zp_out, act_min, act_max;
    int32_t m1, m2, mo;
    int s1, s2, so;
} vg_add_q8;
void vg_add_q8_prepare(vg_qparam a, vg_qparam b, vg_qparam out, int act, vg_add_q8 *p);
void vg_add_q8_ref(size_t n, const int8_t *a, const int8_t *b, const vg_add_q8 *p, int8_t *y);

/* global average pool (TFLite's quantized MEAN: integer sum, float rescale) */
void vg_gap_q8_ref(int n, int hw, int c, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y);
/* change of scale / zero point */
void vg_requant_q8_ref(size_t n, const int8_t *x, vg_qparam in, vg_qparam out, int8_t *y);

#endif
