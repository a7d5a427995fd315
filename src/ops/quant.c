/* quant.c — fixed-point helpers (see quant.h). The rounding rules are TFLite's (gemmlowp):
 * round half away from zero in the doubling high multiply, round half up (towards +inf for
 * positive halves, away for negative) in the power-of-two division. */
#include "ops/quant.h"

#include "ops/ops.h"

#include <math.h>

void vg_quantize_multiplier(double real, int32_t *mult, int *shift) {
    if (real == 0.0) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int e;
    double q = frexp(real, &e); /* real = q * 2^e, q in [0.5, 1) */
    int64_t qf = (int64_t)llround(q * (double)(1ll << 31));
    if (qf == (1ll << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    if (e > 30) { /* a multiplier of 2^30 or more only comes from a hostile file: saturate */
        e = 30;
        qf = INT32_MAX;
    }
    *mult = (int32_t)qf;
    *shift = e;
}

int32_t vg_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}

int32_t vg_rdivpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1ll << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t vg_mul_qmult(int32_t x, int32_t mult, int shift) {
    int left = shift > 0 ? (shift < 31 ? shift : 31) : 0, right = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)x * ((int64_t)1 << left);
    if (shifted > INT32_MAX) shifted = INT32_MAX; /* TFLite relies on no overflow here */
    if (shifted < INT32_MIN) shifted = INT32_MIN;
    return vg_rdivpot(vg_srdhm((int32_t)shifted, mult), right > 31 ? 31 : right);
}

int32_t vg_mul_qmult_single(int32_t x, int32_t mult, int shift) {
    int s = 31 - shift;
    s = s < 1 ? 1 : s > 62 ? 62 : s;
    int64_t v = ((int64_t)x * mult + ((int64_t)1 << (s - 1))) >> s; /* arithmetic: floor */
    return (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

int8_t vg_quantize1(float x, vg_qparam q) {
    float v = roundf(x / q.scale) + (float)q.zp;
    if (!(v > -128.0f)) return -128; /* also NaN */
    if (v > 127.0f) return 127;
    return (int8_t)v;
}

void vg_act_range_q8(int act, vg_qparam q, int32_t *lo, int32_t *hi) {
    int32_t a = -128, b = 127;
    if (act == VG_ACT_RELU || act == VG_ACT_RELU6) {
        int32_t z = q.zp;
        if (z > a) a = z;
    }
    if (act == VG_ACT_RELU6) {
        int32_t six = q.zp + (int32_t)lroundf(6.0f / q.scale);
        if (six < b) b = six;
    }
    *lo = a;
    *hi = b;
}
