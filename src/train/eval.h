/* eval.h — classifying a list of dataset images with a model, as `vigie eval` and the report
 * of `vigie optimize` do: one implementation, so that both count the same images the same way.
 *
 * Each image is loaded, classified whole or through tiles (vigie.h, "tiles"; the max rule),
 * and its probabilities and the model class of its label kept as one row. An unreadable image
 * is skipped and reported (on_bad); running out of memory is an error, never a skip (the
 * figures would silently be on other images). Optionally, box-free crops of every boxed image
 * (the negative crops of training, keyed by the image's name) are scored on their own: the
 * false-alarm rate on the scenes around fires. Metrics are the caller's (train/metrics.h). */
#ifndef VG_EVAL_H
#define VG_EVAL_H

#include "train/data.h"

#define VG_EVAL_MAX_SOURCES 16

typedef struct {
    vg_runner_opts runner;    /* threads, precision, unfused (batch follows the tiles) */
    int tile_rows, tile_cols; /* 1x1: the whole image only */
    const uint8_t *is_alarm;  /* per model class, for tiles (max rule) and crops; may be NULL
                                 without either */
    int neg_crops;            /* box-free crops per boxed image, 0: none */
    int no_alarm;             /* crops: an alarm when 1 - p[no_alarm] >= threshold */
    float threshold;
    void (*on_bad)(void *ud, const char *path, const char *msg); /* a skipped image */
    void (*on_progress)(void *ud, int done, int total);          /* after each image */
    void *ud;
} vg_eval_opts;

vg_eval_opts vg_eval_opts_default(void);

typedef struct {
    int n;         /* rows: images classified */
    int skipped;   /* unreadable images */
    int n_classes; /* model outputs */
    float *probs;  /* n x n_classes */
    int *labels;   /* per row: the model class of the image's label */
    int *pos;      /* per row: its position in the idx list given */
    int crops[VG_EVAL_MAX_SOURCES], crop_alarms[VG_EVAL_MAX_SOURCES]; /* per source */
    double seconds; /* wall time of the classification */
} vg_eval_result;

/* Dataset class -> model output, by name, into map[ds->n_classes]; VG_ERR_ARG naming a class
 * the model does not have and the dataset it comes from. */
vg_status vg_eval_class_map(const vg_model *m, const vg_dataset *ds, int *map, vg_err *err);

/* Classifies ds->samples[idx[i]], i < n (see above). VG_ERR_ARG for a dataset class the model
 * lacks, tiles without is_alarm, more sources than VG_EVAL_MAX_SOURCES with crops; the
 * runner's and loader's errors; VG_ERR_NOMEM. res is filled (free it) on VG_OK only. */
vg_status vg_eval_classify(const vg_model *m, const vg_dataset *ds, const int *idx, int n,
                           const vg_eval_opts *o, vg_eval_result *res, vg_err *err);
void vg_eval_result_free(vg_eval_result *res);

#endif
