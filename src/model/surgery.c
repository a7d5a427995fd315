/* surgery.c — backbone -> classifier, graph slicing, block boundaries (see surgery.h). */
#include "model/surgery.h"

#include "core/rng.h"

#include <math.h>
#include <string.h>

int vg_graph_feature_node(const vg_graph *g) {
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (g->nodes[i].op == VG_OP_GAP) return i;
    return -1;
}

int vg_graph_logits_tensor(const vg_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].out == g->output && g->nodes[i].op == VG_OP_SOFTMAX) return g->nodes[i].in[0];
    return g->output;
}

int vg_graph_block_starts(const vg_graph *g, int *starts, int max) {
    int n = 0;
    for (int i = 0; i < g->n_nodes && n < max; i++) {
        if (g->nodes[i].op != VG_OP_DWCONV) continue;
        int start = i, in = g->nodes[i].in[0];
        /* the producer of the depthwise input: an expansion if it is a 1x1 conv fed by the
         * previous block's output (node in - 1 produced tensor in) */
        if (in >= 1) {
            const vg_node *p = &g->nodes[in - 1];
            if (p->op == VG_OP_CONV && p->kh == 1 && p->kw == 1 && p->in[0] > 0) start = in - 1;
        }
        starts[n++] = start;
    }
    return n;
}

vg_status vg_graph_slice(const vg_graph *g, int n_nodes, vg_graph *out, vg_err *err) {
    vg_graph_init(out);
    if (n_nodes < 1 || n_nodes > g->n_nodes)
        return vg_err_set(err, VG_ERR_ARG, "slice: %d of %d nodes", n_nodes, g->n_nodes);
    int64_t need = 0;
    vg_status st = VG_OK;
    /* a parameter run's length would need shapes (an input size) to compute; the arena layout
     * gives it directly: a run ends where the next run (by offset) starts */
    int64_t *offs = vg_malloc(sizeof(int64_t) * (size_t)(2 * g->n_nodes + 1));
    if (!offs) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    int no = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].w >= 0) offs[no++] = g->nodes[i].w;
        if (g->nodes[i].b >= 0) offs[no++] = g->nodes[i].b;
    }
    offs[no++] = g->n_params;
    for (int a = 1; a < no; a++) /* sort offsets */
        for (int b = a; b > 0 && offs[b - 1] > offs[b]; b--) {
            int64_t t = offs[b];
            offs[b] = offs[b - 1];
            offs[b - 1] = t;
        }
    /* length of the run starting at off = distance to the next distinct offset */
#define RUN_LEN(off, len)                                                                        \
    do {                                                                                         \
        len = 0;                                                                                 \
        for (int k = 0; k < no; k++)                                                             \
            if (offs[k] > (off)) {                                                               \
                len = offs[k] - (off);                                                           \
                break;                                                                           \
            }                                                                                    \
    } while (0)
    for (int i = 0; i < n_nodes; i++) {
        int64_t len;
        if (g->nodes[i].w >= 0) {
            RUN_LEN(g->nodes[i].w, len);
            need += len;
        }
        if (g->nodes[i].b >= 0) {
            RUN_LEN(g->nodes[i].b, len);
            need += len;
        }
    }
    out->nodes = vg_malloc(sizeof(vg_node) * (size_t)n_nodes);
    out->params = vg_malloc(sizeof(float) * (size_t)(need ? need : 1));
    if (!out->nodes || !out->params) {
        free(offs);
        vg_graph_free(out);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    out->cap_nodes = n_nodes;
    out->cap_params = need;
    int64_t at = 0;
    for (int i = 0; i < n_nodes; i++) {
        vg_node nd = g->nodes[i];
        int64_t len;
        if (nd.w >= 0) {
            RUN_LEN(nd.w, len);
            memcpy(out->params + at, g->params + nd.w, sizeof(float) * (size_t)len);
            nd.w = at;
            at += len;
        }
        if (nd.b >= 0) {
            RUN_LEN(nd.b, len);
            memcpy(out->params + at, g->params + nd.b, sizeof(float) * (size_t)len);
            nd.b = at;
            at += len;
        }
        out->nodes[i] = nd;
    }
#undef RUN_LEN
    free(offs);
    out->n_nodes = n_nodes;
    out->n_tensors = n_nodes + 1;
    out->n_params = at;
    out->output = n_nodes;
    return st;
}

vg_status vg_model_new_classifier(const vg_model *backbone, int n_classes,
                                  const char *const *labels, uint64_t seed, vg_model **out,
                                  vg_err *err) {
    return vg_model_new_classifier_pool(backbone, n_classes, labels, seed, VG_POOL_AVG, out, err);
}

vg_status vg_model_new_classifier_pool(const vg_model *backbone, int n_classes,
                                       const char *const *labels, uint64_t seed,
                                       vg_pool_mode pool, vg_model **out, vg_err *err) {
    *out = NULL;
    if (n_classes < 2 || n_classes > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_ARG, "a classifier needs 2..%d classes, not %d",
                          VG_MAX_CLASSES, n_classes);
    int cut = vg_graph_feature_node(&backbone->g);
    if (cut < 0)
        return vg_err_set(err, VG_ERR_UNSUPPORTED,
                          "backbone has no global average pool to cut at (its features)");
    vg_model *m = vg_model_new();
    if (!m) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_graph_free(&m->g);
    if (backbone->g.nodes[cut].in[0] != cut) {
        vg_model_free(m);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "backbone: the pool does not follow the last layer");
    }
    /* keep the feature map, then pool it the requested way */
    vg_status st = vg_graph_slice(&backbone->g, cut, &m->g, err);
    if (st != VG_OK) {
        vg_model_free(m);
        return st;
    }
    int fmap = m->g.output, pooled = -1;
    if (pool == VG_POOL_AVG) pooled = vg_graph_gap(&m->g, fmap);
    else if (pool == VG_POOL_MAX) pooled = vg_graph_gmax(&m->g, fmap);
    else {
        int a = vg_graph_gap(&m->g, fmap), b = vg_graph_gmax(&m->g, fmap);
        pooled = a < 0 || b < 0 ? -1 : vg_graph_add(&m->g, a, b, VG_ACT_NONE);
    }
    if (pooled < 0) {
        vg_model_free(m);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    m->input = backbone->input;
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)m->g.n_tensors);
    if (!sh || vg_graph_infer(&m->g, m->input.h, m->input.w, m->input.c, NULL, sh, err) != VG_OK) {
        free(sh);
        vg_model_free(m);
        return err && err->status ? err->status : VG_ERR_NOMEM;
    }
    int feat = sh[m->g.output].c;
    free(sh);
    int logits = vg_graph_fc(&m->g, m->g.output, feat, n_classes, true, VG_ACT_NONE);
    if (logits < 0 || vg_graph_softmax(&m->g, logits) < 0) {
        vg_model_free(m);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    const vg_node *fc = &m->g.nodes[m->g.n_nodes - 2];
    float bound = 1.0f / sqrtf((float)feat);
    vg_rng r = vg_rng_make(seed, 0x4845414Du /* "HEAD" */, 0);
    for (int64_t i = 0; i < (int64_t)n_classes * feat; i++)
        m->g.params[fc->w + i] = (2.0f * vg_rng_uniform(&r) - 1.0f) * bound;
    for (int i = 0; i < n_classes; i++)
        m->g.params[fc->b + i] = (2.0f * vg_rng_uniform(&r) - 1.0f) * bound;
    st = labels ? vg_model_set_labels(m, labels, n_classes, err) : VG_OK;
    const char *src = vg_model_get_meta(backbone, "source");
    if (st == VG_OK && src) st = vg_model_set_meta(m, "backbone", src, err);
    if (st == VG_OK) st = vg_model_validate(m, err);
    if (st != VG_OK) {
        vg_model_free(m);
        return st;
    }
    *out = m;
    return VG_OK;
}
