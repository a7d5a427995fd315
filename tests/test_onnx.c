/* test_onnx.c — ONNX export and import (io/onnx.c). Round trips of models built here (plain
 * and depthwise convolutions with SAME and explicit padding, batch-norm, residual add with
 * ReLU, ReLU6, pooling, a fully-connected layer on a pooled and on an unpooled (h, w, c)
 * tensor, softmax): exporting then importing reproduces vigie's outputs, labels and
 * normalisation. Malformed files, edited through the generated protobuf code, are refused
 * with a message naming what is wrong: truncations, a missing initialiser, nodes out of order
 * (a cycle), huge dimensions, other data types, another opset, an unknown operator, a dynamic
 * input size. MobileNetV3's pieces (hard-swish, hard-sigmoid, sigmoid, squeeze-excitation's Mul)
 * round trip at opsets 10, 13 (hard-swish as x * HardSigmoid(x)) and 17 (HardSwish). With the
 * fixtures of tools/onnx_fixtures.py (torchvision's MobileNetV2 and MobileNetV3-small, random
 * weights, the latter at opsets 13 and 17), vigie's outputs match PyTorch's. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "compress/calib.h"
#include "model/model.h"
#include "model/runner.h"

#include "onnx.pb-c.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vg_model *vg_test_small_model(void); /* test_vgm.c: conv, dwconv, bn, add, gap, fc, softmax */

/* the largest difference of two models' outputs over a few inputs (the same normalised
 * input: both take the model's own input conversion) */
static double max_diff(const vg_model *a, const vg_model *b) {
    vg_runner *ra = NULL, *rb = NULL;
    vg_err err;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = VG_PRECISION_FLOAT;
    double worst = INFINITY;
    if (vg_runner_init(&ra, a, &o, &err) != VG_OK || vg_runner_init(&rb, b, &o, &err) != VG_OK) {
        vg_runner_free(ra);
        return worst;
    }
    size_t in = (size_t)a->input.w * a->input.h * a->input.c;
    int n = vg_model_n_outputs(a);
    float *x = malloc(sizeof(float) * in), *ya = malloc(sizeof(float) * (size_t)n),
          *yb = malloc(sizeof(float) * (size_t)n);
    if (x && ya && yb && n == vg_model_n_outputs(b)) {
        worst = 0;
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < in; i++)
                x[i] = sinf(0.37f * (float)i + (float)k) * 1.5f;
            vg_runner_forward(ra, x, ya);
            vg_runner_forward(rb, x, yb);
            for (int i = 0; i < n; i++)
                worst = fmax(worst, fabs((double)ya[i] - yb[i]));
        }
    }
    free(x), free(ya), free(yb);
    vg_runner_free(ra), vg_runner_free(rb);
    return worst;
}

/* conv (SAME, stride 2, ReLU6) -> conv 1x1 -> FC on the (h, w, c) map -> softmax: the FC's
 * weights must be permuted between vigie's (h, w, c) and ONNX's (c, h, w) orders */
static vg_model *spatial_fc_model(void) {
    vg_model *m = vg_model_new();
    if (!m) return NULL;
    m->input = (vg_input_spec){10, 9, 3, {100, 110, 120}, {50, 55, 60}}; /* -> 5x5 */
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 5, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    x = vg_graph_conv(g, x, 5, 4, 1, 1, 1, VG_PAD_SAME, NULL, false, VG_ACT_NONE);
    x = vg_graph_fc(g, x, 5 * 5 * 4, 6, true, VG_ACT_RELU);
    x = vg_graph_fc(g, x, 6, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, x);
    vg_test_seed(7);
    vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
    return m;
}

/* MobileNetV3's pieces: conv with hard-swish, depthwise with hard-sigmoid, squeeze-excitation
 * (pool -> 1x1 conv ReLU -> 1x1 conv hard-sigmoid -> Mul of the channel weights), a same-shape
 * Mul with sigmoid, residual add, FC with hard-swish, FC, softmax */
static vg_model *se_model(void) {
    vg_model *m = vg_model_new();
    if (!m) return NULL;
    m->input = (vg_input_spec){12, 11, 3, {100, 110, 120}, {50, 55, 60}};
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_HSWISH);
    int d = vg_graph_dwconv(g, x, 8, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_HSIGMOID);
    int s = vg_graph_gap(g, d);
    s = vg_graph_conv(g, s, 8, 4, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU);
    s = vg_graph_conv(g, s, 4, 8, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_HSIGMOID);
    int e = vg_graph_mul(g, d, s, VG_ACT_NONE);
    e = vg_graph_mul(g, e, x, VG_ACT_SIGMOID);
    e = vg_graph_add(g, e, x, VG_ACT_NONE);
    e = vg_graph_gap(g, e);
    e = vg_graph_fc(g, e, 8, 6, true, VG_ACT_HSWISH);
    e = vg_graph_fc(g, e, 6, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, e);
    vg_test_seed(11);
    vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
    return m;
}

/* the ONNX file at path, unpacked (NULL when it cannot be read) */
static Onnx__ModelProto *unpacked(const char *path) {
    uint8_t *data = NULL;
    size_t size = 0;
    vg_err err;
    if (vg_file_read(path, (size_t)1 << 26, &data, &size, &err) != VG_OK) return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    free(data);
    return mp;
}

/* how many nodes of type op the file at path has */
static int count_op(const char *path, const char *op) {
    Onnx__ModelProto *mp = unpacked(path);
    if (!mp) return -1;
    int n = 0;
    for (size_t i = 0; i < mp->graph->n_node; i++)
        n += !strcmp(mp->graph->node[i]->op_type, op);
    onnx__model_proto__free_unpacked(mp, NULL);
    return n;
}

/* the exported file of m, unpacked for editing */
static Onnx__ModelProto *exported(const vg_model *m, const char *path) {
    vg_err err;
    return vg_export_onnx(m, path, 0, &err) == VG_OK ? unpacked(path) : NULL;
}

/* imports mp (packed) and expects status want with `needle` in the message */
static void refused(Onnx__ModelProto *mp, vg_status want, const char *needle, const char *what) {
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(n + 1);
    if (!buf) return;
    onnx__model_proto__pack(mp, buf);
    vg_model *m = NULL;
    vg_err err;
    memset(&err, 0, sizeof err);
    vg_status st = vg_import_onnx_mem(buf, n, "edited.onnx", NULL, &m, &err);
    CHECK(st == want && m == NULL && strstr(err.msg, needle), "%s: %s, '%s'", what,
          vg_status_name(st), err.msg);
    vg_model_free(m);
    free(buf);
}

static void check_round_trip(const char *dir) {
    char path[1024];
    vg_err err;
    vg_model *models[2] = {vg_test_small_model(), spatial_fc_model()};
    for (int k = 0; k < 4; k++) { /* each at opset 13, then 10 (Clip's bounds as attributes) */
        vg_model *m = models[k % 2], *back = NULL;
        CHECK(m != NULL, "model %d", k);
        if (!m) continue;
        snprintf(path, sizeof path, "%s/rt%d.onnx", dir, k);
        CHECK(vg_export_onnx(m, path, k < 2 ? 13 : 10, &err) == VG_OK, "export %d: %s", k, err.msg);
        CHECK(vg_import_onnx(path, NULL, &back, &err) == VG_OK, "import %d: %s", k, err.msg);
        if (back) {
            double d = max_diff(m, back);
            CHECK(d < 1e-5, "model %d: round trip differs by %g", k, d);
            CHECK(!memcmp(&back->input, &m->input, sizeof m->input),
                  "model %d: input spec not restored", k);
            CHECK(!strcmp(vg_model_label(back, 0), vg_model_label(m, 0)) &&
                      !strcmp(vg_model_label(back, 2), vg_model_label(m, 2)),
                  "model %d: labels", k);
            const char *thr = vg_model_get_meta(m, "alarm_threshold");
            CHECK(!thr || (vg_model_get_meta(back, "alarm_threshold") &&
                           !strcmp(vg_model_get_meta(back, "alarm_threshold"), thr)),
                  "model %d: metadata", k);
        }
        vg_model_free(back);
    }
    /* hard-swish as HardSwish from opset 14, as x * HardSigmoid(x) before (and read back) */
    vg_model *se = se_model();
    static const int opsets[3] = {10, 13, 17};
    for (int k = 0; se && k < 3; k++) {
        vg_model *back = NULL;
        snprintf(path, sizeof path, "%s/se%d.onnx", dir, opsets[k]);
        CHECK(vg_export_onnx(se, path, opsets[k], &err) == VG_OK, "export se %d: %s", opsets[k],
              err.msg);
        CHECK(vg_import_onnx(path, NULL, &back, &err) == VG_OK, "import se %d: %s", opsets[k],
              err.msg);
        int hswish = count_op(path, "HardSwish"), hsig = count_op(path, "HardSigmoid");
        CHECK(opsets[k] >= 14 ? hswish == 2 && hsig == 2 : hswish == 0 && hsig == 4,
              "opset %d: %d HardSwish, %d HardSigmoid", opsets[k], hswish, hsig);
        CHECK(count_op(path, "Mul") == (opsets[k] >= 14 ? 2 : 4) && count_op(path, "Sigmoid") == 1,
              "opset %d: Mul / Sigmoid nodes", opsets[k]);
        if (back) {
            double d = max_diff(se, back);
            CHECK(d < 1e-5, "se model, opset %d: round trip differs by %g", opsets[k], d);
            for (int i = 0; i < se->g.n_nodes; i++)
                CHECK(back->g.nodes[i].op == se->g.nodes[i].op &&
                          back->g.nodes[i].act == se->g.nodes[i].act,
                      "opset %d: node %d read back as another op / activation", opsets[k], i);
        }
        vg_model_free(back);
    }
    /* the new operations and activations survive vigie's own format */
    snprintf(path, sizeof path, "%s/se.vgm", dir);
    vg_model *sv = NULL;
    CHECK(se && vg_model_save(se, path, &err) == VG_OK && vg_model_load(path, &sv, &err) == VG_OK,
          "se model through .vgm: %s", err.msg);
    if (sv) CHECK(max_diff(se, sv) == 0, "se model: .vgm changes its outputs");
    vg_model_free(sv);
    /* an ONNX HardSigmoid other than PyTorch's, a Mul by a constant: refused by name */
    snprintf(path, sizeof path, "%s/se_edit.onnx", dir);
    Onnx__ModelProto *sp = se ? exported(se, path) : NULL;
    CHECK(sp != NULL, "unpack the se export");
    if (sp) {
        Onnx__GraphProto *g = sp->graph;
        for (size_t i = 0; i < g->n_node; i++) {
            Onnx__NodeProto *n = g->node[i];
            if (!strcmp(n->op_type, "HardSigmoid")) {
                float keep = n->attribute[0]->f;
                n->attribute[0]->f = 0.2f; /* Keras's hard-sigmoid */
                refused(sp, VG_ERR_UNSUPPORTED, "HardSigmoid(alpha 0.2", "Keras hard-sigmoid");
                n->attribute[0]->f = keep;
            }
            if (!strcmp(n->op_type, "Mul") && n->n_input == 2) {
                char *keep = n->input[1];
                n->input[1] = g->initializer[0]->name;
                refused(sp, VG_ERR_UNSUPPORTED, "Mul by a constant", "Mul by a constant");
                n->input[1] = keep;
            }
        }
        onnx__model_proto__free_unpacked(sp, NULL);
    }
    vg_model_free(se);
    /* the caller's normalisation wins over the metadata */
    vg_onnx_import_opts o = {true, true, {1, 2, 3}, {4, 5, 6}};
    vg_model *back = NULL;
    snprintf(path, sizeof path, "%s/rt0.onnx", dir);
    CHECK(vg_import_onnx(path, &o, &back, &err) == VG_OK && back->input.mean[2] == 3 &&
              back->input.std[0] == 4,
          "--mean / --std: %s", err.msg);
    vg_model_free(back);
    /* edited files: each refused with a message naming the problem */
    Onnx__ModelProto *mp = exported(models[0], path);
    CHECK(mp != NULL, "unpack the export");
    if (mp) {
        Onnx__GraphProto *g = mp->graph;
        /* truncations: refused with a message, or (a cut that only drops trailing metadata
         * leaves a valid file) the same network */
        size_t n = onnx__model_proto__get_packed_size(mp);
        uint8_t *buf = malloc(n);
        int clean = 0, tried = 0, accepted = 0;
        if (buf) {
            onnx__model_proto__pack(mp, buf);
            for (size_t cut = 1; cut < n; cut += n / 97 + 1) {
                vg_model *t = NULL;
                vg_status st = vg_import_onnx_mem(buf, cut, "cut.onnx", NULL, &t, &err);
                tried++;
                if (st == VG_OK) accepted++;
                clean += st != VG_OK ? t == NULL && err.msg[0] != 0 : max_diff(models[0], t) < 1e-5;
                vg_model_free(t);
            }
        }
        free(buf);
        CHECK(tried > 50 && clean == tried && accepted < tried / 4,
              "%d of %d truncations clean (%d accepted)", clean, tried, accepted);
        /* a missing initialiser: the first weights dropped */
        Onnx__TensorProto *w0 = g->initializer[0];
        g->initializer[0] = g->initializer[--g->n_initializer];
        refused(mp, VG_ERR_FORMAT, "is not defined before it", "missing initialiser");
        g->initializer[g->n_initializer++] = g->initializer[0];
        g->initializer[0] = w0;
        /* nodes out of order (as a cycle would be) */
        Onnx__NodeProto *t0 = g->node[0];
        g->node[0] = g->node[1], g->node[1] = t0;
        refused(mp, VG_ERR_FORMAT, "is not defined before it", "nodes out of order");
        g->node[1] = g->node[0], g->node[0] = t0;
        /* huge dimensions */
        int64_t d0 = w0->dims[0];
        w0->dims[0] = (int64_t)1 << 40;
        refused(mp, VG_ERR_FORMAT, "out of range", "huge dimension");
        w0->dims[0] = d0;
        /* another data type */
        w0->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
        refused(mp, VG_ERR_UNSUPPORTED, "data type", "int32 weights");
        w0->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        /* weights of the wrong size */
        w0->raw_data.len -= 4;
        refused(mp, VG_ERR_FORMAT, "floats declared", "short weights");
        w0->raw_data.len += 4;
        /* an old opset */
        mp->opset_import[0]->version = 7;
        refused(mp, VG_ERR_UNSUPPORTED, "opset 7", "opset 7");
        mp->opset_import[0]->version = 19;
        refused(mp, VG_ERR_UNSUPPORTED, "opset 19", "opset 19");
        mp->opset_import[0]->version = 13;
        /* an unknown operator, named */
        char *op = g->node[2]->op_type;
        g->node[2]->op_type = "LSTM";
        refused(mp, VG_ERR_UNSUPPORTED, "(LSTM): operator not supported", "unknown operator");
        g->node[2]->op_type = op;
        /* a dynamic input size */
        Onnx__TensorShapeProto__Dimension *dh = g->input[0]->type->tensor_type->shape->dim[2];
        int64_t h0 = dh->dim_value; /* (a oneof: one field at a time) */
        dh->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        dh->dim_param = "height";
        refused(mp, VG_ERR_UNSUPPORTED, "not fixed", "dynamic input");
        dh->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dh->dim_value = h0;
        /* not protobuf at all */
        vg_model *t = NULL;
        CHECK(vg_import_onnx_mem("\xff\xff\xff\xff", 4, "junk.onnx", NULL, &t, &err) ==
                      VG_ERR_FORMAT &&
                  strstr(err.msg, "junk.onnx"),
              "junk: %s", err.msg);
        /* and the edits undone: accepted again */
        size_t n2 = onnx__model_proto__get_packed_size(mp);
        uint8_t *b2 = malloc(n2);
        if (b2) {
            onnx__model_proto__pack(mp, b2);
            CHECK(vg_import_onnx_mem(b2, n2, "restored.onnx", NULL, &t, &err) == VG_OK,
                  "restored: %s", err.msg);
            vg_model_free(t);
        }
        free(b2);
        onnx__model_proto__free_unpacked(mp, NULL);
    }
    vg_model_free(models[0]), vg_model_free(models[1]);
}

/* ---- a QDQ model evaluated as the ONNX specification defines its operators (not with vigie's
 * kernels): QuantizeLinear (x / scale in float32, rounded half to even, + zero point,
 * saturated), DequantizeLinear (per tensor, or per channel along `axis`), Conv (sums in
 * double, rounded once to float), Gemm, Relu, Clip, Add, GlobalAveragePool, Flatten, Softmax.
 * Enough for what vg_export_onnx_qdq writes of the model below; anything else fails. */

typedef struct {
    const char *name;
    float *v; /* codes of integer tensors held exactly as floats */
    int64_t d[4];
    int rank;
} qv;

typedef struct {
    qv t[512];
    int n;
} qvals;

static qv *qfind(qvals *V, const char *name) {
    for (int i = 0; i < V->n; i++)
        if (!strcmp(V->t[i].name, name)) return &V->t[i];
    return NULL;
}

static int64_t qcount(const qv *t) {
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++)
        n *= t->d[k];
    return n;
}

static qv *qnew(qvals *V, const char *name, const int64_t *d, int rank) {
    if (V->n == 512) return NULL;
    qv *t = &V->t[V->n++];
    t->name = name, t->rank = rank;
    for (int k = 0; k < rank; k++)
        t->d[k] = d[k];
    t->v = calloc((size_t)qcount(t) + 1, sizeof(float));
    return t->v ? t : NULL;
}

static int64_t qattr_ints(const Onnx__NodeProto *n, const char *name, int k, int64_t def) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i]->n_ints ? n->attribute[i]->ints[k] : n->attribute[i]->i;
    return def;
}

/* qdq_eval on the values V (which the caller frees) */
static float *qdq_run(qvals *V, const Onnx__ModelProto *mp, const float *x, int C, int H, int W,
                      int *n_out) {
    const Onnx__GraphProto *g = mp->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        qv *q = qnew(V, t->name, t->dims, (int)t->n_dims);
        if (!q) return NULL;
        const uint8_t *r = t->raw_data.data;
        for (int64_t k = 0; k < qcount(q); k++) {
            if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8) {
                q->v[k] = (float)(int8_t)r[k];
            } else {
                uint32_t u = (uint32_t)r[4 * k] | (uint32_t)r[4 * k + 1] << 8 |
                             (uint32_t)r[4 * k + 2] << 16 | (uint32_t)r[4 * k + 3] << 24;
                int32_t i32;
                memcpy(&i32, &u, 4);
                if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
                    q->v[k] = (float)i32;
                else
                    memcpy(&q->v[k], &u, 4);
            }
        }
    }
    int64_t din[4] = {1, C, H, W};
    qv *in = qnew(V, "input", din, 4);
    if (!in) return NULL;
    memcpy(in->v, x, sizeof(float) * (size_t)(C * H * W));
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        const char *op = n->op_type;
        qv *a[3] = {NULL, NULL, NULL};
        for (size_t k = 0; k < n->n_input && k < 3; k++)
            if (!(a[k] = qfind(V, n->input[k]))) return NULL;
        qv *y = NULL;
        if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) {
            bool q = op[0] == 'Q';
            int ax = (int)qattr_ints(n, "axis", 0, 1);
            y = qnew(V, n->output[0], a[0]->d, a[0]->rank);
            if (!y) return NULL;
            int64_t cnt = qcount(a[0]), inner = 1;
            for (int k = ax + 1; k < a[0]->rank; k++)
                inner *= a[0]->d[k];
            for (int64_t k = 0; k < cnt; k++) {
                int64_t c = a[1]->rank == 0 ? 0 : (k / inner) % a[0]->d[ax];
                float sc = a[1]->v[c], zp = a[2]->v[c];
                y->v[k] = q ? fminf(fmaxf(nearbyintf(a[0]->v[k] / sc) + zp, -128), 127)
                            : (a[0]->v[k] - zp) * sc;
            }
        } else if (!strcmp(op, "Conv")) {
            const int64_t ci = a[0]->d[1], h = a[0]->d[2], w = a[0]->d[3], co = a[1]->d[0];
            const int64_t kh = a[1]->d[2], kw = a[1]->d[3], grp = qattr_ints(n, "group", 0, 1);
            const int64_t st = qattr_ints(n, "strides", 0, 1), pt = qattr_ints(n, "pads", 0, 0),
                          pl = qattr_ints(n, "pads", 1, 0), pb = qattr_ints(n, "pads", 2, 0),
                          pr = qattr_ints(n, "pads", 3, 0);
            const int64_t ho = (h + pt + pb - kh) / st + 1, wo = (w + pl + pr - kw) / st + 1;
            const int64_t cig = ci / grp, cog = co / grp;
            int64_t d[4] = {1, co, ho, wo};
            if (!(y = qnew(V, n->output[0], d, 4))) return NULL;
            for (int64_t o = 0; o < co; o++)
                for (int64_t oy = 0; oy < ho; oy++)
                    for (int64_t ox = 0; ox < wo; ox++) {
                        double acc = a[2] ? a[2]->v[o] : 0;
                        for (int64_t c = 0; c < cig; c++)
                            for (int64_t ky = 0; ky < kh; ky++)
                                for (int64_t kx = 0; kx < kw; kx++) {
                                    int64_t iy = oy * st - pt + ky, ix = ox * st - pl + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    acc +=
                                        (double)a[0]->v[((o / cog * cig + c) * h + iy) * w + ix] *
                                        a[1]->v[((o * cig + c) * kh + ky) * kw + kx];
                                }
                        y->v[(o * ho + oy) * wo + ox] = (float)acc;
                    }
        } else if (!strcmp(op, "Gemm")) { /* transB = 1 */
            const int64_t K = a[1]->d[1], M = a[1]->d[0], d[2] = {1, M};
            if (!(y = qnew(V, n->output[0], d, 2))) return NULL;
            for (int64_t o = 0; o < M; o++) {
                double acc = a[2]->v[o];
                for (int64_t k = 0; k < K; k++)
                    acc += (double)a[0]->v[k] * a[1]->v[o * K + k];
                y->v[o] = (float)acc;
            }
        } else if (!strcmp(op, "GlobalAveragePool")) {
            const int64_t c = a[0]->d[1], hw = a[0]->d[2] * a[0]->d[3], d[4] = {1, c, 1, 1};
            if (!(y = qnew(V, n->output[0], d, 4))) return NULL;
            for (int64_t k = 0; k < c; k++) {
                double sum = 0;
                for (int64_t p = 0; p < hw; p++)
                    sum += a[0]->v[k * hw + p];
                y->v[k] = (float)(sum / (double)hw);
            }
        } else if (!strcmp(op, "Flatten")) {
            int64_t d[2] = {1, qcount(a[0])};
            if (!(y = qnew(V, n->output[0], d, 2))) return NULL;
            memcpy(y->v, a[0]->v, sizeof(float) * (size_t)d[1]);
        } else {
            y = qnew(V, n->output[0], a[0]->d, a[0]->rank);
            if (!y) return NULL;
            int64_t cnt = qcount(a[0]);
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < cnt; k++)
                mx = fmax(mx, a[0]->v[k]);
            for (int64_t k = 0; k < cnt; k++) {
                float v = a[0]->v[k];
                if (!strcmp(op, "Relu"))
                    y->v[k] = fmaxf(v, 0);
                else if (!strcmp(op, "Clip"))
                    y->v[k] = fminf(fmaxf(v, a[1]->v[0]), a[2]->v[0]);
                else if (!strcmp(op, "Add"))
                    y->v[k] = v + a[1]->v[k];
                else if (!strcmp(op, "Softmax"))
                    sum += exp(v - mx);
                else
                    return NULL;
            }
            for (int64_t k = 0; !strcmp(op, "Softmax") && k < cnt; k++)
                y->v[k] = (float)(exp(a[0]->v[k] - mx) / sum);
        }
    }
    qv *out = qfind(V, g->output[0]->name);
    if (!out) return NULL;
    *n_out = (int)qcount(out);
    float *r = malloc(sizeof(float) * (size_t)*n_out);
    if (r) memcpy(r, out->v, sizeof(float) * (size_t)*n_out);
    return r;
}

/* evaluates mp on x (1, C, H, W); the output's values (malloc'd), or NULL */
static float *qdq_eval(const Onnx__ModelProto *mp, const float *x, int C, int H, int W,
                       int *n_out) {
    qvals *V = calloc(1, sizeof *V);
    float *r = V ? qdq_run(V, mp, x, C, H, W, n_out) : NULL;
    for (int i = 0; V && i < V->n; i++)
        free(V->t[i].v);
    free(V);
    return r;
}

static vg_status qdq_fetch(void *ud, int i, float *in, vg_err *err) {
    (void)ud, (void)err;
    for (int j = 0; j < 10 * 9 * 3; j++)
        in[j] = 1.2f * sinf(0.37f * (float)j + 0.9f * (float)i) + 0.3f * cosf((float)(i * j % 7));
    return VG_OK;
}

/* An int8 engine (conv SAME stride 2 ReLU6, depthwise with explicit padding and ReLU, 1x1 conv,
 * residual add with ReLU6, pool, FC ReLU, FC, softmax) exported as QDQ and evaluated by the
 * specification gives the engine's integer logits: the same probabilities as vigie's int8
 * runner. Rounding can differ only where a value falls within float error of a half (none
 * here: the inputs are fixed). A float model and an opset below 13 are refused. */
static void check_qdq(const char *dir) {
    vg_model *m = vg_model_new();
    if (!m) return;
    m->input = (vg_input_spec){10, 9, 3, {100, 110, 120}, {50, 55, 60}};
    vg_graph *g = &m->g;
    int pad[4] = {1, 1, 1, 1};
    int x = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int d = vg_graph_dwconv(g, x, 8, 3, 3, 1, VG_PAD_EXPLICIT, pad, true, VG_ACT_RELU);
    d = vg_graph_conv(g, d, 8, 8, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    int a = vg_graph_add(g, d, x, VG_ACT_RELU6);
    a = vg_graph_gap(g, a);
    a = vg_graph_fc(g, a, 8, 5, true, VG_ACT_RELU);
    a = vg_graph_fc(g, a, 5, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, a);
    vg_test_seed(5);
    vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
    char path[1024];
    vg_err err;
    snprintf(path, sizeof path, "%s/qdq.onnx", dir);
    CHECK(vg_export_onnx_qdq(m, path, 13, &err) == VG_ERR_ARG && strstr(err.msg, "int8 engine"),
          "QDQ of a float model: %s", err.msg);
    vg_calib_table t;
    CHECK(vg_calibrate(m, 32, qdq_fetch, NULL, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err) ==
                  VG_OK &&
              vg_model_quantize(m, &t, true, &err) == VG_OK,
          "quantize: %s", err.msg);
    vg_calib_table_free(&t);
    CHECK(vg_export_onnx_qdq(m, path, 10, &err) == VG_ERR_ARG && strstr(err.msg, "opset 13"),
          "QDQ at opset 10: %s", err.msg);
    CHECK(vg_export_onnx_qdq(m, path, 0, &err) == VG_OK, "QDQ export: %s", err.msg);
    CHECK(count_op(path, "QuantizeLinear") == 8 && count_op(path, "DequantizeLinear") == 8 + 2 * 5,
          "QDQ nodes: %d quantize, %d dequantize (8 activations, 5 layers' weights and biases)",
          count_op(path, "QuantizeLinear"), count_op(path, "DequantizeLinear"));
    Onnx__ModelProto *mp = unpacked(path);
    vg_runner *r = NULL;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = VG_PRECISION_INT8;
    CHECK(mp && vg_runner_init(&r, m, &o, &err) == VG_OK, "runner: %s", err.msg);
    float in[10 * 9 * 3], nchw[10 * 9 * 3], y[3];
    int same = 0;
    for (int k = 0; mp && r && k < 8; k++) {
        qdq_fetch(NULL, 100 + k, in, &err);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 90; i++)
                nchw[c * 90 + i] = in[i * 3 + c];
        vg_runner_forward(r, in, y);
        int n_out = 0;
        float *p = qdq_eval(mp, nchw, 3, m->input.h, m->input.w, &n_out);
        CHECK(p && n_out == 3, "QDQ evaluation of input %d", k);
        if (p && n_out == 3) {
            double dp = fmax(fabs(p[0] - y[0]), fmax(fabs(p[1] - y[1]), fabs(p[2] - y[2])));
            CHECK(dp < 1e-6, "input %d: QDQ probabilities %g %g %g, vigie int8 %g %g %g", k, p[0],
                  p[1], p[2], y[0], y[1], y[2]);
            same += dp < 1e-6;
        }
        free(p);
    }
    CHECK(same == 8, "QDQ agrees with vigie's integers on %d / 8 inputs", same);
    vg_runner_free(r);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    vg_model_free(m);
}

/* tools/onnx_fixtures.py: torchvision models with random weights, exported by PyTorch, with
 * PyTorch's outputs on a fixed input (raw float32: the NCHW input, then the outputs) */
static void check_fixture(const char *name, const char *ref_name, int n_out) {
    char onnx[256], ref[256];
    snprintf(onnx, sizeof onnx, "tests/fixtures/onnx/%s.onnx", name);
    snprintf(ref, sizeof ref, "tests/fixtures/onnx/%s.bin", ref_name);
    vg_model *m = NULL;
    vg_err err;
    CHECK(vg_import_onnx(onnx, NULL, &m, &err) == VG_OK, "%s: %s", name, err.msg);
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK(vg_file_read(ref, (size_t)1 << 24, &data, &size, &err) == VG_OK, "%s", err.msg);
    if (m && data) {
        const int C = m->input.c, H = m->input.h, W = m->input.w;
        size_t in = (size_t)C * H * W;
        CHECK(size == sizeof(float) * (in + (size_t)n_out) && vg_model_n_outputs(m) == n_out,
              "%s: %zu bytes of reference, %d outputs", name, size, vg_model_n_outputs(m));
        float *ref_in = (float *)data, *ref_out = ref_in + in;
        float *x = malloc(sizeof(float) * in), *y = malloc(sizeof(float) * (size_t)n_out);
        vg_runner *r = NULL;
        vg_runner_opts o = vg_runner_opts_default();
        o.precision = VG_PRECISION_FLOAT;
        if (x && y && size == sizeof(float) * (in + (size_t)n_out) &&
            vg_runner_init(&r, m, &o, &err) == VG_OK) {
            for (int c = 0; c < C; c++) /* NCHW -> vigie's HWC */
                for (int i = 0; i < H * W; i++)
                    x[(size_t)i * C + c] = ref_in[(size_t)c * H * W + i];
            vg_runner_forward(r, x, y);
            size_t worst = 0;
            double rel = vg_test_max_rel_err(y, ref_out, (size_t)n_out, 1e-2, &worst);
            CHECK(rel < 1e-4, "%s: relative error %g at output %zu (%g vs PyTorch %g)", name, rel,
                  worst, (double)y[worst], (double)ref_out[worst]);
        }
        vg_runner_free(r);
        free(x), free(y);
    }
    free(data);
    vg_model_free(m);
}

void test_onnx(void) {
    check_round_trip(vg_test_tmpdir());
    check_qdq(vg_test_tmpdir());
    check_fixture("mobilenet_v2", "mobilenet_v2", 10);
    /* hard-swish as PyTorch writes it below opset 14 (x * HardSigmoid(x)) and as HardSwish;
     * squeeze-excitation's Mul of (N, C, 1, 1) channel weights */
    check_fixture("mobilenet_v3_small_op13", "mobilenet_v3_small", 10);
    check_fixture("mobilenet_v3_small_op17", "mobilenet_v3_small", 10);
}
