/* quant.h — 8-bit integer arithmetic, following TensorFlow Lite's so that models quantized by
 * TFLite run here as they run there: real multipliers are fixed-point (a Q31 value and a
 * power-of-two shift), products are rounded the same way, and activations are int8 with a
 * per-tensor scale and zero point (real = scale * (q - zero_point)); weights are int8 with one
 * scale per output channel and zero point 0. */
#ifndef VG_QUANT_H
#define VG_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    float scale;
    int32_t zp;
} vg_qparam;

/* real ~= mult * 2^(shift - 31), mult in [2^30, 2^31) (TFLite's QuantizeMultiplier). */
void vg_quantize_multiplier(double real, int32_t *mult, int *shift);
int32_t vg_srdhm(int32_t a, int32_t b); /* SaturatingRoundingDoublingHighMul */
int32_t vg_rdivpot(int32_t x, int exponent); /* RoundingDivideByPOT, exponent in 0..31 */
/* x * real, with real given by vg_quantize_multiplier (MultiplyByQuantizedMultiplier) */
int32_t vg_mul_qmult(int32_t x, int32_t mult, int shift);

/* How the convolutions of an int8 graph turn int32 accumulators into int8 outputs. TFLite's
 * rule rounds twice (the doubling high multiply, then the power-of-two division) and must be
 * kept for imported TFLite models; vigie's own quantizer may pick the single rounding, which
 * is as accurate and cheaper in vector code (no sign-dependent correction). */
typedef enum {
    VG_Q8_ROUND_TFLITE = 0, /* vg_mul_qmult */
    VG_Q8_ROUND_SINGLE = 1, /* vg_mul_qmult_single */
    VG_Q8_ROUND_COUNT_
} vg_q8_rounding;

/* x * real with one rounding: (x * mult + 2^(s-1)) >> s with s = 31 - shift clamped to
 * [1, 62], computed in 64 bits (exact), rounding halves up, saturated to int32. */
int32_t vg_mul_qmult_single(int32_t x, int32_t mult, int shift);

/* float <-> int8 with rounding to nearest and saturation */
int8_t vg_quantize1(float x, vg_qparam q);
static inline float vg_dequantize1(int8_t q, vg_qparam p) { return p.scale * (float)(q - p.zp); }

/* The int8 range of a fused activation (none / ReLU / ReLU6) at output parameters q. */
void vg_act_range_q8(int act, vg_qparam q, int32_t *lo, int32_t *hi);

#endif
