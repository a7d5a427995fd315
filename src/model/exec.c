/* exec.c — the float forward of one graph node on the CPU backend, shared by the inference
 * runner (model/runner.c) and the trainer (train/trainer.c): one dispatch from an op to its
 * kernels, so both run a layer with the same arithmetic. The fast kernels fuse ReLU / ReLU6;
 * hard-swish, hard-sigmoid and sigmoid follow as one pass over the output, still in cache. */
#include "model/plan.h"

bool vg_conv_pointwise(const vg_conv_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pt == 0 && d->pl == 0 &&
           d->ho == d->h && d->wo == d->w;
}

void vg_exec_node(vg_cpu *cpu, const vg_graph *g, const vg_node_geom *gm, int j, int n,
                  const float *x, const float *x2, const float *packed, float *y) {
    vg_exec_node_act(cpu, g, gm, j, n, x, x2, packed, (vg_act)g->nodes[j].act, y);
}

void vg_exec_node_act(vg_cpu *cpu, const vg_graph *g, const vg_node_geom *gm, int j, int n,
                      const float *x, const float *x2, const float *packed, vg_act full, float *y) {
    const vg_node *nd = &g->nodes[j];
    const float *w = nd->w >= 0 ? g->params + nd->w : NULL;
    const float *b = nd->b >= 0 ? g->params + nd->b : NULL;
    /* what the fast kernels apply themselves; the rest is a pass afterwards */
    vg_act act = vg_act_simple(full) ? full : VG_ACT_NONE;
    size_t pix = (size_t)n * gm->in.h * gm->in.w;
    switch ((vg_op)nd->op) {
    case VG_OP_CONV: {
        vg_conv_desc d = gm->conv;
        d.n = n;
        if (vg_conv_pointwise(&d))
            vg_cpu_matmul(cpu, (int)pix, d.co, d.ci, x, w, packed, b, act, y);
        else
            vg_cpu_conv2d(cpu, &d, x, w, packed, b, act, y);
        break;
    }
    case VG_OP_DWCONV: {
        vg_conv_desc d = gm->conv;
        d.n = n;
        vg_cpu_dwconv(cpu, &d, x, w, b, act, y);
        break;
    }
    case VG_OP_BN: {
        int c = gm->in.c;
        vg_batchnorm_ref(pix, c, x, b, b + c, b + 2 * c, b + 3 * c, nd->eps, full, y);
        return;
    }
    case VG_OP_ADD: vg_add_ref(pix * (size_t)gm->in.c, x, x2, full, y); return;
    case VG_OP_MUL: {
        vg_mul_ref(n, gm->in.h * gm->in.w, gm->in.c, x, x2, vg_mul_per_channel(gm), full, y);
        return;
    }
    case VG_OP_GMAX: vg_gmax_ref(n, gm->in.h * gm->in.w, gm->in.c, x, y); break;
    case VG_OP_GAP: vg_cpu_gap(n, gm->in.h * gm->in.w, gm->in.c, x, y); break;
    case VG_OP_FC: {
        int ci = gm->in.h * gm->in.w * gm->in.c;
        vg_cpu_matmul(cpu, n, nd->co, ci, x, w, packed, b, act, y);
        break;
    }
    case VG_OP_SOFTMAX: vg_softmax_ref((int)pix, gm->in.c, x, y); break;
    case VG_OP_COUNT_: VG_ASSERT(0);
    }
    if (act != full) vg_act_ref(full, (size_t)n * gm->out.h * gm->out.w * gm->out.c, y);
}
