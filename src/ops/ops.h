/* ops.h — the scalar reference kernels, forward pass. They are the specification: plain loops
 * in the most obvious order, float accumulation, no tricks. Faster kernels (src/cpu/) are
 * tested against them. All activations are NHWC: (n, h, w, c), c fastest.
 *
 * Weight layouts:
 *   conv2d     w (co, kh, kw, ci)      TFLite's OHWI; PyTorch OIHW must be transposed
 *   depthwise  w (kh, kw, c)           one 2-D filter per channel, channel fastest
 *   pointwise  w (co, ci)              a 1x1 conv is a matrix multiply over pixels
 *   fc         w (co, ci)
 */
#ifndef VG_OPS_H
#define VG_OPS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Activations fused into a layer's output. Hard-swish and hard-sigmoid are PyTorch's (and
 * MobileNetV3's): x relu6(x + 3) / 6 and relu6(x + 3) / 6, in that order of operations. The
 * fast kernels apply ReLU / ReLU6 in their epilogue (vg_act_simple); the others run as a
 * pass over the layer's output (vg_act_ref). */
typedef enum {
    VG_ACT_NONE = 0,
    VG_ACT_RELU = 1,
    VG_ACT_RELU6 = 2,
    VG_ACT_HSWISH = 3,
    VG_ACT_HSIGMOID = 4,
    VG_ACT_SIGMOID = 5,
    VG_ACT_COUNT_
} vg_act;

/* Geometry of one convolution (regular or depthwise). Padding: pt/pl rows/columns of zeros
 * before the input; the bottom/right padding is whatever makes ho/wo fit, which expresses
 * both TF "SAME" (asymmetric: 0 before, 1 after on 224 -> 112) and symmetric padding. */
typedef struct {
    int n, h, w, ci; /* input (n, h, w, ci) */
    int co;          /* output channels (== ci for depthwise) */
    int kh, kw;      /* kernel */
    int sh, sw;      /* strides */
    int pt, pl;      /* top / left padding */
    int ho, wo;      /* output (n, ho, wo, co) */
} vg_conv_desc;

static inline float vg_relu6_1(float v) {
    return v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
}

static inline float vg_act_apply1(vg_act a, float v) {
    switch (a) {
    case VG_ACT_NONE: return v;
    case VG_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case VG_ACT_RELU6: return vg_relu6_1(v);
    case VG_ACT_HSWISH: return v * vg_relu6_1(v + 3.0f) / 6.0f;
    case VG_ACT_HSIGMOID: return vg_relu6_1(v + 3.0f) / 6.0f;
    case VG_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case VG_ACT_COUNT_: break;
    }
    return v;
}

/* the activations the fast kernels fuse into their epilogue */
static inline bool vg_act_simple(vg_act a) {
    return a <= VG_ACT_RELU6;
}

/* the activation's name as PyTorch / ONNX spell it ("" for none) */
const char *vg_act_name(vg_act a);

/* y = act(conv(x, w) + b). x (n,h,w,ci), w (co,kh,kw,ci), b (co) or NULL, y (n,ho,wo,co) */
void vg_conv2d_ref(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y);

/* y = act(dwconv(x, w) + b). x (n,h,w,c), w (kh,kw,c), b (c) or NULL, y (n,ho,wo,c) */
void vg_dwconv_ref(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y);

/* c = act(a b^T + bias). a (m,k), b (n,k), bias (n) or NULL, c (m,n).
 * A pointwise conv is this with a = pixels (n*h*w, ci) and b = weights (co, ci); a
 * fully-connected layer is this with m = batch. */
void vg_matmul_ref(int m, int n, int k, const float *a, const float *b, const float *bias,
                   vg_act act, float *c);

/* General matrix multiply with BLAS semantics, row-major:
 *   C = op(A) op(B) (+ C when accumulate)
 * op(A) is (m, k): A stored (m, k) with row stride lda, or (k, m) when ta.
 * op(B) is (k, n): B stored (k, n) with row stride ldb, or (n, k) when tb.
 * Without accumulate, C's previous contents are ignored. The forward pointwise conv is
 * (ta=0, tb=1); the training gradients are dX = dY W (0, 0) and dW = dY^T X (1, 0). */
void vg_gemm_ref(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b,
                 int ldb, bool accumulate, float *c, int ldc);

/* Inference batch-norm: y = act(gamma * (x - mean) / sqrt(var + eps) + beta), per channel.
 * x, y (p, c) where p = n*h*w; may be the same buffer. */
void vg_batchnorm_ref(size_t p, int c, const float *x, const float *gamma, const float *beta,
                      const float *mean, const float *var, float eps, vg_act act, float *y);

void vg_relu_ref(size_t n, const float *x, float *y);
void vg_relu6_ref(size_t n, const float *x, float *y);

/* y = act(a + b), elementwise; y may alias a or b */
void vg_add_ref(size_t n, const float *a, const float *b, vg_act act, float *y);

/* y = act(y), in place, over n values */
void vg_act_ref(vg_act act, size_t n, float *y);

/* y = act(a * b), elementwise over n images of hw pixels of c channels: a (n, hw, c); b the
 * same shape, or (n, 1, c) when per_channel (squeeze-excitation's channel weights, broadcast
 * over the pixels). y may alias a. */
void vg_mul_ref(int n, int hw, int c, const float *a, const float *b, bool per_channel, vg_act act,
                float *y);

/* Global average pool: x (n, hw, c) -> y (n, c) */
void vg_gap_ref(int n, int hw, int c, const float *x, float *y);

/* Global max pool: x (n, hw, c) -> y (n, c); the backward sends each channel's gradient to
 * the first position holding its maximum (dx overwritten). */
void vg_gmax_ref(int n, int hw, int c, const float *x, float *y);
void vg_gmax_bwd_ref(int n, int hw, int c, const float *x, const float *dy, float *dx);

/* Fully connected: x (n, ci), w (co, ci), b (co) or NULL -> y (n, co) */
void vg_fc_ref(int n, int ci, int co, const float *x, const float *w, const float *b, vg_act act,
               float *y);

/* Row-wise softmax: x (n, c) -> y (n, c), max-subtracted; y may alias x */
void vg_softmax_ref(int n, int c, const float *x, float *y);

/* ---- backward passes (training). Conventions: `d` prefixes gradients; the incoming gradient
 * dy is with respect to the layer's output *before* its activation (vg_act_bwd_ref turns a
 * post-activation gradient into that); dx is overwritten; weight and bias gradients are
 * accumulated (+=), so a batch can be processed in chunks; any output pointer may be NULL
 * when that gradient is not needed (frozen weights, first layer). */

/* dy *= act'(.) computed from the activation's output y: ReLU passes where y > 0, ReLU6
 * where 0 < y < 6 (the same as 0 < x < 6 on the input), hard-sigmoid 1/6 where 0 < y < 1,
 * sigmoid y (1 - y). Hard-swish is not invertible from its output: vg_hswish_bwd_ref takes
 * its input. */
void vg_act_bwd_ref(vg_act act, size_t n, const float *y, float *dy);
/* dy *= hard-swish'(x) from its input x: 0 below -3, 1 above 3, (2x + 3) / 6 between */
void vg_hswish_bwd_ref(size_t n, const float *x, float *dy);
/* The product's backward (vg_mul_ref without activation): da = dy * b, and db = dy * a, summed
 * over the pixels when b is per channel (n, 1, c). Either output may be NULL. */
void vg_mul_bwd_ref(int n, int hw, int c, const float *a, const float *b, bool per_channel,
                    const float *dy, float *da, float *db);

void vg_conv2d_bwd_ref(const vg_conv_desc *d, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db);
void vg_dwconv_bwd_ref(const vg_conv_desc *d, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db);
/* c = a b^T + bias: da (m,k) = dc b; db (n,k) += dc^T a; dbias (n) += column sums of dc */
void vg_matmul_bwd_ref(int m, int n, int k, const float *a, const float *b, const float *dc,
                       float *da, float *db, float *dbias);
/* dx (n, hw, c) = dy (n, c) / hw */
void vg_gap_bwd_ref(int n, int hw, int c, const float *dy, float *dx);

/* Training-mode batch-norm over p = n*h*w positions: batch mean and biased variance;
 * y = gamma * (x - mean) * invstd + beta (no activation); saves mean and invstd (c) for the
 * backward, and updates the running statistics the PyTorch way (momentum, unbiased variance)
 * when running_mean / running_var are not NULL. y may alias x. */
void vg_batchnorm_train_ref(size_t p, int c, const float *x, const float *gamma,
                            const float *beta, float eps, float momentum, float *running_mean,
                            float *running_var, float *y, float *mean, float *invstd);
/* Backward of the above given x (the input), saved mean / invstd: dx overwritten (may alias
 * dy), dgamma and dbeta accumulated. */
void vg_batchnorm_train_bwd_ref(size_t p, int c, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy,
                                float *dx, float *dgamma, float *dbeta);

/* Softmax cross-entropy over n rows of c logits with PyTorch's semantics
 * (F.cross_entropy(logits, labels, weight=class_w, label_smoothing=smoothing), mean
 * reduction): row i's target puts (1 - smoothing) on labels[i] and smoothing / c on every
 * class, each class c weighted by class_w[c] (NULL = 1), and the sum is divided by the sum of
 * class_w[labels[i]]. Returns the loss; dlogits (n, c), if not NULL, gets its gradient. */
float vg_softmax_xent_ref(int n, int c, const float *logits, const int *labels,
                          const float *class_w, float smoothing, float *dlogits);

/* Cross-entropy against soft targets (mixup): targets (n, c) rows summing to 1, optional
 * per-row weights sample_w (n) (NULL = 1): loss = sum_i w_i sum_j -t_ij log p_ij / sum_i w_i.
 * dlogits (n, c), if not NULL, gets its gradient. */
float vg_softmax_xent_soft_ref(int n, int c, const float *logits, const float *targets,
                               const float *sample_w, float *dlogits);

/* Output size of a convolution with TF "SAME" padding, and the top/left padding it implies. */
void vg_same_padding(int in, int k, int s, int *out, int *pad_before, int *pad_after);

#endif
