/* tflite.c — imports a TensorFlow Lite MobileNet-style classifier into a vigie float graph.
 *
 * What it does: walks subgraph 0's operators in order, maps each supported op to a vigie node,
 * dequantizes constant weights to float ((q - zero_point) * scale, per tensor or per channel),
 * treats RESHAPE/SQUEEZE/QUANTIZE/DEQUANTIZE as aliases (shapes are (h, w, c) per image in
 * vigie and the float graph needs no requantization), and finally checks every shape vigie
 * infers against the shape the file declares for the same tensor. What it does not do: run
 * the graph in integer arithmetic (the optimize issue's job) or import arbitrary networks.
 *
 * Field numbers below follow tflite_schema.fbs (a union occupies two slots: type, value). */
#include "io/flatbuf.h"
#include "model/model.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define TFL_MAX_BYTES ((size_t)1 << 30)
#define TFL_MAX_TENSORS 100000
#define TFL_MAX_OPS 10000
#define TFL_MAX_RANK 6

/* Model */
enum { F_MODEL_VERSION = 0, F_MODEL_OPCODES = 1, F_MODEL_SUBGRAPHS = 2, F_MODEL_BUFFERS = 4 };
/* OperatorCode */
enum { F_OPC_DEPRECATED = 0, F_OPC_CUSTOM = 1, F_OPC_BUILTIN = 3 };
/* SubGraph */
enum { F_SG_TENSORS = 0, F_SG_INPUTS = 1, F_SG_OUTPUTS = 2, F_SG_OPERATORS = 3 };
/* Tensor */
enum { F_T_SHAPE = 0, F_T_TYPE = 1, F_T_BUFFER = 2, F_T_NAME = 3, F_T_QUANT = 4, F_T_SPARSITY = 6 };
/* QuantizationParameters */
enum { F_Q_SCALE = 2, F_Q_ZERO = 3, F_Q_DETAILS_TYPE = 4, F_Q_DIM = 6 };
/* Operator */
enum { F_OP_OPCODE = 0, F_OP_INPUTS = 1, F_OP_OUTPUTS = 2, F_OP_OPT_TYPE = 3, F_OP_OPT = 4 };
/* Buffer */
enum { F_BUF_DATA = 0, F_BUF_OFFSET = 1, F_BUF_SIZE = 2 };

enum {
    TFL_ADD = 0,
    TFL_AVERAGE_POOL_2D = 1,
    TFL_CONV_2D = 3,
    TFL_DEPTHWISE_CONV_2D = 4,
    TFL_DEQUANTIZE = 6,
    TFL_FULLY_CONNECTED = 9,
    TFL_RESHAPE = 22,
    TFL_SOFTMAX = 25,
    TFL_MEAN = 40,
    TFL_SQUEEZE = 43,
    TFL_QUANTIZE = 114,
};

/* BuiltinOptions union members used here */
enum {
    OPT_CONV = 1,
    OPT_DWCONV = 2,
    OPT_POOL = 5,
    OPT_FC = 8,
    OPT_SOFTMAX = 9,
    OPT_ADD = 11,
    OPT_RESHAPE = 17,
    OPT_REDUCER = 27,
};

enum { TT_FLOAT32 = 0, TT_FLOAT16 = 1, TT_INT32 = 2, TT_UINT8 = 3, TT_INT64 = 4, TT_INT8 = 9 };

typedef struct {
    int rank;
    int dims[TFL_MAX_RANK];
    int64_t count;
    uint8_t type;
    const uint8_t *data; /* constant data, or NULL for activations */
    size_t data_size;
    fb_vec scale, zero;
    int qdim;
    char name[64];
} tfl_tensor;

typedef struct {
    fb_ctx c;
    const char *file;
    vg_err *err;
    tfl_tensor *t;
    uint32_t n_tensors;
    int *tmap; /* tflite tensor -> vigie tensor, -1 unmapped */
    int32_t *opcodes;
    uint32_t n_opcodes;
    fb_vec buffers;
    vg_model *m;
    /* for the int8 form: the TFLite tensors behind each node's weights and bias, and the one
     * whose quantization each vigie tensor carries (the int8 side of QUANTIZE aliases) */
    int *node_wt, *node_bt, *tq;
    int cap_nodes;
    const uint8_t *labels; /* label list found in the appended zip, or NULL */
    size_t labels_len;
    char labels_name[128];
} importer;

static const char *op_name(int32_t code) {
    switch (code) {
    case TFL_ADD: return "ADD";
    case TFL_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case 2: return "CONCATENATION";
    case TFL_CONV_2D: return "CONV_2D";
    case TFL_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case TFL_DEQUANTIZE: return "DEQUANTIZE";
    case TFL_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case 14: return "LOGISTIC";
    case 17: return "MAX_POOL_2D";
    case 18: return "MUL";
    case 19: return "RELU";
    case 21: return "RELU6";
    case TFL_RESHAPE: return "RESHAPE";
    case 23: return "RESIZE_BILINEAR";
    case TFL_SOFTMAX: return "SOFTMAX";
    case 34: return "PAD";
    case TFL_MEAN: return "MEAN";
    case TFL_SQUEEZE: return "SQUEEZE";
    case TFL_QUANTIZE: return "QUANTIZE";
    case 117: return "HARD_SWISH";
    default: return NULL;
    }
}

static vg_status fail(importer *im, vg_status s, const char *fmt, ...) VG_PRINTF(3, 4);
static vg_status fail(importer *im, vg_status s, const char *fmt, ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return vg_err_set(im->err, s, "%s: %s", im->file, what);
}

static vg_status corrupt(importer *im, const char *where) {
    return vg_err_set(im->err, VG_ERR_FORMAT, "%s: corrupt or truncated TFLite file (%s)",
                      im->file, where);
}

static vg_status read_tensors(importer *im, fb_tab sg) {
    fb_ctx *c = &im->c;
    fb_vec tv = fb_vector(c, sg, F_SG_TENSORS, 4);
    if (c->bad || tv.len == 0 || tv.len > TFL_MAX_TENSORS) return corrupt(im, "tensor list");
    im->n_tensors = tv.len;
    im->t = vg_calloc(tv.len, sizeof(tfl_tensor));
    im->tmap = vg_malloc(sizeof(int) * tv.len);
    if (!im->t || !im->tmap) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < tv.len; i++) {
        im->tmap[i] = -1;
        tfl_tensor *t = &im->t[i];
        fb_tab tt = fb_vec_table(c, tv, i);
        fb_vec shape = fb_vector(c, tt, F_T_SHAPE, 4);
        if (c->bad) return corrupt(im, "tensor table");
        if (shape.len > TFL_MAX_RANK)
            return fail(im, VG_ERR_UNSUPPORTED, "tensor %u has too many dimensions", i);
        t->rank = (int)shape.len;
        t->count = 1;
        for (int d = 0; d < t->rank; d++) {
            int v = fb_vec_i32(c, shape, (uint32_t)d);
            if (v < 1 || v > (1 << 20)) return corrupt(im, "tensor dimension out of range");
            t->dims[d] = v;
            t->count *= v;
            if (t->count > ((int64_t)1 << 32)) return corrupt(im, "tensor too large");
        }
        t->type = fb_u8(c, tt, F_T_TYPE, 0);
        uint32_t len;
        const char *nm = fb_string(c, tt, F_T_NAME, &len);
        if (nm) snprintf(t->name, sizeof t->name, "%.*s", (int)(len < 63 ? len : 63), nm);
        for (char *p = t->name; *p; p++)
            if ((unsigned char)*p < 32 || (unsigned char)*p > 126) *p = '?';
        if (fb_present(c, tt, F_T_SPARSITY))
            return fail(im, VG_ERR_UNSUPPORTED, "tensor '%s' (%u) is sparse", t->name, i);
        fb_tab q = fb_table(c, tt, F_T_QUANT);
        if (q.pos) {
            if (fb_u8(c, q, F_Q_DETAILS_TYPE, 0) != 0)
                return fail(im, VG_ERR_UNSUPPORTED, "tensor '%s' (%u) uses custom quantization", t->name, i);
            t->scale = fb_vector(c, q, F_Q_SCALE, 4);
            t->zero = fb_vector(c, q, F_Q_ZERO, 8);
            t->qdim = fb_i32(c, q, F_Q_DIM, 0);
        }
        uint32_t bi = fb_u32(c, tt, F_T_BUFFER, 0);
        if (bi >= im->buffers.len && bi != 0) return corrupt(im, "buffer index out of range");
        if (bi != 0) {
            fb_tab b = fb_vec_table(c, im->buffers, bi);
            fb_vec data = fb_vector(c, b, F_BUF_DATA, 1);
            uint64_t off = fb_u64(c, b, F_BUF_OFFSET, 0), size = fb_u64(c, b, F_BUF_SIZE, 0);
            if (data.len) {
                t->data = c->buf + data.pos;
                t->data_size = data.len;
            } else if (off > 1) { /* data stored after the flatbuffer (models over 2 GB) */
                if (off > c->size || size > c->size - off) return corrupt(im, "buffer offset");
                t->data = c->buf + off;
                t->data_size = (size_t)size;
            }
        }
        if (c->bad) return corrupt(im, "tensor table");
    }
    return VG_OK;
}

/* Whether constant tensor `ti` holds `count` elements in a buffer of exactly that size: checked
 * before the arena grows for it, so a hostile file's declared shape cannot make the importer
 * allocate more than the file backs. */
static vg_status check_const(importer *im, int ti, int64_t count) {
    tfl_tensor *t = &im->t[ti];
    if (!t->data) return fail(im, VG_ERR_FORMAT, "tensor '%s' (%d) should be constant", t->name, ti);
    if (t->count != count)
        return fail(im, VG_ERR_FORMAT, "tensor '%s' (%d) has an unexpected element count",
                    t->name, ti);
    size_t esize = t->type == TT_FLOAT32 || t->type == TT_INT32 ? 4 : t->type == TT_FLOAT16 ? 2
                   : t->type == TT_UINT8 || t->type == TT_INT8  ? 1
                                                                 : 0;
    if (esize == 0)
        return fail(im, VG_ERR_UNSUPPORTED, "tensor '%s' (%d) has an unsupported data type",
                    t->name, ti);
    if (t->data_size != (size_t)count * esize)
        return fail(im, VG_ERR_FORMAT, "tensor '%s' (%d): buffer size does not match its shape",
                    t->name, ti);
    return VG_OK;
}

/* Dequantizes constant tensor `ti` into `dst` (count floats, same element order). */
static vg_status dequantize(importer *im, int ti, float *dst, int64_t count) {
    tfl_tensor *t = &im->t[ti];
    fb_ctx *c = &im->c;
    vg_status st = check_const(im, ti, count);
    if (st != VG_OK) return st;
    if (t->type == TT_FLOAT32) {
        for (int64_t i = 0; i < count; i++) dst[i] = vg_load_f32(t->data + 4 * i);
        return VG_OK;
    }
    if (t->type == TT_FLOAT16) {
        for (int64_t i = 0; i < count; i++) {
            uint16_t h = vg_load_u16(t->data + 2 * i);
            int e = (h >> 10) & 31, mnt = h & 1023;
            float v = e == 0 ? ldexpf((float)mnt, -24)
                      : e == 31 ? (mnt ? NAN : INFINITY)
                                : ldexpf((float)(mnt | 1024), e - 25);
            dst[i] = (h & 0x8000) ? -v : v;
        }
        return VG_OK;
    }
    /* quantized: one scale (per tensor) or one per slice along qdim (per channel) */
    uint32_t ns = t->scale.len;
    int64_t inner = 1;
    int axis_len = 1;
    if (ns == 0)
        return fail(im, VG_ERR_FORMAT, "quantized tensor '%s' (%d) has no scale", t->name, ti);
    if (ns > 1) {
        if (t->qdim < 0 || t->qdim >= t->rank || (uint32_t)t->dims[t->qdim] != ns)
            return fail(im, VG_ERR_FORMAT,
                        "tensor '%s' (%d): per-channel scales do not match the quantized axis",
                        t->name, ti);
        axis_len = t->dims[t->qdim];
        for (int d = t->qdim + 1; d < t->rank; d++) inner *= t->dims[d];
    }
    if (t->zero.len != 0 && t->zero.len != ns)
        return fail(im, VG_ERR_FORMAT, "tensor '%s' (%d): zero points do not match its scales",
                    t->name, ti);
    for (int64_t i = 0; i < count; i++) {
        uint32_t ch = ns > 1 ? (uint32_t)((i / inner) % axis_len) : 0;
        float s = fb_vec_f32(c, t->scale, ch);
        int64_t z = t->zero.len ? fb_vec_i64(c, t->zero, ch) : 0;
        if (!isfinite(s) || z < INT32_MIN || z > INT32_MAX)
            return fail(im, VG_ERR_FORMAT, "tensor '%s' (%d): invalid scale or zero point",
                        t->name, ti);
        int64_t q = t->type == TT_UINT8  ? (int64_t)t->data[i]
                    : t->type == TT_INT8 ? (int64_t)(int8_t)t->data[i]
                                         : (int64_t)(int32_t)vg_load_u32(t->data + 4 * i);
        dst[i] = (float)((double)(q - z) * (double)s);
    }
    return c->bad ? corrupt(im, "quantization parameters") : VG_OK;
}

static vg_status act_of(importer *im, uint8_t fused, vg_act *act) {
    switch (fused) {
    case 0: *act = VG_ACT_NONE; return VG_OK;
    case 1: *act = VG_ACT_RELU; return VG_OK;
    case 3: *act = VG_ACT_RELU6; return VG_OK;
    default: return fail(im, VG_ERR_UNSUPPORTED, "fused activation type %d is not supported", fused);
    }
}

/* Input activation `ti` must already be produced. */
static int act_input(importer *im, int32_t ti) {
    if (ti < 0 || (uint32_t)ti >= im->n_tensors) return -1;
    return im->tmap[ti];
}

static bool is_const(importer *im, int32_t ti) {
    return ti >= 0 && (uint32_t)ti < im->n_tensors && im->t[ti].data != NULL;
}

/* the last pushed node's TFLite weight / bias tensors, and its output's quantization */
static void note_node(importer *im, int wt, int bt, int out) {
    int j = im->m->g.n_nodes - 1;
    if (j >= 0 && j < im->cap_nodes) im->node_wt[j] = wt, im->node_bt[j] = bt;
    int v = im->tmap[out];
    if (v >= 0 && v < im->cap_nodes + 1) im->tq[v] = out;
}

static vg_status import_conv(importer *im, bool depthwise, fb_tab opts, const int32_t *in,
                             int n_in, int32_t out) {
    fb_ctx *c = &im->c;
    int x = act_input(im, in[0]);
    if (x < 0 || n_in < 2 || !is_const(im, in[1]))
        return fail(im, VG_ERR_FORMAT, "%s producing tensor %d: bad inputs",
                    depthwise ? "DEPTHWISE_CONV_2D" : "CONV_2D", out);
    tfl_tensor *f = &im->t[in[1]];
    if (f->rank != 4) return fail(im, VG_ERR_FORMAT, "filter '%s' (%d) is not 4-D", f->name, in[1]);
    uint8_t padding = fb_u8(c, opts, 0, 0);
    int sw = fb_i32(c, opts, 1, 1), sh = fb_i32(c, opts, 2, 1);
    uint8_t fused = fb_u8(c, opts, depthwise ? 4 : 3, 0);
    int dw = fb_i32(c, opts, depthwise ? 5 : 4, 1), dh = fb_i32(c, opts, depthwise ? 6 : 5, 1);
    if (dw != 1 || dh != 1)
        return fail(im, VG_ERR_UNSUPPORTED, "dilated convolution at tensor '%s' (%d)",
                    im->t[out].name, out);
    if (padding > 1) return fail(im, VG_ERR_UNSUPPORTED, "padding type %d is not supported", padding);
    vg_node n;
    memset(&n, 0, sizeof n);
    vg_act act = VG_ACT_NONE;
    vg_status st = act_of(im, fused, &act);
    if (st != VG_OK) return st;
    n.op = depthwise ? VG_OP_DWCONV : VG_OP_CONV;
    n.act = (uint8_t)act;
    n.pad_mode = padding == 0 ? VG_PAD_SAME : VG_PAD_EXPLICIT;
    n.in[0] = x;
    n.in[1] = -1;
    n.kh = f->dims[1];
    n.kw = f->dims[2];
    n.sh = sh;
    n.sw = sw;
    n.w = n.b = -1;
    int co;
    int64_t nw;
    /* the filter must agree with the input's channels (declared shapes are checked against
     * vigie's in check_shapes); a depthwise filter is (1, kh, kw, ci x multiplier), and the
     * multiplier follows from those shapes whatever the options' depth_multiplier says */
    const tfl_tensor *xt = &im->t[in[0]];
    int ci = xt->rank == 4 ? xt->dims[3] : 0;
    if (depthwise) {
        if (f->dims[0] != 1 || ci < 1 || f->dims[3] % ci != 0)
            return fail(im, VG_ERR_FORMAT, "depthwise filter '%s' (%d) does not fit its %d input "
                        "channels", f->name, in[1], ci);
        if (f->dims[3] != ci)
            return fail(im, VG_ERR_UNSUPPORTED, "depthwise filter '%s' (%d): channel multiplier "
                        "%d (only 1 is supported)", f->name, in[1], f->dims[3] / ci);
        co = f->dims[3];
        nw = (int64_t)n.kh * n.kw * co;
    } else {
        if (f->dims[3] != ci)
            return fail(im, VG_ERR_FORMAT, "filter '%s' (%d) expects %d input channels, not %d",
                        f->name, in[1], f->dims[3], ci);
        co = f->dims[0];
        n.co = co;
        nw = (int64_t)co * n.kh * n.kw * f->dims[3];
    }
    /* the node's parameters go at the end of the arena; reserve through a throwaway builder
     * call would hide the layout, so grow the arena explicitly */
    st = check_const(im, in[1], nw);
    if (st == VG_OK && n_in >= 3 && in[2] >= 0) st = check_const(im, in[2], co);
    if (st != VG_OK) return st;
    vg_graph *g = &im->m->g;
    int64_t need = g->n_params + nw + co;
    if (need > VG_MAX_PARAMS) return fail(im, VG_ERR_UNSUPPORTED, "model too large");
    if (need > g->cap_params) {
        int64_t cap = g->cap_params ? g->cap_params : 1 << 16;
        while (cap < need) cap *= 2;
        float *p = vg_realloc(g->params, sizeof(float) * (size_t)cap);
        if (!p) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        g->params = p;
        g->cap_params = cap;
    }
    n.w = g->n_params;
    st = dequantize(im, in[1], g->params + n.w, nw);
    if (st != VG_OK) return st;
    g->n_params += nw;
    if (n_in >= 3 && in[2] >= 0) {
        n.b = g->n_params;
        st = dequantize(im, in[2], g->params + n.b, co);
        if (st != VG_OK) return st;
        g->n_params += co;
    }
    int t = vg_graph_push(g, &n);
    if (t < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    im->tmap[out] = t;
    note_node(im, in[1], n_in >= 3 ? in[2] : -1, out);
    return VG_OK;
}

static vg_status import_fc(importer *im, fb_tab opts, const int32_t *in, int n_in, int32_t out) {
    fb_ctx *c = &im->c;
    int x = act_input(im, in[0]);
    if (x < 0 || n_in < 2 || !is_const(im, in[1]) || im->t[in[1]].rank != 2)
        return fail(im, VG_ERR_FORMAT, "FULLY_CONNECTED producing tensor %d: bad inputs", out);
    if (fb_u8(c, opts, 1, 0) != 0)
        return fail(im, VG_ERR_UNSUPPORTED, "FULLY_CONNECTED with shuffled weights");
    vg_act act = VG_ACT_NONE;
    vg_status st = act_of(im, fb_u8(c, opts, 0, 0), &act);
    if (st != VG_OK) return st;
    tfl_tensor *wt = &im->t[in[1]];
    int co = wt->dims[0], ci = wt->dims[1];
    if (im->t[in[0]].count != ci)
        return fail(im, VG_ERR_UNSUPPORTED, "FULLY_CONNECTED on a batch or a mismatched input (tensor %d)", out);
    bool bias = n_in >= 3 && in[2] >= 0;
    st = check_const(im, in[1], (int64_t)co * ci);
    if (st == VG_OK && bias) st = check_const(im, in[2], co);
    if (st != VG_OK) return st;
    vg_graph *g = &im->m->g;
    int t = vg_graph_fc(g, x, ci, co, bias, act);
    if (t < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    const vg_node *nd = &g->nodes[g->n_nodes - 1];
    st = dequantize(im, in[1], g->params + nd->w, (int64_t)co * ci);
    if (st == VG_OK && bias) st = dequantize(im, in[2], g->params + nd->b, co);
    im->tmap[out] = t;
    note_node(im, in[1], bias ? in[2] : -1, out);
    return st;
}

/* A spatial mean over the whole image becomes a global average pool. */
static vg_status import_pool(importer *im, int32_t code, fb_tab opts, const int32_t *in,
                             int n_in, int32_t out) {
    fb_ctx *c = &im->c;
    int x = act_input(im, in[0]);
    tfl_tensor *ti = &im->t[in[0]], *to = &im->t[out];
    if (x < 0 || ti->rank != 4)
        return fail(im, VG_ERR_FORMAT, "%s: bad input to tensor %d", op_name(code), out);
    bool global = false;
    if (code == TFL_AVERAGE_POOL_2D) {
        int fw = fb_i32(c, opts, 3, 0), fh = fb_i32(c, opts, 4, 0);
        uint8_t fused = fb_u8(c, opts, 5, 0);
        global = fw == ti->dims[2] && fh == ti->dims[1] && fb_u8(c, opts, 0, 0) == 1 && fused == 0;
    } else { /* MEAN over axes {1, 2} */
        if (n_in >= 2 && is_const(im, in[1]) && im->t[in[1]].type == TT_INT32 &&
            im->t[in[1]].count == 2 && im->t[in[1]].data_size == 8) {
            int a0 = (int)vg_load_u32(im->t[in[1]].data), a1 = (int)vg_load_u32(im->t[in[1]].data + 4);
            global = (a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1);
        }
    }
    if (!global || to->count != ti->dims[3])
        return fail(im, VG_ERR_UNSUPPORTED, "%s that is not a global spatial average (tensor %d)",
                    op_name(code), out);
    int t = vg_graph_gap(&im->m->g, x);
    if (t < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    im->tmap[out] = t;
    note_node(im, -1, -1, out);
    return VG_OK;
}

static vg_status import_op(importer *im, uint32_t k, fb_tab op) {
    fb_ctx *c = &im->c;
    uint32_t oc = fb_u32(c, op, F_OP_OPCODE, 0);
    if (oc >= im->n_opcodes) return corrupt(im, "operator code index");
    int32_t code = im->opcodes[oc];
    fb_vec iv = fb_vector(c, op, F_OP_INPUTS, 4), ov = fb_vector(c, op, F_OP_OUTPUTS, 4);
    if (c->bad || iv.len < 1 || iv.len > 8 || ov.len != 1) return corrupt(im, "operator inputs");
    int32_t in[8];
    for (uint32_t i = 0; i < iv.len; i++) {
        in[i] = fb_vec_i32(c, iv, i);
        if (in[i] < -1 || in[i] >= (int32_t)im->n_tensors) return corrupt(im, "operator input index");
    }
    int32_t out = fb_vec_i32(c, ov, 0);
    if (out < 0 || (uint32_t)out >= im->n_tensors || im->tmap[out] >= 0 || in[0] < 0)
        return corrupt(im, "operator output index");
    uint8_t opt_type = fb_u8(c, op, F_OP_OPT_TYPE, 0);
    fb_tab opts = fb_table(c, op, F_OP_OPT);
    if (c->bad) return corrupt(im, "operator options");
    int expect = code == TFL_CONV_2D ? OPT_CONV : code == TFL_DEPTHWISE_CONV_2D ? OPT_DWCONV
                 : code == TFL_AVERAGE_POOL_2D                                 ? OPT_POOL
                 : code == TFL_ADD                                             ? OPT_ADD
                 : code == TFL_FULLY_CONNECTED                                 ? OPT_FC
                 : code == TFL_SOFTMAX                                         ? OPT_SOFTMAX
                 : code == TFL_MEAN                                            ? OPT_REDUCER
                                                                               : -1;
    if (expect > 0 && opts.pos && opt_type != expect)
        return fail(im, VG_ERR_FORMAT, "operator %s has options of the wrong type (op %u)",
                    op_name(code), k);
    switch (code) {
    case TFL_CONV_2D:
    case TFL_DEPTHWISE_CONV_2D:
        return import_conv(im, code == TFL_DEPTHWISE_CONV_2D, opts, in, (int)iv.len, out);
    case TFL_FULLY_CONNECTED: return import_fc(im, opts, in, (int)iv.len, out);
    case TFL_AVERAGE_POOL_2D:
    case TFL_MEAN: return import_pool(im, code, opts, in, (int)iv.len, out);
    case TFL_ADD: {
        int a = act_input(im, in[0]), b = iv.len == 2 ? act_input(im, in[1]) : -1;
        if (a < 0 || b < 0)
            return fail(im, VG_ERR_UNSUPPORTED, "ADD with a constant or missing operand (op %u)", k);
        vg_act act = VG_ACT_NONE;
        vg_status st = act_of(im, fb_u8(c, opts, 0, 0), &act);
        if (st != VG_OK) return st;
        int t = vg_graph_add(&im->m->g, a, b, act);
        if (t < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        im->tmap[out] = t;
        note_node(im, -1, -1, out);
        return VG_OK;
    }
    case TFL_SOFTMAX: {
        int x = act_input(im, in[0]);
        float beta = fb_f32(c, opts, 0, 1.0f);
        if (x < 0) return corrupt(im, "SOFTMAX input");
        if (beta != 1.0f)
            return fail(im, VG_ERR_UNSUPPORTED, "SOFTMAX with beta != 1 (op %u)", k);
        tfl_tensor *ti = &im->t[in[0]];
        if (ti->rank >= 3 && ti->count != ti->dims[ti->rank - 1])
            return fail(im, VG_ERR_UNSUPPORTED, "SOFTMAX over a spatial tensor (op %u)", k);
        int t = vg_graph_softmax(&im->m->g, x);
        if (t < 0) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
        im->tmap[out] = t;
        note_node(im, -1, -1, out);
        return VG_OK;
    }
    case TFL_RESHAPE:
    case TFL_SQUEEZE:
    case TFL_QUANTIZE:
    case TFL_DEQUANTIZE: {
        int x = act_input(im, in[0]);
        tfl_tensor *ti = &im->t[in[0]], *to = &im->t[out];
        if (x < 0) return fail(im, VG_ERR_FORMAT, "%s on an unknown tensor (op %u)", op_name(code), k);
        if (ti->count != to->count)
            return fail(im, VG_ERR_FORMAT, "%s changes the element count (op %u)", op_name(code), k);
        /* vigie keeps (h, w, c): a reshape is only a no-op when there is no spatial layout */
        bool spatial = ti->rank == 4 && ti->count != ti->dims[3];
        if ((code == TFL_RESHAPE || code == TFL_SQUEEZE) && spatial)
            return fail(im, VG_ERR_UNSUPPORTED, "%s of a spatial tensor (op %u)", op_name(code), k);
        im->tmap[out] = x;
        /* an alias carries the int8 side's quantization (the input QUANTIZE uint8 -> int8) */
        if (to->type == TT_INT8 && x < im->cap_nodes + 1) im->tq[x] = out;
        return VG_OK;
    }
    default: {
        const char *nm = op_name(code);
        char buf[32];
        if (!nm) {
            snprintf(buf, sizeof buf, "builtin %d", (int)code);
            nm = buf;
        }
        return fail(im, VG_ERR_UNSUPPORTED, "operator %s is not supported (op %u)", nm, k);
    }
    }
}

/* Compares every shape vigie infers with what the file declares. */
static vg_status check_shapes(importer *im) {
    vg_graph *g = &im->m->g;
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    if (!sh) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, im->m->input.h, im->m->input.w, 3, NULL, sh, im->err);
    if (st != VG_OK) {
        free(sh);
        vg_err_prefix(im->err, im->file);
        return st;
    }
    for (uint32_t i = 0; i < im->n_tensors && st == VG_OK; i++) {
        int v = im->tmap[i];
        if (v < 0) continue;
        tfl_tensor *t = &im->t[i];
        int64_t n = (int64_t)sh[v].h * sh[v].w * sh[v].c;
        bool ok = t->count == n;
        if (t->rank == 4)
            ok = ok && t->dims[0] == 1 && t->dims[1] == sh[v].h && t->dims[2] == sh[v].w &&
                 t->dims[3] == sh[v].c;
        if (!ok)
            st = fail(im, VG_ERR_FORMAT, "tensor '%s' (%u): declared shape differs from the shape its "
                      "operator produces", t->name, i);
    }
    free(sh);
    return st;
}

/* TFLite metadata writers append a zip of "associated files" (such as the label list) after
 * the flatbuffer, which starts where the flatbuffer's last used byte ends (c->hi). The zip must
 * be complete: a file cut inside it is truncated even though the network itself is intact. A
 * stored (uncompressed) .txt entry is offered as the labels. Anything else after the
 * flatbuffer is ignored. */
static vg_status read_trailer(importer *im) {
    const uint8_t *b = im->c.buf;
    size_t size = im->c.size, start = im->c.hi;
    for (size_t k = 0; k < 16 && start < size && b[start] == 0; k++) start++;
    if (size - start < 4 || memcmp(b + start, "PK\3\4", 4) != 0) return VG_OK;
    if (size - start < 22 + 30 + 46) return corrupt(im, "appended zip of associated files cut short");
    size_t eocd = size - 22;
    if (memcmp(b + eocd, "PK\5\6", 4) != 0 || vg_load_u16(b + eocd + 20) != 0)
        return corrupt(im, "appended zip of associated files cut short");
    uint32_t entries = vg_load_u16(b + eocd + 10), cd_size = vg_load_u32(b + eocd + 12);
    uint64_t cd_off = vg_load_u32(b + eocd + 16);
    /* offsets count from the start of the file or of the zip, depending on the writer */
    uint64_t base = cd_off + cd_size == eocd ? 0 : start + cd_off + cd_size == eocd ? start : 1;
    if (base == 1 || entries == 0) return corrupt(im, "appended zip directory inconsistent");
    size_t p = (size_t)(base + cd_off);
    for (uint32_t e = 0; e < entries; e++) {
        if (p + 46 > eocd || memcmp(b + p, "PK\1\2", 4) != 0)
            return corrupt(im, "appended zip directory entry");
        uint16_t method = vg_load_u16(b + p + 10), nlen = vg_load_u16(b + p + 28);
        uint32_t csize = vg_load_u32(b + p + 20), usize = vg_load_u32(b + p + 24);
        size_t next = p + 46 + nlen + vg_load_u16(b + p + 30) + vg_load_u16(b + p + 32);
        uint64_t lho = base + vg_load_u32(b + p + 42);
        if (next > eocd || lho + 30 > start + (size - start) || lho < start)
            return corrupt(im, "appended zip directory entry");
        const char *name = (const char *)b + p + 46;
        bool txt = nlen >= 4 && memcmp(name + nlen - 4, ".txt", 4) == 0;
        if (txt && method == 0 && csize == usize && !im->labels) {
            size_t l = (size_t)lho;
            if (memcmp(b + l, "PK\3\4", 4) != 0) return corrupt(im, "appended zip entry");
            uint64_t data = (uint64_t)l + 30 + vg_load_u16(b + l + 26) + vg_load_u16(b + l + 28);
            if (data > cd_off + base || usize > cd_off + base - data)
                return corrupt(im, "appended zip entry size");
            im->labels = b + data;
            im->labels_len = usize;
            snprintf(im->labels_name, sizeof im->labels_name, "%.*s", nlen < 100 ? nlen : 100,
                     name);
        }
        p = next;
    }
    return VG_OK;
}

/* The int8 form, when the file is an int8 model (symmetric int8 weights with one scale per
 * output channel or per tensor, int32 biases, int8 activations): kept beside the dequantized
 * floats so the integer kernels can run it as TFLite does. Anything else: no int8 form. */
static vg_status build_qgraph(importer *im) {
    vg_graph *g = &im->m->g;
    fb_ctx *c = &im->c;
    for (int t = 0; t < g->n_tensors; t++) {
        int ti = t < im->cap_nodes + 1 ? im->tq[t] : -1;
        if (ti < 0 || im->t[ti].type != TT_INT8 || im->t[ti].scale.len != 1) return VG_OK;
    }
    vg_qgraph *q = vg_calloc(1, sizeof *q);
    if (!q) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    int nn = g->n_nodes;
    q->t = vg_malloc(sizeof(vg_qparam) * (size_t)g->n_tensors);
    q->w_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
    q->b_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
    q->s_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
    int64_t nw = 0, nb = 0, ns = 0;
    bool ok = q->t && q->w_off && q->b_off && q->s_off;
    for (int j = 0; ok && j < nn; j++) {
        int wt = im->node_wt[j], bt = im->node_bt[j];
        if (wt < 0) continue;
        nw += im->t[wt].count;
        if (bt >= 0) nb += im->t[bt].count;
        const vg_node *nd = &g->nodes[j];
        ns += nd->op == VG_OP_DWCONV ? im->t[wt].dims[3] : im->t[wt].dims[0];
    }
    if (ok) {
        q->w8 = vg_malloc((size_t)(nw ? nw : 1));
        q->b32 = vg_malloc(sizeof(int32_t) * (size_t)(nb ? nb : 1));
        q->ws = vg_malloc(sizeof(float) * (size_t)(ns ? ns : 1));
        ok = q->w8 && q->b32 && q->ws;
    }
    if (!ok) {
        vg_qgraph_free(q);
        return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    }
    for (int t = 0; t < g->n_tensors; t++) {
        tfl_tensor *tt = &im->t[im->tq[t]];
        int64_t z = tt->zero.len ? fb_vec_i64(c, tt->zero, 0) : 0;
        q->t[t] = (vg_qparam){fb_vec_f32(c, tt->scale, 0), (int32_t)z};
        if (!(q->t[t].scale > 0) || z < -128 || z > 127) goto none;
    }
    nw = nb = ns = 0;
    for (int j = 0; j < nn; j++) {
        q->w_off[j] = q->b_off[j] = q->s_off[j] = -1;
        int wt = im->node_wt[j], bt = im->node_bt[j];
        if (wt < 0) continue;
        tfl_tensor *w = &im->t[wt];
        const vg_node *nd = &g->nodes[j];
        int co = nd->op == VG_OP_DWCONV ? w->dims[3] : w->dims[0];
        if (w->type != TT_INT8 || !w->data || (size_t)w->count != w->data_size ||
            (w->scale.len != 1 && w->scale.len != (uint32_t)co))
            goto none;
        for (uint32_t k = 0; k < w->zero.len; k++)
            if (fb_vec_i64(c, w->zero, k) != 0) goto none; /* asymmetric weights: not this path */
        memcpy(q->w8 + nw, w->data, (size_t)w->count);
        q->w_off[j] = nw;
        nw += w->count;
        for (int k = 0; k < co; k++) q->ws[ns + k] = fb_vec_f32(c, w->scale, w->scale.len == 1 ? 0 : (uint32_t)k);
        q->s_off[j] = ns;
        ns += co;
        if (bt >= 0) {
            tfl_tensor *b = &im->t[bt];
            if (b->type != TT_INT32 || !b->data || b->count != co || b->data_size != (size_t)co * 4) goto none;
            for (int k = 0; k < co; k++) q->b32[nb + k] = (int32_t)vg_load_u32(b->data + 4 * k);
            q->b_off[j] = nb;
            nb += co;
        }
    }
    if (c->bad) goto none;
    q->n_w8 = nw, q->n_b32 = nb, q->n_ws = ns;
    im->m->q = q;
    return VG_OK;
none:
    vg_qgraph_free(q);
    return VG_OK;
}

static vg_status import(importer *im) {
    fb_ctx *c = &im->c;
    if (c->size < 8 || memcmp(c->buf + 4, "TFL3", 4) != 0)
        return vg_err_set(im->err, VG_ERR_FORMAT, "%s: not a TensorFlow Lite file (no TFL3 tag)",
                          im->file);
    fb_tab model = fb_root(c);
    if (c->bad) return corrupt(im, "root table");
    uint32_t version = fb_u32(c, model, F_MODEL_VERSION, 0);
    if (version != 3)
        return fail(im, VG_ERR_UNSUPPORTED, "schema version %u (expected 3)", version);
    fb_vec ocv = fb_vector(c, model, F_MODEL_OPCODES, 4);
    fb_vec sgv = fb_vector(c, model, F_MODEL_SUBGRAPHS, 4);
    im->buffers = fb_vector(c, model, F_MODEL_BUFFERS, 4);
    if (c->bad || ocv.len == 0 || ocv.len > 1000 || sgv.len == 0) return corrupt(im, "model table");
    if (sgv.len > 1)
        return fail(im, VG_ERR_UNSUPPORTED, "%u subgraphs (only one is supported)", sgv.len);
    /* every declared buffer must lie inside the file, used or not: a cut anywhere is reported
     * as truncation rather than silently importing what happens to remain */
    for (uint32_t i = 0; i < im->buffers.len && !c->bad; i++) {
        fb_tab b = fb_vec_table(c, im->buffers, i);
        (void)fb_vector(c, b, F_BUF_DATA, 1);
        uint64_t off = fb_u64(c, b, F_BUF_OFFSET, 0), size = fb_u64(c, b, F_BUF_SIZE, 0);
        if (off > 1 && (off > c->size || size > c->size - off)) c->bad = true;
    }
    if (c->bad) return corrupt(im, "buffer table");
    im->n_opcodes = ocv.len;
    im->opcodes = vg_malloc(sizeof(int32_t) * ocv.len);
    if (!im->opcodes) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < ocv.len; i++) {
        fb_tab oc = fb_vec_table(c, ocv, i);
        int32_t dep = fb_i8(c, oc, F_OPC_DEPRECATED, 0), bi = fb_i32(c, oc, F_OPC_BUILTIN, 0);
        uint32_t clen;
        if (fb_string(c, oc, F_OPC_CUSTOM, &clen) && clen > 0)
            return fail(im, VG_ERR_UNSUPPORTED, "custom operators are not supported");
        im->opcodes[i] = dep > bi ? dep : bi;
    }
    if (c->bad) return corrupt(im, "operator codes");
    fb_tab sg = fb_vec_table(c, sgv, 0);
    vg_status st = read_tensors(im, sg);
    if (st != VG_OK) return st;

    fb_vec inv = fb_vector(c, sg, F_SG_INPUTS, 4), outv = fb_vector(c, sg, F_SG_OUTPUTS, 4);
    if (c->bad || inv.len != 1 || outv.len != 1)
        return fail(im, VG_ERR_UNSUPPORTED, "expected one input and one output tensor");
    int32_t in_t = fb_vec_i32(c, inv, 0), out_t = fb_vec_i32(c, outv, 0);
    if (in_t < 0 || (uint32_t)in_t >= im->n_tensors || out_t < 0 ||
        (uint32_t)out_t >= im->n_tensors)
        return corrupt(im, "input/output index");
    tfl_tensor *it = &im->t[in_t];
    if (it->rank != 4 || it->dims[0] != 1 || it->dims[3] != 3 || it->dims[1] < 8 ||
        it->dims[2] < 8 || it->dims[1] > 4096 || it->dims[2] > 4096)
        return fail(im, VG_ERR_UNSUPPORTED, "input tensor '%s' must be 1 x H x W x 3", it->name);
    vg_input_spec *spec = &im->m->input;
    spec->h = it->dims[1];
    spec->w = it->dims[2];
    spec->c = 3;
    /* pixels p in 0..255 feed the network as q = p (uint8) or p - 128 (int8); the network sees
     * scale * (q - zero), i.e. (p - mean) / std */
    float mean = 127.5f, std = 127.5f;
    if (it->type == TT_UINT8 || it->type == TT_INT8) {
        if (it->scale.len != 1)
            return fail(im, VG_ERR_FORMAT, "input tensor '%s' lacks quantization", it->name);
        float s = fb_vec_f32(c, it->scale, 0);
        int64_t z = it->zero.len ? fb_vec_i64(c, it->zero, 0) : 0;
        if (!(s > 0.0f) || !isfinite(s) || z < -128 || z > 255)
            return fail(im, VG_ERR_FORMAT, "input tensor '%s' has invalid quantization", it->name);
        mean = (float)z + (it->type == TT_INT8 ? 128.0f : 0.0f);
        std = 1.0f / s;
    } else if (it->type != TT_FLOAT32) {
        return fail(im, VG_ERR_UNSUPPORTED, "input tensor '%s' has an unsupported type", it->name);
    }
    for (int k = 0; k < 3; k++) spec->mean[k] = mean, spec->std[k] = std;
    im->tmap[in_t] = 0;

    fb_vec opv = fb_vector(c, sg, F_SG_OPERATORS, 4);
    if (c->bad || opv.len == 0 || opv.len > TFL_MAX_OPS) return corrupt(im, "operator list");
    im->cap_nodes = (int)opv.len + 1;
    im->node_wt = vg_malloc(sizeof(int) * (size_t)im->cap_nodes);
    im->node_bt = vg_malloc(sizeof(int) * (size_t)im->cap_nodes);
    im->tq = vg_malloc(sizeof(int) * (size_t)(im->cap_nodes + 1));
    if (!im->node_wt || !im->node_bt || !im->tq) return vg_err_set(im->err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < im->cap_nodes; i++) im->node_wt[i] = im->node_bt[i] = -1;
    for (int i = 0; i <= im->cap_nodes; i++) im->tq[i] = -1;
    im->tq[0] = in_t;
    for (uint32_t k = 0; k < opv.len; k++) {
        fb_tab op = fb_vec_table(c, opv, k);
        if (c->bad) return corrupt(im, "operator table");
        st = import_op(im, k, op);
        if (st != VG_OK) return st;
    }
    if (im->tmap[out_t] <= 0) return fail(im, VG_ERR_FORMAT, "output tensor '%s' is never produced",
                    im->t[out_t].name);
    im->m->g.output = im->tmap[out_t];
    st = check_shapes(im);
    if (st == VG_OK) st = build_qgraph(im);
    return st == VG_OK ? read_trailer(im) : st;
}

vg_status vg_import_tflite_mem(const void *data, size_t size, const char *name, vg_model **out,
                               vg_err *err) {
    *out = NULL;
    importer im;
    memset(&im, 0, sizeof im);
    im.c = (fb_ctx){data, size, false, 0};
    im.file = name;
    im.err = err;
    im.m = vg_model_new();
    if (!im.m) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = import(&im);
    if (st == VG_OK) {
        const char *base = strrchr(name, '/');
        st = vg_model_set_meta(im.m, "source", base ? base + 1 : name, err);
    }
    /* embedded labels are a convenience: used only when they fit the outputs exactly */
    if (st == VG_OK && im.labels &&
        vg_model_set_labels_text(im.m, im.labels, im.labels_len, im.labels_name, NULL) == VG_OK)
        st = vg_model_set_meta(im.m, "labels", im.labels_name, err);
    if (st == VG_OK) st = vg_model_validate(im.m, err);
    free(im.t);
    free(im.tmap);
    free(im.opcodes);
    free(im.node_wt), free(im.node_bt), free(im.tq);
    if (st != VG_OK) {
        vg_model_free(im.m);
        return st;
    }
    *out = im.m;
    return VG_OK;
}

vg_status vg_import_tflite(const char *path, vg_model **out, vg_err *err) {
    *out = NULL;
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(path, TFL_MAX_BYTES, &data, &size, err);
    if (st != VG_OK) return st;
    st = vg_import_tflite_mem(data, size, path, out, err);
    free(data);
    return st;
}

/* Any model file: a TFLite flatbuffer (its identifier at byte 4) is imported, anything else is
 * read as vigie's own .vgm / .vge. Here rather than in model/: the model layer knows only its
 * own formats, the importers sit above it. */
vg_status vg_model_open(const char *path, vg_model **out, vg_err *err) {
    *out = NULL;
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t got = fread(head, 1, sizeof head, f);
        (void)got;
        fclose(f);
    }
    if (memcmp(head + 4, "TFL3", 4) == 0) return vg_import_tflite(path, out, err);
    /* protobuf has no magic number: an ONNX file is known by its name */
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".onnx")) return vg_import_onnx(path, NULL, out, err);
    return vg_model_load(path, out, err);
}
