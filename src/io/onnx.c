/* onnx.c — ONNX in and out (vigie.h, vg_import_onnx / vg_export_onnx): MobileNet-style
 * classifiers trained elsewhere come in as vigie float graphs; vigie's models go out to
 * TensorRT, OpenCV DNN or ONNX Runtime. The protobuf code is generated at build time by
 * Debian's protoc-c from Debian's onnx.proto (libonnx-dev): no hand-written wire format.
 *
 * Import walks the graph's nodes in order (ONNX stores them topologically sorted; a node whose
 * input is not defined yet is a cycle or a dangling name: an error), keeping per ONNX name
 * either a vigie tensor (with its NCHW shape) or a constant (initialisers, Constant nodes).
 * Convolutions take OIHW weights to vigie's (co, kh, kw, ci) / depthwise (kh, kw, c);
 * grouped ones become plain convolutions with zero weights across groups. Relu, Clip(0, 6),
 * HardSwish, PyTorch's HardSigmoid and Sigmoid fuse into the node that produced their input
 * (vigie's activations are fields of a node), which must have no other reader; below opset
 * 14 PyTorch writes hard-swish as Mul(x, HardSigmoid(x)), which is recognised as such. Mul
 * multiplies equal shapes or (C, H, W) by (C, 1, 1) (squeeze-excitation). Flatten / Reshape
 * to (N, K) are aliases, and a Gemm or MatMul after them gets its weights permuted from ONNX's (c,
 * h, w) flattening order to vigie's (h, w, c). Every shape is checked against what vigie infers.
 *
 * Export writes the float view (NCHW input "input", already normalised; output "probs" after
 * a final softmax, else "output") at opset 13 with static shapes, the preprocessing in
 * metadata_props (vigie.mean, vigie.std on 0..255 pixels, vigie.resize, vigie.labels), which
 * import reads back: a round trip reproduces vigie's outputs. The QDQ export of an int8 engine
 * is the same graph with each activation through QuantizeLinear / DequantizeLinear at the
 * engine's scale and zero point, and the weights and biases as the engine's int8 / int32 codes
 * through DequantizeLinear (per channel, axis 0): evaluated by the operators' definitions, it
 * computes the engine's integers, except where a value falls within float error of a half. */
#include "model/runner.h"

#include "model/model.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "onnx.pb-c.h"

#define ONNX_MAX_BYTES ((size_t)1 << 30)
#define ONNX_MAX_NAMES 100000
#define ONNX_OPSET_MIN 10 /* 10: Clip's bounds as attributes (OpenCV <= 4.6 reads only those) */
#define ONNX_OPSET_MAX 18

/* Where element k of an ONNX weight tensor sits in vigie's: ONNX orders each output's weights
 * (channel, position), vigie (position, channel), over c channels and s positions. A Conv
 * (co, ci, kh, kw) is (co, kh, kw, ci) in vigie (c = ci, s = kh kw); a depthwise (c, 1, kh, kw)
 * is (kh, kw, c) (one "output", c = channels); a Gemm's (M, K) with K flattened (c, h, w) is
 * vigie's FC with K flattened (h, w, c) (s = h w). Import and export both go through it, so
 * that one is the other's inverse. */
static int64_t chw_to_hwc(int64_t k, int64_t c, int64_t s) {
    const int64_t K = c * s, r = k % K;
    return k - r + (r % s) * c + r / s;
}

/* ---- import ------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    bool is_const;
    /* a tensor: vigie id, NCHW shape per image (c, h, w); flat: a (N, c*h*w) view of it */
    int tid, c, h, w;
    bool flat;
    /* a constant: float data (or int64), dims */
    const Onnx__TensorProto *t;
    int rank;
    int64_t dims[8];
    int64_t count;
    float *f;   /* owned (NULL for int64 constants) */
    int64_t *i; /* owned (int64 constants) */
    int uses;   /* readers, for fusing activations */
    /* a HardSigmoid not fused yet: 1 + the entry of its input, which only Mul(x, this) may
     * read (PyTorch writes hard-swish as x * HardSigmoid(x) below opset 14) */
    int hsig_of1;
} name_ent;

typedef struct {
    const char *file;
    vg_err *err;
    vg_model *m;
    name_ent *ents;
    int n_ents, cap_ents;
    int *hash; /* open addressing into ents, -1 empty */
    int hash_cap;
    int opset;
    const Onnx__NodeProto *node; /* the node being imported, for messages */
    bool allow_pending;          /* Mul may read an unfused HardSigmoid (name_ent.hsig_of1) */
    /* readers of each vigie tensor under all its names (aliases, the graph output included):
     * a layer takes an activation or a bias only when nothing else reads its output */
    int tuse[VG_MAX_NODES + 2];
    /* how many node inputs name each string (for fusing activations): open addressing */
    const char **use_name;
    int *use_count;
    int use_cap;
} imp;

static vg_status fail(imp *im, vg_status s, const char *fmt, ...) VG_PRINTF(3, 4);
static vg_status fail(imp *im, vg_status s, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (im->node)
        return vg_err_set(im->err, s, "%s: node '%.80s' (%.40s): %s", im->file,
                          im->node->name ? im->node->name : "",
                          im->node->op_type ? im->node->op_type : "?", msg);
    return vg_err_set(im->err, s, "%s: %s", im->file, msg);
}

static uint64_t name_hash(const char *s) {
    return vg_hash64(s, strlen(s), 0x6f6e6e78u);
}

static int find(const imp *im, const char *name) {
    if (!name || !im->hash_cap) return -1;
    for (uint64_t k = name_hash(name) & (uint64_t)(im->hash_cap - 1);;
         k = (k + 1) & (uint64_t)(im->hash_cap - 1)) {
        int e = im->hash[k];
        if (e < 0) return -1;
        if (!strcmp(im->ents[e].name, name)) return e;
    }
}

/* the readers of a name (node inputs naming it) */
static int uses_of(const imp *im, const char *name) {
    if (!im->use_cap) return 0;
    for (uint64_t k = name_hash(name) & (uint64_t)(im->use_cap - 1);;
         k = (k + 1) & (uint64_t)(im->use_cap - 1)) {
        if (!im->use_name[k]) return 0;
        if (!strcmp(im->use_name[k], name)) return im->use_count[k];
    }
}

static vg_status count_uses(imp *im, const Onnx__GraphProto *g) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += g->node[i]->n_input;
    n += g->n_output;
    int cap = 16;
    while ((size_t)cap < 2 * n + 2)
        cap *= 2;
    im->use_name = vg_calloc((size_t)cap, sizeof(char *));
    im->use_count = vg_calloc((size_t)cap, sizeof(int));
    if (!im->use_name || !im->use_count) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    im->use_cap = cap;
    for (size_t i = 0; i <= g->n_node; i++) { /* the graph's outputs last: read by the user */
        size_t nk = i < g->n_node ? g->node[i]->n_input : g->n_output;
        for (size_t k = 0; k < nk; k++) {
            const char *s = i < g->n_node ? g->node[i]->input[k] : g->output[k]->name;
            if (!s || !*s) continue;
            uint64_t h = name_hash(s) & (uint64_t)(cap - 1);
            while (im->use_name[h] && strcmp(im->use_name[h], s))
                h = (h + 1) & (uint64_t)(cap - 1);
            im->use_name[h] = s;
            im->use_count[h]++;
        }
    }
    return VG_OK;
}

/* a new name (later definitions of the same name are an error: ONNX is single-assignment) */
static vg_status define(imp *im, const char *name, name_ent **out) {
    if (!name || !*name) return fail(im, VG_ERR_FORMAT, "an output without a name");
    if (find(im, name) >= 0) return fail(im, VG_ERR_FORMAT, "'%.80s' is defined twice", name);
    if (im->n_ents >= ONNX_MAX_NAMES)
        return fail(im, VG_ERR_FORMAT, "more than %d names", ONNX_MAX_NAMES);
    if (im->n_ents == im->cap_ents) {
        int cap = im->cap_ents ? im->cap_ents * 2 : 256;
        name_ent *e = vg_realloc(im->ents, sizeof *e * (size_t)cap);
        if (!e) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        im->ents = e;
        im->cap_ents = cap;
    }
    if (2 * (im->n_ents + 1) > im->hash_cap) { /* rehash at half full */
        int cap = im->hash_cap ? im->hash_cap * 2 : 512;
        int *h = vg_malloc(sizeof(int) * (size_t)cap);
        if (!h) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        for (int i = 0; i < cap; i++)
            h[i] = -1;
        for (int e = 0; e < im->n_ents; e++) {
            uint64_t k = name_hash(im->ents[e].name) & (uint64_t)(cap - 1);
            while (h[k] >= 0)
                k = (k + 1) & (uint64_t)(cap - 1);
            h[k] = e;
        }
        free(im->hash);
        im->hash = h;
        im->hash_cap = cap;
    }
    name_ent *e = &im->ents[im->n_ents];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->tid = -1;
    e->uses = uses_of(im, name);
    uint64_t k = name_hash(name) & (uint64_t)(im->hash_cap - 1);
    while (im->hash[k] >= 0)
        k = (k + 1) & (uint64_t)(im->hash_cap - 1);
    im->hash[k] = im->n_ents++;
    *out = e;
    return VG_OK;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* a TensorProto as a constant: FLOAT (float_data or raw little-endian) or INT64 */
static vg_status const_of(imp *im, const Onnx__TensorProto *t, name_ent *e) {
    if (t->n_dims > 8) return fail(im, VG_ERR_UNSUPPORTED, "'%.80s': rank %zu", e->name, t->n_dims);
    int64_t count = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > VG_MAX_PARAMS ||
            __builtin_mul_overflow(count, t->dims[d], &count) || count > VG_MAX_PARAMS)
            return fail(im, VG_ERR_FORMAT, "'%.80s': dimensions out of range", e->name);
        e->dims[d] = t->dims[d];
    }
    e->rank = (int)t->n_dims;
    e->count = count;
    e->is_const = true;
    e->t = t;
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "'%.80s': weights in an external file (save the model with its weights "
                    "inside)",
                    e->name);
    bool raw = t->has_raw_data;
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        if (raw ? t->raw_data.len != (size_t)count * 4 : t->n_float_data != (size_t)count)
            return fail(im, VG_ERR_FORMAT, "'%.80s': %lld floats declared, %zu given", e->name,
                        (long long)count, raw ? t->raw_data.len / 4 : t->n_float_data);
        if (!(e->f = vg_malloc(sizeof(float) * ((size_t)count + 1))))
            return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < count; i++) {
            if (raw) {
                uint32_t v = rd32(t->raw_data.data + 4 * i);
                memcpy(&e->f[i], &v, 4);
            } else {
                e->f[i] = t->float_data[i];
            }
            if (!isfinite(e->f[i]))
                return fail(im, VG_ERR_FORMAT, "'%.80s': a value is not finite", e->name);
        }
        return VG_OK;
    }
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        if (raw ? t->raw_data.len != (size_t)count * 8 : t->n_int64_data != (size_t)count)
            return fail(im, VG_ERR_FORMAT, "'%.80s': %lld integers declared, other data given",
                        e->name, (long long)count);
        if (count > 64)
            return fail(im, VG_ERR_UNSUPPORTED, "'%.80s': a long integer constant", e->name);
        if (!(e->i = vg_malloc(sizeof(int64_t) * ((size_t)count + 1))))
            return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < count; i++)
            e->i[i] = raw ? (int64_t)((uint64_t)rd32(t->raw_data.data + 8 * i) |
                                      (uint64_t)rd32(t->raw_data.data + 8 * i + 4) << 32)
                          : t->int64_data[i];
        return VG_OK;
    }
    return fail(im, VG_ERR_UNSUPPORTED, "'%.80s': data type %d (vigie takes float32 and int64)",
                e->name, t->data_type);
}

/* input k of the node: a defined name (or NULL when absent / empty and optional) */
static vg_status input(imp *im, size_t k, bool optional, name_ent **out) {
    *out = NULL;
    const Onnx__NodeProto *n = im->node;
    if (k >= n->n_input || !n->input[k] || !*n->input[k]) {
        if (optional) return VG_OK;
        return fail(im, VG_ERR_FORMAT, "input %zu missing", k);
    }
    int e = find(im, n->input[k]);
    if (e < 0)
        return fail(im, VG_ERR_FORMAT,
                    "input '%.80s' is not defined before it (nodes out of order, a cycle, or a "
                    "missing initialiser)",
                    n->input[k]);
    if (im->ents[e].hsig_of1 && !im->allow_pending)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "input '%.80s': a HardSigmoid vigie cannot fuse into the layer before it "
                    "(its input is read elsewhere too)",
                    n->input[k]);
    *out = &im->ents[e];
    return VG_OK;
}

static vg_status tensor_in(imp *im, size_t k, name_ent **out) {
    vg_status st = input(im, k, false, out);
    if (st == VG_OK && (*out)->is_const)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "input '%.80s' is a constant where vigie needs a "
                    "computed tensor",
                    (*out)->name);
    return st;
}

static vg_status const_in(imp *im, size_t k, bool optional, name_ent **out) {
    vg_status st = input(im, k, optional, out);
    if (st == VG_OK && *out && (!(*out)->is_const || !(*out)->f))
        return fail(im, VG_ERR_UNSUPPORTED, "input '%.80s' must be a float constant (weights)",
                    (*out)->name);
    return st;
}

static const Onnx__AttributeProto *attr(const imp *im, const char *name) {
    for (size_t i = 0; i < im->node->n_attribute; i++)
        if (im->node->attribute[i]->name && !strcmp(im->node->attribute[i]->name, name))
            return im->node->attribute[i];
    return NULL;
}

static int64_t attr_i(const imp *im, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = attr(im, name);
    return a && a->has_i ? a->i : def;
}

static float attr_f(const imp *im, const char *name, float def) {
    const Onnx__AttributeProto *a = attr(im, name);
    return a && a->has_f ? a->f : def;
}

/* ints attribute: count, or -1 when absent */
static int attr_ints(const imp *im, const char *name, int64_t *v, int max) {
    const Onnx__AttributeProto *a = attr(im, name);
    if (!a) return -1;
    int n = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < n; i++)
        v[i] = a->ints[i];
    return (int)a->n_ints;
}

/* the output of the node as tensor tid with shape (c, h, w) */
static vg_status output_tensor(imp *im, int tid, int c, int h, int w, bool flat) {
    if (tid < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    if (im->node->n_output < 1) return fail(im, VG_ERR_FORMAT, "no output");
    name_ent *e;
    vg_status st = define(im, im->node->output[0], &e);
    if (st != VG_OK) return st;
    e->tid = tid, e->c = c, e->h = h, e->w = w, e->flat = flat;
    im->tuse[tid] = e->uses;
    return VG_OK;
}

/* shapes of every vigie tensor so far */
static vg_status shapes(imp *im, vg_shape **sh) {
    const vg_graph *g = &im->m->g;
    *sh = vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    if (!*sh) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    vg_status st =
        vg_graph_infer(g, im->m->input.h, im->m->input.w, im->m->input.c, NULL, *sh, im->err);
    if (st != VG_OK) {
        free(*sh);
        *sh = NULL;
    }
    return st;
}

/* (h, w) of tensor tid as vigie computes it */
static vg_status spatial(imp *im, int tid, int *h, int *w) {
    vg_shape *sh;
    vg_status st = shapes(im, &sh);
    if (st != VG_OK) return st;
    *h = sh[tid].h, *w = sh[tid].w;
    free(sh);
    return VG_OK;
}

static vg_status imp_conv(imp *im) {
    name_ent *x, *W, *B;
    vg_status st = tensor_in(im, 0, &x);
    if (st == VG_OK) st = const_in(im, 1, false, &W);
    if (st == VG_OK) st = const_in(im, 2, true, &B);
    if (st != VG_OK) return st;
    if (x->flat || W->rank != 4)
        return fail(im, VG_ERR_UNSUPPORTED, "only 2-D convolutions of NCHW tensors");
    int64_t co = W->dims[0], cig = W->dims[1], kh = W->dims[2], kw = W->dims[3];
    int64_t group = attr_i(im, "group", 1), v[8];
    if (kh < 1 || kw < 1 || kh > VG_MAX_KERNEL || kw > VG_MAX_KERNEL || co < 1 ||
        co > VG_MAX_CHANNELS)
        return fail(im, VG_ERR_UNSUPPORTED, "kernel %lldx%lld, %lld outputs", (long long)kh,
                    (long long)kw, (long long)co);
    if (B && B->count != co)
        return fail(im, VG_ERR_FORMAT, "bias of %lld for %lld outputs", (long long)B->count,
                    (long long)co);
    int n = attr_ints(im, "kernel_shape", v, 8);
    if (n >= 0 && (n != 2 || v[0] != kh || v[1] != kw))
        return fail(im, VG_ERR_FORMAT, "kernel_shape differs from the weights");
    n = attr_ints(im, "dilations", v, 8);
    if (n >= 0 && (n != 2 || v[0] != 1 || v[1] != 1))
        return fail(im, VG_ERR_UNSUPPORTED, "dilated convolutions");
    int64_t sh = 1, sw = 1;
    n = attr_ints(im, "strides", v, 8);
    if (n >= 0) {
        if (n != 2) return fail(im, VG_ERR_FORMAT, "strides of %d values", n);
        sh = v[0], sw = v[1];
    }
    if (sh != sw || sh < 1 || sh > VG_MAX_STRIDE)
        return fail(im, VG_ERR_UNSUPPORTED, "strides %lldx%lld (vigie: equal, 1..%d)",
                    (long long)sh, (long long)sw, VG_MAX_STRIDE);
    int pad[4] = {0, 0, 0, 0};
    vg_pad_mode pm = VG_PAD_EXPLICIT;
    const Onnx__AttributeProto *ap = attr(im, "auto_pad");
    const char *auto_pad = ap && ap->has_s ? (const char *)ap->s.data : NULL;
    size_t apl = ap && ap->has_s ? ap->s.len : 0;
    if (auto_pad && apl == 10 && !memcmp(auto_pad, "SAME_UPPER", 10))
        pm = VG_PAD_SAME; /* TensorFlow's SAME: the extra pixel after */
    else if (auto_pad && !(apl == 6 && !memcmp(auto_pad, "NOTSET", 6)) &&
             !(apl == 5 && !memcmp(auto_pad, "VALID", 5)))
        return fail(im, VG_ERR_UNSUPPORTED, "auto_pad %.*s", (int)(apl < 20 ? apl : 20), auto_pad);
    n = attr_ints(im, "pads", v, 8);
    if (n >= 0) { /* x1_begin, x2_begin, x1_end, x2_end: top, left, bottom, right */
        if (n != 4) return fail(im, VG_ERR_FORMAT, "pads of %d values", n);
        for (int k = 0; k < 4; k++) {
            if (v[k] < 0 || v[k] > VG_MAX_KERNEL)
                return fail(im, VG_ERR_UNSUPPORTED, "padding %lld", (long long)v[k]);
            pad[k] = (int)v[k];
        }
    }
    const int ci = x->c;
    vg_graph *g = &im->m->g;
    int out;
    if (group == 1 && cig == ci) {
        out = vg_graph_conv(g, x->tid, ci, (int)co, (int)kh, (int)kw, (int)sh, pm, pad, B != NULL,
                            VG_ACT_NONE);
        if (out < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        float *w = g->params + g->nodes[out - 1].w; /* OIHW -> (co, kh, kw, ci) */
        for (int64_t k = 0; k < co * ci * kh * kw; k++)
            w[chw_to_hwc(k, ci, kh * kw)] = W->f[k];
    } else if (group == ci && co == ci && cig == 1) {
        out = vg_graph_dwconv(g, x->tid, ci, (int)kh, (int)kw, (int)sh, pm, pad, B != NULL,
                              VG_ACT_NONE);
        if (out < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        float *w = g->params + g->nodes[out - 1].w; /* (c, 1, kh, kw) -> (kh, kw, c) */
        for (int64_t k = 0; k < ci * kh * kw; k++)
            w[chw_to_hwc(k, ci, kh * kw)] = W->f[k];
    } else if (group > 1 && ci % group == 0 && co % group == 0 && cig * group == ci) {
        /* grouped: a plain convolution whose weights are zero across groups (group times the
         * work of the grouped one, the same results) */
        out = vg_graph_conv(g, x->tid, ci, (int)co, (int)kh, (int)kw, (int)sh, pm, pad, B != NULL,
                            VG_ACT_NONE);
        if (out < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        float *w = g->params + g->nodes[out - 1].w; /* zeroed by the builder */
        const int64_t cog = co / group;
        for (int64_t o = 0; o < co; o++)
            for (int64_t i = 0; i < cig; i++)
                for (int64_t y = 0; y < kh; y++)
                    for (int64_t xx = 0; xx < kw; xx++)
                        w[((o * kh + y) * kw + xx) * ci + (o / cog) * cig + i] =
                            W->f[((o * cig + i) * kh + y) * kw + xx];
    } else {
        return fail(im, VG_ERR_UNSUPPORTED,
                    "group %lld with %d input channels and weights (%lld, %lld, ...)",
                    (long long)group, ci, (long long)co, (long long)cig);
    }
    if (B) memcpy(g->params + g->nodes[out - 1].b, B->f, sizeof(float) * (size_t)co);
    int h, w;
    st = spatial(im, out, &h, &w);
    return st == VG_OK ? output_tensor(im, out, (int)co, h, w, false) : st;
}

static vg_status imp_bn(imp *im) {
    name_ent *x, *p[4];
    vg_status st = tensor_in(im, 0, &x);
    for (int k = 0; st == VG_OK && k < 4; k++)
        st = const_in(im, (size_t)k + 1, false, &p[k]);
    if (st != VG_OK) return st;
    if (x->flat) return fail(im, VG_ERR_UNSUPPORTED, "batch normalisation of a flattened tensor");
    for (int k = 0; k < 4; k++)
        if (p[k]->count != x->c)
            return fail(im, VG_ERR_FORMAT, "'%.80s' has %lld values for %d channels", p[k]->name,
                        (long long)p[k]->count, x->c);
    for (int c = 0; c < x->c; c++)
        if (!(p[3]->f[c] >= 0)) return fail(im, VG_ERR_FORMAT, "a negative variance");
    float eps = attr_f(im, "epsilon", 1e-5f);
    if (!(eps > 0 && eps < 1)) return fail(im, VG_ERR_FORMAT, "epsilon %g", (double)eps);
    vg_graph *g = &im->m->g;
    int out = vg_graph_bn(g, x->tid, x->c, eps, VG_ACT_NONE);
    if (out < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    float *dst = g->params + g->nodes[out - 1].b; /* gamma, beta, mean, var */
    for (int k = 0; k < 4; k++)
        memcpy(dst + (size_t)k * x->c, p[k]->f, sizeof(float) * (size_t)x->c);
    return output_tensor(im, out, x->c, x->h, x->w, false);
}

static vg_status alias(imp *im, name_ent *x, bool flat);

/* an activation: fused into the node that made the input, which nobody else reads */
static vg_status imp_act(imp *im, vg_act act) {
    name_ent *x;
    vg_status st = tensor_in(im, 0, &x);
    if (st != VG_OK) return st;
    vg_node *nd = x->tid > 0 ? &im->m->g.nodes[x->tid - 1] : NULL;
    if (!nd || nd->act != VG_ACT_NONE || im->tuse[x->tid] != 1 || nd->op == VG_OP_SOFTMAX)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "an activation vigie cannot fuse into the layer before it (the network "
                    "input, a layer with one already, or a tensor read elsewhere too)");
    nd->act = (uint8_t)act;
    return alias(im, x, false); /* the pre-activation name's one reader was this node */
}

/* PyTorch's hard-sigmoid, relu6(x + 3) / 6 (ONNX's default alpha is Keras's 0.2) */
static vg_status imp_hardsigmoid(imp *im) {
    float alpha = attr_f(im, "alpha", 0.2f), beta = attr_f(im, "beta", 0.5f);
    if (!(fabsf(alpha - 1.0f / 6.0f) < 1e-6f && beta == 0.5f))
        return fail(im, VG_ERR_UNSUPPORTED,
                    "HardSigmoid(alpha %g, beta %g): vigie has PyTorch's (1/6, 0.5)", (double)alpha,
                    (double)beta);
    name_ent *x;
    vg_status st = tensor_in(im, 0, &x);
    if (st != VG_OK) return st;
    const vg_node *nd = x->tid > 0 ? &im->m->g.nodes[x->tid - 1] : NULL;
    if (im->tuse[x->tid] == 1 || !nd || nd->act != VG_ACT_NONE) return imp_act(im, VG_ACT_HSIGMOID);
    /* read elsewhere too: x * HardSigmoid(x) (hard-swish) if a Mul takes both (imp_mul) */
    if (im->node->n_output < 1) return fail(im, VG_ERR_FORMAT, "no output");
    const ptrdiff_t xi = x - im->ents; /* define() may move the table */
    name_ent *e;
    st = define(im, im->node->output[0], &e);
    if (st == VG_OK) e->hsig_of1 = (int)xi + 1;
    return st;
}

/* Mul of two tensors: the same shape, or channel weights (N, C, 1, 1) times (N, C, H, W)
 * (squeeze-excitation); x * HardSigmoid(x): a hard-swish fused into x's layer */
static vg_status imp_mul(imp *im) {
    name_ent *a, *b;
    im->allow_pending = true;
    vg_status st = input(im, 0, false, &a);
    if (st == VG_OK) st = input(im, 1, false, &b);
    im->allow_pending = false;
    if (st != VG_OK) return st;
    if (a->hsig_of1) {
        name_ent *t = a;
        a = b, b = t;
    }
    if (b->hsig_of1) {
        vg_node *nd = a->tid > 0 ? &im->m->g.nodes[a->tid - 1] : NULL;
        if (b->hsig_of1 - 1 != a - im->ents || im->tuse[a->tid] != 2 || b->uses != 1 || !nd ||
            nd->act != VG_ACT_NONE || nd->op == VG_OP_SOFTMAX)
            return fail(im, VG_ERR_UNSUPPORTED,
                        "a HardSigmoid vigie cannot fuse into the layer before it (its input "
                        "is read elsewhere too)");
        nd->act = VG_ACT_HSWISH;
        im->tuse[a->tid] = 1; /* now read by this Mul only: its output is the alias */
        return alias(im, a, false);
    }
    if (a->is_const || b->is_const)
        return fail(im, VG_ERR_UNSUPPORTED, "Mul by a constant (vigie multiplies two tensors)");
    if (b->h * b->w > a->h * a->w) {
        name_ent *t = a;
        a = b, b = t;
    }
    bool same = a->h == b->h && a->w == b->w && a->flat == b->flat;
    bool per_channel = b->h == 1 && b->w == 1 && !a->flat && !b->flat;
    if (a->c != b->c || !(same || per_channel))
        return fail(im, VG_ERR_UNSUPPORTED,
                    "Mul of (%d, %d, %d) and (%d, %d, %d): vigie multiplies equal shapes, or "
                    "(C, H, W) by (C, 1, 1)",
                    a->c, a->h, a->w, b->c, b->h, b->w);
    int out = vg_graph_mul(&im->m->g, a->tid, b->tid, VG_ACT_NONE);
    return output_tensor(im, out, a->c, a->h, a->w, a->flat);
}

static vg_status imp_clip(imp *im) {
    float lo = -INFINITY, hi = INFINITY;
    if (im->opset < 11) {
        lo = attr_f(im, "min", -INFINITY), hi = attr_f(im, "max", INFINITY);
    } else {
        name_ent *a, *b;
        vg_status st = const_in(im, 1, true, &a);
        if (st == VG_OK) st = const_in(im, 2, true, &b);
        if (st != VG_OK) return st;
        if ((a && a->count != 1) || (b && b->count != 1))
            return fail(im, VG_ERR_UNSUPPORTED, "Clip bounds that are not scalars");
        if (a) lo = a->f[0];
        if (b) hi = b->f[0];
    }
    if (lo == 0 && hi == 6) return imp_act(im, VG_ACT_RELU6);
    if (lo == 0 && isinf(hi)) return imp_act(im, VG_ACT_RELU);
    return fail(im, VG_ERR_UNSUPPORTED, "Clip(%g, %g): vigie has ReLU and ReLU6", (double)lo,
                (double)hi);
}

/* an alias: the output is the input (Identity, Dropout, Flatten, Reshape to (N, K)); a
 * constant's gets its own copy of the data (each entry frees what it holds) */
static vg_status alias(imp *im, name_ent *x, bool flat) {
    name_ent *e;
    if (im->node->n_output < 1) return fail(im, VG_ERR_FORMAT, "no output");
    const ptrdiff_t xi = x - im->ents; /* define() may move the table */
    vg_status st = define(im, im->node->output[0], &e);
    if (st != VG_OK) return st;
    x = &im->ents[xi];
    int uses = e->uses;
    *e = *x;
    e->name = im->node->output[0];
    e->uses = uses;
    e->flat = x->flat || flat;
    if (x->tid >= 0) im->tuse[x->tid] += uses - 1; /* this node's read, for the alias's */
    if (!x->is_const) return VG_OK;
    size_t n = (size_t)x->count + 1;
    e->f = x->f ? vg_malloc(sizeof(float) * n) : NULL;
    e->i = x->i ? vg_malloc(sizeof(int64_t) * n) : NULL;
    if ((x->f && !e->f) || (x->i && !e->i))
        return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    if (e->f) memcpy(e->f, x->f, sizeof(float) * n);
    if (e->i) memcpy(e->i, x->i, sizeof(int64_t) * n);
    return VG_OK;
}

static vg_status imp_reshape(imp *im) {
    name_ent *x, *s;
    vg_status st = tensor_in(im, 0, &x);
    if (st == VG_OK) st = input(im, 1, false, &s);
    if (st != VG_OK) return st;
    int64_t k = (int64_t)x->c * x->h * x->w;
    if (!s->is_const || !s->i || s->count != 2 || (s->i[0] != 1 && s->i[0] != 0 && s->i[0] != -1) ||
        (s->i[1] != k && s->i[1] != -1))
        return fail(im, VG_ERR_UNSUPPORTED, "only a reshape to (N, %lld), a flattening",
                    (long long)k);
    return alias(im, x, true);
}

static vg_status imp_flatten(imp *im) {
    name_ent *x;
    vg_status st = tensor_in(im, 0, &x);
    if (st != VG_OK) return st;
    if (attr_i(im, "axis", 1) != 1)
        return fail(im, VG_ERR_UNSUPPORTED, "Flatten on an axis other than 1");
    return alias(im, x, true);
}

/* Gemm (B transposed or not) and MatMul with constant weights: a fully-connected layer whose
 * weights go from ONNX's (c, h, w) flattening to vigie's (h, w, c) */
static vg_status imp_fc(imp *im, bool gemm) {
    name_ent *x, *W, *B = NULL;
    vg_status st = tensor_in(im, 0, &x);
    if (st == VG_OK) st = const_in(im, 1, false, &W);
    if (st == VG_OK && gemm) st = const_in(im, 2, true, &B);
    if (st != VG_OK) return st;
    bool tb = gemm && attr_i(im, "transB", 0);
    if (gemm && attr_i(im, "transA", 0)) return fail(im, VG_ERR_UNSUPPORTED, "transA");
    float alpha = gemm ? attr_f(im, "alpha", 1) : 1, beta = gemm ? attr_f(im, "beta", 1) : 1;
    if (!x->flat && (x->h != 1 || x->w != 1))
        return fail(im, VG_ERR_UNSUPPORTED,
                    "a matrix product of an unflattened (N, C, H, W) tensor");
    const int64_t K = (int64_t)x->c * x->h * x->w;
    if (W->rank != 2 || (tb ? W->dims[1] : W->dims[0]) != K)
        return fail(im, VG_ERR_FORMAT, "weights (%lld, %lld) for %lld inputs",
                    (long long)W->dims[0], W->rank > 1 ? (long long)W->dims[1] : 0LL, (long long)K);
    const int64_t M = tb ? W->dims[0] : W->dims[1];
    if (M < 1 || M > VG_MAX_CHANNELS)
        return fail(im, VG_ERR_UNSUPPORTED, "%lld outputs", (long long)M);
    if (B && B->count != M && B->count != 1)
        return fail(im, VG_ERR_FORMAT, "bias of %lld for %lld outputs", (long long)B->count,
                    (long long)M);
    vg_graph *g = &im->m->g;
    /* a MatMul gets a zero bias, which a following Add of a constant fills */
    int out = vg_graph_fc(g, x->tid, (int)K, (int)M, true, VG_ACT_NONE);
    if (out < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    float *w = g->params + g->nodes[out - 1].w, *b = g->params + g->nodes[out - 1].b;
    for (int64_t k = 0; k < M * K; k++) /* k: output k / K, ONNX's flattened input k % K */
        w[chw_to_hwc(k, x->c, (int64_t)x->h * x->w)] =
            alpha * (tb ? W->f[k] : W->f[(k % K) * M + k / K]);
    for (int64_t o = 0; o < M; o++)
        b[o] = B ? beta * B->f[B->count == 1 ? 0 : o] : 0;
    return output_tensor(im, out, (int)M, 1, 1, true);
}

static vg_status imp_add(imp *im) {
    name_ent *a, *b;
    vg_status st = input(im, 0, false, &a);
    if (st == VG_OK) st = input(im, 1, false, &b);
    if (st != VG_OK) return st;
    if (a->is_const && !b->is_const) {
        name_ent *t = a;
        a = b, b = t;
    }
    vg_graph *g = &im->m->g;
    if (b->is_const) { /* a bias after a MatMul: into its fully-connected layer */
        vg_node *nd = a->tid > 0 ? &g->nodes[a->tid - 1] : NULL;
        if (!nd || nd->op != VG_OP_FC || nd->act != VG_ACT_NONE || im->tuse[a->tid] != 1 || !b->f ||
            (b->count != a->c && b->count != 1))
            return fail(im, VG_ERR_UNSUPPORTED,
                        "adding a constant other than a fully-connected layer's bias");
        for (int o = 0; o < a->c; o++)
            g->params[nd->b + o] += b->f[b->count == 1 ? 0 : o];
        return alias(im, a, false);
    }
    if (a->c != b->c || a->h != b->h || a->w != b->w || a->flat != b->flat)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "Add of (%d, %d, %d) and (%d, %d, %d): vigie adds equal shapes", a->c, a->h,
                    a->w, b->c, b->h, b->w);
    int out = vg_graph_add(g, a->tid, b->tid, VG_ACT_NONE);
    return output_tensor(im, out, a->c, a->h, a->w, a->flat);
}

static vg_status imp_pool(imp *im, bool max) {
    name_ent *x;
    vg_status st = tensor_in(im, 0, &x);
    if (st != VG_OK) return st;
    if (x->flat) return fail(im, VG_ERR_UNSUPPORTED, "pooling a flattened tensor");
    int out = max ? vg_graph_gmax(&im->m->g, x->tid) : vg_graph_gap(&im->m->g, x->tid);
    return output_tensor(im, out, x->c, 1, 1, false);
}

static vg_status imp_reduce_mean(imp *im) {
    int64_t ax[8];
    int n = attr_ints(im, "axes", ax, 8);
    if (n < 0 && im->node->n_input > 1) { /* opset 18: the axes as an input */
        name_ent *a;
        vg_status st = input(im, 1, false, &a);
        if (st != VG_OK) return st;
        if (!a->is_const || !a->i || a->count > 8)
            return fail(im, VG_ERR_UNSUPPORTED, "axes not constant");
        n = (int)a->count;
        memcpy(ax, a->i, sizeof(int64_t) * (size_t)n);
    }
    bool hw = n == 2 && ((ax[0] == 2 && ax[1] == 3) || (ax[0] == -2 && ax[1] == -1) ||
                         (ax[0] == 3 && ax[1] == 2) || (ax[0] == -1 && ax[1] == -2));
    if (!hw)
        return fail(im, VG_ERR_UNSUPPORTED, "ReduceMean other than over the spatial axes (2, 3)");
    vg_status st = imp_pool(im, false);
    if (st == VG_OK && !attr_i(im, "keepdims", 1)) im->ents[im->n_ents - 1].flat = true;
    return st;
}

static vg_status imp_softmax(imp *im) {
    name_ent *x;
    vg_status st = tensor_in(im, 0, &x);
    if (st != VG_OK) return st;
    int64_t axis = attr_i(im, "axis", im->opset >= 13 ? -1 : 1);
    bool ok = x->h == 1 && x->w == 1 &&
              (axis == 1 || (axis == -1 && x->flat) || (axis == -3 && !x->flat));
    if (!ok) return fail(im, VG_ERR_UNSUPPORTED, "Softmax other than over the classes of (N, C)");
    int out = vg_graph_softmax(&im->m->g, x->tid);
    return output_tensor(im, out, x->c, 1, 1, x->flat);
}

static vg_status imp_constant(imp *im) {
    const Onnx__AttributeProto *a = attr(im, "value");
    if (!a || !a->t) return fail(im, VG_ERR_UNSUPPORTED, "a Constant without a tensor value");
    if (im->node->n_output < 1) return fail(im, VG_ERR_FORMAT, "no output");
    name_ent *e;
    vg_status st = define(im, im->node->output[0], &e);
    return st == VG_OK ? const_of(im, a->t, e) : st;
}

static bool is(const Onnx__NodeProto *n, const char *op) {
    return n->op_type && !strcmp(n->op_type, op);
}

static vg_status import_node(imp *im, const Onnx__NodeProto *n) {
    im->node = n;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return fail(im, VG_ERR_UNSUPPORTED, "operator of domain '%.40s'", n->domain);
    name_ent *x;
    if (is(n, "Conv")) return imp_conv(im);
    if (is(n, "BatchNormalization")) return imp_bn(im);
    if (is(n, "Relu")) return imp_act(im, VG_ACT_RELU);
    if (is(n, "Clip")) return imp_clip(im);
    if (is(n, "HardSwish")) return imp_act(im, VG_ACT_HSWISH);
    if (is(n, "HardSigmoid")) return imp_hardsigmoid(im);
    if (is(n, "Sigmoid")) return imp_act(im, VG_ACT_SIGMOID);
    if (is(n, "Mul")) return imp_mul(im);
    if (is(n, "Add")) return imp_add(im);
    if (is(n, "GlobalAveragePool")) return imp_pool(im, false);
    if (is(n, "GlobalMaxPool")) return imp_pool(im, true);
    if (is(n, "ReduceMean")) return imp_reduce_mean(im);
    if (is(n, "Flatten")) return imp_flatten(im);
    if (is(n, "Reshape")) return imp_reshape(im);
    if (is(n, "Gemm")) return imp_fc(im, true);
    if (is(n, "MatMul")) return imp_fc(im, false);
    if (is(n, "Softmax")) return imp_softmax(im);
    if (is(n, "Constant")) return imp_constant(im);
    if (is(n, "Identity") || is(n, "Dropout")) {
        vg_status st = input(im, 0, false, &x);
        return st == VG_OK ? alias(im, x, false) : st; /* of a constant too: shared weights */
    }
    return fail(im, VG_ERR_UNSUPPORTED,
                "operator not supported (vigie imports Conv, BatchNormalization, Relu, Clip, "
                "HardSwish, HardSigmoid, Sigmoid, Add, Mul, GlobalAveragePool, GlobalMaxPool, "
                "ReduceMean, Flatten, Reshape, Gemm, "
                "MatMul, Softmax, Constant, Identity, Dropout)");
}

/* the float values of a metadata entry "a,b,c" (3 of them) */
static bool meta3(const char *s, float v[3]) {
    char *end;
    for (int k = 0; k < 3; k++) {
        v[k] = strtof(s, &end);
        if (end == s || !isfinite(v[k])) return false;
        s = end;
        if (k < 2 && *s++ != ',') return false;
    }
    return *s == 0;
}

static vg_status import_model(imp *im, const Onnx__ModelProto *mp, const vg_onnx_import_opts *o) {
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return fail(im, VG_ERR_FORMAT, "no graph");
    im->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *s = mp->opset_import[i];
        if (!s->domain || !*s->domain || !strcmp(s->domain, "ai.onnx")) im->opset = (int)s->version;
    }
    if (im->opset < ONNX_OPSET_MIN || im->opset > ONNX_OPSET_MAX)
        return fail(im, VG_ERR_UNSUPPORTED, "opset %d (vigie reads %d to %d)", im->opset,
                    ONNX_OPSET_MIN, ONNX_OPSET_MAX);
    vg_status st = count_uses(im, g);
    for (size_t i = 0; st == VG_OK && i < g->n_initializer; i++) {
        name_ent *e;
        st = define(im, g->initializer[i]->name, &e);
        if (st == VG_OK) st = const_of(im, g->initializer[i], e);
    }
    /* the one input that is not an initialiser: (N, C, H, W) float, static C, H, W */
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; st == VG_OK && i < g->n_input; i++) {
        if (find(im, g->input[i]->name) >= 0) continue;
        if (in) return fail(im, VG_ERR_UNSUPPORTED, "more than one input");
        in = g->input[i];
    }
    if (st != VG_OK) return st;
    if (!in) return fail(im, VG_ERR_FORMAT, "no input");
    const Onnx__TypeProto *ty = in->type;
    const Onnx__TypeProto__Tensor *tt =
        ty && ty->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? ty->tensor_type : NULL;
    if (!tt || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !tt->shape ||
        tt->shape->n_dim != 4)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "input '%.80s': vigie takes one float (N, C, H, W) image", in->name);
    int64_t d[4];
    for (int k = 1; k < 4; k++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
        if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return fail(
                im, VG_ERR_UNSUPPORTED,
                "input '%.80s': dimension %d is not fixed (export with a static input size)",
                in->name, k);
        d[k] = dm->dim_value;
    }
    if (d[1] != 3 || d[2] < 8 || d[3] < 8 || d[2] > 4096 || d[3] > 4096)
        return fail(im, VG_ERR_UNSUPPORTED,
                    "input (N, %lld, %lld, %lld): vigie takes RGB images (3 channels) of 8 to "
                    "4096 pixels a side",
                    (long long)d[1], (long long)d[2], (long long)d[3]);
    vg_model *m = im->m;
    m->input.c = (int)d[1], m->input.h = (int)d[2], m->input.w = (int)d[3];
    /* normalisation: the caller's, else the metadata vigie writes, else ImageNet's */
    static const float in_mean[3] = {123.675f, 116.28f, 103.53f},
                       in_std[3] = {58.395f, 57.12f, 57.375f};
    float mean[3], sd[3];
    memcpy(mean, in_mean, sizeof mean), memcpy(sd, in_std, sizeof sd);
    const char *labels = NULL;
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *p = mp->metadata_props[i];
        if (!p->key || !p->value) continue;
        float v[3];
        if (!strcmp(p->key, "vigie.mean") && meta3(p->value, v)) memcpy(mean, v, sizeof v);
        if (!strcmp(p->key, "vigie.std") && meta3(p->value, v)) memcpy(sd, v, sizeof v);
        if (!strcmp(p->key, "vigie.labels")) labels = p->value;
        if (!strncmp(p->key, "vigie.meta.", 11) &&
            (st = vg_model_set_meta(m, p->key + 11, p->value, im->err)) != VG_OK)
            return st;
    }
    if (o && o->has_mean) memcpy(mean, o->mean, sizeof mean);
    if (o && o->has_std) memcpy(sd, o->std, sizeof sd);
    for (int k = 0; k < 3; k++) {
        if (!(sd[k] > 0)) return fail(im, VG_ERR_ARG, "std %g", (double)sd[k]);
        m->input.mean[k] = mean[k], m->input.std[k] = sd[k];
    }
    name_ent *e;
    if ((st = define(im, in->name, &e)) != VG_OK) return st;
    e->tid = 0, e->c = m->input.c, e->h = m->input.h, e->w = m->input.w;
    if (g->n_node > VG_MAX_NODES) return fail(im, VG_ERR_UNSUPPORTED, "%zu nodes", g->n_node);
    for (size_t i = 0; i < g->n_node && st == VG_OK; i++)
        st = import_node(im, g->node[i]);
    im->node = NULL;
    if (st != VG_OK) return st;
    if (g->n_output != 1)
        return fail(im, VG_ERR_UNSUPPORTED, "%zu outputs (vigie: one)", g->n_output);
    int x = find(im, g->output[0]->name);
    if (x < 0 || im->ents[x].is_const || im->ents[x].tid < 1)
        return fail(im, VG_ERR_FORMAT, "the output '%.80s' is not computed", g->output[0]->name);
    if (im->ents[x].h != 1 || im->ents[x].w != 1)
        return fail(im, VG_ERR_UNSUPPORTED, "the output is not a vector of class scores");
    m->g.output = im->ents[x].tid;
    if (m->g.output != m->g.n_tensors - 1)
        return fail(im, VG_ERR_UNSUPPORTED, "nodes after the output");
    if (labels) {
        st = vg_model_set_labels_text(m, (const uint8_t *)labels, strlen(labels), "vigie.labels",
                                      im->err);
        if (st != VG_OK) return st;
    }
    char src[300];
    snprintf(src, sizeof src, "onnx (opset %d, producer %.60s %.30s)", im->opset,
             mp->producer_name ? mp->producer_name : "?",
             mp->producer_version ? mp->producer_version : "");
    if ((st = vg_model_set_meta(m, "source", src, im->err)) != VG_OK) return st;
    return vg_model_validate(m, im->err);
}

static void *pb_alloc(void *ud, size_t n) {
    (void)ud;
    return vg_malloc(n);
}
static void pb_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

vg_status vg_import_onnx_mem(const void *data, size_t size, const char *name,
                             const vg_onnx_import_opts *o, vg_model **out, vg_err *err) {
    *out = NULL;
    if (size > ONNX_MAX_BYTES) return vg_err_set(err, VG_ERR_FORMAT, "%s: larger than 1 GiB", name);
    ProtobufCAllocator al = {pb_alloc, pb_free, NULL};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&al, size, data);
    if (!mp)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: not an ONNX model (protobuf does not parse)",
                          name);
    imp im;
    memset(&im, 0, sizeof im);
    im.file = name, im.err = err;
    vg_status st = VG_OK;
    if (!(im.m = vg_model_new())) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) st = import_model(&im, mp, o);
    for (int i = 0; i < im.n_ents; i++)
        free(im.ents[i].f), free(im.ents[i].i);
    free(im.ents), free(im.hash), free(im.use_name), free(im.use_count);
    onnx__model_proto__free_unpacked(mp, &al);
    if (st != VG_OK) {
        vg_model_free(im.m);
        return st;
    }
    *out = im.m;
    return VG_OK;
}

vg_status vg_import_onnx(const char *path, const vg_onnx_import_opts *o, vg_model **out,
                         vg_err *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    vg_status st = vg_file_read(path, ONNX_MAX_BYTES, &data, &size, err);
    if (st == VG_OK) st = vg_import_onnx_mem(data, size, path, o, out, err);
    free(data);
    return st;
}

/* ---- export ------------------------------------------------------------------------------ */

/* every allocation of the message being built, freed together */
typedef struct {
    void **p;
    int n, cap;
    bool oom;
} pool;

static void *pz(pool *P, size_t n) {
    if (P->oom) return NULL;
    if (P->n == P->cap) {
        int cap = P->cap ? P->cap * 2 : 256;
        void **q = vg_realloc(P->p, sizeof(void *) * (size_t)cap);
        if (!q) {
            P->oom = true;
            return NULL;
        }
        P->p = q, P->cap = cap;
    }
    void *x = vg_calloc(1, n ? n : 1);
    if (!x) {
        P->oom = true;
        return NULL;
    }
    return P->p[P->n++] = x;
}

static char *pstr(pool *P, const char *fmt, ...) VG_PRINTF(2, 3);
static char *pstr(pool *P, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = pz(P, (size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

typedef struct {
    pool P;
    Onnx__GraphProto *g;
    size_t cap_node, cap_init;
    int opset;
    const vg_qgraph *q; /* QDQ export: the engine's integer form, else NULL */
} exp_ctx;

/* appends a pointer to a growing array (n, cap: the message's own count, our capacity) */
static bool grow(pool *P, void ***arr, size_t *n, size_t *cap, void *item) {
    if (!item) return false;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void **a = pz(P, sizeof(void *) * c);
        if (!a) return false;
        if (*n) memcpy(a, *arr, sizeof(void *) * *n);
        *arr = a, *cap = c;
    }
    (*arr)[(*n)++] = item;
    return true;
}

/* a float initialiser (raw little-endian data) of the given dims */
/* an initialiser of count values of esize bytes (little-endian raw data), ONNX type dtype */
static const char *init_raw(exp_ctx *x, const char *name, int dtype, const void *v, size_t esize,
                            const int64_t *dims, int rank) {
    pool *P = &x->P;
    Onnx__TensorProto *t = pz(P, sizeof *t);
    if (!t || !name) return NULL;
    onnx__tensor_proto__init(t);
    int64_t count = 1;
    t->dims = pz(P, sizeof(int64_t) * (size_t)(rank ? rank : 1));
    if (!t->dims) return NULL;
    for (int k = 0; k < rank; k++)
        t->dims[k] = dims[k], count *= dims[k];
    t->n_dims = (size_t)rank;
    t->has_data_type = true;
    t->data_type = dtype;
    t->name = (char *)name;
    uint8_t *raw = pz(P, (size_t)count * esize + 1);
    if (!raw) return NULL;
    const uint8_t *src = v;
    for (int64_t i = 0; i < count; i++) { /* host order to little-endian, element by element */
        uint32_t u = src[i];              /* esize 1 (int8), else 4 (float, int32) */
        if (esize == 4) memcpy(&u, src + (size_t)i * 4, 4);
        for (size_t b = 0; b < esize; b++)
            raw[(size_t)i * esize + b] = (uint8_t)(u >> (8 * b));
    }
    t->has_raw_data = true;
    t->raw_data.len = (size_t)count * esize;
    t->raw_data.data = raw;
    return grow(P, (void ***)&x->g->initializer, &x->g->n_initializer, &x->cap_init, t) ? name
                                                                                        : NULL;
}

static const char *init_f(exp_ctx *x, const char *name, const float *v, const int64_t *dims,
                          int rank) {
    return init_raw(x, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, v, 4, dims, rank);
}

static Onnx__AttributeProto *attr_new(pool *P, const char *name) {
    Onnx__AttributeProto *a = pz(P, sizeof *a);
    if (a) {
        onnx__attribute_proto__init(a);
        a->name = (char *)name;
        a->has_type = true;
    }
    return a;
}

static Onnx__AttributeProto *attr_int(pool *P, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr_new(P, name);
    if (a) a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i = true, a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_flt(pool *P, const char *name, float v) {
    Onnx__AttributeProto *a = attr_new(P, name);
    if (a) a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f = true, a->f = v;
    return a;
}

static Onnx__AttributeProto *attr_ints_new(pool *P, const char *name, const int64_t *v, int n) {
    Onnx__AttributeProto *a = attr_new(P, name);
    int64_t *d = pz(P, sizeof(int64_t) * (size_t)n);
    if (!a || !d) return NULL;
    memcpy(d, v, sizeof(int64_t) * (size_t)n);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = d, a->n_ints = (size_t)n;
    return a;
}

/* a node op(inputs) -> output, with attributes (NULL-terminated) */
static Onnx__NodeProto *node_new(exp_ctx *x, const char *op, const char *name, const char *out,
                                 const char *const *in, int n_in) {
    pool *P = &x->P;
    Onnx__NodeProto *n = pz(P, sizeof *n);
    char **ins = pz(P, sizeof(char *) * (size_t)(n_in ? n_in : 1));
    char **outs = pz(P, sizeof(char *));
    if (!n || !ins || !outs || !out) return NULL;
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) return NULL;
        ins[i] = (char *)in[i];
    }
    n->input = ins, n->n_input = (size_t)n_in;
    outs[0] = (char *)out;
    n->output = outs, n->n_output = 1;
    return grow(P, (void ***)&x->g->node, &x->g->n_node, &x->cap_node, n) ? n : NULL;
}

static bool add_attr(exp_ctx *x, Onnx__NodeProto *n, Onnx__AttributeProto *a, size_t *cap) {
    return n && grow(&x->P, (void ***)&n->attribute, &n->n_attribute, cap, a);
}

static Onnx__ValueInfoProto *value_info(pool *P, const char *name, const int64_t *dims, int rank) {
    Onnx__ValueInfoProto *v = pz(P, sizeof *v);
    Onnx__TypeProto *t = pz(P, sizeof *t);
    Onnx__TypeProto__Tensor *tt = pz(P, sizeof *tt);
    Onnx__TensorShapeProto *sh = pz(P, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = pz(P, sizeof(void *) * (size_t)rank);
    if (!v || !t || !tt || !sh || !d) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int k = 0; k < rank; k++) {
        if (!(d[k] = pz(P, sizeof *d[k]))) return NULL;
        onnx__tensor_shape_proto__dimension__init(d[k]);
        d[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[k]->dim_value = dims[k];
    }
    sh->dim = d, sh->n_dim = (size_t)rank;
    tt->has_elem_type = true;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

/* A DequantizeLinear of constant q (int8 or int32) with per-channel scales along axis 0
 * (zero points 0: weights are symmetric, biases in units of input x weight scale); returns
 * the float output's name. */
static const char *dequantized(exp_ctx *x, const char *name, bool i32, const void *q,
                               const int64_t *dims, int rank, const float *scale) {
    pool *P = &x->P;
    const int64_t co = dims[0];
    void *zero = pz(P, (size_t)co * 4);
    const int ty = i32 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT32 : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    const char *in[3] = {init_raw(x, pstr(P, "%s_q", name), ty, q, i32 ? 4 : 1, dims, rank),
                         init_f(x, pstr(P, "%s_scale", name), scale, dims, 1),
                         zero ? init_raw(x, pstr(P, "%s_zp", name), ty, zero, i32 ? 4 : 1, dims, 1)
                              : NULL};
    size_t acap = 0;
    Onnx__NodeProto *n = node_new(x, "DequantizeLinear", pstr(P, "%s_dq", name), name, in, 3);
    return n && add_attr(x, n, attr_int(P, "axis", 0), &acap) ? name : NULL;
}

/* Node i's weights as an ONNX input: floats, or (QDQ) the engine's int8 codes dequantized */
static const char *weights_in(exp_ctx *x, const vg_model *m, int i, const vg_node_geom *gm,
                              const int64_t *dims, int rank) {
    pool *P = &x->P;
    const vg_node *nd = &m->g.nodes[i];
    int64_t count = 1;
    for (int k = 0; k < rank; k++)
        count *= dims[k];
    /* channels and positions per output (chw_to_hwc): the depthwise has one "output" */
    const int64_t c = gm->in.c,
                  sp = nd->op == VG_OP_FC ? (int64_t)gm->in.h * gm->in.w : (int64_t)nd->kh * nd->kw;
    if (x->q) {
        int8_t *w8 = pz(P, (size_t)count);
        if (!w8) return NULL;
        for (int64_t k = 0; k < count; k++)
            w8[k] = x->q->w8[x->q->w_off[i] + chw_to_hwc(k, c, sp)];
        return dequantized(x, pstr(P, "w%d", i), false, w8, dims, rank, x->q->ws + x->q->s_off[i]);
    }
    float *w = pz(P, sizeof(float) * (size_t)count);
    if (!w) return NULL;
    for (int64_t k = 0; k < count; k++)
        w[k] = m->g.params[nd->w + chw_to_hwc(k, c, sp)];
    return init_f(x, pstr(P, "w%d", i), w, dims, rank);
}

/* Node i's bias (co values): floats (zeros when it has none and `need`), or (QDQ) the
 * engine's int32 bias dequantized with the input's scale times each channel's weight scale;
 * NULL with *none set when the node has no bias and none is needed */
static const char *bias_in(exp_ctx *x, const vg_model *m, int i, int co, bool need, bool *none) {
    pool *P = &x->P;
    const vg_node *nd = &m->g.nodes[i];
    const int64_t d[1] = {co};
    *none = false;
    if (x->q && x->q->b_off[i] >= 0) {
        float *sc = pz(P, sizeof(float) * (size_t)co);
        if (!sc) return NULL;
        const float s_in = x->q->t[nd->in[0]].scale, *ws = x->q->ws + x->q->s_off[i];
        for (int c = 0; c < co; c++)
            sc[c] = s_in * ws[c];
        return dequantized(x, pstr(P, "b%d", i), true, x->q->b32 + x->q->b_off[i], d, 1, sc);
    }
    if ((x->q || nd->b < 0) && !need) {
        *none = true;
        return NULL;
    }
    const float *b = !x->q && nd->b >= 0 ? m->g.params + nd->b : pz(P, sizeof(float) * (size_t)co);
    return b ? init_f(x, pstr(P, "b%d", i), b, d, 1) : NULL;
}

/* QDQ: the activation tensor `f` (float) through QuantizeLinear and DequantizeLinear with the
 * engine's scale and zero point of tensor t: the integer codes vigie computes, as floats
 * named `name` */
static bool fake_quant(exp_ctx *x, int t, const char *f, const char *name) {
    pool *P = &x->P;
    const vg_qparam qp = x->q->t[t];
    const int8_t zp = (int8_t)qp.zp;
    const char *sc = init_f(x, pstr(P, "t%d_scale", t), &qp.scale, NULL, 0),
               *z = init_raw(x, pstr(P, "t%d_zp", t), ONNX__TENSOR_PROTO__DATA_TYPE__INT8, &zp, 1,
                             NULL, 0),
               *qn = pstr(P, "t%d_q", t);
    const char *qi[3] = {f, sc, z}, *di[3] = {qn, sc, z};
    return node_new(x, "QuantizeLinear", pstr(P, "n%d_quant", t), qn, qi, 3) &&
           node_new(x, "DequantizeLinear", pstr(P, "n%d_dequant", t), name, di, 3);
}

/* the nodes of vigie node i: its op, then its activation (QDQ: then its output's
 * quantization, except after the final softmax, which vigie's integer path runs in float) */
static vg_status export_node(exp_ctx *x, const vg_model *m, int i, const vg_node_geom *geom,
                             const char **tname, int *rank, vg_err *err) {
    pool *P = &x->P;
    const vg_graph *g = &m->g;
    const vg_node *nd = &g->nodes[i];
    const vg_node_geom *gm = &geom[i];
    const int out = nd->out;
    const bool quant = x->q && nd->op != VG_OP_SOFTMAX;
    const char *fout = quant ? pstr(P, "t%d_f", out) : tname[out]; /* the float result */
    const char *res = nd->act ? pstr(P, "t%d_pre", out) : fout;
    const char *nm = pstr(P, "n%d", i);
    Onnx__NodeProto *n = NULL;
    size_t acap = 0;
    rank[out] = rank[nd->in[0]];
    switch ((vg_op)nd->op) {
    case VG_OP_CONV:
    case VG_OP_DWCONV: {
        const bool dw = nd->op == VG_OP_DWCONV;
        const int ci = gm->in.c, co = gm->out.c, kh = nd->kh, kw = nd->kw;
        int64_t wd[4] = {co, dw ? 1 : ci, kh, kw};
        bool none;
        const char *in[3] = {tname[nd->in[0]], weights_in(x, m, i, gm, wd, 4),
                             bias_in(x, m, i, co, false, &none)};
        n = node_new(x, "Conv", nm, res, in, none ? 2 : 3);
        const vg_conv_desc *cd = &gm->conv;
        int pb = (cd->ho - 1) * cd->sh + kh - cd->h - cd->pt,
            pr = (cd->wo - 1) * cd->sw + kw - cd->w - cd->pl;
        pb = pb < 0 ? 0 : pb, pr = pr < 0 ? 0 : pr;
        if ((cd->h + cd->pt + pb - kh) / cd->sh + 1 != cd->ho ||
            (cd->w + cd->pl + pr - kw) / cd->sw + 1 != cd->wo)
            return vg_err_set(err, VG_ERR_UNSUPPORTED, "layer %d: padding ONNX cannot express", i);
        int64_t ks[2] = {kh, kw}, st[2] = {cd->sh, cd->sw}, pads[4] = {cd->pt, cd->pl, pb, pr},
                dl[2] = {1, 1};
        if (!add_attr(x, n, attr_ints_new(P, "kernel_shape", ks, 2), &acap) ||
            !add_attr(x, n, attr_ints_new(P, "strides", st, 2), &acap) ||
            !add_attr(x, n, attr_ints_new(P, "pads", pads, 4), &acap) ||
            !add_attr(x, n, attr_ints_new(P, "dilations", dl, 2), &acap) ||
            !add_attr(x, n, attr_int(P, "group", dw ? ci : 1), &acap))
            n = NULL;
        rank[out] = 4;
        break;
    }
    case VG_OP_BN: {
        const int c = gm->in.c;
        int64_t d[1] = {c};
        const float *p = g->params + nd->b;
        const char *in[5] = {tname[nd->in[0]], init_f(x, pstr(P, "bn%d_scale", i), p, d, 1),
                             init_f(x, pstr(P, "bn%d_bias", i), p + c, d, 1),
                             init_f(x, pstr(P, "bn%d_mean", i), p + 2 * c, d, 1),
                             init_f(x, pstr(P, "bn%d_var", i), p + 3 * c, d, 1)};
        n = node_new(x, "BatchNormalization", nm, res, in, 5);
        if (!add_attr(x, n, attr_flt(P, "epsilon", nd->eps), &acap)) n = NULL;
        break;
    }
    case VG_OP_ADD:
    case VG_OP_MUL: {
        /* Mul's (N, C, 1, 1) channel weights broadcast over (N, C, H, W); a (N, C) would not */
        if (rank[nd->in[0]] != rank[nd->in[1]])
            return vg_err_set(err, VG_ERR_UNSUPPORTED,
                              "layer %d: %s of tensors of ranks %d and %d (ONNX would broadcast "
                              "them differently)",
                              i, vg_op_name((vg_op)nd->op), rank[nd->in[0]], rank[nd->in[1]]);
        const char *in[2] = {tname[nd->in[0]], tname[nd->in[1]]};
        n = node_new(x, nd->op == VG_OP_ADD ? "Add" : "Mul", nm, res, in, 2);
        break;
    }
    case VG_OP_GAP:
    case VG_OP_GMAX: {
        const char *in[1] = {tname[nd->in[0]]};
        n = node_new(x, nd->op == VG_OP_GAP ? "GlobalAveragePool" : "GlobalMaxPool", nm, res, in,
                     1);
        rank[out] = 4;
        break;
    }
    case VG_OP_FC: {
        const int C = gm->in.c, HW = gm->in.h * gm->in.w, K = C * HW, M = nd->co;
        const char *flat = tname[nd->in[0]];
        if (rank[nd->in[0]] != 2) { /* (N, C, H, W) -> (N, C*H*W) */
            const char *in[1] = {flat};
            const char *fo = pstr(P, "t%d_flat", out);
            size_t fcap = 0;
            Onnx__NodeProto *f = node_new(x, "Flatten", pstr(P, "n%d_flat", i), fo, in, 1);
            if (!add_attr(x, f, attr_int(P, "axis", 1), &fcap)) break;
            flat = fo;
        }
        int64_t wd[2] = {M, K};
        bool none;
        const char *in[3] = {flat, weights_in(x, m, i, gm, wd, 2),
                             bias_in(x, m, i, M, true, &none)};
        n = node_new(x, "Gemm", nm, res, in, 3);
        if (!add_attr(x, n, attr_int(P, "transB", 1), &acap)) n = NULL;
        rank[out] = 2;
        break;
    }
    case VG_OP_SOFTMAX: {
        const char *in[1] = {tname[nd->in[0]]};
        n = node_new(x, "Softmax", nm, res, in, 1);
        if (!add_attr(x, n, attr_int(P, "axis", 1), &acap)) n = NULL;
        break;
    }
    case VG_OP_COUNT_: break;
    }
    if (n && nd->act == VG_ACT_RELU) {
        const char *in[1] = {res};
        n = node_new(x, "Relu", pstr(P, "n%d_relu", i), fout, in, 1);
    } else if (n && nd->act == VG_ACT_RELU6 && x->opset < 11) { /* bounds as attributes */
        const char *in[1] = {res};
        size_t ccap = 0;
        n = node_new(x, "Clip", pstr(P, "n%d_relu6", i), fout, in, 1);
        if (!add_attr(x, n, attr_flt(P, "min", 0), &ccap) ||
            !add_attr(x, n, attr_flt(P, "max", 6), &ccap))
            n = NULL;
    } else if (n && nd->act == VG_ACT_RELU6) { /* bounds as inputs (opset 11 on) */
        static const float lo = 0, hi = 6;
        const char *in[3] = {res, init_f(x, pstr(P, "clip%d_min", i), &lo, NULL, 0),
                             init_f(x, pstr(P, "clip%d_max", i), &hi, NULL, 0)};
        n = node_new(x, "Clip", pstr(P, "n%d_relu6", i), fout, in, 3);
    } else if (n && nd->act == VG_ACT_HSWISH && x->opset >= 14) {
        const char *in[1] = {res};
        n = node_new(x, "HardSwish", pstr(P, "n%d_hswish", i), fout, in, 1);
    } else if (n && (nd->act == VG_ACT_HSWISH || nd->act == VG_ACT_HSIGMOID)) {
        /* PyTorch's hard-sigmoid; before opset 14, hard-swish is x * HardSigmoid(x) */
        const bool sw = nd->act == VG_ACT_HSWISH;
        const char *in[1] = {res}, *hs = sw ? pstr(P, "t%d_hsig", out) : fout;
        size_t hcap = 0;
        n = node_new(x, "HardSigmoid", pstr(P, "n%d_hsig", i), hs, in, 1);
        if (!add_attr(x, n, attr_flt(P, "alpha", 1.0f / 6.0f), &hcap) ||
            !add_attr(x, n, attr_flt(P, "beta", 0.5f), &hcap))
            n = NULL;
        const char *mi[2] = {res, hs};
        if (n && sw) n = node_new(x, "Mul", pstr(P, "n%d_hswish", i), fout, mi, 2);
    } else if (n && nd->act == VG_ACT_SIGMOID) {
        const char *in[1] = {res};
        n = node_new(x, "Sigmoid", pstr(P, "n%d_sigmoid", i), fout, in, 1);
    }
    if (n && quant && !fake_quant(x, out, fout, tname[out])) n = NULL;
    if (!n) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    return VG_OK;
}

static bool meta_kv(exp_ctx *x, Onnx__ModelProto *mp, size_t *cap, const char *k, const char *v) {
    Onnx__StringStringEntryProto *e = pz(&x->P, sizeof *e);
    if (!e || !k || !v) return false;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)k, e->value = (char *)v;
    return grow(&x->P, (void ***)&mp->metadata_props, &mp->n_metadata_props, cap, e);
}

static vg_status export_model(const vg_model *m, const char *path, int opset, bool qdq,
                              vg_err *err) {
    const vg_graph *g = &m->g;
    if (opset == 0) opset = 13;
    if (opset < 10 || opset > 18)
        return vg_err_set(err, VG_ERR_ARG, "opset %d: vigie writes 10 to 18 (default 13)", opset);
    if (qdq && !m->q)
        return vg_err_set(err, VG_ERR_ARG,
                          "a QDQ export needs an int8 engine (vigie optimize --int8); this model "
                          "is float");
    if (qdq && opset < 13)
        return vg_err_set(err, VG_ERR_ARG,
                          "opset %d: a QDQ export needs opset 13 or later (per-channel scales)",
                          opset);
    vg_status st = vg_model_validate(m, err);
    if (st != VG_OK) return st;
    exp_ctx x;
    memset(&x, 0, sizeof x);
    x.opset = opset;
    x.q = qdq ? m->q : NULL;
    pool *P = &x.P;
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)(g->n_nodes + 1));
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    const char **tname = vg_calloc((size_t)g->n_tensors, sizeof(char *));
    int *rank = vg_calloc((size_t)g->n_tensors, sizeof(int));
    uint8_t *buf = NULL;
    if (!geom || !sh || !tname || !rank) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, sh, err)) != VG_OK)
        goto out;
    const bool ends_softmax =
        g->nodes[g->n_nodes - 1].op == VG_OP_SOFTMAX && g->output == g->n_tensors - 1;
    for (int t = 0; t < g->n_tensors; t++) /* QDQ: what the layers read of the input is t0 */
        tname[t] = t == 0           ? (qdq ? "t0" : "input")
                   : t == g->output ? (ends_softmax ? "probs" : "output")
                                    : pstr(P, "t%d", t);
    rank[0] = 4;
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    Onnx__GraphProto *gp = pz(P, sizeof *gp);
    Onnx__OperatorSetIdProto *ops = pz(P, sizeof *ops);
    Onnx__OperatorSetIdProto **opl = pz(P, sizeof(void *));
    if (!gp || !ops || !opl) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    onnx__graph_proto__init(gp);
    onnx__operator_set_id_proto__init(ops);
    x.g = gp;
    gp->name = "vigie";
    ops->domain = "";
    ops->has_version = true, ops->version = opset;
    opl[0] = ops;
    mp.opset_import = opl, mp.n_opset_import = 1;
    mp.has_ir_version = true, mp.ir_version = opset >= 13 ? 7 : opset >= 11 ? 6 : 5;
    mp.producer_name = "vigie";
    mp.producer_version = "1";
    mp.graph = gp;
    if (qdq && !fake_quant(&x, 0, "input", "t0"))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == VG_OK && i < g->n_nodes; i++)
        st = export_node(&x, m, i, geom, tname, rank, err);
    if (st != VG_OK) goto out;
    /* input (1, C, H, W) and output (1, classes) or (1, classes, 1, 1) */
    int64_t di[4] = {1, m->input.c, m->input.h, m->input.w};
    const vg_shape so = sh[g->output];
    int64_t dout[4] = {1, (int64_t)so.h * so.w * so.c, 1, 1};
    if (rank[g->output] == 4) dout[1] = so.c, dout[2] = so.h, dout[3] = so.w;
    Onnx__ValueInfoProto **vin = pz(P, sizeof(void *)), **vout = pz(P, sizeof(void *));
    if (vin && vout) {
        vin[0] = value_info(P, "input", di, 4);
        vout[0] = value_info(P, tname[g->output], dout, rank[g->output]);
        gp->input = vin, gp->n_input = 1;
        gp->output = vout, gp->n_output = 1;
    }
    /* the preprocessing and the model's metadata */
    size_t mcap = 0;
    const vg_input_spec *in = &m->input;
    meta_kv(
        &x, &mp, &mcap, "vigie.mean",
        pstr(P, "%.9g,%.9g,%.9g", (double)in->mean[0], (double)in->mean[1], (double)in->mean[2]));
    meta_kv(&x, &mp, &mcap, "vigie.std",
            pstr(P, "%.9g,%.9g,%.9g", (double)in->std[0], (double)in->std[1], (double)in->std[2]));
    meta_kv(&x, &mp, &mcap, "vigie.resize",
            pstr(P,
                 "RGB, whole image resized to %dx%d (bilinear, area when shrinking), then (pixel - "
                 "mean) / std on 0..255, NCHW",
                 in->w, in->h));
    vg_model_info info;
    vg_model_get_info(m, &info);
    if (m->labels) {
        size_t len = 1;
        for (int i = 0; i < m->n_labels; i++)
            len += strlen(m->labels[i]) + 1;
        char *l = pz(P, len);
        if (l) {
            l[0] = 0;
            for (int i = 0; i < m->n_labels; i++)
                strcat(strcat(l, m->labels[i]), i + 1 < m->n_labels ? "\n" : "");
            meta_kv(&x, &mp, &mcap, "vigie.labels", l);
        }
    }
    for (int i = 0; i < m->n_meta; i++)
        meta_kv(&x, &mp, &mcap, pstr(P, "vigie.meta.%s", m->meta[i].key), m->meta[i].value);
    if (P->oom || !vin || !vout || !vin[0] || !vout[0]) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t n = onnx__model_proto__get_packed_size(&mp);
    if (!(buf = vg_malloc(n + 1))) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    onnx__model_proto__pack(&mp, buf);
    st = vg_file_write_atomic(path, buf, n, err);
out:
    for (int i = 0; i < P->n; i++)
        free(P->p[i]);
    free(P->p);
    free(buf), free(geom), free(sh), free(tname), free(rank);
    return st;
}

vg_status vg_export_onnx(const vg_model *m, const char *path, int opset, vg_err *err) {
    return export_model(m, path, opset, false, err);
}

vg_status vg_export_onnx_qdq(const vg_model *m, const char *path, int opset, vg_err *err) {
    return export_model(m, path, opset, true, err);
}
