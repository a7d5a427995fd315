/* test_cluster.c — weight clustering. k-means is checked against data with known answers
 * (well-separated clusters whose centres and memberships must be recovered, repeated values
 * that must be reproduced exactly, uniform data whose optimal quantizer is known) and against
 * its own invariants: every weight on its nearest centroid, at most k distinct values, squared
 * error never increasing with more Lloyd iterations, pruned zeros kept exactly. Fine-tuning
 * helpers are checked over simulated SGD steps; the index bit packing on round trips, a
 * hand-packed vector (the documented bit order) and hostile buffers. */
#include "test.h"

#include "compress/cluster.h"
#include "core/huff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const vg_cluster_init inits[3] = {VG_CLUSTER_LINEAR, VG_CLUSTER_KMEANSPP,
                                         VG_CLUSTER_DENSITY};

/* roughly normal (sum of three uniforms), mean 0, standard deviation sigma */
static float normalish(float sigma) {
    return sigma * (vg_test_uniform(-1, 1) + vg_test_uniform(-1, 1) + vg_test_uniform(-1, 1));
}

/* Every weight's centroid is a nearest one (ties allowed), keep_zero's rules respected. */
static int count_not_nearest(const float *w, int64_t n, const float *c, int k, const uint8_t *idx,
                             bool keep_zero) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] >= k) {
            bad++;
            continue;
        }
        if (keep_zero) {
            if ((w[i] == 0) != (idx[i] == 0)) bad++;
            if (w[i] == 0) continue;
        }
        double d = fabs((double)w[i] - c[idx[i]]);
        for (int j = keep_zero ? 1 : 0; j < k; j++) {
            if (fabs((double)w[i] - c[j]) < d) {
                bad++;
                break;
            }
        }
    }
    return bad;
}

static void cluster_args(void) {
    vg_err err = {0};
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c[256];
    uint8_t idx[8];
    int bad_k[] = {-3, 0, 1, 257, 1000};
    for (size_t t = 0; t < sizeof bad_k / sizeof bad_k[0]; t++) {
        err.msg[0] = 0;
        vg_status s = vg_cluster_fit(w, 8, bad_k[t], VG_CLUSTER_LINEAR, 1, false, c, idx, &err);
        CHECK(s == VG_ERR_ARG && strstr(err.msg, "k = ") != NULL, "k = %d: status %d, '%s'",
              bad_k[t], (int)s, err.msg);
    }
    CHECK(vg_cluster_fit(w, -1, 4, VG_CLUSTER_LINEAR, 1, false, c, idx, &err) == VG_ERR_ARG,
          "negative n accepted");
    w[5] = NAN;
    vg_status s = vg_cluster_fit(w, 8, 4, VG_CLUSTER_DENSITY, 1, false, c, idx, &err);
    CHECK(s == VG_ERR_ARG && strstr(err.msg, "weight 5") != NULL, "NaN: %d '%s'", (int)s, err.msg);
    w[5] = -INFINITY;
    CHECK(vg_cluster_fit(w, 8, 4, VG_CLUSTER_DENSITY, 1, false, c, idx, &err) == VG_ERR_ARG,
          "-inf weight accepted");
    CHECK(vg_cluster_fit(w, 0, 2, VG_CLUSTER_KMEANSPP, 1, false, c, idx, &err) == VG_OK,
          "n = 0 refused: %s", err.msg);

    vg_cluster_init in = VG_CLUSTER_LINEAR;
    for (int i = 0; i < 3; i++) {
        vg_cluster_init back;
        s = vg_cluster_init_parse(vg_cluster_init_name(inits[i]), &back, &err);
        CHECK(s == VG_OK && back == inits[i], "name/parse round trip of %d", i);
    }
    CHECK(vg_cluster_init_parse("kmeanspp", &in, &err) == VG_OK && in == VG_CLUSTER_KMEANSPP,
          "kmeanspp");
    CHECK(vg_cluster_init_parse("random", &in, &err) == VG_ERR_ARG &&
              strstr(err.msg, "random") != NULL,
          "unknown name: '%s'", err.msg);

    int want_bits[][2] = {{1, 1},  {2, 1},  {3, 2},   {4, 2},  {5, 3},
                          {16, 4}, {17, 5}, {255, 8}, {256, 8}};
    for (size_t t = 0; t < sizeof want_bits / sizeof want_bits[0]; t++)
        CHECK(vg_cluster_bits(want_bits[t][0]) == want_bits[t][1], "bits(%d) = %d, want %d",
              want_bits[t][0], vg_cluster_bits(want_bits[t][0]), want_bits[t][1]);
}

/* Five clusters of half-width 0.02, gaps >= 0.45: every init must find the centres (mean of
 * 1000 uniform draws: standard error 3.7e-4, tolerance 2e-3) and the exact memberships. */
static void cluster_recover(void) {
    enum { N = 5000, K = 5 };
    const float centers[K] = {-0.9f, -0.4f, 0.05f, 0.5f, 1.1f};
    float *w = malloc(N * sizeof *w);
    uint8_t *idx = malloc(N);
    vg_test_seed(11);
    for (int i = 0; i < N; i++)
        w[i] = centers[i % K] + vg_test_uniform(-0.02f, 0.02f);
    vg_err err = {0};
    for (int t = 0; t < 3 + 4; t++) { /* each init, and k-means++ with four more seeds */
        vg_cluster_init in = t < 3 ? inits[t] : VG_CLUSTER_KMEANSPP;
        float c[K];
        int iters = -1;
        vg_status s = vg_cluster_fit_iters(w, N, K, in, (uint64_t)t, false, VG_CLUSTER_MAX_ITERS, c,
                                           idx, &iters, &err);
        CHECK(s == VG_OK, "%s: %s", vg_cluster_init_name(in), err.msg);
        double worst = 0;
        for (int j = 0; j < K; j++) {
            double e = fabs((double)c[j] - centers[j]);
            worst = e > worst ? e : worst;
        }
        CHECK(worst < 2e-3, "%s seed %d: centre off by %g (%g %g %g %g %g)",
              vg_cluster_init_name(in), t, worst, c[0], c[1], c[2], c[3], c[4]);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += idx[i] != i % K;
        CHECK(wrong == 0, "%s seed %d: %d weights in the wrong cluster", vg_cluster_init_name(in),
              t, wrong);
        CHECK(iters > 0 && iters < VG_CLUSTER_MAX_ITERS, "%s: %d iterations (did not converge)",
              vg_cluster_init_name(in), iters);
    }
    /* the same with 40% pruned zeros and keep_zero: the pinned centroid plus four centres */
    vg_test_seed(12);
    for (int i = 0; i < N; i++)
        w[i] = vg_test_uniform(0, 1) < 0.4f ? 0.0f
                                            : centers[i % 4 + 1] + vg_test_uniform(-0.02f, 0.02f);
    for (int t = 0; t < 3; t++) {
        float c[K];
        CHECK(vg_cluster_fit(w, N, K, inits[t], 5, true, c, idx, &err) == VG_OK, "%s", err.msg);
        double worst = 0;
        for (int j = 1; j < K; j++) {
            double e = fabs((double)c[j] - centers[j]);
            worst = e > worst ? e : worst;
        }
        CHECK(c[0] == 0.0f && worst < 2e-3, "%s keep_zero: c0 %g, centre off by %g",
              vg_cluster_init_name(inits[t]), c[0], worst);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += idx[i] != (w[i] == 0 ? 0 : i % 4 + 1);
        CHECK(wrong == 0, "%s keep_zero: %d wrong memberships", vg_cluster_init_name(inits[t]),
              wrong);
    }
    free(w);
    free(idx);
}

/* Generic data (normal-ish bulk plus a few outliers) at k = 2, 16, 256: nearest assignment, at
 * most k distinct values after apply, MSE non-increasing along Lloyd's iterations (exact
 * arithmetic guarantees it; 1e-6 relative slack for the rounding of centroids to float). */
static void cluster_lloyd(void) {
    enum { N = 20000 };
    float *w = malloc(N * sizeof *w), *q = malloc(N * sizeof *q);
    uint8_t *idx = malloc(N);
    vg_test_seed(21);
    for (int i = 0; i < N; i++)
        w[i] = normalish(0.05f);
    for (int i = 0; i < 20; i++)
        w[i * 997] = vg_test_uniform(-0.8f, 0.8f);
    const int ks[3] = {2, 16, 256}, caps[] = {0, 1, 2, 3, 5, 8, 13, 21, 50, VG_CLUSTER_MAX_ITERS};
    vg_err err = {0};
    float c[256];
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            int k = ks[b];
            double prev = INFINITY, first = 0;
            int rises = 0;
            for (size_t t = 0; t < sizeof caps / sizeof caps[0]; t++) {
                CHECK(vg_cluster_fit_iters(w, N, k, inits[a], 7, false, caps[t], c, idx, NULL,
                                           &err) == VG_OK,
                      "%s", err.msg);
                double mse = vg_cluster_mse(w, N, c, idx);
                if (t == 0) first = mse;
                if (mse > prev * (1 + 1e-6)) rises++;
                prev = mse;
            }
            CHECK(rises == 0, "%s k=%d: MSE rose %d times along the iterations",
                  vg_cluster_init_name(inits[a]), k, rises);
            CHECK(prev <= first, "%s k=%d: final MSE %g above the initial %g",
                  vg_cluster_init_name(inits[a]), k, prev, first);
            int nn = count_not_nearest(w, N, c, k, idx, false);
            CHECK(nn == 0, "%s k=%d: %d weights not on a nearest centroid",
                  vg_cluster_init_name(inits[a]), k, nn);
            for (int j = 1; j < k; j++) {
                if (c[j] < c[j - 1]) {
                    CHECK(0, "%s k=%d: centroids not ascending at %d",
                          vg_cluster_init_name(inits[a]), k, j);
                    break;
                }
            }
            memcpy(q, w, N * sizeof *q);
            vg_cluster_apply(q, N, c, idx);
            int nd = vg_cluster_distinct(q, N);
            CHECK(nd >= 1 && nd <= k, "%s k=%d: %d distinct values after apply",
                  vg_cluster_init_name(inits[a]), k, nd);
            CHECK_NEAR(vg_cluster_mse(w, N, c, idx), prev, 0, "mse of apply");
        }
    }
    /* uniform on [-1, 1]: the optimal 16-level quantizer has cells of 1/8, MSE (1/8)^2 / 12;
     * Lloyd should end within 15% of it whatever the start (linear starts at the optimum) */
    for (int i = 0; i < N; i++)
        w[i] = vg_test_uniform(-1, 1);
    const double opt = (1.0 / 8) * (1.0 / 8) / 12;
    for (int a = 0; a < 3; a++) {
        CHECK(vg_cluster_fit(w, N, 16, inits[a], 3, false, c, idx, &err) == VG_OK, "%s", err.msg);
        double mse = vg_cluster_mse(w, N, c, idx);
        CHECK(mse < 1.15 * opt, "%s: uniform MSE %g vs optimum %g", vg_cluster_init_name(inits[a]),
              mse, opt);
    }
    free(w);
    free(q);
    free(idx);
}

/* Fewer values than clusters, one value, all equal: exact reproduction (MSE exactly 0). */
static void cluster_small(void) {
    vg_err err = {0};
    float c[256];
    uint8_t idx[16];
    float w5[5] = {0.3f, -1.5f, 0.3001f, 7.0f, -1.5f}; /* 4 distinct values, two very close */
    float one[1] = {-0.25f};
    float eq[16];
    for (int i = 0; i < 16; i++)
        eq[i] = 0.37f;
    const int ks[3] = {2, 16, 256};
    for (int a = 0; a < 3; a++) {
        for (int b = 1; b < 3; b++) { /* k = 16, 256 > n */
            int k = ks[b];
            CHECK(vg_cluster_fit(w5, 5, k, inits[a], 9, false, c, idx, &err) == VG_OK, "%s",
                  err.msg);
            int bad = 0;
            for (int i = 0; i < 5; i++)
                bad += idx[i] >= k || c[idx[i]] != w5[i];
            CHECK(bad == 0, "%s k=%d, n=5: %d values not reproduced exactly",
                  vg_cluster_init_name(inits[a]), k, bad);
            CHECK(vg_cluster_fit(one, 1, k, inits[a], 9, false, c, idx, &err) == VG_OK &&
                      c[idx[0]] == one[0],
                  "%s k=%d, n=1: %g", vg_cluster_init_name(inits[a]), k, c[idx[0]]);
        }
        for (int b = 0; b < 3; b++) {
            int k = ks[b];
            CHECK(vg_cluster_fit(eq, 16, k, inits[a], 9, false, c, idx, &err) == VG_OK, "%s",
                  err.msg);
            float q[16];
            memcpy(q, eq, sizeof q);
            vg_cluster_apply(q, 16, c, idx);
            CHECK(memcmp(q, eq, sizeof q) == 0 && vg_cluster_mse(eq, 16, c, idx) == 0,
                  "%s k=%d: all-equal weights changed (%.9g)", vg_cluster_init_name(inits[a]), k,
                  q[0]);
        }
        /* k = 2 on n = 5: still a valid nearest assignment */
        CHECK(vg_cluster_fit(w5, 5, 2, inits[a], 9, false, c, idx, &err) == VG_OK &&
                  count_not_nearest(w5, 5, c, 2, idx, false) == 0,
              "%s k=2 n=5: %g %g", vg_cluster_init_name(inits[a]), c[0], c[1]);
    }
    /* all zero with keep_zero: every index 0, centroid 0 exactly */
    float z[6] = {0};
    CHECK(vg_cluster_fit(z, 6, 4, VG_CLUSTER_KMEANSPP, 1, true, c, idx, &err) == VG_OK &&
              c[0] == 0.0f && idx[0] == 0 && idx[5] == 0,
          "all-zero keep_zero");
}

/* Half the weights pruned (some stored as -0.0): keep_zero keeps exactly that zero set. */
static void cluster_keep_zero(void) {
    enum { N = 10000 };
    float *w = malloc(N * sizeof *w), *q = malloc(N * sizeof *q);
    uint8_t *idx = malloc(N);
    vg_test_seed(31);
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        float u = vg_test_uniform(0, 1);
        w[i] = u < 0.45f ? 0.0f : u < 0.5f ? -0.0f : normalish(0.1f);
        zeros += w[i] == 0;
    }
    vg_err err = {0};
    float c[256];
    const int ks[3] = {2, 16, 256};
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            int k = ks[b];
            CHECK(vg_cluster_fit(w, N, k, inits[a], 4, true, c, idx, &err) == VG_OK, "%s", err.msg);
            CHECK(c[0] == 0.0f && !signbit(c[0]), "%s k=%d: pinned centroid %g",
                  vg_cluster_init_name(inits[a]), k, c[0]);
            int nn = count_not_nearest(w, N, c, k, idx, true);
            CHECK(nn == 0, "%s k=%d: %d weights misassigned", vg_cluster_init_name(inits[a]), k,
                  nn);
            memcpy(q, w, N * sizeof *q);
            vg_cluster_apply(q, N, c, idx);
            int zq = 0, moved = 0;
            for (int i = 0; i < N; i++) {
                zq += q[i] == 0;
                moved += (w[i] == 0) && (q[i] != 0 || signbit(q[i]));
            }
            CHECK(zq == zeros && moved == 0, "%s k=%d: %d zeros after apply, %d before (%d lost)",
                  vg_cluster_init_name(inits[a]), k, zq, zeros, moved);
            int nd = vg_cluster_distinct(q, N);
            CHECK(nd <= k, "%s k=%d: %d distinct", vg_cluster_init_name(inits[a]), k, nd);
        }
    }
    /* no zeros at all: centroid 0 is still reserved, and unused */
    for (int i = 0; i < N; i++)
        w[i] = 0.5f + vg_test_uniform(0, 1);
    CHECK(vg_cluster_fit(w, N, 8, VG_CLUSTER_DENSITY, 4, true, c, idx, &err) == VG_OK, "%s",
          err.msg);
    int used0 = 0;
    for (int i = 0; i < N; i++)
        used0 += idx[i] == 0;
    CHECK(c[0] == 0.0f && used0 == 0, "no zeros: c0 %g used by %d", c[0], used0);
    free(w);
    free(q);
    free(idx);
}

/* Gradient averaging conserves each cluster's gradient sum (the centroid's gradient): the only
 * change is the rounding of the mean to float, relative 6e-8 per member, checked at 1e-6 of
 * the cluster's sum of |g|. */
static void cluster_grad(void) {
    enum { N = 6000, K = 16 };
    float *w = malloc(N * sizeof *w), *g = malloc(N * sizeof *g);
    uint8_t *idx = malloc(N);
    vg_test_seed(41);
    for (int i = 0; i < N; i++)
        w[i] = vg_test_uniform(0, 1) < 0.3f ? 0.0f : normalish(0.1f);
    vg_err err = {0};
    float c[K];
    CHECK(vg_cluster_fit(w, N, K, VG_CLUSTER_KMEANSPP, 2, true, c, idx, &err) == VG_OK, "%s",
          err.msg);
    for (int pinned = 0; pinned < 2; pinned++) {
        vg_test_fill(g, N, -1, 1);
        double sum[K] = {0}, sabs[K] = {0}, after[K] = {0};
        for (int i = 0; i < N; i++) {
            sum[idx[i]] += g[i];
            sabs[idx[i]] += fabs(g[i]);
        }
        vg_cluster_grad(g, N, idx, K, pinned != 0);
        float first[K];
        bool seen[K] = {false};
        int unequal = 0, zero_bad = 0;
        for (int i = 0; i < N; i++) {
            int j = idx[i];
            after[j] += g[i];
            if (!seen[j]) {
                seen[j] = true;
                first[j] = g[i];
            }
            unequal += g[i] != first[j];
            zero_bad += pinned && j == 0 && g[i] != 0;
        }
        CHECK(unequal == 0, "pinned %d: %d members' gradients differ from their cluster's", pinned,
              unequal);
        CHECK(zero_bad == 0, "pinned: %d non-zero gradients in the zero cluster", zero_bad);
        for (int j = pinned ? 1 : 0; j < K; j++)
            CHECK_NEAR(after[j], sum[j], 1e-6 * sabs[j] + 1e-12, "pinned %d: cluster %d sum",
                       pinned, j);
    }
    free(w);
    free(g);
    free(idx);
}

/* 20 SGD steps on a clustered, half-pruned layer. With averaged gradients the members move
 * alike (<= k values even before snapping); with raw per-weight gradients plus weight decay
 * they do not, and snap restores <= k values, each centroid the mean of its members. */
static void cluster_finetune(void) {
    enum { N = 8000, K = 16 };
    float *w0 = malloc(N * sizeof *w0), *w = malloc(N * sizeof *w), *g = malloc(N * sizeof *g);
    uint8_t *idx = malloc(N);
    vg_test_seed(51);
    for (int i = 0; i < N; i++)
        w0[i] = vg_test_uniform(0, 1) < 0.5f ? 0.0f : normalish(0.1f);
    vg_err err = {0};
    float c0[K], c[K];
    CHECK(vg_cluster_fit(w0, N, K, VG_CLUSTER_DENSITY, 1, true, c0, idx, &err) == VG_OK, "%s",
          err.msg);
    for (int mode = 0; mode < 2; mode++) {
        memcpy(c, c0, sizeof c);
        memcpy(w, w0, N * sizeof *w);
        vg_cluster_apply(w, N, c, idx);
        int over = 0, mean_bad = 0;
        for (int step = 0; step < 20; step++) {
            vg_test_fill(g, N, -1, 1);
            if (mode == 0) vg_cluster_grad(g, N, idx, K, true);
            for (int i = 0; i < N; i++)
                w[i] -= 0.01f * g[i] + (mode ? 1e-3f * w[i] : 0.0f);
            if (mode == 0 && vg_cluster_distinct(w, N) > K) over++;
            double sum[K] = {0};
            int cnt[K] = {0};
            for (int i = 0; i < N; i++) {
                sum[idx[i]] += w[i];
                cnt[idx[i]]++;
            }
            vg_cluster_snap(w, N, idx, K, c, true);
            for (int j = 1; j < K; j++)
                mean_bad += cnt[j] && fabs(c[j] - sum[j] / cnt[j]) > 1e-6 * fabs(sum[j] / cnt[j]);
        }
        CHECK(over == 0, "averaged SGD: %d steps left more than %d values before snap", over, K);
        CHECK(mean_bad == 0, "mode %d: %d centroids not the mean of their members", mode, mean_bad);
        int nd = vg_cluster_distinct(w, N), zero_bad = 0, off = 0;
        for (int i = 0; i < N; i++) {
            zero_bad += (w0[i] == 0) != (w[i] == 0);
            off += w[i] != c[idx[i]];
        }
        CHECK(nd <= K && zero_bad == 0 && off == 0 && c[0] == 0.0f,
              "mode %d after 20 steps: %d distinct, %d zeros changed, %d off their centroid, "
              "c0 %g",
              mode, nd, zero_bad, off, c[0]);
        double moved = 0;
        for (int j = 1; j < K; j++)
            moved += fabs(c[j] - c0[j]);
        CHECK(moved > 1e-4, "mode %d: centroids did not move (%g)", mode, moved);
    }
    free(w0);
    free(w);
    free(g);
    free(idx);
}

/* Weight sharing with one scale per row (output channel): rows whose magnitudes differ by
 * 1000x share one codebook of normalised values. After fit + apply and after simulated SGD
 * steps with snapping: w / scale has at most k distinct values, every weight equals
 * centroid x its row's scale exactly, pruned zeros stay zero, and each centroid is the
 * least-squares fit sum(w s) / sum(s^2) of its members before the snap. */
static void cluster_scaled(void) {
    enum { ROWS = 24, ROW = 50, N = ROWS * ROW, K = 8 };
    float *w = malloc(N * sizeof *w), *u = malloc(N * sizeof *u), *g = malloc(N * sizeof *g);
    float scale[ROWS], c[256];
    uint8_t *idx = malloc(N);
    vg_test_seed(61);
    for (int r = 0; r < ROWS; r++) {
        float mag = powf(10.0f, -3.0f + 3.0f * (float)r / (ROWS - 1)); /* 1e-3 .. 1 */
        for (int i = 0; i < ROW; i++)
            w[r * ROW + i] = vg_test_uniform(0, 1) < 0.3f ? 0.0f : mag * normalish(0.4f);
    }
    vg_err err = {0};
    CHECK(vg_cluster_fit_scaled(w, N, 7, K, VG_CLUSTER_KMEANSPP, 1, true, scale, c, idx, &err) ==
              VG_ERR_ARG,
          "rows of 7 do not tile %d weights", N);
    for (int pinned = 0; pinned < 2; pinned++) {
        float *x = malloc(N * sizeof *x);
        memcpy(x, w, N * sizeof *x);
        CHECK(vg_cluster_fit_scaled(x, N, ROW, K, VG_CLUSTER_KMEANSPP, 3, pinned, scale, c, idx,
                                    &err) == VG_OK,
              "%s", err.msg);
        for (int r = 0; r < ROWS; r++) {
            float m = 0;
            for (int i = 0; i < ROW; i++)
                m = fmaxf(m, fabsf(x[r * ROW + i]));
            CHECK(scale[r] == (m > 0 ? m : 1.0f), "row %d scale %g, max |w| %g", r, scale[r], m);
        }
        /* relative error of the shared form is as small for the 1e-3 rows as for the 1 rows */
        double e_small = 0, e_big = 0;
        vg_cluster_apply_scaled(x, N, ROW, scale, c, idx);
        for (int i = 0; i < ROW; i++) {
            e_small += fabs(x[i] - w[i]) / scale[0];
            e_big += fabs(x[N - ROW + i] - w[N - ROW + i]) / scale[ROWS - 1];
        }
        CHECK(e_small < 0.2 * ROW && e_big < 0.2 * ROW, "pinned %d: mean relative error %g / %g",
              pinned, e_small / ROW, e_big / ROW);
        for (int step = 0; step < 10; step++) {
            vg_test_fill(g, N, -1, 1);
            for (int i = 0; i < N; i++)
                x[i] -= 0.01f * scale[i / ROW] * g[i];
            double num[K] = {0}, den[K] = {0};
            for (int i = 0; i < N; i++) {
                num[idx[i]] += (double)x[i] * scale[i / ROW];
                den[idx[i]] += (double)scale[i / ROW] * scale[i / ROW];
            }
            vg_cluster_snap_scaled(x, N, ROW, scale, idx, K, c, pinned);
            int lsq_bad = 0;
            for (int j = pinned; j < K; j++)
                lsq_bad += den[j] > 0 && fabs(c[j] - num[j] / den[j]) > 1e-5 * fabs(num[j] / den[j]) + 1e-9;
            CHECK(lsq_bad == 0, "pinned %d step %d: %d centroids not least-squares fits", pinned,
                  step, lsq_bad);
        }
        int off = 0, zero_bad = 0;
        for (int i = 0; i < N; i++) {
            off += x[i] != c[idx[i]] * scale[i / ROW];
            u[i] = c[idx[i]]; /* exact: x == u x scale was just checked */
            zero_bad += pinned && (w[i] == 0) != (x[i] == 0);
        }
        int nd = vg_cluster_distinct(u, N);
        CHECK(off == 0 && nd <= K && zero_bad == 0,
              "pinned %d: %d weights off centroid x scale, %d distinct normalised values (k %d), "
              "%d zeros changed",
              pinned, off, nd, K, zero_bad);
        CHECK(!pinned || c[0] == 0.0f, "pinned zero centroid moved to %g", c[0]);
        free(x);
    }
    free(w), free(u), free(g), free(idx);
}

static void cluster_bitpack(void) {
    vg_err err = {0};
    const int ns[] = {0, 1, 7, 1001};
    uint8_t idx[1001], back[1001], buf[1002];
    vg_test_seed(61);
    for (int bits = 1; bits <= 8; bits++) {
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
            int n = ns[t];
            for (int i = 0; i < n; i++) {
                int v = (int)vg_test_uniform(0, (float)(1 << bits));
                idx[i] = (uint8_t)(v < (1 << bits) ? v : (1 << bits) - 1);
            }
            size_t size = vg_bitpack_size(n, bits);
            CHECK(size == (size_t)(n * bits + 7) / 8, "size(%d, %d) = %zu", n, bits, size);
            memset(buf, 0xA5, sizeof buf);
            vg_bitpack(idx, n, bits, buf);
            CHECK(buf[size] == 0xA5, "bits %d n %d: wrote past the end", bits, n);
            vg_status s = vg_bitunpack(buf, size, n, bits, 1 << bits, back, &err);
            CHECK(s == VG_OK && memcmp(idx, back, (size_t)n) == 0, "bits %d n %d: round trip (%s)",
                  bits, n, err.msg);
            if (n > 0) {
                CHECK(vg_bitunpack(buf, size - 1, n, bits, 1 << bits, back, &err) == VG_ERR_FORMAT,
                      "bits %d n %d: short buffer accepted", bits, n);
            }
            CHECK(vg_bitunpack(buf, size + 1, n, bits, 1 << bits, back, &err) == VG_ERR_FORMAT,
                  "bits %d n %d: long buffer accepted", bits, n);
        }
    }
    /* the documented bit order */
    uint8_t v3[3] = {1, 2, 3}, p3[2] = {0, 0};
    vg_bitpack(v3, 3, 3, p3);
    CHECK(p3[0] == 0xD1 && p3[1] == 0x00, "bits 3 {1,2,3} -> %02x %02x", p3[0], p3[1]);
    uint8_t v5[2] = {0x1F, 0x01}, p5[2];
    vg_bitpack(v5, 2, 5, p5); /* 11111 | 10000 -> 0x3F, 0x00 */
    CHECK(p5[0] == 0x3F && p5[1] == 0x00, "bits 5 {31,1} -> %02x %02x", p5[0], p5[1]);
    /* an index >= k, and non-zero padding */
    uint8_t v4[5] = {0, 9, 3, 12, 1}, p4[3];
    vg_bitpack(v4, 5, 4, p4);
    vg_status s = vg_bitunpack(p4, 3, 5, 4, 10, back, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "index 3") != NULL, "index 12 >= k 10: %d '%s'",
          (int)s, err.msg);
    CHECK(vg_bitunpack(p4, 3, 5, 4, 13, back, &err) == VG_OK && back[3] == 12, "k 13 accepts");
    p4[2] |= 0x80;
    CHECK(vg_bitunpack(p4, 3, 5, 4, 16, back, &err) == VG_ERR_FORMAT, "padding accepted");
    CHECK(vg_bitunpack(p4, 3, 5, 0, 16, back, &err) == VG_ERR_ARG, "bits 0");
    CHECK(vg_bitunpack(p4, 3, 5, 9, 16, back, &err) == VG_ERR_ARG, "bits 9");
    CHECK(vg_bitunpack(p4, 3, 5, 4, 0, back, &err) == VG_ERR_ARG, "k 0");
    CHECK(vg_bitunpack(p4, 3, 5, 4, 257, back, &err) == VG_ERR_ARG, "k 257");
    CHECK(vg_bitunpack(p4, 3, -5, 4, 16, back, &err) == VG_ERR_ARG, "n < 0");
}

/* Huffman-coded indices: round trips, the documented canonical code and bit order, the
 * length limit, the entropy bounds, and hostile streams. */
static void huff_roundtrip(const uint8_t *idx, int64_t n, int k, const char *what) {
    uint64_t f[256] = {0};
    for (int64_t i = 0; i < n; i++) f[idx[i]]++;
    uint8_t len[256];
    vg_err err = {0};
    vg_huff_lengths(f, k, len);
    CHECK(vg_huff_check(len, k, &err) == VG_OK, "%s: %s", what, err.msg);
    int bad = 0;
    for (int s = 0; s < k; s++) bad += (f[s] > 0) != (len[s] > 0);
    CHECK(bad == 0, "%s: %d symbols with a code iff used", what, bad);
    size_t size = vg_huff_size(idx, n, len);
    uint8_t *buf = malloc(size + 1), *back = malloc((size_t)n + 1);
    memset(buf, 0xA5, size + 1);
    vg_huff_encode(idx, n, len, k, buf);
    CHECK(buf[size] == 0xA5, "%s: wrote past the end", what);
    vg_status s = vg_huff_decode(buf, size, n, len, k, back, &err);
    CHECK(s == VG_OK && memcmp(idx, back, (size_t)n) == 0, "%s: round trip (%s)", what, err.msg);
    if (size > 0) {
        CHECK(vg_huff_decode(buf, size - 1, n, len, k, back, &err) == VG_ERR_FORMAT, "%s: short stream", what);
        buf[size] = 0;
        CHECK(vg_huff_decode(buf, size + 1, n, len, k, back, &err) == VG_ERR_FORMAT, "%s: long stream", what);
    }
    if (n > 0) { /* one index fewer than the stream holds: refused unless the n - 1 codes encode
                  * to the very same bytes (a last all-zero code inside the padding; the
                  * container stores n, so that is no ambiguity in a file) */
        size_t size1 = vg_huff_size(idx, n - 1, len);
        uint8_t *b1 = calloc(size1 + 1, 1);
        vg_huff_encode(idx, n - 1, len, k, b1);
        bool same = size1 == size && memcmp(b1, buf, size) == 0;
        CHECK(same || vg_huff_decode(buf, size, n - 1, len, k, back, &err) == VG_ERR_FORMAT,
              "%s: %lld codes accepted as %lld", what, (long long)n, (long long)n - 1);
        free(b1);
    }
    free(buf), free(back);
}

static void cluster_huffman(void) {
    enum { N = 100000 };
    uint8_t *idx = malloc(N);
    vg_test_seed(67);
    const int ks[] = {1, 2, 16, 256};
    const int64_t ns[] = {0, 1, 7, 1001, N};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 5; b++)
            for (int skew = 0; skew < 2; skew++) {
                int k = ks[a];
                for (int64_t i = 0; i < ns[b]; i++) {
                    float u = vg_test_uniform(0, 1);
                    /* skewed: a two-sided geometric around the middle symbol, as k-means fills */
                    int v = skew ? k / 2 + (int)((vg_test_uniform(0, 1) < 0.5f ? -1 : 1) * floorf(-logf(1 - u) * 1.5f))
                                 : (int)(u * (float)k);
                    idx[i] = (uint8_t)(v < 0 ? 0 : v >= k ? k - 1 : v);
                }
                char what[64];
                snprintf(what, sizeof what, "k %d n %lld %s", k, (long long)ns[b], skew ? "skewed" : "uniform");
                huff_roundtrip(idx, ns[b], k, what);
            }
    /* the documented canonical code: frequencies 8 4 2 1 1 -> lengths 1 2 3 4 4 */
    uint64_t f5[5] = {8, 4, 2, 1, 1};
    uint8_t l5[5];
    vg_huff_lengths(f5, 5, l5);
    CHECK(l5[0] == 1 && l5[1] == 2 && l5[2] == 3 && l5[3] == 4 && l5[4] == 4, "lengths %d %d %d %d %d", l5[0],
          l5[1], l5[2], l5[3], l5[4]);
    /* lengths 1 2 3 3: codes 0, 10, 110, 111; {1, 0, 3} -> stream bits 1 0 0 1 1 1 -> 0x39 */
    uint8_t l4[4] = {1, 2, 3, 3}, v3[3] = {1, 0, 3}, out[2] = {0, 0}, back[3];
    vg_huff_encode(v3, 3, l4, 4, out);
    CHECK(vg_huff_size(v3, 3, l4) == 1 && out[0] == 0x39, "{1,0,3} -> %02x", out[0]);
    vg_err err = {0};
    CHECK(vg_huff_decode(out, 1, 3, l4, 4, back, &err) == VG_OK && back[0] == 1 && back[1] == 0 && back[2] == 3,
          "0x39 -> %d %d %d", back[0], back[1], back[2]);
    /* one used symbol: a 1-bit code */
    uint64_t f1[3] = {0, 9, 0};
    uint8_t l1[3];
    vg_huff_lengths(f1, 3, l1);
    CHECK(l1[0] == 0 && l1[1] == 1 && l1[2] == 0, "single symbol lengths %d %d %d", l1[0], l1[1], l1[2]);
    /* Fibonacci frequencies make a 29-deep tree: the code is limited to VG_HUFF_MAX_LEN */
    uint64_t fib[30];
    fib[0] = fib[1] = 1;
    for (int i = 2; i < 30; i++) fib[i] = fib[i - 1] + fib[i - 2];
    uint8_t lf[30];
    vg_huff_lengths(fib, 30, lf);
    int maxl = 0;
    for (int i = 0; i < 30; i++) maxl = lf[i] > maxl ? lf[i] : maxl;
    CHECK(maxl == VG_HUFF_MAX_LEN && vg_huff_check(lf, 30, &err) == VG_OK, "fibonacci: longest %d (%s)", maxl,
          err.msg);
    int64_t nf = 0;
    for (int s = 0; s < 30 && nf < N; s++)
        for (uint64_t j = 0; j < fib[s] && nf < N; j++) idx[nf++] = (uint8_t)s;
    huff_roundtrip(idx, nf, 30, "fibonacci, length-limited");
    /* within the entropy bounds: H <= bits per index < H + 1 */
    for (int64_t i = 0; i < N; i++) {
        float u = vg_test_uniform(0, 1);
        int v = 8 + (int)((vg_test_uniform(0, 1) < 0.5f ? -1 : 1) * floorf(-logf(1 - u) * 2.0f));
        idx[i] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
    }
    uint64_t fr[16] = {0};
    for (int i = 0; i < N; i++) fr[idx[i]]++;
    double H = 0;
    for (int s = 0; s < 16; s++)
        if (fr[s]) H -= (double)fr[s] / N * log2((double)fr[s] / N);
    uint8_t lr[16];
    vg_huff_lengths(fr, 16, lr);
    double bpi = 8.0 * (double)vg_huff_size(idx, N, lr) / N;
    CHECK(bpi >= H && bpi < H + 1 && bpi < 4, "%.3f bits per index, entropy %.3f", bpi, H);
    printf("  16 clusters, two-sided geometric indices: %.3f bits per index (entropy %.3f, packed 4)\n", bpi, H);
    /* hostile code tables and streams */
    uint8_t over[3] = {1, 1, 1}, deep[2] = {1, 16}, none[2] = {0, 0}, half[2] = {1, 0};
    CHECK(vg_huff_check(over, 3, &err) == VG_ERR_FORMAT, "over-subscribed lengths accepted");
    CHECK(vg_huff_decode(out, 1, 3, over, 3, back, &err) == VG_ERR_FORMAT, "decode with over-subscribed lengths");
    CHECK(vg_huff_check(deep, 2, &err) == VG_ERR_FORMAT, "a 16-bit code accepted");
    CHECK(vg_huff_decode(out, 0, 1, none, 2, back, &err) == VG_ERR_FORMAT, "indices without a code");
    CHECK(vg_huff_decode(out, 0, 0, none, 2, back, &err) == VG_OK, "no indices, no code");
    uint8_t one = 0x01; /* bit 1: no code of {0} */
    vg_status s = vg_huff_decode(&one, 1, 1, half, 2, back, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "no code") != NULL, "incomplete code: %d '%s'", (int)s, err.msg);
    uint8_t pad = 0x39 | 0x80; /* the 0x39 stream with a padding bit set */
    CHECK(vg_huff_decode(&pad, 1, 3, l4, 4, back, &err) == VG_ERR_FORMAT, "non-zero padding accepted");
    CHECK(vg_huff_check(l4, 0, &err) == VG_ERR_ARG && vg_huff_check(l4, 257, &err) == VG_ERR_ARG, "k range");
    CHECK(vg_huff_decode(out, 1, -1, l4, 4, back, &err) == VG_ERR_ARG, "n < 0");
    free(idx);
}

/* A large layer (1280 x 1000 classifier scale) at k = 256: printed, not asserted. */
static void cluster_timing(void) {
    enum { N = 1200000 };
    float *w = malloc(N * sizeof *w);
    uint8_t *idx = malloc(N);
    vg_test_seed(71);
    for (int i = 0; i < N; i++)
        w[i] = normalish(0.05f);
    vg_err err = {0};
    float c[256];
    for (int a = 0; a < 3; a++) {
        int iters = 0;
        double t0 = vg_time_now();
        vg_status s = vg_cluster_fit_iters(w, N, 256, inits[a], 1, false, VG_CLUSTER_MAX_ITERS, c,
                                           idx, &iters, &err);
        double dt = vg_time_now() - t0;
        CHECK(s == VG_OK, "%s", err.msg);
        printf("  fit n=%d k=256 %-8s: %6.1f ms, %3d iterations, MSE %.3g\n", N,
               vg_cluster_init_name(inits[a]), dt * 1e3, iters, vg_cluster_mse(w, N, c, idx));
    }
    free(w);
    free(idx);
}

void test_cluster(void) {
    cluster_args();
    cluster_recover();
    cluster_lloyd();
    cluster_small();
    cluster_keep_zero();
    cluster_grad();
    cluster_finetune();
    cluster_scaled();
    cluster_bitpack();
    cluster_huffman();
    cluster_timing();
}
