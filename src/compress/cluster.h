/* cluster.h — weight clustering (k-means weight sharing, as in Deep Compression and TF-MOT):
 * the values of one weight tensor are replaced by k shared centroids, so that the tensor is
 * stored as k floats plus one ceil(log2 k)-bit index per weight, and compresses further with a
 * general-purpose compressor. One tensor at a time: the caller loops over the layers and decides
 * which to cluster (biases and batch-norm parameters usually are not).
 *
 * Usage:
 *     float c[16];
 *     uint8_t *idx = malloc(n);                                  // one index per weight
 *     if (vg_cluster_fit(w, n, 16, VG_CLUSTER_KMEANSPP, seed, true, c, idx, &err)) ...;
 *     vg_cluster_apply(w, n, c, idx);                            // w now has <= 16 values
 *   fine-tuning, per step: vg_cluster_grad(dw, ...) before the optimizer step,
 *   vg_cluster_snap(w, ...) after it; storage: vg_bitpack / vg_bitunpack of idx.
 *
 * Pruning composes with clustering through keep_zero: exact zeros get centroid 0, pinned at
 * exactly 0.0 and reserved for them, so the sparsity pattern survives clustering and
 * fine-tuning. Not here: choosing k per layer, the file format that stores the result. */
#ifndef VG_CLUSTER_H
#define VG_CLUSTER_H

#include "core/bitpack.h"
#include "vigie.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_CLUSTER_K_MIN     2
#define VG_CLUSTER_K_MAX     VG_CODEBOOK_MAX /* indices are uint8_t */
#define VG_CLUSTER_MAX_ITERS 1000 /* Lloyd cap of vg_cluster_fit; an iteration is O(k log n) */

/* vg_cluster_init (how the centroids are initialised), its parser and its names are in
 * vigie.h. */

/* 1-D k-means of w[0..n) into k clusters (2 <= k <= 256), written to centroids[0..k) and
 * idx[0..n) (idx[i] < k, the nearest centroid of w[i]). Deterministic for a given seed (only
 * k-means++ draws). Lloyd's iterations run until no assignment changes or the cap; an empty
 * cluster is re-seeded at the weight farthest from its centroid in the cluster of largest
 * squared error. Fewer distinct values than k is fine: centroids may then repeat (or lie where
 * no weight is); at most k distinct values (k-1 non-zero with keep_zero) each get their own
 * centroid, so that apply reproduces w exactly.
 * keep_zero: centroids[0] is exactly 0.0, only exact zeros (+0 or -0) are assigned to it,
 * whether or not w has any, and the other k-1 centroids, in ascending order, are fitted to the
 * non-zero weights. Without keep_zero the k centroids are in ascending order.
 * Errors: VG_ERR_ARG for k out of range, n < 0 or a NaN/infinite weight; VG_ERR_NOMEM. Scratch
 * is allocated inside: about 20 bytes per weight at peak. */
vg_status vg_cluster_fit(const float *w, int64_t n, int k, vg_cluster_init init, uint64_t seed,
                         bool keep_zero, float *centroids, uint8_t *idx, vg_err *err);
/* The same with the Lloyd cap given (0: the initial centroids, with nearest assignment) and
 * the number of iterations run written to *iters (may be NULL). */
vg_status vg_cluster_fit_iters(const float *w, int64_t n, int k, vg_cluster_init init,
                               uint64_t seed, bool keep_zero, int max_iters, float *centroids,
                               uint8_t *idx, int *iters, vg_err *err);

/* w[i] = centroids[idx[i]] */
void vg_cluster_apply(float *w, int64_t n, const float *centroids, const uint8_t *idx);

/* Fine-tuning of a clustered tensor (the centroids are the trainable parameters; the gradient
 * of a centroid is the sum of its members' gradients). vg_cluster_grad replaces each member's
 * gradient by the mean gradient of its cluster, so that one optimizer step moves all members
 * alike and they stay equal; with keep_zero_pinned (the layout of vg_cluster_fit with
 * keep_zero), cluster 0's gradient is 0. No workspace: k <= 256 sums live on the stack. */
void vg_cluster_grad(float *grad, int64_t n, const uint8_t *idx, int k, bool keep_zero_pinned);
/* After an optimizer step that may have moved members apart (per-weight optimizer state,
 * weight decay, rounding): each non-empty cluster's centroid becomes the mean of its members'
 * values (cluster 0 stays exactly 0 with keep_zero_pinned; an empty cluster keeps its
 * centroid) and the members are set to it. Afterwards w has at most k distinct values. */
void vg_cluster_snap(float *w, int64_t n, const uint8_t *idx, int k, float *centroids,
                     bool keep_zero_pinned);

/* Weight sharing with one scale per output channel (the rows of a (co, ...) weight tensor,
 * `row` weights each): w = centroids[idx] * scale[row]. One codebook per layer cannot serve
 * channels whose weights differ in size by orders of magnitude (batch-norm folded into the
 * convolution does that); normalising each row by its largest |w| first lets the k shared
 * values fit every channel, at the cost of one float per channel.
 * vg_cluster_row_scales: scale[r] = max |w| of row r (1 for an all-zero row).
 * vg_cluster_fit_scaled: the scales, then k-means of w / scale (as vg_cluster_fit).
 * vg_cluster_snap_scaled: after an optimizer step, each centroid becomes the least-squares fit
 * of its members, sum(w s) / sum(s^2), and the members are set to centroid x scale. */
void vg_cluster_row_scales(const float *w, int64_t n, int64_t row, float *scale);
vg_status vg_cluster_fit_scaled(const float *w, int64_t n, int64_t row, int k, vg_cluster_init init,
                                uint64_t seed, bool keep_zero, float *scale, float *centroids,
                                uint8_t *idx, vg_err *err);
void vg_cluster_apply_scaled(float *w, int64_t n, int64_t row, const float *scale,
                             const float *centroids, const uint8_t *idx);
void vg_cluster_snap_scaled(float *w, int64_t n, int64_t row, const float *scale, const uint8_t *idx,
                            int k, float *centroids, bool keep_zero_pinned);

/* Number of distinct values in w (+0 and -0 are one value; each NaN counts as one); -1 when
 * the scratch copy (8 bytes per value) cannot be allocated. n must be below INT_MAX. */
int vg_cluster_distinct(const float *w, int64_t n);
/* Mean over i of (w[i] - centroids[idx[i]])^2, in double; 0 for n == 0. */
double vg_cluster_mse(const float *w, int64_t n, const float *centroids, const uint8_t *idx);

/* bit packing of the indices for storage: core/bitpack.h */

#endif
