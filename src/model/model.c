/* model.c — vg_model lifetime, labels, metadata, info and the per-layer description used by
 * `vigie info`. */
#include "model/model.h"

#include <math.h>
#include <string.h>

vg_model *vg_model_new(void) {
    vg_model *m = vg_calloc(1, sizeof *m);
    if (!m) return NULL;
    vg_graph_init(&m->g);
    m->input = (vg_input_spec){224, 224, 3, {127.5f, 127.5f, 127.5f}, {127.5f, 127.5f, 127.5f}};
    return m;
}

static void free_labels(vg_model *m) {
    for (int i = 0; i < m->n_labels; i++) free(m->labels[i]);
    free(m->labels);
    m->labels = NULL;
    m->n_labels = 0;
}

void vg_qgraph_free(vg_qgraph *q) {
    if (!q) return;
    free(q->t), free(q->w_off), free(q->b_off), free(q->s_off);
    free(q->w8), free(q->b32), free(q->ws);
    free(q);
}

static void *dup_bytes(const void *p, size_t n) {
    void *d = vg_malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

vg_qgraph *vg_qgraph_slice(const vg_qgraph *q, int n_nodes) {
    vg_qgraph *c = vg_calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *q;
    const size_t nn = (size_t)n_nodes;
    c->t = dup_bytes(q->t, sizeof(vg_qparam) * (nn + 1)); /* tensor i + 1 = node i's output */
    c->w_off = dup_bytes(q->w_off, sizeof(int64_t) * nn);
    c->b_off = dup_bytes(q->b_off, sizeof(int64_t) * nn);
    c->s_off = dup_bytes(q->s_off, sizeof(int64_t) * nn);
    c->w8 = dup_bytes(q->w8, (size_t)q->n_w8);
    c->b32 = dup_bytes(q->b32, sizeof(int32_t) * (size_t)q->n_b32);
    c->ws = dup_bytes(q->ws, sizeof(float) * (size_t)q->n_ws);
    if (!c->t || !c->w_off || !c->b_off || !c->s_off || !c->w8 || !c->b32 || !c->ws) {
        vg_qgraph_free(c);
        return NULL;
    }
    return c;
}

void vg_model_unshare(vg_model *m, int node) {
    for (int i = 0; i < m->n_shared; i++)
        if (m->shared[i].node == node) {
            free(m->shared[i].scale), free(m->shared[i].idx);
            m->shared[i] = m->shared[--m->n_shared];
            return;
        }
}

void vg_model_free(vg_model *m) {
    if (!m) return;
    vg_qgraph_free(m->q);
    for (int i = 0; i < m->n_shared; i++) free(m->shared[i].scale), free(m->shared[i].idx);
    free(m->shared);
    vg_graph_free(&m->g);
    free_labels(m);
    for (int i = 0; i < m->n_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    free(m);
}

/* The functions below answer without a status (counts, info, a description), so that an
 * allocation failure cannot turn their answer into a wrong one for ordinary models: their
 * shape-inference buffers are on the stack up to INFER_STACK nodes or tensors (MobileNetV2:
 * 65 and 66), on the heap beyond. */
#define INFER_STACK 256

int vg_model_n_outputs(const vg_model *m) {
    if (m->g.n_nodes < 1) return 0;
    vg_shape stack[INFER_STACK];
    vg_shape *sh = m->g.n_tensors <= INFER_STACK
                       ? stack
                       : vg_malloc(sizeof(vg_shape) * (size_t)m->g.n_tensors);
    if (!sh) return 0;
    int n = 0;
    if (vg_graph_infer(&m->g, m->input.h, m->input.w, m->input.c, NULL, sh, NULL) == VG_OK) {
        vg_shape o = sh[m->g.output];
        n = o.h * o.w * o.c;
    }
    if (sh != stack) free(sh);
    return n;
}

static vg_node_geom *geom_buf(const vg_model *m, vg_node_geom *stack) {
    int n = m->g.n_nodes;
    return n <= INFER_STACK ? stack : vg_malloc(sizeof(vg_node_geom) * (size_t)n);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = vg_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

vg_status vg_model_set_labels(vg_model *m, const char *const *labels, int n, vg_err *err) {
    if (n < 0 || n > VG_MAX_CLASSES) return vg_err_set(err, VG_ERR_ARG, "too many labels (%d)", n);
    char **l = vg_calloc((size_t)(n ? n : 1), sizeof *l);
    if (!l) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (strlen(labels[i]) >= VG_MAX_LABEL_LEN || !(l[i] = dup_str(labels[i]))) {
            for (int j = 0; j < i; j++) free(l[j]);
            free(l);
            return vg_err_set(err, VG_ERR_ARG, "label %d too long or out of memory", i);
        }
    }
    free_labels(m);
    m->labels = l;
    m->n_labels = n;
    return VG_OK;
}

vg_status vg_model_set_labels_text(vg_model *m, const uint8_t *data, size_t size,
                                   const char *name, vg_err *err) {
    int n_out = vg_model_n_outputs(m);
    /* count lines; a final line without newline counts, a trailing newline does not */
    int n = 0;
    for (size_t i = 0; i < size; i++)
        if (data[i] == '\n') n++;
    if (size > 0 && data[size - 1] != '\n') n++;
    if (n != n_out)
        return vg_err_set(err, VG_ERR_ARG, "%s: %d labels, but the model has %d outputs", name, n,
                          n_out);
    char **l = vg_calloc((size_t)(n ? n : 1), sizeof *l);
    if (!l) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    size_t pos = 0;
    vg_status st = VG_OK;
    for (int i = 0; i < n; i++) {
        size_t end = pos;
        while (end < size && data[end] != '\n') end++;
        size_t len = end - pos;
        if (len > 0 && data[pos + len - 1] == '\r') len--;
        if (len == 0 || len >= VG_MAX_LABEL_LEN || memchr(data + pos, 0, len)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s: line %d: label empty, too long or binary",
                            name, i + 1);
        } else if ((l[i] = vg_malloc(len + 1)) == NULL) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        } else {
            memcpy(l[i], data + pos, len);
            l[i][len] = 0;
        }
        if (st != VG_OK) {
            for (int j = 0; j < i; j++) free(l[j]);
            free(l);
            return st;
        }
        pos = end + 1;
    }
    free_labels(m);
    m->labels = l;
    m->n_labels = n;
    return VG_OK;
}

vg_status vg_model_set_labels_file(vg_model *m, const char *path, vg_err *err) {
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(path, 16u << 20, &data, &size, err);
    if (st != VG_OK) return st;
    st = vg_model_set_labels_text(m, data, size, path, err);
    free(data);
    return st;
}

const char *vg_model_label(const vg_model *m, int i) {
    if (i >= 0 && i < m->n_labels) return m->labels[i];
    /* the fallback buffer is per model; the cast is confined to this cache */
    vg_model *mm = (vg_model *)m;
    snprintf(mm->fallback_label, sizeof mm->fallback_label, "class_%d", i);
    return mm->fallback_label;
}

int vg_model_find_label(const vg_model *m, const char *name) {
    int n = vg_model_n_outputs(m);
    for (int i = 0; i < n; i++)
        if (!strcmp(vg_model_label(m, i), name)) return i;
    return -1;
}

vg_status vg_model_set_meta(vg_model *m, const char *key, const char *value, vg_err *err) {
    for (int i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta[i].key, key) == 0) {
            char *v = dup_str(value);
            if (!v) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            free(m->meta[i].value);
            m->meta[i].value = v;
            return VG_OK;
        }
    }
    if (m->n_meta >= VG_MAX_META) return vg_err_set(err, VG_ERR_ARG, "too many metadata entries");
    vg_meta *nm = vg_realloc(m->meta, sizeof(vg_meta) * (size_t)(m->n_meta + 1));
    if (!nm) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    m->meta = nm;
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    m->meta[m->n_meta++] = (vg_meta){k, v};
    return VG_OK;
}

int vg_model_meta_at(const vg_model *m, int i, const char **key, const char **value) {
    if (!m || i < 0 || i >= m->n_meta) return 0;
    *key = m->meta[i].key;
    *value = m->meta[i].value;
    return 1;
}

const char *vg_model_get_meta(const vg_model *m, const char *key) {
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return NULL;
}

/* the int8 form against the graph: every node's int8 tensors inside their arrays, sizes as
 * the shapes require, positive finite scales, zero points in range, only ops the integer path
 * runs */
static vg_status vg_qgraph_validate(const vg_model *m, vg_err *err) {
    const vg_qgraph *q = m->q;
    const vg_graph *g = &m->g;
    if (q->rounding < 0 || q->rounding >= VG_Q8_ROUND_COUNT_)
        return vg_err_set(err, VG_ERR_FORMAT, "int8 form: unknown rounding rule %d", q->rounding);
    for (int t = 0; t < g->n_tensors; t++)
        if (!(q->t[t].scale > 0) || !isfinite(q->t[t].scale) || q->t[t].zp < -128 || q->t[t].zp > 127)
            return vg_err_set(err, VG_ERR_FORMAT, "int8 form: tensor %d quantization invalid", t);
    for (int64_t i = 0; i < q->n_ws; i++)
        if (!(q->ws[i] > 0) || !isfinite(q->ws[i]))
            return vg_err_set(err, VG_ERR_FORMAT, "int8 form: weight scale %lld invalid", (long long)i);
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)g->n_nodes);
    if (!geom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, NULL, err);
    for (int j = 0; st == VG_OK && j < g->n_nodes; j++) {
        const vg_node *nd = &g->nodes[j];
        bool weighted = nd->op == VG_OP_CONV || nd->op == VG_OP_DWCONV || nd->op == VG_OP_FC;
        /* the runner applies a final softmax in float, on the output tensor only */
        bool last_softmax = nd->op == VG_OP_SOFTMAX && j == g->n_nodes - 1 && nd->out == g->output;
        if ((!weighted && nd->op != VG_OP_ADD && nd->op != VG_OP_GAP && !last_softmax) ||
            !vg_act_simple((vg_act)nd->act)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "int8 form: node %d (%s%s%s) has no integer kernel",
                            j, vg_op_name((vg_op)nd->op), nd->act ? ", " : "",
                            vg_act_name((vg_act)nd->act));
            break;
        }
        int64_t nw = vg_node_weight_count(nd, geom[j].in.c, geom[j].in.h, geom[j].in.w);
        int64_t co = geom[j].out.c;
        bool ok = weighted ? (q->w_off[j] >= 0 && q->w_off[j] <= q->n_w8 && nw <= q->n_w8 - q->w_off[j] &&
                              q->s_off[j] >= 0 && q->s_off[j] <= q->n_ws && co <= q->n_ws - q->s_off[j] &&
                              (q->b_off[j] == -1 || (q->b_off[j] >= 0 && q->b_off[j] <= q->n_b32 &&
                                                     co <= q->n_b32 - q->b_off[j])))
                           : (q->w_off[j] == -1 && q->b_off[j] == -1 && q->s_off[j] == -1);
        if (!ok) st = vg_err_set(err, VG_ERR_FORMAT, "int8 form: node %d arrays out of range", j);
    }
    free(geom);
    return st;
}

vg_status vg_model_validate(const vg_model *m, vg_err *err) {
    const vg_input_spec *in = &m->input;
    if (in->c != 3) return vg_err_set(err, VG_ERR_FORMAT, "input must have 3 channels, not %d", in->c);
    if (in->w < 8 || in->h < 8 || in->w > 4096 || in->h > 4096)
        return vg_err_set(err, VG_ERR_FORMAT, "input size %dx%d out of range", in->w, in->h);
    for (int k = 0; k < 3; k++)
        if (!(in->std[k] != 0.0f) || !isfinite(in->std[k]) || !isfinite(in->mean[k]))
            return vg_err_set(err, VG_ERR_FORMAT, "input normalisation invalid (channel %d)", k);
    vg_status st = vg_graph_infer(&m->g, in->h, in->w, in->c, NULL, NULL, err);
    if (st != VG_OK) return st;
    int n_out = vg_model_n_outputs(m);
    if (n_out < 1 || n_out > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_FORMAT, "model has %d outputs (expected 1..%d)", n_out,
                          VG_MAX_CLASSES);
    if (m->n_labels != 0 && m->n_labels != n_out)
        return vg_err_set(err, VG_ERR_FORMAT, "model has %d labels for %d outputs", m->n_labels,
                          n_out);
    return m->q ? vg_qgraph_validate(m, err) : VG_OK;
}

void vg_model_get_info(const vg_model *m, vg_model_info *info) {
    memset(info, 0, sizeof *info);
    info->input = m->input;
    info->n_layers = m->g.n_nodes;
    info->n_params = m->g.n_params;
    info->file_bytes = m->file_bytes;
    info->source = vg_model_get_meta(m, "source");
    info->n_classes = vg_model_n_outputs(m);
    info->has_labels = m->n_labels > 0;
    info->has_int8 = m->q != NULL;
    if (m->q) info->int8_weight_bytes = m->q->n_w8 + 4 * m->q->n_b32 + 4 * m->q->n_ws;
    vg_node_geom stack[INFER_STACK], *geom = geom_buf(m, stack);
    bool ok = geom && vg_graph_infer(&m->g, m->input.h, m->input.w, m->input.c, geom, NULL, NULL) == VG_OK;
    for (int i = 0; ok && i < m->g.n_nodes; i++) info->flops += geom[i].flops;
    if (m->engine) {
        const vg_engine_sizes *e = &m->eng;
        info->is_engine = 1;
        info->eng_f32_bytes = e->f32, info->eng_int8_bytes = e->i8, info->eng_cluster_bytes = e->cluster;
        info->eng_other_bytes = e->total - e->f32 - e->i8 - e->cluster;
        info->eng_f32_layers = e->f32_layers, info->eng_int8_layers = e->i8_layers;
        info->eng_cluster_layers = e->cluster_layers, info->eng_sparse_layers = e->sparse_layers;
        info->eng_huff_layers = e->huff_layers;
        int64_t zeros = 0, all = 0;
        for (int i = 0; ok && i < m->g.n_nodes; i++) {
            const vg_node *nd = &m->g.nodes[i];
            if ((nd->op != VG_OP_CONV && nd->op != VG_OP_DWCONV && nd->op != VG_OP_FC) || nd->w < 0) continue;
            int64_t n = vg_node_weight_count(nd, geom[i].in.c, geom[i].in.h, geom[i].in.w);
            const float *x = m->g.params + nd->w;
            for (int64_t j = 0; j < n; j++) zeros += x[j] == 0.0f;
            all += n;
        }
        info->sparsity = all ? (double)zeros / (double)all : 0;
        /* clustered layers: codebook entries in use (the weights are centroid x channel scale,
         * rebuilt from exactly these indices on load) */
        for (int k = 0; k < m->n_shared; k++) {
            const vg_shared_layer *L = &m->shared[k];
            bool used[256] = {false};
            int d = 0;
            for (int64_t j = 0; j < L->n; j++)
                if (!used[L->idx[j]]) used[L->idx[j]] = true, d++;
            if (d > info->max_distinct) info->max_distinct = d;
        }
    }
    if (geom != stack) free(geom);
}

size_t vg_model_describe_layers(const vg_model *m, char *buf, size_t size) {
    size_t used = 0;
    int n = m->g.n_nodes;
    vg_node_geom stack[INFER_STACK], *geom = geom_buf(m, stack);
    if (!geom)
        return (size_t)snprintf(buf, size, "(out of memory for the layers of %d nodes)\n", n);
    if (vg_graph_infer(&m->g, m->input.h, m->input.w, m->input.c, geom, NULL, NULL) != VG_OK) {
        if (geom != stack) free(geom);
        return (size_t)snprintf(buf, size, "(invalid graph)\n");
    }
    for (int i = 0; i < n; i++) {
        const vg_node *nd = &m->g.nodes[i];
        const vg_node_geom *gm = &geom[i];
        char kind[64];
        if (nd->op == VG_OP_CONV || nd->op == VG_OP_DWCONV)
            snprintf(kind, sizeof kind, "%s %dx%d/%d%s", vg_op_name((vg_op)nd->op), nd->kh, nd->kw,
                     nd->sh, nd->pad_mode == VG_PAD_SAME ? " same" : "");
        else if (nd->op == VG_OP_ADD || nd->op == VG_OP_MUL)
            snprintf(kind, sizeof kind, "%s t%d", vg_op_name((vg_op)nd->op), nd->in[1]);
        else
            snprintf(kind, sizeof kind, "%s", vg_op_name((vg_op)nd->op));
        int64_t np = vg_node_weight_count(nd, gm->in.c, gm->in.h, gm->in.w) +
                     (nd->b >= 0 ? vg_node_bias_count(nd, gm->in.c) : 0);
        char line[200], act[16] = "";
        if (nd->act != VG_ACT_NONE) snprintf(act, sizeof act, " %s", vg_act_name((vg_act)nd->act));
        int k = snprintf(
            line, sizeof line,
            "%4d  %-20s%-6s t%-4d %4dx%-4d x%-5d -> %4dx%-4d x%-5d %9lld params %8.2f MFLOP\n", i,
            kind, act, nd->in[0], gm->in.h, gm->in.w, gm->in.c, gm->out.h, gm->out.w, gm->out.c,
            (long long)np, (double)gm->flops / 1e6);
        if (k > 0) {
            if (used < size) snprintf(buf + used, size - used, "%s", line);
            used += (size_t)k;
        }
    }
    if (geom != stack) free(geom);
    return used;
}

int vg_model_alarm(const vg_model *m, int *no_alarm, float *threshold) {
    const char *cls = vg_model_get_meta(m, "no_alarm_class");
    const char *thr = vg_model_get_meta(m, "alarm_threshold");
    if (!cls || !thr) return 0;
    char *end;
    float t = strtof(thr, &end);
    if (end == thr || !(t >= 0.0f && t <= 1.0f)) return 0;
    for (int i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i], cls) == 0) {
            if (no_alarm) *no_alarm = i;
            if (threshold) *threshold = t;
            return 1;
        }
    return 0;
}

void vg_quantize_weights(const vg_node *nd, const float *w, int64_t n, int co, const float *scale,
                         int8_t *q) {
    for (int64_t i = 0; i < n; i++) {
        float v = w[i] / scale[vg_weight_channel(nd, i, n, co)];
        long r = lrintf(v);
        q[i] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
}

vg_status vg_model_requantize_fc(vg_model *m, int node, float lo, float hi, vg_err *err) {
    vg_graph *g = &m->g;
    vg_qgraph *q = m->q;
    if (!q || node < 0 || node >= g->n_nodes || g->nodes[node].op != VG_OP_FC ||
        q->w_off[node] < 0 || g->nodes[node].b < 0 || !isfinite(lo) || !isfinite(hi))
        return vg_err_set(err, VG_ERR_ARG, "requantize: node %d is no int8 fully-connected layer",
                          node);
    vg_node *nd = &g->nodes[node];
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)g->n_nodes);
    if (!geom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, NULL, err);
    const int co = geom[node].out.c;
    const int64_t n = vg_node_weight_count(nd, geom[node].in.c, geom[node].in.h, geom[node].in.w);
    free(geom);
    if (st != VG_OK) return st;
    float *w = g->params + nd->w, *b = g->params + nd->b, *sc = q->ws + q->s_off[node];
    int8_t *w8 = q->w8 + q->w_off[node];
    int32_t *b32 = q->b32 + q->b_off[node];
    for (int c = 0; c < co; c++)
        sc[c] = 0;
    for (int64_t i = 0; i < n; i++) {
        int c = vg_weight_channel(nd, i, n, co);
        if (fabsf(w[i]) > sc[c]) sc[c] = fabsf(w[i]);
    }
    for (int c = 0; c < co; c++)
        sc[c] = sc[c] > 0 ? sc[c] / 127.0f : 1.0f;
    vg_quantize_weights(nd, w, n, co, sc, w8);
    const float sin = q->t[nd->in[0]].scale;
    for (int c = 0; c < co; c++) {
        double v = (double)b[c] / ((double)sin * sc[c]);
        v = v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v;
        b32[c] = (int32_t)llrint(v);
        b[c] = (float)((double)b32[c] * sin * sc[c]);
    }
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)w8[i] * sc[vg_weight_channel(nd, i, n, co)];
    /* the outputs' range: the old one, widened (never narrowed: what it covered stays) */
    vg_qparam *t = &q->t[nd->out];
    float olo = (float)(-128 - t->zp) * t->scale, ohi = (float)(127 - t->zp) * t->scale;
    lo = lo < olo ? lo : olo, hi = hi > ohi ? hi : ohi;
    t->scale = (hi - lo) / 255.0f; /* as the calibration makes them (compress/calib.c) */
    if (!(t->scale > 0)) t->scale = 1e-8f;
    long zp = lrint(-128.0 - (double)lo / t->scale);
    t->zp = (int32_t)(zp < -128 ? -128 : zp > 127 ? 127 : zp);
    vg_model_unshare(m, node);
    return vg_model_validate(m, err);
}
