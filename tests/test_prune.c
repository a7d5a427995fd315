/* test_prune.c — magnitude pruning (schedule, exact per-layer sparsity, choice of the smallest
 * weights, masks on weights and gradients) and channel pruning of inverted residual blocks
 * (a block whose removed channels were already silent computes the same function). Built on
 * a small MobileNetV2-shaped model with odd sizes and random weights. */
#include "test.h"

#include "compress/prune.h"
#include "model/runner.h"

#include <stdlib.h>
#include <string.h>

#define IN_H 19
#define IN_W 23

/* Sizes of the test network; the three expansions are matched by vg_prune_channels. */
enum { C_STEM = 13, C_B1 = 11, E_B2 = 48, E_B3 = 40, C_B3 = 17, E_B4 = 37, C_HEAD = 29 };

typedef struct {
    int expand[3], dw[3], project[3]; /* node indices of the three expanded blocks */
    int logits;                       /* FC output tensor */
} net_info;

/* stem 3x3/2 -> dw + project (no expansion) -> 3 expanded blocks (two with a residual ADD)
 * -> 1x1 head -> GAP -> FC -> softmax; every conv has a bias (BN folded). */
static vg_model *build_net(net_info *ni, float lo, float hi) {
    vg_model *m = vg_model_new();
    if (!m) return NULL;
    m->input.h = IN_H;
    m->input.w = IN_W;
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, C_STEM, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    x = vg_graph_dwconv(g, x, C_STEM, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    x = vg_graph_conv(g, x, C_STEM, C_B1, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    /* block 2: 11 -> 48 -> 11, residual */
    int skip = x;
    ni->expand[0] = g->n_nodes;
    x = vg_graph_conv(g, x, C_B1, E_B2, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->dw[0] = g->n_nodes;
    x = vg_graph_dwconv(g, x, E_B2, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->project[0] = g->n_nodes;
    x = vg_graph_conv(g, x, E_B2, C_B1, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    x = vg_graph_add(g, x, skip, VG_ACT_NONE);
    /* block 3: 11 -> 40 -> 17, 5x5 stride 2 */
    ni->expand[1] = g->n_nodes;
    x = vg_graph_conv(g, x, C_B1, E_B3, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->dw[1] = g->n_nodes;
    x = vg_graph_dwconv(g, x, E_B3, 5, 5, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->project[1] = g->n_nodes;
    x = vg_graph_conv(g, x, E_B3, C_B3, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    /* block 4: 17 -> 37 -> 17, residual */
    skip = x;
    ni->expand[2] = g->n_nodes;
    x = vg_graph_conv(g, x, C_B3, E_B4, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->dw[2] = g->n_nodes;
    x = vg_graph_dwconv(g, x, E_B4, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    ni->project[2] = g->n_nodes;
    x = vg_graph_conv(g, x, E_B4, C_B3, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    x = vg_graph_add(g, x, skip, VG_ACT_NONE);
    x = vg_graph_conv(g, x, C_B3, C_HEAD, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    x = vg_graph_gap(g, x);
    ni->logits = x = vg_graph_fc(g, x, C_HEAD, 5, true, VG_ACT_NONE);
    x = vg_graph_softmax(g, x);
    if (x < 0) {
        vg_model_free(m);
        return NULL;
    }
    vg_test_fill(g->params, (size_t)g->n_params, lo, hi);
    return m;
}

static void test_schedule(void) {
    CHECK(vg_prune_schedule(0, 10, 110, 0.1f, 0.9f) == 0.1f, "before begin");
    CHECK(vg_prune_schedule(10, 10, 110, 0.1f, 0.9f) == 0.1f, "at begin");
    CHECK_NEAR(vg_prune_schedule(110, 10, 110, 0.1f, 0.9f), 0.9f, 0, "at end");
    CHECK(vg_prune_schedule(500, 10, 110, 0.1f, 0.9f) == 0.9f, "after end");
    /* half way: s_f + (s_i - s_f) / 8 */
    CHECK_NEAR(vg_prune_schedule(60, 10, 110, 0.1f, 0.9f), 0.9 - 0.8 / 8, 1e-6, "half way");
    CHECK(vg_prune_schedule(5, 5, 5, 0.0f, 0.5f) == 0.5f && vg_prune_schedule(4, 5, 5, 0, 0.5f) == 0,
          "empty interval");
    float prev = -1, worst_step = 0;
    int nonmono = 0;
    for (int t = 0; t <= 120; t++) {
        float s = vg_prune_schedule(t, 10, 110, 0.0f, 0.8f);
        if (s < prev) nonmono++;
        if (t > 0 && s - prev > worst_step) worst_step = s - prev;
        prev = s;
    }
    CHECK(nonmono == 0, "%d decreasing steps", nonmono);
    /* cubic: the first step is the steepest, 0.8 * (1 - 0.99^3) */
    CHECK_NEAR(worst_step, 0.8 * (1 - 0.99 * 0.99 * 0.99), 1e-6, "steepest step");
}

static void test_targets(void) {
    net_info ni;
    vg_test_seed(1);
    vg_model *m = build_net(&ni, -1, 1);
    CHECK(m != NULL, "build");
    if (!m) return;
    vg_graph *g = &m->g;
    vg_prune_layer L[64];
    int n = -1;
    vg_err err;
    vg_status st = vg_prune_targets(g, IN_H, IN_W, 3, L, 64, &n, &err);
    CHECK(st == VG_OK, "targets: %s", err.msg);
    int want = 0;
    for (int i = 0; i < g->n_nodes; i++)
        want += g->nodes[i].op == VG_OP_CONV || g->nodes[i].op == VG_OP_DWCONV ||
                g->nodes[i].op == VG_OP_FC;
    CHECK(n == want && n == 14, "%d targets, %d weighted nodes", n, want);
    for (int k = 0; k < n && k < 64; k++) {
        const vg_node *nd = &g->nodes[L[k].node];
        CHECK(L[k].op == nd->op && L[k].off == nd->w, "layer %d: node %d", k, L[k].node);
        bool dw = nd->op == VG_OP_DWCONV, stem = L[k].node == 0;
        CHECK(L[k].stem == stem && L[k].enabled == (!dw && !stem), "layer %d flags %d %d", k,
              L[k].stem, L[k].enabled);
    }
    CHECK(L[0].count == C_STEM * 27 && L[1].count == 9 * C_STEM && L[n - 1].count == 5 * C_HEAD,
          "counts %lld %lld %lld", (long long)L[0].count, (long long)L[1].count,
          (long long)L[n - 1].count);
    int n2 = -1;
    CHECK(vg_prune_targets(g, IN_H, IN_W, 3, NULL, 0, &n2, &err) == VG_OK && n2 == n,
          "count only: %d", n2);
    CHECK(vg_prune_targets(g, IN_H, IN_W, 0, L, 64, &n2, &err) == VG_ERR_FORMAT, "bad size");
    vg_model_free(m);
}

/* Exact zero counts, smallest magnitudes pruned, everything else untouched. */
static void test_magnitude(void) {
    net_info ni;
    vg_test_seed(2);
    vg_model *m = build_net(&ni, -1, 1);
    if (!m) {
        CHECK(0, "build");
        return;
    }
    vg_graph *g = &m->g;
    int64_t np = g->n_params;
    vg_prune_layer L[64];
    int n;
    vg_err err;
    vg_prune_targets(g, IN_H, IN_W, 3, L, 64, &n, &err);
    for (int k = 0; k < n; k++) L[k].enabled = 1; /* every layer, odd sizes included */
    float *orig = malloc(sizeof(float) * (size_t)np), *grad = malloc(sizeof(float) * (size_t)np);
    float *grad0 = malloc(sizeof(float) * (size_t)np);
    uint8_t *mask = malloc((size_t)np), *in_layer = calloc((size_t)np, 1);
    if (!orig || !grad || !grad0 || !mask || !in_layer) {
        CHECK(0, "out of memory");
        goto done;
    }
    memcpy(orig, g->params, sizeof(float) * (size_t)np);
    for (int k = 0; k < n; k++) memset(in_layer + L[k].off, 1, (size_t)L[k].count);
    /* hand-checked counts: 351 stem weights at 0.5 -> 175.5 rounds up to 176 */
    CHECK(vg_prune_zero_count(351, 0.5f) == 176 && vg_prune_zero_count(145, 0.97f) == 141 &&
              vg_prune_zero_count(117, 0) == 0 && vg_prune_zero_count(117, 0.9f) == 105,
          "zero counts %lld %lld %lld", (long long)vg_prune_zero_count(351, 0.5f),
          (long long)vg_prune_zero_count(145, 0.97f), (long long)vg_prune_zero_count(117, 0.9f));

    const float targets[] = {0.0f, 0.5f, 0.9f, 0.97f};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        float s = targets[t];
        memcpy(g->params, orig, sizeof(float) * (size_t)np);
        vg_status st = vg_prune_mask(g, L, n, s, mask, &err);
        CHECK(st == VG_OK, "mask at %g: %s", s, err.msg);
        int64_t outside_pruned = 0, total_zero = 0, total = 0;
        for (int64_t i = 0; i < np; i++) outside_pruned += !in_layer[i] && !mask[i];
        CHECK(outside_pruned == 0, "%lld pruned outside the weights at %g",
              (long long)outside_pruned, s);
        for (int k = 0; k < n; k++) {
            int64_t zeros = 0, want = (int64_t)floor((double)s * (double)L[k].count + 0.5);
            float max_pruned = -1, min_kept = INFINITY;
            for (int64_t i = 0; i < L[k].count; i++) {
                float a = fabsf(orig[L[k].off + i]);
                if (!mask[L[k].off + i]) {
                    zeros++;
                    if (a > max_pruned) max_pruned = a;
                } else if (a < min_kept) {
                    min_kept = a;
                }
            }
            CHECK(zeros == want, "layer %d (node %d, %lld weights) at %g: %lld zeros, want %lld",
                  k, L[k].node, (long long)L[k].count, s, (long long)zeros, (long long)want);
            CHECK(zeros == 0 || max_pruned <= min_kept,
                  "layer %d at %g: pruned |w| %g > kept |w| %g", k, s, max_pruned, min_kept);
            total_zero += zeros;
            total += L[k].count;
        }
        vg_prune_apply(g->params, mask, np);
        int64_t changed = 0, nonzero_pruned = 0;
        for (int64_t i = 0; i < np; i++) {
            if (mask[i]) changed += memcmp(&g->params[i], &orig[i], sizeof(float)) != 0;
            else nonzero_pruned += g->params[i] != 0.0f;
        }
        CHECK(changed == 0 && nonzero_pruned == 0, "apply at %g: %lld kept changed, %lld pruned left",
              s, (long long)changed, (long long)nonzero_pruned);
        vg_prune_stat stats[64];
        double overall = vg_prune_report(g, L, n, stats);
        int bad = 0;
        for (int k = 0; k < n; k++)
            bad += stats[k].zeros != vg_prune_zero_count(L[k].count, s) ||
                   stats[k].node != L[k].node || stats[k].count != L[k].count;
        CHECK(bad == 0, "%d layer reports wrong at %g", bad, s);
        CHECK_NEAR(overall, (double)total_zero / (double)total, 1e-12, "overall at %g", s);
    }

    /* a rising schedule only adds to the pruned set: pruned weights are zero, the smallest */
    memcpy(g->params, orig, sizeof(float) * (size_t)np);
    uint8_t *mask2 = malloc((size_t)np);
    if (mask2) {
        vg_prune_mask(g, L, n, 0.5f, mask, &err);
        vg_prune_apply(g->params, mask, np);
        vg_prune_mask(g, L, n, 0.9f, mask2, &err);
        int64_t revived = 0;
        for (int64_t i = 0; i < np; i++) revived += !mask[i] && mask2[i];
        CHECK(revived == 0, "%lld weights pruned at 0.5 kept at 0.9", (long long)revived);
        free(mask2);
    }

    /* default flags: stem and depthwise stay dense */
    memcpy(g->params, orig, sizeof(float) * (size_t)np);
    vg_prune_targets(g, IN_H, IN_W, 3, L, 64, &n, &err);
    vg_prune_mask(g, L, n, 0.9f, mask, &err);
    for (int k = 0; k < n; k++) {
        int64_t z = 0;
        for (int64_t i = 0; i < L[k].count; i++) z += !mask[L[k].off + i];
        CHECK(z == (L[k].enabled ? vg_prune_zero_count(L[k].count, 0.9f) : 0),
              "default flags, layer %d (op %d): %lld zeros", k, L[k].op, (long long)z);
    }

    /* gradients: zero exactly where pruned */
    vg_test_fill(grad, (size_t)np, -1, 1);
    memcpy(grad0, grad, sizeof(float) * (size_t)np);
    vg_prune_zero_grad(grad, mask, np);
    int64_t wrong = 0;
    for (int64_t i = 0; i < np; i++)
        wrong += mask[i] ? grad[i] != grad0[i] : grad[i] != 0.0f;
    CHECK(wrong == 0, "%lld gradients wrong", (long long)wrong);

    /* ties and signed zeros: +0 and -0 are equal, equal magnitudes go in index order */
    const vg_prune_layer *fc = &L[n - 1];
    float *w = g->params + fc->off;
    int64_t n_zero_w = 0;
    for (int64_t i = 0; i < fc->count; i++) {
        w[i] = i % 3 == 0 ? (i & 1 ? -0.0f : 0.0f) : (i & 1 ? 0.5f : -0.5f);
        n_zero_w += i % 3 == 0;
    }
    vg_prune_layer one = *fc;
    one.enabled = 1;
    const float tie_s[] = {0.2f, 0.5f}; /* 29 of the 49 zeros; all zeros and 24 halves */
    for (int t = 0; t < 2; t++) {
        vg_prune_mask(g, &one, 1, tie_s[t], mask, &err);
        int64_t z = vg_prune_zero_count(fc->count, tie_s[t]), bad_tie = 0, zi = 0, hi = 0;
        for (int64_t i = 0; i < fc->count; i++) {
            /* rank in the order zeros-by-index, then halves-by-index */
            int64_t rank = i % 3 == 0 ? zi++ : n_zero_w + hi++;
            bad_tie += (rank < z) != !mask[fc->off + i];
        }
        CHECK(bad_tie == 0, "%lld tie decisions wrong at %g (z %lld, zeros %lld)",
              (long long)bad_tie, tie_s[t], (long long)z, (long long)n_zero_w);
    }

    /* refusals */
    float bad_s[] = {-0.1f, 1.0f, NAN};
    for (int i = 0; i < 3; i++)
        CHECK(vg_prune_mask(g, L, n, bad_s[i], mask, &err) == VG_ERR_ARG, "sparsity %g accepted",
              bad_s[i]);
    one.off = np - 3;
    CHECK(vg_prune_mask(g, &one, 1, 0.5f, mask, &err) == VG_ERR_ARG, "layer past the arena");
done:
    free(orig);
    free(grad);
    free(grad0);
    free(mask);
    free(in_layer);
    vg_model_free(m);
}

/* Forward pass of m on `in`; copies the probabilities and the logits. */
static bool forward(const vg_model *m, int logits_t, const float *in, float *probs,
                    float *logits) {
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = VG_PRECISION_FLOAT;
    vg_runner *r = NULL;
    vg_err err;
    if (vg_runner_init_ex(&r, m, &o, true, &err) != VG_OK) {
        printf("  runner: %s\n", err.msg);
        return false;
    }
    vg_runner_forward(r, in, probs);
    memcpy(logits, vg_runner_tensor(r, logits_t), 5 * sizeof(float));
    vg_runner_free(r);
    return true;
}

static void test_channels(void) {
    /* the keep rule, by hand */
    CHECK(vg_prune_channels_keep(48, 0.5f) == 24 && vg_prune_channels_keep(40, 0.5f) == 24 &&
              vg_prune_channels_keep(37, 0.5f) == 24 && vg_prune_channels_keep(37, 0.1f) == 37 &&
              vg_prune_channels_keep(96, 0.3f) == 72 && vg_prune_channels_keep(96, 0.99f) == 8 &&
              vg_prune_channels_keep(5, 0.5f) == 5 && vg_prune_channels_keep(96, 0) == 96,
          "keep rule: %d %d %d %d %d %d", vg_prune_channels_keep(48, 0.5f),
          vg_prune_channels_keep(40, 0.5f), vg_prune_channels_keep(37, 0.5f),
          vg_prune_channels_keep(37, 0.1f), vg_prune_channels_keep(96, 0.3f),
          vg_prune_channels_keep(96, 0.99f));

    net_info ni;
    vg_test_seed(3);
    vg_model *m = build_net(&ni, -0.5f, 0.5f);
    if (!m) {
        CHECK(0, "build");
        return;
    }
    vg_graph *g = &m->g;
    vg_err err;
    const char *labels[] = {"none", "fire", "smoke", "both", "other"};
    CHECK(vg_model_set_labels(m, labels, 5, &err) == VG_OK && vg_model_set_meta(m, "source", "test", &err) == VG_OK,
          "labels");
    m->input.mean[1] = 3.0f;

    /* (e) bad fractions */
    float bad_f[] = {-0.01f, 1.0f, NAN};
    for (int i = 0; i < 3; i++) {
        vg_model *o = (vg_model *)1;
        CHECK(vg_prune_channels(m, bad_f[i], &o, NULL, 0, NULL, &err) == VG_ERR_ARG && o == NULL,
              "fraction %g accepted", bad_f[i]);
    }

    /* (c) fraction 0: the same graph */
    vg_prune_block blk[8];
    int nb = -1;
    vg_model *p0 = NULL;
    vg_status st = vg_prune_channels(m, 0.0f, &p0, blk, 8, &nb, &err);
    CHECK(st == VG_OK, "fraction 0: %s", err.msg);
    if (p0) {
        CHECK(nb == 3, "%d blocks", nb);
        for (int b = 0; b < nb && b < 3; b++)
            CHECK(blk[b].expand == ni.expand[b] && blk[b].dw == ni.dw[b] &&
                      blk[b].project == ni.project[b] &&
                      blk[b].channels_before == blk[b].channels_after,
                  "block %d: %d %d %d, %d -> %d", b, blk[b].expand, blk[b].dw, blk[b].project,
                  blk[b].channels_before, blk[b].channels_after);
        CHECK(p0->g.n_nodes == g->n_nodes && p0->g.n_params == g->n_params &&
                  p0->g.output == g->output && p0->g.n_tensors == g->n_tensors &&
                  memcmp(p0->g.nodes, g->nodes, sizeof(vg_node) * (size_t)g->n_nodes) == 0 &&
                  memcmp(p0->g.params, g->params, sizeof(float) * (size_t)g->n_params) == 0,
              "fraction 0 changed the graph");
        CHECK(p0->n_labels == 5 && strcmp(vg_model_label(p0, 2), "smoke") == 0 &&
                  vg_model_get_meta(p0, "source") && p0->input.mean[1] == 3.0f &&
                  p0->input.h == IN_H && p0->q == NULL,
              "labels, metadata, input spec");
    }
    vg_model_free(p0);

    /* (a) silence the channels the pruning should remove: expand row + bias and the dw bias
     * at zero make the channel output relu6(0) = 0 after the depthwise, so it adds nothing */
    const float frac = 0.5f;
    int *silent[3] = {NULL, NULL, NULL};
    int expanded[3] = {E_B2, E_B3, E_B4}, cin[3] = {C_B1, C_B1, C_B3}, cout[3] = {C_B1, C_B3, C_B3};
    int ktaps[3] = {9, 25, 9};
    int64_t want_drop = 0;
    for (int b = 0; b < 3; b++) {
        int C = expanded[b], drop = C - vg_prune_channels_keep(C, frac);
        silent[b] = calloc((size_t)C, sizeof(int));
        if (!silent[b]) goto done;
        /* a scattered choice: every channel c with (7c + b) mod C among the first `drop` */
        for (int c = 0; c < C; c++) silent[b][c] = (7 * c + b) % C < drop;
        const vg_node *e = &g->nodes[ni.expand[b]], *d = &g->nodes[ni.dw[b]];
        for (int c = 0; c < C; c++) {
            if (!silent[b][c]) continue;
            memset(g->params + e->w + (int64_t)c * cin[b], 0, sizeof(float) * (size_t)cin[b]);
            g->params[e->b + c] = 0.0f;
            g->params[d->b + c] = 0.0f;
        }
        /* (b) per removed channel: expand row + bias, dw taps + bias, project column */
        want_drop += (int64_t)drop * (cin[b] + 1 + ktaps[b] + 1 + cout[b]);
    }
    vg_model *p = NULL;
    st = vg_prune_channels(m, frac, &p, blk, 8, &nb, &err);
    CHECK(st == VG_OK && p, "prune 0.5: %s", err.msg);
    if (!p) goto done;
    CHECK(nb == 3 && blk[0].channels_after == 24 && blk[1].channels_after == 24 &&
              blk[2].channels_after == 24,
          "channels after: %d %d %d", blk[0].channels_after, blk[1].channels_after,
          blk[2].channels_after);
    CHECK(g->n_params - p->g.n_params == want_drop, "params %lld -> %lld, want a drop of %lld",
          (long long)g->n_params, (long long)p->g.n_params, (long long)want_drop);
    /* (d) validates; the kept expand rows are the non-silent ones, in order */
    CHECK(vg_model_validate(p, &err) == VG_OK, "validate: %s", err.msg);
    for (int b = 0; b < 3; b++) {
        const vg_node *e0 = &g->nodes[ni.expand[b]], *e1 = &p->g.nodes[ni.expand[b]];
        int j = 0, bad = 0;
        for (int c = 0; c < expanded[b]; c++) {
            if (silent[b][c]) continue;
            bad += memcmp(p->g.params + e1->w + (int64_t)j * cin[b],
                          g->params + e0->w + (int64_t)c * cin[b], sizeof(float) * (size_t)cin[b]) != 0;
            bad += p->g.params[e1->b + j] != g->params[e0->b + c];
            j++;
        }
        CHECK(bad == 0 && e1->co == j, "block %d: %d kept rows differ (%d of %d)", b, bad, e1->co, j);
    }
    /* same outputs on random input; the sums only lose exact zero terms, so the difference
     * is float reassociation in the kernels: relative 1e-5 (floor 1) is ample */
    float *in = malloc(sizeof(float) * IN_H * IN_W * 3);
    if (in) {
        vg_test_fill(in, IN_H * IN_W * 3, -1, 1);
        float pa[5], pb[5], la[5], lb[5];
        if (forward(m, ni.logits, in, pa, la) && forward(p, ni.logits, in, pb, lb)) {
            size_t worst;
            double el = vg_test_max_rel_err(lb, la, 5, 1.0, &worst);
            double ep = vg_test_max_rel_err(pb, pa, 5, 1.0, &worst);
            CHECK(el <= 1e-5 && ep <= 1e-5, "pruned vs original: logits %.3g, probs %.3g", el, ep);
            CHECK(fabs(la[0]) + fabs(la[1]) > 1e-3, "logits too small to compare: %g %g", la[0],
                  la[1]);
        } else {
            CHECK(0, "forward");
        }
        free(in);
    }
    vg_model_free(p);

    /* an expansion whose output has a second consumer is not a prunable block */
    {
        vg_model *q = vg_model_new();
        if (q) {
            q->input.h = q->input.w = 9;
            vg_graph *h = &q->g;
            int x = vg_graph_conv(h, 0, 3, 8, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
            int e = vg_graph_conv(h, x, 8, 16, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
            int d = vg_graph_dwconv(h, e, 16, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
            d = vg_graph_add(h, d, e, VG_ACT_NONE);
            int y = vg_graph_conv(h, d, 16, 8, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
            vg_graph_fc(h, vg_graph_gap(h, y), 8, 2, true, VG_ACT_NONE);
            vg_test_fill(h->params, (size_t)h->n_params, -1, 1);
            vg_model *qp = NULL;
            st = vg_prune_channels(q, 0.5f, &qp, blk, 8, &nb, &err);
            CHECK(st == VG_OK && nb == 0 && qp && qp->g.n_params == h->n_params,
                  "shared expansion: %d blocks (%s)", nb, st == VG_OK ? "ok" : err.msg);
            vg_model_free(qp);
            vg_model_free(q);
        }
    }
done:
    for (int b = 0; b < 3; b++) free(silent[b]);
    vg_model_free(m);
}

void test_prune(void) {
    test_schedule();
    test_targets();
    test_magnitude();
    test_channels();
}
