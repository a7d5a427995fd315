/* runner.c — plans and runs the forward pass of a model: resolves shapes once, assigns
 * activation buffers by liveness (a buffer is reused as soon as its tensor's last reader has
 * run), and dispatches each node to the kernel table.
 *
 * Fusion, same bits as the two separate layers. Float path: a 1x1 convolution whose sole
 * reader is the residual ADD right after it runs as one GEMM whose epilogue adds the residual
 * (and applies the ADD's activation), writing the ADD's output; the ADD is skipped. Int8 path
 * (fast kernels): a 1x1 convolution whose sole reader is the depthwise right after it (the
 * expansion of an inverted residual block) runs with it (vg_q8_pwdw_run), writing the
 * depthwise's output; the expanded tensor is never stored. Not done with keep_all (every
 * tensor must stay readable) or with vg_runner_opts.unfused (A/B comparisons). */
#include "model/runner.h"

#include "model/plan.h"

#include "cpu/backend.h"
#include "cpu/q8.h"
#include "ops/ops_q8.h"

#include <string.h>

struct vg_runner {
    const vg_model *m;
    vg_cpu *cpu;
    int batch, threads;
    vg_node_geom *geom; /* per node */
    vg_shape *shapes;   /* per tensor */
    float **t;          /* per tensor: buffer (t[0] = caller's input) */
    float *arena;
    size_t arena_floats;
    float *input; /* preprocessing buffer for vg_runner_classify (batch 1) */
    float *output; /* (batch, n_out): the mirror images' outputs (tta_flip) */
    int n_out;
    bool ends_in_softmax;
    bool tta_flip; /* the model asks for its mirror image to be averaged in (meta tta=flip) */
    /* int8 execution (model->q) */
    bool q8;
    int8_t **t8;      /* per tensor */
    int8_t *arena8;
    int32_t *mult, *shift; /* per output channel, at the node's q->s_off */
    int32_t *lo, *hi;      /* per node: clamp range of the fused activation */
    vg_add_q8 *addp;       /* per node */
    vg_q8_gemm_plan *qg;   /* per node: GEMM-shaped layers (pointwise, im2col conv, fc) */
    vg_q8_dw_plan *qd;     /* per node: depthwise layers */
    void *ws8;             /* scratch of the int8 convs: threads x the largest need */
    float *flipped;
    bool keep_all; /* no buffer reuse: every tensor stays readable */
    int kchoice;   /* the kernel set (cpu/backend.h): vg_runner_opts.kernels, else the process's */
    vg_q8_sel q8sel;
    const vg_q8_sel *q8s; /* &q8sel, or NULL: int8 layers on the portable kernels only */
    bool unfused;  /* vg_runner_opts.unfused */
    float **packed; /* per node: pre-packed GEMM weights, or NULL */
    bool profile;
    double *prof_s; /* per node: accumulated seconds */
    int *prof_calls;
    int *res_of; /* per node: the residual tensor a fused 1x1 conv adds, else -1 */
    bool *pwdw;  /* per node: an int8 1x1 conv that runs the depthwise after it */
    bool *fused; /* per node: computed by the node before it (ADD, or int8 depthwise) */
};

vg_runner_opts vg_runner_opts_default(void) {
    vg_runner_opts o = {1, 1, VG_PRECISION_AUTO, 0, NULL};
    return o;
}

vg_status vg_set_kernels(const char *name, vg_err *err) { return vg_kernels_select(name, err); }

const char *vg_kernels_name(void) { return vg_kernels_best()->name; }

int vg_runner_is_int8(const vg_runner *r) { return r->q8; }

/* int8 plan: activation buffers laid out like the float plan (same element offsets), the
 * requantization multipliers of every output channel, clamp ranges, add parameters */
static bool plan_q8(vg_runner *r) {
    const vg_graph *g = &r->m->g;
    const vg_qgraph *q = r->m->q;
    int nt = g->n_tensors, nn = g->n_nodes;
    size_t in = (size_t)r->batch * r->m->input.h * r->m->input.w * r->m->input.c;
    r->t8 = vg_calloc((size_t)nt, sizeof(int8_t *));
    r->arena8 = vg_malloc(r->arena_floats + in + 64);
    r->mult = vg_malloc(sizeof(int32_t) * (size_t)(q->n_ws + 1));
    r->shift = vg_malloc(sizeof(int32_t) * (size_t)(q->n_ws + 1));
    r->lo = vg_malloc(sizeof(int32_t) * (size_t)nn);
    r->hi = vg_malloc(sizeof(int32_t) * (size_t)nn);
    r->addp = vg_calloc((size_t)nn, sizeof(vg_add_q8));
    if (!r->t8 || !r->arena8 || !r->mult || !r->shift || !r->lo || !r->hi || !r->addp) return false;
    r->t8[0] = r->arena8 + r->arena_floats;
    for (int t = 1; t < nt; t++) r->t8[t] = r->arena8 + (r->t[t] - r->arena);
    for (int j = 0; j < nn; j++) {
        const vg_node *nd = &g->nodes[j];
        vg_qparam qi = q->t[nd->in[0]], qo = q->t[nd->out];
        vg_act_range_q8(nd->act, qo, &r->lo[j], &r->hi[j]);
        if (q->s_off[j] >= 0) {
            int co = r->geom[j].out.c;
            for (int c = 0; c < co; c++) {
                int64_t k = q->s_off[j] + c;
                vg_quantize_multiplier((double)qi.scale * q->ws[k] / qo.scale, &r->mult[k], &r->shift[k]);
            }
        }
        if (nd->op == VG_OP_ADD) vg_add_q8_prepare(qi, q->t[nd->in[1]], qo, nd->act, &r->addp[j]);
    }
    /* every conv-like layer is prepared once: packed weights, corrected biases, per-channel
     * requantization constants (cpu/q8.h); general convs go through an int8 im2col; one
     * scratch area per thread serves them all */
    r->qg = vg_calloc((size_t)nn, sizeof(vg_q8_gemm_plan));
    r->qd = vg_calloc((size_t)nn, sizeof(vg_q8_dw_plan));
    if (!r->qg || !r->qd) return false;
    size_t ws = 0;
    for (int j = 0; j < nn; j++) {
        const vg_node *nd = &g->nodes[j];
        const vg_node_geom *gm = &r->geom[j];
        if (nd->op != VG_OP_CONV && nd->op != VG_OP_FC && nd->op != VG_OP_DWCONV) continue;
        vg_q8_out o = {q->t[nd->in[0]].zp, q->t[nd->out].zp, r->lo[j], r->hi[j],
                       r->mult + q->s_off[j], r->shift + q->s_off[j], q->rounding};
        const int8_t *w = q->w8 + q->w_off[j];
        const int32_t *b = q->b_off[j] >= 0 ? q->b32 + q->b_off[j] : NULL;
        if (nd->op == VG_OP_DWCONV) {
            vg_conv_desc d = gm->conv;
            d.n = r->batch;
            if (!vg_q8_dw_plan_init(&r->qd[j], &d, w, b, &o, r->q8s)) return false;
            size_t s = vg_q8_dw_scratch(&r->qd[j]);
            if (s > ws) ws = s;
            continue;
        }
        int k = nd->op == VG_OP_FC ? gm->in.h * gm->in.w * gm->in.c : nd->kh * nd->kw * gm->in.c;
        if (!vg_q8_gemm_plan_init(&r->qg[j], nd->co, k, w, b, &o, r->q8s)) return false;
        if (nd->op == VG_OP_CONV && !vg_conv_pointwise(&gm->conv)) {
            size_t s = vg_q8_conv_scratch(&r->qg[j]);
            if (s > ws) ws = s;
        }
    }
    for (int j = 0; j + 1 < nn; j++) /* plan_fusion chose these with the same conditions */
        VG_ASSERT(!r->pwdw[j] || vg_q8_pwdw_fusable(&r->qg[j], &r->qd[j + 1]));
    r->ws8 = ws ? vg_aligned_alloc(64, ws * (size_t)r->threads) : NULL;
    return !ws || r->ws8;
}

void vg_runner_free(vg_runner *r) {
    if (!r) return;
    for (int i = 0; r->packed && i < r->m->g.n_nodes; i++) free(r->packed[i]);
    free(r->packed);
    vg_cpu_free(r->cpu);
    free(r->prof_s);
    free(r->prof_calls);
    free(r->res_of);
    free(r->pwdw);
    free(r->fused);
    free(r->geom);
    free(r->shapes);
    free(r->t);
    free(r->arena);
    free(r->input);
    free(r->output);
    free(r->flipped);
    free(r->t8), free(r->arena8), free(r->mult), free(r->shift), free(r->lo), free(r->hi);
    free(r->addp);
    for (int i = 0; r->qg && i < r->m->g.n_nodes; i++) vg_q8_gemm_plan_free(&r->qg[i]);
    for (int i = 0; r->qd && i < r->m->g.n_nodes; i++) vg_q8_dw_plan_free(&r->qd[i]);
    free(r->qg), free(r->qd), free(r->ws8);
    free(r);
}

static size_t tensor_floats(const vg_shape *s, int batch) {
    return (size_t)batch * (size_t)s->h * (size_t)s->w * (size_t)s->c;
}


/* Float: marks the 1x1 conv + ADD pairs to run as one GEMM with a residual epilogue: the conv
 * has no activation of its own, node i+1 is an ADD reading the conv's output as exactly one of
 * its inputs, and nothing else (no other node, not the graph output) reads that output.
 * Int8 with the fast kernels: marks the 1x1 conv + depthwise pairs, node i+1 a depthwise that
 * is the only reader of the conv's output. */
static void plan_fusion(vg_runner *r) {
    const vg_graph *g = &r->m->g;
    int nn = g->n_nodes;
    for (int i = 0; i < nn; i++) r->res_of[i] = -1, r->pwdw[i] = false, r->fused[i] = false;
    if (r->keep_all || r->unfused) return;
    if (r->q8 && !(r->q8s && r->q8s->fast)) return;
    int *readers = vg_calloc((size_t)g->n_tensors, sizeof(int));
    if (!readers) return; /* fusion is an optimisation: without memory, run unfused */
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < 2; j++)
            if (g->nodes[i].in[j] >= 0) readers[g->nodes[i].in[j]]++;
    for (int i = 0; r->q8 && i + 1 < nn; i++) {
        const vg_node *c = &g->nodes[i], *dw = &g->nodes[i + 1];
        int t = c->out;
        if (c->op != VG_OP_CONV || !vg_conv_pointwise(&r->geom[i].conv) || dw->op != VG_OP_DWCONV ||
            dw->in[0] != t || readers[t] != 1 || t == g->output || r->fused[i] ||
            !vg_q8_dw_fast_shape(r->q8s, &r->geom[i + 1].conv))
            continue;
        /* what fusion saves is the expanded tensor's trip through the caches; below ~128 KB
         * (MobileNetV2 224: the 14x14 and 7x7 blocks) it stays in L2 anyway, and the
         * row-by-row pointwise of the fused pass is then a little slower (measured) */
        if (tensor_floats(&r->shapes[t], 1) < 128 * 1024) continue;
        r->pwdw[i] = true;
        r->fused[i + 1] = true;
    }
    for (int i = 0; !r->q8 && i + 1 < nn; i++) {
        const vg_node *c = &g->nodes[i], *a = &g->nodes[i + 1];
        if (c->op != VG_OP_CONV || c->act != VG_ACT_NONE || !vg_conv_pointwise(&r->geom[i].conv) ||
            a->op != VG_OP_ADD || !vg_act_simple((vg_act)a->act) || r->fused[i])
            continue;
        int t = c->out;
        if ((a->in[0] == t) == (a->in[1] == t) || readers[t] != 1 || t == g->output) continue;
        r->res_of[i] = a->in[0] == t ? a->in[1] : a->in[0];
        r->fused[i + 1] = true;
    }
    free(readers);
}

/* Activation buffers by lifetime (vg_plan_place, as the trainer's), node by node. A fused
 * conv writes the next node's output (the ADD's, or the int8 depthwise's): that buffer is born
 * when the conv runs, while the conv's input (and the residual) are still live, so it overlaps
 * neither; the conv's own output tensor shares it (an ADD's input, read at the same place
 * before it is written; a depthwise's, never stored). False on allocation failure. */
static bool plan_buffers(vg_runner *r) {
    const vg_graph *g = &r->m->g;
    int nt = g->n_tensors;
    int *birth = vg_malloc(sizeof(int) * (size_t)nt), *death = vg_malloc(sizeof(int) * (size_t)nt);
    int *home = vg_malloc(sizeof(int) * (size_t)nt); /* the tensor whose buffer t uses */
    size_t *size = vg_calloc((size_t)nt, sizeof(size_t)), *off = vg_calloc((size_t)nt, sizeof(size_t));
    bool *dedicated = vg_malloc(sizeof(bool) * (size_t)nt);
    bool ok = birth && death && home && size && off && dedicated;
    for (int t = 0; ok && t < nt; t++) birth[t] = death[t] = -1, home[t] = t, dedicated[t] = r->keep_all;
    for (int i = 0; ok && i < g->n_nodes; i++) {
        if (r->fused[i]) continue;
        int out = g->nodes[i].out;
        if (r->res_of[i] >= 0 || r->pwdw[i]) home[out] = g->nodes[i + 1].out, out = home[out];
        birth[out] = death[out] = i;
        size[out] = tensor_floats(&r->shapes[out], r->batch);
    }
    /* a buffer lives to the last read of any tensor in it; the output to the end */
    for (int i = 0; ok && i < g->n_nodes; i++)
        for (int j = 0; j < 2; j++) {
            int in = g->nodes[i].in[j];
            if (in > 0 && death[home[in]] < i) death[home[in]] = i;
        }
    if (ok) death[home[g->output]] = g->n_nodes;
    size_t total = ok ? vg_plan_place(nt, birth, death, size, dedicated, off) : SIZE_MAX;
    ok = total != SIZE_MAX;
    if (ok) {
        r->arena_floats = total;
        r->arena = vg_aligned_alloc(64, (total ? total : 16) * sizeof(float));
        ok = r->arena != NULL;
    }
    for (int t = 1; ok && t < nt; t++) r->t[t] = r->arena + off[home[t]];
    free(birth), free(death), free(home), free(size), free(off), free(dedicated);
    return ok;
}

static vg_status runner_init(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                             bool keep_all, bool q8_fast, vg_err *err);

vg_status vg_runner_init(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                         vg_err *err) {
    return runner_init(out, m, opts, false, true, err);
}

vg_status vg_runner_init_ex(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                            bool keep_all, vg_err *err) {
    return runner_init(out, m, opts, keep_all, true, err);
}

vg_status vg_runner_init_portable(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                                  vg_err *err) {
    return runner_init(out, m, opts, false, false, err);
}

const float *vg_runner_tensor(const vg_runner *r, int t) {
    VG_ASSERT(t >= 1 && t < r->m->g.n_tensors);
    return r->t[t];
}

static vg_status runner_init(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                             bool keep_all, bool q8_fast, vg_err *err) {
    *out = NULL;
    vg_runner_opts o = opts ? *opts : vg_runner_opts_default();
    if (o.threads < 1 || o.threads > 256)
        return vg_err_set(err, VG_ERR_ARG, "threads must be 1..256, not %d", o.threads);
    if (o.batch < 1 || o.batch > 4096)
        return vg_err_set(err, VG_ERR_ARG, "batch must be 1..4096, not %d", o.batch);
    int kchoice;
    vg_status kst = vg_kernels_resolve(o.kernels, &kchoice, err);
    if (kst != VG_OK) return kst;
    vg_runner *r = vg_calloc(1, sizeof *r);
    if (!r) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    r->m = m;
    r->keep_all = keep_all;
    r->kchoice = kchoice;
    r->q8sel = vg_q8_select(kchoice);
    r->q8s = q8_fast ? &r->q8sel : NULL;
    r->unfused = o.unfused != 0;
    r->batch = o.batch;
    r->threads = o.threads;
    const vg_graph *g = &m->g;
    r->geom = vg_calloc((size_t)g->n_nodes, sizeof(vg_node_geom));
    r->shapes = vg_calloc((size_t)g->n_tensors, sizeof(vg_shape));
    r->t = vg_calloc((size_t)g->n_tensors, sizeof(float *));
    r->prof_s = vg_calloc((size_t)g->n_nodes, sizeof(double));
    r->prof_calls = vg_calloc((size_t)g->n_nodes, sizeof(int));
    r->packed = vg_calloc((size_t)g->n_nodes, sizeof(float *));
    r->res_of = vg_malloc(sizeof(int) * (size_t)g->n_nodes);
    r->pwdw = vg_calloc((size_t)g->n_nodes, sizeof(bool));
    r->fused = vg_calloc((size_t)g->n_nodes, sizeof(bool));
    if (!r->geom || !r->shapes || !r->t || !r->prof_s || !r->prof_calls || !r->packed ||
        !r->res_of || !r->pwdw || !r->fused) {
        vg_runner_free(r);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, r->geom, r->shapes, err);
    if (st != VG_OK) {
        vg_runner_free(r);
        return st;
    }
    vg_shape os = r->shapes[g->output];
    r->n_out = os.h * os.w * os.c;
    /* the int8 path runs a final softmax in float: only when it produces the output tensor
     * (a hostile graph can name another output) */
    r->ends_in_softmax = g->nodes[g->n_nodes - 1].op == VG_OP_SOFTMAX && g->nodes[g->n_nodes - 1].out == g->output;
    size_t in_floats = (size_t)m->input.h * m->input.w * m->input.c;
    const char *tta = vg_model_get_meta(m, "tta");
    r->tta_flip = tta && strcmp(tta, "flip") == 0;
    r->flipped = r->tta_flip ? vg_malloc((size_t)o.batch * in_floats * sizeof(float)) : NULL;
    if (r->tta_flip && !r->flipped) {
        vg_runner_free(r);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    r->input = vg_malloc(in_floats * sizeof(float));
    r->output = vg_malloc((size_t)o.batch * (size_t)r->n_out * sizeof(float));
    r->cpu = vg_cpu_new(vg_kernels_for(kchoice), o.threads);
    /* the weights of every GEMM-shaped layer are packed once; a failed packing only costs
     * speed (the layer then packs at each call) */
    for (int i = 0; r->cpu && i < g->n_nodes; i++) {
        const vg_node *nd = &g->nodes[i];
        const vg_node_geom *gm = &r->geom[i];
        if (nd->op == VG_OP_CONV)
            r->packed[i] = vg_cpu_pack_weights(r->cpu, nd->co, nd->kh * nd->kw * gm->in.c,
                                               g->params + nd->w);
        else if (nd->op == VG_OP_FC)
            r->packed[i] = vg_cpu_pack_weights(r->cpu, nd->co, gm->in.h * gm->in.w * gm->in.c,
                                               g->params + nd->w);
    }
    /* im2col scratch, for the convolutions whose weights are not pre-packed */
    size_t scratch = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == VG_OP_CONV && !r->packed[i]) {
            size_t s = vg_cpu_conv2d_scratch(&r->geom[i].conv);
            if (s > scratch) scratch = s;
        }
    if (o.precision == VG_PRECISION_INT8 && !m->q) {
        vg_runner_free(r);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "the model has no int8 form (quantize it with "
                                                   "vigie optimize, or import an int8 TFLite file)");
    }
    r->q8 = m->q && o.precision != VG_PRECISION_FLOAT;
    plan_fusion(r);
    if (!r->input || !r->output || !r->cpu || !vg_cpu_reserve(r->cpu, scratch) ||
        !plan_buffers(r)) {
        vg_runner_free(r);
        return vg_err_set(err, VG_ERR_NOMEM, "cannot allocate activation memory");
    }
    if (r->q8 && !plan_q8(r)) {
        vg_runner_free(r);
        return vg_err_set(err, VG_ERR_NOMEM, "cannot allocate int8 activation memory");
    }
    *out = r;
    return VG_OK;
}

size_t vg_runner_activation_bytes(const vg_runner *r) {
    size_t in = (size_t)r->m->input.h * r->m->input.w * r->m->input.c;
    return (r->arena_floats + in + (size_t)r->n_out) * sizeof(float);
}

static void run_node(vg_runner *r, int i) {
    const vg_graph *g = &r->m->g;
    const vg_node *nd = &g->nodes[i];
    const float *x = r->t[nd->in[0]];
    if (r->res_of[i] >= 0) { /* a 1x1 conv with the ADD after it (plan_fusion) */
        const vg_node_geom *gm = &r->geom[i];
        const vg_node *a = &g->nodes[i + 1];
        size_t pix = (size_t)r->batch * gm->in.h * gm->in.w;
        vg_cpu_matmul_res(r->cpu, (int)pix, gm->conv.co, gm->conv.ci, x, g->params + nd->w, r->packed[i],
                          nd->b >= 0 ? g->params + nd->b : NULL, r->t[r->res_of[i]], (vg_act)a->act,
                          r->t[a->out]);
        return;
    }
    vg_exec_node(r->cpu, g, &r->geom[i], i, r->batch, x, nd->in[1] >= 0 ? r->t[nd->in[1]] : NULL,
                 r->packed[i], r->t[nd->out]);
}

/* one node of the integer path */
static void run_node_q8(vg_runner *r, int i) {
    const vg_graph *g = &r->m->g;
    const vg_qgraph *q = r->m->q;
    const vg_node *nd = &g->nodes[i];
    const vg_node_geom *gm = &r->geom[i];
    const int8_t *x = r->t8[nd->in[0]];
    int8_t *y = r->t8[nd->out];
    int n = r->batch;
    size_t pix = (size_t)n * gm->in.h * gm->in.w;
    vg_pool *pool = vg_cpu_pool(r->cpu);
    vg_conv_desc d = gm->conv;
    d.n = n;
    switch ((vg_op)nd->op) {
    case VG_OP_CONV:
        if (r->pwdw[i]) /* with the depthwise after it (plan_fusion) */
            vg_q8_pwdw_run(pool, &r->qg[i], &r->qd[i + 1], n, x, r->t8[g->nodes[i + 1].out], r->ws8);
        else if (vg_conv_pointwise(&d)) vg_q8_gemm_run(pool, &r->qg[i], (int)pix, x, d.ci, y, d.co);
        else vg_q8_conv_run(pool, &r->qg[i], &d, x, r->ws8, y);
        break;
    case VG_OP_DWCONV: vg_q8_dw_run(pool, &r->qd[i], n, x, y, r->ws8); break;
    case VG_OP_FC:
        vg_q8_gemm_run(pool, &r->qg[i], n, x, gm->in.h * gm->in.w * gm->in.c, y, nd->co);
        break;
    case VG_OP_ADD:
        vg_q8_add(pool, pix * (size_t)gm->in.c, x, r->t8[nd->in[1]], &r->addp[i], y, r->q8s);
        break;
    case VG_OP_GAP:
        vg_q8_gap(n, gm->in.h * gm->in.w, gm->in.c, x, q->t[nd->in[0]], q->t[nd->out], y);
        break;
    case VG_OP_BN:
    case VG_OP_GMAX:
    case VG_OP_MUL:
    case VG_OP_SOFTMAX:
    case VG_OP_COUNT_: VG_ASSERT(0); /* not in int8 graphs (softmax runs in float) */
    }
}

/* Integer forward: quantize the input, run the int8 nodes, dequantize the logits and apply a
 * final softmax in float (its int8 form would only round the probabilities). */
static void forward_q8(vg_runner *r, const float *input, float *output) {
    const vg_graph *g = &r->m->g;
    const vg_qgraph *q = r->m->q;
    size_t n_in = (size_t)r->batch * r->m->input.h * r->m->input.w * r->m->input.c;
    vg_q8_quantize(vg_cpu_pool(r->cpu), n_in, input, q->t[0], r->t8[0], r->q8s);
    int last = g->n_nodes;
    if (r->ends_in_softmax) last--;
    for (int i = 0; i < last; i++) {
        if (r->fused[i]) continue;
        double t0 = r->profile ? vg_time_now() : 0;
        run_node_q8(r, i);
        if (r->profile) r->prof_s[i] += vg_time_now() - t0, r->prof_calls[i]++;
    }
    int lt = r->ends_in_softmax ? g->nodes[g->n_nodes - 1].in[0] : g->output;
    size_t n_out = (size_t)r->batch * r->n_out;
    for (size_t i = 0; i < n_out; i++) output[i] = vg_dequantize1(r->t8[lt][i], q->t[lt]);
    if (r->ends_in_softmax) vg_softmax_ref(r->batch, r->n_out, output, output);
}

void vg_runner_forward(vg_runner *r, const float *input, float *output) {
    if (r->q8) {
        forward_q8(r, input, output);
        return;
    }
    const vg_graph *g = &r->m->g;
    r->t[0] = (float *)input; /* read only: no node writes tensor 0 */
    if (r->profile) {
        for (int i = 0; i < g->n_nodes; i++) {
            if (r->fused[i]) continue;
            double t0 = vg_time_now();
            run_node(r, i);
            r->prof_s[i] += vg_time_now() - t0;
            r->prof_calls[i]++;
        }
    } else {
        for (int i = 0; i < g->n_nodes; i++)
            if (!r->fused[i]) run_node(r, i);
    }
    memcpy(output, r->t[g->output], (size_t)r->batch * r->n_out * sizeof(float));
    r->t[0] = NULL;
}

void vg_runner_probs(vg_runner *r, const float *input, float *probs) {
    const int b = r->batch, n = r->n_out;
    vg_runner_forward(r, input, probs);
    if (!r->ends_in_softmax) vg_softmax_ref(b, n, probs, probs);
    if (r->tta_flip) { /* average with the mirror images, as the model was validated */
        const vg_input_spec *in = &r->m->input;
        const size_t img = (size_t)in->h * in->w * in->c;
        for (int k = 0; k < b; k++) {
            const float *src = input + (size_t)k * img;
            float *fx = r->flipped + (size_t)k * img;
            for (int y = 0; y < in->h; y++)
                for (int x = 0; x < in->w; x++)
                    memcpy(fx + ((size_t)y * in->w + x) * in->c,
                           src + ((size_t)y * in->w + (in->w - 1 - x)) * in->c,
                           sizeof(float) * (size_t)in->c);
        }
        vg_runner_forward(r, r->flipped, r->output);
        if (!r->ends_in_softmax) vg_softmax_ref(b, n, r->output, r->output);
        for (size_t i = 0; i < (size_t)b * n; i++)
            probs[i] = 0.5f * (probs[i] + r->output[i]);
    }
}

vg_status vg_runner_classify(vg_runner *r, const vg_image *img, float *probs, size_t n_probs,
                             vg_err *err) {
    if (r->batch != 1) return vg_err_set(err, VG_ERR_ARG, "classify needs a batch-1 runner");
    if (!probs || n_probs < (size_t)r->n_out)
        return vg_err_set(err, VG_ERR_ARG, "classify: room for %zu probabilities, the model has %d",
                          probs ? n_probs : 0, r->n_out);
    const vg_input_spec *in = &r->m->input;
    vg_status st = vg_image_to_input(img, in, r->input, (size_t)in->w * in->h * in->c, err);
    if (st != VG_OK) return st;
    vg_runner_probs(r, r->input, probs);
    return VG_OK;
}

const vg_model *vg_runner_model(const vg_runner *r) {
    return r->m;
}

int vg_runner_batch(const vg_runner *r) {
    return r->batch;
}

void vg_runner_profile(vg_runner *r, int on) {
    r->profile = on != 0;
    for (int i = 0; i < r->m->g.n_nodes; i++) r->prof_s[i] = 0, r->prof_calls[i] = 0;
}

int vg_runner_layer_stats(const vg_runner *r, vg_layer_stat *stats, int max) {
    const vg_graph *g = &r->m->g;
    for (int i = 0; i < g->n_nodes && i < max; i++) {
        const vg_node *nd = &g->nodes[i];
        const vg_node_geom *gm = &r->geom[i];
        vg_layer_stat *s = &stats[i];
        memset(s, 0, sizeof *s);
        if (r->fused[i]) /* timed with the conv before */
            snprintf(s->kind, sizeof s->kind, "%s (fused)", vg_op_name((vg_op)nd->op));
        else if (r->pwdw[i])
            snprintf(s->kind, sizeof s->kind, "pointwise+dw");
        else if (nd->op == VG_OP_CONV && nd->kh == 1 && nd->kw == 1 && nd->sh == 1 && nd->sw == 1)
            snprintf(s->kind, sizeof s->kind, "pointwise");
        else if (nd->op == VG_OP_CONV || nd->op == VG_OP_DWCONV)
            snprintf(s->kind, sizeof s->kind, "%s %dx%d/%d", vg_op_name((vg_op)nd->op), nd->kh,
                     nd->kw, nd->sh);
        else
            snprintf(s->kind, sizeof s->kind, "%s", vg_op_name((vg_op)nd->op));
        /* a fused pair: the conv's input, the depthwise's output, the work of both */
        const vg_node_geom *go = r->pwdw[i] ? &r->geom[i + 1] : gm;
        s->in_h = gm->in.h, s->in_w = gm->in.w, s->in_c = gm->in.c;
        s->out_h = go->out.h, s->out_w = go->out.w, s->out_c = go->out.c;
        s->flops = gm->flops + (r->pwdw[i] ? go->flops : 0);
        if (i > 0 && r->pwdw[i - 1]) s->flops = 0; /* counted with the conv before */
        s->seconds = r->prof_s[i];
        s->calls = r->prof_calls[i];
    }
    return g->n_nodes;
}

const char *vg_runner_kernels(const vg_runner *r) { return vg_cpu_kernels(r->cpu)->name; }

const char *vg_runner_int8_kernels(const vg_runner *r) {
    return vg_runner_is_int8(r) ? vg_q8_isa_name(r->q8s ? r->q8s->isa : VG_Q8_PORTABLE) : NULL;
}
