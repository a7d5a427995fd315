/* data.h — the training data pipeline of `vigie train` / `vigie eval`: datasets (one folder
 * per class, split lists), a cache of decoded and resized images (RAM or an mmapped file),
 * augmentation straight into normalised model input, and a batch loader whose background
 * thread prepares the next batch while the caller trains on the current one.
 *
 * Nothing here prints: problems come back as vg_status + vg_err, per-image problems and
 * progress through callbacks that run on the caller's thread.
 *
 * TYPICAL USE (train)
 *     vg_dataset *ds;   vg_dataset_scan("data/firesmoke-cctv", &ds, &err);
 *     vg_dataset_split_lists(ds, "splits/train.txt", "splits/val.txt", &err);
 *         (or vg_dataset_split_stratified(ds, 0.15f, seed, &err), then warn the user when
 *          vg_dataset_split_made_up(ds): frames of one clip may land on both sides)
 *     vg_dataset_add_extra_train(ds, "data/hard-negatives", &err);        (optional, repeatable)
 *     vg_cache_opts co = vg_cache_opts_default();  co.size = 256;  co.dir = "cache";
 *     co.require_every_class = true;
 *     vg_cache *tc;  vg_cache_build(&tc, ds, ds->train, ds->n_train, &co, &err);
 *     vg_cache_class_counts(tc, counts);      (counts, w: ds->n_classes entries each)
 *     vg_class_weights(counts, ds->n_classes, ds->classes, w, &err);
 *     vg_loader_opts lo = vg_loader_opts_default();  lo.spec = model_spec;  lo.aug = &aug;
 *     vg_loader *ld;  vg_loader_new(&ld, tc, NULL, 0, &lo, &err);
 *     for epoch: vg_loader_start(ld, epoch, first_batch);
 *                vg_batch b;  while (vg_loader_next(ld, &b)) train on b.x (b.n, h, w, 3)
 *
 * DETERMINISM
 *     Every random choice is keyed (core/rng.h): the stratified split by vg_rng_make(seed,
 *     UINT64_MAX, hash of the class name), the epoch order by (seed, epoch, UINT64_MAX - 1),
 *     the augmentation of a draw by (seed, epoch, sample index [+ (draw + 1) << 32 when
 *     balanced]). Batches therefore do not depend on thread counts, timing, or whether the
 *     epoch was started at batch 0 or resumed at batch k; other users of the run seed should
 *     pick other keys.
 *
 * Not here: the training loop (trainer.c), printing, command-line parsing. */
#ifndef VG_DATA_H
#define VG_DATA_H

#include "core/core.h"

/* ---- datasets ------------------------------------------------------------------------------ */

typedef struct {
    char *path; /* full path, e.g. "data/fire/a.jpg" (owned) */
    char *name; /* "class/file" relative to its tree, as in split lists (points into path) */
    int label;  /* index into vg_dataset.classes */
    bool extra; /* from an extra-train tree: training only */
} vg_sample;

/* Read-only for callers; build with the functions below, release with vg_dataset_free. */
typedef struct {
    char *root; /* the scanned folder, without trailing '/' */
    int n_classes;
    char **classes; /* sorted (byte order) folder names */
    int n_samples;
    vg_sample *samples;  /* the main tree sorted by (class, file name), then extra trees */
    int n_main;          /* samples [0, n_main) come from the main tree */
    int *train, n_train; /* indices into samples, ascending */
    int *val, n_val;
    bool split_made_up; /* the split came from vg_dataset_split_stratified */
    char **ignored;     /* subfolders holding files but no image (e.g. "DIR/splits") */
    int n_ignored;
} vg_dataset;

/* Image files are *.jpg, *.jpeg, *.png, *.bmp, any letter case; names starting with '.' are
 * ignored, as are plain files directly under the root. */
#define VG_DATA_EXTENSIONS ".jpg .jpeg .png .bmp"

/* Scans root/<class>/<image>. A subfolder with at least one image is a class; an empty
 * subfolder, or one holding only images of an unsupported format (.webp, .gif, .tif...), is
 * an error naming it; a subfolder holding other files only (splits/, copyright/) is skipped
 * and listed in `ignored`. After the scan every sample is in `train` and `val` is empty. */
vg_status vg_dataset_scan(const char *root, vg_dataset **out, vg_err *err);
void vg_dataset_free(vg_dataset *ds);

/* Index of class `name`, or -1. */
int vg_dataset_find_class(const vg_dataset *ds, const char *name);

/* Reads a split list: one "class/file" per line (CRLF, blank lines, surrounding blanks and
 * whole-line '#' comments are tolerated) naming images of the main tree. Problems (unknown
 * class, no such file, duplicate) are reported together, the first few with their line
 * numbers ("val.txt:12: smoke/x.jpg: no such file; ..."). *idx (free() it) gets the sample
 * indices in ascending order; an empty list is an error. */
vg_status vg_dataset_read_list(const vg_dataset *ds, const char *list, int **idx, int *n,
                               vg_err *err);

/* Sets train and val from lists (val_list may be NULL: no validation set). A sample in both
 * lists is an error. Samples of extra-train trees stay in train. */
vg_status vg_dataset_split_lists(vg_dataset *ds, const char *train_list, const char *val_list,
                                 vg_err *err);

/* Moves every validation sample into train (train stays ascending, extra-train samples last)
 * and leaves val empty: the refit after the settings were chosen on val. */
vg_status vg_dataset_merge_val(vg_dataset *ds, vg_err *err);

/* Makes up a split of the main tree: in each class (files in name order) round(fraction * n)
 * samples, at least 1 when the class has 2 or more and fraction > 0, and never all of them,
 * go to val, picked with the RNG keyed by (seed, class name). fraction in [0, 1). Sets
 * split_made_up: the caller should warn that near-duplicate frames (consecutive video frames)
 * may end up on both sides and inflate validation accuracy. */
vg_status vg_dataset_split_stratified(vg_dataset *ds, float fraction, uint64_t seed, vg_err *err);
bool vg_dataset_split_made_up(const vg_dataset *ds);

/* Adds the images of another folder-per-class tree to the training set only (e.g. hard
 * negatives). Folder names must be classes of the main tree (a folder may be missing); an
 * unknown one is an error naming it and the known classes, and nothing is added. May be
 * called before or after the split, and more than once. */
vg_status vg_dataset_add_extra_train(vg_dataset *ds, const char *dir, vg_err *err);

/* counts[c] = samples of class c among samples idx[0..n). counts has n_classes entries. */
void vg_dataset_count(const vg_dataset *ds, const int *idx, int n, int *counts);

/* Class weights for the loss, inverse frequency normalised to average 1 over the samples:
 * w[c] = N / (C * counts[c]), N = sum of counts. A class with no sample is an error naming it
 * (`names` may be NULL: then "class <c>"). */
vg_status vg_class_weights(const int *counts, int n_classes, char *const *names, float *w,
                           vg_err *err);

/* ---- decoded image cache --------------------------------------------------------------------- */

/* A corrupt or unreadable image: `msg` is the decoder's one-line message. */
typedef void (*vg_bad_image_fn)(void *ud, const char *path, const char *msg);
/* `done` of `total` images decoded. */
typedef void (*vg_progress_fn)(void *ud, int done, int total);

typedef struct {
    int size;                   /* S: every image is squashed (no crop) to S x S RGB */
    int threads;                /* decoding threads, >= 1 */
    size_t ram_budget;          /* keep pixels in RAM when they need at most this many bytes */
    const char *dir;            /* folder for the on-disk cache beyond the budget (created if
                                   missing); NULL: exceeding the budget is an error */
    bool require_every_class;   /* error when a class of the dataset has no good image */
    vg_bad_image_fn on_bad;     /* may be NULL; called on the calling thread */
    vg_progress_fn on_progress; /* may be NULL; called on the calling thread */
    void *ud;
} vg_cache_opts;

/* size 256, threads 1, ram_budget 512 MiB, no dir, no callbacks */
vg_cache_opts vg_cache_opts_default(void);

typedef struct vg_cache vg_cache;

/* Decodes samples idx[0..n) of ds once (vg_image_load, then vg_image_resize to S x S, the
 * same resampler as inference) and keeps them as RGB bytes, entry i <-> sample idx[i]. When
 * n * S * S * 3 bytes exceed ram_budget, the pixels go to dir/vigie-cache-<hash>.bin (hash
 * of S and the sample paths), which is written through a temporary file and renamed, then
 * mapped read-only; a later build of the same samples reuses it when its header (size,
 * modification time of every image, S, count, checksum) matches, and rebuilds it otherwise.
 * Images that fail to decode are reported through on_bad and skipped (never fatal). */
vg_status vg_cache_build(vg_cache **out, const vg_dataset *ds, const int *idx, int n,
                         const vg_cache_opts *o, vg_err *err);
void vg_cache_free(vg_cache *c);

int vg_cache_count(const vg_cache *c); /* entries, good or bad */
int vg_cache_good(const vg_cache *c);  /* entries that decoded */
int vg_cache_size(const vg_cache *c);  /* S */
bool vg_cache_ok(const vg_cache *c, int i);
int vg_cache_label(const vg_cache *c, int i);
int vg_cache_sample(const vg_cache *c, int i); /* index into the dataset's samples */
/* S * S * 3 bytes of entry i, or NULL for a bad entry. Valid until vg_cache_free. */
const uint8_t *vg_cache_pixels(const vg_cache *c, int i);
/* Done with entry i for now: with a disk cache its pages leave the process's resident set (they
 * stay in the page cache), so that a cache larger than the memory budget does not count
 * against it. No effect in RAM. */
void vg_cache_release(const vg_cache *c, int i);
/* counts[c] = good entries of class c (n_classes entries, the dataset's) */
void vg_cache_class_counts(const vg_cache *c, int *counts);
size_t vg_cache_ram_bytes(const vg_cache *c);  /* pixels held in malloc'ed memory */
size_t vg_cache_disk_bytes(const vg_cache *c); /* size of the mapped cache file, or 0 */
bool vg_cache_reused(const vg_cache *c);       /* an existing cache file was used */
const char *vg_cache_file(const vg_cache *c);  /* the cache file, or NULL in RAM */

/* ---- augmentation ---------------------------------------------------------------------------- */

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
} vg_augment;

/* scale 0.35..1, ratio 3/4..4/3, flip 0.5, brightness/contrast/saturation 0.3, hue 0.02,
 * no zoom-out (zoom_min 0.5 when enabled) */
vg_augment vg_augment_default(void);
vg_status vg_augment_check(const vg_augment *a, vg_err *err);
/* Checks a spec for augment/loader use: 3 channels, 1..4096 pixels a side, finite mean,
 * finite non-zero std. */
vg_status vg_input_spec_check(const vg_input_spec *spec, vg_err *err);

/* One draw of the random parameters. The no-augmentation parameters are the whole image,
 * no flip, all factors 1, hue 0, and order 0,1,2,3. */
typedef struct {
    int x, y, w, h; /* crop box in source pixels */
    bool flip;
    float brightness, contrast, saturation, hue;
    uint8_t order[4]; /* jitter order: 0 brightness, 1 contrast, 2 saturation, 3 hue */
    float zoom, zoom_x, zoom_y; /* side share of the output the crop fills (1: all), and where:
                                   0..1 of the free room left / above */
} vg_augment_params;

/* Draws the parameters for a src_w x src_h image from vg_rng_make(seed, epoch, key);
 * a == NULL gives the no-augmentation parameters. */
void vg_augment_draw(const vg_augment *a, int src_w, int src_h, uint64_t seed, uint64_t epoch,
                     uint64_t key, vg_augment_params *p);
/* Renders: bilinear resample (half-pixel centres, taps clamped to the crop) of the crop box
 * of `rgb` (src_w x src_h) to spec->w x spec->h (or to its zoom-out rectangle, the rest
 * spec->mean), mirrored if flip, colour jitter on floats in
 * [0, 255] with a clamp after each step, then (v - mean) / std. out: (spec->h, spec->w, 3).
 * The spec must pass vg_input_spec_check. Uses no heap memory. */
void vg_augment_render(const uint8_t *rgb, int src_w, int src_h, const vg_augment_params *p,
                       const vg_input_spec *spec, float *out);
/* vg_augment_draw + vg_augment_render. */
void vg_augment_image(const uint8_t *rgb, int src_w, int src_h, const vg_augment *a,
                      const vg_input_spec *spec, uint64_t seed, uint64_t epoch, uint64_t key,
                      float *out);

/* ---- batch loader ---------------------------------------------------------------------------- */

typedef struct {
    int batch;             /* images per batch, >= 1 */
    bool balanced;         /* class-balanced draws with replacement instead of a shuffle */
    bool drop_last;        /* drop a final partial batch */
    const vg_augment *aug; /* NULL: no augmentation (whole image resized); copied */
    vg_input_spec spec;    /* output size (w x h) and normalisation */
    uint64_t seed;
    int threads; /* threads of the background worker, >= 1 */
} vg_loader_opts;

/* batch 32, shuffle, keep the last batch, no augmentation, spec zeroed (set it), seed 0,
 * threads 1 */
vg_loader_opts vg_loader_opts_default(void);

/* A batch, valid until the next vg_loader_next / vg_loader_start / vg_loader_free. */
typedef struct {
    int n;     /* images in this batch (the last may be smaller) */
    int index; /* batch index within the epoch */
    int epoch;
    const float *x;     /* (n, spec.h, spec.w, 3) */
    const int *labels;  /* n */
    const int *entries; /* n cache entries */
} vg_batch;

typedef struct vg_loader vg_loader;

/* Loads from cache entries entries[0..n) (NULL: every good entry; bad entries are dropped
 * from an explicit list too). Starts the background thread; nothing is produced until
 * vg_loader_start. The cache must outlive the loader. */
vg_status vg_loader_new(vg_loader **out, const vg_cache *c, const int *entries, int n,
                        const vg_loader_opts *o, vg_err *err);
/* Safe at any time, also while the worker is preparing a batch. */
void vg_loader_free(vg_loader *l);

int vg_loader_batches(const vg_loader *l);    /* batches per epoch */
int vg_loader_epoch_size(const vg_loader *l); /* draws per epoch (before drop_last) */

/* Begins epoch `epoch` at batch first_batch (0, or where a checkpoint stopped): the order is
 * that of the epoch, and batch k is the same whether reached from 0 or started at. Abandons
 * any batch in preparation and invalidates the last returned batch. */
void vg_loader_start(vg_loader *l, int epoch, int first_batch);
/* The next batch of the epoch (waits for the worker), or false at the end of the epoch. */
bool vg_loader_next(vg_loader *l, vg_batch *b);

/* The draw order of an epoch, as vg_loader_start computes it: order[d] is the cache entry of
 * draw d, for d < vg_loader_epoch_size (exposed for tests and for logging). */
void vg_loader_order(const vg_loader *l, int epoch, int *order);

#endif
