/* calib.c — calibration (activation ranges from images) and post-training int8 quantization
 * of a float model into the int8 form the integer kernels run. See calib.h. */
#include "compress/calib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/runner.h"

const char *vg_calibrator_name(vg_calibrator c) {
    switch (c) {
    case VG_CALIB_MINMAX: return "minmax";
    case VG_CALIB_PERCENTILE: return "percentile";
    case VG_CALIB_ENTROPY: return "entropy";
    }
    return "?";
}

bool vg_calibrator_parse(const char *s, vg_calibrator *c) {
    for (int k = 0; k <= VG_CALIB_ENTROPY; k++)
        if (strcmp(s, vg_calibrator_name((vg_calibrator)k)) == 0) {
            *c = (vg_calibrator)k;
            return true;
        }
    return false;
}

void vg_calib_table_free(vg_calib_table *t) {
    if (!t) return;
    free(t->lo), free(t->hi), free(t->min), free(t->max), free(t->mean_off), free(t->mean_c);
    free(t->mean), free(t->msq);
    memset(t, 0, sizeof *t);
}

uint64_t vg_model_hash(const vg_model *m) {
    uint64_t h = vg_hash64(&m->input, sizeof m->input, 0x76696769ull);
    for (int i = 0; i < m->g.n_nodes; i++) {
        const vg_node *n = &m->g.nodes[i];
        int32_t f[18] = {n->op, n->act, n->pad_mode, n->in[0], n->in[1], n->out, n->kh, n->kw,
                         n->sh, n->sw, n->pad[0], n->pad[1], n->pad[2], n->pad[3], n->co,
                         (int32_t)n->w, (int32_t)n->b, 0};
        h = vg_hash64(f, sizeof f, h);
    }
    return vg_hash64(m->g.params, sizeof(float) * (size_t)m->g.n_params, h);
}

static bool alloc_table(vg_calib_table *t, int nt) {
    memset(t, 0, sizeof *t);
    t->n_tensors = nt;
    t->lo = vg_calloc((size_t)nt, sizeof(float));
    t->hi = vg_calloc((size_t)nt, sizeof(float));
    t->min = vg_calloc((size_t)nt, sizeof(float));
    t->max = vg_calloc((size_t)nt, sizeof(float));
    t->mean_off = vg_malloc(sizeof(int64_t) * (size_t)nt);
    t->mean_c = vg_calloc((size_t)nt, sizeof(int));
    if (t->lo && t->hi && t->min && t->max && t->mean_off && t->mean_c) return true;
    vg_calib_table_free(t); /* the arrays that were allocated; t is empty again */
    return false;
}

/* ---- range choice */

/* KL(P || Q) of two histograms given as counts (normalised here); P's empty bins add nothing,
 * Q's empty bins where P is not get a small floor as TensorRT does. */
static double kl_div(const double *p, const double *q, int n) {
    double sp = 0, sq = 0;
    for (int i = 0; i < n; i++) sp += p[i], sq += q[i];
    if (sp <= 0 || sq <= 0) return INFINITY;
    double d = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] <= 0) continue;
        double pi = p[i] / sp, qi = q[i] > 0 ? q[i] / sq : 1e-12;
        d += pi * log(pi / qi);
    }
    return d;
}

float vg_calib_entropy_threshold(const double *hist, int bins, float amax, int levels) {
    if (bins <= levels || !(amax > 0)) return amax;
    double *p = vg_malloc(sizeof(double) * (size_t)bins), *q = vg_malloc(sizeof(double) * (size_t)bins);
    if (!p || !q) {
        free(p), free(q);
        return amax;
    }
    double total_tail = 0;
    for (int i = 0; i < bins; i++) total_tail += hist[i];
    double best = INFINITY;
    int best_i = bins;
    double tail = total_tail;
    for (int i = 0; i < levels; i++) tail -= hist[i];
    for (int i = levels; i <= bins; i++) {
        /* P: the first i bins, the clipped outliers folded into the last one */
        for (int k = 0; k < i; k++) p[k] = hist[k];
        p[i - 1] += tail;
        /* Q: the first i bins merged into `levels` groups, each spread back evenly over the
         * bins of its group that are non-empty in the reference */
        for (int l = 0; l < levels; l++) {
            int a = (int)((int64_t)l * i / levels), b = (int)((int64_t)(l + 1) * i / levels);
            double s = 0;
            int nz = 0;
            for (int k = a; k < b; k++) s += hist[k], nz += hist[k] > 0;
            for (int k = a; k < b; k++) q[k] = hist[k] > 0 ? s / nz : 0;
        }
        double d = kl_div(p, q, i);
        if (d < best) best = d, best_i = i;
        if (i < bins) tail -= hist[i];
    }
    free(p), free(q);
    return amax * (float)best_i / (float)bins;
}

/* the value at fraction f of a histogram's mass, bins over [lo, hi] */
static float hist_quantile(const double *h, int bins, float lo, float hi, double f) {
    double total = 0;
    for (int i = 0; i < bins; i++) total += h[i];
    if (total <= 0) return lo;
    double want = f * total, acc = 0;
    for (int i = 0; i < bins; i++) {
        acc += h[i];
        if (acc >= want) return lo + (hi - lo) * (float)(i + 1) / (float)bins;
    }
    return hi;
}

/* ---- calibration */

typedef struct {
    double *vh; /* histogram of x over [min, max] */
    double *ah; /* histogram of |x| over [0, max(|min|, max)] */
} tensor_hist;

static void observe_hist(tensor_hist *th, float mn, float mx, const float *x, size_t n) {
    float amax = fabsf(mn) > fabsf(mx) ? fabsf(mn) : fabsf(mx);
    float vs = mx > mn ? VG_CALIB_BINS / (mx - mn) : 0, as = amax > 0 ? VG_CALIB_BINS / amax : 0;
    for (size_t i = 0; i < n; i++) {
        int v = (int)((x[i] - mn) * vs), a = (int)(fabsf(x[i]) * as);
        if (v >= VG_CALIB_BINS) v = VG_CALIB_BINS - 1;
        if (v < 0) v = 0;
        if (a >= VG_CALIB_BINS) a = VG_CALIB_BINS - 1;
        th->vh[v] += 1;
        /* exact zeros (ReLU's clipped half) are exactly representable whatever the range:
         * they must not pull the entropy threshold down */
        if (x[i] != 0.0f) th->ah[a] += 1;
    }
}

vg_status vg_calibrate(const vg_model *m, int n, vg_calib_fetch fetch, void *ud,
                       vg_calibrator kind, float percentile, int threads,
                       vg_calib_progress progress, void *pud, vg_calib_table *out, vg_err *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return vg_err_set(err, VG_ERR_ARG, "calibration needs at least one image");
    if (kind == VG_CALIB_PERCENTILE && !(percentile > 50 && percentile <= 100))
        return vg_err_set(err, VG_ERR_ARG, "percentile %g out of range (50, 100]", percentile);
    const vg_graph *g = &m->g;
    int nt = g->n_tensors;
    vg_shape *shapes = vg_malloc(sizeof(vg_shape) * (size_t)nt);
    if (!shapes) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, NULL, shapes, err);
    if (st != VG_OK) {
        free(shapes);
        return st;
    }
    if (!alloc_table(out, nt)) {
        free(shapes);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    out->calibrator = kind;
    out->percentile = percentile;
    out->n_images = n;
    out->model_hash = vg_model_hash(m);
    /* channel means: of every tensor that feeds a weighted layer (bias correction) */
    int64_t nm = 0;
    for (int t = 0; t < nt; t++) out->mean_off[t] = -1;
    for (int j = 0; j < g->n_nodes; j++) {
        const vg_node *nd = &g->nodes[j];
        int t = nd->in[0];
        if ((nd->op == VG_OP_CONV || nd->op == VG_OP_DWCONV || nd->op == VG_OP_FC) &&
            out->mean_off[t] < 0) {
            out->mean_off[t] = nm;
            out->mean_c[t] = shapes[t].c;
            nm += shapes[t].c;
        }
    }
    out->n_mean = nm;
    out->mean = vg_calloc((size_t)(nm ? nm : 1), sizeof(double));
    out->msq = vg_calloc((size_t)(nm ? nm : 1), sizeof(double));
    size_t n_in = (size_t)m->input.h * m->input.w * m->input.c;
    float *input = vg_malloc(sizeof(float) * n_in);
    float *probs = vg_malloc(sizeof(float) * ((size_t)shapes[g->output].h * shapes[g->output].w * shapes[g->output].c + 1));
    tensor_hist *th = vg_calloc((size_t)nt, sizeof(tensor_hist));
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = threads > 0 ? threads : 1;
    ro.precision = VG_PRECISION_FLOAT;
    if (!out->mean || !out->msq || !input || !probs || !th) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) st = vg_runner_init_ex(&r, m, &ro, true, err);
    for (int t = 0; t < nt; t++) out->min[t] = INFINITY, out->max[t] = -INFINITY;
    bool hist = kind != VG_CALIB_MINMAX;
    int passes = hist ? 2 : 1;
    for (int pass = 0; st == VG_OK && pass < passes; pass++) {
        if (pass == 1) {
            for (int t = 0; t < nt && st == VG_OK; t++) {
                th[t].vh = vg_calloc(VG_CALIB_BINS, sizeof(double));
                th[t].ah = vg_calloc(VG_CALIB_BINS, sizeof(double));
                if (!th[t].vh || !th[t].ah) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            }
        }
        for (int i = 0; st == VG_OK && i < n; i++) {
            st = fetch(ud, i, input, err);
            if (st != VG_OK) break;
            vg_runner_forward(r, input, probs);
            for (int t = 0; t < nt; t++) {
                const float *x = t == 0 ? input : vg_runner_tensor(r, t);
                size_t c = (size_t)shapes[t].c, cnt = (size_t)shapes[t].h * shapes[t].w * c;
                if (pass == 0) {
                    float mn = out->min[t], mx = out->max[t];
                    for (size_t k = 0; k < cnt; k++) {
                        if (x[k] < mn) mn = x[k];
                        if (x[k] > mx) mx = x[k];
                    }
                    out->min[t] = mn, out->max[t] = mx;
                    if (out->mean_off[t] >= 0) {
                        double *mu = out->mean + out->mean_off[t], *sq = out->msq + out->mean_off[t];
                        double w = 1.0 / ((double)n * (double)(cnt / c));
                        for (size_t k = 0; k < cnt; k++) {
                            mu[k % c] += x[k] * w;
                            sq[k % c] += (double)x[k] * x[k] * w;
                        }
                    }
                } else {
                    observe_hist(&th[t], out->min[t], out->max[t], x, cnt);
                }
            }
            if (progress) progress(pud, pass * n + i + 1, passes * n);
        }
    }
    for (int t = 0; st == VG_OK && t < nt; t++) {
        float mn = out->min[t] < 0 ? out->min[t] : 0, mx = out->max[t] > 0 ? out->max[t] : 0;
        if (!isfinite(mn) || !isfinite(mx)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "tensor %d has non-finite values on the calibration images", t);
            break;
        }
        float lo = mn, hi = mx;
        /* the logits keep their whole range: clipping them would clip exactly the scores that
         * decide the class */
        int logits = g->nodes[g->n_nodes - 1].op == VG_OP_SOFTMAX ? g->nodes[g->n_nodes - 1].in[0] : g->output;
        /* ... and a tensor seen too few times keeps its extremes: a histogram that sparse
         * says nothing reliable about its tails */
        double samples = (double)n * shapes[t].h * shapes[t].w * shapes[t].c;
        if (t == logits || t == g->output || samples < 16.0 * VG_CALIB_BINS) {
        } else if (kind == VG_CALIB_PERCENTILE) {
            double f = percentile / 100.0;
            if (out->min[t] < 0) lo = hist_quantile(th[t].vh, VG_CALIB_BINS, out->min[t], out->max[t], 1 - f);
            if (lo > 0) lo = 0;
            hi = hist_quantile(th[t].vh, VG_CALIB_BINS, out->min[t], out->max[t], f);
            if (hi < 0) hi = 0;
        } else if (kind == VG_CALIB_ENTROPY) {
            float amax = -mn > mx ? -mn : mx;
            bool signed_t = mn < 0;
            /* a non-negative tensor has all 256 levels on [0, T]; a signed one 128 per side */
            float T = vg_calib_entropy_threshold(th[t].ah, VG_CALIB_BINS, amax, signed_t ? 128 : 256);
            hi = mx < T ? mx : T;
            lo = signed_t ? (mn > -T ? mn : -T) : 0;
        }
        if (!(hi > lo)) hi = lo + 1e-6f; /* a constant tensor still needs a positive scale */
        out->lo[t] = lo, out->hi[t] = hi;
    }
    for (int t = 0; t < nt; t++) free(th[t].vh), free(th[t].ah);
    free(th), free(shapes), free(input), free(probs);
    vg_runner_free(r);
    if (st != VG_OK) vg_calib_table_free(out);
    return st;
}

/* ---- the table as text */

#define CALIB_MAGIC "vigie-calibration 1"

vg_status vg_calib_table_save(const vg_calib_table *t, const char *path, vg_err *err) {
    size_t cap = 4096 + (size_t)t->n_tensors * 128 + (size_t)t->n_mean * 52;
    char *buf = vg_malloc(cap);
    if (!buf) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    size_t n = 0;
#define OUT(...) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
    OUT("%s\nmodel %016llx\ncalibrator %s\npercentile %.9g\nimages %d\ntensors %d\n", CALIB_MAGIC,
        (unsigned long long)t->model_hash, vg_calibrator_name(t->calibrator), t->percentile,
        t->n_images, t->n_tensors);
    for (int i = 0; i < t->n_tensors; i++)
        OUT("t %d %.9g %.9g %.9g %.9g\n", i, t->lo[i], t->hi[i], t->min[i], t->max[i]);
    for (int i = 0; i < t->n_tensors; i++) {
        if (t->mean_off[i] < 0) continue;
        OUT("mean %d %d", i, t->mean_c[i]);
        for (int c = 0; c < t->mean_c[i]; c++) OUT(" %.9g", t->mean[t->mean_off[i] + c]);
        OUT("\n");
        if (t->msq) {
            OUT("msq %d %d", i, t->mean_c[i]);
            for (int c = 0; c < t->mean_c[i]; c++) OUT(" %.9g", t->msq[t->mean_off[i] + c]);
            OUT("\n");
        }
    }
    OUT("end\n"); /* a table cut short is refused */
#undef OUT
    vg_status st = n < cap ? vg_file_write_atomic(path, buf, n, err)
                           : vg_err_set(err, VG_ERR_NOMEM, "calibration table overflow");
    free(buf);
    return st;
}

vg_status vg_calib_table_load(const char *path, uint64_t expect_hash, vg_calib_table *t,
                              vg_err *err) {
    memset(t, 0, sizeof *t);
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(path, (size_t)64 << 20, &data, &size, err);
    if (st != VG_OK) return st;
    char *s = vg_malloc(size + 1);
    if (!s) {
        free(data);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    memcpy(s, data, size);
    s[size] = 0;
    free(data);
    unsigned long long hash = 0;
    char cal[32] = {0};
    float pct = 0;
    int images = 0, nt = 0, used = 0;
    if (strncmp(s, CALIB_MAGIC "\n", strlen(CALIB_MAGIC) + 1) != 0 ||
        sscanf(s + strlen(CALIB_MAGIC) + 1, "model %llx calibrator %31s percentile %f images %d tensors %d%n",
               &hash, cal, &pct, &images, &nt, &used) != 5) {
        free(s);
        return vg_err_set(err, VG_ERR_FORMAT, "%s: not a vigie calibration table", path);
    }
    if (expect_hash && hash != expect_hash) {
        free(s);
        return vg_err_set(err, VG_ERR_ARG,
                          "%s: calibration table made for another model (hash %016llx, this "
                          "model %016llx); calibrate again or remove the file",
                          path, hash, (unsigned long long)expect_hash);
    }
    if (nt < 1 || nt > VG_MAX_NODES + 1 || !vg_calibrator_parse(cal, &t->calibrator) || images < 1) {
        free(s);
        return vg_err_set(err, VG_ERR_FORMAT, "%s: bad calibration header", path);
    }
    if (!alloc_table(t, nt)) {
        free(s);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    t->model_hash = hash, t->percentile = pct, t->n_images = images;
    for (int i = 0; i < nt; i++) t->mean_off[i] = -1;
    const char *p = s + strlen(CALIB_MAGIC) + 1 + used;
    char *end;
    int seen = 0;
    bool ended = false;
    st = VG_OK;
    /* first the ranges, then the means (their sizes known only as we read them) */
    size_t mean_cap = 0;
    while (st == VG_OK) {
        while (*p == ' ' || *p == '\n') p++;
        if (!*p) break;
        if (ended) goto bad;
        if (strncmp(p, "end", 3) == 0 && (p[3] == '\n' || !p[3])) {
            ended = true;
            p += 3;
        } else if (p[0] == 't' && p[1] == ' ') {
            long i = strtol(p + 2, &end, 10);
            if (end == p + 2 || i < 0 || i >= nt) goto bad;
            p = end;
            float v[4];
            for (int k = 0; k < 4; k++) {
                v[k] = strtof(p, &end);
                if (end == p || !isfinite(v[k])) goto bad;
                p = end;
            }
            if (!(v[0] <= 0 && v[1] >= 0 && v[1] > v[0])) goto bad;
            t->lo[i] = v[0], t->hi[i] = v[1], t->min[i] = v[2], t->max[i] = v[3];
            seen++;
        } else if (strncmp(p, "mean ", 5) == 0) {
            long i = strtol(p + 5, &end, 10);
            if (end == p + 5 || i < 0 || i >= nt || t->mean_off[i] >= 0) goto bad;
            p = end;
            long c = strtol(p, &end, 10);
            if (end == p || c < 1 || c > VG_MAX_CHANNELS) goto bad;
            p = end;
            if ((size_t)(t->n_mean + c) > mean_cap) {
                size_t nc = (mean_cap + (size_t)c) * 2;
                double *nm = vg_realloc(t->mean, sizeof(double) * nc);
                if (nm) t->mean = nm;
                double *nq = nm ? vg_realloc(t->msq, sizeof(double) * nc) : NULL;
                if (nq) t->msq = nq;
                if (!nm || !nq) {
                    st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
                    break;
                }
                mean_cap = nc;
            }
            t->mean_off[i] = t->n_mean, t->mean_c[i] = (int)c;
            for (long k = 0; k < c; k++) t->msq[t->n_mean + k] = 0; /* unless an msq line follows */
            for (long k = 0; k < c; k++) {
                double v = strtod(p, &end);
                if (end == p || !isfinite(v)) goto bad;
                p = end;
                t->mean[t->n_mean + k] = v;
            }
            t->n_mean += c;
        } else if (strncmp(p, "msq ", 4) == 0) {
            long i = strtol(p + 4, &end, 10);
            if (end == p + 4 || i < 0 || i >= nt || t->mean_off[i] < 0) goto bad;
            p = end;
            long c = strtol(p, &end, 10);
            if (end == p || c != t->mean_c[i]) goto bad;
            p = end;
            for (long k = 0; k < c; k++) {
                double v = strtod(p, &end);
                if (end == p || !isfinite(v)) goto bad;
                p = end;
                t->msq[t->mean_off[i] + k] = v;
            }
        } else {
            goto bad;
        }
    }
    if (st == VG_OK && (seen != nt || !ended)) {
    bad:
        st = vg_err_set(err, VG_ERR_FORMAT, "%s: calibration table damaged near byte %ld", path,
                        (long)(p - s));
    }
    free(s);
    if (st != VG_OK) vg_calib_table_free(t);
    return st;
}

/* ---- quantization */

static vg_qparam act_qparam(float lo, float hi) {
    float scale = (hi - lo) / 255.0f;
    if (!(scale > 0)) scale = 1e-8f;
    double z = -128.0 - (double)lo / scale;
    long zp = lrint(z);
    if (zp < -128) zp = -128;
    if (zp > 127) zp = 127;
    return (vg_qparam){scale, (int32_t)zp};
}


vg_status vg_model_quantize(vg_model *m, const vg_calib_table *t, bool bias_correct, vg_err *err) {
    const vg_graph *g = &m->g;
    if (t->n_tensors != g->n_tensors)
        return vg_err_set(err, VG_ERR_ARG, "calibration table has %d tensors, the model %d",
                          t->n_tensors, g->n_tensors);
    int nn = g->n_nodes;
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)nn);
    if (!geom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, NULL, err);
    int64_t nw = 0, nb = 0, ns = 0;
    for (int j = 0; st == VG_OK && j < nn; j++) {
        const vg_node *nd = &g->nodes[j];
        bool weighted = nd->op == VG_OP_CONV || nd->op == VG_OP_DWCONV || nd->op == VG_OP_FC;
        bool last_softmax = nd->op == VG_OP_SOFTMAX && j == nn - 1;
        if (!weighted && nd->op != VG_OP_ADD && nd->op != VG_OP_GAP && !last_softmax) {
            st = vg_err_set(err, VG_ERR_UNSUPPORTED,
                            "node %d (%s) has no int8 kernel%s", j, vg_op_name((vg_op)nd->op),
                            nd->op == VG_OP_BN ? " (fold batch-norm first)" : "");
            break;
        }
        if (!vg_act_simple((vg_act)nd->act)) {
            st = vg_err_set(err, VG_ERR_UNSUPPORTED,
                            "node %d (%s): %s has no int8 kernel yet (keep this model in float)", j,
                            vg_op_name((vg_op)nd->op), vg_act_name((vg_act)nd->act));
            break;
        }
        if (!weighted) continue;
        nw += vg_node_weight_count(nd, geom[j].in.c, geom[j].in.h, geom[j].in.w);
        nb += geom[j].out.c;
        ns += geom[j].out.c;
    }
    vg_qgraph *q = NULL;
    if (st == VG_OK) {
        q = vg_calloc(1, sizeof *q);
        if (q) {
            q->t = vg_malloc(sizeof(vg_qparam) * (size_t)g->n_tensors);
            q->w_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
            q->b_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
            q->s_off = vg_malloc(sizeof(int64_t) * (size_t)nn);
            q->w8 = vg_malloc((size_t)(nw ? nw : 1));
            q->b32 = vg_malloc(sizeof(int32_t) * (size_t)(nb ? nb : 1));
            q->ws = vg_malloc(sizeof(float) * (size_t)(ns ? ns : 1));
        }
        if (!q || !q->t || !q->w_off || !q->b_off || !q->s_off || !q->w8 || !q->b32 || !q->ws)
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st != VG_OK) {
        vg_qgraph_free(q);
        free(geom);
        return st;
    }
    for (int i = 0; i < g->n_tensors; i++) q->t[i] = act_qparam(t->lo[i], t->hi[i]);
    nw = nb = ns = 0;
    for (int j = 0; j < nn && st == VG_OK; j++) {
        const vg_node *nd = &g->nodes[j];
        q->w_off[j] = q->b_off[j] = q->s_off[j] = -1;
        if (nd->op != VG_OP_CONV && nd->op != VG_OP_DWCONV && nd->op != VG_OP_FC) continue;
        const vg_node_geom *gm = &geom[j];
        int co = gm->out.c;
        int64_t n = vg_node_weight_count(nd, gm->in.c, gm->in.h, gm->in.w);
        const float *w = g->params + nd->w;
        float *sc = q->ws + ns;
        for (int c = 0; c < co; c++) sc[c] = 0;
        for (int64_t i = 0; i < n; i++) {
            int c = vg_weight_channel(nd, i, n, co);
            float a = fabsf(w[i]);
            if (a > sc[c]) sc[c] = a;
        }
        for (int c = 0; c < co; c++) sc[c] = sc[c] > 0 ? sc[c] / 127.0f : 1.0f;
        int8_t *w8 = q->w8 + nw;
        vg_quantize_weights(nd, w, n, co, sc, w8);
        /* bias: float bias (+ correction), in units of input scale x weight scale */
        double *b = vg_calloc((size_t)co, sizeof(double));
        if (!b) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            break;
        }
        if (nd->b >= 0)
            for (int c = 0; c < co; c++) b[c] = g->params[nd->b + c];
        int tin = nd->in[0];
        if (bias_correct && t->mean_off[tin] >= 0 && t->mean_c[tin] == gm->in.c) {
            /* E[y_q - y] = sum over the taps of E[x] (w_q - w): removed from the bias. FC
             * inputs flatten (h, w, c), so its input index maps to channel i % c. */
            const double *mu = t->mean + t->mean_off[tin];
            int ci = gm->in.c;
            for (int64_t i = 0; i < n; i++) {
                int c = vg_weight_channel(nd, i, n, co);
                int ch = nd->op == VG_OP_DWCONV ? c : (int)((i % (n / co)) % ci);
                double dq = (double)w8[i] * sc[c] - (double)w[i];
                b[c] -= mu[ch] * dq;
            }
        }
        float sin = q->t[tin].scale;
        for (int c = 0; c < co; c++) {
            double v = b[c] / ((double)sin * sc[c]);
            if (v > 2147483647.0) v = 2147483647.0;
            if (v < -2147483648.0) v = -2147483648.0;
            q->b32[nb + c] = (int32_t)llrint(v);
        }
        free(b);
        q->w_off[j] = nw, q->b_off[j] = nb, q->s_off[j] = ns;
        nw += n, nb += co, ns += co;
    }
    free(geom);
    if (st != VG_OK) {
        vg_qgraph_free(q);
        return st;
    }
    q->n_w8 = nw, q->n_b32 = nb, q->n_ws = ns;
    /* one rounding, not TFLite's two: as accurate, and cheaper in vector code (cpu/q8_rq.h) */
    q->rounding = VG_Q8_ROUND_SINGLE;
    vg_qgraph_free(m->q);
    m->q = q;
    st = vg_model_validate(m, err);
    if (st != VG_OK) {
        vg_qgraph_free(m->q);
        m->q = NULL;
    }
    return st;
}
