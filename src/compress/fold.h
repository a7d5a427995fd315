/* fold.h — batch-norm folding: an inference-mode BN after a convolution, depthwise
 * convolution or fully-connected layer is an affine map per output channel, so it can be
 * merged into that layer's weights and bias and disappear from the graph:
 *   s = gamma / sqrt(var + eps),  w' = w * s (per output channel),  b' = (b - mean) * s + beta
 * (b = 0 when the layer had no bias; it gets one). The BN's activation moves to the layer.
 *
 * A BN is folded only when its input comes straight from a CONV / DWCONV / FC that has no
 * activation of its own and whose output nothing else reads (not another node, not the graph
 * output): otherwise the un-normalised tensor is still needed. Other BNs (after the input,
 * after an ADD, after a pool...) stay as they are.
 *
 * Training graphs need their BNs (batch statistics): fold a copy for deployment. */
#ifndef VG_FOLD_H
#define VG_FOLD_H

#include "model/model.h"

/* Writes into `out` (caller-owned, overwritten; free with vg_graph_free) a copy of g with every
 * foldable BN folded. Tensors are renumbered in the new execution order (tensor 0 stays the
 * input; a folded BN's output becomes its producer's output; `output` follows) and the
 * parameter arena is compacted: it holds exactly the parameters of the remaining nodes.
 * h x w x c is the input size, which the weight counts of g depend on (FC) and which is used
 * to validate g first (vg_graph_infer: errors are reported as from there). *n_folded (may be
 * NULL) receives the number of BNs folded. On error `out` is left empty. Folded weights are
 * computed in double and rounded once. */
vg_status vg_graph_fold_bn(const vg_graph *g, int h, int w, int c, vg_graph *out, int *n_folded,
                           vg_err *err);

/* Folds m's graph in place (at m's input size). When at least one BN was folded, m's int8
 * form (m->q), which is indexed by node and tensor, is dropped: re-quantize the folded model.
 * Nothing changes when no BN folds. *n_folded may be NULL. On error m is unchanged. */
vg_status vg_model_fold(vg_model *m, int *n_folded, vg_err *err);

#endif
