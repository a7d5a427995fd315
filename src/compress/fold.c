/* fold.c — batch-norm folding (see fold.h). Two passes over the nodes: the first decides which
 * BNs fold (their producer's kind and activation, how many readers the tensor between them
 * has), the second writes the surviving nodes with renumbered tensors into a new, exactly
 * sized arena, folding as it copies. The source graph is validated first, so every offset
 * read here is inside its arena. */
#include "compress/fold.h"

#include <math.h>
#include <string.h>

/* Copies producer p's weights and bias into dst (weights at dst, bias right after) with the BN
 * of node bn folded in. co = output channels, nw = weight count. */
static void fold_into(const vg_graph *g, const vg_node *p, const vg_node *bn, int co, int64_t nw,
                      float *dst) {
    const float *w = g->params + p->w, *b = p->b >= 0 ? g->params + p->b : NULL;
    const float *gamma = g->params + bn->b, *beta = gamma + co, *mean = beta + co,
                *var = mean + co;
    float *dw = dst, *db = dst + nw;
    for (int o = 0; o < co; o++) {
        double s = (double)gamma[o] / sqrt((double)var[o] + (double)bn->eps);
        if (p->op == VG_OP_DWCONV) { /* (kh, kw, c): channel o every co floats */
            for (int64_t k = o; k < nw; k += co) dw[k] = (float)(w[k] * s);
        } else { /* CONV (co, kh, kw, ci), FC (co, ci): one contiguous row per channel */
            int64_t row = nw / co;
            for (int64_t k = (int64_t)o * row; k < (int64_t)(o + 1) * row; k++)
                dw[k] = (float)(w[k] * s);
        }
        db[o] = (float)(((b ? (double)b[o] : 0.0) - mean[o]) * s + beta[o]);
    }
}

vg_status vg_graph_fold_bn(const vg_graph *g, int h, int w, int c, vg_graph *out, int *n_folded,
                           vg_err *err) {
    VG_ASSERT(g != out);
    vg_graph_init(out);
    if (n_folded) *n_folded = 0;
    int nn = g->n_nodes, nt = g->n_tensors;
    if (nn < 1 || nn > VG_MAX_NODES || nt != nn + 1) /* vg_graph_infer words the error */
        return vg_graph_infer(g, h, w, c, NULL, NULL, err);
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)nn);
    int *readers = vg_calloc((size_t)nt, sizeof(int));
    int *bn_of = vg_malloc(sizeof(int) * (size_t)nn); /* per node: the BN folded into it, or -1 */
    int *map = vg_malloc(sizeof(int) * (size_t)nt);   /* old tensor -> new tensor */
    bool *drop = vg_calloc((size_t)nn, sizeof(bool));
    vg_status st = VG_OK;
    if (!geom || !readers || !bn_of || !map || !drop) {
        st = vg_err_set(err, VG_ERR_NOMEM, "fold: out of memory");
        goto done;
    }
    st = vg_graph_infer(g, h, w, c, geom, NULL, err);
    if (st != VG_OK) goto done;

    /* pass 1: which BNs fold. Node i produces tensor i + 1 (checked by vg_graph_infer), so a
     * BN's producer is node in[0] - 1. */
    for (int i = 0; i < nn; i++) {
        bn_of[i] = -1;
        for (int j = 0; j < 2; j++)
            if (g->nodes[i].in[j] >= 0) readers[g->nodes[i].in[j]]++;
    }
    readers[g->output]++;
    int folded = 0;
    for (int i = 0; i < nn; i++) {
        const vg_node *n = &g->nodes[i];
        int t = n->in[0];
        if (n->op != VG_OP_BN || t < 1) continue;
        const vg_node *p = &g->nodes[t - 1];
        bool kind = p->op == VG_OP_CONV || p->op == VG_OP_DWCONV || p->op == VG_OP_FC;
        if (!kind || p->act != VG_ACT_NONE || readers[t] != 1) continue;
        bn_of[t - 1] = i;
        drop[i] = true;
        folded++;
    }

    /* sizes of the new node list and arena */
    int kept = 0;
    int64_t total = 0;
    for (int i = 0; i < nn; i++) {
        if (drop[i]) continue;
        const vg_node *n = &g->nodes[i];
        vg_shape in = geom[i].in;
        kept++;
        if (n->w >= 0) total += vg_node_weight_count(n, in.c, in.h, in.w);
        if (n->b >= 0 || bn_of[i] >= 0) total += vg_node_bias_count(n, in.c);
    }
    out->nodes = vg_malloc(sizeof(vg_node) * (size_t)kept);
    out->params = vg_malloc(sizeof(float) * (size_t)(total ? total : 1));
    if (!out->nodes || !out->params) {
        st = vg_err_set(err, VG_ERR_NOMEM, "fold: out of memory");
        goto done;
    }

    /* pass 2: copy, renumber, fold */
    map[0] = 0;
    int k = 0;
    int64_t at = 0;
    for (int i = 0; i < nn; i++) {
        const vg_node *n = &g->nodes[i];
        if (drop[i]) { /* the BN's output is now its producer's */
            map[n->out] = map[n->in[0]];
            continue;
        }
        vg_node nd = *n;
        nd.in[0] = map[n->in[0]];
        if (n->in[1] >= 0) nd.in[1] = map[n->in[1]];
        nd.out = map[n->out] = k + 1;
        vg_shape in = geom[i].in;
        int64_t nw = n->w >= 0 ? vg_node_weight_count(n, in.c, in.h, in.w) : 0;
        int64_t nb = n->b >= 0 || bn_of[i] >= 0 ? vg_node_bias_count(n, in.c) : 0;
        if (bn_of[i] >= 0) {
            const vg_node *bn = &g->nodes[bn_of[i]];
            fold_into(g, n, bn, geom[i].out.c, nw, out->params + at);
            nd.act = bn->act;
        } else {
            if (nw) memcpy(out->params + at, g->params + n->w, sizeof(float) * (size_t)nw);
            if (nb) memcpy(out->params + at + nw, g->params + n->b, sizeof(float) * (size_t)nb);
        }
        nd.w = nw ? at : -1;
        nd.b = nb ? at + nw : -1;
        at += nw + nb;
        out->nodes[k++] = nd;
    }
    VG_ASSERT(k == kept && at == total);
    out->n_nodes = out->cap_nodes = kept;
    out->n_tensors = kept + 1;
    out->output = map[g->output];
    out->n_params = out->cap_params = total;
    if (n_folded) *n_folded = folded;
done:
    if (st != VG_OK) vg_graph_free(out);
    free(geom);
    free(readers);
    free(bn_of);
    free(map);
    free(drop);
    return st;
}

vg_status vg_model_fold(vg_model *m, int *n_folded, vg_err *err) {
    vg_graph g;
    int folded = 0;
    vg_status st = vg_graph_fold_bn(&m->g, m->input.h, m->input.w, m->input.c, &g, &folded, err);
    if (n_folded) *n_folded = st == VG_OK ? folded : 0;
    if (st != VG_OK) return st;
    if (folded == 0) {
        vg_graph_free(&g);
        return VG_OK;
    }
    vg_graph_free(&m->g);
    m->g = g;
    vg_qgraph_free(m->q); /* indexed by the old nodes and tensors */
    m->q = NULL;
    return VG_OK;
}
