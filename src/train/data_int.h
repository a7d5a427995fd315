/* data_int.h — what data.c shares with sources.c (datasets of several sources), and nothing
 * else includes: string vectors, the folder-per-class scan, sample appending and list reading
 * within one source's samples. */
#ifndef VG_DATA_INT_H
#define VG_DATA_INT_H

#include "train/data.h"

typedef struct {
    char **v;
    int n, cap;
} strvec;

void vg_strvec_free(strvec *s);
/* Appends a copy of `str` (its first `len` bytes). */
bool vg_strvec_push(strvec *s, const char *str, size_t len);
int vg_cmp_int(const void *a, const void *b);
/* root without trailing slashes ("/" stays "/") */
char *vg_clean_root(const char *root);
/* ", "-joined class names into buf, shortened with "..." when they do not fit */
void vg_class_names(char *const *names, int n, char *buf, size_t size);

typedef struct {
    char *name;   /* class folder name */
    strvec files; /* image file names, sorted */
} scan_dir;

typedef struct {
    scan_dir *dirs; /* sorted by name */
    int n_dirs;
    strvec ignored; /* full paths of subfolders without images */
} scan_tree;

vg_status vg_scan_tree_read(const char *root, scan_tree *t, vg_err *err);
void vg_scan_tree_free(scan_tree *t);
/* Appends the samples of tree t (root `root`) with labels map[dir] to ds->samples, of
 * source `source`, split VG_SPLIT_TRAIN. */
vg_status vg_append_samples(vg_dataset *ds, const char *root, const scan_tree *t, const int *map,
                            bool extra, vg_err *err);
/* vg_dataset_read_list within the samples of source `src` (a folder-per-class tree). */
vg_status vg_dataset_read_list_in(const vg_dataset *ds, int src, const char *list, int **idx,
                                  int *n, vg_err *err);
/* Made-up stratified split of source `src`'s samples whose split is VG_SPLIT_TRAIN (see
 * vg_dataset_split_stratified): the chosen ones become VG_SPLIT_VAL. */
vg_status vg_stratify_source(vg_dataset *ds, int src, float fraction, uint64_t seed, vg_err *err);
/* Rebuilds ds->train / val / test from the samples' split fields (ascending). */
vg_status vg_dataset_collect_splits(vg_dataset *ds, vg_err *err);
/* Appends a source record (root and name copied); returns its index or -1 (no memory). */
int vg_dataset_add_source(vg_dataset *ds, const char *root, bool detection, bool extra);

#endif
