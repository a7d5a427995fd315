/* cmd_optimize.c — `vigie optimize MODEL -o OUT.vge`: options into a vg_optimize_cfg, progress
 * bars and messages from its hooks, and the report table of vg_optimize_run (the pipeline
 * itself is library code: src/optimize/optimize.c). */
#include "cli.h"

#include <math.h>
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

static void bar(void *ud, const char *what, int done, int total) {
    ui *u = ud;
    if (u->quiet || !u->tty) return;
    double now = vg_time_now();
    if (done < total && now - u->last < 0.1) return;
    u->last = now;
    int width = 24, fill = total ? (int)((double)done / total * width) : 0;
    char b[32];
    for (int i = 0; i < width; i++)
        b[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
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

static void on_log(void *ud, const char *line) {
    ui *u = ud;
    if (!u->quiet) fprintf(stderr, "%s\n", line);
}

/* the fine-tuning runs: indented lines, a bar per phase, one line per epoch */
static void tr_log(void *ud, const char *line) {
    ui *u = ud;
    if (strncmp(line, "warning", 7) == 0 || !u->quiet) fprintf(stderr, "  %s\n", line);
}

static void tr_progress(void *ud, const vg_train_progress *p) {
    char what[64];
    snprintf(what, sizeof what, "  fine-tune %s epoch %d/%d", p->phase, p->epoch, p->epochs);
    bar(ud, what, p->step, p->steps);
}

static void tr_epoch(void *ud, const vg_epoch_stats *e) {
    ui *u = ud;
    if (u->quiet) return;
    char val[32] = "";
    if (!isnan(e->val_acc)) snprintf(val, sizeof val, "  val acc %.3f", e->val_acc);
    fprintf(stderr, "  epoch %d  train loss %.4f acc %.3f%s  %.1fs\n", e->epoch, e->train_loss,
            e->train_acc, val, e->seconds);
}

static void print_report(const vg_optimize_report *rep) {
    int C = rep->n_classes;
    const vg_optimize_step *base = &rep->steps[0];
    printf("\n%-26s %6s", "step", "acc");
    for (int c = 0; c < C; c++)
        printf(" %7.7s", rep->labels[c]);
    printf(" %6s %6s %6s %9s %6s %6s %8s\n", "agree", "alarm", "FAR", "size", "size%", "sparse",
           "ms(1T)");
    for (int i = 0; i < rep->n_steps; i++) {
        const vg_optimize_step *r = &rep->steps[i];
        printf("%-26s", r->name);
        if (r->evaluated) {
            printf(" %6.3f", r->accuracy);
            for (int c = 0; c < C; c++)
                printf(" %7.3f", r->recall[c]);
            printf(" %6.3f %6.3f %6.3f", r->agree, r->alarm_recall, r->false_alarm_rate);
        } else {
            printf(" %6s", "-");
            for (int c = 0; c < C; c++)
                printf(" %7s", "-");
            printf(" %6s %6s %6s", "-", "-", "-");
        }
        printf(" %8.2fM %5.1f%% %5.1f%% %8.2f\n", r->bytes / 1048576.0,
               base->bytes > 0 ? 100.0 * r->bytes / base->bytes : 0, 100 * r->sparsity, r->ms);
    }
    printf("(recall per class; agree: top-1 agreement with the float model; alarm / FAR: alarm "
           "recall\n"
           " and false-alarm rate at the model's threshold; size: as an engine file; ms: median "
           "latency,\n"
           " one thread, one 224x224 image)\n");
}

int cmd_optimize(int argc, char **argv) {
    cli_args a = {
        .cmd = "optimize",
        .synopsis =
            "MODEL -o OUT.vge [--int8] [--prune S] [--prune-channels F] [--clusters K] [options]",
        .summary =
            "Optimizes a trained model for deployment, as TensorRT does on a Jetson: folds\n"
            "batch-norm, then in this order removes whole channels (--prune-channels),\n"
            "prunes single weights (--prune, gradually during fine-tuning), shares weights\n"
            "by k-means (--clusters), fine-tunes after each of these when --finetune-data\n"
            "is given, quantizes to int8 with calibration (--int8), and writes an engine\n"
            "file (.vge) that predict, eval, bench and info accept. With --val-data it ends\n"
            "with a table: accuracy, per-class recall, agreement with the float model, size,\n"
            "sparsity and latency for the float model and after every step; and a model with\n"
            "an alarm threshold gets the rehearsal set of vigie adapt (the engine's features\n"
            "of 60 training and 100 validation images per class of those datasets' splits).\n"
            "Example (README):\n"
            "  vigie optimize fire.vgm -o fire.vge --int8 \\\n"
            "    --finetune-data ../shared/data/firesmoke-cctv \\\n"
            "    --finetune-list ../shared/data/firesmoke-cctv/splits/train.txt \\\n"
            "    --finetune-val-list ../shared/data/firesmoke-cctv/splits/val.txt \\\n"
            "    --val-data ../shared/data/firesmoke-cctv --val-list "
            "../shared/data/firesmoke-cctv/splits/test.txt",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 1,
        .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    ui u = {cli_flag(&a, "--quiet"), isatty(2) != 0, 0, 0};
    vg_optimize_cfg c = vg_optimize_cfg_default();
    c.out = cli_get(&a, "-o");
    static const char *const clists[3] = {NULL, NULL, "--calib-list"};
    static const char *const vlists[3] = {NULL, NULL, "--val-list"};
    static const char *const flists[3] = {"--finetune-list", "--finetune-val-list", NULL};
    c.n_calib = cli_sources(&a, "--calib-data", clists, NULL, c.calib, VG_TRAIN_MAX_DATA);
    c.n_report = cli_sources(&a, "--val-data", vlists, NULL, c.report, VG_TRAIN_MAX_DATA);
    c.n_finetune = cli_sources(&a, "--finetune-data", flists, "--finetune-extra", c.finetune,
                               VG_TRAIN_MAX_DATA);
    if (c.n_calib < 0 || c.n_report < 0 || c.n_finetune < 0) return CLI_USAGE;
    c.calib_table = cli_get(&a, "--calib-table");
    c.int8 = cli_flag(&a, "--int8");
    c.bias_correction = !cli_flag(&a, "--no-bias-correction");
    long cimages, k, epochs, batch, threads, seed, cmin;
    double pct, sparsity, chan, lr, distill, ema;
    if (!cli_int(&a, "--calib-images", c.calib_images, 1, 100000, &cimages) ||
        !cli_int(&a, "--clusters", 0, 2, 256, &k) ||
        !cli_int(&a, "--epochs", c.epochs, 1, 1000, &epochs) ||
        !cli_int(&a, "--batch", c.batch, 1, 4096, &batch) ||
        !cli_int(&a, "--threads", c.threads, 1, 256, &threads) ||
        !cli_int(&a, "--seed", (long)c.seed, 0, 0x7fffffff, &seed) ||
        !cli_int(&a, "--cluster-min", (long)c.cluster_min, 1, 1L << 30, &cmin) ||
        !cli_double(&a, "--percentile", c.percentile, 50.0001, 100, &pct) ||
        !cli_double(&a, "--prune", 0, 0, 0.99, &sparsity) ||
        !cli_double(&a, "--prune-channels", 0, 0, 0.95, &chan) ||
        !cli_double(&a, "--lr", c.lr, 1e-8, 10, &lr) ||
        !cli_double(&a, "--distill", c.distill, 0, 1, &distill) ||
        !cli_double(&a, "--ema", c.ema, 0, 0.9999, &ema) ||
        !cli_size(&a, "--mem-budget", c.mem_budget, &c.mem_budget))
        return CLI_USAGE;
    c.calib_images = (int)cimages, c.clusters = cli_get(&a, "--clusters") ? (int)k : 0;
    c.epochs = (int)epochs, c.batch = (int)batch, c.threads = (int)threads;
    c.seed = (uint64_t)seed, c.cluster_min = cmin, c.percentile = (float)pct;
    c.prune = (float)sparsity, c.prune_channels = (float)chan;
    c.lr = (float)lr, c.distill = (float)distill, c.ema = (float)ema;
    c.unfused = cli_unfused != 0;
    if (cli_get(&a, "--calibrator") &&
        !vg_calibrator_parse(cli_get(&a, "--calibrator"), &c.calibrator)) {
        cli_error(a.cmd, "--calibrator %s: use minmax, percentile or entropy",
                  cli_get(&a, "--calibrator"));
        return CLI_USAGE;
    }
    vg_err err;
    if (cli_get(&a, "--cluster-init") &&
        vg_cluster_init_parse(cli_get(&a, "--cluster-init"), &c.cluster_init, &err) != VG_OK) {
        cli_error(a.cmd, "--cluster-init: %s", err.msg);
        return CLI_USAGE;
    }
    if (!c.out) {
        cli_error(a.cmd, "needs -o OUT.vge (see vigie optimize --help)");
        return CLI_USAGE;
    }
    if (vg_optimize_cfg_check(&c, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_USAGE;
    }
    vg_train_hooks th = {&u, tr_log, tr_progress, tr_epoch, NULL};
    vg_optimize_hooks h = {&u, on_log, bar, &th};
    vg_optimize_report rep;
    if (vg_optimize_run(a.pos[0], &c, &h, &rep, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    if (c.n_report > 0) print_report(&rep);
    printf(
        "wrote %s: %.2f MB (float model %.2f MB): weights %.2f MB (%d int8, %d clustered, %d float "
        "layers, %d sparse), other %.2f MB, in %.1f s\n",
        c.out, rep.file_bytes / 1048576.0, rep.steps[0].bytes / 1048576.0,
        rep.weight_bytes / 1048576.0, rep.int8_layers, rep.cluster_layers, rep.f32_layers,
        rep.sparse_layers, rep.other_bytes / 1048576.0, rep.seconds);
    vg_optimize_report_free(&rep);
    return CLI_OK;
}
