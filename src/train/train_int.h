/* train_int.h — what the files of a training run share and users of train.h do not need:
 * the growable text buffer (configuration text, CSV) and the configuration as text. */
#ifndef VG_TRAIN_INT_H
#define VG_TRAIN_INT_H

#include "model/model.h"
#include "train/train.h"

typedef struct {
    char *buf;
    size_t n, cap;
    bool oom; /* an addition was lost: the text is incomplete */
} vg_strbuf;

/* printf onto the buffer; on failure the buffer is left as it was and oom set */
void vg_sb_add(vg_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The configuration as text onto b (train_cfg.c; vg_train_cfg_text in train.h allocates). */
void vg_train_cfg_to_text(const vg_train_cfg *c, const vg_train_phase *ph, vg_strbuf *b);

#define MAX_EPOCHS 1000

/* The run's state: what a checkpoint holds besides the model, the configuration and the
 * optimizer. */
typedef struct {
    int epoch, batch; /* next to run */
    int64_t step;     /* optimizer steps done */
    double best_val_loss;
    int best_epoch, bad_epochs;
    double run_loss, run_correct, run_seen; /* sums of the epoch in progress */
    int n_hist;
    vg_epoch_stats hist[MAX_EPOCHS];
} vg_train_state;

/* checkpoint.c: a checkpoint is the model file (atomic write) with chunks TCFG (configuration
 * text), TSTA (state), OPTM (optimizer moments), BEST and EMA (parameter arenas, optional). */
vg_status vg_checkpoint_save(const char *path, const vg_train_cfg *cfg, const vg_train_phase *ph,
                             const vg_train_state *st,
                             const vg_optim *opt, const vg_model *m, const float *best,
                             const float *ema, vg_err *err);

/* Resume: vg_model_load_ex(path, vg_ckpt_chunk, &parts, ...) collects the chunks (allocated:
 * the caller frees cfg_text, optm, best, ema; st points to the caller's state). */
typedef struct {
    char *cfg_text;
    vg_train_state *st;
    bool have_state;
    uint8_t *optm;
    size_t optm_n;
    float *best;
    size_t best_n;
    float *ema;
    size_t ema_n;
} vg_ckpt_parts;
vg_status vg_ckpt_chunk(void *ud, const char tag[4], const uint8_t *data, size_t size, vg_err *err);

/* ---- a training run (train.c; its epoch loops in epochs.c) */

#include "train/trainer.h"

typedef struct {
    const vg_train_cfg *cfg;
    const vg_train_phase *ph; /* where the run stands in the refit sequence */
    const vg_train_hooks *hooks;
    vg_train_result *res;
    vg_dataset *ds;
    vg_model *m;
    vg_cache *tc, *vc;
    vg_train_state st;
    vg_optim opt;
    float *best; /* best parameters (whole arena) */
    float *ema;  /* moving average of the parameters, or NULL */
    float *swap; /* the live parameters while the averaged ones are evaluated */
    vg_param_range ranges[512];
    int n_ranges;
    float *class_w; /* n_classes, or NULL */
    int no_alarm;   /* class index, or -1 */
    int size, chunk, first_trainable, fc_node, logits;
    char ckpt[1024];
    char train_set[2048], val_set[2048]; /* vg_dataset_describe of the training and
                                                validation images (before a refit) */
    bool meta_failed; /* a meta() entry could not be stored: the model is not saved */
    int *guard, n_guard; /* the validation samples before a refit merges them: the rehearsal
                            set's guard (vigie adapt) */
} vg_run;

int vg_run_run_epochs(const vg_run *R);
void vg_run_say(const vg_train_hooks *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool vg_run_stop_requested(const vg_train_hooks *h);
vg_status vg_run_save_checkpoint(vg_run *R, vg_err *err);
vg_status vg_run_predict_cache(vg_run *R, vg_trainer *t, const vg_cache *c, float *probs,
                               int *labels, int *n_out, double *loss, vg_err *err);
vg_status vg_run_write_csv(vg_run *R, vg_err *err);
vg_status vg_run_choose_threshold(const vg_run *R, const float *probs, const int *labels, int nv,
                                  float *out, vg_err *err);
vg_status vg_run_finish(vg_run *R, const float *probs, const int *labels, int nv, vg_err *err);
void vg_run_epoch_done(vg_run *R, vg_epoch_stats *e);
void vg_run_progress(vg_run *R, const char *phase, int epoch, int step, int steps, double lr,
                     double t0, int done_imgs, double eta);
int vg_run_argmax(const float *p, int n);
/* soft targets (targets.c). Mixup: blends each image of the batch x (n images of img floats)
 * with a shuffled partner (perm) into xmix, one Beta(mixup, mixup) lambda per batch keyed by
 * (seed, epoch, batch index), targets and loss weights sw blended alike; returns lambda.
 * Distillation: targets = distill x the teacher's probabilities + (1 - distill) x the smoothed
 * label, sw the class weights. */
float vg_targets_mixup(const vg_train_cfg *c, int epoch, int batch_index, const float *x,
                       const int *labels, int n, size_t img, int C, const float *class_w,
                       int *perm, float *xmix, float *targets, float *sw);
void vg_targets_distill(const vg_train_cfg *c, vg_runner *teacher, const float *x,
                        const int *labels, int n, size_t img, int C, const float *class_w,
                        float *targets, float *sw);
/* the epoch loops (epochs.c): full / last-N training, and head-only on features computed once */
vg_status vg_run_train_full(vg_run *R, vg_err *err);
vg_status vg_run_train_head(vg_run *R, vg_err *err);

#endif
