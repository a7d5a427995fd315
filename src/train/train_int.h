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
void vg_train_cfg_to_text(const vg_train_cfg *c, vg_strbuf *b);

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
vg_status vg_checkpoint_save(const char *path, const vg_train_cfg *cfg, const vg_train_state *st,
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

#endif
