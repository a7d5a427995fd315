/* optimize.c — the optimization pipeline of `vigie optimize` (vg_optimize_run in vigie.h):
 * fold batch-norm, remove channels, prune weights, share weights, fine-tune after each of
 * these, quantize to int8, write the engine file, and measure every step on report images.
 * It sits above compress/ (the methods) and train/ (fine-tuning, evaluation), which know
 * nothing of each other: the pruning mask and the weight sharing reach the trainer through
 * its step hooks. Library code: progress and messages go through hooks. */
#include "compress/calib.h"
#include "compress/cluster.h"
#include "compress/fold.h"
#include "compress/prune.h"
#include "model/model.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/metrics.h"
#include "train/rehearsal.h"
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define MAX_TARGETS 1024 /* conv / fc layers of a model (vg_prune_targets) */

vg_optimize_cfg vg_optimize_cfg_default(void) {
    vg_optimize_cfg c;
    memset(&c, 0, sizeof c);
    c.cluster_init = VG_CLUSTER_KMEANSPP;
    c.cluster_min = 8192;
    c.epochs = 5, c.batch = 32;
    c.lr = 1e-4f, c.ema = 0.99f, c.distill = 0.5f;
    c.calib_images = 200;
    c.calibrator = VG_CALIB_PERCENTILE;
    c.percentile = 99.99f;
    c.bias_correction = true;
    c.threads = 2;
    c.mem_budget = (size_t)1 << 30;
    c.seed = 1;
    return c;
}

/* the calibration sources: cfg->calib, else the fine-tuning data's train splits */
static int calib_sources(const vg_optimize_cfg *c, vg_source_spec *sp) {
    int n = 0;
    for (int i = 0; i < c->n_calib && i < VG_TRAIN_MAX_DATA; i++)
        sp[n++] = c->calib[i];
    for (int i = 0; n == 0 && i < c->n_finetune; i++) {
        if (c->finetune[i].extra) continue;
        memset(&sp[n], 0, sizeof sp[0]);
        sp[n].dir = c->finetune[i].dir;
        sp[n++].test_list = c->finetune[i].train_list;
    }
    for (int i = 0; i < n; i++)
        sp[i].extra = false;
    return n;
}

vg_status vg_optimize_cfg_check(const vg_optimize_cfg *c, vg_err *err) {
    if (!c->out || !*c->out) return vg_err_set(err, VG_ERR_ARG, "no output file (OUT.vge)");
    if (!(c->prune_channels >= 0 && c->prune_channels <= 0.95f))
        return vg_err_set(err, VG_ERR_ARG, "channel pruning %g: use 0 .. 0.95",
                          (double)c->prune_channels);
    if (!(c->prune >= 0 && c->prune <= 0.99f))
        return vg_err_set(err, VG_ERR_ARG, "pruning %g: use 0 .. 0.99", (double)c->prune);
    if (c->clusters != 0 && (c->clusters < VG_CLUSTER_K_MIN || c->clusters > VG_CLUSTER_K_MAX))
        return vg_err_set(err, VG_ERR_ARG, "clusters %d: use %d .. %d", c->clusters,
                          VG_CLUSTER_K_MIN, VG_CLUSTER_K_MAX);
    if (c->cluster_min < 1 || c->epochs < 1 || c->batch < 1 || c->threads < 1 ||
        c->calib_images < 1)
        return vg_err_set(err, VG_ERR_ARG,
                          "cluster_min, epochs, batch, threads and calib_images must be >= 1");
    if (!(c->lr > 0) || !(c->ema >= 0 && c->ema < 1) || !(c->distill >= 0 && c->distill <= 1))
        return vg_err_set(err, VG_ERR_ARG, "lr > 0, ema in [0, 1) and distill in [0, 1]");
    if (!(c->percentile > 50 && c->percentile <= 100))
        return vg_err_set(err, VG_ERR_ARG, "percentile %g: use 50 .. 100", (double)c->percentile);
    if (c->n_finetune < 0 || c->n_finetune > VG_TRAIN_MAX_DATA || c->n_calib < 0 ||
        c->n_calib > VG_TRAIN_MAX_DATA || c->n_report < 0 || c->n_report > VG_TRAIN_MAX_DATA)
        return vg_err_set(err, VG_ERR_ARG, "at most %d sources of each kind", VG_TRAIN_MAX_DATA);
    vg_source_spec sp[VG_TRAIN_MAX_DATA];
    if (c->int8 && calib_sources(c, sp) == 0 &&
        !(c->calib_table && access(c->calib_table, R_OK) == 0))
        return vg_err_set(
            err, VG_ERR_ARG,
            "--int8 needs calibration images: --calib-data DIR [--calib-list FILE] (or "
            "--finetune-data)");
    return VG_OK;
}

void vg_optimize_report_free(vg_optimize_report *r) {
    if (!r) return;
    for (int i = 0; i < VG_OPTIMIZE_MAX_STEPS; i++)
        free(r->steps[i].recall);
    for (int i = 0; r->labels && i < r->n_classes; i++)
        free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

/* ---- the run's state, messages and progress */

typedef struct {
    vg_dataset *ds;
    int *idx, n;
} split;

typedef struct {
    /* pruning */
    uint8_t *mask; /* n_params, or NULL */
    vg_prune_layer *layers;
    int n_layers;
    float sparsity;
    const vg_graph *g;
    int64_t last_update;
    /* clustering */
    int n_cl;
    int64_t *cl_off, *cl_n, *cl_row;
    int *cl_node;
    uint8_t **cl_idx;
    float **cl_cb, **cl_scale;
    int k;
    bool *cl_zero;
} constraint;

typedef struct {
    const vg_optimize_cfg *cfg;
    const vg_optimize_hooks *hooks;
    vg_optimize_report *rep;
    vg_source_spec calib[VG_TRAIN_MAX_DATA];
    int n_calib;
    split val;              /* the report's images */
    int *pred_float, *pred; /* top-1 per report image (-1: unreadable) */
    const vg_model *teacher;
    bool refit; /* the model was refit on train + val: fine-tuning does the same */
    float threshold;
    constraint cons;
} opt_run;

static void say(const opt_run *O, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const opt_run *O, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (O->hooks) vg_vlogf(O->hooks->log, O->hooks->ud, fmt, ap);
    va_end(ap);
}

static void progress(void *ud, const char *what, int done, int total) {
    const opt_run *O = ud;
    if (O->hooks && O->hooks->progress) O->hooks->progress(O->hooks->ud, what, done, total);
}

/* ---- evaluation for the report */

/* The images of the sources: per source its list, else its split `want` (a plain folder: all
 * of it), as `vigie eval` picks them. */
static vg_status load_split(const vg_model *m, const vg_source_spec *in, int n, int want, split *s,
                            vg_err *err) {
    memset(s, 0, sizeof *s);
    vg_source_spec sp[VG_TRAIN_MAX_DATA];
    for (int i = 0; i < n; i++)
        sp[i] = in[i], sp[i].lists_only = sp[i].test_list != NULL;
    vg_dataset_opts o = vg_dataset_opts_default();
    o.val_fraction = 0;
    int na;
    float thr;
    if (vg_model_alarm(m, &na, &thr)) o.no_alarm = vg_model_label(m, na); /* not always "neutral" */
    vg_status st = vg_dataset_open(sp, n, &o, &s->ds, err);
    if (st != VG_OK) return st;
    s->idx = vg_malloc(sizeof(int) * ((size_t)s->ds->n_samples + 1));
    if (!s->idx) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->ds->n_sources; i++)
        s->n += vg_dataset_pick(s->ds, i, sp[i].test_list ? VG_SPLIT_TEST : want, true,
                                s->idx + s->n, NULL);
    return VG_OK;
}

static void free_split(split *s) {
    vg_dataset_free(s->ds);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

static int argmax(const float *p, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return b;
}

typedef struct {
    const opt_run *O;
    const char *name;
} eval_ud;

static void eval_progress(void *ud, int done, int total) {
    eval_ud *e = ud;
    progress((void *)e->O, e->name, done, total);
}

/* median latency of one image on one thread, on the input `vigie bench` uses */
static double latency_ms(const vg_model *m, vg_precision prec, bool unfused) {
    vg_runner *rn = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.unfused = unfused;
    ro.precision = prec;
    ro.threads = 1;
    vg_err err;
    if (vg_runner_init(&rn, m, &ro, &err) != VG_OK) return NAN;
    size_t ni = (size_t)m->input.h * m->input.w * m->input.c;
    int C = vg_model_n_outputs(m);
    float *x = vg_malloc(sizeof(float) * ni), *y = vg_malloc(sizeof(float) * (size_t)(C + 1));
    uint32_t sd = 12345;
    for (size_t i = 0; x && i < ni; i++) {
        sd = sd * 1664525u + 1013904223u;
        x[i] = (float)(sd >> 8) / 8388608.0f - 1.0f;
    }
    enum { RUNS = 41, WARM = 3 };
    double t[RUNS];
    for (int i = -WARM; x && y && i < RUNS; i++) {
        double t0 = vg_time_now();
        vg_runner_forward(rn, x, y);
        if (i >= 0) t[i] = vg_time_now() - t0;
    }
    for (int i = 1; i < RUNS; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double tmp = t[j];
            t[j] = t[j - 1], t[j - 1] = tmp;
        }
    double ms = x && y ? 1000 * t[RUNS / 2] : NAN;
    free(x), free(y);
    vg_runner_free(rn);
    return ms;
}

/* classifies the report's images (vg_eval_classify, as `vigie eval` does); pred[] gets top-1
 * (-1 for an unreadable image) */
static vg_status evaluate(const opt_run *O, const vg_model *m, vg_precision prec, int *pred,
                          vg_optimize_step *r, vg_err *err) {
    const split *s = &O->val;
    int C = vg_model_n_outputs(m);
    vg_eval_opts eo = vg_eval_opts_default();
    eo.runner.unfused = O->cfg->unfused;
    eo.runner.threads = O->cfg->threads, eo.runner.precision = prec;
    eval_ud eu = {O, r->name};
    eo.on_progress = eval_progress, eo.ud = &eu;
    progress((void *)O, r->name, 0, s->n);
    vg_eval_result er;
    vg_status st = vg_eval_classify(m, s->ds, s->idx, s->n, &eo, &er, err);
    if (st != VG_OK) {
        progress((void *)O, r->name, s->n, s->n);
        return st;
    }
    for (int i = 0; i < s->n; i++)
        pred[i] = -1;
    for (int j = 0; j < er.n; j++)
        pred[er.pos[j]] = argmax(er.probs + (size_t)j * C, C);
    if (er.n > 0) {
        int no_alarm = -1;
        float thr = 0.5f;
        if (!vg_model_alarm(m, &no_alarm, &thr)) no_alarm = -1;
        vg_metrics mt;
        st = vg_metrics_compute(er.n, C, er.probs, er.labels, no_alarm, thr, &mt, err);
        if (st != VG_OK) {
            vg_eval_result_free(&er);
            return st;
        }
        r->accuracy = mt.accuracy;
        for (int c = 0; c < C && c < O->rep->n_classes; c++)
            r->recall[c] = mt.recall[c];
        r->alarm_recall = no_alarm >= 0 ? mt.alarm_recall : NAN;
        r->false_alarm_rate = no_alarm >= 0 ? mt.false_alarm_rate : NAN;
        r->evaluated = true;
        vg_metrics_free(&mt);
    }
    vg_eval_result_free(&er);
    r->ms = latency_ms(m, prec, O->cfg->unfused);
    return VG_OK;
}

/* size and shape facts of a model state */
static void describe(const vg_model *m, vg_optimize_step *r) {
    vg_wr w = {0};
    vg_engine_sizes sz;
    vg_err err;
    r->bytes = vg_engine_serialize(m, &w, &sz, &err) == VG_OK ? (int64_t)w.n : -1;
    vg_wr_free(&w);
    vg_prune_layer L[MAX_TARGETS];
    int n = 0;
    r->sparsity = 0;
    r->distinct = 0;
    if (vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, L, MAX_TARGETS, &n, &err) ==
        VG_OK) {
        int64_t z = 0, all = 0;
        for (int i = 0; i < n; i++) {
            const float *x = m->g.params + L[i].off;
            for (int64_t j = 0; j < L[i].count; j++)
                z += x[j] == 0.0f;
            all += L[i].count;
            int d = vg_cluster_distinct(x, L[i].count);
            if (d > r->distinct) r->distinct = d;
        }
        r->sparsity = all ? (double)z / (double)all : 0;
    }
    r->int8 = m->q != NULL;
}

/* a row of the report: the model after a step, measured when there are report images */
static vg_status add_step(opt_run *O, const char *label, const vg_model *m, vg_precision prec,
                          vg_err *err) {
    vg_optimize_report *rep = O->rep;
    if (rep->n_steps >= VG_OPTIMIZE_MAX_STEPS) VG_ASSERT(!"more steps than the report holds");
    vg_optimize_step *r = &rep->steps[rep->n_steps++];
    snprintf(r->name, sizeof r->name, "%s", label);
    r->accuracy = r->agree = r->alarm_recall = r->false_alarm_rate = r->ms = NAN;
    r->recall = vg_calloc((size_t)rep->n_classes + 1, sizeof(double));
    if (!r->recall) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    describe(m, r);
    if (O->cfg->n_report == 0) return VG_OK;
    int *p = rep->n_steps == 1 ? O->pred_float : O->pred;
    vg_status st = evaluate(O, m, prec, p, r, err);
    if (st != VG_OK) return st;
    int ag = 0, n = 0;
    for (int i = 0; i < O->val.n; i++)
        if (O->pred_float[i] >= 0 && p[i] >= 0) ag += O->pred_float[i] == p[i], n++;
    r->agree = n ? (double)ag / n : 0;
    say(O, "%-26s accuracy %.3f, agreement with float %.3f, %.2f MB", r->name, r->accuracy,
        r->agree, r->bytes / 1048576.0);
    return VG_OK;
}

/* ---- fine-tuning under constraints */

static void pre_step(void *ud, float *params, float *grads, int64_t step, int64_t total) {
    constraint *c = ud;
    (void)params, (void)step, (void)total;
    if (c->mask) vg_prune_zero_grad(grads, c->mask, c->g->n_params);
}

static void post_step(void *ud, float *params, int64_t step, int64_t total) {
    constraint *c = ud;
    if (c->mask) {
        /* gradual pruning (Zhu & Gupta): the mask tightens along a cubic schedule over the
         * first 2/3 of fine-tuning, every few steps, then stays */
        int64_t end = total * 2 / 3;
        if (end < 1) end = 1;
        if (step <= end && (step - c->last_update >= 8 || step == end)) {
            float s = vg_prune_schedule((int)step, 0, (int)end, 0.0f, c->sparsity);
            vg_graph tmp = *c->g;
            tmp.params = params;
            vg_err err;
            if (vg_prune_mask(&tmp, c->layers, c->n_layers, s, c->mask, &err) == VG_OK)
                c->last_update = step;
        }
        vg_prune_apply(params, c->mask, c->g->n_params);
    }
    /* weight sharing: each centroid is refitted to its members after the step (least squares
     * over the channel scales), i.e. it moves by the members' accumulated update */
    for (int i = 0; i < c->n_cl; i++)
        vg_cluster_snap_scaled(params + c->cl_off[i], c->cl_n[i], c->cl_row[i], c->cl_scale[i],
                               c->cl_idx[i], c->k, c->cl_cb[i], c->cl_zero[i]);
}

/* fine-tunes *m in place (file OUT.<tag>.vgm written next to OUT, with its curves) */
static vg_status finetune(opt_run *O, vg_model **m, const char *tag, vg_err *err) {
    const vg_optimize_cfg *f = O->cfg;
    vg_train_cfg tc = vg_train_cfg_default();
    /* never the report's data: that one may be the test split */
    memcpy(tc.data, f->finetune, sizeof(vg_source_spec) * (size_t)f->n_finetune);
    tc.n_data = f->n_finetune;
    tc.init_model = *m;
    int na;
    float thr;
    if (vg_model_alarm(*m, &na, &thr)) tc.no_alarm = vg_model_label(*m, na);
    tc.mode = VG_TRAIN_ALL;
    tc.epochs = f->epochs;
    tc.batch = f->batch;
    tc.lr = f->lr;
    tc.warmup_epochs = 0;
    /* a moving average of masked or shared weights is neither: the caller re-applies the
     * final mask, or snaps the shared layers, to the fine-tuned (averaged) weights */
    tc.ema = f->ema;
    tc.patience = 0;
    tc.keep_last = true; /* the schedule's end is the model wanted */
    tc.threads = f->threads;
    tc.mem_budget = f->mem_budget;
    tc.seed = f->seed;
    tc.step_ud = &O->cons;
    tc.pre_step = pre_step;
    tc.post_step = post_step;
    tc.teacher = O->teacher;
    tc.distill = O->teacher ? f->distill : 0;
    vg_train_phase ph = vg_train_phase_none();
    if (O->refit) ph.phase = 2, ph.fixed_threshold = O->threshold;
    const char *tta = vg_model_get_meta(*m, "tta_flip");
    tc.tta_flip = tta && strcmp(tta, "1") == 0;
    char path[1024];
    size_t ol = strlen(f->out);
    int stem = (int)(ol > 4 && !strcmp(f->out + ol - 4, ".vge") ? ol - 4 : ol);
    snprintf(path, sizeof path, "%.*s.%s.vgm", stem, f->out, tag);
    tc.out = path;
    say(O, "fine-tuning (%s): %d epochs, lr %g, distillation %g -> %s", tag, f->epochs,
        (double)f->lr, (double)tc.distill, path);
    vg_train_result res;
    vg_status st = vg_train_run_phase(&tc, &ph, O->hooks ? O->hooks->finetune : NULL, &res, err);
    if (st != VG_OK) {
        if (st != VG_CANCELLED) {
            vg_err e = *err;
            vg_err_set(err, st, "fine-tuning: %s", e.msg);
        }
        return st;
    }
    vg_model *nm = NULL;
    st = vg_model_load(path, &nm, err);
    if (st != VG_OK) return st;
    say(O, "  fine-tuned in %.0f s, peak RSS %.0f MB", res.seconds, res.peak_rss / 1048576.0);
    vg_model_free(*m);
    *m = nm;
    return VG_OK;
}

/* ---- calibration */

typedef struct {
    const vg_model *m;
    const vg_dataset *ds;
    const int *idx;
    int n_list, n;
} calib_src;

static vg_status calib_fetch(void *ud, int i, float *input, vg_err *err) {
    calib_src *c = ud;
    /* evenly spaced over the list, which is sorted by class: every class is represented */
    int k = (int)((int64_t)i * c->n_list / c->n);
    vg_image img = {0, 0, NULL}, rs = {0, 0, NULL};
    vg_status st = vg_image_load(c->ds->samples[c->idx[k]].path, &img, err);
    if (st == VG_OK) st = vg_image_resize(&img, c->m->input.w, c->m->input.h, &rs, err);
    if (st == VG_OK)
        st = vg_image_to_input(&rs, &c->m->input, input,
                               (size_t)c->m->input.w * c->m->input.h * c->m->input.c, err);
    vg_image_free(&img), vg_image_free(&rs);
    return st;
}

static void calib_progress(void *ud, int done, int total) {
    progress(ud, "calibrating", done, total);
}

/* calibrates m on up to `max` images of the calibration sources */
static vg_status calibrate(opt_run *O, const vg_model *m, int max, vg_calibrator kind, float pct,
                           vg_calib_table *t, int *used, vg_err *err) {
    split cs;
    vg_status st = load_split(m, O->calib, O->n_calib, VG_SPLIT_TRAIN, &cs, err);
    int nc = cs.n < max ? cs.n : max;
    calib_src src = {m, cs.ds, cs.idx, cs.n, nc};
    if (st == VG_OK)
        st = nc > 0 ? vg_calibrate(m, nc, calib_fetch, &src, kind, pct, O->cfg->threads,
                                   calib_progress, O, t, err)
                    : vg_err_set(err, VG_ERR_ARG, "no calibration image in %s", O->calib[0].dir);
    free_split(&cs);
    *used = nc;
    return st;
}

/* ---- the steps */

/* removes whole expansion channels; a removed channel leaves its mean (measured on
 * calibration images) to the next layer's bias */
static vg_status prune_channels(opt_run *O, vg_model **m, vg_err *err) {
    const vg_optimize_cfg *c = O->cfg;
    vg_calib_table mt;
    memset(&mt, 0, sizeof mt);
    const double **means = NULL, **msqs = NULL;
    vg_status st = VG_OK;
    if (O->n_calib > 0) {
        int used;
        st = calibrate(O, *m, 64, VG_CALIB_MINMAX, 0, &mt, &used, err);
        if (st != VG_OK) {
            vg_err e = *err;
            return vg_err_set(err, st, "channel means: %s", e.msg);
        }
        means = vg_calloc((size_t)mt.n_tensors, sizeof(double *));
        msqs = vg_calloc((size_t)mt.n_tensors, sizeof(double *));
        if (!means || !msqs) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        for (int t = 0; st == VG_OK && t < mt.n_tensors; t++) {
            means[t] = mt.mean_off[t] >= 0 ? mt.mean + mt.mean_off[t] : NULL;
            msqs[t] = mt.mean_off[t] >= 0 ? mt.msq + mt.mean_off[t] : NULL;
        }
    }
    vg_model *pm = NULL;
    vg_prune_block blocks[128];
    int nb = 0;
    if (st == VG_OK)
        st =
            vg_prune_channels_stats(*m, c->prune_channels, means, msqs, &pm, blocks, 128, &nb, err);
    free(means), free(msqs);
    vg_calib_table_free(&mt);
    if (st != VG_OK) return st;
    int before = 0, after = 0;
    for (int i = 0; i < nb; i++)
        before += blocks[i].channels_before, after += blocks[i].channels_after;
    say(O, "channel pruning: %d inverted-residual blocks, expansion channels %d -> %d", nb, before,
        after);
    vg_model_free(*m);
    *m = pm;
    return VG_OK;
}

/* single-weight pruning: one shot to the target without fine-tuning data, else a mask that
 * the fine-tuning tightens gradually */
static vg_status prune_weights(opt_run *O, vg_model *m, vg_err *err) {
    constraint *k = &O->cons;
    k->layers = vg_malloc(sizeof(vg_prune_layer) * MAX_TARGETS);
    k->mask = vg_malloc((size_t)m->g.n_params);
    if (!k->layers || !k->mask) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, k->layers,
                                    MAX_TARGETS, &k->n_layers, err);
    if (st != VG_OK) return st;
    k->sparsity = O->cfg->prune;
    k->g = &m->g;
    st = vg_prune_mask(&m->g, k->layers, k->n_layers, O->cfg->n_finetune ? 0.0f : O->cfg->prune,
                       k->mask, err);
    if (st == VG_OK) vg_prune_apply(m->g.params, k->mask, m->g.n_params);
    return st;
}

/* weight sharing: k values per layer, scaled per output channel, kept through fine-tuning;
 * the engine stores these layers as codebook + scales + indices */
static vg_status share_weights(opt_run *O, vg_model **mp, char *label, size_t label_size,
                               vg_err *err) {
    const vg_optimize_cfg *c = O->cfg;
    constraint *k = &O->cons;
    vg_model *m = *mp;
    vg_prune_layer L[MAX_TARGETS];
    int n = 0;
    vg_status st =
        vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, L, MAX_TARGETS, &n, err);
    if (st != VG_OK) return st;
    k->n_cl = 0;
    k->k = c->clusters;
    k->cl_off = vg_malloc(sizeof(int64_t) * (size_t)n);
    k->cl_n = vg_malloc(sizeof(int64_t) * (size_t)n);
    k->cl_idx = vg_calloc((size_t)n, sizeof(uint8_t *));
    k->cl_cb = vg_calloc((size_t)n, sizeof(float *));
    k->cl_zero = vg_calloc((size_t)n, sizeof(bool));
    k->cl_row = vg_malloc(sizeof(int64_t) * (size_t)n);
    k->cl_node = vg_malloc(sizeof(int) * (size_t)n);
    k->cl_scale = vg_calloc((size_t)n, sizeof(float *));
    if (!k->cl_off || !k->cl_n || !k->cl_idx || !k->cl_cb || !k->cl_zero || !k->cl_row ||
        !k->cl_node || !k->cl_scale)
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        /* the pointwise / fully-connected layers (97% of the weights): a depthwise filter
         * has 9 weights and the stem 27 per channel, whose scales differ too much for one
         * shared codebook per layer (the same layers pruning leaves dense). Small layers
         * (the first blocks' and the 3-output classifier) stay as they are: 16 shared
         * values would save a few KB there and cost accuracy */
        if (!L[i].enabled || L[i].count < c->cluster_min) continue;
        float *x = m->g.params + L[i].off;
        bool zeros = false;
        for (int64_t j = 0; j < L[i].count && !zeros; j++)
            zeros = x[j] == 0.0f;
        int j = k->n_cl++;
        const vg_node *nd = &m->g.nodes[L[i].node];
        int64_t co = nd->co; /* CONV and FC: rows = output channels */
        k->cl_off[j] = L[i].off, k->cl_n[j] = L[i].count, k->cl_zero[j] = zeros && c->prune > 0;
        k->cl_row[j] = co > 0 ? L[i].count / co : L[i].count, k->cl_node[j] = L[i].node;
        k->cl_idx[j] = vg_malloc((size_t)L[i].count);
        k->cl_cb[j] = vg_malloc(sizeof(float) * 256);
        k->cl_scale[j] = vg_malloc(sizeof(float) * (size_t)(co > 0 ? co : 1));
        if (!k->cl_idx[j] || !k->cl_cb[j] || !k->cl_scale[j])
            return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        st = vg_cluster_fit_scaled(x, L[i].count, k->cl_row[j], c->clusters, c->cluster_init,
                                   c->seed + (uint64_t)i, k->cl_zero[j], k->cl_scale[j],
                                   k->cl_cb[j], k->cl_idx[j], err);
        if (st != VG_OK) {
            vg_err e = *err;
            return vg_err_set(err, st, "clustering node %d: %s", L[i].node, e.msg);
        }
        vg_cluster_apply_scaled(x, L[i].count, k->cl_row[j], k->cl_scale[j], k->cl_cb[j],
                                k->cl_idx[j]);
        progress(O, "clustering", i + 1, n);
    }
    snprintf(label, label_size, "clusters %d", c->clusters);
    if (c->n_finetune > 0) {
        st = finetune(O, mp, "clustered", err);
        if (st != VG_OK) return st;
        m = *mp;
        /* the kept weights are an average: back onto k shared values per layer */
        for (int j = 0; j < k->n_cl; j++)
            vg_cluster_snap_scaled(m->g.params + k->cl_off[j], k->cl_n[j], k->cl_row[j],
                                   k->cl_scale[j], k->cl_idx[j], c->clusters, k->cl_cb[j],
                                   k->cl_zero[j]);
        size_t l = strlen(label);
        snprintf(label + l, label_size - l, " + ft");
    }
    m->shared = vg_calloc((size_t)k->n_cl + 1, sizeof(vg_shared_layer));
    if (!m->shared) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int j = 0; j < k->n_cl; j++) {
        vg_shared_layer *S = &m->shared[m->n_shared++];
        S->node = k->cl_node[j], S->k = c->clusters, S->n = k->cl_n[j], S->row = k->cl_row[j];
        memcpy(S->centroids, k->cl_cb[j], sizeof(float) * (size_t)c->clusters);
        S->scale = k->cl_scale[j], S->idx = k->cl_idx[j];
        k->cl_scale[j] = NULL, k->cl_idx[j] = NULL;
    }
    return VG_OK;
}

/* int8: a calibration table (reused, or measured and optionally saved), then quantization */
static vg_status quantize(opt_run *O, vg_model *m, vg_err *err) {
    const vg_optimize_cfg *c = O->cfg;
    vg_calib_table t;
    vg_status st;
    if (c->calib_table && access(c->calib_table, R_OK) == 0) {
        st = vg_calib_table_load(c->calib_table, vg_model_hash(m), &t, err);
        if (st != VG_OK) return st;
        say(O, "calibration table %s reused (%s, %d images)", c->calib_table,
            vg_calibrator_name(t.calibrator), t.n_images);
    } else {
        double t0 = vg_time_now();
        int used;
        st = calibrate(O, m, c->calib_images, c->calibrator, c->percentile, &t, &used, err);
        if (st != VG_OK) {
            vg_err e = *err;
            return vg_err_set(err, st, "calibration: %s", e.msg);
        }
        say(O, "calibrated on %d images (%s) in %.1f s", used, vg_calibrator_name(c->calibrator),
            vg_time_now() - t0);
        if (c->calib_table) {
            st = vg_calib_table_save(&t, c->calib_table, err);
            if (st != VG_OK) {
                vg_calib_table_free(&t);
                return st;
            }
            say(O, "calibration table written to %s", c->calib_table);
        }
    }
    st = vg_model_quantize(m, &t, c->bias_correction, err);
    vg_calib_table_free(&t);
    if (st != VG_OK) {
        vg_err e = *err;
        return vg_err_set(err, st, "int8: %s", e.msg);
    }
    return VG_OK;
}

static void free_constraint(constraint *k) {
    for (int i = 0; i < k->n_cl; i++)
        free(k->cl_idx[i]), free(k->cl_cb[i]), free(k->cl_scale[i]);
    free(k->cl_off), free(k->cl_n), free(k->cl_idx), free(k->cl_cb), free(k->cl_zero);
    free(k->cl_row), free(k->cl_node), free(k->cl_scale);
    free(k->mask), free(k->layers);
    memset(k, 0, sizeof *k);
}

/* The rehearsal set of vigie adapt, as this engine computes its features (int8 ones for an
 * int8 engine: a float model's set would mean nothing to it), from the report datasets'
 * training and validation splits: 60 and 100 images per class (the engine ships: its size
 * counts). Nothing (*n = 0) for a model without an alarm threshold or data without both
 * splits (said). */
#define OPT_REHEARSAL 60
#define OPT_GUARD     100
static void reh_bad(void *ud, const char *path, const char *msg) {
    say(ud, "rehearsal set: skipped %s: %s", path, msg);
}
static vg_status engine_rehearsal(opt_run *O, vg_model *m, uint8_t **buf, size_t *n, vg_err *err) {
    const vg_optimize_cfg *c = O->cfg;
    *buf = NULL, *n = 0;
    int na;
    float thr;
    if (!vg_model_alarm(m, &na, &thr) || c->n_report == 0) return VG_OK;
    vg_source_spec sp[VG_TRAIN_MAX_DATA];
    for (int i = 0; i < c->n_report; i++) { /* the datasets' own train and val lists */
        memset(&sp[i], 0, sizeof sp[i]);
        sp[i].dir = c->report[i].dir;
    }
    vg_dataset_opts o = vg_dataset_opts_default();
    o.val_fraction = 0;
    vg_dataset *ds = NULL;
    vg_rehearsal rs;
    memset(&rs, 0, sizeof rs);
    vg_status st = vg_dataset_open(sp, c->n_report, &o, &ds, err);
    if (st == VG_OK && (!ds->n_train || !ds->n_val)) {
        say(O,
            "no rehearsal set stored (the report data has no train and val splits): "
            "vigie adapt %s --data DIR... -o %s stores one",
            c->out, c->out);
        goto out;
    }
    vg_rehearsal_hooks rh = {reh_bad, NULL, O};
    if (st == VG_OK) /* its own feature model and runner, at the engine's precision */
        st = vg_rehearsal_build(m, NULL, NULL, ds, ds->train, ds->n_train, ds->val, ds->n_val,
                                OPT_REHEARSAL, OPT_GUARD, c->seed, c->threads, &rh, &rs, err);
    if (st == VG_OK) st = vg_rehearsal_encode(&rs, buf, n, err);
    char v[256];
    if (st == VG_OK && (st = vg_rehearsal_note(m, &rs, *n, v, sizeof v, err)) == VG_OK)
        say(O, "rehearsal set for vigie adapt: %s", v);
out:
    vg_rehearsal_free(&rs);
    vg_dataset_free(ds);
    if (st != VG_OK) free(*buf), *buf = NULL, *n = 0;
    return st;
}

/* the steps in order, from the float model to the engine file */
static vg_status run_steps(opt_run *O, vg_model **mp, vg_err *err) {
    const vg_optimize_cfg *c = O->cfg;
    vg_optimize_report *rep = O->rep;
    vg_status st = add_step(O, "float", *mp, VG_PRECISION_FLOAT, err);
    if (st != VG_OK) return st;
    /* 1. batch-norm folding (trained / imported MobileNets usually have none left) */
    int folded = 0;
    st = vg_model_fold(*mp, &folded, err);
    if (st != VG_OK) return st;
    if (folded) {
        say(O, "folded %d batch-norm layers", folded);
        st = add_step(O, "fold batch-norm", *mp, VG_PRECISION_FLOAT, err);
        if (st != VG_OK) return st;
    }
    /* 2. structural changes, then fine-tuning */
    bool changed = false, ft = c->n_finetune > 0;
    char label[64] = "";
    if (c->prune_channels > 0) {
        st = prune_channels(O, mp, err);
        if (st != VG_OK) return st;
        changed = true;
        snprintf(label, sizeof label, "channels -%.0f%%", 100 * (double)c->prune_channels);
    }
    if (c->prune > 0) {
        st = prune_weights(O, *mp, err);
        if (st != VG_OK) return st;
        changed = true;
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, "%sprune %.0f%%", l ? " + " : "",
                 100 * (double)c->prune);
    }
    if (changed && ft) {
        O->cons.g = &(*mp)->g;
        st = finetune(O, mp, "pruned", err);
        if (st != VG_OK) return st;
        vg_model *m = *mp;
        if (O->cons.mask) { /* the final mask at exactly the target, on the fine-tuned weights */
            st =
                vg_prune_mask(&m->g, O->cons.layers, O->cons.n_layers, c->prune, O->cons.mask, err);
            if (st != VG_OK) return st;
            vg_prune_apply(m->g.params, O->cons.mask, m->g.n_params);
        }
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, " + ft");
    }
    free(O->cons.mask), free(O->cons.layers);
    O->cons.mask = NULL, O->cons.layers = NULL;
    if (changed && (st = add_step(O, label, *mp, VG_PRECISION_FLOAT, err)) != VG_OK) return st;
    /* 3. weight sharing */
    if (c->clusters > 0) {
        st = share_weights(O, mp, label, sizeof label, err);
        if (st == VG_OK) st = add_step(O, label, *mp, VG_PRECISION_FLOAT, err);
        if (st != VG_OK) return st;
    }
    /* 4. int8 */
    if (c->int8) {
        st = quantize(O, *mp, err);
        if (st == VG_OK)
            st = add_step(O, c->bias_correction ? "int8" : "int8 (no bias correction)", *mp,
                          VG_PRECISION_INT8, err);
        if (st != VG_OK) return st;
    }
    st = vg_model_set_meta(*mp, "optimized", rep->steps[rep->n_steps - 1].name, err);
    uint8_t *reh = NULL;
    size_t reh_n = 0;
    if (st == VG_OK) st = engine_rehearsal(O, *mp, &reh, &reh_n, err);
    vg_engine_sizes sz;
    const vg_chunk chunk = {VG_REHEARSAL_TAG, reh, reh_n};
    if (st == VG_OK) st = vg_engine_save_ex(*mp, &chunk, reh_n ? 1 : 0, c->out, &sz, err);
    free(reh);
    if (st != VG_OK) return st;
    rep->file_bytes = sz.total;
    rep->weight_bytes = sz.f32 + sz.i8 + sz.cluster;
    rep->other_bytes = sz.other + sz.int8_tables;
    rep->int8_layers = sz.i8_layers, rep->cluster_layers = sz.cluster_layers;
    rep->f32_layers = sz.f32_layers, rep->sparse_layers = sz.sparse_layers;
    return VG_OK;
}

vg_status vg_optimize_run(const char *model, const vg_optimize_cfg *cfg,
                          const vg_optimize_hooks *hooks, vg_optimize_report *rep, vg_err *err) {
    memset(rep, 0, sizeof *rep);
    vg_status st = vg_optimize_cfg_check(cfg, err);
    if (st != VG_OK) return st;
    double t_start = vg_time_now();
    opt_run O;
    memset(&O, 0, sizeof O);
    O.cfg = cfg, O.hooks = hooks, O.rep = rep;
    O.n_calib = calib_sources(cfg, O.calib);
    vg_model *m = NULL, *teacher = NULL;
    st = vg_model_open(model, &m, err);
    if (st == VG_OK) {
        rep->n_classes = vg_model_n_outputs(m);
        rep->labels = vg_calloc((size_t)rep->n_classes + 1, sizeof(char *));
        for (int c = 0; rep->labels && c < rep->n_classes; c++)
            if (!(rep->labels[c] = vg_strdup(vg_model_label(m, c)))) rep->n_classes = c;
        if (!rep->labels || rep->n_classes != vg_model_n_outputs(m))
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    bool changes = cfg->prune_channels > 0 || cfg->prune > 0 || cfg->clusters > 0;
    if (st == VG_OK) {
        int na;
        O.refit = vg_model_get_meta(m, "refit") && vg_model_alarm(m, &na, &O.threshold);
        if (O.refit && cfg->n_finetune > 0 && changes)
            say(&O,
                "%s was refit on train + val: fine-tuning uses --finetune-list and "
                "--finetune-val-list together and keeps its alarm threshold %.3f",
                model, (double)O.threshold);
    }
    if (st == VG_OK && cfg->n_finetune > 0 && cfg->distill > 0 && changes) {
        /* the model as given, before any change: what fine-tuning distils from */
        st = vg_model_open(model, &teacher, err);
        if (st == VG_OK && teacher->q) {
            vg_qgraph_free(teacher->q);
            teacher->q = NULL;
        }
        O.teacher = teacher;
    }
    if (st == VG_OK && cfg->n_report > 0) {
        st = load_split(m, cfg->report, cfg->n_report, VG_SPLIT_TEST, &O.val, err);
        O.pred_float = vg_malloc(sizeof(int) * (size_t)(O.val.n + 1));
        O.pred = vg_malloc(sizeof(int) * (size_t)(O.val.n + 1));
        if (st == VG_OK && (!O.pred_float || !O.pred))
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st == VG_OK && m->q) { /* an imported int8 model: start from its float view */
        vg_qgraph_free(m->q);
        m->q = NULL;
    }
    if (st == VG_OK) st = run_steps(&O, &m, err);
    rep->seconds = vg_time_now() - t_start;
    free_constraint(&O.cons);
    free(O.pred_float), free(O.pred);
    free_split(&O.val);
    vg_model_free(teacher);
    vg_model_free(m);
    if (st != VG_OK) vg_optimize_report_free(rep);
    return st;
}
