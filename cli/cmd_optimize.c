/* cmd_optimize.c — `vigie optimize MODEL -o OUT.vge`: what TensorRT does for a Jetson, on any
 * board: fold batch-norm, prune (whole channels and / or single weights), cluster weights
 * (k-means weight sharing), fine-tune to recover, quantize to int8 with calibration, and write
 * a compact engine file. With a validation list it ends with a report table: each step's
 * accuracy, per-class recall, agreement with the float model, size, sparsity and latency. */
#include "cli.h"

#include "compress/calib.h"
#include "compress/cluster.h"
#include "compress/fold.h"
#include "compress/prune.h"
#include "model/model.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/metrics.h"
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt opts[] = {
    {"-o", "OUT.vge", "the engine file to write"},
    {"--int8", NULL, "quantize to int8 (per-channel weights, calibrated activations)"},
    {"--calib-data", "DIR",
     "calibration images (repeatable): a folder per class or a YOLO / Roboflow export (its train "
     "split) (default: --finetune-data)"},
    {"--calib-list", "FILE",
     "calibration images of the --calib-data before it (default: its train split, else every "
     "image)"},
    {"--calib-images", "N", "images taken evenly from the calibration list (default 200)"},
    {"--calibrator", "NAME", "minmax, percentile or entropy (default percentile)"},
    {"--percentile", "P", "for the percentile calibrator (default 99.99)"},
    {"--calib-table", "FILE", "reuse this calibration table if it exists, else write it there"},
    {"--no-bias-correction", NULL, "keep the float biases as they are"},
    {"--prune", "SPARSITY", "unstructured magnitude pruning to this share of zeros, e.g. 0.5"},
    {"--prune-channels", "FRACTION", "remove this share of each expansion layer's channels"},
    {"--clusters", "K", "k-means weight sharing, K values per layer (2..256)"},
    {"--cluster-init", "NAME", "linear, kmeans++ or density (default kmeans++)"},
    {"--cluster-min", "N",
     "cluster only layers of at least N weights (default 8192; smaller ones stay int8 / float)"},
    {"--finetune-data", "DIR",
     "training images for fine-tuning after pruning / clustering (repeatable, as vigie train "
     "--data)"},
    {"--finetune-list", "FILE",
     "training split of the --finetune-data before it (default DIR/splits/train.txt; also the "
     "default calibration)"},
    {"--finetune-extra", "DIR", "another dataset for fine-tuning only (repeatable)"},
    {"--finetune-val-list", "FILE",
     "its validation split: alarm threshold (default: 15% of the data); for a model refit on train "
     "+ val (vigie train's default), fine-tuning trains on it too and keeps the model's threshold"},
    {"--epochs", "N", "fine-tuning epochs per step (default 5)"},
    {"--lr", "X", "fine-tuning learning rate (default 0.0001)"},
    {"--ema", "DECAY", "fine-tuning keeps a moving average of the weights (default 0.99, 0 = off)"},
    {"--distill", "X",
     "fine-tune towards X x the float model's probabilities + (1 - X) x the label (default 0.5; 0 "
     "= labels only)"},
    {"--batch", "N", "fine-tuning batch (default 32)"},
    {"--val-data", "DIR",
     "images of the report table (repeatable): a dataset's test split (DIR/splits/test.txt, an "
     "export's test images), else all of it"},
    {"--val-list", "FILE", "the report's images of the --val-data before it"},
    {"--threads", "N", "worker threads (default 2)"},
    {"--mem-budget", "SIZE", "memory limit for fine-tuning (default 1G)"},
    {"--seed", "N", "seed of every random choice (default 1)"},
    {"--quiet", NULL, "no progress, only the result"},
};

typedef struct {
    bool quiet, tty;
    double last;
    int len;
} ui;

static void bar(ui *u, const char *what, int done, int total) {
    if (u->quiet || !u->tty) return;
    double now = vg_time_now();
    if (done < total && now - u->last < 0.1) return;
    u->last = now;
    int width = 24, fill = total ? (int)((double)done / total * width) : 0;
    char b[32];
    for (int i = 0; i < width; i++) b[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    b[width] = 0;
    int k = fprintf(stderr, "\r%s [%s] %d/%d", what, b, done, total);
    if (k < u->len) fprintf(stderr, "%*s", u->len - k, "");
    u->len = k;
    if (done >= total) {
        fprintf(stderr, "\r%*s\r", u->len, "");
        u->len = 0;
    }
    fflush(stderr);
}

static void say(ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ui *u, const char *fmt, ...) {
    if (u->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- evaluation for the report */

typedef struct {
    vg_dataset *ds;
    int *idx, n;
} split;

#define OPT_MAX_DATA 16

/* The images of one or more datasets: per dataset its list, else its split `want` (a plain
 * folder: all of it), as `vigie eval` picks them. */
static bool load_split(const char *cmd, const vg_model *m, vg_source_spec *sp, int n, int want,
                       split *s) {
    vg_err err;
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n; i++)
        sp[i].lists_only = sp[i].test_list != NULL;
    vg_dataset_opts o = vg_dataset_opts_default();
    o.val_fraction = 0;
    int na;
    float thr;
    if (vg_model_alarm(m, &na, &thr)) o.no_alarm = vg_model_label(m, na); /* not always "neutral" */
    if (vg_dataset_open(sp, n, &o, &s->ds, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return false;
    }
    s->idx = malloc(sizeof(int) * ((size_t)s->ds->n_samples + 1));
    for (int i = 0; s->idx && i < s->ds->n_sources; i++)
        s->n += vg_dataset_pick(s->ds, i, sp[i].test_list ? VG_SPLIT_TEST : want, true,
                                s->idx + s->n, NULL);
    return s->idx != NULL;
}

static void free_split(split *s) {
    vg_dataset_free(s->ds);
    free(s->idx);
}

typedef struct {
    char name[64];
    double acc, recall[VG_MAX_CLASSES], agree, alarm_recall, far;
    double sparsity, ms;
    int64_t bytes;
    int distinct; /* most distinct values in a weight layer */
    bool int8, evaluated;
} row;

static int argmax(const float *p, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return b;
}

typedef struct {
    ui *u;
    const char *name;
} eval_ui;

static void eval_progress(void *ud, int done, int total) {
    eval_ui *e = ud;
    bar(e->u, e->name, done, total);
}

/* classifies the split (vg_eval_classify, as `vigie eval` does); pred[] gets top-1 (-1 for an
 * unreadable image) */
static bool evaluate(const char *cmd, ui *u, const vg_model *m, int prec, int threads,
                     const split *s, int *pred, row *r) {
    vg_err err;
    int C = vg_model_n_outputs(m);
    vg_eval_opts eo = vg_eval_opts_default();
    eo.runner.unfused = cli_unfused;
    eo.runner.threads = threads, eo.runner.precision = prec;
    eval_ui eu = {u, r->name};
    eo.on_progress = eval_progress, eo.ud = &eu;
    bar(u, r->name, 0, s->n);
    vg_eval_result er;
    if (vg_eval_classify(m, s->ds, s->idx, s->n, &eo, &er, &err) != VG_OK) {
        bar(u, r->name, s->n, s->n);
        cli_error(cmd, "%s", err.msg);
        return false;
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
        if (vg_metrics_compute(er.n, C, er.probs, er.labels, no_alarm, thr, &mt, &err) != VG_OK) {
            cli_error(cmd, "%s", err.msg);
            vg_eval_result_free(&er);
            return false;
        }
        r->acc = mt.accuracy;
        for (int c = 0; c < C && c < VG_MAX_CLASSES; c++) r->recall[c] = mt.recall[c];
        r->alarm_recall = no_alarm >= 0 ? mt.alarm_recall : NAN;
        r->far = no_alarm >= 0 ? mt.false_alarm_rate : NAN;
        r->evaluated = true;
        vg_metrics_free(&mt);
    }
    vg_eval_result_free(&er);
    /* latency: one image, one thread */
    vg_runner *rn = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.unfused = cli_unfused;
    ro.precision = prec;
    ro.threads = 1;
    if (vg_runner_init(&rn, m, &ro, &err) == VG_OK) {
        size_t ni = (size_t)m->input.h * m->input.w * m->input.c;
        float *x = malloc(sizeof(float) * ni), *y = malloc(sizeof(float) * (size_t)(C + 1));
        uint32_t sd = 12345; /* the input `vigie bench` uses */
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
        r->ms = x && y ? 1000 * t[RUNS / 2] : NAN;
        free(x), free(y);
    }
    vg_runner_free(rn);
    return true;
}

/* size and shape facts of a model state */
static void describe(const vg_model *m, row *r) {
    vg_wr w = {0};
    vg_engine_sizes sz;
    vg_err err;
    r->bytes = vg_engine_serialize(m, &w, &sz, &err) == VG_OK ? (int64_t)w.n : -1;
    vg_wr_free(&w);
    vg_prune_layer L[1024];
    int n = 0;
    r->sparsity = 0;
    r->distinct = 0;
    if (vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, L, 1024, &n, &err) == VG_OK) {
        int64_t z = 0, all = 0;
        for (int i = 0; i < n; i++) {
            const float *x = m->g.params + L[i].off;
            for (int64_t j = 0; j < L[i].count; j++) z += x[j] == 0.0f;
            all += L[i].count;
            int d = vg_cluster_distinct(x, L[i].count);
            if (d > r->distinct) r->distinct = d;
        }
        r->sparsity = all ? (double)z / (double)all : 0;
    }
    r->int8 = m->q != NULL;
}

/* ---- fine-tuning constraints */

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

static void pre_step(void *ud, float *params, float *grads, int64_t step, int64_t total) {
    constraint *c = ud;
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
            if (vg_prune_mask(&tmp, c->layers, c->n_layers, s, c->mask, &err) == VG_OK) c->last_update = step;
        }
        vg_prune_apply(params, c->mask, c->g->n_params);
    }
    /* weight sharing: each centroid is refitted to its members after the step (least squares
     * over the channel scales), i.e. it moves by the members' accumulated update */
    for (int i = 0; i < c->n_cl; i++)
        vg_cluster_snap_scaled(params + c->cl_off[i], c->cl_n[i], c->cl_row[i], c->cl_scale[i], c->cl_idx[i],
                               c->k, c->cl_cb[i], c->cl_zero[i]);
}

typedef struct {
    ui *u;
} tr_ui;

static void tr_log(void *ud, const char *line) {
    tr_ui *t = ud;
    if (strncmp(line, "warning", 7) == 0 || !t->u->quiet) fprintf(stderr, "  %s\n", line);
}

static void tr_progress(void *ud, const vg_train_progress *p) {
    tr_ui *t = ud;
    char what[64];
    snprintf(what, sizeof what, "  fine-tune %s epoch %d/%d", p->phase, p->epoch, p->epochs);
    bar(t->u, what, p->step, p->steps);
}

static void tr_epoch(void *ud, const vg_epoch_stats *e) {
    tr_ui *t = ud;
    if (t->u->quiet) return;
    char val[32] = "";
    if (!isnan(e->val_acc)) snprintf(val, sizeof val, "  val acc %.3f", e->val_acc);
    fprintf(stderr, "  epoch %d  train loss %.4f acc %.3f%s  %.1fs\n", e->epoch, e->train_loss,
            e->train_acc, val, e->seconds);
}

typedef struct {
    vg_source_spec data[VG_TRAIN_MAX_DATA]; /* fine-tuning data, extra sources included */
    int n_data;
    int epochs, batch, threads;
    float lr;
    size_t mem;
    uint64_t seed;
    const vg_model *teacher; /* the float model, for distillation (or NULL) */
    float distill;
    float ema;
    /* the model was refit on train + val (vigie train's default): fine-tuning does the same,
     * with the model's alarm threshold (val cannot choose one any more) */
    bool refit;
    float threshold;
} ft_cfg;

/* fine-tunes *m in place (file OUT.<tag>.vgm written next to OUT, with its curves) */
static bool finetune(const char *cmd, ui *u, vg_model **m, const ft_cfg *f, constraint *c,
                     const char *out, const char *tag) {
    vg_train_cfg tc = vg_train_cfg_default();
    /* never the report's data: that one may be the test split */
    memcpy(tc.data, f->data, sizeof tc.data);
    tc.n_data = f->n_data;
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
    tc.mem_budget = f->mem;
    tc.seed = f->seed;
    tc.step_ud = c;
    tc.pre_step = pre_step;
    tc.post_step = post_step;
    tc.teacher = f->teacher;
    tc.distill = f->teacher ? f->distill : 0;
    if (f->refit) tc.phase = 2, tc.fixed_threshold = f->threshold;
    const char *tta = vg_model_get_meta(*m, "tta_flip");
    tc.tta_flip = tta && strcmp(tta, "1") == 0;
    char path[1024];
    snprintf(path, sizeof path, "%.*s.%s.vgm", (int)(strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".vge") ? strlen(out) - 4 : strlen(out)), out, tag);
    tc.out = path;
    tr_ui t = {u};
    vg_train_hooks h = {&t, tr_log, tr_progress, tr_epoch, NULL};
    vg_train_result res;
    vg_err err;
    say(u, "fine-tuning (%s): %d epochs, lr %g, distillation %g -> %s", tag, f->epochs, f->lr,
        tc.distill, path);
    if (vg_train_run(&tc, &h, &res, &err) != VG_OK) {
        cli_error(cmd, "fine-tuning: %s", err.msg);
        return false;
    }
    vg_model *nm = NULL;
    if (vg_model_load(path, &nm, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return false;
    }
    say(u, "  fine-tuned in %.0f s, peak RSS %.0f MB", res.seconds, res.peak_rss / 1048576.0);
    vg_model_free(*m);
    *m = nm;
    return true;
}

/* ---- calibration input */

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
    if (st == VG_OK) st = vg_image_to_input(&rs, &c->m->input, input, err);
    vg_image_free(&img), vg_image_free(&rs);
    return st;
}

static void calib_progress(void *ud, int done, int total) { bar(ud, "calibrating", done, total); }

static void print_report(const vg_model *m, row *rows, int n, const row *base) {
    int C = vg_model_n_outputs(m);
    printf("\n%-26s %6s", "step", "acc");
    for (int c = 0; c < C; c++) printf(" %7.7s", vg_model_label(m, c));
    printf(" %6s %6s %6s %9s %6s %6s %8s\n", "agree", "alarm", "FAR", "size", "size%", "sparse", "ms(1T)");
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        printf("%-26s", r->name);
        if (r->evaluated) {
            printf(" %6.3f", r->acc);
            for (int c = 0; c < C; c++) printf(" %7.3f", r->recall[c]);
            printf(" %6.3f %6.3f %6.3f", r->agree, r->alarm_recall, r->far);
        } else {
            printf(" %6s", "-");
            for (int c = 0; c < C; c++) printf(" %7s", "-");
            printf(" %6s %6s %6s", "-", "-", "-");
        }
        printf(" %8.2fM %5.1f%% %5.1f%% %8.2f\n", r->bytes / 1048576.0,
               base->bytes > 0 ? 100.0 * r->bytes / base->bytes : 0, 100 * r->sparsity, r->ms);
    }
    printf("(recall per class; agree: top-1 agreement with the float model; alarm / FAR: alarm recall\n"
           " and false-alarm rate at the model's threshold; size: as an engine file; ms: median latency,\n"
           " one thread, one 224x224 image)\n");
}

int cmd_optimize(int argc, char **argv) {
    cli_args a = {.cmd = "optimize",
                  .synopsis = "MODEL -o OUT.vge [--int8] [--prune S] [--prune-channels F] [--clusters K] [options]",
                  .summary =
                      "Optimizes a trained model for deployment, as TensorRT does on a Jetson: folds\n"
                      "batch-norm, then in this order removes whole channels (--prune-channels),\n"
                      "prunes single weights (--prune, gradually during fine-tuning), shares weights\n"
                      "by k-means (--clusters), fine-tunes after each of these when --finetune-data\n"
                      "is given, quantizes to int8 with calibration (--int8), and writes an engine\n"
                      "file (.vge) that predict, eval, bench and info accept. With --val-data it ends\n"
                      "with a table: accuracy, per-class recall, agreement with the float model, size,\n"
                      "sparsity and latency for the float model and after every step.\n"
                      "Example (README):\n"
                      "  vigie optimize fire.vgm -o fire.vge --int8 \\\n"
                      "    --finetune-data ../shared/data/firesmoke-cctv \\\n"
                      "    --finetune-list ../shared/data/firesmoke-cctv/splits/train.txt \\\n"
                      "    --finetune-val-list ../shared/data/firesmoke-cctv/splits/val.txt \\\n"
                      "    --val-data ../shared/data/firesmoke-cctv --val-list ../shared/data/firesmoke-cctv/splits/test.txt",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    ui u = {cli_flag(&a, "--quiet"), isatty(2) != 0, 0, 0};
    const char *out = cli_get(&a, "-o");
    vg_source_spec csp[OPT_MAX_DATA], vsp[OPT_MAX_DATA];
    static const char *const clists[3] = {NULL, NULL, "--calib-list"}, *const vlists[3] = {
                                                                           NULL, NULL,
                                                                           "--val-list"};
    static const char *const flists[3] = {"--finetune-list", "--finetune-val-list", NULL};
    int nc_src = cli_sources(&a, "--calib-data", clists, NULL, csp, OPT_MAX_DATA);
    int nv_src = cli_sources(&a, "--val-data", vlists, NULL, vsp, OPT_MAX_DATA);
    ft_cfg ft;
    memset(&ft, 0, sizeof ft);
    ft.n_data =
        cli_sources(&a, "--finetune-data", flists, "--finetune-extra", ft.data, VG_TRAIN_MAX_DATA);
    if (nc_src < 0 || nv_src < 0 || ft.n_data < 0) return CLI_USAGE;
    bool cdata = nc_src > 0, vdata = nv_src > 0, fdata = ft.n_data > 0;
    const char *ctable = cli_get(&a, "--calib-table");
    bool int8 = cli_flag(&a, "--int8"), bias_corr = !cli_flag(&a, "--no-bias-correction");
    long cimages, k, epochs, batch, threads, seed, cmin;
    double pct, sparsity, chan, lr, distill, ema;
    size_t mem;
    if (!cli_int(&a, "--calib-images", 200, 1, 100000, &cimages) ||
        !cli_int(&a, "--clusters", 0, 2, 256, &k) || !cli_int(&a, "--epochs", 5, 1, 1000, &epochs) ||
        !cli_int(&a, "--batch", 32, 1, 4096, &batch) || !cli_int(&a, "--threads", 2, 1, 256, &threads) ||
        !cli_int(&a, "--seed", 1, 0, 0x7fffffff, &seed) ||
        !cli_int(&a, "--cluster-min", 8192, 1, 1L << 30, &cmin) ||
        !cli_double(&a, "--percentile", 99.99, 50.0001, 100, &pct) ||
        !cli_double(&a, "--prune", 0, 0, 0.99, &sparsity) ||
        !cli_double(&a, "--prune-channels", 0, 0, 0.95, &chan) ||
        !cli_double(&a, "--lr", 1e-4, 1e-8, 10, &lr) || !cli_double(&a, "--distill", 0.5, 0, 1, &distill) ||
        !cli_double(&a, "--ema", 0.99, 0, 0.9999, &ema) || !cli_size(&a, "--mem-budget", (size_t)1 << 30, &mem))
        return CLI_USAGE;
    if (!cli_get(&a, "--clusters")) k = 0;
    vg_calibrator cal = VG_CALIB_PERCENTILE;
    if (cli_get(&a, "--calibrator") && !vg_calibrator_parse(cli_get(&a, "--calibrator"), &cal)) {
        cli_error(a.cmd, "--calibrator %s: use minmax, percentile or entropy", cli_get(&a, "--calibrator"));
        return CLI_USAGE;
    }
    vg_cluster_init cinit = VG_CLUSTER_KMEANSPP;
    vg_err err;
    if (cli_get(&a, "--cluster-init") && vg_cluster_init_parse(cli_get(&a, "--cluster-init"), &cinit, &err) != VG_OK) {
        cli_error(a.cmd, "--cluster-init: %s", err.msg);
        return CLI_USAGE;
    }
    if (!out) {
        cli_error(a.cmd, "needs -o OUT.vge (see vigie optimize --help)");
        return CLI_USAGE;
    }
    if (!cdata && fdata) { /* calibrate on the fine-tuning data's training images */
        for (int i = 0; i < ft.n_data && nc_src < OPT_MAX_DATA; i++) {
            if (ft.data[i].extra) continue;
            memset(&csp[nc_src], 0, sizeof csp[0]);
            csp[nc_src].dir = ft.data[i].dir;
            csp[nc_src++].test_list = ft.data[i].train_list;
        }
        cdata = nc_src > 0;
    }
    if (int8 && !cdata && !(ctable && access(ctable, R_OK) == 0)) {
        cli_error(a.cmd, "--int8 needs calibration images: --calib-data DIR [--calib-list FILE] (or --finetune-data)");
        return CLI_USAGE;
    }

    double t_start = vg_time_now();
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    int status = CLI_FAIL;
    split val;
    memset(&val, 0, sizeof val);
    int *pred_float = NULL, *pred = NULL;
    row rows[8];
    int nr = 0;
    memset(rows, 0, sizeof rows);
    constraint cons;
    memset(&cons, 0, sizeof cons);
    vg_model *calm = NULL;
    ft.epochs = (int)epochs, ft.batch = (int)batch, ft.threads = (int)threads, ft.lr = (float)lr;
    ft.mem = mem, ft.seed = (uint64_t)seed, ft.ema = (float)ema;
    {
        int na;
        ft.refit = vg_model_get_meta(m, "refit") && vg_model_alarm(m, &na, &ft.threshold);
        if (ft.refit && fdata && (chan > 0 || sparsity > 0 || k > 0))
            say(&u,
                "%s was refit on train + val: fine-tuning uses --finetune-list and "
                "--finetune-val-list together and keeps its alarm threshold %.3f",
                a.pos[0], (double)ft.threshold);
    }
    vg_model *teacher = NULL;
    if (fdata && distill > 0 && (chan > 0 || sparsity > 0 || k > 0)) {
        /* the model as given, before any change: what fine-tuning distils from */
        teacher = cli_load_model(a.cmd, a.pos[0]);
        if (!teacher) goto out;
        if (teacher->q) {
            vg_qgraph_free(teacher->q);
            teacher->q = NULL;
        }
        ft.teacher = teacher, ft.distill = (float)distill;
    }
    if (vdata) {
        if (!load_split(a.cmd, m, vsp, nv_src, VG_SPLIT_TEST, &val)) goto out;
        pred_float = malloc(sizeof(int) * (size_t)(val.n + 1));
        pred = malloc(sizeof(int) * (size_t)(val.n + 1));
        if (!pred_float || !pred) goto out;
    }
    if (m->q) { /* an imported int8 model: start from its float view */
        vg_qgraph_free(m->q);
        m->q = NULL;
    }
#define ROW(label, model, prec)                                                                  \
    do {                                                                                         \
        row *r_ = &rows[nr++];                                                                   \
        snprintf(r_->name, sizeof r_->name, "%s", label);                                        \
        describe(model, r_);                                                                     \
        if (vdata) {                                                                             \
            int *p_ = nr == 1 ? pred_float : pred;                                               \
            if (!evaluate(a.cmd, &u, model, prec, (int)threads, &val, p_, r_)) goto out;         \
            int ag_ = 0, n_ = 0;                                                                 \
            for (int i_ = 0; i_ < val.n; i_++)                                                   \
                if (pred_float[i_] >= 0 && p_[i_] >= 0) ag_ += pred_float[i_] == p_[i_], n_++;  \
            r_->agree = n_ ? (double)ag_ / n_ : 0;                                               \
            say(&u, "%-26s accuracy %.3f, agreement with float %.3f, %.2f MB", r_->name, r_->acc, \
                r_->agree, r_->bytes / 1048576.0);                                               \
        }                                                                                        \
    } while (0)
    ROW("float", m, VG_PRECISION_FLOAT);
    /* 1. batch-norm folding (trained / imported MobileNets usually have none left) */
    int folded = 0;
    if (vg_model_fold(m, &folded, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    if (folded) {
        say(&u, "folded %d batch-norm layers", folded);
        ROW("fold batch-norm", m, VG_PRECISION_FLOAT);
    }
    /* 2. structural changes, then fine-tuning */
    bool changed = false;
    char label[64] = "";
    if (chan > 0) {
        vg_model *pm = NULL;
        vg_prune_block blocks[128];
        int nb = 0;
        /* channel means on calibration images, so that removed channels leave their mean */
        vg_calib_table mt;
        memset(&mt, 0, sizeof mt);
        const double **means = NULL, **msqs = NULL;
        if (cdata) {
            split cs;
            if (!load_split(a.cmd, m, csp, nc_src, VG_SPLIT_TRAIN, &cs)) goto out;
            int nc = cs.n < 64 ? cs.n : 64;
            calib_src src = {m, cs.ds, cs.idx, cs.n, nc};
            vg_status st = nc > 0 ? vg_calibrate(m, nc, calib_fetch, &src, VG_CALIB_MINMAX, 0,
                                                 (int)threads, calib_progress, &u, &mt, &err)
                                  : vg_err_set(&err, VG_ERR_ARG, "no image in %s", csp[0].dir);
            free_split(&cs);
            if (st != VG_OK) {
                cli_error(a.cmd, "channel means: %s", err.msg);
                goto out;
            }
            means = calloc((size_t)mt.n_tensors, sizeof(double *));
            msqs = calloc((size_t)mt.n_tensors, sizeof(double *));
            for (int t = 0; means && msqs && t < mt.n_tensors; t++) {
                means[t] = mt.mean_off[t] >= 0 ? mt.mean + mt.mean_off[t] : NULL;
                msqs[t] = mt.mean_off[t] >= 0 ? mt.msq + mt.mean_off[t] : NULL;
            }
        }
        vg_status pst = vg_prune_channels_stats(m, (float)chan, means, msqs, &pm, blocks, 128, &nb, &err);
        free(means), free(msqs);
        vg_calib_table_free(&mt);
        if (pst != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            goto out;
        }
        int before = 0, after = 0;
        for (int i = 0; i < nb; i++) before += blocks[i].channels_before, after += blocks[i].channels_after;
        say(&u, "channel pruning: %d inverted-residual blocks, expansion channels %d -> %d", nb, before, after);
        vg_model_free(m);
        m = pm;
        changed = true;
        snprintf(label, sizeof label, "channels -%.0f%%", 100 * chan);
    }
    if (sparsity > 0) {
        cons.layers = malloc(sizeof(vg_prune_layer) * 1024);
        cons.mask = malloc((size_t)m->g.n_params);
        if (!cons.layers || !cons.mask ||
            vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, cons.layers, 1024, &cons.n_layers, &err) != VG_OK) {
            cli_error(a.cmd, "%s", cons.layers && cons.mask ? err.msg : "out of memory");
            goto out;
        }
        cons.sparsity = (float)sparsity;
        cons.g = &m->g;
        /* without fine-tuning: one shot to the target */
        if (vg_prune_mask(&m->g, cons.layers, cons.n_layers, fdata ? 0.0f : (float)sparsity, cons.mask, &err) != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            goto out;
        }
        vg_prune_apply(m->g.params, cons.mask, m->g.n_params);
        changed = true;
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, "%sprune %.0f%%", l ? " + " : "", 100 * sparsity);
    }
    if (changed && fdata) {
        cons.g = &m->g;
        if (!finetune(a.cmd, &u, &m, &ft, &cons, out, "pruned")) goto out;
        if (cons.mask) { /* the final mask at exactly the target, on the fine-tuned weights */
            if (vg_prune_mask(&m->g, cons.layers, cons.n_layers, (float)sparsity, cons.mask, &err) != VG_OK) {
                cli_error(a.cmd, "%s", err.msg);
                goto out;
            }
            vg_prune_apply(m->g.params, cons.mask, m->g.n_params);
        }
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, " + ft");
    }
    free(cons.mask), free(cons.layers);
    cons.mask = NULL, cons.layers = NULL;
    if (changed) ROW(label, m, VG_PRECISION_FLOAT);
    /* 3. weight sharing */
    if (k > 0) {
        vg_prune_layer L[1024];
        int n = 0;
        if (vg_prune_targets(&m->g, m->input.h, m->input.w, m->input.c, L, 1024, &n, &err) != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            goto out;
        }
        cons.n_cl = 0;
        cons.k = (int)k;
        cons.cl_off = malloc(sizeof(int64_t) * (size_t)n);
        cons.cl_n = malloc(sizeof(int64_t) * (size_t)n);
        cons.cl_idx = calloc((size_t)n, sizeof(uint8_t *));
        cons.cl_cb = calloc((size_t)n, sizeof(float *));
        cons.cl_zero = calloc((size_t)n, sizeof(bool));
        cons.cl_row = malloc(sizeof(int64_t) * (size_t)n);
        cons.cl_node = malloc(sizeof(int) * (size_t)n);
        cons.cl_scale = calloc((size_t)n, sizeof(float *));
        if (!cons.cl_off || !cons.cl_n || !cons.cl_idx || !cons.cl_cb || !cons.cl_zero || !cons.cl_row ||
            !cons.cl_node || !cons.cl_scale)
            goto oom;
        for (int i = 0; i < n; i++) {
            /* the pointwise / fully-connected layers (97% of the weights): a depthwise filter
             * has 9 weights and the stem 27 per channel, whose scales differ too much for one
             * shared codebook per layer (the same layers pruning leaves dense). Small layers
             * (the first blocks' and the 3-output classifier) stay as they are: 16 shared
             * values would save a few KB there and cost accuracy */
            if (!L[i].enabled || L[i].count < cmin) continue;
            float *x = m->g.params + L[i].off;
            bool zeros = false;
            for (int64_t j = 0; j < L[i].count && !zeros; j++) zeros = x[j] == 0.0f;
            int j = cons.n_cl++;
            const vg_node *nd = &m->g.nodes[L[i].node];
            int64_t co = nd->co; /* CONV and FC: rows = output channels */
            cons.cl_off[j] = L[i].off, cons.cl_n[j] = L[i].count, cons.cl_zero[j] = zeros && sparsity > 0;
            cons.cl_row[j] = co > 0 ? L[i].count / co : L[i].count, cons.cl_node[j] = L[i].node;
            cons.cl_idx[j] = malloc((size_t)L[i].count);
            cons.cl_cb[j] = malloc(sizeof(float) * 256);
            cons.cl_scale[j] = malloc(sizeof(float) * (size_t)(co > 0 ? co : 1));
            if (!cons.cl_idx[j] || !cons.cl_cb[j] || !cons.cl_scale[j]) goto oom;
            if (vg_cluster_fit_scaled(x, L[i].count, cons.cl_row[j], (int)k, cinit, (uint64_t)seed + (uint64_t)i,
                                      cons.cl_zero[j], cons.cl_scale[j], cons.cl_cb[j], cons.cl_idx[j], &err) != VG_OK) {
                cli_error(a.cmd, "clustering node %d: %s", L[i].node, err.msg);
                goto out;
            }
            vg_cluster_apply_scaled(x, L[i].count, cons.cl_row[j], cons.cl_scale[j], cons.cl_cb[j], cons.cl_idx[j]);
            bar(&u, "clustering", i + 1, n);
        }
        snprintf(label, sizeof label, "clusters %ld", k);
        if (fdata) {
            if (!finetune(a.cmd, &u, &m, &ft, &cons, out, "clustered")) goto out;
            /* the kept weights are an average: back onto k shared values per layer */
            for (int j = 0; j < cons.n_cl; j++)
                vg_cluster_snap_scaled(m->g.params + cons.cl_off[j], cons.cl_n[j], cons.cl_row[j], cons.cl_scale[j],
                                       cons.cl_idx[j], (int)k, cons.cl_cb[j], cons.cl_zero[j]);
            strcat(label, " + ft");
        }
        /* the engine stores these layers as codebook + channel scales + indices */
        m->shared = calloc((size_t)cons.n_cl, sizeof(vg_shared_layer));
        if (!m->shared) goto oom;
        for (int j = 0; j < cons.n_cl; j++) {
            vg_shared_layer *S = &m->shared[m->n_shared++];
            S->node = cons.cl_node[j], S->k = (int)k, S->n = cons.cl_n[j], S->row = cons.cl_row[j];
            memcpy(S->centroids, cons.cl_cb[j], sizeof(float) * (size_t)k);
            S->scale = cons.cl_scale[j], S->idx = cons.cl_idx[j];
            cons.cl_scale[j] = NULL, cons.cl_idx[j] = NULL;
        }
        ROW(label, m, VG_PRECISION_FLOAT);
    }
    /* 4. int8 */
    if (int8) {
        vg_calib_table t;
        uint64_t h = vg_model_hash(m);
        bool have = false;
        if (ctable && access(ctable, R_OK) == 0) {
            if (vg_calib_table_load(ctable, h, &t, &err) != VG_OK) {
                cli_error(a.cmd, "%s", err.msg);
                goto out;
            }
            say(&u, "calibration table %s reused (%s, %d images)", ctable, vg_calibrator_name(t.calibrator), t.n_images);
            have = true;
        }
        if (!have) {
            split cs;
            if (!load_split(a.cmd, m, csp, nc_src, VG_SPLIT_TRAIN, &cs)) goto out;
            int nc = cs.n < cimages ? cs.n : (int)cimages;
            calib_src src = {m, cs.ds, cs.idx, cs.n, nc};
            double t0 = vg_time_now();
            vg_status st =
                nc > 0 ? vg_calibrate(m, nc, calib_fetch, &src, cal, (float)pct, (int)threads,
                                      calib_progress, &u, &t, &err)
                       : vg_err_set(&err, VG_ERR_ARG, "no calibration image in %s", csp[0].dir);
            free_split(&cs);
            if (st != VG_OK) {
                cli_error(a.cmd, "calibration: %s", err.msg);
                goto out;
            }
            say(&u, "calibrated on %d images (%s) in %.1f s", nc, vg_calibrator_name(cal), vg_time_now() - t0);
            if (ctable) {
                if (vg_calib_table_save(&t, ctable, &err) != VG_OK) {
                    vg_calib_table_free(&t);
                    cli_error(a.cmd, "%s", err.msg);
                    goto out;
                }
                say(&u, "calibration table written to %s", ctable);
            }
        }
        vg_status st = vg_model_quantize(m, &t, bias_corr, &err);
        vg_calib_table_free(&t);
        if (st != VG_OK) {
            cli_error(a.cmd, "int8: %s", err.msg);
            goto out;
        }
        ROW(bias_corr ? "int8" : "int8 (no bias correction)", m, VG_PRECISION_INT8);
    }
    if (vg_model_set_meta(m, "optimized", rows[nr - 1].name, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    vg_engine_sizes sz;
    if (vg_engine_save(m, out, &sz, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    if (vdata) print_report(m, rows, nr, &rows[0]);
    printf("wrote %s: %.2f MB (float model %.2f MB): weights %.2f MB (%d int8, %d clustered, %d float "
           "layers, %d sparse), other %.2f MB, in %.1f s\n",
           out, sz.total / 1048576.0, rows[0].bytes / 1048576.0, (sz.f32 + sz.i8 + sz.cluster) / 1048576.0,
           sz.i8_layers, sz.cluster_layers, sz.f32_layers, sz.sparse_layers,
           (sz.other + sz.int8_tables) / 1048576.0, vg_time_now() - t_start);
    status = CLI_OK;
    goto out;
oom:
    cli_error(a.cmd, "out of memory");
out:
    for (int i = 0; i < cons.n_cl; i++) free(cons.cl_idx[i]), free(cons.cl_cb[i]), free(cons.cl_scale[i]);
    free(cons.cl_off), free(cons.cl_n), free(cons.cl_idx), free(cons.cl_cb), free(cons.cl_zero);
    free(cons.cl_row), free(cons.cl_node), free(cons.cl_scale);
    free(cons.mask), free(cons.layers);
    free(pred_float), free(pred);
    free_split(&val);
    vg_model_free(calm);
    vg_model_free(teacher);
    vg_model_free(m);
    return status;
#undef ROW
}
