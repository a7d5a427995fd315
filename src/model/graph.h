/* graph.h — vigie's network description: a list of nodes in execution order over numbered
 * activation tensors, and one float arena holding every parameter. Tensor 0 is the network
 * input; each node produces exactly one new tensor. Shapes are not stored: they follow from
 * the input size by vg_graph_infer(), so a model can run at another resolution.
 *
 * The graph owns its parameters (one allocation, llm.c style), which keeps save/load a single
 * copy and lets training keep a parallel gradient arena with the same offsets. */
#ifndef VG_GRAPH_H
#define VG_GRAPH_H

#include "core/core.h"
#include "ops/ops.h"

typedef enum {
    VG_OP_CONV = 1,    /* w (co,kh,kw,ci), b (co) optional */
    VG_OP_DWCONV = 2,  /* w (kh,kw,c), b (c) optional */
    VG_OP_BN = 3,      /* p = [gamma, beta, mean, var] each (c) */
    VG_OP_ADD = 4,     /* in[0] + in[1], same shape */
    VG_OP_GAP = 5,     /* (h,w,c) -> (1,1,c) */
    VG_OP_FC = 6,      /* input flattened to (h*w*c); w (co, h*w*c), b (co) optional */
    VG_OP_SOFTMAX = 7, /* over channels of a (1,1,c) tensor */
    VG_OP_GMAX = 8,    /* global max pool: (h,w,c) -> (1,1,c) */
    VG_OP_MUL = 9,     /* in[0] * in[1]: same shape, or in[1] (1,1,c) per channel (squeeze-exc.) */
    VG_OP_COUNT_
} vg_op;

typedef enum {
    VG_PAD_EXPLICIT = 0, /* pad[] as given: top, left, bottom, right */
    VG_PAD_SAME = 1,     /* TensorFlow SAME, computed from the input size */
} vg_pad_mode;

typedef struct {
    uint8_t op;       /* vg_op */
    uint8_t act;      /* vg_act applied to the output */
    uint8_t pad_mode; /* vg_pad_mode (CONV, DWCONV) */
    int32_t in[2];    /* input tensors; in[1] only for ADD and MUL, else -1 */
    int32_t out;      /* output tensor */
    int32_t kh, kw, sh, sw;
    int32_t pad[4]; /* top, left, bottom, right, for VG_PAD_EXPLICIT */
    int32_t co;     /* output channels of CONV and FC */
    int64_t w;      /* offset of the weights in the arena, or -1 */
    int64_t b;      /* offset of the bias (BN: of gamma,beta,mean,var), or -1 */
    float eps;      /* BN epsilon */
} vg_node;

typedef struct {
    int h, w, c;
} vg_shape;

typedef struct {
    vg_node *nodes;
    int n_nodes, cap_nodes;
    int n_tensors; /* tensor 0 = input */
    int output;    /* tensor holding the network output */
    float *params;
    int64_t n_params, cap_params;
} vg_graph;

/* Limits that keep a hostile file from asking for absurd work or memory. */
#define VG_MAX_NODES 4096
#define VG_MAX_CHANNELS 65536
#define VG_MAX_KERNEL 32
#define VG_MAX_STRIDE 16
#define VG_MAX_SPATIAL 8192
#define VG_MAX_PARAMS ((int64_t)1 << 31)
#define VG_MAX_TENSOR ((int64_t)1 << 27) /* elements of one activation, per image */

void vg_graph_init(vg_graph *g);
void vg_graph_free(vg_graph *g);
/* Deep copy; returns false on allocation failure (dst left empty). */
bool vg_graph_copy(vg_graph *dst, const vg_graph *src);

/* Builder. Each returns the new output tensor id, or -1 on allocation failure. Parameter
 * space is reserved (zeroed) and its offsets stored in the node; fill it through
 * vg_graph_param(). `ci` is needed because shapes are not stored. */
int vg_graph_conv(vg_graph *g, int in, int ci, int co, int kh, int kw, int stride,
                  vg_pad_mode pad_mode, const int pad[4], bool bias, vg_act act);
int vg_graph_dwconv(vg_graph *g, int in, int c, int kh, int kw, int stride, vg_pad_mode pad_mode,
                    const int pad[4], bool bias, vg_act act);
int vg_graph_bn(vg_graph *g, int in, int c, float eps, vg_act act);
int vg_graph_add(vg_graph *g, int a, int b, vg_act act);
/* a * b: b the same shape as a, or (1, 1, c) (one weight per channel) */
int vg_graph_mul(vg_graph *g, int a, int b, vg_act act);
int vg_graph_gap(vg_graph *g, int in);
int vg_graph_gmax(vg_graph *g, int in);
int vg_graph_fc(vg_graph *g, int in, int ci, int co, bool bias, vg_act act);
int vg_graph_softmax(vg_graph *g, int in);
/* Appends a raw node (the loaders use this); the node's `out` is assigned here. */
int vg_graph_push(vg_graph *g, const vg_node *n);

static inline float *vg_graph_param(vg_graph *g, int64_t off) { return g->params + off; }

/* Number of floats of weights / bias a node owns, given its input channel count. */
int64_t vg_node_weight_count(const vg_node *n, int ci, int in_h, int in_w);
int64_t vg_node_bias_count(const vg_node *n, int ci);

/* Resolved geometry of one node at a given input size. */
typedef struct {
    vg_shape in, out;
    vg_shape in2;      /* the second input of ADD and MUL */
    vg_conv_desc conv; /* CONV / DWCONV (n = 1) */
    int64_t flops;     /* 2 x multiply-adds, one image */
} vg_node_geom;

/* A MUL's second input is one weight per channel (squeeze-excitation) rather than a whole map
 * (both read the same when the map is 1 x 1 too) */
static inline bool vg_mul_per_channel(const vg_node_geom *gm) {
    return gm->in2.h * gm->in2.w == 1;
}

/* Checks the whole graph for an input of size h x w x c: tensor references, execution order,
 * kernel/stride/padding ranges, channel agreement, parameter ranges inside the arena, limits.
 * Fills geom[n_nodes] and shapes[n_tensors] when not NULL. Any problem is reported with the
 * node index, as VG_ERR_FORMAT (the graph came from a file or an importer). */
vg_status vg_graph_infer(const vg_graph *g, int h, int w, int c, vg_node_geom *geom,
                         vg_shape *shapes, vg_err *err);

const char *vg_op_name(vg_op op);

#endif
