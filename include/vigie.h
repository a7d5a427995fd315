/* vigie.h — public API of libvigie, a small C11 engine that runs (and later trains and
 * compresses) MobileNetV2-style image classifiers on edge computers.
 *
 * This header is the manual. Everything the `vigie` command line does goes through it.
 *
 * QUICK START
 *     vg_err err;
 *     vg_model *m = NULL;
 *     if (vg_model_load("fire.vgm", &m, &err) != VG_OK) { fprintf(stderr, "%s\n", err.msg); ... }
 *     vg_runner *r = NULL;
 *     vg_runner_opts ro = vg_runner_opts_default();
 *     vg_runner_init(&r, m, &ro, &err);
 *     vg_image img;
 *     vg_image_load("frame.jpg", &img, &err);
 *     float probs[VG_MAX_CLASSES];
 *     vg_runner_classify(r, &img, probs, &err);  // probs[i] belongs to vg_model_label(m, i)
 *     vg_image_free(&img); vg_runner_free(r); vg_model_free(m);
 *
 * ERRORS
 *     Every fallible function returns a vg_status and, when `err` is not NULL, fills it with a
 *     one-line human message ("model.vgm: truncated at byte 4096: expected 1280x3 weights").
 *     The library never prints, never exits and never aborts on bad input; a failed
 *     consistency check of the library itself (a bug) stops the process with a message
 *     (VG_ASSERT), also in release builds.
 *
 * OWNERSHIP
 *     Objects returned through `T **out` are owned by the caller and released with the
 *     matching vg_T_free(); vg_T_free(NULL) is a no-op. A vg_runner borrows its model: free
 *     the runner before the model. Strings returned by the library live as long as their
 *     owner object.
 *
 * THREADS
 *     A model is read-only once loaded and may be shared by several runners. A runner is used
 *     by one thread at a time; it may use a pool of worker threads internally
 *     (vg_runner_opts.threads), and its results do not depend on the number of threads.
 *
 * FILES
 *     .vgm   native model: architecture, labels, input normalisation, float weights, CRC.
 *            Written atomically (temporary file, fsync, rename), validated on load.
 *     .vge   engine (from `vigie optimize`): the same container, weights in compact lossless
 *            encodings (int8 bytes, codebook + bit-packed indices, sparse bitmaps); loads with
 *            vg_model_load / vg_model_open like a .vgm.
 *     .tflite TensorFlow Lite flatbuffer, imported with vg_import_tflite().
 */
#ifndef VIGIE_H
#define VIGIE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VG_VERSION_STRING "0.1.0"

/* ---- status and errors ------------------------------------------------------------------- */

typedef enum {
    VG_OK = 0,
    VG_ERR_ARG,         /* invalid argument from the caller */
    VG_ERR_IO,          /* file could not be opened, read or written */
    VG_ERR_FORMAT,      /* file is corrupt, truncated or not what it claims to be */
    VG_ERR_UNSUPPORTED, /* valid input that this version cannot handle */
    VG_ERR_NOMEM,       /* allocation failed or a size limit was exceeded */
} vg_status;

#define VG_ERR_MSG_SIZE 512

typedef struct {
    vg_status status;
    char msg[VG_ERR_MSG_SIZE];
} vg_err;

/* Short name of a status ("format error", ...). Never NULL. */
const char *vg_status_name(vg_status s);

/* Fault injection, for tests (as SQLite's): after vg_fail_alloc(n), the n-th allocation the
 * library makes from then on fails as if memory had run out (once; the others succeed);
 * vg_fail_alloc(0) turns it off. vg_alloc_count() is the number of allocations since the last
 * vg_fail_alloc call. Every path out of a failed allocation must end in VG_ERR_NOMEM (or a
 * status it causes) with everything released: tests/alloc_test.sh checks it for every n.
 * Allocations inside other libraries (libjpeg, FFmpeg...) are not counted. */
void vg_fail_alloc(long n);
long vg_alloc_count(void);

/* ---- images ------------------------------------------------------------------------------- */

/* An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B, no padding. */
typedef struct {
    int w, h;
    uint8_t *rgb; /* w*h*3 bytes, owned; free with vg_image_free() */
} vg_image;

/* Largest width or height accepted by the decoders; larger images are rejected with
 * VG_ERR_UNSUPPORTED instead of being allowed to exhaust memory. */
#define VG_IMAGE_MAX_DIM 16384
#define VG_IMAGE_MAX_PIXELS (100u * 1000u * 1000u)

/* Decodes a JPEG, PNG or BMP file (format found from its first bytes, not its name).
 * Grayscale and palette images become RGB; an alpha channel is dropped. On failure `img` is
 * left empty ({0}). */
vg_status vg_image_load(const char *path, vg_image *img, vg_err *err);
/* Same, from memory. `name` is only used in error messages. */
vg_status vg_image_decode(const void *data, size_t size, const char *name, vg_image *img,
                          vg_err *err);
void vg_image_free(vg_image *img);

/* Resizes `src` to w x h into `dst` (allocated here). Bilinear interpolation with
 * half-pixel centres; when shrinking by 3x or more along an axis, area averaging instead
 * (every source pixel contributes, so small bright details do not alias away). */
vg_status vg_image_resize(const vg_image *src, int w, int h, vg_image *dst, vg_err *err);

/* ---- models ------------------------------------------------------------------------------- */

typedef struct vg_model vg_model;

#define VG_MAX_CLASSES 4096

/* How a model wants its input: the image is resized as a whole to w x h (no crop), then each
 * channel becomes (pixel - mean[c]) / std[c]. Stored in the model file. */
typedef struct {
    int w, h, c;
    float mean[3];
    float std[3];
} vg_input_spec;

typedef struct {
    vg_input_spec input;
    int n_classes;      /* outputs of the classifier */
    int has_labels;     /* 1 when the model names its classes, else labels are "class_<i>" */
    int n_layers;       /* nodes of the graph (conv, depthwise, add, pool, ...) */
    int64_t n_params;   /* float parameters */
    int64_t flops;      /* multiply-adds x 2 for one image at the input size */
    int64_t file_bytes; /* size of the file it was loaded from (0 if built in memory) */
    const char *source; /* where the weights came from, e.g. the imported file name */
    int has_int8;       /* the model carries an int8 form (integer kernels) */
    int64_t int8_weight_bytes; /* its int8 weights + int32 biases + scales */
    /* engine files (.vge, from `vigie optimize`): where the file's bytes go */
    int is_engine;
    int64_t eng_f32_bytes, eng_int8_bytes, eng_cluster_bytes; /* weights by storage */
    int64_t eng_other_bytes;                                  /* biases, int8 tables, header */
    int eng_f32_layers, eng_int8_layers, eng_cluster_layers, eng_sparse_layers;
    int eng_huff_layers; /* clustered layers whose indices are Huffman-coded */
    int max_distinct;   /* clustered layers: most shared values (codebook entries) in use in
                           one layer; each output channel scales them (engines only) */
    double sparsity;    /* zero share of the conv / fc weights (engines only) */
} vg_model_info;

/* Loads and validates a .vgm file: magic, version, every length against the file size,
 * every graph reference, the checksum, and a dry shape inference. */
vg_status vg_model_load(const char *path, vg_model **out, vg_err *err);
/* Opens a model file by its contents: a .vgm is loaded, a TensorFlow Lite file imported. */
vg_status vg_model_open(const char *path, vg_model **out, vg_err *err);
/* Writes a .vgm atomically: a crash or a full disk leaves any existing file untouched. */
vg_status vg_model_save(const vg_model *m, const char *path, vg_err *err);
void vg_model_free(vg_model *m);

void vg_model_get_info(const vg_model *m, vg_model_info *info);
/* The alarm rule stored by `vigie train`: an image raises an alarm when the probability of
 * every class but `no_alarm` (e.g. p(fire) + p(smoke)) reaches `threshold`. Returns 0 when the
 * model has none (e.g. an ImageNet backbone). */
int vg_model_alarm(const vg_model *m, int *no_alarm, float *threshold);

/* Free-form metadata entry i (0-based, in file order: where the weights came from, the
 * training recipe, the validation figures...): sets *key and *value (owned by the model) and
 * returns 1, or returns 0 when i is out of range. */
int vg_model_meta_at(const vg_model *m, int i, const char **key, const char **value);

/* Label of output i, or a generated "class_<i>" when the model has no labels. */
const char *vg_model_label(const vg_model *m, int i);
/* Replaces the labels with the lines of a text file (one per class, blank lines kept as
 * empty labels are not allowed). The count must equal the number of outputs. */
vg_status vg_model_set_labels_file(vg_model *m, const char *path, vg_err *err);

/* One line per layer into `buf` ("  3 conv 3x3/2  32->32  112x112  864 params"), for `vigie
 * info`. Returns the number of characters needed (like snprintf). */
size_t vg_model_describe_layers(const vg_model *m, char *buf, size_t size);

/* ---- import ------------------------------------------------------------------------------- */

/* Imports a TensorFlow Lite MobileNet-style classifier. Quantized weights (uint8 per-tensor,
 * int8 per-channel, int32 bias) are dequantized to float; BN is expected folded. Supported
 * ops: CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D (global), MEAN (spatial), RESHAPE,
 * SQUEEZE, FULLY_CONNECTED, SOFTMAX, QUANTIZE, DEQUANTIZE. Input normalisation comes from the
 * input tensor's quantization (uint8 q with scale s, zero z: mean z, std 1/s), or [-1, 1]
 * for float models. Any other op is reported by name with VG_ERR_UNSUPPORTED. */
vg_status vg_import_tflite(const char *path, vg_model **out, vg_err *err);
vg_status vg_import_tflite_mem(const void *data, size_t size, const char *name, vg_model **out,
                               vg_err *err);

/* ---- inference ---------------------------------------------------------------------------- */

typedef struct vg_runner vg_runner;

typedef enum {
    VG_PRECISION_AUTO = 0,  /* int8 when the model has an int8 form, else float */
    VG_PRECISION_FLOAT = 1, /* float32 kernels */
    VG_PRECISION_INT8 = 2,  /* integer kernels (error if the model has no int8 form) */
} vg_precision;

typedef struct {
    int threads;  /* worker threads, >= 1 (default 1) */
    int batch;    /* images per forward pass, >= 1 (default 1) */
    vg_precision precision;
    int unfused;  /* 1: run every layer on its own (no conv + add / conv + depthwise fusion), for
                   * A/B comparisons; results are the same within float rounding. Default 0. */
} vg_runner_opts;

vg_runner_opts vg_runner_opts_default(void);

/* The kernel set of the whole process, for A/B comparisons: NULL or "" = the fastest this CPU
 * has (the default), "ref" (the scalar reference kernels, the specification), "scalar",
 * "avx2" (also the AVX2 int8 kernels on an AVX-512 machine), "avx512", "neon". VG_ERR_ARG,
 * naming the sets this CPU has, for any other name. Process-wide because the int8 kernel
 * family is: call it before creating runners or training (plans made earlier keep their
 * kernels). Thread-safe; the CPU itself is probed once per process. */
vg_status vg_set_kernels(const char *name, vg_err *err);
/* The name of the float kernel set runners use now ("avx512", "neon", ...). */
const char *vg_kernels_name(void);

/* Plans the forward pass of `m` at its input size: shapes, activation buffers (reused by
 * liveness), workspace. */
vg_status vg_runner_init(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                         vg_err *err);
void vg_runner_free(vg_runner *r);

/* Resizes, normalises and classifies one image: probs gets n_classes probabilities. */
vg_status vg_runner_classify(vg_runner *r, const vg_image *img, float *probs, vg_err *err);

/* Raw forward pass. input: (batch, h, w, c) floats, already normalised; output:
 * (batch, n_classes). Cannot fail once the runner exists. */
void vg_runner_forward(vg_runner *r, const float *input, float *output);

/* Per-layer profile: vg_runner_profile(r, 1) resets and starts accumulating the time of every
 * layer over the following forward passes; vg_runner_layer_stats() reads it. */
typedef struct {
    char kind[32];        /* "conv 3x3/2", "dwconv 3x3/1", "pointwise", "add", ... */
    int in_h, in_w, in_c; /* input of the layer (per image) */
    int out_h, out_w, out_c;
    int64_t flops;        /* per image */
    double seconds;       /* accumulated */
    int calls;
} vg_layer_stat;

void vg_runner_profile(vg_runner *r, int on);
/* Copies up to `max` layer statistics into `stats`; returns the number of layers. */
int vg_runner_layer_stats(const vg_runner *r, vg_layer_stat *stats, int max);
/* Name of the kernel set in use ("avx512", "avx2", "neon", "scalar", "ref"). */
const char *vg_runner_kernels(const vg_runner *r);

/* Measured peak single-thread float32 multiply-add rate of this CPU with the instructions
 * vigie uses, in GFLOP/s (a short busy loop; ~50 ms). */
double vg_cpu_peak_gflops(void);

/* 1 when the runner executes the integer kernels. */
int vg_runner_is_int8(const vg_runner *r);
/* The int8 matrix-multiply kernels the integer path uses on this CPU ("AVX-512 VNNI", "AVX2",
 * "NEON dotprod", "NEON", "portable"), or NULL for a float runner. */
const char *vg_runner_int8_kernels(const vg_runner *r);

/* Bytes held by the runner for activations and workspace (weights excluded). */
size_t vg_runner_activation_bytes(const vg_runner *r);

/* Preprocesses an image into (h, w, c) floats following `spec`. `out` holds h*w*c floats. */
vg_status vg_image_to_input(const vg_image *img, const vg_input_spec *spec, float *out,
                            vg_err *err);

/* ---- tiles: small fire in big frames ------------------------------------------------------ */
/* A 1920x1080 frame resized as a whole to 224x224 shrinks ~8x: a flame of 30 pixels becomes
 * 3 or 4. A rows x cols layout classifies the frame through several views at once: view 0 is
 * the whole frame (as vg_runner_classify sees it), views 1 .. rows*cols are overlapping tiles,
 * row by row, each resized to the model's input like the whole frame (the same resampler as
 * vg_image_to_input, no crop, no aspect ratio kept) and all of them run as one batch.
 *
 * Geometry (frame W x H, layout rows R x cols C, overlap o = VG_TILES_OVERLAP = 1/4):
 *     tile width  tw = ceil(W / (1 + (C - 1)(1 - o))) = ceil(4W / (3C + 1)), W when C = 1
 *     tile left   x_j = round(j (W - tw) / (C - 1)), j = 0 .. C-1 (x_0 = 0, the last ends at W)
 * and the same for heights and rows. Neighbours share o of a tile's side (tw/4; rounding moves
 * it by -1 .. +3 pixels), tiles never leave the frame and together cover every pixel. For
 * 1920x1080 in 2x2: tiles of 1098x618 at x 0 / 822, y 0 / 462. The 1x1 layout has one view,
 * the whole frame: exactly vg_runner_classify.
 *
 * Combination (the max rule): the alarm score of a view is the sum of its probabilities over
 * the alarm classes (is_alarm[c] != 0, e.g. p(fire) + p(smoke)); the frame's best view is the
 * first view with the highest alarm score (the whole frame wins ties; a NaN score never wins),
 * the frame's alarm score is that maximum and its probability vector is the best view's whole
 * vector (it sums to 1, and its top-1 label is the label of the view that raised the score). */

#define VG_TILES_MAX 8        /* rows and columns of a layout: 1..8 */
#define VG_TILES_OVERLAP 0.25 /* share of a tile's side that neighbours have in common */
#define VG_TILES_MIN_SIDE 16  /* smallest tile side (frame pixels) of an accepted layout */

typedef struct {
    int x, y, w, h; /* frame pixels: columns x .. x+w-1, rows y .. y+h-1 */
} vg_rect;

/* Views of a rows x cols layout: 1 for 1x1, else 1 + rows * cols; 0 when rows or cols is not
 * in 1..VG_TILES_MAX. Plan the runner of vg_runner_classify_tiles with this batch. */
int vg_tiles_count(int rows, int cols);

/* Parses a layout "RxC" (e.g. "2x2", "1x3"; rows first): VG_ERR_ARG with a message for
 * anything else, or rows / cols outside 1..VG_TILES_MAX. */
vg_status vg_tiles_parse(const char *s, int *rows, int *cols, vg_err *err);

/* The views of a w x h frame (view 0 the whole frame, then the tiles row by row) into
 * views[max_views]; *n_views gets their count. VG_ERR_ARG with a message for a bad layout
 * (rows or cols outside 1..8), a frame whose tiles would be under VG_TILES_MIN_SIDE pixels, an
 * invalid frame size or too small an array. */
vg_status vg_tiles_layout(int w, int h, int rows, int cols, vg_rect *views, int max_views,
                          int *n_views, vg_err *err);

/* The max rule above over per_view (n_views x n_classes): copies the best view's
 * probabilities into probs[n_classes], its alarm score into *score (nullable) and returns
 * the best view's index. */
int vg_tiles_combine(const float *per_view, int n_views, int n_classes, const uint8_t *is_alarm,
                     float *probs, float *score);

/* Classifies `img` through the views of a rows x cols layout in one forward pass of `r`, which
 * must have been planned with batch == vg_tiles_count(rows, cols), and combines them with the
 * max rule. is_alarm[n_classes] marks the alarm classes (at least one). probs gets the
 * frame's probabilities (n_probs >= n_classes floats); per_view (nullable, n_per_view >=
 * n_views * n_classes floats) every view's, in view order; best_view (nullable) the view they
 * came from. The model's mirror averaging (tta) applies to each view as in
 * vg_runner_classify. Allocates the views' inputs for the call (n_views x the model's input).
 * Errors: VG_ERR_ARG for a bad layout or frame, a runner of another batch, short outputs. */
vg_status vg_runner_classify_tiles(vg_runner *r, const vg_image *img, int rows, int cols,
                                   const uint8_t *is_alarm, float *probs, size_t n_probs,
                                   float *per_view, size_t n_per_view, int *best_view, vg_err *err);

/* ---- misc --------------------------------------------------------------------------------- */

/* Peak resident set size of this process so far, in bytes (0 if unknown). */
size_t vg_peak_rss_bytes(void);
/* Monotonic clock in seconds. */
double vg_time_now(void);

#ifdef __cplusplus
}
#endif
#endif /* VIGIE_H */
