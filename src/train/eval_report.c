/* eval_report.c — `vigie eval` as library code (vg_eval_run in vigie.h): opens the datasets,
 * picks each one's images (its list, else the split asked for), warns when they are not held
 * out from the model, classifies them with vg_eval_classify (eval.c, the loop the optimize
 * report shares), and computes the figures: overall, per dataset, at an operating point, the
 * ROC and the misclassified images. The CLI prints the report; nothing here prints. */
#include "model/model.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/metrics.h"
#include "train/plot.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

vg_eval_cfg vg_eval_cfg_default(void) {
    vg_eval_cfg c;
    memset(&c, 0, sizeof c);
    c.split = VG_EVAL_DEFAULT;
    c.runner = vg_runner_opts_default();
    c.runner.threads = 2;
    c.tile_rows = c.tile_cols = 1;
    c.threshold = -1;
    return c;
}

typedef struct {
    vg_model *m;
    vg_dataset *ds;
    const vg_eval_hooks *hooks;
} priv;

static void say(const vg_eval_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const vg_eval_hooks *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (h) vg_vlogf(h->log, h->ud, fmt, ap);
    va_end(ap);
}

static vg_eval_part part_of(const float *probs, const int *labels, const int *rows, int n, int C,
                            int no_alarm, float thr) {
    vg_eval_part p;
    memset(&p, 0, sizeof p);
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *pr = probs + (size_t)rows[i] * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (pr[c] > pr[best]) best = c;
        right += best == labels[rows[i]];
        if (no_alarm < 0) continue;
        bool alarm = 1.0f - pr[no_alarm] >= thr, pos = labels[rows[i]] != no_alarm;
        if (pos)
            p.alarm_pos++, p.alarm_hit += alarm;
        else
            p.alarm_neg++, p.alarm_false += alarm;
    }
    p.n = n;
    p.accuracy = n ? (double)right / n : 0;
    p.alarm_recall = p.alarm_pos ? (double)p.alarm_hit / p.alarm_pos : 0;
    p.false_alarm_rate = p.alarm_neg ? (double)p.alarm_false / p.alarm_neg : 0;
    return p;
}

static const char *split_name(int k) {
    return k == VG_SPLIT_TRAIN  ? "train"
           : k == VG_SPLIT_VAL  ? "val"
           : k == VG_SPLIT_TEST ? "test"
                                : "all";
}

/* true when `entry` ("name:count:hash") is one of the "; "-joined entries of `set` */
static bool set_has(const char *set, const char *entry) {
    size_t n = strlen(entry);
    for (const char *p = set; p && *p;) {
        const char *e = strstr(p, "; ");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, entry, n) == 0) return true;
        p = e ? e + 2 : NULL;
    }
    return false;
}

/* the image count of the "; "-joined entry of `set` for dataset `name`, or -1 */
static int set_count(const char *set, const char *name) {
    size_t n = strlen(name);
    for (const char *p = set; p && *p;) {
        const char *e = strstr(p, "; ");
        if (strncmp(p, name, n) == 0 && p[n] == ':') return atoi(p + n + 1);
        p = e ? e + 2 : NULL;
    }
    return -1;
}

/* warns when images of a source are ones the model learnt from or chose its settings on:
 * the same images (by content), or, when they are not the same but the model learnt from
 * that dataset, all of its images or its train / val split (which may have been made up) */
static void warn_not_held_out(const vg_eval_hooks *h, const char *model_path, const vg_model *m,
                              const vg_dataset *ds, int s, const int *idx, int n, const char *list,
                              bool all) {
    const char *ts = vg_model_get_meta(m, "train_set"), *vs = vg_model_get_meta(m, "val_set");
    bool refit = vg_model_get_meta(m, "refit") != NULL;
    char entry[512];
    vg_dataset_describe(ds, idx, n, entry, sizeof entry);
    char what[1100];
    snprintf(what, sizeof what, "the %s images of %s", split_name(ds->samples[idx[0]].split),
             ds->sources[s].root);
    char rp[PATH_MAX];
    /* models from before content hashes recorded the lists' paths */
    const char *tl = vg_model_get_meta(m, "train_list"), *vl = vg_model_get_meta(m, "val_list");
    bool known = list && realpath(list, rp) != NULL;
    if ((ts && set_has(ts, entry)) || (known && tl && strcmp(rp, tl) == 0))
        say(h, "warning: %s trained on %s: these figures are not a held-out measure", model_path,
            list ? list : what);
    else if ((vs && set_has(vs, entry)) || (known && vl && strcmp(rp, vl) == 0))
        say(h, "warning: %s %s %s: these figures are not a held-out measure", model_path,
            refit ? "was refit on train + val, trained on"
                  : "chose its epochs and alarm threshold on",
            list ? list : what);
    else if (ts && set_count(ts, ds->sources[s].name) > 0 &&
             (all || ds->samples[idx[0]].split != VG_SPLIT_TEST))
        say(h,
            "warning: %s was trained on %d images of a dataset named %s; %s may include them: "
            "these figures may not be a held-out measure",
            model_path, set_count(ts, ds->sources[s].name), ds->sources[s].name,
            all ? "all of its images evaluated here" : "the split evaluated here");
}

static void on_bad(void *ud, const char *path, const char *msg) {
    const vg_eval_hooks *h = ud;
    if (h && h->bad_image) h->bad_image(h->ud, path, msg);
}

static void on_progress(void *ud, int done, int total) {
    const vg_eval_hooks *h = ud;
    if (h && h->progress) h->progress(h->ud, done, total);
}

/* the no-alarm class: the model's (or the one named), else a class named "neutral" */
static vg_status find_no_alarm(const vg_model *m, const char *na, int C, int *no_alarm, float *thr,
                               vg_err *err) {
    *no_alarm = -1, *thr = 0.5f;
    if (!vg_model_alarm(m, no_alarm, thr)) {
        *no_alarm = -1;
        for (int k = 0; k < C; k++)
            if (strcmp(vg_model_label(m, k), na ? na : "neutral") == 0) *no_alarm = k;
    } else if (na) {
        *no_alarm = -1;
        for (int k = 0; k < C; k++)
            if (strcmp(vg_model_label(m, k), na) == 0) *no_alarm = k;
    }
    if (na && *no_alarm < 0)
        return vg_err_set(err, VG_ERR_ARG, "--no-alarm %s: not a class of the model", na);
    return VG_OK;
}

/* the operating point: the lowest of the thresholds that give each dataset the recall */
static vg_status operating_point(vg_eval_report *rep, const vg_dataset *ds, const int *which,
                                 const float *probs, const int *labels, int k, double target,
                                 int *rows, vg_err *err) {
    int C = rep->n_classes, no_alarm = rep->metrics.no_alarm;
    float thr_at = 1;
    float *pp = vg_malloc(sizeof(float) * (size_t)k * C);
    int *ll = vg_malloc(sizeof(int) * (size_t)k);
    vg_status st = pp && ll ? VG_OK : vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int s = 0; st == VG_OK && s < ds->n_sources; s++) {
        int nr = 0, pos = 0;
        for (int i = 0; i < k; i++)
            if (ds->samples[which[i]].source == s) {
                memcpy(pp + (size_t)nr * C, probs + (size_t)i * C, sizeof(float) * (size_t)C);
                pos += labels[i] != no_alarm;
                ll[nr++] = labels[i];
            }
        float t = 1;
        if (pos) st = vg_alarm_threshold_for_recall(nr, C, pp, ll, no_alarm, target, &t, err);
        if (t < thr_at) thr_at = t;
    }
    free(pp), free(ll);
    if (st != VG_OK) return st;
    for (int s = 0; s < ds->n_sources; s++) {
        int nr = 0;
        for (int i = 0; i < k; i++)
            if (ds->samples[which[i]].source == s) rows[nr++] = i;
        rep->sources[s].at_target = part_of(probs, labels, rows, nr, C, no_alarm, thr_at);
    }
    for (int i = 0; i < k; i++)
        rows[i] = i;
    rep->at_target = part_of(probs, labels, rows, k, C, no_alarm, thr_at);
    rep->target_threshold = thr_at;
    return VG_OK;
}

/* picks each source's images into idx (its list, else the split asked for) */
static vg_status pick_images(const char *model, const vg_eval_cfg *cfg, const vg_eval_hooks *h,
                             const vg_model *m, const vg_dataset *ds, const char *no_alarm_name,
                             int *idx, int *n_out, vg_eval_report *rep, vg_err *err) {
    static const int want_of[] = {VG_SPLIT_TEST, VG_SPLIT_TEST, VG_SPLIT_VAL, VG_SPLIT_TRAIN,
                                  VG_SPLIT_NONE};
    int want = want_of[cfg->split], n = 0;
    bool given = cfg->split != VG_EVAL_DEFAULT;
    for (int s = 0; s < ds->n_sources; s++) {
        const vg_source *so = &ds->sources[s];
        const char *list = cfg->data[s].test_list;
        int k = list ? VG_SPLIT_TEST : want, n0 = n;
        bool all = false;
        n += vg_dataset_pick(ds, s, k, k == VG_SPLIT_TEST && !given, idx + n, &all);
        if (so->count == 0)
            return vg_err_set(err, VG_ERR_ARG, "%s holds no image (%d skipped: %s)", so->root,
                              so->skipped, VG_DATA_EXTENSIONS);
        if (all) say(h, "%s has no test split: evaluating all its %d images", so->root, so->count);
        if (so->detection && so->no_label_file + so->empty_labels > 0)
            say(h, "%s: %d images without boxes (no or empty label file): %s", so->root,
                so->no_label_file + so->empty_labels, no_alarm_name);
        if (n == n0)
            return vg_err_set(err, VG_ERR_ARG, "%s has no %s split (see --split)", so->root,
                              split_name(k));
        warn_not_held_out(h, model, m, ds, s, idx + n0, n - n0, list, all || k == VG_SPLIT_NONE);
        vg_eval_source *es = &rep->sources[s];
        es->name = so->name, es->root = so->root, es->list = list;
        es->split = list ? "list"
                    : k == VG_SPLIT_TEST && so->n_split[VG_SPLIT_TEST] == 0 && !given
                        ? "all"
                        : split_name(k);
    }
    *n_out = n;
    return VG_OK;
}

/* the figures of the classified rows: overall, per source, the operating point, the ROC and
 * the misclassified images */
static vg_status figures(const vg_eval_cfg *cfg, const vg_dataset *ds, const int *idx,
                         const vg_eval_result *er, int no_alarm, float thr, vg_eval_report *rep,
                         vg_err *err) {
    int C = rep->n_classes, k = er->n;
    const float *probs = er->probs;
    const int *labels = er->labels;
    if (k == 0) return vg_err_set(err, VG_ERR_ARG, "no image could be evaluated");
    int *which = vg_malloc(sizeof(int) * (size_t)k), *rows = vg_malloc(sizeof(int) * (size_t)k);
    rep->count = vg_calloc((size_t)C, sizeof(int));
    rep->misses = vg_calloc((size_t)k, sizeof(vg_eval_miss));
    vg_status st = which && rows && rep->count && rep->misses
                       ? VG_OK
                       : vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == VG_OK && i < k; i++)
        which[i] = idx[er->pos[i]];
    if (st == VG_OK)
        st = vg_metrics_compute(k, C, probs, labels, no_alarm, thr, &rep->metrics, err);
    for (int s = 0; st == VG_OK && s < ds->n_sources; s++) {
        int nr = 0;
        for (int i = 0; i < k; i++)
            if (ds->samples[which[i]].source == s) rows[nr++] = i;
        rep->sources[s].part = part_of(probs, labels, rows, nr, C, no_alarm, thr);
        rep->sources[s].crops = er->crops[s], rep->sources[s].crop_alarms = er->crop_alarms[s];
    }
    if (st == VG_OK && cfg->recall_target > 0 && no_alarm >= 0)
        st = operating_point(rep, ds, which, probs, labels, k, cfg->recall_target, rows, err);
    double auc = 0;
    if (st == VG_OK && no_alarm >= 0)
        st = vg_alarm_roc(k, C, probs, labels, no_alarm, &rep->roc_fpr, &rep->roc_tpr,
                          &rep->roc_threshold, &rep->roc_n, &auc, err);
    rep->metrics.auc = auc;
    for (int i = 0; st == VG_OK && i < k; i++) {
        rep->count[labels[i]]++;
        const float *p = probs + (size_t)i * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (p[c] > p[best]) best = c;
        if (best == labels[i]) continue;
        const vg_sample *sm = &ds->samples[which[i]];
        rep->misses[rep->n_misses++] =
            (vg_eval_miss){sm->name, sm->source, labels[i], best, p[best]};
    }
    free(which), free(rows);
    return st;
}

vg_status vg_eval_run(const char *model, const vg_eval_cfg *cfg, const vg_eval_hooks *hooks,
                      vg_eval_report *rep, vg_err *err) {
    memset(rep, 0, sizeof *rep);
    if (cfg->n_data < 1 || cfg->n_data > VG_TRAIN_MAX_DATA)
        return vg_err_set(err, VG_ERR_ARG, "needs 1 to %d datasets", VG_TRAIN_MAX_DATA);
    if ((int)cfg->split < 0 || cfg->split > VG_EVAL_ALL || cfg->box_free_crops < 0 ||
        cfg->box_free_crops > 100 || !(cfg->threshold <= 1) || cfg->recall_target > 1)
        return vg_err_set(err, VG_ERR_ARG, "evaluation settings out of range");
    priv *P = vg_calloc(1, sizeof *P);
    if (!P) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    rep->priv = P;
    P->hooks = hooks;
    vg_source_spec specs[VG_TRAIN_MAX_DATA];
    for (int i = 0; i < cfg->n_data; i++)
        specs[i] = cfg->data[i], specs[i].lists_only = specs[i].test_list != NULL;
    vg_status st = vg_model_open(model, &P->m, err);
    vg_model *m = P->m;
    int *idx = NULL, n = 0;
    vg_eval_result er;
    memset(&er, 0, sizeof er);
    vg_dataset_opts dopt = vg_dataset_opts_default();
    dopt.val_fraction = 0; /* a tree without lists: nothing made up, every image counts */
    if (st == VG_OK) {
        rep->n_classes = vg_model_n_outputs(m);
        rep->labels = vg_calloc((size_t)rep->n_classes + 1, sizeof(char *));
        for (int c = 0; rep->labels && c < rep->n_classes; c++)
            if (!(rep->labels[c] = vg_strdup(vg_model_label(m, c)))) break;
        if (!rep->labels || (rep->n_classes > 0 && !rep->labels[rep->n_classes - 1]))
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        int na;
        float t;
        if (vg_model_alarm(m, &na, &t)) dopt.no_alarm = vg_model_label(m, na);
        if (cfg->no_alarm) dopt.no_alarm = cfg->no_alarm;
        if (st == VG_OK) st = vg_dataset_open(specs, cfg->n_data, &dopt, &P->ds, err);
    }
    if (st == VG_OK) {
        rep->n_sources = P->ds->n_sources;
        idx = vg_malloc(sizeof(int) * ((size_t)P->ds->n_samples + 1));
        if (!idx) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st == VG_OK)
        st = pick_images(model, cfg, hooks, m, P->ds, dopt.no_alarm, idx, &n, rep, err);
    int no_alarm = -1;
    float thr = 0.5f;
    if (st == VG_OK) st = find_no_alarm(m, cfg->no_alarm, rep->n_classes, &no_alarm, &thr, err);
    if (cfg->threshold >= 0) thr = cfg->threshold;
    uint8_t *is_alarm = st == VG_OK ? vg_malloc((size_t)rep->n_classes + 1) : NULL;
    if (st == VG_OK && !is_alarm) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int c = 0; st == VG_OK && c < rep->n_classes; c++)
        is_alarm[c] = c != no_alarm;
    if (st == VG_OK && vg_tiles_count(cfg->tile_rows, cfg->tile_cols) > 1 && no_alarm < 0)
        st = vg_err_set(err, VG_ERR_ARG,
                        "--tiles needs a no-alarm class (the model has none; see --no-alarm)");
    if (st == VG_OK) {
        vg_eval_opts eo = vg_eval_opts_default();
        eo.runner = cfg->runner;
        eo.tile_rows = cfg->tile_rows, eo.tile_cols = cfg->tile_cols;
        eo.is_alarm = is_alarm;
        eo.neg_crops = cfg->box_free_crops, eo.no_alarm = no_alarm, eo.threshold = thr;
        eo.on_bad = on_bad, eo.on_progress = on_progress, eo.ud = (void *)hooks;
        st = vg_eval_classify(m, P->ds, idx, n, &eo, &er, err);
    }
    if (st == VG_OK) {
        rep->n = er.n, rep->skipped = er.skipped;
        rep->seconds = er.seconds;
        rep->images_per_s = er.seconds > 0 ? er.n / er.seconds : 0;
        st = figures(cfg, P->ds, idx, &er, no_alarm, thr, rep, err);
    }
    free(is_alarm), free(idx);
    vg_eval_result_free(&er);
    if (st != VG_OK) vg_eval_report_free(rep);
    return st;
}

void vg_eval_report_free(vg_eval_report *rep) {
    if (!rep) return;
    priv *P = rep->priv;
    if (P) vg_dataset_free(P->ds), vg_model_free(P->m);
    free(P);
    vg_metrics_free(&rep->metrics);
    for (int c = 0; rep->labels && c < rep->n_classes; c++)
        free(rep->labels[c]);
    free(rep->labels);
    free(rep->count), free(rep->misses);
    free(rep->roc_fpr), free(rep->roc_tpr), free(rep->roc_threshold);
    memset(rep, 0, sizeof *rep);
}

vg_status vg_eval_report_plot(const vg_eval_report *rep, const char *path, const char *roc_path,
                              vg_err *err) {
    int C = rep->n_classes;
    if (C > 256) return vg_err_set(err, VG_ERR_UNSUPPORTED, "plots: %d classes (at most 256)", C);
    const char *names[256];
    for (int c = 0; c < C; c++)
        names[c] = rep->labels[c];
    vg_status st =
        vg_plot_confusion(path, "confusion matrix", names, C, rep->metrics.confusion, err);
    if (st == VG_OK && rep->metrics.no_alarm >= 0 && roc_path)
        st = vg_plot_roc(roc_path, "alarm ROC (fire or smoke vs no alarm)", rep->roc_fpr,
                         rep->roc_tpr, rep->roc_n, (float)rep->metrics.auc,
                         (float)rep->metrics.false_alarm_rate, (float)rep->metrics.alarm_recall,
                         err);
    return st;
}
