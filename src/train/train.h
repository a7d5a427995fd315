/* train.h — what the library adds to vigie.h's training entry point for its own callers: the
 * refit's place in a run (selection, refit) and the configuration as checkpoint text. The
 * public part (vg_train_cfg, hooks, result, vg_train_run) is in vigie.h. */
#ifndef VG_TRAIN_H
#define VG_TRAIN_H

#include "train/data.h"
#include "train/optim.h"

/* Where a run stands in the refit sequence (see vg_train_cfg.refit). Not configuration: the
 * refit sets it for its second run, checkpoints record it so a resumed run continues in the
 * same place, and a caller may ask for a refit directly (fine-tuning a model that was refit,
 * vigie optimize). */
typedef struct {
    int phase;             /* 0 a plain run, 1 the selection run, 2 the refit */
    int stop_epoch;        /* > 0: the run ends after that many epochs of its `epochs`-long
                              schedule (the selection's best epoch) */
    float fixed_threshold; /* the refit's alarm threshold (the selection's; -1: none) */
    const char *select_note; /* the selection run's validation metrics, for the metadata */
} vg_train_phase;

/* phase 0, no stop epoch, no threshold */
vg_train_phase vg_train_phase_none(void);

/* The configuration and phase as the text checkpoints store and the refit passes on
 * ("key=value" lines, one table of fields drives both; *out is malloc'd), and back: strings
 * point into `text`, which must outlive c and ph; mem_budget, threads, cache_dir and resume
 * are kept from *c. Lines of older checkpoints are read too. VG_ERR_FORMAT for an incomplete
 * or inconsistent text. */
vg_status vg_train_cfg_text(const vg_train_cfg *c, const vg_train_phase *ph, char **out,
                            vg_err *err);
vg_status vg_train_cfg_parse(char *text, vg_train_cfg *c, vg_train_phase *ph, vg_err *err);

/* vg_train_run in a given phase: phase 2 with a fixed threshold trains on train + val and
 * keeps that threshold (no selection run). ph NULL: vg_train_run. */
vg_status vg_train_run_phase(const vg_train_cfg *cfg, const vg_train_phase *ph,
                             const vg_train_hooks *hooks, vg_train_result *res, vg_err *err);

#endif
