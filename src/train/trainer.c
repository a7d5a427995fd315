/* trainer.c — training forward/backward over a graph (see trainer.h). */
#include "train/trainer.h"

#include "model/plan.h"

#include <math.h>
#include <string.h>

struct vg_trainer {
    vg_graph *g;
    vg_cpu *cpu;
    vg_trainer_opts o;
    int n_run;          /* nodes executed: the producer of the logits and everything before */
    vg_node_geom *geom; /* per node, for one image */
    vg_shape *shapes;   /* per tensor */
    float **t;          /* per tensor: activations of the current chunk (t[0] = caller's) */
    float **dt;         /* per tensor: gradient buffer, NULL when no gradient flows there */
    bool *dt_init;      /* gradient written during this backward (else it is zero) */
    float *act_arena, *grad_arena, *scratch;
    size_t act_floats, grad_floats, scratch_floats;
    float **pre; /* per node: the input of its hard-swish, kept for the backward, or NULL */
    float *pre_arena;
    size_t pre_floats;
    float *dparams;
    float *bn_saved; /* per BN node: batch mean and invstd, at bn_off[node] */
    int64_t *bn_off;
    int n_cur, classes;
    const float *input; /* the caller's input of the last forward (needed by the first layer) */
    bool profile;
    double *fwd_s, *bwd_s; /* per node, when profiling */
};

/* ---- planning */

typedef struct {
    size_t act, grad, scratch; /* floats */
    size_t pre;                /* hard-swish inputs of the trained layers (their derivative) */
} plan_sizes;

/* Floats kept of node j's activation input for the backward: a trained layer whose
 * activation's derivative needs its input, not its output (hard-swish), keeps a chunk's; 0
 * for the others. */
static size_t pre_floats(const vg_graph *g, const vg_node_geom *gm, const vg_trainer_opts *o,
                         int j) {
    if (j < o->first_trainable || g->nodes[j].act != VG_ACT_HSWISH) return 0;
    return (size_t)o->chunk * gm->out.h * gm->out.w * gm->out.c;
}

/* Shared by init and the estimate: fills sizes (and offsets/flags when not NULL). */
static vg_status plan(const vg_graph *g, const vg_node_geom *geom, const vg_shape *shapes,
                      const vg_trainer_opts *o, int n_run, size_t *act_off, size_t *grad_off,
                      bool *need_grad, plan_sizes *ps) {
    int nt = g->n_tensors, chunk = o->chunk;
    int *birth = vg_malloc(sizeof(int) * (size_t)nt), *death = vg_malloc(sizeof(int) * (size_t)nt);
    size_t *size = vg_calloc((size_t)nt, sizeof(size_t)), *off = vg_calloc((size_t)nt, sizeof(size_t));
    bool *keep = vg_calloc((size_t)nt, sizeof(bool)), *ng = vg_calloc((size_t)nt, sizeof(bool));
    if (!birth || !death || !size || !off || !keep || !ng) {
        free(birth), free(death), free(size), free(off), free(keep), free(ng);
        return VG_ERR_NOMEM;
    }
    for (int t = 0; t < nt; t++) birth[t] = death[t] = -1;
    for (int j = 0; j < n_run; j++) {
        const vg_node *nd = &g->nodes[j];
        birth[nd->out] = j;
        death[nd->out] = j;
        for (int k = 0; k < 2; k++)
            if (nd->in[k] >= 0) {
                if (nd->in[k] > 0 && j > death[nd->in[k]]) death[nd->in[k]] = j;
                if (j >= o->first_trainable) keep[nd->in[k]] = true;
            }
        if (j >= o->first_trainable) keep[nd->out] = true, ng[nd->out] = true;
    }
    int logits = g->nodes[n_run - 1].out;
    keep[logits] = true;
    for (int t = 1; t < nt; t++)
        if (birth[t] >= 0) size[t] = (size_t)chunk * shapes[t].h * shapes[t].w * shapes[t].c;
    size[0] = 0; /* the input is the caller's */
    ps->act = vg_plan_place(nt, birth, death, size, keep, off);
    if (act_off) memcpy(act_off, off, sizeof(size_t) * (size_t)nt);

    /* gradients, in backward steps r = n_run - 1 - j: born when the last consumer (in forward
     * order) runs backward, dead after the producer's backward */
    for (int t = 0; t < nt; t++) {
        birth[t] = death[t] = -1;
        if (!ng[t]) size[t] = 0;
    }
    for (int j = n_run - 1; j >= 0; j--) {
        const vg_node *nd = &g->nodes[j];
        int r = n_run - 1 - j;
        if (ng[nd->out]) {
            if (birth[nd->out] < 0) birth[nd->out] = nd->out == logits ? 0 : r;
            death[nd->out] = r;
        }
        for (int k = 0; k < 2; k++) {
            int in = nd->in[k];
            if (in >= 0 && ng[in] && birth[in] < 0) birth[in] = r;
        }
    }
    bool *no = vg_calloc((size_t)nt, sizeof(bool));
    ps->grad = no ? vg_plan_place(nt, birth, death, size, no, off) : SIZE_MAX;
    free(no);
    if (grad_off) memcpy(grad_off, off, sizeof(size_t) * (size_t)nt);
    if (need_grad) memcpy(need_grad, ng, sizeof(bool) * (size_t)nt);

    /* scratch: im2col + col2im of one image for general convs; a whole chunk of one tensor for
     * gradients that must be added to an existing one (BN, depthwise) */
    size_t sc = 0;
    for (int j = 0; j < n_run; j++) {
        const vg_node *nd = &g->nodes[j];
        const vg_node_geom *gm = &geom[j];
        size_t s = 0;
        if (nd->op == VG_OP_CONV && !(nd->kh == 1 && nd->kw == 1 && nd->sh == 1 && nd->sw == 1))
            s = 2 * vg_cpu_conv2d_scratch(&gm->conv);
        size_t whole = (size_t)chunk * gm->in.h * gm->in.w * gm->in.c;
        if (s < whole) s = whole;
        if (s > sc) sc = s;
    }
    ps->scratch = sc;
    ps->pre = 0;
    for (int j = 0; j < n_run; j++)
        ps->pre += pre_floats(g, &geom[j], o, j);
    free(birth), free(death), free(size), free(off), free(keep), free(ng);
    return (ps->act == SIZE_MAX || ps->grad == SIZE_MAX) ? VG_ERR_NOMEM : VG_OK;
}

static int find_n_run(const vg_graph *g, int logits) {
    for (int j = 0; j < g->n_nodes; j++)
        if (g->nodes[j].out == logits) return j + 1;
    return -1;
}

size_t vg_trainer_estimate_bytes(const vg_graph *g, int h, int w, const vg_trainer_opts *o) {
    vg_node_geom *geom = vg_calloc((size_t)g->n_nodes, sizeof *geom);
    vg_shape *shapes = vg_calloc((size_t)g->n_tensors, sizeof *shapes);
    size_t bytes = SIZE_MAX;
    int n_run = find_n_run(g, o->logits);
    plan_sizes ps;
    if (geom && shapes && n_run > 0 && vg_graph_infer(g, h, w, 3, geom, shapes, NULL) == VG_OK &&
        plan(g, geom, shapes, o, n_run, NULL, NULL, NULL, &ps) == VG_OK)
        bytes = (ps.act + ps.grad + ps.scratch + ps.pre) * sizeof(float);
    free(geom), free(shapes);
    return bytes;
}

void vg_trainer_free(vg_trainer *t) {
    if (!t) return;
    vg_cpu_free(t->cpu);
    free(t->geom), free(t->shapes), free(t->t), free(t->dt), free(t->dt_init);
    free(t->act_arena), free(t->grad_arena), free(t->scratch), free(t->dparams);
    free(t->bn_saved), free(t->bn_off);
    free(t->pre), free(t->pre_arena);
    free(t->fwd_s), free(t->bwd_s);
    free(t);
}

vg_status vg_trainer_init(vg_trainer **out, vg_graph *g, int h, int w, const vg_trainer_opts *o,
                          vg_err *err) {
    return vg_trainer_init_c(out, g, h, w, 3, o, err);
}

vg_status vg_trainer_init_c(vg_trainer **out, vg_graph *g, int h, int w, int c,
                            const vg_trainer_opts *o, vg_err *err) {
    *out = NULL;
    if (o->chunk < 1 || o->chunk > 4096 || o->threads < 1 || o->first_trainable < 0)
        return vg_err_set(err, VG_ERR_ARG, "trainer: bad options (chunk %d, threads %d)",
                          o->chunk, o->threads);
    vg_trainer *t = vg_calloc(1, sizeof *t);
    if (!t) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    t->g = g;
    t->o = *o;
    int nt = g->n_tensors;
    t->geom = vg_calloc((size_t)g->n_nodes, sizeof *t->geom);
    t->shapes = vg_calloc((size_t)nt, sizeof *t->shapes);
    t->t = vg_calloc((size_t)nt, sizeof(float *));
    t->dt = vg_calloc((size_t)nt, sizeof(float *));
    t->dt_init = vg_calloc((size_t)nt, sizeof(bool));
    t->bn_off = vg_malloc(sizeof(int64_t) * (size_t)g->n_nodes);
    t->fwd_s = vg_calloc((size_t)g->n_nodes, sizeof(double));
    t->bwd_s = vg_calloc((size_t)g->n_nodes, sizeof(double));
    size_t *act_off = vg_calloc((size_t)nt, sizeof(size_t)), *grad_off = vg_calloc((size_t)nt, sizeof(size_t));
    bool *need_grad = vg_calloc((size_t)nt, sizeof(bool));
    vg_status st = VG_OK;
    if (!t->geom || !t->shapes || !t->t || !t->dt || !t->dt_init || !t->bn_off || !t->fwd_s ||
        !t->bwd_s || !act_off ||
        !grad_off || !need_grad)
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) st = vg_graph_infer(g, h, w, c, t->geom, t->shapes, err);
    if (st == VG_OK) {
        t->n_run = find_n_run(g, o->logits);
        vg_shape ls = t->n_run > 0 ? t->shapes[o->logits] : (vg_shape){0, 0, 0};
        if (t->n_run < 1 || ls.h != 1 || ls.w != 1)
            st = vg_err_set(err, VG_ERR_ARG, "trainer: tensor %d is not a (1, 1, classes) output",
                            o->logits);
        t->classes = ls.c;
        for (int j = 0; st == VG_OK && j < t->n_run; j++)
            if (g->nodes[j].op == VG_OP_SOFTMAX)
                st = vg_err_set(err, VG_ERR_UNSUPPORTED, "trainer: softmax before the logits");
    }
    plan_sizes ps = {0, 0, 0, 0};
    if (st == VG_OK && plan(g, t->geom, t->shapes, o, t->n_run, act_off, grad_off, need_grad, &ps) != VG_OK)
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) {
        t->act_floats = ps.act, t->grad_floats = ps.grad, t->scratch_floats = ps.scratch;
        t->pre_floats = ps.pre;
        t->pre = vg_calloc((size_t)g->n_nodes, sizeof(float *));
        t->pre_arena = vg_malloc((ps.pre + 1) * sizeof(float));
        size_t at = 0;
        for (int j = 0; t->pre && t->pre_arena && j < t->n_run; j++) {
            size_t nf = pre_floats(g, &t->geom[j], o, j);
            if (nf) t->pre[j] = t->pre_arena + at, at += nf;
        }
        int64_t bn = 0;
        for (int j = 0; j < g->n_nodes; j++) {
            t->bn_off[j] = g->nodes[j].op == VG_OP_BN ? bn : -1;
            if (g->nodes[j].op == VG_OP_BN) bn += 2 * t->geom[j].in.c;
        }
        t->act_arena = vg_aligned_alloc(64, (ps.act + 16) * sizeof(float));
        t->grad_arena = vg_aligned_alloc(64, (ps.grad + 16) * sizeof(float));
        t->scratch = vg_aligned_alloc(64, (ps.scratch + 16) * sizeof(float));
        t->dparams = vg_calloc((size_t)g->n_params + 1, sizeof(float));
        t->bn_saved = vg_calloc((size_t)bn + 1, sizeof(float));
        t->cpu = vg_cpu_new(vg_kernels_best(), o->threads);
        size_t im2col = 0;
        for (int j = 0; j < t->n_run; j++)
            if (g->nodes[j].op == VG_OP_CONV) {
                vg_conv_desc d = t->geom[j].conv;
                d.n = 1;
                if (vg_cpu_conv2d_scratch(&d) > im2col) im2col = vg_cpu_conv2d_scratch(&d);
            }
        if (!t->act_arena || !t->grad_arena || !t->scratch || !t->dparams || !t->bn_saved ||
            !t->pre || !t->pre_arena || !t->cpu || !vg_cpu_reserve(t->cpu, im2col))
            st = vg_err_set(err, VG_ERR_NOMEM, "trainer: cannot allocate %.1f MB of buffers",
                            (double)(ps.act + ps.grad + ps.scratch + ps.pre) * 4 / 1e6);
    }
    if (st == VG_OK)
        for (int i = 1; i < nt; i++) {
            t->t[i] = t->act_arena + act_off[i];
            t->dt[i] = need_grad[i] ? t->grad_arena + grad_off[i] : NULL;
        }
    free(act_off), free(grad_off), free(need_grad);
    if (st != VG_OK) {
        vg_trainer_free(t);
        return st;
    }
    *out = t;
    return VG_OK;
}

size_t vg_trainer_buffer_bytes(const vg_trainer *t) {
    return (t->act_floats + t->grad_floats + t->scratch_floats + t->pre_floats) * sizeof(float);
}
void vg_trainer_zero_grad(vg_trainer *t) {
    memset(t->dparams, 0, sizeof(float) * (size_t)t->g->n_params);
}
float *vg_trainer_grads(vg_trainer *t) { return t->dparams; }
int vg_trainer_classes(const vg_trainer *t) { return t->classes; }
const float *vg_trainer_tensor(const vg_trainer *t, int tensor) {
    return tensor > 0 && tensor < t->g->n_tensors ? t->t[tensor] : NULL;
}

/* ---- forward */

static bool is_pointwise(const vg_node *nd) {
    return nd->kh == 1 && nd->kw == 1 && nd->sh == 1 && nd->sw == 1 &&
           (nd->pad_mode == VG_PAD_SAME ||
            (nd->pad[0] == 0 && nd->pad[1] == 0 && nd->pad[2] == 0 && nd->pad[3] == 0));
}

const float *vg_trainer_forward(vg_trainer *t, const float *x, int n) {
    VG_ASSERT(n >= 1 && n <= t->o.chunk);
    vg_graph *g = t->g;
    t->n_cur = n;
    t->input = x;
    t->t[0] = (float *)x; /* read only */
    for (int j = 0; j < t->n_run; j++) {
        double t0 = t->profile ? vg_time_now() : 0;
        const vg_node *nd = &g->nodes[j];
        const vg_node_geom *gm = &t->geom[j];
        const float *in = t->t[nd->in[0]];
        float *y = t->t[nd->out];
        if (nd->op == VG_OP_BN && t->o.bn_batch_stats && j >= t->o.first_trainable) {
            /* batch-norm in training mode: batch statistics, saved for the backward pass */
            float *b = g->params + nd->b;
            int c = gm->in.c;
            size_t pix = (size_t)n * gm->in.h * gm->in.w;
            float *sv = t->bn_saved + t->bn_off[j];
            vg_batchnorm_train_ref(pix, c, in, b, b + c, nd->eps, t->o.bn_momentum, b + 2 * c, b + 3 * c,
                                   y, sv, sv + c);
            if (t->pre[j]) memcpy(t->pre[j], y, sizeof(float) * pix * (size_t)c);
            vg_act_ref((vg_act)nd->act, pix * (size_t)c, y);
        } else if (t->pre[j]) { /* hard-swish: its input kept for the backward */
            size_t ny = (size_t)n * gm->out.h * gm->out.w * gm->out.c;
            vg_exec_node_act(t->cpu, g, gm, j, n, in, nd->in[1] >= 0 ? t->t[nd->in[1]] : NULL, NULL,
                             VG_ACT_NONE, t->pre[j]);
            memcpy(y, t->pre[j], sizeof(float) * ny);
            vg_act_ref(VG_ACT_HSWISH, ny, y);
        } else {
            VG_ASSERT(nd->op != VG_OP_SOFTMAX); /* the trainer stops at the logits */
            /* weights change every step: never pre-packed */
            vg_exec_node(t->cpu, g, gm, j, n, in, nd->in[1] >= 0 ? t->t[nd->in[1]] : NULL, NULL, y);
        }
        if (t->profile) t->fwd_s[j] += vg_time_now() - t0;
    }
    return t->t[g->nodes[t->n_run - 1].out];
}

float vg_trainer_loss(vg_trainer *t, const int *labels, int n, double batch_weight,
                      const float *class_w, float smoothing) {
    VG_ASSERT(n == t->n_cur);
    int logits = t->g->nodes[t->n_run - 1].out;
    float *dl = t->dt[logits];
    float *tmp = dl ? dl : t->scratch;
    float loss = vg_softmax_xent_ref(n, t->classes, t->t[logits], labels, class_w, smoothing, tmp);
    double wc = 0;
    for (int i = 0; i < n; i++) wc += class_w ? class_w[labels[i]] : 1.0;
    double scale = batch_weight > 0 ? wc / batch_weight : 0;
    if (wc <= 0) scale = 0;
    if (dl) {
        for (int i = 0; i < n * t->classes; i++) dl[i] = (float)(dl[i] * scale);
        t->dt_init[logits] = true;
    }
    return (float)(loss * scale);
}

float vg_trainer_loss_soft(vg_trainer *t, const float *targets, const float *sample_w, int n,
                           double batch_weight) {
    VG_ASSERT(n == t->n_cur);
    int logits = t->g->nodes[t->n_run - 1].out;
    float *dl = t->dt[logits];
    float *tmp = dl ? dl : t->scratch;
    float loss = vg_softmax_xent_soft_ref(n, t->classes, t->t[logits], targets, sample_w, tmp);
    double wc = 0;
    for (int i = 0; i < n; i++) wc += sample_w ? sample_w[i] : 1.0;
    double scale = batch_weight > 0 && wc > 0 ? wc / batch_weight : 0;
    if (dl) {
        for (int i = 0; i < n * t->classes; i++) dl[i] = (float)(dl[i] * scale);
        t->dt_init[logits] = true;
    }
    return (float)(loss * scale);
}

/* ---- backward */

/* adds src into the gradient of tensor `in`, or copies when it has none yet */
static void grad_add(vg_trainer *t, int in, const float *src, size_t n) {
    float *d = t->dt[in];
    if (t->dt_init[in])
        for (size_t i = 0; i < n; i++) d[i] += src[i];
    else
        memcpy(d, src, n * sizeof(float));
    t->dt_init[in] = true;
}

void vg_trainer_backward(vg_trainer *t, int n) {
    VG_ASSERT(n == t->n_cur);
    vg_graph *g = t->g;
    for (int j = t->n_run - 1; j >= t->o.first_trainable; j--) {
        const vg_node *nd = &g->nodes[j];
        const vg_node_geom *gm = &t->geom[j];
        int out = nd->out, in = nd->in[0];
        if (!t->dt_init[out]) continue; /* no gradient reaches this node */
        double t0 = t->profile ? vg_time_now() : 0;
        float *dy = t->dt[out];
        const float *x = in > 0 ? t->t[in] : t->input;
        vg_act act = (vg_act)nd->act;
        size_t pix = (size_t)n * gm->in.h * gm->in.w;
        size_t nout = (size_t)n * gm->out.h * gm->out.w * gm->out.c;
        if (t->pre[j])
            vg_hswish_bwd_ref(nout, t->pre[j], dy);
        else
            vg_act_bwd_ref(act, nout, t->t[out], dy);
        const float *w = nd->w >= 0 ? g->params + nd->w : NULL;
        float *dw = nd->w >= 0 ? t->dparams + nd->w : NULL;
        float *db = nd->b >= 0 ? t->dparams + nd->b : NULL;
        bool want_dx = in > 0 && t->dt[in] != NULL;
        int ci = gm->in.c;
        switch ((vg_op)nd->op) {
        case VG_OP_CONV:
        case VG_OP_FC: {
            bool flat = nd->op == VG_OP_FC || is_pointwise(nd);
            int co = nd->co;
            if (flat) {
                int rows = nd->op == VG_OP_FC ? n : (int)pix;
                int k = nd->op == VG_OP_FC ? gm->in.h * gm->in.w * ci : ci;
                const float *xa = x;
                vg_gemm_epi acc = {NULL, VG_ACT_NONE, true};
                if (xa) vg_cpu_gemm(t->cpu, true, false, co, k, rows, dy, co, xa, k, dw, k, &acc);
                if (db) vg_cpu_colsum_add(dy, (size_t)rows, co, db);
                if (want_dx) {
                    vg_gemm_epi e = {NULL, VG_ACT_NONE, t->dt_init[in]};
                    vg_cpu_gemm(t->cpu, false, false, rows, k, co, dy, co, w, k, t->dt[in], k, &e);
                    t->dt_init[in] = true;
                }
            } else {
                vg_conv_desc d = gm->conv;
                d.n = 1;
                int patch = d.kh * d.kw * d.ci, opix = d.ho * d.wo;
                float *col = t->scratch, *dcol = t->scratch + vg_cpu_conv2d_scratch(&d);
                size_t xs = (size_t)d.h * d.w * d.ci;
                if (want_dx && !t->dt_init[in]) memset(t->dt[in], 0, sizeof(float) * xs * n);
                const float *xa = x;
                for (int b = 0; b < n; b++) {
                    const float *dyb = dy + (size_t)b * opix * co;
                    if (xa) {
                        vg_cpu_im2col(&d, xa + (size_t)b * xs, col);
                        vg_gemm_epi acc = {NULL, VG_ACT_NONE, true};
                        vg_cpu_gemm(t->cpu, true, false, co, patch, opix, dyb, co, col, patch, dw,
                                    patch, &acc);
                    }
                    if (want_dx) {
                        vg_cpu_gemm(t->cpu, false, false, opix, patch, co, dyb, co, w, patch, dcol,
                                    patch, NULL);
                        vg_cpu_col2im_add(&d, dcol, t->dt[in] + (size_t)b * xs);
                    }
                }
                if (db) vg_cpu_colsum_add(dy, (size_t)n * opix, co, db);
                if (want_dx) t->dt_init[in] = true;
            }
            break;
        }
        case VG_OP_DWCONV: {
            vg_conv_desc d = gm->conv;
            d.n = n;
            const float *xa = x;
            float *dx = NULL;
            if (want_dx) dx = t->dt_init[in] ? t->scratch : t->dt[in];
            vg_cpu_dwconv_bwd(t->cpu, &d, xa, w, dy, dx, dw, db);
            if (want_dx) {
                if (dx == t->scratch) grad_add(t, in, t->scratch, pix * (size_t)ci);
                t->dt_init[in] = true;
            }
            break;
        }
        case VG_OP_BN: {
            float *gamma = g->params + nd->b;
            float *dgb = t->dparams + nd->b;
            float *dx = want_dx ? (t->dt_init[in] ? t->scratch : t->dt[in]) : NULL;
            if (t->o.bn_batch_stats) {
                const float *sv = t->bn_saved + t->bn_off[j];
                vg_batchnorm_train_bwd_ref(pix, ci, x, gamma, sv, sv + ci, dy, dx, dgb, dgb + ci);
            } else { /* running statistics are constants */
                const float *mean = gamma + 2 * ci, *var = gamma + 3 * ci;
                for (size_t i = 0; i < pix; i++)
                    for (int c = 0; c < ci; c++) {
                        float inv = 1.0f / sqrtf(var[c] + nd->eps);
                        float g1 = dy[i * ci + c];
                        dgb[c] += g1 * (x[i * ci + c] - mean[c]) * inv;
                        dgb[ci + c] += g1;
                        if (dx) dx[i * ci + c] = g1 * gamma[c] * inv;
                    }
            }
            if (dx == t->scratch) grad_add(t, in, t->scratch, pix * (size_t)ci);
            else if (dx) t->dt_init[in] = true;
            break;
        }
        case VG_OP_ADD:
            for (int k = 0; k < 2; k++) {
                int src = nd->in[k];
                if (src > 0 && t->dt[src]) grad_add(t, src, dy, nout);
            }
            break;
        case VG_OP_GMAX:
            if (want_dx) {
                int hw = gm->in.h * gm->in.w;
                float *dx = t->dt_init[in] ? t->scratch : t->dt[in];
                vg_gmax_bwd_ref(n, hw, ci, x, dy, dx);
                if (dx == t->scratch) grad_add(t, in, t->scratch, pix * (size_t)ci);
                t->dt_init[in] = true;
            }
            break;
        case VG_OP_GAP:
            if (want_dx) {
                int hw = gm->in.h * gm->in.w;
                float *dx = t->dt_init[in] ? t->scratch : t->dt[in];
                vg_gap_bwd_ref(n, hw, ci, dy, dx);
                if (dx == t->scratch) grad_add(t, in, t->scratch, pix * (size_t)ci);
                t->dt_init[in] = true;
            }
            break;
        case VG_OP_MUL: {
            const int src2 = nd->in[1];
            const float *x2 = src2 > 0 ? t->t[src2] : t->input;
            const int hw = gm->in.h * gm->in.w;
            const bool per_channel = vg_mul_per_channel(gm);
            if (want_dx) { /* into the scratch: the same tensor may be both inputs */
                vg_mul_bwd_ref(n, hw, ci, x, x2, per_channel, dy, t->scratch, NULL);
                grad_add(t, in, t->scratch, nout);
            }
            if (src2 > 0 && t->dt[src2]) {
                vg_mul_bwd_ref(n, hw, ci, x, x2, per_channel, dy, NULL, t->scratch);
                grad_add(t, src2, t->scratch, per_channel ? (size_t)n * ci : nout);
            }
            break;
        }
        case VG_OP_SOFTMAX:
        case VG_OP_COUNT_: VG_ASSERT(0);
        }
        t->dt_init[out] = false; /* consumed: its buffer may now hold another gradient */
        if (t->profile) t->bwd_s[j] += vg_time_now() - t0;
    }
    for (int i = 0; i < g->n_tensors; i++) t->dt_init[i] = false;
}

int vg_trainer_param_ranges(const vg_graph *g, int h, int w, int first_trainable, bool decay_all,
                            vg_param_range *out) {
    vg_node_geom *geom = vg_calloc((size_t)g->n_nodes, sizeof *geom);
    if (!geom || vg_graph_infer(g, h, w, 3, geom, NULL, NULL) != VG_OK) {
        free(geom);
        return 0;
    }
    int n = 0;
    for (int j = first_trainable; j < g->n_nodes; j++) {
        const vg_node *nd = &g->nodes[j];
        const vg_node_geom *gm = &geom[j];
        if (nd->op == VG_OP_BN) {
            out[n++] = (vg_param_range){nd->b, 2 * (int64_t)gm->in.c, decay_all, 1.0f};
            continue;
        }
        if (nd->w >= 0)
            out[n++] = (vg_param_range){nd->w, vg_node_weight_count(nd, gm->in.c, gm->in.h, gm->in.w), true, 1.0f};
        if (nd->b >= 0) out[n++] = (vg_param_range){nd->b, vg_node_bias_count(nd, gm->in.c), decay_all, 1.0f};
    }
    free(geom);
    return n;
}

void vg_trainer_profile(vg_trainer *t, bool on) {
    t->profile = on;
    for (int j = 0; j < t->g->n_nodes; j++) t->fwd_s[j] = t->bwd_s[j] = 0;
}

void vg_trainer_node_times(const vg_trainer *t, int node, double *fwd, double *bwd) {
    *fwd = t->fwd_s[node];
    *bwd = t->bwd_s[node];
}
