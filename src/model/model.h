/* model.h — the vg_model object behind the public API: a graph, how to feed it (input spec),
 * what its outputs mean (labels) and free-form metadata (key = value strings: where it came
 * from, training settings, alarm threshold...). */
#ifndef VG_MODEL_H
#define VG_MODEL_H

#include "model/graph.h"

#include "ops/quant.h"

#define VG_MAX_LABEL_LEN 256

/* The int8 form of a graph (optional): activation quantization per tensor, int8 weights with
 * one scale per output channel, int32 biases, indexed per node. The float parameters stay
 * (dequantized) so the same model can also run in float or be trained. */
typedef struct {
    vg_qparam *t;                 /* per tensor */
    int64_t *w_off, *b_off, *s_off; /* per node: into w8, b32, ws; -1 when none */
    int8_t *w8;
    int32_t *b32;
    float *ws;
    int64_t n_w8, n_b32, n_ws;
    int rounding; /* vg_q8_rounding of the weighted layers: 0 = TFLite's (imported models) */
} vg_qgraph;

void vg_qgraph_free(vg_qgraph *q);
/* A copy of q for the graph's first n_nodes nodes (vg_graph_slice keeps node and tensor
 * numbering; the integer weights are copied whole). NULL when out of memory. */
vg_qgraph *vg_qgraph_slice(const vg_qgraph *q, int n_nodes);
/* Where the bytes of an engine file (.vge) go (see vge.c). */
typedef struct {
    int64_t f32, i8, cluster; /* weight tensors by encoding (sparse bitmaps included) */
    int64_t other;            /* biases and other float parameters */
    int64_t int8_tables;      /* activation quantization, int32 biases, weight scales */
    int64_t total;            /* the whole file */
    int f32_layers, i8_layers, cluster_layers, sparse_layers;
    int huff_layers; /* clustered layers whose indices are Huffman-coded */
} vg_engine_sizes;

/* A layer whose weights share k values, scaled per output channel (vigie optimize --clusters):
 * w[i] = centroids[idx[i]] x scale[i / row]. Known to the engine writer, which then stores the
 * codebook, the scales and bit-packed indices instead of the weights. */
typedef struct {
    int node, k;
    int64_t n, row;
    float centroids[256];
    float *scale; /* n / row, owned */
    uint8_t *idx; /* n, owned */
} vg_shared_layer;

/* Drops node's weight-sharing record (its weights changed: the engine writer must not use the
 * old codebook). */
void vg_model_unshare(struct vg_model *m, int node);
#define VG_MAX_META 256

typedef struct {
    char *key, *value;
} vg_meta;

struct vg_model {
    vg_graph g;
    vg_input_spec input;
    char **labels; /* n_labels strings, or NULL */
    int n_labels;
    vg_meta *meta;
    int n_meta;
    int64_t file_bytes;
    char fallback_label[32];
    vg_qgraph *q; /* int8 form, or NULL */
    vg_shared_layer *shared; /* weight-sharing layers (owned), or NULL */
    int n_shared;
    bool engine;  /* loaded from an engine file (.vge); `eng` says where its bytes went */
    vg_engine_sizes eng;
};

/* A new empty model (graph with only the input tensor). NULL on allocation failure. */
vg_model *vg_model_new(void);

/* Number of outputs: channels of the output tensor at the model's input size (0 if the graph
 * is invalid). */
int vg_model_n_outputs(const vg_model *m);

/* Replaces the labels with a copy of `labels` (n strings). */
vg_status vg_model_set_labels(vg_model *m, const char *const *labels, int n, vg_err *err);

/* Labels from text, one per line (`name` is for messages); the count must match the outputs. */
vg_status vg_model_set_labels_text(vg_model *m, const uint8_t *data, size_t size,
                                   const char *name, vg_err *err);

/* Index of the first class labelled `name` (vg_model_label), or -1. */
int vg_model_find_label(const vg_model *m, const char *name);

/* Metadata: set (copy) / get (NULL when absent). */
vg_status vg_model_set_meta(vg_model *m, const char *key, const char *value, vg_err *err);
const char *vg_model_get_meta(const vg_model *m, const char *key);

/* Full validation: graph against the input spec, labels against the outputs. */
vg_status vg_model_validate(const vg_model *m, vg_err *err);

/* Extra chunks carried by a .vgm (training checkpoints: optimizer state, progress). Readers
 * that do not know a tag skip it, so a checkpoint is also a loadable model. */
typedef struct {
    char tag[4];
    const void *data;
    size_t size;
} vg_chunk;

vg_status vg_model_save_ex(const vg_model *m, const vg_chunk *extra, int n_extra,
                           const char *path, vg_err *err);
/* Loads a model and hands every chunk that is not part of the model format to `cb` (data
 * valid during the call only); cb returns VG_OK or an error that aborts the load. */
typedef vg_status (*vg_chunk_cb)(void *ud, const char tag[4], const uint8_t *data, size_t size,
                                 vg_err *err);
vg_status vg_model_load_ex(const char *path, vg_chunk_cb cb, void *ud, vg_model **out,
                           vg_err *err);

/* .vgm serialisation to / from memory (vg_model_save / vg_model_load wrap these). */
vg_status vg_model_serialize(const vg_model *m, vg_wr *w, vg_err *err);
vg_status vg_model_parse(const uint8_t *data, size_t size, const char *name, vg_model **out,
                         vg_err *err);

/* Engine files (.vge): the model with its weights in compact lossless encodings (codebooks
 * for clustered layers, bitmaps for sparse ones, int8 bytes when the model has an int8 form).
 * Loaded by vg_model_load / vg_model_open like a .vgm. `sz` may be NULL. */
vg_status vg_engine_serialize(const vg_model *m, vg_wr *w, vg_engine_sizes *sz, vg_err *err);
vg_status vg_engine_save(const vg_model *m, const char *path, vg_engine_sizes *sz, vg_err *err);
/* ... with extra chunks, as vg_model_save_ex (an engine's rehearsal set) */
vg_status vg_engine_save_ex(const vg_model *m, const vg_chunk *extra, int n_extra, const char *path,
                            vg_engine_sizes *sz, vg_err *err);
/* internal to the file code (vge.c) */
vg_status vg_engine_write_weights(const vg_model *m, vg_wr *w, vg_engine_sizes *sz, vg_err *err);
vg_status vg_engine_read_weights(vg_model *m, vg_rd *r, vg_err *err);
vg_status vg_engine_rebuild_w8(vg_model *m, vg_err *err);

/* Output channel of element i of a weight tensor of n values and co output channels (depthwise
 * weights are (kh, kw, c), the others (co, ...)). */
static inline int vg_weight_channel(const vg_node *nd, int64_t i, int64_t n, int co) {
    if (nd->op == VG_OP_DWCONV) return (int)(i % co);
    return (int)(i / (n / co));
}
/* The int8 weights of a node from float weights and per-channel scales: q = round(w / s),
 * clamped to [-127, 127]. The quantizer (compress/calib.c) and the engine loader (vge.c, which
 * rebuilds them from stored scales) share it, so a loaded engine has the saved integers. */
void vg_quantize_weights(const vg_node *nd, const float *w, int64_t n, int co, const float *scale,
                         int8_t *q);
/* Requantizes one fully-connected node of an int8 model after its float weights changed (vigie
 * adapt on an engine): per-channel weight scales from the new weights, int32 biases (no bias
 * correction), and its output tensor's range widened to cover [lo, hi] (the new outputs seen).
 * The float parameters are then set to what the integers mean (dequantized), so that the
 * float view, the engine writer and the int8 kernels agree; a weight-sharing record of the
 * node is dropped. */
vg_status vg_model_requantize_fc(vg_model *m, int node, float lo, float hi, vg_err *err);

#endif
