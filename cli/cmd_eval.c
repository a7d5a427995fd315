/* cmd_eval.c — `vigie eval MODEL --data DIR [--list FILE] [--data DIR ...] [--json]
 * [--plot FILE]`: accuracy, per-class precision / recall / F1, confusion matrix, alarm metrics
 * at the model's threshold, ROC and AUC, misclassified files, images/s; with several datasets,
 * the same figures per dataset too. Images are processed exactly as `vigie predict` does (whole
 * image resized, the model's normalisation, its TTA setting). */
#include "cli.h"

#include "model/model.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/metrics.h"
#include "train/plot.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_MAX_DATA 16

static const cli_opt opts[] = {
    {"--data", "DIR",
     "images to evaluate (repeatable): a folder per class (class names = model "
     "labels), or a YOLO / Roboflow export (classes from its boxes)"},
    {"--list", "FILE",
     "only these images of the --data before it: one class/file per line (e.g. "
     "splits/test.txt)"},
    {"--split", "WHICH",
     "without --list: test (default; every image where the dataset has no "
     "test split), val, train or all"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--plot", "FILE.png", "confusion matrix PNG to FILE.png, ROC to FILE.roc.png"},
    {"--threshold", "X", "alarm threshold instead of the model's"},
    {"--recall-target", "R",
     "also report the threshold at which every dataset reaches alarm recall "
     "R on these images, and the figures there (an operating point; on "
     "held-out images only a diagnosis)"},
    {"--no-alarm", "CLASS", "the class that raises no alarm (default: the model's, or neutral)"},
    {"--box-free-crops", "N",
     "also classify N crops per image with boxes, placed away from every "
     "box (as vigie train --neg-crops makes them): their false-alarm "
     "rate, reported apart (default 0)"},
    {"--tiles", "RxC",
     "classify each image through the whole view and RxC overlapping tiles in one "
     "batch, the highest alarm score wins (as predict and watch --tiles)"},
    {"--threads", "N", "worker threads (default 2)"},
    {"--precision", "P", "auto (int8 when the model has an int8 form), float or int8"},
};

/* the figures of one subset of the evaluated images */
typedef struct {
    int n;
    double accuracy, alarm_recall, false_alarm_rate;
    int alarm_pos, alarm_hit, alarm_neg, alarm_false;
} part;

static part part_of(const float *probs, const int *labels, const int *rows, int n, int C,
                    int no_alarm, float thr) {
    part p;
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

static void on_bad(void *ud, const char *path, const char *msg) {
    (void)path; /* msg names the file */
    cli_error((const char *)ud, "skipping %s", msg);
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
static void warn_not_held_out(const char *model_path, const vg_model *m, const vg_dataset *ds,
                              int s, const int *idx, int n, const char *list, bool all) {
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
        fprintf(stderr,
                "vigie eval: warning: %s trained on %s: these figures are not a held-out measure\n",
                model_path, list ? list : what);
    else if ((vs && set_has(vs, entry)) || (known && vl && strcmp(rp, vl) == 0))
        fprintf(stderr, "vigie eval: warning: %s %s %s: these figures are not a held-out measure\n",
                model_path,
                refit ? "was refit on train + val, trained on"
                      : "chose its epochs and alarm threshold on",
                list ? list : what);
    else if (ts && set_count(ts, ds->sources[s].name) > 0 &&
             (all || ds->samples[idx[0]].split != VG_SPLIT_TEST))
        fprintf(stderr,
                "vigie eval: warning: %s was trained on %d images of a dataset named %s; %s "
                "may include them: these figures may not be a held-out measure\n",
                model_path, set_count(ts, ds->sources[s].name), ds->sources[s].name,
                all ? "all of its images evaluated here" : "the split evaluated here");
}

int cmd_eval(int argc, char **argv) {
    cli_args a = {
        .cmd = "eval",
        .synopsis = "MODEL --data DIR [--list FILE] [--data DIR ...] [--json] [--plot FILE.png]",
        .summary = "Evaluates MODEL on labelled images: accuracy, per-class precision,\n"
                   "recall and F1, the confusion matrix, the misclassified files, and the\n"
                   "alarm view (an image raises an alarm when p(fire) + p(smoke) reaches\n"
                   "the threshold chosen at training time): alarm recall, false-alarm\n"
                   "rate, ROC curve and AUC. With several --data, the figures on all of\n"
                   "them and per dataset. Without --list, a dataset's test split\n"
                   "(DIR/splits/test.txt, an export's test images) or --split. Warns\n"
                   "when the images are ones the model was trained on, or chose its\n"
                   "epochs and threshold on (vigie train records both, by content):\n"
                   "figures on those are not held-out measures.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 1,
        .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    const char *plot = cli_get(&a, "--plot"), *na = cli_get(&a, "--no-alarm");
    bool json = cli_flag(&a, "--json");
    int prec;
    if (!cli_precision(&a, &prec)) return CLI_USAGE;
    long threads, n_crops;
    double thr_opt, target;
    if (!cli_int(&a, "--threads", 2, 1, 256, &threads) ||
        !cli_int(&a, "--box-free-crops", 0, 0, 100, &n_crops) ||
        !cli_double(&a, "--recall-target", 0, 0.01, 1, &target) ||
        !cli_double(&a, "--threshold", -1, 0, 1, &thr_opt))
        return CLI_USAGE;
    if (!cli_get(&a, "--threshold")) thr_opt = -1;
    int t_rows = 1, t_cols = 1;
    vg_err perr;
    if (cli_get(&a, "--tiles") &&
        vg_tiles_parse(cli_get(&a, "--tiles"), &t_rows, &t_cols, &perr) != VG_OK) {
        cli_error(a.cmd, "--tiles: %s", perr.msg);
        return CLI_USAGE;
    }
    const char *split_opt = cli_get(&a, "--split");
    int want = VG_SPLIT_TEST; /* VG_SPLIT_NONE: all */
    if (split_opt) {
        if (!strcmp(split_opt, "test"))
            want = VG_SPLIT_TEST;
        else if (!strcmp(split_opt, "val"))
            want = VG_SPLIT_VAL;
        else if (!strcmp(split_opt, "train"))
            want = VG_SPLIT_TRAIN;
        else if (!strcmp(split_opt, "all"))
            want = VG_SPLIT_NONE;
        else {
            cli_error(a.cmd, "--split: expected test, val, train or all, got '%s'", split_opt);
            return CLI_USAGE;
        }
    }
    vg_source_spec specs[EVAL_MAX_DATA];
    static const char *const list_opts[3] = {NULL, NULL, "--list"};
    int n_src = cli_sources(&a, "--data", list_opts, NULL, specs, EVAL_MAX_DATA);
    if (n_src < 0) return CLI_USAGE;
    if (n_src == 0) {
        cli_error(a.cmd, "needs --data DIR (see vigie eval --help)");
        return CLI_USAGE;
    }
    for (int i = 0; i < n_src; i++)
        specs[i].lists_only = specs[i].test_list != NULL;
    vg_err err;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_dataset *ds = NULL;
    int *idx = NULL, n = 0, fails = 0;
    vg_eval_result er;
    memset(&er, 0, sizeof er);
    int *which = NULL, *rows = NULL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    int C = info.n_classes, status = CLI_FAIL;
    vg_metrics mt;
    memset(&mt, 0, sizeof mt);
    vg_dataset_opts dopt = vg_dataset_opts_default();
    dopt.val_fraction = 0; /* a tree without lists: nothing made up, every image counts */
    int m_no_alarm = -1;
    float m_thr = 0;
    if (vg_model_alarm(m, &m_no_alarm, &m_thr)) dopt.no_alarm = vg_model_label(m, m_no_alarm);
    if (na) dopt.no_alarm = na;
    if (vg_dataset_open(specs, n_src, &dopt, &ds, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    /* the images: per source its --list, else the split asked for */
    idx = malloc(sizeof(int) * ((size_t)ds->n_samples + 1));
    if (!idx) {
        cli_error(a.cmd, "out of memory");
        goto out;
    }
    for (int s = 0; s < ds->n_sources; s++) {
        const vg_source *so = &ds->sources[s];
        int k = specs[s].test_list ? VG_SPLIT_TEST : want, n0 = n;
        bool all = false;
        n += vg_dataset_pick(ds, s, k, k == VG_SPLIT_TEST && !split_opt, idx + n, &all);
        if (so->count == 0) {
            cli_error(a.cmd, "%s holds no image (%d skipped: %s)", so->root, so->skipped,
                      VG_DATA_EXTENSIONS);
            goto out;
        }
        if (all && !json)
            fprintf(stderr, "vigie eval: %s has no test split: evaluating all its %d images\n",
                    so->root, so->count);
        if (so->detection && so->no_label_file + so->empty_labels > 0 && !json)
            fprintf(stderr,
                    "vigie eval: %s: %d images without boxes (no or empty label file): %s\n",
                    so->root, so->no_label_file + so->empty_labels, dopt.no_alarm);
        if (n == n0) {
            cli_error(a.cmd, "%s has no %s split (see --split)", so->root, split_name(k));
            goto out;
        }
        warn_not_held_out(a.pos[0], m, ds, s, idx + n0, n - n0, specs[s].test_list,
                          all || k == VG_SPLIT_NONE);
    }
    int no_alarm = -1;
    float thr = 0.5f;
    if (!vg_model_alarm(m, &no_alarm, &thr)) {
        no_alarm = -1;
        for (int k = 0; k < C; k++)
            if (strcmp(vg_model_label(m, k), na ? na : "neutral") == 0) no_alarm = k;
    } else if (na) {
        no_alarm = -1;
        for (int k = 0; k < C; k++)
            if (strcmp(vg_model_label(m, k), na) == 0) no_alarm = k;
    }
    if (na && no_alarm < 0) {
        cli_error(a.cmd, "--no-alarm %s: not a class of the model", na);
        goto out;
    }
    if (thr_opt >= 0) thr = (float)thr_opt;
    uint8_t is_alarm[VG_MAX_CLASSES];
    for (int c = 0; c < C; c++)
        is_alarm[c] = c != no_alarm;
    vg_eval_opts eo = vg_eval_opts_default();
    eo.runner.unfused = cli_unfused;
    eo.runner.threads = (int)threads;
    eo.runner.precision = prec;
    eo.tile_rows = t_rows, eo.tile_cols = t_cols;
    eo.is_alarm = is_alarm;
    eo.neg_crops = (int)n_crops, eo.no_alarm = no_alarm, eo.threshold = thr;
    eo.on_bad = on_bad, eo.ud = (void *)a.cmd;
    if (vg_tiles_count(t_rows, t_cols) > 1 && no_alarm < 0) {
        cli_error(a.cmd, "--tiles needs a no-alarm class (the model has none; see --no-alarm)");
        goto out;
    }
    if (vg_eval_classify(m, ds, idx, n, &eo, &er, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    const float *probs = er.probs;
    const int *labels = er.labels;
    const int *crops = er.crops, *crop_alarms = er.crop_alarms;
    int k = er.n;
    fails = er.skipped;
    double el = er.seconds;
    which = malloc(sizeof(int) * (size_t)(k ? k : 1));
    rows = malloc(sizeof(int) * (size_t)(k ? k : 1));
    if (!which || !rows) {
        cli_error(a.cmd, "out of memory");
        goto out;
    }
    for (int i = 0; i < k; i++)
        which[i] = idx[er.pos[i]];
    if (k == 0) {
        cli_error(a.cmd, "no image could be evaluated");
        goto out;
    }
    if (vg_metrics_compute(k, C, probs, labels, no_alarm, thr, &mt, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    /* per source */
    part parts[EVAL_MAX_DATA];
    for (int s = 0; s < ds->n_sources; s++) {
        int nr = 0;
        for (int i = 0; i < k; i++)
            if (ds->samples[which[i]].source == s) rows[nr++] = i;
        parts[s] = part_of(probs, labels, rows, nr, C, no_alarm, thr);
    }
    /* the operating point: the lowest of the thresholds that give each dataset the recall */
    float thr_at = 1;
    part at[EVAL_MAX_DATA], at_all;
    if (target > 0 && no_alarm >= 0) {
        float *pp = malloc(sizeof(float) * (size_t)k * C);
        int *ll = malloc(sizeof(int) * (size_t)k);
        for (int s = 0; pp && ll && s < ds->n_sources; s++) {
            int nr = 0, pos = 0;
            for (int i = 0; i < k; i++)
                if (ds->samples[which[i]].source == s) {
                    memcpy(pp + (size_t)nr * C, probs + (size_t)i * C, sizeof(float) * (size_t)C);
                    pos += labels[i] != no_alarm;
                    ll[nr++] = labels[i];
                }
            float t = 1;
            if (pos &&
                vg_alarm_threshold_for_recall(nr, C, pp, ll, no_alarm, target, &t, &err) != VG_OK) {
                cli_error(a.cmd, "%s", err.msg);
                free(pp), free(ll);
                goto out;
            }
            if (t < thr_at) thr_at = t;
        }
        if (!pp || !ll) {
            cli_error(a.cmd, "out of memory");
            free(pp), free(ll);
            goto out;
        }
        free(pp), free(ll);
        for (int s = 0; s < ds->n_sources; s++) {
            int nr = 0;
            for (int i = 0; i < k; i++)
                if (ds->samples[which[i]].source == s) rows[nr++] = i;
            at[s] = part_of(probs, labels, rows, nr, C, no_alarm, thr_at);
        }
        for (int i = 0; i < k; i++)
            rows[i] = i;
        at_all = part_of(probs, labels, rows, k, C, no_alarm, thr_at);
    }
    float *fpr = NULL, *tpr = NULL, *th = NULL;
    int np = 0;
    double auc = 0;
    if (no_alarm >= 0 &&
        vg_alarm_roc(k, C, probs, labels, no_alarm, &fpr, &tpr, &th, &np, &auc, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        goto out;
    }
    int *count = calloc((size_t)C, sizeof(int));
    for (int i = 0; count && i < k; i++)
        count[labels[i]]++;
    bool several = ds->n_sources > 1;
    if (json) {
        printf("{\"model\":");
        cli_json_str(stdout, a.pos[0]);
        printf(",\"n\":%d,\"skipped\":%d,\"accuracy\":%.6f,\"classes\":[", k, fails, mt.accuracy);
        for (int c = 0; c < C; c++) {
            printf("%s", c ? "," : "");
            cli_json_str(stdout, vg_model_label(m, c));
        }
        printf("],\"per_class\":{");
        for (int c = 0; c < C; c++) {
            printf("%s", c ? "," : "");
            cli_json_str(stdout, vg_model_label(m, c));
            printf(":{\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"n\":%d}", mt.precision[c],
                   mt.recall[c], mt.f1[c], count ? count[c] : 0);
        }
        printf("},\"confusion\":[");
        for (int i = 0; i < C; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < C; j++)
                printf("%s%d", j ? "," : "", mt.confusion[i * C + j]);
            printf("]");
        }
        printf("]");
        if (no_alarm >= 0) {
            printf(",\"alarm\":{\"no_alarm_class\":");
            cli_json_str(stdout, vg_model_label(m, no_alarm));
            printf(
                ",\"threshold\":%.6f,\"recall\":%.6f,\"false_alarm_rate\":%.6f,\"precision\":%.6f,"
                "\"positives\":%d,\"negatives\":%d,\"auc\":%.6f,\"roc\":[",
                thr, mt.alarm_recall, mt.false_alarm_rate, mt.alarm_precision, mt.alarm_pos,
                mt.alarm_neg, auc);
            for (int i = 0; i < np; i++)
                printf("%s{\"fpr\":%.6f,\"tpr\":%.6f,\"threshold\":%.6f}", i ? "," : "", fpr[i],
                       tpr[i], th[i] > 1 ? 1.0 : th[i]);
            printf("]}");
        }
        printf(",\"sources\":[");
        for (int s = 0; s < ds->n_sources; s++) {
            const part *p = &parts[s];
            printf("%s{\"name\":", s ? "," : "");
            cli_json_str(stdout, ds->sources[s].name);
            printf(",\"dir\":");
            cli_json_str(stdout, ds->sources[s].root);
            printf(",\"n\":%d,\"accuracy\":%.6f,\"alarm_positives\":%d,\"alarm_recall\":%.6f,"
                   "\"negatives\":%d,\"false_alarm_rate\":%.6f}",
                   p->n, p->accuracy, p->alarm_pos, p->alarm_recall, p->alarm_neg,
                   p->false_alarm_rate);
        }
        printf("]");
        if (n_crops > 0) {
            int nc = 0, na_ = 0;
            for (int s = 0; s < ds->n_sources; s++)
                nc += crops[s], na_ += crop_alarms[s];
            printf(",\"box_free_crops\":{\"n\":%d,\"false_alarms\":%d,\"false_alarm_rate\":%.6f}",
                   nc, na_, nc ? (double)na_ / nc : 0.0);
        }
        printf(",\"misclassified\":[");
        int first = 1;
        for (int i = 0; i < k; i++) {
            const float *p = probs + (size_t)i * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (p[c] > p[best]) best = c;
            if (best == labels[i]) continue;
            printf("%s{\"image\":", first ? "" : ",");
            cli_json_str(stdout, ds->samples[which[i]].name);
            if (several) {
                printf(",\"data\":");
                cli_json_str(stdout, ds->sources[ds->samples[which[i]].source].name);
            }
            printf(",\"true\":");
            cli_json_str(stdout, vg_model_label(m, labels[i]));
            printf(",\"predicted\":");
            cli_json_str(stdout, vg_model_label(m, best));
            printf(",\"p\":%.4f}", p[best]);
            first = 0;
        }
        printf("],\"images_per_s\":%.2f}\n", k / el);
    } else {
        if (several)
            printf("model %s on %d datasets: %d images (%d skipped), %.1f images/s\n", a.pos[0],
                   ds->n_sources, k, fails, k / el);
        else
            printf("model %s on %s%s%s: %d images (%d skipped), %.1f images/s\n", a.pos[0],
                   ds->root, specs[0].test_list ? ", list " : "",
                   specs[0].test_list ? specs[0].test_list : "", k, fails, k / el);
        printf("accuracy %.4f\n\n%-16s %9s %9s %9s %6s\n", mt.accuracy, "class", "precision",
               "recall", "f1", "n");
        for (int c = 0; c < C; c++)
            printf("%-16s %9.4f %9.4f %9.4f %6d\n", vg_model_label(m, c), mt.precision[c],
                   mt.recall[c], mt.f1[c], count ? count[c] : 0);
        printf("\nconfusion (rows: true class, columns: predicted)\n%-16s", "");
        for (int c = 0; c < C; c++)
            printf(" %9.9s", vg_model_label(m, c));
        printf("\n");
        for (int i = 0; i < C; i++) {
            printf("%-16s", vg_model_label(m, i));
            for (int j = 0; j < C; j++)
                printf(" %9d", mt.confusion[i * C + j]);
            printf("\n");
        }
        if (no_alarm >= 0)
            printf("\nalarm (1 - p(%s) >= %.3f): recall %.4f (%d images with an alarm class), "
                   "false alarms %.4f (%d %s images), precision %.4f, AUC %.4f\n",
                   vg_model_label(m, no_alarm), thr, mt.alarm_recall, mt.alarm_pos,
                   mt.false_alarm_rate, mt.alarm_neg, vg_model_label(m, no_alarm),
                   mt.alarm_precision, auc);
        if (several) {
            printf("\nper dataset%s:\n  %-22s %6s %6s %9s %19s %19s\n",
                   no_alarm >= 0 ? " (same threshold)" : "", "data", "split", "images", "accuracy",
                   "alarm recall", "false alarms");
            for (int s = 0; s < ds->n_sources; s++) {
                const part *p = &parts[s];
                char ar[32] = "-", fa[32] = "-";
                if (p->alarm_pos)
                    snprintf(ar, sizeof ar, "%.4f (%d/%d)", p->alarm_recall, p->alarm_hit,
                             p->alarm_pos);
                if (p->alarm_neg)
                    snprintf(fa, sizeof fa, "%.4f (%d/%d)", p->false_alarm_rate, p->alarm_false,
                             p->alarm_neg);
                const vg_source *so = &ds->sources[s];
                int ks = specs[s].test_list ? VG_SPLIT_TEST : want;
                const char *sp =
                    specs[s].test_list ? "list"
                    : ks == VG_SPLIT_TEST && so->n_split[VG_SPLIT_TEST] == 0 && !split_opt
                        ? "all"
                        : split_name(ks);
                printf("  %-22.22s %6s %6d %9.4f %19s %19s\n", so->name, sp, p->n, p->accuracy, ar,
                       fa);
            }
        }
        for (int s = 0; s < ds->n_sources && n_crops > 0; s++)
            if (crops[s])
                printf("\nbox-free crops of %s (%ld per image with boxes, %g of a box's size away "
                       "from every box): %d, false alarms %.4f (%d)\n",
                       ds->sources[s].name, n_crops, (double)vg_augment_default().neg_margin, crops[s],
                       (double)crop_alarms[s] / crops[s], crop_alarms[s]);
        if (target > 0 && no_alarm >= 0) {
            printf(
                "\noperating point for alarm recall %.3f on every dataset: threshold %.4f, recall "
                "%.4f (%d/%d), false alarms %.4f (%d/%d)\n",
                target, thr_at, at_all.alarm_recall, at_all.alarm_hit, at_all.alarm_pos,
                at_all.false_alarm_rate, at_all.alarm_false, at_all.alarm_neg);
            for (int s = 0; s < ds->n_sources && several; s++) {
                char ar[32] = "-", fa[32] = "-";
                if (at[s].alarm_pos)
                    snprintf(ar, sizeof ar, "%.4f (%d/%d)", at[s].alarm_recall, at[s].alarm_hit,
                             at[s].alarm_pos);
                if (at[s].alarm_neg)
                    snprintf(fa, sizeof fa, "%.4f (%d/%d)", at[s].false_alarm_rate,
                             at[s].alarm_false, at[s].alarm_neg);
                printf("  %-22.22s recall %19s, false alarms %19s\n", ds->sources[s].name, ar, fa);
            }
        }
        printf("\nmisclassified:\n");
        int shown = 0;
        for (int i = 0; i < k; i++) {
            const float *p = probs + (size_t)i * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (p[c] > p[best]) best = c;
            if (best == labels[i]) continue;
            const vg_sample *s = &ds->samples[which[i]];
            char name[1024];
            snprintf(name, sizeof name, "%s%s%s", several ? ds->sources[s->source].name : "",
                     several ? "/" : "", s->name);
            printf("  %-60s true %-8s predicted %-8s %.1f%%\n", name, vg_model_label(m, labels[i]),
                   vg_model_label(m, best), 100.0 * p[best]);
            shown++;
        }
        if (!shown) printf("  (none)\n");
    }
    status = CLI_OK;
    if (plot) {
        const char *names[VG_MAX_CLASSES > 256 ? 256 : VG_MAX_CLASSES];
        for (int c = 0; c < C && c < 256; c++)
            names[c] = vg_model_label(m, c);
        char roc[1100];
        size_t L = strlen(plot);
        snprintf(roc, sizeof roc, "%.*s.roc.png",
                 (int)(L > 4 && !strcmp(plot + L - 4, ".png") ? L - 4 : L), plot);
        if (vg_plot_confusion(plot, "confusion matrix", names, C, mt.confusion, &err) != VG_OK ||
            (no_alarm >= 0 &&
             vg_plot_roc(roc, "alarm ROC (fire or smoke vs no alarm)", fpr, tpr, np, (float)auc,
                         (float)mt.false_alarm_rate, (float)mt.alarm_recall, &err) != VG_OK)) {
            cli_error(a.cmd, "%s", err.msg);
            status = CLI_FAIL;
        } else if (!json) {
            printf("\nplots: %s%s%s\n", plot, no_alarm >= 0 ? " " : "", no_alarm >= 0 ? roc : "");
        }
    }
    free(fpr), free(tpr), free(th), free(count);
out:
    vg_metrics_free(&mt);
    vg_eval_result_free(&er);
    vg_dataset_free(ds);
    vg_model_free(m);
    free(idx), free(which), free(rows);
    return status == CLI_OK && fails ? CLI_OK : status;
}
