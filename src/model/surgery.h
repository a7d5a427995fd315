/* surgery.h — turning a pretrained backbone into a classifier for new classes, and finding
 * the places in a MobileNet-style graph where training can start (block boundaries). */
#ifndef VG_SURGERY_H
#define VG_SURGERY_H

#include "model/model.h"

/* A new model: the backbone's graph up to and including its last global average pool (the
 * feature vector), its parameters compacted (the old classifier is dropped), then a new
 * fully-connected layer (n_classes outputs, PyTorch Linear's default initialisation: weights
 * and biases uniform in +-1/sqrt(features), keyed by seed) and a softmax. Input spec copied;
 * labels set; metadata "backbone" = the backbone's source. */
vg_status vg_model_new_classifier(const vg_model *backbone, int n_classes,
                                  const char *const *labels, uint64_t seed, vg_model **out,
                                  vg_err *err);

/* How the feature map becomes a vector: average (the backbone's own), max (a small strong
 * local response, e.g. a distant flame, is not diluted by the rest of the image), or their
 * sum. */
typedef enum { VG_POOL_AVG = 0, VG_POOL_MAX = 1, VG_POOL_AVGMAX = 2 } vg_pool_mode;
vg_status vg_model_new_classifier_pool(const vg_model *backbone, int n_classes,
                                       const char *const *labels, uint64_t seed,
                                       vg_pool_mode pool, vg_model **out, vg_err *err);

/* Index of the last global-average-pool node (the feature cut), or -1. */
int vg_graph_feature_node(const vg_graph *g);
/* The tensor with the logits: the input of a final softmax, else the output. */
int vg_graph_logits_tensor(const vg_graph *g);
/* Start nodes of the inverted-residual blocks (one per depthwise conv: the 1x1 expansion
 * feeding it, or the depthwise itself), in order; returns the count (at most max). */
int vg_graph_block_starts(const vg_graph *g, int *starts, int max);

/* Copy of g keeping nodes [0, n_nodes) and only the parameters they use, compacted. */
vg_status vg_graph_slice(const vg_graph *g, int n_nodes, vg_graph *out, vg_err *err);

#endif
