/* calib.h — post-training int8 quantization of a float model: activation ranges measured on
 * calibration images (calibrators minmax, percentile, entropy), per-channel symmetric int8
 * weights, int32 biases with bias correction, giving the model the same int8 form (vg_qgraph)
 * an imported int8 TFLite model has, so it runs through the same integer kernels.
 *
 * Calibration runs the float model once or twice over the images (twice for percentile and
 * entropy: first the range of every tensor, then a histogram over it). Its result, the
 * calibration table (a range per tensor and the mean of every channel), is saved as text and
 * can be reused; it carries the model's content hash and is refused for another model. */
#ifndef VG_CALIB_H
#define VG_CALIB_H

#include "model/model.h"

/* vg_calibrator, vg_calibrator_name and vg_calibrator_parse are in vigie.h. */

#define VG_CALIB_BINS 2048

typedef struct {
    uint64_t model_hash;
    vg_calibrator calibrator;
    float percentile; /* for VG_CALIB_PERCENTILE, e.g. 99.99 */
    int n_images;
    int n_tensors;
    float *lo, *hi;     /* chosen range of every tensor (lo <= 0 <= hi) */
    float *min, *max;   /* observed extremes */
    int64_t *mean_off;  /* per tensor: offset into mean[], or -1 */
    int *mean_c;        /* per tensor: channels */
    double *mean;       /* per-channel mean of each tensor over all pixels and images */
    double *msq;        /* per-channel mean of the squares (same layout), for variances */
    int64_t n_mean;
} vg_calib_table;

void vg_calib_table_free(vg_calib_table *t);

/* Content hash of a model (graph, parameters, input spec): what a calibration table is for. */
uint64_t vg_model_hash(const vg_model *m);

/* Supplies calibration image i (0-based) as the model's float input (h*w*c, normalised).
 * Returns VG_OK, or an error that stops the calibration. */
typedef vg_status (*vg_calib_fetch)(void *ud, int i, float *input, vg_err *err);
typedef void (*vg_calib_progress)(void *ud, int done, int total);

/* Runs the float model over n images and fills the table. `threads` for the runner. */
vg_status vg_calibrate(const vg_model *m, int n, vg_calib_fetch fetch, void *ud,
                       vg_calibrator kind, float percentile, int threads,
                       vg_calib_progress progress, void *pud, vg_calib_table *out, vg_err *err);

/* The calibration table as text (atomic write) and back; load refuses a table whose model
 * hash differs from `expect_hash` (0: accept any). */
vg_status vg_calib_table_save(const vg_calib_table *t, const char *path, vg_err *err);
vg_status vg_calib_table_load(const char *path, uint64_t expect_hash, vg_calib_table *t,
                              vg_err *err);

/* Range choice from a histogram of |x| (bins over [0, amax]): the threshold that minimises the
 * KL divergence between the clipped distribution and its quantization to `levels` levels
 * (TensorRT's entropy calibration). Exposed for tests. */
float vg_calib_entropy_threshold(const double *hist, int bins, float amax, int levels);

/* Builds m->q (replacing any) from the table: activations per tensor from the ranges, weights
 * per output channel symmetric int8, biases int32. With bias_correct, each layer's bias
 * absorbs the expected output shift its weight rounding causes (mean input per channel x
 * weight error, summed over the taps). Needs a graph the integer path runs: CONV, DWCONV, FC,
 * ADD, GAP and a final SOFTMAX (fold batch-norm first). */
vg_status vg_model_quantize(vg_model *m, const vg_calib_table *t, bool bias_correct, vg_err *err);

#endif
