/* data.c — datasets for training and evaluation (see data.h): scanning a folder-per-class
 * tree, split lists, a made-up stratified split when there are no lists, extra training-only
 * trees, per-class counts and class weights.
 *
 * Everything is sorted by byte order (strcmp), never by locale or by readdir order, so the
 * same folder gives the same sample indices on every machine; the split, the cache key and
 * the augmentation keys all rest on that. Not here: decoding (cache.c), augmentation. */
#include "train/data.h"
#include "train/data_int.h"

#include "core/rng.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define DATA_MAX_SAMPLES    10000000   /* far beyond any edge training set; keeps ints safe */
#define DATA_MAX_LIST_BYTES (64 << 20) /* a split list of 10M entries would be ~500 MB */
#define DATA_LIST_SHOWN     3          /* list problems quoted in the error message */
#define DATA_SPLIT_TAG      0xFFFFFFFFFFFFFFFFull /* RNG key `a` of the split (no epoch is this) */

/* ---- small helpers --------------------------------------------------------------------------- */

void vg_strvec_free(strvec *s) {
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Appends a copy of `str` (its first `len` bytes). */
bool vg_strvec_push(strvec *s, const char *str, size_t len) {
    if (s->n == s->cap) {
        if (s->cap >= DATA_MAX_SAMPLES) return false;
        int cap = s->cap ? s->cap * 2 : 16;
        char **v = vg_realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    char *p = vg_malloc(len + 1);
    if (!p) return false;
    memcpy(p, str, len);
    p[len] = 0;
    s->v[s->n++] = p;
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
int vg_cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static bool has_ext(const char *name, const char *const *exts) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return false;
    for (int i = 0; exts[i]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0) return true;
    return false;
}
static const char *const image_exts[] = {"jpg", "jpeg", "png", "bmp", NULL};
/* formats people put in image folders that the decoders do not read */
static const char *const other_image_exts[] = {"webp", "gif",  "tif", "tiff", "heic",
                                               "heif", "avif", "jxl", "jp2",  NULL};

/* ", "-joined class names into buf, shortened with "..." when they do not fit */
void vg_class_names(char *const *names, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(names[i]);
        if (used + k + 8 >= size) {
            snprintf(buf + used, size - used, "%s...", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
    }
}

/* ---- scanning a folder-per-class tree ------------------------------------------------------ */

void vg_scan_tree_free(scan_tree *t) {
    for (int i = 0; i < t->n_dirs; i++) {
        free(t->dirs[i].name);
        vg_strvec_free(&t->dirs[i].files);
    }
    free(t->dirs);
    vg_strvec_free(&t->ignored);
    memset(t, 0, sizeof *t);
}

/* Names in folder `path`, hidden ones (and . and ..) excluded, sorted. */
static vg_status list_dir(const char *path, strvec *names, vg_err *err) {
    DIR *d = opendir(path);
    if (!d) return vg_err_set(err, VG_ERR_IO, "%s: cannot open folder: %s", path, strerror(errno));
    struct dirent *e;
    vg_status s = VG_OK;
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (!e) {
            if (errno)
                s = vg_err_set(err, VG_ERR_IO, "%s: cannot read folder: %s", path, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (!vg_strvec_push(names, e->d_name, strlen(e->d_name))) {
            s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory listing the folder", path);
            break;
        }
    }
    closedir(d);
    if (s != VG_OK) {
        vg_strvec_free(names);
        return s;
    }
    if (names->n > 1) qsort(names->v, (size_t)names->n, sizeof *names->v, cmp_str);
    return VG_OK;
}

/* Scans one candidate class folder. *is_class tells whether it holds images; an empty folder
 * or one holding only unsupported images is an error. */
static vg_status scan_class_dir(const char *path, strvec *files, bool *is_class, vg_err *err) {
    strvec names = {0};
    vg_status s = list_dir(path, &names, err);
    if (s != VG_OK) return s;
    int n_other = 0, n_unsupported = 0;
    const char *unsupported = NULL;
    for (int i = 0; i < names.n && s == VG_OK; i++) {
        char *full = vg_path_join(path, names.v[i]);
        if (!full) {
            s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        struct stat st;
        /* stat follows links: a link to an image is an image; a dangling link is nothing */
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && has_ext(names.v[i], image_exts)) {
            if (!vg_strvec_push(files, names.v[i], strlen(names.v[i])))
                s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory (or over %d images)", path,
                               DATA_MAX_SAMPLES);
        } else if (has_ext(names.v[i], other_image_exts)) {
            if (!unsupported) unsupported = names.v[i];
            n_unsupported++;
        } else {
            n_other++;
        }
        free(full);
    }
    if (s == VG_OK && files->n == 0) {
        if (n_unsupported > 0)
            s = vg_err_set(err, VG_ERR_UNSUPPORTED,
                           "%s: no supported image: %d file%s such as %s (supported: %s)", path,
                           n_unsupported, n_unsupported > 1 ? "s" : "", unsupported,
                           VG_DATA_EXTENSIONS);
        else if (n_other == 0)
            s = vg_err_set(err, VG_ERR_FORMAT, "%s: class folder holds no image (%s)", path,
                           VG_DATA_EXTENSIONS);
    }
    *is_class = files->n > 0;
    vg_strvec_free(&names);
    return s;
}

vg_status vg_scan_tree_read(const char *root, scan_tree *t, vg_err *err) {
    memset(t, 0, sizeof *t);
    strvec names = {0};
    vg_status s = list_dir(root, &names, err);
    if (s != VG_OK) return s;
    t->dirs = vg_calloc((size_t)(names.n ? names.n : 1), sizeof *t->dirs);
    if (!t->dirs) {
        vg_strvec_free(&names);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
    }
    int root_images = 0;
    long total = 0;
    for (int i = 0; i < names.n && s == VG_OK; i++) {
        char *full = vg_path_join(root, names.v[i]);
        if (!full) {
            s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
            break;
        }
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            scan_dir *d = &t->dirs[t->n_dirs];
            bool is_class = false;
            s = scan_class_dir(full, &d->files, &is_class, err);
            if (s == VG_OK && is_class) {
                d->name = names.v[i]; /* moved out of `names` */
                names.v[i] = NULL;
                t->n_dirs++;
                total += d->files.n;
            } else {
                vg_strvec_free(&d->files);
                if (s == VG_OK && !vg_strvec_push(&t->ignored, full, strlen(full)))
                    s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
            }
        } else if (has_ext(names.v[i], image_exts)) {
            root_images++;
        }
        free(full);
    }
    if (s == VG_OK && t->n_dirs == 0)
        s = vg_err_set(err, VG_ERR_FORMAT,
                       "%s: no class folder with images (expected %s/<class>/"
                       "<image>)%s",
                       root, root,
                       root_images ? "; it holds images itself: give the folder that holds one "
                                     "folder per class"
                                   : "");
    if (s == VG_OK && t->n_dirs > VG_MAX_CLASSES)
        s = vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: %d class folders (at most %d)", root,
                       t->n_dirs, VG_MAX_CLASSES);
    if (s == VG_OK && total > DATA_MAX_SAMPLES)
        s = vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: %ld images (at most %d)", root, total,
                       DATA_MAX_SAMPLES);
    vg_strvec_free(&names); /* free(NULL) for the moved names */
    if (s != VG_OK) vg_scan_tree_free(t);
    return s;
}

/* ---- datasets -------------------------------------------------------------------------------- */

void vg_dataset_free(vg_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_samples; i++)
        free(ds->samples[i].path);
    free(ds->samples);
    for (int c = 0; c < ds->n_classes; c++)
        free(ds->classes[c]);
    free(ds->classes);
    for (int i = 0; i < ds->n_ignored; i++)
        free(ds->ignored[i]);
    free(ds->ignored);
    free(ds->train);
    free(ds->val);
    free(ds->test);
    for (int i = 0; i < ds->n_sources; i++) {
        free(ds->sources[i].root);
        free(ds->sources[i].name);
        for (int k = 0; k < 3; k++)
            free(ds->sources[i].from[k]);
        free(ds->sources[i].skipped_example);
    }
    free(ds->sources);
    free(ds->boxes);
    free(ds->box_rank);
    free(ds->root);
    free(ds);
}

int vg_dataset_add_source(vg_dataset *ds, const char *root, bool detection, bool extra) {
    vg_source *v = vg_realloc(ds->sources, (size_t)(ds->n_sources + 1) * sizeof *v);
    if (!v) return -1;
    ds->sources = v;
    vg_source *src = &v[ds->n_sources];
    memset(src, 0, sizeof *src);
    /* the folder's last component; for an export given as its .yaml, the yaml's folder's */
    size_t end = strlen(root);
    const char *dot = strrchr(root, '.'), *sl = strrchr(root, '/');
    if (dot && (!sl || dot > sl) && (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")))
        end = sl ? (size_t)(sl - root) : 0;
    size_t b = end;
    while (b > 0 && root[b - 1] != '/')
        b--;
    const char *base = root + b;
    size_t base_len = end - b;
    if (base_len == 0) base = root, base_len = strlen(root);
    src->root = vg_malloc(strlen(root) + 1);
    src->name = vg_malloc(base_len + 1);
    if (!src->root || !src->name) {
        free(src->root);
        free(src->name);
        return -1;
    }
    strcpy(src->root, root);
    memcpy(src->name, base, base_len);
    src->name[base_len] = 0;
    src->detection = detection;
    src->extra = extra;
    src->first = ds->n_samples;
    return ds->n_sources++;
}

int vg_dataset_find_class(const vg_dataset *ds, const char *name) {
    int lo = 0, hi = ds->n_classes; /* classes are sorted: binary search */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int k = strcmp(ds->classes[mid], name);
        if (k == 0) return mid;
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Appends the samples of tree t (root `root`) with labels map[dir] to ds->samples. */
vg_status vg_append_samples(vg_dataset *ds, const char *root, const scan_tree *t, const int *map,
                            bool extra, vg_err *err) {
    long add = 0;
    for (int i = 0; i < t->n_dirs; i++)
        add += t->dirs[i].files.n;
    if (ds->n_samples + add > DATA_MAX_SAMPLES)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: over %d images in all", root,
                          DATA_MAX_SAMPLES);
    vg_sample *v = vg_realloc(ds->samples, (size_t)(ds->n_samples + add + 1) * sizeof *v);
    if (!v) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
    ds->samples = v;
    size_t rl = strlen(root);
    for (int i = 0; i < t->n_dirs; i++) {
        const char *cls = ds->classes[map[i]]; /* the folder's name (scan moved it there) */
        size_t cl = strlen(cls);
        for (int j = 0; j < t->dirs[i].files.n; j++) {
            const char *f = t->dirs[i].files.v[j];
            size_t fl = strlen(f);
            char *p = vg_malloc(rl + cl + fl + 3);
            if (!p) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
            memcpy(p, root, rl);
            p[rl] = '/';
            memcpy(p + rl + 1, cls, cl);
            p[rl + 1 + cl] = '/';
            memcpy(p + rl + cl + 2, f, fl + 1);
            vg_sample *s = &ds->samples[ds->n_samples++];
            memset(s, 0, sizeof *s);
            s->path = p;
            s->name = p + rl + 1;
            s->label = map[i];
            s->extra = extra;
            s->source = ds->n_sources - 1;
            s->split = VG_SPLIT_TRAIN;
        }
    }
    return VG_OK;
}

/* root without trailing slashes ("/" stays "/") */
char *vg_clean_root(const char *root) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    char *p = vg_malloc(n + 1);
    if (p) {
        memcpy(p, root, n);
        p[n] = 0;
    }
    return p;
}

vg_status vg_dataset_scan(const char *root_arg, vg_dataset **out, vg_err *err) {
    if (!out) return vg_err_set(err, VG_ERR_ARG, "vg_dataset_scan: no output given");
    *out = NULL;
    if (!root_arg || !root_arg[0]) return vg_err_set(err, VG_ERR_ARG, "dataset: no folder given");
    vg_dataset *ds = vg_calloc(1, sizeof *ds);
    if (!ds || !(ds->root = vg_clean_root(root_arg))) {
        free(ds);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root_arg);
    }
    scan_tree t;
    vg_status s = vg_scan_tree_read(ds->root, &t, err);
    if (s != VG_OK) {
        vg_dataset_free(ds);
        return s;
    }
    int *map = vg_malloc((size_t)t.n_dirs * sizeof *map);
    ds->classes = vg_calloc((size_t)t.n_dirs, sizeof *ds->classes);
    if (!map || !ds->classes) s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", ds->root);
    for (int i = 0; s == VG_OK && i < t.n_dirs; i++) {
        map[i] = i;
        ds->classes[i] = t.dirs[i].name; /* moved */
        t.dirs[i].name = NULL;
        ds->n_classes++;
    }
    ds->no_alarm = -1;
    if (s == VG_OK && vg_dataset_add_source(ds, ds->root, false, false) < 0)
        s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", ds->root);
    if (s == VG_OK) s = vg_append_samples(ds, ds->root, &t, map, false, err);
    if (s == VG_OK) {
        ds->n_main = ds->n_samples;
        ds->sources[0].count = ds->n_samples;
        ds->ignored = t.ignored.v; /* moved */
        ds->n_ignored = t.ignored.n;
        memset(&t.ignored, 0, sizeof t.ignored);
        ds->train = vg_malloc((size_t)ds->n_main * sizeof *ds->train);
        if (!ds->train) s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", ds->root);
        for (int i = 0; s == VG_OK && i < ds->n_main; i++)
            ds->train[i] = i;
        if (s == VG_OK) ds->n_train = ds->n_main;
    }
    free(map);
    vg_scan_tree_free(&t);
    if (s != VG_OK) {
        vg_dataset_free(ds);
        return s;
    }
    *out = ds;
    return VG_OK;
}

/* First sample of class c in source src and their count (a tree's samples are sorted by
 * class). */
static void class_range(const vg_dataset *ds, int src, int c, int *first, int *count) {
    const int end = ds->sources[src].first + ds->sources[src].count;
    int lo = ds->sources[src].first, hi = end;
    while (lo < hi) { /* first sample with label >= c */
        int mid = lo + (hi - lo) / 2;
        if (ds->samples[mid].label < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    int f = lo;
    hi = end;
    while (lo < hi) { /* first sample with label > c */
        int mid = lo + (hi - lo) / 2;
        if (ds->samples[mid].label <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = f;
    *count = lo - f;
}

/* Sample of class c in source src whose file name is `file`, or -1. */
static int find_sample(const vg_dataset *ds, int src, int c, const char *file) {
    int first, count;
    class_range(ds, src, c, &first, &count);
    size_t skip = strlen(ds->classes[c]) + 1;
    int lo = first, hi = first + count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int k = strcmp(ds->samples[mid].name + skip, file);
        if (k == 0) return mid;
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Problems found in a list: the first DATA_LIST_SHOWN are kept as text. */
typedef struct {
    char text[VG_ERR_MSG_SIZE];
    size_t used;
    int count;
    bool unknown_class;
} list_problems;

static void problem_add(list_problems *p, const char *fmt, ...) VG_PRINTF(2, 3);
static void problem_add(list_problems *p, const char *fmt, ...) {
    if (p->count++ >= DATA_LIST_SHOWN || p->used + 4 >= sizeof p->text) return;
    if (p->used) p->used += (size_t)snprintf(p->text + p->used, sizeof p->text - p->used, "; ");
    if (p->used >= sizeof p->text) {
        p->used = sizeof p->text - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(p->text + p->used, sizeof p->text - p->used, fmt, ap);
    va_end(ap);
    p->used += k > 0 ? (size_t)k : 0;
    if (p->used >= sizeof p->text) p->used = sizeof p->text - 1;
}

vg_status vg_dataset_read_list(const vg_dataset *ds, const char *list, int **idx_out, int *n_out,
                               vg_err *err) {
    return vg_dataset_read_list_in(ds, 0, list, idx_out, n_out, err);
}

vg_status vg_dataset_read_list_in(const vg_dataset *ds, int src, const char *list, int **idx_out,
                                  int *n_out, vg_err *err) {
    *idx_out = NULL;
    *n_out = 0;
    if (src < 0 || src >= ds->n_sources || ds->sources[src].detection)
        return vg_err_set(err, VG_ERR_ARG, "%s: split lists are for folder-per-class trees", list);
    const vg_source *so = &ds->sources[src];
    uint8_t *data;
    size_t size;
    vg_status s = vg_file_read(list, DATA_MAX_LIST_BYTES, &data, &size, err);
    if (s != VG_OK) return s;
    /* lines are cut in place, so the buffer needs a terminating NUL */
    char *text = vg_realloc(data, size + 1);
    int *first_line = vg_calloc((size_t)ds->n_samples + 1, sizeof *first_line);
    int *idx = vg_malloc(((size_t)so->count + 1) * sizeof *idx);
    if (!text || !first_line || !idx) {
        free(text ? text : (char *)data);
        free(first_line);
        free(idx);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", list);
    }
    text[size] = 0;
    const char *base = strrchr(list, '/');
    base = base ? base + 1 : list;
    list_problems pr = {.used = 0};
    int n = 0, line_no = 0;
    char *line = text;
    while (line <= text + size) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        char *end = nl ? nl : text + size;
        char *next = end + 1;
        *end = 0;
        line_no++;
        while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        char *e = line;
        while (*e == ' ' || *e == '\t')
            e++;
        line = next;
        if (!*e || *e == '#') {
            if (!nl) break;
            continue;
        }
        char *slash = strchr(e, '/');
        int c = -1;
        if (slash) {
            *slash = 0;
            c = vg_dataset_find_class(ds, e);
            *slash = '/';
        }
        if (!slash || slash == e || !slash[1]) {
            problem_add(&pr, "%s:%d: %s: expected class/file", base, line_no, e);
        } else if (c < 0) {
            pr.unknown_class = true;
            problem_add(&pr, "%s:%d: %s: unknown class '%.*s'", base, line_no, e, (int)(slash - e),
                        e);
        } else {
            int k = find_sample(ds, src, c, slash + 1);
            if (k < 0) {
                /* tell "not there" from "there but not an image we scanned" */
                char *full = vg_path_join(so->root, e);
                struct stat st;
                bool exists = full && stat(full, &st) == 0;
                free(full);
                problem_add(&pr, "%s:%d: %s: %s", base, line_no, e,
                            exists ? "not an image of the dataset (" VG_DATA_EXTENSIONS
                                     ", not hidden, directly in the class folder)"
                                   : "no such file");
            } else if (first_line[k]) {
                problem_add(&pr, "%s:%d: %s: duplicate of line %d", base, line_no, e,
                            first_line[k]);
            } else {
                first_line[k] = line_no;
                idx[n++] = k;
            }
        }
        if (!nl) break;
    }
    free(text);
    free(first_line);
    if (pr.count > 0) {
        char names[192] = "";
        if (pr.unknown_class) vg_class_names(ds->classes, ds->n_classes, names, sizeof names);
        char more[32] = "";
        if (pr.count > DATA_LIST_SHOWN)
            snprintf(more, sizeof more, "; %d problems in all", pr.count);
        free(idx);
        return vg_err_set(err, VG_ERR_FORMAT, "%s%s%s%s%s", pr.text, more,
                          pr.unknown_class ? " (classes: " : "", names,
                          pr.unknown_class ? ")" : "");
    }
    if (n == 0) {
        free(idx);
        return vg_err_set(err, VG_ERR_FORMAT, "%s: the list names no image", list);
    }
    /* dataset order, so the same set of images gives the same cache whatever the list order */
    qsort(idx, (size_t)n, sizeof *idx, vg_cmp_int);
    *idx_out = idx;
    *n_out = n;
    return VG_OK;
}

vg_status vg_dataset_collect_splits(vg_dataset *ds, vg_err *err) {
    int n[3] = {0, 0, 0};
    for (int i = 0; i < ds->n_samples; i++)
        if (ds->samples[i].split >= 0) n[ds->samples[i].split]++;
    int *v[3];
    for (int k = 0; k < 3; k++)
        v[k] = vg_malloc(((size_t)n[k] + 1) * sizeof(int));
    if (!v[0] || !v[1] || !v[2]) {
        for (int k = 0; k < 3; k++)
            free(v[k]);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", ds->root);
    }
    memset(n, 0, sizeof n);
    for (int i = 0; i < ds->n_samples; i++) {
        int k = ds->samples[i].split;
        if (k >= 0) v[k][n[k]++] = i;
    }
    free(ds->train), free(ds->val), free(ds->test);
    ds->train = v[0], ds->n_train = n[0];
    ds->val = v[1], ds->n_val = n[1];
    ds->test = v[2], ds->n_test = n[2];
    for (int s = 0; s < ds->n_sources; s++) {
        vg_source *so = &ds->sources[s];
        memset(so->n_split, 0, sizeof so->n_split);
        for (int i = so->first; i < so->first + so->count; i++)
            if (ds->samples[i].split >= 0) so->n_split[ds->samples[i].split]++;
    }
    return VG_OK;
}

/* The first source's samples: those in idx[0..n) get split k (the others keep theirs). */
static void mark(vg_dataset *ds, const int *idx, int n, int k) {
    for (int i = 0; i < n; i++)
        ds->samples[idx[i]].split = k;
}

vg_status vg_dataset_split_lists(vg_dataset *ds, const char *train_list, const char *val_list,
                                 vg_err *err) {
    if (!ds || !train_list)
        return vg_err_set(err, VG_ERR_ARG, "vg_dataset_split_lists: no dataset or train list");
    int *tr = NULL, *va = NULL, nt = 0, nv = 0;
    vg_status s = vg_dataset_read_list(ds, train_list, &tr, &nt, err);
    if (s == VG_OK && val_list) s = vg_dataset_read_list(ds, val_list, &va, &nv, err);
    if (s == VG_OK) {
        /* both are sorted: walk them together to find shared samples (leaked validation) */
        int i = 0, j = 0, shared = 0, first = -1;
        while (i < nt && j < nv) {
            if (tr[i] < va[j])
                i++;
            else if (tr[i] > va[j])
                j++;
            else {
                if (first < 0) first = tr[i];
                shared++;
                i++;
                j++;
            }
        }
        if (shared)
            s = vg_err_set(err, VG_ERR_FORMAT, "%s: in both %s and %s%s", ds->samples[first].name,
                           train_list, val_list,
                           shared > 1 ? " (and other images: the lists must not overlap)" : "");
    }
    if (s == VG_OK) {
        for (int i = 0; i < ds->n_main; i++)
            ds->samples[i].split = VG_SPLIT_NONE;
        mark(ds, tr, nt, VG_SPLIT_TRAIN);
        mark(ds, va, nv, VG_SPLIT_VAL);
        ds->split_made_up = ds->sources[0].made_up = false;
        s = vg_dataset_collect_splits(ds, err);
    }
    free(tr);
    free(va);
    return s;
}

vg_status vg_dataset_merge_val(vg_dataset *ds, vg_err *err) {
    if (!ds) return vg_err_set(err, VG_ERR_ARG, "vg_dataset_merge_val: no dataset");
    for (int i = 0; i < ds->n_val; i++)
        ds->samples[ds->val[i]].split = VG_SPLIT_TRAIN;
    return vg_dataset_collect_splits(ds, err);
}

vg_status vg_stratify_source(vg_dataset *ds, int src, float fraction, uint64_t seed, vg_err *err) {
    if (!(fraction >= 0.0f && fraction < 1.0f))
        return vg_err_set(err, VG_ERR_ARG, "validation fraction %g is not in [0, 1)",
                          (double)fraction);
    int *pick = vg_malloc(((size_t)ds->sources[src].count + 1) * sizeof *pick);
    if (!pick) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", ds->root);
    for (int c = 0; c < ds->n_classes; c++) {
        int first, n_cls, count = 0;
        class_range(ds, src, c, &first, &n_cls);
        for (int i = first; i < first + n_cls; i++) /* a test image stays a test image */
            if (ds->samples[i].split == VG_SPLIT_TRAIN) pick[count++] = i;
        int k = (int)floor((double)fraction * count + 0.5);
        if (fraction > 0 && count >= 2 && k < 1) k = 1;
        if (k > count - 1) k = count - 1;
        if (k <= 0) continue;
        /* keyed by the class name, not its index, so adding a class leaves the others' split
         * unchanged; a partial Fisher-Yates over the class's samples in name order */
        const char *name = ds->classes[c];
        vg_rng r = vg_rng_make(seed, DATA_SPLIT_TAG, vg_hash64(name, strlen(name), 0));
        for (int i = 0; i < k; i++) {
            int j = i + (int)vg_rng_below(&r, (uint32_t)(count - i));
            int t = pick[i];
            pick[i] = pick[j];
            pick[j] = t;
            ds->samples[pick[i]].split = VG_SPLIT_VAL;
        }
    }
    free(pick);
    ds->sources[src].made_up = true;
    ds->split_made_up = true;
    return VG_OK;
}

vg_status vg_dataset_split_stratified(vg_dataset *ds, float fraction, uint64_t seed, vg_err *err) {
    if (!ds) return vg_err_set(err, VG_ERR_ARG, "vg_dataset_split_stratified: no dataset");
    if (!(fraction >= 0.0f && fraction < 1.0f))
        return vg_err_set(err, VG_ERR_ARG, "validation fraction %g is not in [0, 1)",
                          (double)fraction);
    for (int i = 0; i < ds->n_main; i++)
        ds->samples[i].split = VG_SPLIT_TRAIN;
    vg_status s = vg_stratify_source(ds, 0, fraction, seed, err);
    return s == VG_OK ? vg_dataset_collect_splits(ds, err) : s;
}

bool vg_dataset_split_made_up(const vg_dataset *ds) {
    return ds && ds->split_made_up;
}

vg_status vg_dataset_add_extra_train(vg_dataset *ds, const char *dir, vg_err *err) {
    if (!ds || !dir || !dir[0])
        return vg_err_set(err, VG_ERR_ARG, "extra training data: no folder given");
    char *root = vg_clean_root(dir);
    if (!root) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", dir);
    scan_tree t;
    vg_status s = vg_scan_tree_read(root, &t, err);
    if (s != VG_OK) {
        free(root);
        return s;
    }
    int *map = vg_malloc((size_t)t.n_dirs * sizeof *map);
    if (!map) s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
    for (int i = 0; s == VG_OK && i < t.n_dirs; i++) {
        map[i] = vg_dataset_find_class(ds, t.dirs[i].name);
        if (map[i] < 0) {
            char names[256];
            vg_class_names(ds->classes, ds->n_classes, names, sizeof names);
            const char *hint = NULL; /* "Fire" for "fire": names are case-sensitive */
            for (int c = 0; c < ds->n_classes && !hint; c++)
                if (strcasecmp(ds->classes[c], t.dirs[i].name) == 0) hint = ds->classes[c];
            s = vg_err_set(err, VG_ERR_FORMAT,
                           "%s/%s: folder is not a class of %s (classes: %s)%s%s%s", root,
                           t.dirs[i].name, ds->root, names, hint ? "; did you mean '" : "",
                           hint ? hint : "", hint ? "'?" : "");
        }
    }
    /* grow train first, so that a failure leaves the dataset as it was */
    int *train = NULL;
    int n_before = ds->n_samples;
    if (s == VG_OK) {
        long add = 0;
        for (int i = 0; i < t.n_dirs; i++)
            add += t.dirs[i].files.n;
        if (ds->n_train + add > DATA_MAX_SAMPLES)
            s = vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: over %d images in all", root,
                           DATA_MAX_SAMPLES);
        else if (!(train = vg_realloc(ds->train, ((size_t)(ds->n_train + add) + 1) * sizeof *train)))
            s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
        else
            ds->train = train;
    }
    int src = -1;
    if (s == VG_OK && (src = vg_dataset_add_source(ds, root, false, true)) < 0)
        s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", root);
    if (s == VG_OK) s = vg_append_samples(ds, root, &t, map, true, err);
    if (s == VG_OK) {
        for (int i = n_before; i < ds->n_samples; i++)
            ds->train[ds->n_train++] = i;
        ds->sources[src].count = ds->n_samples - n_before;
        ds->sources[src].n_split[VG_SPLIT_TRAIN] = ds->sources[src].count;
    } else {
        /* undo a partial append */
        for (int i = n_before; i < ds->n_samples; i++)
            free(ds->samples[i].path);
        ds->n_samples = n_before;
        if (src >= 0) {
            ds->n_sources--;
            free(ds->sources[src].root);
            free(ds->sources[src].name);
        }
    }
    for (int i = 0; s == VG_OK && i < t.ignored.n; i++) {
        char **v = vg_realloc(ds->ignored, (size_t)(ds->n_ignored + 1) * sizeof *v);
        if (!v) break; /* the list of ignored folders is informative only */
        ds->ignored = v;
        ds->ignored[ds->n_ignored++] = t.ignored.v[i];
        t.ignored.v[i] = NULL;
    }
    free(map);
    vg_scan_tree_free(&t);
    free(root);
    return s;
}

void vg_dataset_count(const vg_dataset *ds, const int *idx, int n, int *counts) {
    for (int c = 0; c < ds->n_classes; c++)
        counts[c] = 0;
    for (int i = 0; i < n; i++) {
        VG_ASSERT(idx[i] >= 0 && idx[i] < ds->n_samples);
        counts[ds->samples[idx[i]].label]++;
    }
}

vg_status vg_class_weights(const int *counts, int n_classes, char *const *names, float *w,
                           vg_err *err) {
    if (n_classes < 1 || !counts || !w)
        return vg_err_set(err, VG_ERR_ARG, "class weights: no classes");
    int64_t total = 0;
    for (int c = 0; c < n_classes; c++) {
        if (counts[c] <= 0) {
            if (names)
                return vg_err_set(err, VG_ERR_FORMAT,
                                  "class '%s' has no training image: every class needs at least "
                                  "one",
                                  names[c]);
            return vg_err_set(err, VG_ERR_FORMAT,
                              "class %d has no training image: every class needs at least one", c);
        }
        total += counts[c];
    }
    for (int c = 0; c < n_classes; c++)
        w[c] = (float)((double)total / ((double)n_classes * (double)counts[c]));
    return VG_OK;
}
