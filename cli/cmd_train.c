/* cmd_train.c — `vigie train`: transfer learning on a folder of images, with a progress bar
 * on a terminal (plain log lines otherwise), Ctrl-C -> resumable checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt opts[] = {
    {"--data", "DIR",
     "a dataset (repeatable): a folder per class (fire/ smoke/ neutral/ ...), or a "
     "YOLO / Roboflow export (DIR/data.yaml, or the .yaml): classes from its boxes"},
    {"--train-list", "FILE",
     "training split of the --data before it (class/file lines; default "
     "DIR/splits/train.txt, else every image not in val or test)"},
    {"--val-list", "FILE",
     "validation split of the --data before it (default DIR/splits/val.txt): "
     "threshold and early stopping are chosen on the union of every val split"},
    {"--test-list", "FILE",
     "test split of the --data before it (default DIR/splits/test.txt): "
     "kept out of training"},
    {"--extra-train", "DIR",
     "another dataset added to training only (repeatable): every image of a "
     "tree, the train split of an export"},
    {"--backbone", "MODEL", "pretrained model (.vgm or .tflite) whose features are fine-tuned"},
    {"-o", "OUT.vgm", "the trained model; OUT.csv, OUT.*.png and OUT.ckpt go next to it"},
    {"--train", "WHAT", "head | last:N (last N blocks + head) | all (default last:4)"},
    {"--epochs", "N", "passes over the training images (default 10; early stop on val loss)"},
    {"--batch", "N", "images per optimizer step (default 32)"},
    {"--lr", "X", "peak learning rate after warm-up (default 0.0003; cosine decay)"},
    {"--optimizer", "NAME", "adamw (default) or sgd (momentum 0.9)"},
    {"--weight-decay", "X", "decoupled weight decay for adamw, L2 for sgd (default 0.05)"},
    {"--label-smoothing", "X", "target smoothing (default 0.1)"},
    {"--size", "PX", "input size in pixels (default: the backbone's, 224)"},
    {"--mem-budget", "SIZE",
     "process memory limit, e.g. 1G, 512M (default 1G): chunk and caches adapt"},
    {"--threads", "N", "worker threads (default 2)"},
    {"--seed", "N", "seed of every random choice (default 1)"},
    {"--patience", "N", "early stopping after N epochs without improvement (default 6, 0 = off)"},
    {"--keep", "WHICH",
     "best (the epoch of lowest validation loss, default) or last (the schedule's end; no early "
     "stop)"},
    {"--no-refit", NULL,
     "keep the selection run's model: no second run on train + val (see above)"},
    {"--alarm-recall", "X",
     "target alarm recall for the threshold chosen on val, reached on every "
     "dataset's validation images (default 0.97)"},
    {"--threshold-on", "WHICH",
     "each (default: the target on every dataset's val images) or union "
     "(on all val images together)"},
    {"--balanced", NULL, "class-balanced sampling instead of class weights in the loss"},
    {"--no-class-weights", NULL, "plain loss (no inverse-frequency class weights)"},
    {"--no-augment", NULL, "no random crops, flips or colour jitter"},
    {"--tta-flip", NULL, "the model averages each image with its mirror at inference"},
    {"--crop-scale", "MIN", "random crops keep at least this share of the image (default 0.35)"},
    {"--zoom-out", "P",
     "with probability P, shrink the image into a random part of the input (default 0 = off)"},
    {"--zoom-min", "S", "zoom-out keeps at least this share of the input's sides (default 0.5)"},
    {"--zoom-scene", NULL,
     "zoom-out draws the shrunk image into a no-alarm training image (a real "
     "scene) instead of a grey canvas: small, distant fire"},
    {"--box-zoom", "P",
     "images with boxes: with probability P a crop zoomed in on one box, so small "
     "and distant fire is seen large (default 0 = off)"},
    {"--box-zoom-range", "MIN,MAX",
     "the box's side as a share of the zoomed crop's (default 0.2,0.7)"},
    {"--neg-crops", "P",
     "images with boxes: with probability P a crop away from every box, as a "
     "no-alarm example of the same scene (default 0 = off)"},
    {"--neg-margin", "M", "negative crops stay M x the box's size away from it (default 0.25)"},
    {"--mixup", "ALPHA", "mixup of image pairs with Beta(ALPHA, ALPHA) weights (default 0 = off)"},
    {"--ema", "DECAY", "validate and keep a moving average of the weights (default 0.99, 0 = off)"},
    {"--backbone-lr-mult", "X", "learning-rate factor for the pretrained layers (default 1)"},
    {"--pool", "MODE", "features -> head: avg, max or avgmax (default avg)"},
    {"--jitter", "X", "brightness / contrast / saturation jitter (default 0.3)"},
    {"--warmup", "EPOCHS", "linear learning-rate warm-up (default 1)"},
    {"--val-fraction", "X", "validation share when no lists are given (default 0.15)"},
    {"--cache-dir", "DIR", "folder for the decoded-image cache if it does not fit in RAM"},
    {"--resume", "CKPT", "continue an interrupted run exactly (its settings come from CKPT)"},
    {"--quiet", NULL, "only errors and the final summary"},
};

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C stops at once */
}

typedef struct {
    bool quiet, tty;
    double last_draw;
    int bar_len; /* characters of the last progress line, to clear it */
} ui;

/* VIGIE_STOP_AFTER_STEPS=N (for tests): behave as if Ctrl-C came after N optimizer steps, so
 * interrupt-and-resume can be tested without depending on timing */
static long stop_after = -1, steps_seen;

static bool should_stop(void *ud) {
    (void)ud;
    if (stop_after >= 0 && ++steps_seen > stop_after) return true;
    return interrupted != 0;
}

static void clear_line(ui *u) {
    if (u->tty && u->bar_len) {
        fprintf(stderr, "\r%*s\r", u->bar_len, "");
        u->bar_len = 0;
    }
}

static void on_log(void *ud, const char *line) {
    ui *u = ud;
    if (u->quiet && strncmp(line, "warning", 7) != 0) return;
    clear_line(u);
    fprintf(stderr, "%s\n", line);
}

static void fmt_time(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void on_progress(void *ud, const vg_train_progress *p) {
    ui *u = ud;
    if (u->quiet || !u->tty) return; /* plain logs get the per-epoch lines only */
    double now = vg_time_now();
    if (p->step < p->steps && now - u->last_draw < 0.1) return;
    u->last_draw = now;
    char line[256], eta[32];
    int width = 24, fill = p->steps ? (int)((double)p->step / p->steps * width) : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    fmt_time(p->eta_s, eta, sizeof eta);
    int k;
    if (strcmp(p->phase, "training") == 0)
        k = snprintf(line, sizeof line,
                     "epoch %d/%d [%s] %d/%d  %.1f img/s  ETA %s  loss %.4f  acc %.3f  lr %.2g",
                     p->epoch, p->epochs, bar, p->step, p->steps, p->images_per_s, eta, p->loss,
                     p->acc, p->lr);
    else
        k = snprintf(line, sizeof line, "%s [%s] %d/%d  %.1f img/s", p->phase, bar, p->step,
                     p->steps, p->images_per_s);
    fprintf(stderr, "\r%s%*s", line, u->bar_len > k ? u->bar_len - k : 0, "");
    u->bar_len = k;
    fflush(stderr);
}

static void on_epoch(void *ud, const vg_epoch_stats *e) {
    ui *u = ud;
    if (u->quiet) return;
    clear_line(u);
    char val[160] = "";
    if (!isnan(e->val_loss))
        snprintf(val, sizeof val, "  val loss %.4f acc %.3f  alarm recall %.3f false alarms %.3f  AUC %.3f",
                 e->val_loss, e->val_acc, e->alarm_recall, e->false_alarm_rate, e->auc);
    fprintf(stderr, "epoch %d  train loss %.4f acc %.3f%s  lr %.2g  %.1fs%s\n", e->epoch,
            e->train_loss, e->train_acc, val, e->lr, e->seconds, e->best ? "  *best" : "");
}

static bool parse_mode(const char *s, vg_train_cfg *c) {
    if (strcmp(s, "head") == 0) c->mode = VG_TRAIN_HEAD;
    else if (strcmp(s, "all") == 0) c->mode = VG_TRAIN_ALL;
    else if (strncmp(s, "last:", 5) == 0) {
        char *end;
        long n = strtol(s + 5, &end, 10);
        if (end == s + 5 || *end || n < 1 || n > 100) return false;
        c->mode = VG_TRAIN_LAST;
        c->last_n = (int)n;
    } else
        return false;
    return true;
}

int cmd_train(int argc, char **argv) {
    cli_args a = {
        .cmd = "train",
        .synopsis = "--data DIR --backbone MODEL -o OUT.vgm [options]",
        .summary =
            "Fine-tunes a pretrained backbone (e.g. the ImageNet MobileNetV2 imported with\n"
            "`vigie import`) on labelled images: folders with one sub-folder per class, and\n"
            "detection datasets in the YOLO / Roboflow layout (a folder with data.yaml; an\n"
            "image's class comes from its boxes: fire, else smoke, else neutral). --data is\n"
            "repeatable; each dataset keeps its own splits (DIR/splits/*.txt, data.yaml). A new\n"
            "head is trained for the classes; with --train last:N the last N inverted\n"
            "residual blocks learn too. Validation after every epoch on every dataset's val\n"
            "split; the best epoch is kept; the alarm threshold (p(fire) + p(smoke)) is\n"
            "chosen so that every dataset's val images reach --alarm-recall, and stored in\n"
            "the model. Writes OUT.vgm, OUT.csv (metrics per epoch), OUT.curves.png,\n"
            "OUT.confusion.png, OUT.roc.png. Ctrl-C saves OUT.ckpt; --resume OUT.ckpt\n"
            "continues exactly where it stopped.\n"
            "Refit (default with validation images): that run only selects; its files get a\n"
            "'.select' infix (OUT.select.vgm ...). A second run then trains from the backbone\n"
            "again on train + val, with the same settings and schedule, stops at the epoch\n"
            "the selection found best and keeps the selection's alarm threshold: OUT.vgm,\n"
            "OUT.csv, OUT.curves.png. --no-refit keeps the selection's model as OUT.vgm.\n"
            "Default recipe on the shared data (README; `make model`, ~15 minutes):\n"
            "  vigie train --data ../shared/data/firesmoke-cctv --data ../shared/data/fire-footage "
            "\\\n"
            "    --data ../shared/data/neutral-scenes --extra-train ../shared/data/hard-negatives "
            "\\\n"
            "    --backbone backbone.vgm -o fire.vgm",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 0,
        .max_pos = 0};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    vg_train_cfg c = vg_train_cfg_default();
    c.resume = cli_get(&a, "--resume");
    c.n_data = cli_sources(&a, "--data", NULL, "--extra-train", c.data, VG_TRAIN_MAX_DATA);
    if (c.n_data < 0) return CLI_USAGE;
    c.backbone = cli_get(&a, "--backbone");
    c.out = cli_get(&a, "-o");
    c.cache_dir = cli_get(&a, "--cache-dir");
    long epochs, batch, size, threads, seed, patience;
    double lr, wd, ls, recall, warm, vf;
    if (!cli_int(&a, "--epochs", c.epochs, 1, 1000, &epochs) ||
        !cli_int(&a, "--batch", c.batch, 1, 4096, &batch) ||
        !cli_int(&a, "--size", 0, 32, 1024, &size) ||
        !cli_int(&a, "--threads", c.threads, 1, 256, &threads) ||
        !cli_int(&a, "--seed", (long)c.seed, 0, 2147483647L, &seed) ||
        !cli_int(&a, "--patience", c.patience, 0, 1000, &patience) ||
        !cli_double(&a, "--lr", c.lr, 1e-8, 10, &lr) ||
        !cli_double(&a, "--weight-decay", c.weight_decay, 0, 10, &wd) ||
        !cli_double(&a, "--label-smoothing", c.label_smoothing, 0, 0.99, &ls) ||
        !cli_double(&a, "--alarm-recall", c.alarm_recall, 0.01, 1, &recall) ||
        !cli_double(&a, "--warmup", c.warmup_epochs, 0, 1000, &warm) ||
        !cli_double(&a, "--val-fraction", c.val_fraction, 0, 0.9, &vf) ||
        !cli_size(&a, "--mem-budget", c.mem_budget, &c.mem_budget))
        return CLI_USAGE;
    c.epochs = (int)epochs, c.batch = (int)batch, c.size = (int)size, c.threads = (int)threads;
    c.seed = (uint64_t)seed, c.patience = (int)patience, c.lr = (float)lr, c.weight_decay = (float)wd;
    c.label_smoothing = (float)ls, c.alarm_recall = recall, c.warmup_epochs = (float)warm;
    c.val_fraction = (float)vf;
    const char *mode = cli_get(&a, "--train");
    if (mode && !parse_mode(mode, &c)) {
        cli_error(a.cmd, "--train: expected head, last:N or all, got '%s'", mode);
        return CLI_USAGE;
    }
    const char *ton = cli_get(&a, "--threshold-on");
    if (ton && strcmp(ton, "union") == 0)
        c.threshold_union = true;
    else if (ton && strcmp(ton, "each") != 0) {
        cli_error(a.cmd, "--threshold-on: expected each or union, got '%s'", ton);
        return CLI_USAGE;
    }
    const char *keep = cli_get(&a, "--keep");
    if (keep && strcmp(keep, "last") == 0) c.keep_last = true;
    else if (keep && strcmp(keep, "best") != 0) {
        cli_error(a.cmd, "--keep: expected best or last, got '%s'", keep);
        return CLI_USAGE;
    }
    const char *opt = cli_get(&a, "--optimizer");
    if (opt && strcmp(opt, "adamw") == 0) c.optimizer = VG_OPT_ADAMW;
    else if (opt && strcmp(opt, "sgd") == 0) c.optimizer = VG_OPT_SGD;
    else if (opt) {
        cli_error(a.cmd, "--optimizer: expected adamw or sgd, got '%s'", opt);
        return CLI_USAGE;
    }
    if (cli_flag(&a, "--balanced")) c.balanced = true, c.class_weights = false;
    if (cli_flag(&a, "--no-class-weights")) c.class_weights = false;
    if (cli_flag(&a, "--no-augment")) c.augment = false;
    if (cli_flag(&a, "--tta-flip")) c.tta_flip = true;
    if (cli_flag(&a, "--no-refit")) c.refit = false;
    if (cli_flag(&a, "--zoom-scene")) c.aug.zoom_scene = true;
    const char *pool = cli_get(&a, "--pool");
    if (pool) {
        if (!strcmp(pool, "avg")) c.pool = 0;
        else if (!strcmp(pool, "max")) c.pool = 1;
        else if (!strcmp(pool, "avgmax")) c.pool = 2;
        else {
            cli_error(a.cmd, "--pool: expected avg, max or avgmax, got '%s'", pool);
            return CLI_USAGE;
        }
    }
    double crop, jit, mix, ema, blr, zp, zm, bz, nc, nm;
    if (!cli_double(&a, "--crop-scale", c.aug.scale_min, 0.05, 1, &crop) ||
        !cli_double(&a, "--zoom-out", c.aug.zoom_prob, 0, 1, &zp) ||
        !cli_double(&a, "--zoom-min", c.aug.zoom_min, 0.1, 1, &zm) ||
        !cli_double(&a, "--box-zoom", c.aug.box_zoom, 0, 1, &bz) ||
        !cli_double(&a, "--neg-crops", c.aug.neg_crop, 0, 1, &nc) ||
        !cli_double(&a, "--neg-margin", c.aug.neg_margin, 0, 10, &nm) ||
        !cli_double(&a, "--jitter", c.aug.brightness, 0, 1, &jit) ||
        !cli_double(&a, "--mixup", c.mixup, 0, 10, &mix) ||
        !cli_double(&a, "--ema", c.ema, 0, 0.99999, &ema) ||
        !cli_double(&a, "--backbone-lr-mult", c.backbone_lr_mult, 0.001, 10, &blr))
        return CLI_USAGE;
    c.backbone_lr_mult = (float)blr;
    c.mixup = (float)mix;
    c.ema = (float)ema;
    c.aug.scale_min = (float)crop;
    c.aug.zoom_prob = (float)zp, c.aug.zoom_min = (float)zm;
    c.aug.box_zoom = (float)bz, c.aug.neg_crop = (float)nc, c.aug.neg_margin = (float)nm;
    if (bz + nc > 1) {
        cli_error(a.cmd, "--box-zoom %g and --neg-crops %g add up to over 1", bz, nc);
        return CLI_USAGE;
    }
    const char *bzr = cli_get(&a, "--box-zoom-range");
    if (bzr) {
        float lo = 0, hi = 0;
        char tail = 0;
        if (sscanf(bzr, "%f,%f%c", &lo, &hi, &tail) != 2 || !(lo > 0 && lo <= hi && hi <= 1)) {
            cli_error(a.cmd,
                      "--box-zoom-range: expected MIN,MAX with 0 < MIN <= MAX <= 1, got '%s'", bzr);
            return CLI_USAGE;
        }
        c.aug.box_zoom_min = lo, c.aug.box_zoom_max = hi;
    }
    c.aug.brightness = c.aug.contrast = c.aug.saturation = (float)jit;
    if (!c.resume && (c.n_data == 0 || !c.backbone || !c.out)) {
        cli_error(a.cmd, "needs --data DIR, --backbone MODEL and -o OUT.vgm (or --resume CKPT); "
                         "see vigie train --help");
        return CLI_USAGE;
    }
    if (c.resume && (c.n_data || c.backbone || c.out || mode || opt))
        fprintf(stderr, "vigie train: note: with --resume the run's settings come from the "
                        "checkpoint; other options except --threads, --mem-budget and --cache-dir "
                        "are ignored\n");
    const char *sa_env = getenv("VIGIE_STOP_AFTER_STEPS");
    if (sa_env) stop_after = strtol(sa_env, NULL, 10);
    ui u = {cli_flag(&a, "--quiet"), isatty(2) != 0, 0, 0};
    vg_train_hooks h = {&u, on_log, on_progress, on_epoch, should_stop};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    vg_train_result res;
    vg_err err;
    vg_status st = vg_train_run(&c, &h, &res, &err);
    signal(SIGINT, SIG_DFL);
    clear_line(&u);
    if (st == VG_CANCELLED && res.interrupted) {
        fprintf(stderr, "vigie train: interrupted; checkpoint saved to %s\n"
                        "continue with: vigie train --resume %s\n",
                res.checkpoint, res.checkpoint);
        return 130;
    }
    if (st != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return st == VG_CANCELLED ? 130 : CLI_FAIL;
    }
    char t[32];
    fmt_time(res.seconds, t, sizeof t);
    if (res.refit && res.select_epochs_run > 0)
        printf("selection run %s: %d training / %d validation images, %d epochs (best %d); "
               "metrics %s, curves %s\n",
               res.select_model, res.select_n_train, res.n_val, res.select_epochs_run,
               res.best_epoch, res.select_csv, res.select_curves);
    if (res.refit)
        printf("saved %s: %d classes, refit on %d training + validation images for %d epochs, "
               "%s, peak RSS %.0f MB\n",
               res.model, res.n_classes, res.n_train, res.epochs_run, t,
               (double)res.peak_rss / 1048576.0);
    else
        printf("saved %s: %d classes, %d training / %d validation images, %d epochs (best %d), %s, "
               "peak RSS %.0f MB\n",
               res.model, res.n_classes, res.n_train, res.n_val, res.epochs_run, res.best_epoch, t,
               (double)res.peak_rss / 1048576.0);
    if (res.n_val > 0)
        printf("validation%s: accuracy %.3f, alarm threshold %.3f -> alarm recall %.3f, false "
               "alarms %.3f, AUC %.3f\n",
               res.refit ? " (selection run, at its best epoch)" : "", res.val_acc,
               res.alarm_threshold, res.alarm_recall, res.false_alarm_rate, res.auc);
    if (res.n_val > 0) printf("metrics %s, plots %s %s %s\n", res.csv, res.curves, res.confusion, res.roc);
    else printf("metrics %s, plot %s (no validation images: no confusion matrix or ROC)\n", res.csv, res.curves);
    return CLI_OK;
}
