/* rehearsal.h — the rehearsal set of `vigie adapt`, carried in the model file: feature vectors
 * (the classifier's input) of a class-balanced sample of the training images, and of the
 * validation images the guard measures recall on, in half precision, with their classes.
 * With it a model adapts without its training data, in seconds (no image decoded but the
 * feedback's).
 *
 * Chunk "RHRS" of a .vgm (readers that do not know it skip it), little-endian:
 *     u32 version (1)  u32 d  u32 n  u32 n_classes  f32 probe[16]
 *     n x (u8 class, u8 flags: 1 = guard)  n x d x f16 features
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
    uint16_t *f;    /* n x d, half precision */
    float probe[VG_REHEARSAL_PROBE];
} vg_rehearsal;

void vg_rehearsal_free(vg_rehearsal *r);

/* The feature part of a classifier ending in fully-connected + softmax: its graph before the
 * FC node (*fc gets that node's index). VG_ERR_UNSUPPORTED for any other model. */
vg_status vg_feature_model(const vg_model *m, vg_model **fm, int *fc, vg_err *err);

/* The probe of a feature model (runner of batch 1, float). */
void vg_rehearsal_probe(vg_runner *fr, const vg_model *fm, float probe[VG_REHEARSAL_PROBE]);

/* Appends one row (features as floats, d of them). */
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
 * with seed) of the training samples train[n_train], and every guard[n_guard] sample, each
 * image whole (resized as vigie predict does) through m's feature part in float; classes
 * matched by name. Unreadable images are reported and skipped. fm and fr: the feature part
 * (vg_feature_model) and a float runner of it when the caller has them, else NULL (made
 * here, with `threads`). */
vg_status vg_rehearsal_build(const vg_model *m, const vg_model *fm, vg_runner *fr,
                             const vg_dataset *ds, const int *train, int n_train, const int *guard,
                             int n_guard, int per_class, uint64_t seed, int threads,
                             const vg_rehearsal_hooks *h, vg_rehearsal *out, vg_err *err);

float vg_half_to_float(uint16_t h);
uint16_t vg_float_to_half(float f);

#endif
