/* rehearsal.h — the rehearsal set of `vigie adapt`, carried in the model file: feature vectors
 * (the classifier's input) of a class-balanced sample of the training images, and of the
 * validation images the guard measures recall on, in half precision, with their classes.
 * With it a model adapts without its training data, in seconds (no image decoded but the
 * feedback's).
 *
 * Chunk "RHRS" of a .vgm or .vge (readers that do not know it skip it), little-endian:
 *     u32 version  u32 d  u32 n  u32 n_classes  f32 probe[16]
 *     version 2 only: f32 scale  i32 zero point
 *     n x (u8 class, u8 flags: 1 = guard)  then the features, n x d of them:
 *     version 1: f16 (a float model's features)
 *     version 2: int8 codes, feature = (code - zero point) x scale: an int8 engine's features
 *                are such codes (the pooled tensor's quantization), so this is exact and
 *                half the size (the shipped engine has a size budget)
 * The probe is the feature vector of a fixed synthetic picture through the model's input
 * conversion: a set made with another backbone or normalisation (features that would mean
 * nothing to this classifier) is refused. */
#ifndef VG_TRAIN_REHEARSAL_H
#define VG_TRAIN_REHEARSAL_H

#include "train/data.h"

#define VG_REHEARSAL_TAG      "RHRS"
#define VG_REHEARSAL_PROBE    16
#define VG_REHEARSAL_MAX_ROWS 200000

typedef struct {
    int d, n, n_classes;
    int cap;        /* rows allocated */
    uint8_t *label; /* n: the model's class index */
    uint8_t *guard; /* n: 1 = a validation image (the guard), 0 = a training image (rehearsed) */
    uint16_t *f;    /* n x d, half precision (q8 false), else NULL */
    int8_t *f8;     /* n x d int8 codes (q8 true), else NULL */
    bool q8;        /* features as int8 codes of (scale, zp) */
    float scale;
    int32_t zp;
    float probe[VG_REHEARSAL_PROBE];
} vg_rehearsal;

/* Row i's features as floats (d of them). */
void vg_rehearsal_row(const vg_rehearsal *r, int i, float *out);

void vg_rehearsal_free(vg_rehearsal *r);

/* The feature part of a classifier ending in fully-connected + softmax: its graph before the
 * FC node (*fc gets that node's index), with its int8 form when the model has one.
 * VG_ERR_UNSUPPORTED for any other model. */
vg_status vg_feature_model(const vg_model *m, vg_model **fm, int *fc, vg_err *err);

/* The precision features are computed in: the model's own (int8 when it has an int8 form,
 * as vigie watch runs it). */
vg_precision vg_feature_precision(const vg_model *fm);

/* The probe of a feature model (runner of batch 1, at vg_feature_precision). */
void vg_rehearsal_probe(vg_runner *fr, const vg_model *fm, float probe[VG_REHEARSAL_PROBE]);

/* Appends one row (features as floats, d of them; rounded to the set's codes when q8). */
vg_status vg_rehearsal_add(vg_rehearsal *r, const float *f, int label, bool guard, vg_err *err);

/* Chunk payload <-> set. decode checks every count and size (a hostile file gets an error). */
vg_status vg_rehearsal_encode(const vg_rehearsal *r, uint8_t **buf, size_t *n, vg_err *err);
vg_status vg_rehearsal_decode(const uint8_t *p, size_t n, vg_rehearsal *out, vg_err *err);
/* Whether the set belongs to this model: feature size, classes, and the probe within 1e-3
 * relative (a set computed with another backbone is refused, naming the way out). */
vg_status vg_rehearsal_check(const vg_rehearsal *r, const float probe[VG_REHEARSAL_PROBE], int d,
                             int n_classes, vg_err *err);

typedef struct {
    void (*bad)(void *ud, const char *path, const char *msg); /* an image skipped */
    void (*progress)(void *ud, int done, int total);
    void *ud;
} vg_rehearsal_hooks;

/* The set of classifier m from dataset ds: a class-balanced sample (per_class at most, drawn
 * with seed) of the training samples train[n_train], and of the guard[n_guard] samples
 * (guard_per_class at most; 0: every one), each image whole (resized as vigie predict does)
 * through m's feature part at vg_feature_precision (int8 features are stored as their codes);
 * classes matched by name. Unreadable images are reported and skipped. fm and fr: the feature
 * part (vg_feature_model) and a runner of it at that precision when the caller has them, else
 * NULL (made here, with `threads`). */
vg_status vg_rehearsal_build(const vg_model *m, const vg_model *fm, vg_runner *fr,
                             const vg_dataset *ds, const int *train, int n_train, const int *guard,
                             int n_guard, int per_class, int guard_per_class, uint64_t seed,
                             int threads, const vg_rehearsal_hooks *h, vg_rehearsal *out,
                             vg_err *err);

/* Records the stored set in the model's metadata (adapt_rehearsal: "N training and M
 * validation images, B bytes"), as adapt --data and optimize write it; `line` (nullable, n
 * bytes) gets the same text. */
vg_status vg_rehearsal_note(vg_model *m, const vg_rehearsal *r, size_t bytes, char *line, size_t n,
                            vg_err *err);

float vg_half_to_float(uint16_t h);
uint16_t vg_float_to_half(float f);

#endif
