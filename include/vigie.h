/* vigie.h — public API of libvigie, a small C11 library that runs, trains, compresses and
 * evaluates MobileNetV2-style image classifiers on edge computers, and watches cameras with
 * them (fire and smoke alarms).
 *
 * This header is the manual, and the whole contract: the `vigie` command line is compiled
 * against it alone. Sections, in order: status and errors, images, models, import,
 * inference, tiles, training, evaluation, optimization, cancellation, watching cameras, the
 * service configuration, misc. Inference is libvigie.a; training, evaluation and
 * optimization libvigie_train.a; watching libvigie_watch.a (docs/ARCHITECTURE.md).
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
 *     vg_runner_classify(r, &img, probs, VG_MAX_CLASSES, &err);  // probs[i]: vg_model_label(m, i)
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

#include <stdbool.h>
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
    VG_CANCELLED,       /* long work stopped because the caller asked (a hook): not a failure;
                         * what it leaves behind (e.g. a checkpoint) is documented per call */
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
/* Opens a model file by its contents: a .vgm or .vge is loaded, a TensorFlow Lite file
 * imported, and a file named *.onnx imported (vg_import_onnx, default normalisation). */
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

/* ONNX (libvigie.a, with Debian's protobuf-c): MobileNet-style classifiers from PyTorch,
 * TensorFlow or others in; vigie's models out, to TensorRT, OpenCV DNN or ONNX Runtime.
 * Import: opsets 10 to 18; Conv (plain, depthwise, grouped; explicit pads or SAME_UPPER,
 * equal strides, no dilation), BatchNormalization, Relu, Clip(0, 6), HardSwish, HardSigmoid
 * (PyTorch's 1/6, 0.5), Sigmoid (fused into the layer before them; Mul(x, HardSigmoid(x)) is a
 * hard-swish), Add, Mul (equal shapes, or (N, C, 1, 1) channel weights: squeeze-excitation),
 * GlobalAveragePool, GlobalMaxPool, ReduceMean (spatial), Flatten, Reshape to (N, K), Gemm,
 * MatMul (+ Add of a bias), Softmax, Constant, Identity, Dropout (MobileNetV2, V3); one float
 * (N, C, H, W) input with static C, H, W; float32 weights stored in the file. Anything else is
 * VG_ERR_UNSUPPORTED naming the node and the operator; a malformed file VG_ERR_FORMAT. The
 * input normalisation: opts' when given, else the metadata vigie's export writes (vigie.mean,
 * vigie.std on 0..255 pixels, vigie.labels), else ImageNet's (mean 123.675, 116.28, 103.53,
 * std 58.395, 57.12, 57.375). */
typedef struct {
    bool has_mean, has_std;
    float mean[3], std[3];
} vg_onnx_import_opts;
vg_status vg_import_onnx(const char *path, const vg_onnx_import_opts *opts, vg_model **out,
                         vg_err *err);
vg_status vg_import_onnx_mem(const void *data, size_t size, const char *name,
                             const vg_onnx_import_opts *opts, vg_model **out, vg_err *err);
/* Export: the model's float view (an int8 engine's dequantized weights) at `opset` (0: 13,
 * TensorRT's and ONNX Runtime's; 10 to 18; 10 puts Clip's bounds in attributes, which OpenCV
 * DNN <= 4.6, Debian 12's, needs), static shapes: input "input" (1, C, H, W) float32 already
 * normalised, output "probs" after a final softmax (else "output"); metadata_props vigie.mean,
 * vigie.std (on 0..255 pixels), vigie.resize, vigie.labels (one per line) and vigie.meta.KEY for
 * the model's metadata. Written atomically. */
vg_status vg_export_onnx(const vg_model *m, const char *path, int opset, vg_err *err);
/* Export of an int8 engine (vigie optimize --int8) as a QDQ model, opset 13 to 18 (0: 13):
 * the same graph with every activation through QuantizeLinear / DequantizeLinear at the
 * engine's scale and zero point (int8, asymmetric), weights as the engine's int8 codes with
 * their per-channel scales (DequantizeLinear, axis 0), biases as its int32 codes in units of
 * input scale x weight scale; the final softmax in float, as vigie's integer path runs it. A
 * runtime that follows the ONNX operators computes vigie's integer results (up to the
 * rounding of exact halves). TensorRT takes only symmetric activations (zero point 0): give it
 * vg_export_onnx's float view. VG_ERR_ARG for a float model or an opset below 13. */
vg_status vg_export_onnx_qdq(const vg_model *m, const char *path, int opset, vg_err *err);

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
    const char *kernels; /* this runner's kernel set, as vg_set_kernels names them ("ref",
                          * "scalar", "avx2", "avx512", "neon"), float and int8 alike; NULL (the
                          * default): the process-wide set. VG_ERR_ARG for a set this CPU lacks.
                          * Runners with different sets may live side by side (A/B in one run). */
} vg_runner_opts;

vg_runner_opts vg_runner_opts_default(void);

/* The default kernel set of the process (runners without vg_runner_opts.kernels, and
 * training): NULL or "" = the fastest this CPU has (the default), "ref" (the scalar reference
 * kernels, the specification), "scalar", "avx2" (also the AVX2 int8 kernels on an AVX-512
 * machine), "avx512", "neon". VG_ERR_ARG, naming the sets this CPU has, for any other name.
 * Runners made earlier keep their kernels. Thread-safe; the CPU is probed once per process. */
vg_status vg_set_kernels(const char *name, vg_err *err);
/* The name of the float kernel set runners use now ("avx512", "neon", ...). */
const char *vg_kernels_name(void);

/* Plans the forward pass of `m` at its input size: shapes, activation buffers (reused by
 * liveness), workspace. */
vg_status vg_runner_init(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                         vg_err *err);
void vg_runner_free(vg_runner *r);

/* Resizes, normalises and classifies one image: probs (n_probs floats, at least n_classes)
 * gets n_classes probabilities. VG_ERR_ARG for a shorter array or a runner of batch > 1. */
vg_status vg_runner_classify(vg_runner *r, const vg_image *img, float *probs, size_t n_probs,
                             vg_err *err);

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

/* Preprocesses an image into (h, w, c) floats following `spec`, into out (n_out floats, at
 * least h*w*c; VG_ERR_ARG when shorter). */
vg_status vg_image_to_input(const vg_image *img, const vg_input_spec *spec, float *out,
                            size_t n_out, vg_err *err);

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

/* ---- training ----------------------------------------------------------------------------- */
/* Transfer learning on the device (libvigie_train.a): a dataset of folder-per-class trees and
 * YOLO / Roboflow detection exports, a pretrained backbone and a new classifier head, trained
 * under a memory budget with validation, early stopping, an alarm threshold chosen on the
 * validation images, checkpoints, a CSV of metrics and plots. The library reports through
 * hooks and never prints.
 *
 *     vg_train_cfg c = vg_train_cfg_default();
 *     c.data[0].dir = "data/firesmoke-cctv";  c.n_data = 1;
 *     c.backbone = "mobilenet_v2.tflite";  c.out = "fire.vgm";
 *     vg_train_result res;
 *     vg_status st = vg_train_run(&c, NULL, &res, &err);   (hooks may be NULL)
 */

/* One source of a dataset. */
typedef struct vg_source_spec {
    const char *dir; /* a folder-per-class tree, or a YOLO / Roboflow export (a folder with a
                        data.yaml, or the .yaml file itself) */
    /* folder trees: split lists ("class/file" lines); NULL: DIR/splits/train.txt, val.txt,
     * test.txt where they exist (vg_dataset_opts.default_lists). Detection exports take their
     * splits from data.yaml and refuse lists. */
    const char *train_list, *val_list, *test_list;
    bool extra;      /* training only: every image of a tree, the train split of an export */
    bool lists_only; /* a tree: only the lists given, never DIR/splits/ (e.g. `vigie eval
                        --list`, whose list may be the one a default names) */
} vg_source_spec;

/* torchvision's RandomResizedCrop(scale, ratio) + RandomHorizontalFlip(flip_prob) +
 * ColorJitter(brightness, contrast, saturation, hue), in that order, and optionally a zoom-out
 * (SSD's "expand", torchvision's RandomZoomOut): with probability zoom_prob the crop fills only
 * a random zoom x zoom share of the output's sides (zoom uniform in [zoom_min, 1]), the rest
 * the input mean, so that fires and plumes are also seen small and far, as a distant
 * camera sees them. */
typedef struct {
    float scale_min, scale_max; /* crop area as a fraction of the image, 0 < min <= max <= 1 */
    float ratio_min, ratio_max; /* crop aspect ratio w/h, log-uniform, 0 < min <= max */
    float flip_prob;            /* in [0, 1] */
    float brightness, contrast, saturation; /* factor uniform in [max(0, 1-x), 1+x], x >= 0 */
    float hue; /* shift uniform in [-hue, hue] of a full turn, in [0, 0.5] */
    float zoom_prob, zoom_min; /* zoom-out: probability in [0, 1], smallest side share (0, 1] */
    /* Images with boxes (detection sources; the loader needs the dataset, see vg_loader_opts).
     * A crop always takes the class of the boxes it keeps (vg_dataset_crop_label; a crop that
     * cuts a box only partly is drawn again). Besides the random crop above:
     * box_zoom: probability of a zoom-in crop around one of the image's boxes, picked at
     *   random, the box's longer side box_zoom_min..box_zoom_max of the crop's (log-uniform):
     *   small, distant fire and smoke seen at a size the network can see;
     * neg_crop: probability of a negative crop, placed where it overlaps no box grown by
     *   neg_margin of the box's longer side on every side, of neg_scale_min..1 of the
     *   image's area at most 0.5: a no-alarm example from the same scene (crop sizes drawn
     *   smaller and smaller, 8 tries, each searching a 17 x 17 grid of places; when none is
     *   free, the random crop is used). */
    float box_zoom, box_zoom_min, box_zoom_max;
    float neg_crop, neg_margin, neg_scale_min;
    /* zoom-out draws (zoom_prob) put the shrunk crop into a no-alarm training image (picked at
     * random, the loader needs the dataset) instead of the mean: small, distant fire in a
     * real scene rather than on a grey canvas */
    bool zoom_scene;
} vg_augment;
/* scale 0.35..1, ratio 3/4..4/3, flip 0.5, brightness/contrast/saturation 0.3, hue 0.02,
 * no zoom-out (zoom_min 0.5 when enabled), no zoom-in or negative crops (when enabled: the
 * box's side 0.2..0.7 of the crop's, margin 0.25, negative crops of 0.08 of the area or more) */
vg_augment vg_augment_default(void);

/* Optimizers: SGD (momentum) and AdamW, with PyTorch's semantics. */
typedef enum { VG_OPT_SGD = 0, VG_OPT_ADAMW = 1 } vg_opt_kind;

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
     * labels, which must be the dataset's classes) instead of backbone + new head; borrowed. */
    const vg_model *init_model;
    bool keep_last; /* keep the last epoch's weights, not the best validation loss's */
    /* Refit (on by default in `vigie train`): once this run has chosen the epoch count (the
     * best validation loss; all epochs with keep_last) and the alarm threshold on the
     * validation list, a second run starts from the backbone again, trains on train + val
     * with the same schedule, stops after that many epochs and keeps the end, with the
     * chosen threshold. The first run's files get a ".select" infix (OUT.select.vgm,
     * OUT.select.csv, its plots); OUT.vgm is the refit. Skipped (with a note) when there are
     * no validation images; not with init_model. Interrupted and resumed runs keep their
     * place in this sequence (the checkpoint records it). */
    bool refit;
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
    bool interrupted;     /* stopped by should_stop (VG_CANCELLED): a checkpoint was written */
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

/* Trains as `vigie train` does (see vg_train_cfg). Returns VG_OK with *res filled, or
 * VG_CANCELLED when hooks->should_stop asked to stop: the checkpoint res->checkpoint was written
 * (resume with cfg.resume = it), res->interrupted is set and err says so; any other status is
 * an error. Writes OUT.vgm atomically, with OUT.csv and the plots next to it. */
vg_status vg_train_run(const vg_train_cfg *cfg, const vg_train_hooks *hooks, vg_train_result *res,
                       vg_err *err);


/* The training benchmark of `vigie bench --train`: timed optimizer steps of full fine-tuning
 * (a new 3-class head on the backbone's features, every layer learning, AdamW, batch in
 * chunks) on synthetic images. */
typedef struct {
    int threads, batch, chunk, runs, warmup; /* chunk: images per forward / backward pass */
} vg_train_bench_opts;

typedef struct {
    double median_ms, p90_ms, min_ms; /* per optimizer step (nearest-rank percentiles) */
    double images_per_s, loss;        /* at the median; the last step's loss */
    size_t buffers, peak_rss;         /* training buffers; the process's peak RSS */
    int w, h, chunk;                  /* input size; the chunk used (at most the batch) */
} vg_train_bench_result;

vg_status vg_train_bench(const vg_model *backbone, const vg_train_bench_opts *o,
                         vg_train_bench_result *r, vg_err *err);

/* ---- evaluation --------------------------------------------------------------------------- */
/* `vigie eval` as a call (libvigie_train.a): a model on labelled images (folder-per-class trees,
 * YOLO / Roboflow exports; several at once), processed exactly as vg_runner_classify does (or
 * through tiles), with accuracy, per-class figures, the confusion matrix, the alarm view at
 * the model's threshold (recall, false alarms, ROC, AUC), the same per dataset, false alarms on
 * box-free crops of boxed images, an operating point for a recall target, and the
 * misclassified images. The same loop measures `vigie optimize`'s report. */

/* Figures over n images with n_classes outputs (alarm view when no_alarm >= 0). */
typedef struct {
    int n, n_classes;
    int *confusion; /* n_classes x n_classes, [true][predicted] */
    double accuracy;
    double *precision, *recall, *f1; /* per class */
    /* alarm view (no_alarm >= 0): an image raises an alarm when 1 - p(no_alarm) >= threshold */
    int no_alarm;   /* index of the no-alarm class, -1 if none */
    float threshold;
    double alarm_recall, false_alarm_rate, alarm_precision;
    int alarm_pos, alarm_neg; /* images with / without fire or smoke */
    double auc;
} vg_metrics;

/* Which images of a dataset without a list: its test split (VG_EVAL_DEFAULT: else, for a
 * dataset without one, all of it, with a note), val, train, or all of it. */
typedef enum {
    VG_EVAL_DEFAULT = 0,
    VG_EVAL_TEST,
    VG_EVAL_VAL,
    VG_EVAL_TRAIN,
    VG_EVAL_ALL
} vg_eval_split;

typedef struct {
    vg_source_spec data[VG_TRAIN_MAX_DATA]; /* .test_list: only these images of that dataset */
    int n_data;
    vg_eval_split split;
    vg_runner_opts runner;    /* threads, precision, unfused (the batch follows the tiles) */
    int tile_rows, tile_cols; /* 1x1: whole images */
    int box_free_crops;       /* crops per boxed image placed away from every box, 0..100 */
    float threshold;          /* alarm threshold; < 0: the model's */
    const char *no_alarm;     /* the no-alarm class; NULL: the model's, else "neutral" if any */
    double recall_target;     /* > 0: also the operating point giving every dataset this recall */
} vg_eval_cfg;

/* the whole images, the test split, the model's threshold, 2 threads */
vg_eval_cfg vg_eval_cfg_default(void);

/* Figures of a subset of the images at one threshold. */
typedef struct {
    int n;
    double accuracy, alarm_recall, false_alarm_rate;
    int alarm_pos, alarm_hit, alarm_neg, alarm_false;
} vg_eval_part;

typedef struct {
    const char *name, *root; /* the dataset's name and folder */
    const char *split;       /* what was evaluated: "list", "test", "val", "train" or "all" */
    const char *list;        /* the list given, or NULL */
    vg_eval_part part;       /* at the threshold */
    vg_eval_part at_target;  /* at the operating point (recall_target) */
    int crops, crop_alarms;  /* box-free crops and their alarms */
} vg_eval_source;

typedef struct {
    const char *image; /* the image's name within its dataset */
    int source;        /* index into sources */
    int truth, predicted;
    float p; /* the predicted class's probability */
} vg_eval_miss;

typedef struct {
    int n, skipped; /* images evaluated; unreadable ones skipped */
    int n_classes;
    char **labels;             /* the model's class names (n_classes), owned */
    int *count;                /* images per true class */
    vg_metrics metrics;        /* on all images, at `threshold` */
    float *roc_fpr, *roc_tpr, *roc_threshold; /* alarm ROC (no_alarm >= 0): roc_n points */
    int roc_n;
    vg_eval_source sources[VG_TRAIN_MAX_DATA];
    int n_sources;
    float target_threshold; /* the operating point (recall_target > 0, alarm view): the lowest
                               threshold giving every dataset that recall on these images */
    vg_eval_part at_target;
    vg_eval_miss *misses; /* misclassified images, in evaluation order */
    int n_misses;
    double seconds, images_per_s;
    void *priv; /* the model and datasets the strings point into */
} vg_eval_report;

typedef struct {
    void *ud;
    /* notes and warnings ("warning: ..."): a dataset without a test split, images without
     * boxes, images the model was trained or tuned on (not a held-out measure) */
    void (*log)(void *ud, const char *line);
    void (*bad_image)(void *ud, const char *path, const char *msg); /* skipped (msg names it) */
    void (*progress)(void *ud, int done, int total);
} vg_eval_hooks;

/* Evaluates the model file `model` (any format vg_model_open reads). VG_OK with *rep filled
 * (free it with vg_eval_report_free), else an error (nothing to free): no data, a dataset
 * class the model lacks, an empty dataset or split, no image readable... hooks may be NULL. */
vg_status vg_eval_run(const char *model, const vg_eval_cfg *cfg, const vg_eval_hooks *hooks,
                      vg_eval_report *rep, vg_err *err);
void vg_eval_report_free(vg_eval_report *rep);
/* The confusion matrix as a PNG to `path`, and with an alarm view the ROC to roc_path. */
vg_status vg_eval_report_plot(const vg_eval_report *rep, const char *path, const char *roc_path,
                              vg_err *err);

/* ---- optimization ------------------------------------------------------------------------- */
/* What TensorRT does for a Jetson, on any board (libvigie_train.a): fold batch-norm, remove
 * whole channels, prune single weights, share weights by k-means, fine-tune after each of
 * these, quantize to int8 with calibration, and write a compact engine file (.vge) that loads
 * like a model. With report images, every step is measured: accuracy, per-class recall,
 * agreement with the float model, alarm recall and false alarms at the model's threshold,
 * size, sparsity and latency. `vigie optimize` is this call and a table. */

/* How int8 activation ranges are chosen from the calibration images. */
typedef enum { VG_CALIB_MINMAX = 0, VG_CALIB_PERCENTILE = 1, VG_CALIB_ENTROPY = 2 } vg_calibrator;
const char *vg_calibrator_name(vg_calibrator c);
/* "minmax" | "percentile" | "entropy"; false when unknown */
bool vg_calibrator_parse(const char *s, vg_calibrator *c);

/* How the k-means centroids of weight sharing are initialised before Lloyd's iterations. */
typedef enum {
    VG_CLUSTER_LINEAR,   /* evenly spaced between min and max (keeps the outliers' centroids) */
    VG_CLUSTER_KMEANSPP, /* k-means++: D^2 sampling from the weights, seeded, deterministic */
    VG_CLUSTER_DENSITY,  /* evenly spaced quantiles of the weights' CDF */
} vg_cluster_init;
/* "linear", "kmeans++" (or "kmeanspp"), "density" -> *out; anything else is VG_ERR_ARG. */
vg_status vg_cluster_init_parse(const char *s, vg_cluster_init *out, vg_err *err);
const char *vg_cluster_init_name(vg_cluster_init init); /* the parseable name, never NULL */

typedef struct {
    const char *out; /* OUT.vge, written atomically; fine-tuned models OUT.<step>.vgm beside it */
    /* the steps, applied in this order (each 0 / false = skipped) */
    float prune_channels; /* share of each expansion layer's channels removed, 0 .. 0.95 */
    float prune;          /* share of zeros of single-weight magnitude pruning, 0 .. 0.99 */
    int clusters;         /* weight sharing: values per layer, 2..256 (0 = off) */
    vg_cluster_init cluster_init;
    int64_t cluster_min;  /* only layers of at least this many weights are shared */
    bool int8;            /* per-channel int8 weights, calibrated activations */
    /* fine-tuning after pruning / clustering, when data is given (else one shot); sources as
     * vg_train_cfg.data (the model's classes must be the data's) */
    vg_source_spec finetune[VG_TRAIN_MAX_DATA];
    int n_finetune;
    int epochs, batch;
    float lr, ema;
    float distill; /* targets: distill x the unchanged float model's + (1 - distill) x label */
    /* int8 calibration images: each source's test_list (or its train split, or all of it);
     * none: the fine-tuning data's train splits */
    vg_source_spec calib[VG_TRAIN_MAX_DATA];
    int n_calib;
    int calib_images; /* taken evenly from the calibration list */
    vg_calibrator calibrator;
    float percentile;        /* VG_CALIB_PERCENTILE */
    const char *calib_table; /* reused if it exists (same model), else written; NULL: none */
    bool bias_correction;    /* int8 biases corrected for the weights' rounding */
    /* report images: each source's test_list, else its test split, else all of it; none: no
     * measurements (sizes only) */
    vg_source_spec report[VG_TRAIN_MAX_DATA];
    int n_report;
    /* resources */
    int threads;
    size_t mem_budget; /* of fine-tuning */
    uint64_t seed;
    bool unfused; /* the report's runners: vg_runner_opts.unfused */
} vg_optimize_cfg;

/* The defaults of `vigie optimize`: kmeans++ on layers of 8192 weights or more, 5 epochs of
 * batch 32 at lr 1e-4, EMA 0.99, distillation 0.5, 200 percentile (99.99) calibration images
 * with bias correction, 2 threads, 1 GiB, seed 1; no step enabled, no data. */
vg_optimize_cfg vg_optimize_cfg_default(void);
/* VG_ERR_ARG, with a message, for settings out of range, no output, or int8 without
 * calibration images (nor an existing calibration table). vg_optimize_run checks it too. */
vg_status vg_optimize_cfg_check(const vg_optimize_cfg *cfg, vg_err *err);

#define VG_OPTIMIZE_MAX_STEPS 8

/* One row of the report: the model after a step. */
typedef struct {
    char name[64];  /* "float", "fold batch-norm", "channels -50% + prune 50% + ft", "int8"... */
    bool evaluated; /* measured on the report images (the figures below) */
    double accuracy, agree; /* agree: top-1 agreement with the float model (first row) */
    double alarm_recall, false_alarm_rate; /* at the model's threshold; NaN without alarm rule */
    double *recall;  /* per class (report.n_classes), owned by the report */
    double ms;       /* median latency, one thread, one image (measured when evaluated) */
    int64_t bytes;   /* as an engine file */
    double sparsity; /* zero share of the conv / fully-connected weights */
    int distinct;    /* most distinct values in one such layer */
    bool int8;
} vg_optimize_step;

typedef struct {
    vg_optimize_step steps[VG_OPTIMIZE_MAX_STEPS];
    int n_steps;
    int n_classes;
    char **labels; /* n_classes, owned */
    /* the engine file written */
    int64_t file_bytes, weight_bytes, other_bytes;
    int int8_layers, cluster_layers, f32_layers, sparse_layers;
    double seconds;
} vg_optimize_report;
void vg_optimize_report_free(vg_optimize_report *r);

typedef struct {
    void *ud;
    void (*log)(void *ud, const char *line);                          /* what each step did */
    void (*progress)(void *ud, const char *what, int done, int total); /* long loops */
    const vg_train_hooks *finetune; /* the fine-tuning runs' hooks (NULL: none) */
} vg_optimize_hooks;

/* Optimizes the model file `model` (.vgm, .vge or .tflite; an int8 model starts from its
 * float view) into cfg->out. *rep is filled on success (free it with
 * vg_optimize_report_free; it is left empty on failure). hooks may be NULL. VG_CANCELLED when
 * a fine-tuning hook asked to stop (nothing is written). */
vg_status vg_optimize_run(const char *model, const vg_optimize_cfg *cfg,
                          const vg_optimize_hooks *hooks, vg_optimize_report *rep, vg_err *err);

/* ---- adapt: learning from the user's own feedback ------------------------------------------ */
/* `vigie adapt` (libvigie_train.a): a trained classifier (a .vgm of vigie train) learns from
 * the user's feedback trees (folder-per-class: neutral/ = false alarms, fire/ or smoke/ =
 * missed fires; the watch's "false alarm" button writes such trees) in seconds: only its last
 * layer, on features the backbone computes once, each feedback image in `views` augmented
 * views, with a rehearsal of the original training data (a class-balanced sample of the
 * training splits of `data`, whose outputs must not move: distillation) so that it does not
 * forget; training stops once the feedback is learnt. The alarm threshold is kept. Guard:
 * when alarm recall on the validation positives of `data` (their validation splits) would
 * fall by more than max_recall_drop, the update is refused
 * (VG_ERR_ARG, report.refused) and nothing is written; so is feedback that cannot be learnt
 * at all (it contradicts what the rehearsal keeps). The new model records its parent
 * (name and classifier hash), the date and what it learnt (metadata adapt_*), and carries the
 * rehearsal set (chunk RHRS: half-precision features of the rehearsal and guard images, a few
 * MB), so that adapting it again needs no data and no image decoded but the feedback's. With
 * no feedback, vg_adapt_run only stores the set (a model from vigie train gets one so). */
#define VG_ADAPT_MAX_FEEDBACK 16

typedef struct {
    const char *model; /* .vgm or int8 engine (.vge) with an alarm threshold; the output is
                          of the same kind (an engine's classifier requantized) */
    const char *const *feedback;       /* n_feedback folder-per-class trees */
    int n_feedback;
    vg_source_spec data[VG_TRAIN_MAX_DATA]; /* the rehearsal data, as vigie train took it:
                                          trees with train and val lists, YOLO exports; none:
                                          the set the model carries (an adapted model does) */
    int n_data;
    const char *output;                /* written atomically */
    int rehearsal;         /* training images per class in the rehearsal (default 100) */
    int guard;             /* validation images per class for the guard (0, the default: all) */
    int views;             /* views per feedback image: the whole image + augmented (16) */
    int steps;             /* gradient steps (momentum 0.9) on the classifier, at most (300) */
    float lr;              /* per step, a logit moves by about lr x its gradient (0.2) */
    float anchor;          /* pull towards the old weights, anchor * |W - W0|^2 / 2 (0.01) */
    float max_recall_drop; /* the guard (0.01: one point) */
    int threads;
    uint64_t seed;
} vg_adapt_cfg;

vg_adapt_cfg vg_adapt_cfg_default(void);

typedef struct {
    void (*log)(void *ud, const char *line);                       /* skipped images */
    void (*progress)(void *ud, const char *what, int done, int total); /* images */
    void *ud;
} vg_adapt_hooks;

typedef struct {
    int n_neutral, n_alarm; /* feedback images: false alarms, missed fires */
    int n_views, n_rehearsal, n_val;
    float threshold;        /* the model's (kept) */
    int val_pos, val_neg;   /* the guard's images, alarm classes / no-alarm class */
    int val_hits_before, val_hits_after;   /* validation positives alarmed */
    int val_false_before, val_false_after; /* validation neutrals alarmed */
    int fb_hits_before, fb_hits_after;     /* feedback missed fires alarmed (whole image) */
    int fb_false_before, fb_false_after;   /* feedback false alarms still alarmed */
    bool rehearsal_stored;  /* the set came from the model file (no --data) */
    size_t rehearsal_bytes; /* what the output carries (chunk RHRS: half-precision features) */
    int steps;              /* taken: training stops once every feedback view is on its
                               side of the threshold by a margin (a tenth of the way to 0 or 1) */
    bool refused;           /* the guard refused the update */
    double seconds, seconds_features, seconds_train;
    size_t peak_rss;
} vg_adapt_report;

vg_status vg_adapt_run(const vg_adapt_cfg *cfg, const vg_adapt_hooks *h, vg_adapt_report *rep,
                       vg_err *err);
/* Whether `model` can adapt without data (what live adaptation needs): a classifier with an
 * alarm threshold that carries a readable rehearsal set. The error says what is missing and
 * how to add it. */
vg_status vg_adapt_ready(const char *model, vg_err *err);

/* ---- cancellation ------------------------------------------------------------------------- */
/* A flag the caller raises to stop long work cleanly (a watch loop, its camera readers), e.g.
 * from a signal handler: vg_cancel_request is one lock-free atomic store, safe there. */
typedef struct vg_cancel vg_cancel;
vg_status vg_cancel_init(vg_cancel **out, vg_err *err);
void vg_cancel_free(vg_cancel *c);
void vg_cancel_request(vg_cancel *c);
bool vg_cancel_requested(const vg_cancel *c); /* false for NULL */

/* ---- watching cameras --------------------------------------------------------------------- */
/* `vigie watch` as a call (libvigie_watch.a: FFmpeg, libmosquitto): frames from a camera, a
 * video file or a folder of images, classified at most fps times a second (whole or through
 * tiles), smoothed into few reliable alarms, events as JSON lines with a heat-map snapshot at
 * each alarm start, MQTT with Home Assistant discovery, statistics.
 *
 * Two threads: a reader pulls frames from the source into a one-frame mailbox; the loop takes
 * the newest frame, classifies it and runs the alarm logic. A live source overwrites a frame
 * the loop has not taken yet (a dropped frame: no backlog, bounded memory); a file or folder
 * waits for the loop instead, so every sampled frame is classified. */

typedef enum {
    VG_WATCH_SRC_FOLDER = 0,
    VG_WATCH_SRC_FILE = 1,
    VG_WATCH_SRC_DEVICE = 2,  /* /dev/video* */
    VG_WATCH_SRC_NETWORK = 3, /* scheme://... */
} vg_watch_src_kind;

typedef struct {
    bool loop;             /* files and folders: start again at the end */
    bool realtime;         /* files and folders: deliver frames at their own pace, like a camera */
    double folder_fps;     /* folders: frames per second of the image sequence (> 0) */
    double reconnect_min;  /* first delay before reopening a live source, seconds (> 0) */
    double reconnect_max;  /* the delay doubles up to this */
    int max_retries;       /* failed attempts in a row before giving up; 0: never give up */
    double timeout;        /* live sources: seconds without data before the stream is lost */
    const char *const *av_opts; /* FFmpeg options "key=value" for opening the source */
    int n_av_opts;
    /* reports (reconnects, unreadable images); may be NULL */
    void (*log)(void *ud, const char *msg);
    void *log_ud;
    vg_cancel *stop; /* requested (e.g. by a signal handler): every wait returns; may be NULL */
} vg_watch_source_opts;

vg_watch_source_opts vg_watch_source_opts_default(void);

/* Alarm smoothing: per-class sliding mean, hysteresis, minimum duration, cool-down. */
#define VG_WATCH_MAX_WINDOW 1000
typedef struct {
    int window;          /* frames in the sliding mean, 1..VG_WATCH_MAX_WINDOW */
    float on, off;       /* the smoothed score arms at >= on, clears below off (off <= on) */
    double min_duration; /* seconds the score must stay >= off after reaching on */
    double cooldown;     /* seconds after an alarm_end before that channel may start again */
    double update_every; /* seconds between alarm_update events of an active alarm; 0: none */
} vg_watch_alarm_opts;

/* MQTT: one connection for one or several cameras. Per camera (topics PREFIX/... for the one
 * camera of the command line, PREFIX/<camera>/... for a named one): .../event, .../state
 * (retained JSON: status, source, alarm and classes ON/OFF, armed, stuck, health), the commands
 * .../armed/set ("ON" / "OFF") and .../false_alarm ("PRESS"), and a Home Assistant device
 * (discovery: alarm, class and stuck binary sensors, armed switch, false-alarm button). For the
 * process: PREFIX/status "online" / "offline" with its Last Will. libmosquitto's network thread
 * keeps the connection. */
typedef struct {
    const char *host;
    int port;                /* 1883 by default, 8883 is customary with TLS */
    const char *topic;       /* prefix, e.g. "vigie/garage" */
    const char *node;        /* discovery node id / device name, [A-Za-z0-9_-] */
    const char *client_id;   /* NULL: "vigie-NODE-PID" */
    const char *user, *password;
    bool tls;                /* TLS with the system's CA certificates (unless cafile/capath) */
    const char *cafile, *capath, *certfile, *keyfile;
    bool tls_insecure;       /* do not check the server's host name (testing only) */
    const char *ha_prefix;   /* Home Assistant discovery prefix; NULL or "": no discovery */
    int keepalive;           /* seconds */
    double connect_wait;     /* seconds vg_watch_mqtt_init waits for the first connection */
    void (*log)(void *ud, const char *msg);
    void *log_ud;
} vg_watch_mqtt_opts;

typedef struct vg_watch_mqtt vg_watch_mqtt;

/* Sets the Last Will, starts connecting and waits up to connect_wait seconds for the broker;
 * a broker that is not there yet is reported through the log, not an error (the network thread
 * keeps trying). Errors: bad options, unreadable TLS files, libmosquitto failures. */
vg_status vg_watch_mqtt_init(vg_watch_mqtt **out, const vg_watch_mqtt_opts *o, vg_err *err);

typedef struct {
    int64_t events_sent, events_dropped;
    int64_t connects; /* successful connections, the first included */
} vg_watch_mqtt_stats;
void vg_watch_mqtt_get_stats(vg_watch_mqtt *q, vg_watch_mqtt_stats *st);

/* Clean goodbye: publishes every camera's last state (`final_state`, when not NULL, for the
 * command line's unnamed camera; retained) and "offline" on PREFIX/status, waits up to `timeout`
 * seconds for the broker to acknowledge them, disconnects (so no Last Will) and frees. NULL is
 * a no-op. Returns false when the goodbye could not be confirmed. */
bool vg_watch_mqtt_close(vg_watch_mqtt *q, const char *final_state, double timeout);

/* Shared inference for several loops: one thread takes the frames every loop using it has
 * handed in, all that are waiting (up to max_batch), and classifies them in one forward pass
 * on one set of runner threads (ro: threads, precision, kernels; its batch is ignored). A loop
 * waits for its own frame's result, the same as its own runner would give. Free after every
 * loop using it has ended. */
typedef struct vg_watch_infer vg_watch_infer;
vg_status vg_watch_infer_init(vg_watch_infer **out, const vg_model *m, const vg_runner_opts *ro,
                              int max_batch, vg_err *err);
/* Classifies one prepared input (vg_image_to_input) into probs (n_classes); blocks. */
void vg_watch_infer_classify(vg_watch_infer *q, const float *input, float *probs);
/* Forward passes run and frames classified so far. */
void vg_watch_infer_stats(vg_watch_infer *q, int64_t *batches, int64_t *frames);
void vg_watch_infer_free(vg_watch_infer *q);

/* Shared inference follows a model swap: runners planned from m (same batches and options),
 * installed between two forward passes; returns once they are (the old model is then no
 * longer used by it). m must stay alive while q uses it. */
vg_status vg_watch_infer_swap(vg_watch_infer *q, const vg_model *m, vg_err *err);

/* A model that can be replaced while loops run (live adaptation): loops that follow it
 * (vg_watch_opts.model) take the current one at start and the new one between two frames
 * (their own runner rebuilt then), and name it in their events and state ("model": ID). A
 * model stays alive as long as a loop holds it. */
#define VG_WATCH_MODEL_ID 64
typedef struct vg_watch_model vg_watch_model;
/* Takes m over (also on error); id (NULL: "model") is copied, at most 63 bytes. */
vg_status vg_watch_model_init(vg_watch_model **out, vg_model *m, const char *id, vg_err *err);
/* Makes m (taken over, also on error) the current model. Refused (VG_ERR_ARG) when its input
 * or classes differ from the current one's: running loops could not take it. */
vg_status vg_watch_model_swap(vg_watch_model *h, vg_model *m, const char *id, vg_err *err);
/* The current model, held until vg_watch_model_release; *gen (nullable) says which swap it
 * is, id (nullable, VG_WATCH_MODEL_ID bytes) gets its id. From any thread. */
const vg_model *vg_watch_model_acquire(vg_watch_model *h, uint64_t *gen, char *id);
void vg_watch_model_release(vg_watch_model *h, const vg_model *m);
/* Changes at every swap (lock-free: a loop's per-frame check). */
uint64_t vg_watch_model_gen(vg_watch_model *h);
/* Frees the holder and its models: after every loop has ended. NULL is a no-op. */
void vg_watch_model_free(vg_watch_model *h);

#define VG_CAMERA_MAX_MASKS 16
#define VG_MASK_MAX_POINTS 64

/* A polygon in relative frame coordinates (x of the width, y of the height, 0..1): the pixels
 * whose centres are inside it (even-odd rule) are ignored: they take the model's input mean,
 * so the network sees nothing there (a chimney, a road with headlights). */
typedef struct {
    int n;
    float xy[VG_MASK_MAX_POINTS][2];
} vg_mask;

typedef struct {
    const char *source;
    vg_watch_source_opts src;
    double fps;                /* classify at most this many frames per second; 0: all */
    vg_watch_alarm_opts alarm; /* alarm.on / alarm.off < 0: from the model (vg_watch_levels) */
    int tile_rows, tile_cols;  /* every frame through these views (vigie.h, "tiles"); 1x1: the
                                  whole frame only */
    bool per_class;            /* one alarm per class instead of one for all alarm classes */
    const char *classes;       /* comma-separated alarm classes; NULL: every class but the
                                  model's no-alarm class (or the one labelled "neutral") */
    const char *snapshots;     /* folder for alarm-start snapshots; NULL: none */
    int jpeg_quality;
    int threads;               /* runner threads */
    vg_precision precision;
    vg_watch_infer *infer;     /* optional, borrowed: whole frames (tiles 1x1) go through this
                                  shared inference instead of a runner of the loop's own
                                  (threads and precision are then the shared one's) */
    vg_watch_model *model;     /* optional, borrowed: the model to follow (vg_watch_run's m
                                  is then ignored, may be NULL): swapped models are taken
                                  between frames; with `infer`, its owner swaps that too
                                  (vg_watch_infer_swap) */
    /* the "false alarm" button wrote a frame to the feedback folder (path); may be NULL */
    void (*on_feedback)(void *ud, const char *path);
    /* each event as one JSON line (no newline); called from the loop's thread */
    void (*on_event)(void *ud, const char *json);
    /* called at every round of the loop (at least every 0.1 s while it runs; a watchdog's
       sign of life), with vg_time_now(); may be NULL */
    void (*on_tick)(void *ud, double now);
    void *ud;                  /* for on_event, on_tick and src.log */
    vg_watch_mqtt *mqtt;       /* optional, borrowed */
    const char *camera;        /* a name, for several cameras: events carry "camera": NAME and
                                  snapshot files start vigie-NAME-; NULL: none */
    const vg_mask *masks;      /* ignored regions of the frame (n_masks; see vg_mask) */
    int n_masks;
    const char *feedback_dir;  /* the MQTT "false alarm" button writes the last alarm's frame
                                  to FEEDBACK_DIR/<camera>/neutral/ (no camera name:
                                  FEEDBACK_DIR/neutral/; its snapshot to .../snapshots/
                                  under that); NULL: no button */
    double stuck_after;        /* seconds of a frozen or black picture before the camera
                                  reports "stuck" (event and state); 0: never (default 60) */
    vg_cancel *stop;           /* requested by the caller (a signal) to end the loop cleanly */
} vg_watch_opts;

vg_watch_opts vg_watch_opts_default(void);

typedef struct {
    int64_t read;       /* frames delivered by the source */
    int64_t skipped;    /* not sampled because of --fps */
    int64_t dropped;    /* overwritten before the loop could take them (live sources) */
    int64_t classified;
    int64_t bad;        /* frames or images that could not be decoded */
    int64_t reconnects;
    int64_t alarms;     /* alarm_start events */
    int64_t snapshot_errors;
    double lat_mean_ms; /* frame decoded -> classified and alarm logic done */
    double lat_p99_ms;  /* from a histogram with 2% wide bins */
    double lat_max_ms;
    double seconds;     /* wall time of the run */
    size_t peak_rss;
} vg_watch_stats;

/* Resolves the alarm levels of `o` that are not given (alarm.on / alarm.off < 0): from the
 * model's alarm threshold by vg_watch_alarm_levels (off = threshold, on = 4x its odds) when the
 * model stores one and the alarm classes are the model's own (every class but its no-alarm
 * class), else the fixed 0.8 / 0.5. A given level stays; the derived other one is moved to it
 * if it would cross it (off never above on). `desc` (size n, nullable) gets one line saying
 * which levels and where they came from. vg_watch_run calls it on its copy of the options. */
vg_status vg_watch_levels(const vg_model *m, vg_watch_opts *o, char *desc, size_t n, vg_err *err);

/* Runs until the source ends, a stop is requested or a fatal error; alarms still active then
 * end with reason "stopped". `stats` is filled in every case (also on error). With MQTT, the
 * retained state is kept current and, at the end, left as status "offline" with every alarm
 * OFF; vg_watch_mqtt_close then confirms it with the broker. */
vg_status vg_watch_run(const vg_model *m, const vg_watch_opts *o, vg_watch_stats *stats,
                       vg_err *err);

/* ---- the service: several cameras from one configuration file ----------------------------- */
/* (vg_mask and VG_CAMERA_MAX_MASKS are declared with vg_watch_opts above) */
/* `vigie watch --config FILE.yaml` (and --check-config): one YAML file describes the model,
 * the outputs, MQTT, default alarm settings and the cameras; examples/vigie.yaml documents
 * every key. vg_service_cfg_load reads and checks it whole before anything runs: an error
 * names file:line:column and the key, unknown keys included. Paths are relative to the file's
 * folder. */

#define VG_SERVICE_MAX_CAMERAS 64

typedef struct {
    char *name;   /* [A-Za-z0-9_-], 1..64: it names MQTT topics and Home Assistant devices */
    char *source; /* as `vigie watch SOURCE`: a URL, a device, a video file or a folder */
    vg_watch_source_opts src; /* loop, realtime, reconnect, retries, timeout (its log and
                                 stop, and av_opts, are the runner's to set) */
    char **av_opts;           /* FFmpeg options "key=value" (n_av_opts) */
    int n_av_opts;
    double fps;                /* 0: every frame */
    vg_watch_alarm_opts alarm; /* on / off < 0: from the model's threshold */
    char *classes;             /* NULL: the model's alarm classes */
    bool per_class;
    int tile_rows, tile_cols;
    vg_mask *masks;
    int n_masks;
    double stuck_after; /* seconds of frozen / black picture before "stuck"; 0: never */
    bool enabled;
    int source_line, source_col; /* where source: is in the file, for later messages */
} vg_camera_cfg;

typedef struct {
    char *host;
    int port; /* 1883, or 8883 with TLS, when not given */
    char *user, *password, *password_file;
    bool tls, tls_insecure;
    char *cafile, *certfile, *keyfile;
    char *topic_prefix;     /* NULL: "vigie" */
    char *discovery_prefix; /* NULL: "homeassistant" */
    bool no_discovery;      /* discovery_prefix: false / null */
    int keepalive;          /* seconds; 0: the default (30) */
} vg_service_mqtt;

typedef struct {
    char *path;  /* the file it was read from */
    char *model; /* .vge / .vgm / .tflite */
    int model_line, model_col; /* where model: is in the file, for later messages */
    int threads; /* inference threads (default 1) */
    vg_precision precision; /* auto (default), float or int8 */
    char *events;    /* JSON-lines file; NULL: stdout */
    char *snapshots; /* alarm-start snapshots; NULL: none */
    char *feedback_dir; /* feedback: {dir: ...} (or feedback_dir: ...): the false-alarm button's
                           frames, FEEDBACK_DIR/<camera>/neutral/ */
    bool auto_adapt;    /* feedback: {auto_adapt: true}: learn them live (vg_service_start) */
    int adapt_every;    /* adapt after this many new feedback frames (default 1) */
    int adapt_keep;     /* adapted models kept in FEEDBACK_DIR/models/ (default 10) */
    bool has_mqtt;
    vg_service_mqtt mqtt;
    vg_camera_cfg *cameras; /* n_cameras, in file order; `defaults` applied, then overrides */
    int n_cameras;
} vg_service_cfg;

/* Reads and checks a configuration (VG_ERR_FORMAT "file:line:column: key: message"; I/O
 * errors as such). Free with vg_service_cfg_free, on success only. */
vg_status vg_service_cfg_load(const char *path, vg_service_cfg *cfg, vg_err *err);
/* The same from memory; `name` is the file name of messages and the base of relative paths. */
vg_status vg_service_cfg_parse(const char *text, size_t size, const char *name,
                               vg_service_cfg *cfg, vg_err *err);
void vg_service_cfg_free(vg_service_cfg *cfg);

/* The service: the model loaded once and one MQTT connection (cfg->mqtt: topics
 * PREFIX/<camera>/..., a Home Assistant device per camera, PREFIX/status for the process)
 * shared by a loop per enabled camera (vg_watch_run in its own thread; a slow, dead or frozen
 * camera stalls no other). */
typedef struct vg_service vg_service;

typedef struct {
    const char *name;
    const vg_watch_stats *stats; /* final: the loop has ended */
    vg_status status;            /* how it ended */
    const char *error;           /* its message when status != VG_OK, else NULL */
} vg_service_camera;

typedef struct {
    /* reports, camera NULL for the service itself (model, MQTT); from any thread */
    void (*log)(void *ud, const char *camera, const char *msg);
    /* every camera's event lines (JSON with "camera": NAME), from the cameras' threads */
    void (*on_event)(void *ud, const char *json);
    /* a camera's loop has ended (stopped, removed, restarted, or ended by itself: a file at
       its end, a camera given up), from the thread that calls the service */
    void (*on_camera_end)(void *ud, const vg_service_camera *c);
    void *ud;
} vg_service_hooks;

/* What vg_service_start checks, without starting anything (--check-config): the model loads,
 * every camera's classes and alarm levels fit it (`report`, nullable, gets each camera with a
 * line on its levels), the snapshots and feedback folders are writable. */
vg_status vg_service_check(const vg_service_cfg *cfg,
                           void (*report)(void *ud, const vg_camera_cfg *c, const char *levels),
                           void *ud, vg_err *err);
/* Takes `cfg` over (the caller's struct is emptied; the service frees it, also on error):
 * loads the model, checks every camera against it (classes, alarm levels: reported through
 * the log) and the snapshots / feedback folders, connects to MQTT (waiting up to 5 s; a broker
 * not there yet is retried, not an error) and starts every enabled camera. */
vg_status vg_service_start(vg_service **out, vg_service_cfg *cfg, const vg_service_hooks *h,
                           vg_err *err);
/* Applies a new configuration (taken over as by vg_service_start, whatever the result):
 * cameras added or enabled start, removed or disabled ones stop (their MQTT device is
 * withdrawn from Home Assistant), changed ones restart (keeping their armed state); the
 * others run on untouched. Checked whole before anything stops; the settings outside the
 * cameras (model, threads, events, snapshots, feedback_dir, mqtt) cannot change this way:
 * VG_ERR_ARG naming the key, nothing changed. `summary` (nullable, size n) gets e.g.
 * "1 added (c), 1 removed (b), 0 changed, 2 untouched". */
vg_status vg_service_reload(vg_service *s, vg_service_cfg *cfg, char *summary, size_t n,
                            vg_err *err);
/* Cameras whose loop runs; the ones that have ended by themselves are reported here
 * (on_camera_end). Such a camera stays ended through reloads until its settings change. */
int vg_service_running(vg_service *s);
/* False when a running camera's loop has not come round for max_age seconds (hung: do not pet
 * a watchdog). */
bool vg_service_alive(vg_service *s, double max_age);
/* Stops every camera (active alarms end "stopped"; each reported), says goodbye over MQTT
 * (every camera's final state, PREFIX/status "offline") and frees. NULL is a no-op. Returns
 * false when the broker could not confirm the goodbye. */
bool vg_service_stop(vg_service *s);

/* Live adaptation's models (feedback: {auto_adapt: true}): FEEDBACK_DIR/models/STEM.aN.EXT,
 * each made from the configured model MODEL (file STEM.EXT) on all the feedback there was;
 * models/current names the one the service runs (none: MODEL itself). */
typedef struct {
    char id[VG_WATCH_MODEL_ID]; /* STEM.aN */
    char path[1200];
    char date[32];    /* when it was made (its adapt_date) */
    char learnt[512]; /* what it learnt (its adapt_learnt) */
    bool current;     /* the one models/current names */
} vg_adapted_model;
/* The kept models, oldest first, into out[max]: their count, or -1 (err) when there is no
 * such folder. */
int vg_adapted_list(const char *feedback_dir, const char *model, vg_adapted_model *out, int max,
                    vg_err *err);
/* Makes `id` current (STEM or "base": MODEL itself; NULL: the one before the current one, a
 * rollback); *chosen (n bytes) gets the id now current. The service takes it at its next
 * reload (SIGHUP: systemctl reload vigie). */
vg_status vg_adapted_select(const char *feedback_dir, const char *model, const char *id,
                            char *chosen, size_t n, vg_err *err);

/* ---- misc --------------------------------------------------------------------------------- */

/* Peak resident set size of this process so far, in bytes (0 if unknown). */
size_t vg_peak_rss_bytes(void);
/* Monotonic clock in seconds. */
double vg_time_now(void);
/* Benchmarks' statistics: sorts v[n] ascending; the nearest-rank q-quantile of sorted v (the
 * smallest value with at least q of the values at or below it; 0 for n < 1). */
void vg_sort_doubles(double *v, int n);
double vg_percentile_sorted(const double *v, int n, double q);

#ifdef __cplusplus
}
#endif
#endif /* VIGIE_H */
