/* cmd_eval.c — `vigie eval MODEL --data DIR [--list FILE] [--data DIR ...] [--json]
 * [--plot FILE]`: options into a vg_eval_cfg, then vg_eval_run's report (accuracy, per-class
 * precision / recall / F1, confusion matrix, alarm metrics at the model's threshold, ROC and
 * AUC, misclassified files, images/s; per dataset with several) as text or JSON. Images are
 * processed exactly as `vigie predict` does (whole image resized, the model's normalisation,
 * its TTA setting). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

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

typedef struct {
    const char *cmd;
    bool json;
} ui;

static void on_log(void *ud, const char *line) {
    const ui *u = ud;
    /* notes would only clutter JSON; warnings (not a held-out measure) always show */
    if (!u->json || strncmp(line, "warning", 7) == 0)
        fprintf(stderr, "vigie %s: %s\n", u->cmd, line);
}

static void on_bad(void *ud, const char *path, const char *msg) {
    (void)path; /* msg names the file */
    cli_error(((const ui *)ud)->cmd, "skipping %s", msg);
}

static void print_json(const char *model, const vg_eval_report *r, const vg_eval_cfg *c) {
    const vg_metrics *mt = &r->metrics;
    int C = r->n_classes;
    bool several = r->n_sources > 1;
    printf("{\"model\":");
    cli_json_str(stdout, model);
    printf(",\"n\":%d,\"skipped\":%d,\"accuracy\":%.6f,\"classes\":[", r->n, r->skipped,
           mt->accuracy);
    for (int k = 0; k < C; k++) {
        printf("%s", k ? "," : "");
        cli_json_str(stdout, r->labels[k]);
    }
    printf("],\"per_class\":{");
    for (int k = 0; k < C; k++) {
        printf("%s", k ? "," : "");
        cli_json_str(stdout, r->labels[k]);
        printf(":{\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"n\":%d}", mt->precision[k],
               mt->recall[k], mt->f1[k], r->count[k]);
    }
    printf("},\"confusion\":[");
    for (int i = 0; i < C; i++) {
        printf("%s[", i ? "," : "");
        for (int j = 0; j < C; j++)
            printf("%s%d", j ? "," : "", mt->confusion[i * C + j]);
        printf("]");
    }
    printf("]");
    if (mt->no_alarm >= 0) {
        printf(",\"alarm\":{\"no_alarm_class\":");
        cli_json_str(stdout, r->labels[mt->no_alarm]);
        printf(",\"threshold\":%.6f,\"recall\":%.6f,\"false_alarm_rate\":%.6f,\"precision\":%.6f,"
               "\"positives\":%d,\"negatives\":%d,\"auc\":%.6f,\"roc\":[",
               mt->threshold, mt->alarm_recall, mt->false_alarm_rate, mt->alarm_precision,
               mt->alarm_pos, mt->alarm_neg, mt->auc);
        for (int i = 0; i < r->roc_n; i++)
            printf("%s{\"fpr\":%.6f,\"tpr\":%.6f,\"threshold\":%.6f}", i ? "," : "", r->roc_fpr[i],
                   r->roc_tpr[i], r->roc_threshold[i] > 1 ? 1.0 : r->roc_threshold[i]);
        printf("]}");
    }
    printf(",\"sources\":[");
    for (int s = 0; s < r->n_sources; s++) {
        const vg_eval_part *p = &r->sources[s].part;
        printf("%s{\"name\":", s ? "," : "");
        cli_json_str(stdout, r->sources[s].name);
        printf(",\"dir\":");
        cli_json_str(stdout, r->sources[s].root);
        printf(",\"n\":%d,\"accuracy\":%.6f,\"alarm_positives\":%d,\"alarm_recall\":%.6f,"
               "\"negatives\":%d,\"false_alarm_rate\":%.6f}",
               p->n, p->accuracy, p->alarm_pos, p->alarm_recall, p->alarm_neg, p->false_alarm_rate);
    }
    printf("]");
    if (c->box_free_crops > 0) {
        int nc = 0, na = 0;
        for (int s = 0; s < r->n_sources; s++)
            nc += r->sources[s].crops, na += r->sources[s].crop_alarms;
        printf(",\"box_free_crops\":{\"n\":%d,\"false_alarms\":%d,\"false_alarm_rate\":%.6f}", nc,
               na, nc ? (double)na / nc : 0.0);
    }
    printf(",\"misclassified\":[");
    for (int i = 0; i < r->n_misses; i++) {
        const vg_eval_miss *x = &r->misses[i];
        printf("%s{\"image\":", i ? "," : "");
        cli_json_str(stdout, x->image);
        if (several) {
            printf(",\"data\":");
            cli_json_str(stdout, r->sources[x->source].name);
        }
        printf(",\"true\":");
        cli_json_str(stdout, r->labels[x->truth]);
        printf(",\"predicted\":");
        cli_json_str(stdout, r->labels[x->predicted]);
        printf(",\"p\":%.4f}", x->p);
    }
    printf("],\"images_per_s\":%.2f}\n", r->images_per_s);
}

/* "0.9500 (19/20)", or "-" without such images */
static void frac(char *buf, size_t n, double v, int hit, int all) {
    if (all)
        snprintf(buf, n, "%.4f (%d/%d)", v, hit, all);
    else
        snprintf(buf, n, "-");
}

static void print_text(const char *model, const vg_eval_report *r, const vg_eval_cfg *c) {
    const vg_metrics *mt = &r->metrics;
    int C = r->n_classes, no_alarm = mt->no_alarm;
    bool several = r->n_sources > 1;
    if (several)
        printf("model %s on %d datasets: %d images (%d skipped), %.1f images/s\n", model,
               r->n_sources, r->n, r->skipped, r->images_per_s);
    else
        printf("model %s on %s%s%s: %d images (%d skipped), %.1f images/s\n", model,
               r->sources[0].root, r->sources[0].list ? ", list " : "",
               r->sources[0].list ? r->sources[0].list : "", r->n, r->skipped, r->images_per_s);
    printf("accuracy %.4f\n\n%-16s %9s %9s %9s %6s\n", mt->accuracy, "class", "precision", "recall",
           "f1", "n");
    for (int k = 0; k < C; k++)
        printf("%-16s %9.4f %9.4f %9.4f %6d\n", r->labels[k], mt->precision[k], mt->recall[k],
               mt->f1[k], r->count[k]);
    printf("\nconfusion (rows: true class, columns: predicted)\n%-16s", "");
    for (int k = 0; k < C; k++)
        printf(" %9.9s", r->labels[k]);
    printf("\n");
    for (int i = 0; i < C; i++) {
        printf("%-16s", r->labels[i]);
        for (int j = 0; j < C; j++)
            printf(" %9d", mt->confusion[i * C + j]);
        printf("\n");
    }
    if (no_alarm >= 0)
        printf("\nalarm (1 - p(%s) >= %.3f): recall %.4f (%d images with an alarm class), "
               "false alarms %.4f (%d %s images), precision %.4f, AUC %.4f\n",
               r->labels[no_alarm], mt->threshold, mt->alarm_recall, mt->alarm_pos,
               mt->false_alarm_rate, mt->alarm_neg, r->labels[no_alarm], mt->alarm_precision,
               mt->auc);
    char ar[32], fa[32];
    if (several) {
        printf("\nper dataset%s:\n  %-22s %6s %6s %9s %19s %19s\n",
               no_alarm >= 0 ? " (same threshold)" : "", "data", "split", "images", "accuracy",
               "alarm recall", "false alarms");
        for (int s = 0; s < r->n_sources; s++) {
            const vg_eval_part *p = &r->sources[s].part;
            frac(ar, sizeof ar, p->alarm_recall, p->alarm_hit, p->alarm_pos);
            frac(fa, sizeof fa, p->false_alarm_rate, p->alarm_false, p->alarm_neg);
            printf("  %-22.22s %6s %6d %9.4f %19s %19s\n", r->sources[s].name, r->sources[s].split,
                   p->n, p->accuracy, ar, fa);
        }
    }
    for (int s = 0; s < r->n_sources && c->box_free_crops > 0; s++)
        if (r->sources[s].crops)
            printf("\nbox-free crops of %s (%d per image with boxes, %g of a box's size away "
                   "from every box): %d, false alarms %.4f (%d)\n",
                   r->sources[s].name, c->box_free_crops, (double)vg_augment_default().neg_margin,
                   r->sources[s].crops, (double)r->sources[s].crop_alarms / r->sources[s].crops,
                   r->sources[s].crop_alarms);
    if (c->recall_target > 0 && no_alarm >= 0) {
        const vg_eval_part *a = &r->at_target;
        printf("\noperating point for alarm recall %.3f on every dataset: threshold %.4f, recall "
               "%.4f (%d/%d), false alarms %.4f (%d/%d)\n",
               c->recall_target, r->target_threshold, a->alarm_recall, a->alarm_hit, a->alarm_pos,
               a->false_alarm_rate, a->alarm_false, a->alarm_neg);
        for (int s = 0; s < r->n_sources && several; s++) {
            const vg_eval_part *p = &r->sources[s].at_target;
            frac(ar, sizeof ar, p->alarm_recall, p->alarm_hit, p->alarm_pos);
            frac(fa, sizeof fa, p->false_alarm_rate, p->alarm_false, p->alarm_neg);
            printf("  %-22.22s recall %19s, false alarms %19s\n", r->sources[s].name, ar, fa);
        }
    }
    printf("\nmisclassified:\n");
    for (int i = 0; i < r->n_misses; i++) {
        const vg_eval_miss *x = &r->misses[i];
        char name[1024];
        snprintf(name, sizeof name, "%s%s%s", several ? r->sources[x->source].name : "",
                 several ? "/" : "", x->image);
        printf("  %-60s true %-8s predicted %-8s %.1f%%\n", name, r->labels[x->truth],
               r->labels[x->predicted], 100.0 * x->p);
    }
    if (!r->n_misses) printf("  (none)\n");
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
    const char *plot = cli_get(&a, "--plot");
    ui u = {a.cmd, cli_flag(&a, "--json")};
    vg_eval_cfg c = vg_eval_cfg_default();
    if (!cli_precision(&a, &c.runner.precision)) return CLI_USAGE;
    c.runner.unfused = cli_unfused;
    c.no_alarm = cli_get(&a, "--no-alarm");
    long threads, n_crops;
    double thr_opt, target;
    if (!cli_int(&a, "--threads", 2, 1, 256, &threads) ||
        !cli_int(&a, "--box-free-crops", 0, 0, 100, &n_crops) ||
        !cli_double(&a, "--recall-target", 0, 0.01, 1, &target) ||
        !cli_double(&a, "--threshold", -1, 0, 1, &thr_opt))
        return CLI_USAGE;
    c.runner.threads = (int)threads, c.box_free_crops = (int)n_crops, c.recall_target = target;
    c.threshold = cli_get(&a, "--threshold") ? (float)thr_opt : -1;
    vg_err err;
    if (cli_get(&a, "--tiles") &&
        vg_tiles_parse(cli_get(&a, "--tiles"), &c.tile_rows, &c.tile_cols, &err) != VG_OK) {
        cli_error(a.cmd, "--tiles: %s", err.msg);
        return CLI_USAGE;
    }
    const char *split_opt = cli_get(&a, "--split");
    if (split_opt) {
        static const char *const names[] = {"test", "val", "train", "all"};
        static const vg_eval_split splits[] = {VG_EVAL_TEST, VG_EVAL_VAL, VG_EVAL_TRAIN,
                                               VG_EVAL_ALL};
        int k = 0;
        while (k < 4 && strcmp(split_opt, names[k]) != 0)
            k++;
        if (k == 4) {
            cli_error(a.cmd, "--split: expected test, val, train or all, got '%s'", split_opt);
            return CLI_USAGE;
        }
        c.split = splits[k];
    }
    static const char *const list_opts[3] = {NULL, NULL, "--list"};
    c.n_data = cli_sources(&a, "--data", list_opts, NULL, c.data, VG_TRAIN_MAX_DATA);
    if (c.n_data < 0) return CLI_USAGE;
    if (c.n_data == 0) {
        cli_error(a.cmd, "needs --data DIR (see vigie eval --help)");
        return CLI_USAGE;
    }
    vg_eval_hooks h = {&u, on_log, on_bad, NULL};
    vg_eval_report r;
    if (vg_eval_run(a.pos[0], &c, &h, &r, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    if (u.json)
        print_json(a.pos[0], &r, &c);
    else
        print_text(a.pos[0], &r, &c);
    int status = CLI_OK;
    if (plot) {
        char roc[1100];
        size_t L = strlen(plot);
        snprintf(roc, sizeof roc, "%.*s.roc.png",
                 (int)(L > 4 && !strcmp(plot + L - 4, ".png") ? L - 4 : L), plot);
        bool alarm = r.metrics.no_alarm >= 0;
        if (vg_eval_report_plot(&r, plot, roc, &err) != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            status = CLI_FAIL;
        } else if (!u.json) {
            printf("\nplots: %s%s%s\n", plot, alarm ? " " : "", alarm ? roc : "");
        }
    }
    vg_eval_report_free(&r);
    return status;
}
