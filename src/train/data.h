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
#include "core/rng.h"

/* ---- datasets ------------------------------------------------------------------------------ */

/* A box of a detection dataset: corners as fractions 0..1 of the image's width and height
 * (x0 <= x1, y0 <= y1), and its class (an index into vg_dataset.classes once in a dataset; the
 * data.yaml's class id in vg_yolo_parse_labels). */
typedef struct {
    float x0, y0, x1, y1;
    int cls;
} vg_box;

typedef enum {
    VG_SPLIT_NONE = -1,
    VG_SPLIT_TRAIN = 0,
    VG_SPLIT_VAL = 1,
    VG_SPLIT_TEST = 2
} vg_split;

typedef struct {
    char *path; /* full path, e.g. "data/fire/a.jpg" (owned) */
    char *name; /* relative to its source's folder: "class/file" for a folder-per-class tree,
                   as in split lists; "train/images/a.jpg" for a detection export (points
                   into path) */
    int label;  /* index into vg_dataset.classes */
    bool extra; /* from an extra-train tree: training only */
    int source; /* index into vg_dataset.sources */
    int split;  /* vg_split the sample is in (vg_dataset_open; the lists otherwise) */
    int box0, n_boxes; /* its boxes: vg_dataset.boxes[box0 .. box0 + n_boxes) */
    bool boxed;        /* from a detection source: the label comes from the boxes, and a crop
                          takes the class of the boxes it keeps */
} vg_sample;

/* Where the samples came from: one per folder given. */
typedef struct {
    char *root;       /* the folder (or data.yaml) as given, without trailing '/' */
    char *name;       /* a short name for reports: the folder's last component */
    bool detection;   /* a YOLO / Roboflow export: classes from boxes */
    bool extra;       /* training only */
    int first, count; /* samples [first, first + count) */
    int n_split[3];   /* images in its train / val / test splits */
    char *from[3];    /* the list file or folder each split came from, or NULL */
    bool made_up;     /* its train / val split was made up (vg_dataset_split_stratified) */
    /* detection sources: images whose label file is missing or empty (background images, of
     * the no-alarm class), and files skipped (image formats the decoders do not read) */
    int no_label_file, empty_labels, skipped;
    char *skipped_example;
} vg_source;

/* Read-only for callers; build with the functions below, release with vg_dataset_free. */
typedef struct {
    char *root; /* the first source's folder, without trailing '/' */
    int n_classes;
    char **classes; /* sorted (byte order) class names: folder names, detection classes and the
                       no-alarm class */
    int n_samples;
    vg_sample *samples;  /* source by source; a folder tree's sorted by (class, file name), a
                            detection export's by name */
    int n_main;          /* samples [0, n_main) come from the first source */
    int *train, n_train; /* indices into samples, ascending */
    int *val, n_val;
    int *test, n_test;  /* vg_dataset_open: the sources' test splits */
    bool split_made_up; /* a split came from vg_dataset_split_stratified */
    char **ignored;     /* subfolders holding files but no image (e.g. "DIR/splits") */
    int n_ignored;
    vg_source *sources;
    int n_sources;
    vg_box *boxes; /* every box of every sample, class indices into `classes` */
    int n_boxes;
    int no_alarm;  /* the class of background images and box-free crops, or -1 */
    int *box_rank; /* per class: its precedence when boxes of several classes are in view (0
                      first: "fire" before "smoke"); INT_MAX for classes no box has */
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

/* Moves every validation sample into train (train stays ascending)
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

/* ---- several sources: folder-per-class trees and detection exports -------------------------- */

/* vg_source_spec (the sources of a dataset) is in vigie.h. */

typedef struct {
    const char *no_alarm; /* the class of images without boxes and of box-free crops; added to
                             the classes when a detection source is given (default "neutral") */
    bool default_lists;   /* use DIR/splits/{train,val,test}.txt when no list is given */
    float val_fraction;   /* a tree without train and val lists: made-up split of this share */
    uint64_t seed;        /* of the made-up split */
} vg_dataset_opts;

/* no_alarm "neutral", default lists on, val_fraction 0.15, seed 1 */
vg_dataset_opts vg_dataset_opts_default(void);

/* Opens one dataset from n sources. Classes are matched by name across sources (the union,
 * sorted; a detection source adds its data.yaml names and the no-alarm class). A detection
 * image's class comes from its boxes: the class of highest precedence among them (the order
 * in which the data.yaml names them, first source first: fire before smoke), the no-alarm
 * class when it has none. Splits per source:
 *   tree:   train = its train list, else every image not in its val or test list; val = its
 *           val list; with neither train nor val list, a made-up stratified split (see
 *           vg_dataset_split_stratified; the source's made_up is set); test = its test list.
 *   export: data.yaml's train, val and test entries.
 *   extra:  every image of a tree, the train split of an export, to train only.
 * An image in two splits of one source is an error naming it. A label file that cannot be
 * parsed is an error naming the file and line. train / val / test get the union, ascending. */
vg_status vg_dataset_open(const vg_source_spec *src, int n, const vg_dataset_opts *o,
                          vg_dataset **out, vg_err *err);

/* Writes to idx (room for the source's count) the samples of source s in split k
 * (VG_SPLIT_NONE: every one) and returns how many. When the source has none in split k and
 * fallback_all is set, every sample of the source instead, and *all_taken (may be NULL) is
 * set: a plain folder evaluated or calibrated on as a whole. */
int vg_dataset_pick(const vg_dataset *ds, int s, int k, bool fallback_all, int *idx,
                    bool *all_taken);

/* Index of the source whose folder is `dir` (as given, trailing '/' ignored), or -1. */
int vg_dataset_find_source(const vg_dataset *ds, const char *dir);

/* Content hash of a set of samples: their names (relative to their source) and sources'
 * names, in order. Same images, same hash, on any machine and path: how a model records
 * which images it was trained on without recording where they were. */
uint64_t vg_dataset_hash(const vg_dataset *ds, const int *idx, int n);

/* Describes samples idx[0..n) by content, source by source: "name:count:hash" entries
 * (vg_dataset_hash of that source's samples among them, 16 hex digits) joined by "; ", in
 * source order, sources without a sample left out. Truncated to `size`. */
void vg_dataset_describe(const vg_dataset *ds, const int *idx, int n, char *buf, size_t size);

/* The label a crop of sample s gets when it shows the region x0,y0..x1,y1 (fractions of the
 * image, see vg_box_keep): the highest-precedence class among the boxes it keeps, the
 * no-alarm class when it keeps none; *ambiguous when a box is only partly in view (neither
 * kept nor cut away). Samples that are not `boxed` keep their label. */
int vg_dataset_crop_label(const vg_dataset *ds, int s, float x0, float y0, float x1, float y1,
                          bool *ambiguous);

/* Whether a crop x0,y0..x1,y1 (fractions of the image) keeps box b: 1 when it shows at least
 * VG_BOX_KEEP of the box, or the box fills at least VG_BOX_KEEP of it (a crop inside a large
 * plume is smoke); 0 when the box is cut away (both shares at most VG_BOX_GONE); -1 in
 * between: part of the flame is in view, too little to call it fire and too much to call the
 * crop neutral. */
#define VG_BOX_KEEP 0.5
#define VG_BOX_GONE 0.1
int vg_box_keep(const vg_box *b, float x0, float y0, float x1, float y1);

/* ---- detection exports (YOLO / Roboflow layout; yolo.c) ---------------------------------- */

#define VG_YOLO_SPLITS 3 /* train, val, test */

typedef struct {
    char *yaml; /* the data.yaml */
    char *root; /* the folder its paths are relative to */
    int n_names;
    char **names; /* class names by id */
    int n_entries[VG_YOLO_SPLITS];
    char **entries[VG_YOLO_SPLITS]; /* per split: folders of images, .txt lists, images */
} vg_yolo_spec;

/* true when `path` is a .yaml / .yml file or a folder holding data.yaml */
bool vg_yolo_is_export(const char *path);
/* Reads data.yaml (`path` is the file or its folder). Errors name file:line:column and the
 * key: no names, nc disagreeing with names, a split folder or list that does not exist. */
vg_status vg_yolo_spec_read(const char *path, vg_yolo_spec *s, vg_err *err);
void vg_yolo_spec_free(vg_yolo_spec *s);
/* The images of split k (0 train, 1 val, 2 test): full paths, sorted, each once (free each
 * and the array). *skipped counts files of image formats that are not read (.webp ...), one
 * of them in *skipped_example (may be NULL; free it). */
vg_status vg_yolo_split_images(const vg_yolo_spec *s, int split, char ***paths, int *n,
                               int *skipped, char **skipped_example, vg_err *err);
/* The label file of an image: the last "/images/" of its path becomes "/labels/", the
 * extension ".txt" (next to the image when there is no images folder). malloc'ed, or NULL. */
char *vg_yolo_label_path(const char *image);
/* Parses a label file's text: one box per line, "class cx cy w h" or a polygon "class x1 y1
 * x2 y2 x3 y3 ..." (its bounding box); blank lines are skipped. Errors name `name`:line.
 * Boxes are clipped to the image (a little over its edge is exporters' rounding; more is an
 * error). *boxes (free it) may be NULL when there is none. */
vg_status vg_yolo_parse_labels(const char *text, size_t size, const char *name, int n_names,
                               vg_box **boxes, int *n_boxes, vg_err *err);
/* vg_yolo_label_path + read + parse; a missing label file is no box (*has_file false). */
vg_status vg_yolo_read_labels(const char *image, int n_names, vg_box **boxes, int *n_boxes,
                              bool *has_file, vg_err *err);

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

/* vg_augment (the random crops, flips, colour jitter, zooms) and vg_augment_default are in
 * vigie.h. */

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
/* The random resized crop of vg_augment_draw alone (torchvision's RandomResizedCrop), into
 * p's crop box. */
void vg_augment_random_crop(const vg_augment *a, int W, int H, vg_rng *r, vg_augment_params *p);
/* Crops around boxes (a->box_zoom) and away from them (a->neg_crop): each replaces the crop
 * box of p (pixels of a W x H image; boxes are fractions of it), drawing from r. The zoom-in
 * crop frames box b; the negative crop returns false, p untouched, when no place is found. */
void vg_augment_zoom_crop(const vg_augment *a, int W, int H, const vg_box *b, vg_rng *r,
                          vg_augment_params *p);
bool vg_augment_negative_crop(const vg_augment *a, int W, int H, const vg_box *boxes, int n,
                              vg_rng *r, vg_augment_params *p);
/* Whether the crop x0,y0..x1,y1 (fractions) overlaps box b grown by `margin` of its longer
 * side on every side. */
bool vg_box_near(const vg_box *b, float margin, float x0, float y0, float x1, float y1);

/* vg_augment_render, with the zoom-out's surroundings taken from a scene instead of the mean:
 * bg (bg_w x bg_h RGB) resampled whole to the output, the crop drawn over it (a small fire in
 * a camera's view). bg NULL, or p->zoom 1: exactly vg_augment_render. */
void vg_augment_render_scene(const uint8_t *rgb, int src_w, int src_h, const vg_augment_params *p,
                             const uint8_t *bg, int bg_w, int bg_h, const vg_input_spec *spec,
                             float *out);

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
    /* the cache's dataset, for the boxes of detection samples: their crops take the class
     * of the boxes they keep, and zoom-in / negative crops (vg_augment) need them. NULL: every
     * draw keeps its image's label */
    const vg_dataset *ds;
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

/* counts[c] = draws of class c in epoch `epoch` (the crops' labels, which boxes and negative
 * crops make differ from the images'), without rendering: what class weights should follow.
 * counts has the dataset's n_classes entries (with opts.ds), else max label + 1. */
void vg_loader_label_counts(const vg_loader *l, int epoch, int *counts);

/* The draw order of an epoch, as vg_loader_start computes it: order[d] is the cache entry of
 * draw d, for d < vg_loader_epoch_size (exposed for tests and for logging). */
void vg_loader_order(const vg_loader *l, int epoch, int *order);

#endif
