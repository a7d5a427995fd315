/* cmd_adapt.c — `vigie adapt MODEL --feedback DIR [--feedback DIR]... --data DIR -o OUT`: a
 * trained model learns from the user's feedback (false alarms in DIR/neutral/, missed fires
 * in DIR/fire/ or DIR/smoke/) with a rehearsal of its training data; the guard refuses an
 * update that would cost alarm recall. Options into a vg_adapt_cfg, vg_adapt_run, the report
 * printed; everything else is in src/train/adapt.c. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt opts[] = {
    {"--feedback", "DIR",
     "feedback, folder per class (repeatable): neutral/ false alarms (the "
     "watch's \"false alarm\" button writes them), fire/ or smoke/ missed fires"},
    {"--data", "DIR",
     "the model's training data, for the rehearsal and the guard (repeatable, "
     "as vigie train took it): a folder per class with splits/train.txt and "
     "val.txt, or a YOLO / Roboflow export"},
    {"--train-list", "FILE",
     "the training list of the --data before it (default "
     "DIR/splits/train.txt)"},
    {"--val-list", "FILE",
     "the validation list of the --data before it (default "
     "DIR/splits/val.txt)"},
    {"-o", "OUT",
     "the adapted model, of MODEL's kind: .vgm, or .vge for an engine (written "
     "atomically)"},
    {"--rehearsal", "N", "training images per class rehearsed (default 100)"},
    {"--guard", "N",
     "validation images per class the guard measures (default 0: all of them; an engine "
     "made to ship keeps its file small with fewer)"},
    {"--views", "N",
     "views of every feedback image: the whole image and N-1 augmented (default 16)"},
    {"--steps", "N",
     "training steps of the classifier, at most (default 300; it stops once the "
     "feedback is learnt)"},
    {"--lr", "X", "step size: a logit moves by about X times its gradient per step (default 0.2)"},
    {"--max-recall-drop", "D",
     "refuse the update when alarm recall on the validation positives "
     "would fall by more than D (default 0.01)"},
    {"--seed", "N", "random seed of the rehearsal sample and the views (default 1)"},
    {"--threads", "N", "worker threads (default 2)"},
    {"--list", NULL,
     "with --config: list the models live adaptation made (vigie watch --config with "
     "feedback: {auto_adapt: true}), the one in use marked"},
    {"--rollback", NULL,
     "with --config: go back to the model before the one in use (or --to ID); the service "
     "takes it at its next reload"},
    {"--to", "ID",
     "with --rollback: this model (an id --list shows; \"base\": the configured one)"},
    {"--config", "FILE", "the service's configuration (its model and feedback folder)"},
};

/* --list / --rollback: the service's adapted models (FEEDBACK_DIR/models/) */
static int models(const cli_args *a) {
    const char *path = cli_get(a, "--config");
    if (!path) {
        cli_error(a->cmd, "--list and --rollback need --config FILE (the service's)");
        return CLI_USAGE;
    }
    vg_service_cfg cfg;
    vg_err err;
    if (vg_service_cfg_load(path, &cfg, &err) != VG_OK) {
        cli_error(a->cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (!cfg.feedback_dir) {
        cli_error(a->cmd, "%s has no feedback folder (feedback: {dir: ...})", path);
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK && cli_flag(a, "--rollback")) {
        char chosen[VG_WATCH_MODEL_ID];
        if (vg_adapted_select(cfg.feedback_dir, cfg.model, cli_get(a, "--to"), chosen,
                              sizeof chosen, &err) != VG_OK) {
            cli_error(a->cmd, "%s", err.msg);
            rc = CLI_FAIL;
        } else {
            printf("model %s selected: the service takes it at its next reload (systemctl "
                   "reload vigie, or kill -HUP)\n",
                   chosen);
        }
    }
    vg_adapted_model *list = rc == CLI_OK ? malloc(sizeof *list * 1024) : NULL;
    int n = list ? vg_adapted_list(cfg.feedback_dir, cfg.model, list, 1024, &err) : 0;
    if (rc == CLI_OK && n < 0) {
        cli_error(a->cmd, "%s", err.msg);
        rc = CLI_FAIL;
    }
    bool any = false;
    for (int i = 0; i < n; i++)
        any |= list[i].current;
    if (rc == CLI_OK) printf("%s %s (configured: %s)\n", any ? " " : "*", "base", cfg.model);
    for (int i = 0; rc == CLI_OK && i < n; i++)
        printf("%s %s  %s  %s\n", list[i].current ? "*" : " ", list[i].id, list[i].date,
               list[i].learnt);
    free(list);
    vg_service_cfg_free(&cfg);
    return rc;
}

static void on_log(void *ud, const char *line) {
    cli_error((const char *)ud, "%s", line);
}

static void on_progress(void *ud, const char *what, int done, int total) {
    (void)ud;
    if (isatty(2) && (done == total || done % 50 == 0))
        fprintf(stderr, "\rvigie adapt: images %d / %d (%s)   %s", done, total, what,
                done == total ? "\n" : "");
}

int cmd_adapt(int argc, char **argv) {
    cli_args a = {
        .cmd = "adapt",
        .synopsis = "MODEL --feedback DIR [--feedback DIR]... [--data DIR [--data DIR]...] -o OUT",
        .summary = "Teaches a trained model the user's own feedback in seconds: the frames it\n"
                   "raised false alarms on (DIR/neutral/), and fires it missed (DIR/fire/,\n"
                   "DIR/smoke/). Only the classifier learns, on features computed once, each\n"
                   "feedback image in several augmented views, together with a rehearsal of\n"
                   "the model's training data (--data) so that it forgets nothing. The alarm\n"
                   "threshold is kept. The guard: when alarm recall on --data's validation\n"
                   "positives would fall by more than --max-recall-drop, the update is refused\n"
                   "and nothing is written (exit status 1). The adapted model carries its\n"
                   "rehearsal set (half-precision features, int8 codes for an engine):\n"
                   "adapting it again needs no --data. With --data and no --feedback, only that\n"
                   "set is stored. An int8 engine (.vge, e.g. models/fire.vge) adapts as it\n"
                   "runs: integer features, the classifier requantized, an engine written.\n"
                   "vigie adapt --list|--rollback [--to ID] --config FILE: the models the\n"
                   "service adapted live (feedback: {auto_adapt: true}), and going back.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 0,
        .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    if (cli_flag(&a, "--list") || cli_flag(&a, "--rollback")) return models(&a);
    if (a.n_pos != 1) {
        cli_error(a.cmd, "needs MODEL (see vigie adapt --help)");
        return CLI_USAGE;
    }
    vg_adapt_cfg c = vg_adapt_cfg_default();
    const char *fb[VG_ADAPT_MAX_FEEDBACK];
    c.n_feedback = cli_all(&a, "--feedback", fb, VG_ADAPT_MAX_FEEDBACK);
    c.feedback = fb;
    c.model = a.pos[0];
    static const char *const list_opts[3] = {"--train-list", "--val-list", NULL};
    c.n_data = cli_sources(&a, "--data", list_opts, NULL, c.data, VG_TRAIN_MAX_DATA);
    if (c.n_data < 0) return CLI_USAGE;
    c.output = cli_get(&a, "-o");
    long rehearsal, guard, views, steps, seed, threads;
    double drop, lr;
    if (!cli_int(&a, "--rehearsal", c.rehearsal, 1, 100000, &rehearsal) ||
        !cli_int(&a, "--guard", c.guard, 0, 100000, &guard) ||
        !cli_int(&a, "--views", c.views, 1, 256, &views) ||
        !cli_int(&a, "--steps", c.steps, 1, 100000, &steps) ||
        !cli_int(&a, "--seed", 1, 0, 1L << 30, &seed) ||
        !cli_int(&a, "--threads", 2, 1, 256, &threads) ||
        !cli_double(&a, "--max-recall-drop", c.max_recall_drop, 0, 1, &drop) ||
        !cli_double(&a, "--lr", c.lr, 1e-6, 100, &lr))
        return CLI_USAGE;
    if ((c.n_feedback < 1 && c.n_data < 1) || !c.output) {
        cli_error(a.cmd, "needs --feedback DIR (and --data DIR unless the model carries its "
                         "rehearsal set), or --data DIR alone, and -o OUT (see vigie adapt "
                         "--help)");
        return CLI_USAGE;
    }
    c.rehearsal = (int)rehearsal, c.guard = (int)guard, c.views = (int)views, c.steps = (int)steps;
    c.seed = (uint64_t)seed, c.threads = (int)threads, c.max_recall_drop = (float)drop;
    c.lr = (float)lr;
    vg_adapt_hooks h = {on_log, on_progress, (void *)a.cmd};
    vg_adapt_report r;
    vg_err err;
    vg_status st = vg_adapt_run(&c, &h, &r, &err);
    if (st == VG_OK && c.n_feedback == 0) {
        printf("stored the rehearsal set: %d training and %d validation images, %.1f MB\n",
               r.n_rehearsal, r.n_val, (double)r.rehearsal_bytes / 1048576.0);
        printf("time %.1f s, peak RSS %.0f MB\nwrote %s\n", r.seconds,
               (double)r.peak_rss / 1048576.0, c.output);
        return CLI_OK;
    }
    if (st == VG_OK || r.refused) {
        printf("feedback: %d false-alarm and %d missed-fire images, %d views; rehearsal %d "
               "images, guard %d validation images (%d positives, %d neutral)%s\n",
               r.n_neutral, r.n_alarm, r.n_views, r.n_rehearsal, r.n_val, r.val_pos, r.val_neg,
               r.rehearsal_stored ? ", from the model file" : "");
        printf("at the model's threshold %.3f        before   after\n", (double)r.threshold);
        printf("  feedback false alarms still raised  %4d  %4d  of %d\n", r.fb_false_before,
               r.fb_false_after, r.n_neutral);
        printf("  feedback missed fires now raised    %4d  %4d  of %d\n", r.fb_hits_before,
               r.fb_hits_after, r.n_alarm);
        printf("  validation alarm recall            %.3f %.3f  (%d positives)\n",
               r.val_pos ? (double)r.val_hits_before / r.val_pos : 0,
               r.val_pos ? (double)r.val_hits_after / r.val_pos : 0, r.val_pos);
        printf("  validation false-alarm rate        %.3f %.3f  (%d neutral)\n",
               r.val_neg ? (double)r.val_false_before / r.val_neg : 0,
               r.val_neg ? (double)r.val_false_after / r.val_neg : 0, r.val_neg);
        printf("time %.1f s (features %.1f s, training %.2f s, %d steps), peak RSS %.0f MB\n",
               r.seconds, r.seconds_features, r.seconds_train, r.steps,
               (double)r.peak_rss / 1048576.0);
    }
    if (st != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    printf("wrote %s\n", c.output);
    return CLI_OK;
}
