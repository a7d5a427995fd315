/* trainer.h — forward and backward passes of a graph for training. The trainer keeps the
 * activations that the backward pass needs (only for the part of the graph that learns: a
 * frozen prefix runs with buffer reuse, like inference), accumulates parameter gradients in an
 * arena parallel to the graph's parameters (same offsets), and processes a batch in chunks of
 * `chunk` images: without batch-norm in training mode, images only meet in the summed weight
 * gradients, so a batch of 32 computed as 8 chunks of 4 gives the same gradient (up to the order
 * of float sums) in an eighth of the activation memory.
 *
 * Typical step:
 *     vg_trainer_zero_grad(t);
 *     for each chunk: logits = vg_trainer_forward(t, x, n);
 *                     loss += vg_trainer_loss(t, labels, n, batch_weight, ...);  (fills dlogits)
 *                     vg_trainer_backward(t, n);
 *     vg_optim_step(...)   (src/train/optim.h) */
#ifndef VG_TRAINER_H
#define VG_TRAINER_H

#include "cpu/backend.h"
#include "model/graph.h"

typedef struct {
    int chunk;           /* images per forward/backward pass */
    int threads;
    int first_trainable; /* nodes before this index are frozen; n_nodes = nothing trains */
    int logits;          /* tensor holding the logits (the input of a final softmax) */
    bool bn_batch_stats; /* BN nodes normalise with batch statistics (training mode) */
    float bn_momentum;   /* running-statistics update, PyTorch convention (0.1) */
} vg_trainer_opts;

typedef struct vg_trainer vg_trainer;

/* Plans training of graph g (parameters updated in place by the caller's optimizer) for
 * inputs of h x w x 3 (vg_trainer_init_c: x c, e.g. a head on 1 x 1 x 1280 features). */
vg_status vg_trainer_init(vg_trainer **out, vg_graph *g, int h, int w, const vg_trainer_opts *o,
                          vg_err *err);
vg_status vg_trainer_init_c(vg_trainer **out, vg_graph *g, int h, int w, int c,
                            const vg_trainer_opts *o, vg_err *err);
void vg_trainer_free(vg_trainer *t);

/* Bytes of activation + gradient buffers (the part of training memory that grows with chunk). */
size_t vg_trainer_buffer_bytes(const vg_trainer *t);
/* The same estimate without building a trainer, for choosing a chunk under a memory budget. */
size_t vg_trainer_estimate_bytes(const vg_graph *g, int h, int w, const vg_trainer_opts *o);

void vg_trainer_zero_grad(vg_trainer *t);
/* Forward pass of n <= chunk images x (n, h, w, 3); returns the logits (n, classes). x must
 * stay valid until the matching vg_trainer_backward (the first layer's weight gradient). */
const float *vg_trainer_forward(vg_trainer *t, const float *x, int n);
int vg_trainer_classes(const vg_trainer *t);
/* Cross-entropy of the last forward's logits (vg_softmax_xent_ref semantics). The loss is a
 * weighted mean over the whole batch, so each chunk's share is scaled by its class-weight sum
 * divided by batch_weight (the sum of class weights of the batch's labels; for unweighted
 * classes, the batch size). Fills the gradient that vg_trainer_backward uses; returns the
 * chunk's contribution to the batch loss. */
float vg_trainer_loss(vg_trainer *t, const int *labels, int n, double batch_weight,
                      const float *class_w, float smoothing);
/* The same against soft targets (n, classes) with per-image weights (NULL = 1) for mixup;
 * batch_weight = the sum of the weights over the whole batch. */
float vg_trainer_loss_soft(vg_trainer *t, const float *targets, const float *sample_w, int n,
                           double batch_weight);
/* Backward pass of the last forward, accumulating parameter gradients. */
void vg_trainer_backward(vg_trainer *t, int n);
/* Gradient arena: same size and offsets as g->params. */
float *vg_trainer_grads(vg_trainer *t);
/* Tensor t of the last forward (n, h, w, c), or NULL when it was not kept. */
const float *vg_trainer_tensor(const vg_trainer *t, int tensor);

/* Per-node timing of forward and backward (seconds, accumulated while on; reset by on). */
void vg_trainer_profile(vg_trainer *t, bool on);
void vg_trainer_node_times(const vg_trainer *t, int node, double *fwd, double *bwd);

/* The parameter ranges that learn: weights and biases of nodes >= first_trainable, and BN
 * gamma / beta (never the running statistics). Weight decay on weights always; on biases and
 * BN parameters only when decay_all (PyTorch's default when all parameters are passed).
 * Returns the number of ranges written (at most 2 per node). */
#include "train/optim.h"
int vg_trainer_param_ranges(const vg_graph *g, int h, int w, int first_trainable, bool decay_all,
                            vg_param_range *out);

#endif
