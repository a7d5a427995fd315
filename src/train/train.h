/* train.h — a whole training run, as `vigie train` performs it: dataset, backbone, new head,
 * cache, chunked training under a memory budget, validation, early stopping, best weights,
 * alarm threshold, checkpoints and resume, metrics CSV and plots. Library code: it reports
 * through hooks and never prints; the CLI draws the progress bar. */
#ifndef VG_TRAIN_H
#define VG_TRAIN_H

#include "train/data.h"
#include "train/optim.h"

typedef enum { VG_TRAIN_HEAD = 0, VG_TRAIN_LAST = 1, VG_TRAIN_ALL = 2 } vg_train_mode;

#define VG_TRAIN_MAX_DATA 16

typedef struct {
    /* data: folder-per-class trees and detection exports, each with its own splits, and
     * training-only sources (.extra); see vg_dataset_open */
    vg_source_spec data[VG_TRAIN_MAX_DATA];
    int n_data;
    bool default_lists; /* a tree's splits/{train,val,test}.txt when no list is given */
    float val_fraction; /* for a made-up split */
    /* model */
    const char *backbone; /* .vgm or .tflite */
    const char *out;      /* OUT.vgm; OUT.csv, OUT.curves.png ... next to it */
    vg_train_mode mode;
    int last_n;  /* VG_TRAIN_LAST: inverted-residual blocks that learn */
    int size;    /* input side in pixels, 0 = the backbone's */
    /* optimisation */
    int epochs, batch;
    float lr, weight_decay, momentum, label_smoothing;
    float warmup_epochs, final_lr_frac;
    vg_opt_kind optimizer;
    bool balanced;      /* class-balanced sampling (else class weights in the loss) */
    bool class_weights; /* inverse-frequency class weights in the loss */
    int patience;       /* early stopping on validation loss; 0 = off */
    bool augment;
    vg_augment aug;
    bool tta_flip;        /* the model averages each image with its mirror at inference */
    float mixup;          /* mixup Beta(alpha, alpha) on image pairs; 0 = off */
    float ema;            /* exponential moving average of the weights (e.g. 0.99); 0 = off */
    float backbone_lr_mult; /* learning-rate factor of the pretrained layers (the head: 1) */
    int pool;               /* vg_pool_mode of the new head: 0 avg, 1 max, 2 avg + max */
    double alarm_recall;    /* target alarm recall for the threshold chosen on val: on the val
                               images of every dataset (each gets at least this recall; the
                               lowest of their thresholds), or on their union */
    bool threshold_union;
    const char *no_alarm; /* the class that raises no alarm ("neutral") */
    /* resources */
    size_t mem_budget; /* bytes for the whole process (0 = no limit) */
    int threads;
    const char *cache_dir; /* for the on-disk image cache (NULL: next to OUT) */
    uint64_t seed;
    const char *resume; /* checkpoint to continue from, or NULL */
    /* Fine-tuning a finished classifier (vigie optimize): start from this model (its head and
     * labels, which must be the dataset's classes) instead of backbone + new head. */
    const vg_model *init_model;
    bool keep_last; /* keep the last epoch's weights, not the best validation loss's */
    /* Refit (on by default in `vigie train`): once this run has chosen the epoch count (the
     * best validation loss; all epochs with keep_last) and the alarm threshold on the
     * validation list, a second run starts from the backbone again, trains on train + val
     * with the same schedule, stops after that many epochs and keeps the end, with the
     * chosen threshold. The first run's files get a ".select" infix (OUT.select.vgm,
     * OUT.select.csv, its plots); OUT.vgm is the refit. Skipped (with a note) when there are
     * no validation images; not with init_model. */
    bool refit;
    /* Set by the refit itself and restored from checkpoints: 0 a plain run, 1 the selection
     * run, 2 the refit; stop_epoch > 0 ends the run after that many epochs of the
     * `epochs`-long schedule; fixed_threshold and select_note (the selection run's validation
     * metrics, for the model's metadata) are the selection's. A caller may ask for phase 2
     * itself (with fixed_threshold): train + val, that threshold, e.g. to fine-tune a model
     * that was refit (vigie optimize). */
    int phase;
    int stop_epoch;
    float fixed_threshold;
    const char *select_note;
    /* Knowledge distillation (vigie optimize): the loss targets become
     * distill x teacher's probabilities + (1 - distill) x the (smoothed) label, on the same
     * augmented images; the teacher (same input and classes, e.g. the unpruned float model)
     * runs in float. distill 0 = plain labels. Full / last-N training only. */
    const vg_model *teacher;
    float distill;
    /* called around every optimizer step (pruning masks, weight sharing); step counts from 0
     * to total - 1 */
    void *step_ud;
    void (*pre_step)(void *ud, float *params, float *grads, int64_t step, int64_t total);
    void (*post_step)(void *ud, float *params, int64_t step, int64_t total);
} vg_train_cfg;

/* The defaults of `vigie train` (the recipe documented in the README). */
vg_train_cfg vg_train_cfg_default(void);

/* The configuration as the text checkpoints store and the refit passes on ("key=value" lines,
 * one table of fields drives both; *out is malloc'd), and back: strings point into `text`,
 * which must outlive c; mem_budget, threads, cache_dir and resume are kept from *c. Lines of
 * older checkpoints are read too. VG_ERR_FORMAT for an incomplete or inconsistent text. */
vg_status vg_train_cfg_text(const vg_train_cfg *c, char **out, vg_err *err);
vg_status vg_train_cfg_parse(char *text, vg_train_cfg *c, vg_err *err);

typedef struct {
    const char *phase; /* "caching", "features", "training", "validating" */
    int epoch, epochs; /* 1-based epoch */
    int step, steps;   /* within the phase (batches, images) */
    double loss, acc;  /* running means over the epoch so far (training) */
    double images_per_s, eta_s, lr;
} vg_train_progress;

typedef struct {
    int epoch;
    double train_loss, train_acc, val_loss, val_acc, alarm_recall, false_alarm_rate, auc, lr,
        seconds;
    bool best; /* best validation loss so far: these weights are kept */
} vg_epoch_stats;

typedef struct {
    void *ud;
    void (*log)(void *ud, const char *line);                     /* information, warnings */
    void (*progress)(void *ud, const vg_train_progress *p);      /* often: keep it cheap */
    void (*epoch_end)(void *ud, const vg_epoch_stats *e);
    bool (*should_stop)(void *ud); /* polled between batches; true: checkpoint and return */
} vg_train_hooks;

typedef struct {
    bool interrupted;     /* stopped by should_stop: a checkpoint was written */
    char checkpoint[1024];
    char model[1024], csv[1024], curves[1024], confusion[1024], roc[1024];
    int epochs_run, best_epoch;
    double val_acc, val_loss, alarm_recall, false_alarm_rate, auc;
    float alarm_threshold;
    int n_train, n_val, n_classes, chunk;
    double seconds, images_per_s;
    size_t peak_rss, cache_ram, cache_disk, buffers;
    /* with a refit: the selection run (its validation figures are the ones above; n_train,
     * epochs_run, model, csv and curves are the refit's) */
    bool refit;
    int select_epochs_run, select_n_train;
    char select_model[1024], select_csv[1024], select_curves[1024];
} vg_train_result;

vg_status vg_train_run(const vg_train_cfg *cfg, const vg_train_hooks *hooks, vg_train_result *res,
                       vg_err *err);

#endif
