/* graph.c — building, copying and validating vigie graphs (see graph.h). Validation is the one
 * gate every graph passes before it runs, whether it was built in code, imported or loaded, so
 * it assumes nothing about where the numbers came from. */
#include "model/graph.h"

#include <math.h>
#include <string.h>

void vg_graph_init(vg_graph *g) {
    memset(g, 0, sizeof *g);
    g->n_tensors = 1;
    g->output = 0;
}

void vg_graph_free(vg_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->params);
    vg_graph_init(g);
}

bool vg_graph_copy(vg_graph *dst, const vg_graph *src) {
    vg_graph_init(dst);
    *dst = *src;
    dst->nodes = NULL;
    dst->params = NULL;
    dst->cap_nodes = src->n_nodes;
    dst->cap_params = src->n_params;
    if (src->n_nodes) {
        dst->nodes = vg_malloc(sizeof(vg_node) * (size_t)src->n_nodes);
        if (!dst->nodes) goto fail;
        memcpy(dst->nodes, src->nodes, sizeof(vg_node) * (size_t)src->n_nodes);
    }
    if (src->n_params) {
        dst->params = vg_malloc(sizeof(float) * (size_t)src->n_params);
        if (!dst->params) goto fail;
        memcpy(dst->params, src->params, sizeof(float) * (size_t)src->n_params);
    }
    return true;
fail:
    free(dst->nodes);
    free(dst->params);
    vg_graph_init(dst);
    return false;
}

const char *vg_op_name(vg_op op) {
    switch (op) {
    case VG_OP_CONV: return "conv";
    case VG_OP_DWCONV: return "dwconv";
    case VG_OP_BN: return "batchnorm";
    case VG_OP_ADD: return "add";
    case VG_OP_GAP: return "avgpool";
    case VG_OP_FC: return "fc";
    case VG_OP_SOFTMAX: return "softmax";
    case VG_OP_GMAX: return "maxpool";
    case VG_OP_MUL: return "mul";
    case VG_OP_COUNT_: break;
    }
    return "?";
}

/* Reserves n zeroed floats; returns the offset or -1. */
static int64_t alloc_params(vg_graph *g, int64_t n) {
    if (n < 0 || g->n_params + n > VG_MAX_PARAMS) return -1;
    if (g->n_params + n > g->cap_params) {
        int64_t cap = g->cap_params ? g->cap_params : 1024;
        while (cap < g->n_params + n) cap *= 2;
        float *p = vg_realloc(g->params, sizeof(float) * (size_t)cap);
        if (!p) return -1;
        g->params = p;
        g->cap_params = cap;
    }
    int64_t off = g->n_params;
    memset(g->params + off, 0, sizeof(float) * (size_t)n);
    g->n_params += n;
    return off;
}

int vg_graph_push(vg_graph *g, const vg_node *n) {
    if (g->n_nodes >= VG_MAX_NODES) return -1;
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        vg_node *p = vg_realloc(g->nodes, sizeof(vg_node) * (size_t)cap);
        if (!p) return -1;
        g->nodes = p;
        g->cap_nodes = cap;
    }
    vg_node *dst = &g->nodes[g->n_nodes++];
    memcpy(dst, n, sizeof *dst); /* padding too: nodes compare byte for byte (tests) */
    dst->out = g->n_tensors++;
    g->output = dst->out;
    return dst->out;
}

static vg_node node_base(vg_op op, int in, vg_act act) {
    vg_node n;
    memset(&n, 0, sizeof n);
    n.op = (uint8_t)op;
    n.act = (uint8_t)act;
    n.in[0] = in;
    n.in[1] = -1;
    n.kh = n.kw = n.sh = n.sw = 1;
    n.w = n.b = -1;
    return n;
}

static int push_with_params(vg_graph *g, vg_node *n, int64_t nw, int64_t nb) {
    if (nw > 0 && (n->w = alloc_params(g, nw)) < 0) return -1;
    if (nb > 0 && (n->b = alloc_params(g, nb)) < 0) return -1;
    return vg_graph_push(g, n);
}

static void set_pad(vg_node *n, vg_pad_mode mode, const int pad[4]) {
    n->pad_mode = (uint8_t)mode;
    for (int i = 0; i < 4; i++) n->pad[i] = (mode == VG_PAD_EXPLICIT && pad) ? pad[i] : 0;
}

int vg_graph_conv(vg_graph *g, int in, int ci, int co, int kh, int kw, int stride,
                  vg_pad_mode pad_mode, const int pad[4], bool bias, vg_act act) {
    vg_node n = node_base(VG_OP_CONV, in, act);
    n.kh = kh;
    n.kw = kw;
    n.sh = n.sw = stride;
    n.co = co;
    set_pad(&n, pad_mode, pad);
    return push_with_params(g, &n, (int64_t)co * kh * kw * ci, bias ? co : 0);
}

int vg_graph_dwconv(vg_graph *g, int in, int c, int kh, int kw, int stride, vg_pad_mode pad_mode,
                    const int pad[4], bool bias, vg_act act) {
    vg_node n = node_base(VG_OP_DWCONV, in, act);
    n.kh = kh;
    n.kw = kw;
    n.sh = n.sw = stride;
    set_pad(&n, pad_mode, pad);
    return push_with_params(g, &n, (int64_t)kh * kw * c, bias ? c : 0);
}

int vg_graph_bn(vg_graph *g, int in, int c, float eps, vg_act act) {
    vg_node n = node_base(VG_OP_BN, in, act);
    n.eps = eps;
    int out = push_with_params(g, &n, 0, 4 * (int64_t)c);
    if (out < 0) return -1;
    /* identity until loaded: gamma = 1, var = 1 */
    float *p = g->params + g->nodes[g->n_nodes - 1].b;
    for (int i = 0; i < c; i++) p[i] = p[3 * c + i] = 1.0f;
    return out;
}

int vg_graph_add(vg_graph *g, int a, int b, vg_act act) {
    vg_node n = node_base(VG_OP_ADD, a, act);
    n.in[1] = b;
    return vg_graph_push(g, &n);
}

int vg_graph_mul(vg_graph *g, int a, int b, vg_act act) {
    vg_node n = node_base(VG_OP_MUL, a, act);
    n.in[1] = b;
    return vg_graph_push(g, &n);
}

int vg_graph_gap(vg_graph *g, int in) {
    vg_node n = node_base(VG_OP_GAP, in, VG_ACT_NONE);
    return vg_graph_push(g, &n);
}

int vg_graph_gmax(vg_graph *g, int in) {
    vg_node n = node_base(VG_OP_GMAX, in, VG_ACT_NONE);
    return vg_graph_push(g, &n);
}

int vg_graph_fc(vg_graph *g, int in, int ci, int co, bool bias, vg_act act) {
    vg_node n = node_base(VG_OP_FC, in, act);
    n.co = co;
    return push_with_params(g, &n, (int64_t)co * ci, bias ? co : 0);
}

int vg_graph_softmax(vg_graph *g, int in) {
    vg_node n = node_base(VG_OP_SOFTMAX, in, VG_ACT_NONE);
    return vg_graph_push(g, &n);
}

/* product of four factors; INT64_MAX when it overflows or a factor is negative (a hostile file:
 * the caller then finds the count out of the parameter range) */
static int64_t mul4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t r;
    if (a < 0 || b < 0 || c < 0 || d < 0 || __builtin_mul_overflow(a, b, &r) ||
        __builtin_mul_overflow(r, c, &r) || __builtin_mul_overflow(r, d, &r))
        return INT64_MAX;
    return r;
}

int64_t vg_node_weight_count(const vg_node *n, int ci, int in_h, int in_w) {
    switch ((vg_op)n->op) {
    case VG_OP_CONV: return mul4(n->co, n->kh, n->kw, ci);
    case VG_OP_DWCONV: return mul4(1, n->kh, n->kw, ci);
    case VG_OP_FC: return mul4(n->co, ci, in_h, in_w);
    default: return 0;
    }
}

int64_t vg_node_bias_count(const vg_node *n, int ci) {
    switch ((vg_op)n->op) {
    case VG_OP_CONV:
    case VG_OP_FC: return n->co;
    case VG_OP_DWCONV: return ci;
    case VG_OP_BN: return 4 * (int64_t)ci;
    default: return 0;
    }
}

static bool range_ok(const vg_graph *g, int64_t off, int64_t count) {
    return off >= 0 && count >= 0 && off <= g->n_params && count <= g->n_params - off;
}

static vg_status bad(vg_err *err, int i, const vg_node *n, const char *what) {
    return vg_err_set(err, VG_ERR_FORMAT, "graph node %d (%s): %s", i,
                      vg_op_name((vg_op)n->op), what);
}

vg_status vg_graph_infer(const vg_graph *g, int h, int w, int c, vg_node_geom *geom,
                         vg_shape *shapes, vg_err *err) {
    if (h < 1 || w < 1 || c < 1 || h > VG_MAX_SPATIAL || w > VG_MAX_SPATIAL ||
        c > VG_MAX_CHANNELS)
        return vg_err_set(err, VG_ERR_FORMAT, "graph: input size %dx%dx%d out of range", h, w, c);
    if (g->n_nodes < 1 || g->n_nodes > VG_MAX_NODES)
        return vg_err_set(err, VG_ERR_FORMAT, "graph: %d nodes (expected 1..%d)", g->n_nodes,
                          VG_MAX_NODES);
    if (g->n_tensors != g->n_nodes + 1)
        return vg_err_set(err, VG_ERR_FORMAT, "graph: %d tensors for %d nodes", g->n_tensors,
                          g->n_nodes);
    if (g->output < 1 || g->output >= g->n_tensors)
        return vg_err_set(err, VG_ERR_FORMAT, "graph: output tensor %d out of range", g->output);
    /* shapes the caller does not want: on the stack for ordinary graphs (no allocation that
     * could fail: vg_model_get_info and friends answer without a status) */
    vg_shape stack[512];
    vg_shape *sh = shapes                   ? shapes
                   : g->n_tensors <= 512 ? stack
                                         : vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    if (!sh) return vg_err_set(err, VG_ERR_NOMEM, "graph: out of memory");
    vg_status st = VG_OK;
    sh[0] = (vg_shape){h, w, c};

    for (int i = 0; i < g->n_nodes && st == VG_OK; i++) {
        const vg_node *n = &g->nodes[i];
        vg_node_geom gm;
        memset(&gm, 0, sizeof gm);
        if (n->op < 1 || n->op >= VG_OP_COUNT_) {
            st = vg_err_set(err, VG_ERR_FORMAT, "graph node %d: unknown op %d", i, n->op);
            break;
        }
        if (n->act >= VG_ACT_COUNT_) {
            st = bad(err, i, n, "unknown activation");
            break;
        }
        /* node i produces tensor i+1, so inputs must be older tensors: this also rules out
         * cycles and use-before-definition */
        if (n->out != i + 1) {
            st = bad(err, i, n, "output tensor out of order");
            break;
        }
        if (n->in[0] < 0 || n->in[0] > i) {
            st = bad(err, i, n, "input tensor undefined");
            break;
        }
        bool two = n->op == VG_OP_ADD || n->op == VG_OP_MUL;
        if (two ? (n->in[1] < 0 || n->in[1] > i) : n->in[1] != -1) {
            st = bad(err, i, n, "second input tensor invalid");
            break;
        }
        vg_shape in = sh[n->in[0]], out = in;
        gm.in = in;
        if (two) gm.in2 = sh[n->in[1]];
        int64_t nw = vg_node_weight_count(n, in.c, in.h, in.w);
        int64_t nb = vg_node_bias_count(n, in.c);
        switch ((vg_op)n->op) {
        case VG_OP_CONV:
        case VG_OP_DWCONV: {
            if (n->kh < 1 || n->kw < 1 || n->kh > VG_MAX_KERNEL || n->kw > VG_MAX_KERNEL) {
                st = bad(err, i, n, "kernel size out of range");
                break;
            }
            if (n->sh < 1 || n->sw < 1 || n->sh > VG_MAX_STRIDE || n->sw > VG_MAX_STRIDE) {
                st = bad(err, i, n, "stride out of range");
                break;
            }
            if (n->pad_mode > VG_PAD_SAME) {
                st = bad(err, i, n, "unknown padding mode");
                break;
            }
            int co = n->op == VG_OP_CONV ? n->co : in.c;
            if (co < 1 || co > VG_MAX_CHANNELS) {
                st = bad(err, i, n, "output channels out of range");
                break;
            }
            int pt, pl, pb, pr, ho, wo;
            if (n->pad_mode == VG_PAD_SAME) {
                vg_same_padding(in.h, n->kh, n->sh, &ho, &pt, &pb);
                vg_same_padding(in.w, n->kw, n->sw, &wo, &pl, &pr);
            } else {
                pt = n->pad[0], pl = n->pad[1], pb = n->pad[2], pr = n->pad[3];
                if (pt < 0 || pb < 0 || pt >= n->kh || pb >= n->kh || pl < 0 || pr < 0 ||
                    pl >= n->kw || pr >= n->kw) {
                    st = bad(err, i, n, "padding out of range");
                    break;
                }
                if (in.h + pt + pb < n->kh || in.w + pl + pr < n->kw) {
                    st = bad(err, i, n, "kernel larger than the padded input");
                    break;
                }
                ho = (in.h + pt + pb - n->kh) / n->sh + 1;
                wo = (in.w + pl + pr - n->kw) / n->sw + 1;
            }
            out = (vg_shape){ho, wo, co};
            gm.conv = (vg_conv_desc){1, in.h, in.w, in.c, co, n->kh, n->kw, n->sh, n->sw,
                                     pt, pl, ho, wo};
            int64_t macs = (int64_t)ho * wo * co * n->kh * n->kw * (n->op == VG_OP_CONV ? in.c : 1);
            gm.flops = 2 * macs;
            break;
        }
        case VG_OP_BN:
            if (!(n->eps > 0.0f) || !isfinite(n->eps)) st = bad(err, i, n, "epsilon must be > 0");
            gm.flops = 2 * (int64_t)in.h * in.w * in.c;
            break;
        case VG_OP_ADD: {
            vg_shape b = gm.in2;
            if (b.h != in.h || b.w != in.w || b.c != in.c) st = bad(err, i, n, "shapes differ");
            gm.flops = (int64_t)in.h * in.w * in.c;
            break;
        }
        case VG_OP_MUL: {
            vg_shape b = gm.in2;
            bool same = b.h == in.h && b.w == in.w;
            if (b.c != in.c || !(same || vg_mul_per_channel(&gm)))
                st = bad(err, i, n, "shapes differ");
            gm.flops = (int64_t)in.h * in.w * in.c;
            break;
        }
        case VG_OP_GAP:
        case VG_OP_GMAX:
            out = (vg_shape){1, 1, in.c};
            gm.flops = (int64_t)in.h * in.w * in.c;
            break;
        case VG_OP_FC:
            if (n->co < 1 || n->co > VG_MAX_CHANNELS) {
                st = bad(err, i, n, "output channels out of range");
                break;
            }
            out = (vg_shape){1, 1, n->co};
            gm.flops = 2 * nw;
            break;
        case VG_OP_SOFTMAX:
            gm.flops = 3 * (int64_t)in.h * in.w * in.c;
            break;
        case VG_OP_COUNT_: break;
        }
        if (st != VG_OK) break;
        if (out.h > VG_MAX_SPATIAL || out.w > VG_MAX_SPATIAL ||
            (int64_t)out.h * out.w * out.c > VG_MAX_TENSOR) {
            st = bad(err, i, n, "output too large");
            break;
        }
        /* weights are mandatory where they exist; bias optional except for BN */
        bool need_w = n->op == VG_OP_CONV || n->op == VG_OP_DWCONV || n->op == VG_OP_FC;
        if (need_w ? !range_ok(g, n->w, nw) : n->w != -1) {
            st = bad(err, i, n, "weights outside the parameter arena");
            break;
        }
        bool bias_ok = n->b == -1 ? n->op != VG_OP_BN : (nb > 0 && range_ok(g, n->b, nb));
        if (!bias_ok) {
            st = bad(err, i, n, "bias outside the parameter arena");
            break;
        }
        gm.out = out;
        sh[n->out] = out;
        if (geom) geom[i] = gm;
    }
    if (sh != shapes && sh != stack) free(sh);
    return st;
}
