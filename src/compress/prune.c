/* prune.c — magnitude pruning with a cubic schedule, and channel pruning of inverted residual
 * blocks (see prune.h). */
#include "compress/prune.h"

#include <math.h>
#include <string.h>

/* ---- unstructured */

vg_status vg_prune_targets(const vg_graph *g, int h, int w, int c, vg_prune_layer *out, int max,
                           int *n, vg_err *err) {
    *n = 0;
    if (g->n_tensors < 1)
        return vg_err_set(err, VG_ERR_FORMAT, "prune: empty graph");
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    if (!sh) return vg_err_set(err, VG_ERR_NOMEM, "prune: out of memory");
    vg_status st = vg_graph_infer(g, h, w, c, NULL, sh, err);
    if (st != VG_OK) {
        free(sh);
        return st;
    }
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vg_node *nd = &g->nodes[i];
        if (nd->op != VG_OP_CONV && nd->op != VG_OP_DWCONV && nd->op != VG_OP_FC) continue;
        vg_shape in = sh[nd->in[0]];
        int64_t count = vg_node_weight_count(nd, in.c, in.h, in.w);
        if (nd->w < 0 || count <= 0) continue;
        if (k < max) {
            vg_prune_layer *L = &out[k];
            L->node = i;
            L->op = nd->op;
            L->off = nd->w;
            L->count = count;
            L->stem = nd->op == VG_OP_CONV && nd->in[0] == 0;
            L->enabled = !L->stem && nd->op != VG_OP_DWCONV;
        }
        k++;
    }
    free(sh);
    *n = k;
    return VG_OK;
}

float vg_prune_schedule(int step, int begin, int end, float s_init, float s_final) {
    if (step < begin) return s_init;
    if (step >= end) return s_final;
    /* in double, where s_init - s_final is exact: the ends give s_init and s_final exactly */
    double r = 1.0 - (double)(step - begin) / (double)(end - begin);
    return (float)((double)s_final + ((double)s_init - (double)s_final) * r * r * r);
}

int64_t vg_prune_zero_count(int64_t count, float sparsity) {
    if (!(sparsity > 0.0f) || count <= 0) return 0;
    int64_t z = (int64_t)floor((double)sparsity * (double)count + 0.5);
    return z > count ? count : z;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

vg_status vg_prune_mask(const vg_graph *g, const vg_prune_layer *layers, int n_layers,
                        float sparsity, uint8_t *mask, vg_err *err) {
    if (!(sparsity >= 0.0f && sparsity < 1.0f))
        return vg_err_set(err, VG_ERR_ARG, "prune: sparsity %g outside [0, 1)", (double)sparsity);
    int64_t most = 0;
    for (int l = 0; l < n_layers; l++) {
        const vg_prune_layer *L = &layers[l];
        if (L->off < 0 || L->count < 0 || L->off > g->n_params || L->count > g->n_params - L->off)
            return vg_err_set(err, VG_ERR_ARG, "prune: layer %d (node %d) outside the arena", l,
                              L->node);
        if (L->count > UINT32_MAX)
            return vg_err_set(err, VG_ERR_ARG, "prune: layer %d (node %d) too large", l, L->node);
        if (L->enabled && L->count > most) most = L->count;
    }
    memset(mask, 1, (size_t)g->n_params);
    if (most == 0) return VG_OK;
    /* Key = bits of |w| (for non-negative floats the IEEE bit pattern orders like the value,
     * and NaN sorts above +inf) above the position: a total order with no equal keys, so the
     * first z keys after sorting are exactly the z weights to prune. */
    uint64_t *key = vg_malloc(sizeof(uint64_t) * (size_t)most);
    if (!key) return vg_err_set(err, VG_ERR_NOMEM, "prune: out of memory");
    for (int l = 0; l < n_layers; l++) {
        const vg_prune_layer *L = &layers[l];
        int64_t z = vg_prune_zero_count(L->count, sparsity);
        if (!L->enabled || z == 0) continue;
        const float *wt = g->params + L->off;
        for (int64_t i = 0; i < L->count; i++) {
            float a = fabsf(wt[i]);
            uint32_t bits;
            memcpy(&bits, &a, sizeof bits);
            key[i] = ((uint64_t)bits << 32) | (uint64_t)i;
        }
        qsort(key, (size_t)L->count, sizeof(uint64_t), cmp_u64);
        uint8_t *m = mask + L->off;
        for (int64_t i = 0; i < z; i++) m[key[i] & 0xFFFFFFFFu] = 0;
    }
    free(key);
    return VG_OK;
}

void vg_prune_apply(float *params, const uint8_t *mask, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!mask[i]) params[i] = 0.0f;
}

void vg_prune_zero_grad(float *grad, const uint8_t *mask, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!mask[i]) grad[i] = 0.0f;
}

double vg_prune_report(const vg_graph *g, const vg_prune_layer *layers, int n_layers,
                       vg_prune_stat *stats) {
    int64_t total = 0, zeros = 0;
    for (int l = 0; l < n_layers; l++) {
        const vg_prune_layer *L = &layers[l];
        const float *wt = g->params + L->off;
        int64_t z = 0;
        for (int64_t i = 0; i < L->count; i++) z += wt[i] == 0.0f;
        if (stats) {
            vg_prune_stat *s = &stats[l];
            s->node = L->node;
            s->op = L->op;
            s->enabled = L->enabled;
            s->count = L->count;
            s->zeros = z;
            s->sparsity = L->count ? (float)((double)z / (double)L->count) : 0.0f;
        }
        total += L->count;
        zeros += z;
    }
    return total ? (double)zeros / (double)total : 0.0;
}

/* ---- structured */

int vg_prune_channels_keep(int channels, float fraction) {
    if (channels < 8) return channels;
    int remove = fraction > 0.0f ? (int)floor((double)fraction * channels + 0.5) : 0;
    int keep = channels - remove;
    keep = (keep + 7) / 8 * 8;
    if (keep < 8) keep = 8;
    return keep > channels ? channels : keep;
}

typedef struct {
    double score;
    int c;
} chan_score;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_score(const void *a, const void *b) {
    const chan_score *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

/* Node roles in a matched block; role[] is 0 for nodes copied unchanged. */
enum { ROLE_NONE = 0, ROLE_EXPAND, ROLE_DW, ROLE_PROJECT };

typedef struct {
    vg_prune_block b;
    int *kept; /* channels_after indices into the expanded channels, increasing */
    const double *mean; /* per-channel mean of the depthwise output, or NULL */
    const double *msq;  /* and mean of its squares, or NULL */
} block_plan;

/* Squared L2 norm of channel c's path through the block, one factor per stage. */
static double channel_importance(const vg_graph *g, const vg_shape *sh, const block_plan *p,
                                 int c) {
    const vg_node *e = &g->nodes[p->b.expand], *d = &g->nodes[p->b.dw],
                  *pj = &g->nodes[p->b.project];
    int C = p->b.channels_before;
    int64_t row = (int64_t)e->kh * e->kw * sh[e->in[0]].c;
    double e2 = 0, d2 = 0, p2 = 0;
    const float *ew = g->params + e->w + (int64_t)c * row;
    for (int64_t k = 0; k < row; k++) e2 += (double)ew[k] * ew[k];
    if (e->b >= 0) e2 += (double)g->params[e->b + c] * g->params[e->b + c];
    for (int64_t k = 0; k < (int64_t)d->kh * d->kw; k++) {
        float v = g->params[d->w + k * C + c];
        d2 += (double)v * v;
    }
    if (d->b >= 0) d2 += (double)g->params[d->b + c] * g->params[d->b + c];
    for (int64_t k = 0; k < (int64_t)pj->co * pj->kh * pj->kw; k++) {
        float v = g->params[pj->w + k * C + c];
        p2 += (double)v * v;
    }
    /* with activation statistics: the expected squared change of the block's output when the
     * channel is replaced by its mean, |project column|^2 x variance */
    if (p->mean && p->msq) {
        double var = p->msq[c] - p->mean[c] * p->mean[c];
        return p2 * (var > 0 ? var : 0);
    }
    return e2 * d2 * p2;
}

/* Finds the blocks (role/blk per node), in node order; returns the count. */
static int match_blocks(const vg_graph *g, const int *uses, const int *consumer, int *role,
                        int *blk, block_plan *plans) {
    int nb = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vg_node *e = &g->nodes[i];
        if (role[i] != ROLE_NONE || e->op != VG_OP_CONV || e->kh != 1 || e->kw != 1) continue;
        if (e->out == g->output || uses[e->out] != 1) continue;
        int di = consumer[e->out];
        const vg_node *d = &g->nodes[di];
        if (d->op != VG_OP_DWCONV || d->in[0] != e->out) continue;
        if (d->out == g->output || uses[d->out] != 1) continue;
        int pi = consumer[d->out];
        const vg_node *p = &g->nodes[pi];
        if (p->op != VG_OP_CONV || p->in[0] != d->out) continue;
        role[i] = ROLE_EXPAND;
        role[di] = ROLE_DW;
        role[pi] = ROLE_PROJECT;
        blk[i] = blk[di] = blk[pi] = nb;
        plans[nb].b = (vg_prune_block){i, di, pi, e->co, e->co};
        plans[nb].kept = NULL;
        nb++;
    }
    return nb;
}

/* Chooses the kept channels of one block. */
static vg_status plan_block(const vg_graph *g, const vg_shape *sh, block_plan *p, float fraction,
                            int keep_override, vg_err *err) {
    int C = p->b.channels_before;
    int keep = keep_override >= 0 ? keep_override : vg_prune_channels_keep(C, fraction);
    p->b.channels_after = keep;
    p->kept = vg_malloc(sizeof(int) * (size_t)C);
    chan_score *s = vg_malloc(sizeof(chan_score) * (size_t)C);
    if (!p->kept || !s) {
        free(s);
        return vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
    }
    for (int c = 0; c < C; c++) s[c] = (chan_score){channel_importance(g, sh, p, c), c};
    qsort(s, (size_t)C, sizeof *s, cmp_score);
    /* reuse kept[] as a removed flag, then compact it to the kept indices in order */
    for (int c = 0; c < C; c++) p->kept[c] = 0;
    for (int k = 0; k < C - keep; k++) p->kept[s[k].c] = 1;
    int j = 0;
    for (int c = 0; c < C; c++)
        if (!p->kept[c]) p->kept[j++] = c;
    VG_ASSERT(j == keep);
    free(s);
    return VG_OK;
}

/* Copies node i's weights and bias into the new arena at nd->w / nd->b (already set). */
static void copy_params(const vg_graph *g, const vg_shape *sh, const int *role,
                        const block_plan *p, int i, const vg_node *nd, int64_t nw, int64_t nb,
                        float *dst) {
    const vg_node *o = &g->nodes[i];
    const float *src = g->params;
    if (role[i] == ROLE_NONE) {
        if (nd->w >= 0) memcpy(dst + nd->w, src + o->w, sizeof(float) * (size_t)nw);
        if (nd->b >= 0) memcpy(dst + nd->b, src + o->b, sizeof(float) * (size_t)nb);
        return;
    }
    int C = p->b.channels_before, K = p->b.channels_after;
    if (role[i] == ROLE_EXPAND) { /* w (co, kh, kw, ci): keep rows */
        int64_t row = (int64_t)o->kh * o->kw * sh[o->in[0]].c;
        for (int j = 0; j < K; j++)
            memcpy(dst + nd->w + j * row, src + o->w + p->kept[j] * row,
                   sizeof(float) * (size_t)row);
        if (nd->b >= 0)
            for (int j = 0; j < K; j++) dst[nd->b + j] = src[o->b + p->kept[j]];
    } else if (role[i] == ROLE_DW) { /* w (kh, kw, c): keep the channel of every tap */
        for (int64_t k = 0; k < (int64_t)o->kh * o->kw; k++)
            for (int j = 0; j < K; j++) dst[nd->w + k * K + j] = src[o->w + k * C + p->kept[j]];
        if (nd->b >= 0)
            for (int j = 0; j < K; j++) dst[nd->b + j] = src[o->b + p->kept[j]];
    } else { /* project, w (co, kh, kw, ci): keep input channels */
        for (int64_t k = 0; k < (int64_t)o->co * o->kh * o->kw; k++)
            for (int j = 0; j < K; j++) dst[nd->w + k * K + j] = src[o->w + k * C + p->kept[j]];
        if (nd->b >= 0) {
            memcpy(dst + nd->b, src + o->b, sizeof(float) * (size_t)nb);
            /* a removed channel's mean contribution moves into the bias: what is lost is only
             * its variation, not its (often large, batch-norm shifted) average */
            if (p->mean && o->kh == 1 && o->kw == 1) {
                int j = 0;
                for (int c = 0; c < C; c++) {
                    if (j < K && p->kept[j] == c) {
                        j++;
                        continue;
                    }
                    for (int q = 0; q < o->co; q++)
                        dst[nd->b + q] += (float)((double)src[o->w + (int64_t)q * C + c] * p->mean[c]);
                }
            }
        }
    }
}

/* Builds the pruned graph into ng from the plans. */
static vg_status build_graph(const vg_graph *g, const vg_shape *sh, const int *role,
                             const int *blk, const block_plan *plans, vg_graph *ng,
                             vg_err *err) {
    vg_graph_init(ng);
    int nn = g->n_nodes;
    int *chan = vg_malloc(sizeof(int) * (size_t)g->n_tensors); /* channels in the new graph */
    int64_t *nw = vg_malloc(sizeof(int64_t) * (size_t)nn), *nb = vg_malloc(sizeof(int64_t) * (size_t)nn);
    ng->nodes = vg_malloc(sizeof(vg_node) * (size_t)nn);
    if (!chan || !nw || !nb || !ng->nodes) goto nomem;
    ng->cap_nodes = nn;
    for (int t = 0; t < g->n_tensors; t++) chan[t] = sh[t].c;
    int64_t total = 0;
    for (int i = 0; i < nn; i++) {
        vg_node nd = g->nodes[i];
        if (role[i] == ROLE_EXPAND) nd.co = plans[blk[i]].b.channels_after;
        if (role[i] == ROLE_EXPAND || role[i] == ROLE_DW)
            chan[nd.out] = plans[blk[i]].b.channels_after;
        vg_shape in = sh[nd.in[0]];
        nw[i] = nd.w >= 0 ? vg_node_weight_count(&nd, chan[nd.in[0]], in.h, in.w) : 0;
        nb[i] = nd.b >= 0 ? vg_node_bias_count(&nd, chan[nd.in[0]]) : 0;
        if (nd.w >= 0) {
            nd.w = total;
            total += nw[i];
        }
        if (nd.b >= 0) {
            nd.b = total;
            total += nb[i];
        }
        ng->nodes[i] = nd;
    }
    ng->params = vg_malloc(sizeof(float) * (size_t)(total ? total : 1));
    if (!ng->params) goto nomem;
    ng->cap_params = ng->n_params = total;
    ng->n_nodes = nn;
    ng->n_tensors = g->n_tensors;
    ng->output = g->output;
    for (int i = 0; i < nn; i++)
        copy_params(g, sh, role, role[i] ? &plans[blk[i]] : NULL, i, &ng->nodes[i], nw[i], nb[i],
                    ng->params);
    free(chan);
    free(nw);
    free(nb);
    return VG_OK;
nomem:
    free(chan);
    free(nw);
    free(nb);
    vg_graph_free(ng);
    return vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
}

/* Copies input spec, labels and metadata; the int8 form is not copied. */
static vg_status copy_model_info(const vg_model *m, vg_model *dst, vg_err *err) {
    dst->input = m->input;
    vg_status st = VG_OK;
    if (m->labels && m->n_labels > 0)
        st = vg_model_set_labels(dst, (const char *const *)m->labels, m->n_labels, err);
    for (int i = 0; i < m->n_meta && st == VG_OK; i++)
        st = vg_model_set_meta(dst, m->meta[i].key, m->meta[i].value, err);
    return st;
}

vg_status vg_prune_channels(const vg_model *m, float fraction, vg_model **out,
                            vg_prune_block *blocks, int max_blocks, int *n_blocks, vg_err *err) {
    return vg_prune_channels_mean(m, fraction, NULL, out, blocks, max_blocks, n_blocks, err);
}

vg_status vg_prune_channels_mean(const vg_model *m, float fraction, const double *const *means,
                                 vg_model **out, vg_prune_block *blocks, int max_blocks,
                                 int *n_blocks, vg_err *err) {
    return vg_prune_channels_stats(m, fraction, means, NULL, out, blocks, max_blocks, n_blocks, err);
}

vg_status vg_prune_channels_stats(const vg_model *m, float fraction, const double *const *means,
                                  const double *const *msqs, vg_model **out,
                                  vg_prune_block *blocks, int max_blocks, int *n_blocks,
                                  vg_err *err) {
    *out = NULL;
    if (n_blocks) *n_blocks = 0;
    if (!(fraction >= 0.0f && fraction < 1.0f))
        return vg_err_set(err, VG_ERR_ARG, "channel pruning: fraction %g outside [0, 1)",
                          (double)fraction);
    vg_status st = vg_model_validate(m, err);
    if (st != VG_OK) return st;
    const vg_graph *g = &m->g;
    int nn = g->n_nodes, nt = g->n_tensors;
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)nt);
    int *uses = vg_calloc((size_t)nt, sizeof(int)), *consumer = vg_malloc(sizeof(int) * (size_t)nt);
    int *role = vg_calloc((size_t)nn, sizeof(int)), *blk = vg_malloc(sizeof(int) * (size_t)nn);
    block_plan *plans = vg_calloc((size_t)nn / 3 + 1, sizeof(block_plan));
    vg_model *res = NULL;
    int nb = 0;
    if (!sh || !uses || !consumer || !role || !blk || !plans) {
        st = vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
        goto done;
    }
    st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, NULL, sh, err);
    if (st != VG_OK) goto done;
    for (int i = 0; i < nn; i++) {
        const vg_node *nd = &g->nodes[i];
        for (int k = 0; k < 2; k++) {
            int t = nd->in[k];
            if (t < 0) continue;
            uses[t]++;
            consumer[t] = i;
        }
    }
    nb = match_blocks(g, uses, consumer, role, blk, plans);
    bool stats = means && msqs;
    for (int b = 0; b < nb; b++) {
        plans[b].mean = means ? means[g->nodes[plans[b].b.dw].out] : NULL;
        plans[b].msq = msqs ? msqs[g->nodes[plans[b].b.dw].out] : NULL;
        stats = stats && plans[b].mean && plans[b].msq;
    }
    int *keeps = vg_malloc(sizeof(int) * (size_t)(nb + 1));
    if (!keeps) {
        st = vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
        goto done;
    }
    for (int b = 0; b < nb; b++) keeps[b] = -1;
    /* With activation statistics the scores of all blocks are in the same unit (squared change
     * of the residual stream), so the share is taken where it costs least over the whole
     * network, each block keeping at least a quarter of its channels (and 8) */
    if (stats && nb > 0 && fraction > 0) {
        int64_t total = 0;
        for (int b = 0; b < nb; b++) total += plans[b].b.channels_before;
        double *all = vg_malloc(sizeof(double) * (size_t)total);
        if (!all) {
            free(keeps);
            st = vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
            goto done;
        }
        int64_t k = 0;
        for (int b = 0; b < nb; b++)
            for (int c = 0; c < plans[b].b.channels_before; c++) all[k++] = channel_importance(g, sh, &plans[b], c);
        double *sorted = vg_malloc(sizeof(double) * (size_t)total);
        if (sorted) {
            memcpy(sorted, all, sizeof(double) * (size_t)total);
            qsort(sorted, (size_t)total, sizeof(double), cmp_double);
            int64_t remove = (int64_t)((double)fraction * (double)total + 0.5);
            double thr = remove > 0 ? sorted[remove - 1] : -1;
            k = 0;
            for (int b = 0; b < nb; b++) {
                int C = plans[b].b.channels_before, r = 0;
                for (int c = 0; c < C; c++) r += all[k++] <= thr;
                int floor_keep = C / 4 > 8 ? C / 4 : 8;
                int keep = C - r;
                if (keep < floor_keep) keep = floor_keep;
                keep = (keep + 7) / 8 * 8; /* SIMD-friendly, never removing more than chosen */
                if (keep > C) keep = C;
                keeps[b] = keep;
            }
        }
        free(sorted), free(all);
    }
    for (int b = 0; b < nb && st == VG_OK; b++) st = plan_block(g, sh, &plans[b], fraction, keeps[b], err);
    free(keeps);
    if (st != VG_OK) goto done;
    res = vg_model_new();
    if (!res) {
        st = vg_err_set(err, VG_ERR_NOMEM, "channel pruning: out of memory");
        goto done;
    }
    vg_graph_free(&res->g);
    st = build_graph(g, sh, role, blk, plans, &res->g, err);
    if (st == VG_OK) st = copy_model_info(m, res, err);
    if (st == VG_OK) st = vg_model_validate(res, err);
    if (st == VG_OK) {
        for (int b = 0; b < nb && b < max_blocks && blocks; b++) blocks[b] = plans[b].b;
        if (n_blocks) *n_blocks = nb;
        *out = res;
        res = NULL;
    }
done:
    vg_model_free(res);
    if (plans)
        for (int b = 0; b < nb; b++) free(plans[b].kept);
    free(plans);
    free(blk);
    free(role);
    free(consumer);
    free(uses);
    free(sh);
    return st;
}
