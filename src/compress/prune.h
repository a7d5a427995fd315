/* prune.h — making a trained model smaller by removing weights.
 *
 * Two kinds:
 *   - unstructured magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune"): during
 *     fine-tuning, the smallest-magnitude weights of each layer are set to zero following a
 *     cubic sparsity schedule, and kept at zero (mask applied to the weights and gradients).
 *     The graph keeps its shape: this makes the model compress well and prepares it for
 *     sparse kernels, it does not make the dense kernels faster.
 *   - structured channel pruning: the expanded channels of MobileNetV2's inverted residual
 *     blocks with the least weight behind them are removed, giving a smaller dense graph that
 *     runs faster with every kernel. The result has lost accuracy and needs fine-tuning.
 *
 * Typical fine-tuning loop (unstructured):
 *     vg_prune_targets(g, h, w, c, layers, g->n_nodes, &n, err);   // once
 *     every k steps: s = vg_prune_schedule(step, begin, end, 0, 0.8f);
 *                    vg_prune_mask(g, layers, n, s, mask, err); vg_prune_apply(g->params, ...)
 *     every step:    vg_prune_zero_grad(grads, mask, n_params) before the optimizer step and
 *                    vg_prune_apply(params, mask, n_params) after it: momentum (SGD) and the
 *                    moment estimates (AdamW) would otherwise move pruned weights off zero.
 * Pruned weights are already the smallest (zero), so as the schedule rises the pruned set only
 * grows.
 *
 * Not here: pruning of biases or batch-norm parameters (few, and they matter), sparse storage
 * or kernels, and re-quantization (a channel-pruned model must be calibrated again). */
#ifndef VG_PRUNE_H
#define VG_PRUNE_H

#include "model/model.h"

/* One prunable weight tensor: the weights (not the bias) of a CONV, DWCONV or FC node. */
typedef struct {
    int node;      /* index of the node in the graph */
    int op;        /* VG_OP_CONV, VG_OP_DWCONV or VG_OP_FC */
    int64_t off;   /* offset of the weights in g->params */
    int64_t count; /* number of weights */
    int stem;      /* 1 for a CONV that reads the network input (the first convolution) */
    /* Whether vg_prune_mask prunes this layer; the caller may change it. Default: 1, except
     * for the stem and depthwise layers. Both hold ~2-3% of MobileNetV2's weights, so pruning
     * them saves almost nothing, while each of their filters has only 9 (depthwise) or 27
     * (stem) weights, and losing some costs accuracy (Zhu & Gupta leave them dense too). */
    int enabled;
} vg_prune_layer;

/* Lists the prunable weight tensors of g (input size h x w x c; the FC weight count depends on
 * it), in node order. Writes at most `max` entries into `out` (may be NULL when max is 0) and
 * sets *n to the total, which is at most g->n_nodes. Fails (VG_ERR_FORMAT) when the graph does
 * not infer at that size. */
vg_status vg_prune_targets(const vg_graph *g, int h, int w, int c, vg_prune_layer *out, int max,
                           int *n, vg_err *err);

/* Cubic sparsity schedule of Zhu & Gupta:
 *     s(t) = s_final + (s_init - s_final) * (1 - (t - begin) / (end - begin))^3
 * for begin <= t <= end; s_init before begin, s_final after end (and from begin on when
 * end <= begin). Prunes fast while there are many redundant weights, slowly near the end. */
float vg_prune_schedule(int step, int begin, int end, float s_init, float s_final);

/* Number of weights that sparsity s in [0, 1) removes from a layer of `count`: the nearest
 * integer to s * count, halves rounded up, i.e. floor(s * count + 0.5) (computed in double). */
int64_t vg_prune_zero_count(int64_t count, float sparsity);

/* Keep-mask for magnitude pruning at `sparsity` in [0, 1): mask has g->n_params bytes; 1 = keep,
 * 0 = prune. In every enabled layer exactly vg_prune_zero_count(count, sparsity) weights get 0:
 * those with the smallest |w|, ties broken by position (the earlier is pruned first); -0 and +0
 * are equal, NaN counts as larger than any number. Everything else (biases, BN parameters,
 * disabled layers) gets 1. Cost: one sort of each layer's magnitudes, O(n log n).
 * Errors: VG_ERR_ARG (sparsity outside [0, 1) or NaN, a layer outside the arena),
 * VG_ERR_NOMEM. */
vg_status vg_prune_mask(const vg_graph *g, const vg_prune_layer *layers, int n_layers,
                        float sparsity, uint8_t *mask, vg_err *err);

/* params[i] = +0 where mask[i] == 0 (n elements). Assignment rather than multiplication, so a
 * NaN or -0 weight is also cleared. */
void vg_prune_apply(float *params, const uint8_t *mask, int64_t n);
/* grad[i] = 0 where mask[i] == 0: pruned weights get no update from the gradient. */
void vg_prune_zero_grad(float *grad, const uint8_t *mask, int64_t n);

/* Sparsity of one layer, measured on the weights (zeros = weights equal to 0, whatever made
 * them so). */
typedef struct {
    int node, op;
    int enabled;
    int64_t count, zeros;
    float sparsity; /* zeros / count */
} vg_prune_stat;

/* Fills stats[n_layers] (may be NULL) and returns the overall sparsity of the n layers
 * (total zeros / total weights; 0 when there are none). */
double vg_prune_report(const vg_graph *g, const vg_prune_layer *layers, int n_layers,
                       vg_prune_stat *stats);

/* ---- structured channel pruning */

/* One inverted residual block seen by vg_prune_channels. */
typedef struct {
    int expand, dw, project; /* node indices */
    int channels_before, channels_after;
} vg_prune_block;

/* Expanded channels kept out of `channels` at `fraction` in [0, 1): channels minus the nearest
 * integer to fraction * channels, rounded up to a multiple of 8 (the SIMD kernels' lane width,
 * so no tail loop is added; rounding up never removes more than asked), and at least 8; never
 * more than `channels`, and all of them when channels < 8. */
int vg_prune_channels_keep(int channels, float fraction);

/* A new model with fewer expanded channels in every inverted residual block that has an
 * expansion: a 1x1 CONV (the expansion) whose output only feeds a DWCONV, whose output only
 * feeds a CONV (the projection); neither intermediate tensor is the graph output. The
 * expansion loses output channels (weight rows and biases), the depthwise the same channels
 * (weights and biases), the projection the same input channels. The block's output keeps its
 * shape, so a residual ADD after it and every other node are copied unchanged. Blocks with a
 * batch norm between these nodes are left alone: fold batch norms first.
 *
 * Channels kept per block: vg_prune_channels_keep(expanded, fraction). Removed first: the
 * channels with the smallest importance
 *     ||expand row c, expand bias c||_2 * ||dw filter c, dw bias c||_2 * ||project column c||_2
 * (the L2 norm of each stage's weights along the channel's path through the block: a channel
 * any stage nearly silences contributes little; the expansion's norm alone would ignore that
 * BN folding can move scale from one stage to the next). Ties: the lower index is removed
 * first; kept channels keep their order.
 *
 * Parameters are compacted into a new arena in node order; input spec, labels and metadata
 * are copied; the int8 form is dropped (q = NULL: quantize again). The result is validated.
 * blocks (may be NULL) receives up to max_blocks entries, one per block matched (in node
 * order), and *n_blocks (may be NULL) the number matched. fraction 0 gives the same graph.
 * Errors: VG_ERR_ARG (fraction outside [0, 1) or NaN), the model's own validation error,
 * VG_ERR_NOMEM. Free *out with vg_model_free. */
vg_status vg_prune_channels(const vg_model *m, float fraction, vg_model **out,
                            vg_prune_block *blocks, int max_blocks, int *n_blocks, vg_err *err);

/* The same, with the mean of every channel of every tensor (means[t], or NULL when unknown;
 * from calibration images, compress/calib.h): each removed channel's mean output, through the
 * projection, is added to the projection's bias. */
vg_status vg_prune_channels_mean(const vg_model *m, float fraction, const double *const *means,
                                 vg_model **out, vg_prune_block *blocks, int max_blocks,
                                 int *n_blocks, vg_err *err);

/* ... and with the mean squares too (msqs[t], same layout): channels are then ranked by
 * |projection column|^2 x variance, the expected squared change of the block's output when the
 * channel is replaced by its mean, instead of by weight norms; and since those scores compare
 * across blocks, `fraction` of all expansion channels is removed where it costs least over the
 * whole network (each block keeping at least a quarter of its channels and 8, rounded up to a
 * multiple of 8) instead of the same share in every block. */
vg_status vg_prune_channels_stats(const vg_model *m, float fraction, const double *const *means,
                                  const double *const *msqs, vg_model **out,
                                  vg_prune_block *blocks, int max_blocks, int *n_blocks,
                                  vg_err *err);

#endif
