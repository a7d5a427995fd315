/* yolo.c — detection datasets in the YOLO / Roboflow "YOLOv8" export layout (see data.h):
 * `data.yaml` (class names and where each split's images are), images, and one label file per
 * image with a box per line (`class cx cy w h`, normalised to 0..1, or a segmentation polygon
 * `class x1 y1 x2 y2 ...`, whose bounding box is taken).
 *
 * The layout rules follow Ultralytics, which is what people who label their own cameras
 * export for: a split entry is a folder of images (searched recursively) or a .txt list of
 * image paths; an image's labels are at the same path with the last `/images/` replaced by
 * `/labels/` and the extension by `.txt` (next to the image when the path has no `images`
 * folder); an image without a label file, or with an empty one, has no box (a background
 * image). Paths in data.yaml are relative to its `path` key, else to the yaml's folder, and
 * Roboflow's `../train/images` (written for a layout one level up) falls back to
 * `train/images` when the former does not exist.
 *
 * Nothing here knows about classes of a training run or about splits of a dataset: data.c's
 * vg_dataset_open maps names and builds samples. Nothing here prints. */
#include "train/data.h"
#include "train/yamlx.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define YOLO_MAX_YAML_BYTES  (1 << 20)  /* a data.yaml is a few hundred bytes */
#define YOLO_MAX_LABEL_BYTES (16 << 20) /* thousands of boxes are still far below */
#define YOLO_MAX_LIST_BYTES  (256 << 20)
#define YOLO_MAX_DEPTH       8 /* folder nesting searched below a split folder */
#define YOLO_MAX_ENTRIES     64
#define YOLO_MAX_IMAGES      10000000
/* coordinates a little outside 0..1 are rounding in exporters; further out is an error */
#define YOLO_COORD_SLACK 0.01

static const char *const split_key[VG_YOLO_SPLITS] = {"train", "val", "test"};

/* ---- small helpers */

static char *dup_n(const char *s, size_t n) {
    char *p = vg_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
static char *dup_s(const char *s) {
    return dup_n(s, strlen(s));
}

/* folder part of a path ("." when none) */
static char *dir_of(const char *path) {
    const char *sl = strrchr(path, '/');
    if (!sl) return dup_s(".");
    if (sl == path) return dup_s("/");
    return dup_n(path, (size_t)(sl - path));
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}
static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

bool vg_yolo_is_export(const char *path) {
    if (!path || !path[0]) return false;
    if (ends_with_ci(path, ".yaml") || ends_with_ci(path, ".yml")) return true;
    char *y = vg_path_join(path, "data.yaml");
    bool yes = y && is_file(y);
    free(y);
    return yes;
}

void vg_yolo_spec_free(vg_yolo_spec *s) {
    if (!s) return;
    free(s->root);
    free(s->yaml);
    for (int i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    for (int k = 0; k < VG_YOLO_SPLITS; k++) {
        for (int i = 0; i < s->n_entries[k]; i++)
            free(s->entries[k][i]);
        free(s->entries[k]);
    }
    memset(s, 0, sizeof *s);
}

/* ---- data.yaml */

/* (vg_yctx, vg_yaml_err and the scalar helpers: yamlx.h, shared with the service
 * configuration) */

static vg_status add_entry(vg_yolo_spec *s, int k, const char *root, const char *value,
                           const vg_yctx *y, const yaml_node_t *n) {
    if (s->n_entries[k] >= YOLO_MAX_ENTRIES)
        return vg_yaml_err(y, n, split_key[k], "more than %d entries", YOLO_MAX_ENTRIES);
    char *p = vg_path_join(root, value);
    if (!p) return vg_err_set(y->err, VG_ERR_NOMEM, "out of memory");
    if (!exists(p) && strncmp(value, "../", 3) == 0) {
        /* Roboflow writes `../train/images` for a data.yaml one level below the splits */
        char *q = vg_path_join(root, value + 3);
        if (q && exists(q)) {
            free(p);
            p = q;
        } else {
            free(q);
        }
    }
    if (!exists(p)) {
        vg_status st = vg_yaml_err(y, n, split_key[k], "%s: no such folder or list file", p);
        free(p);
        return st;
    }
    char **v = vg_realloc(s->entries[k], (size_t)(s->n_entries[k] + 1) * sizeof *v);
    if (!v) {
        free(p);
        return vg_err_set(y->err, VG_ERR_NOMEM, "out of memory");
    }
    s->entries[k] = v;
    v[s->n_entries[k]++] = p;
    return VG_OK;
}

static vg_status read_names(vg_yolo_spec *s, const vg_yctx *y, yaml_node_t *n) {
    int count = 0;
    if (n->type == YAML_SEQUENCE_NODE)
        count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    else if (n->type == YAML_MAPPING_NODE)
        count = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    else
        return vg_yaml_err(y, n, "names", "expected a list of class names or a map id: name");
    if (count < 1 || count > VG_MAX_CLASSES)
        return vg_yaml_err(y, n, "names", "%d classes (1 to %d)", count, VG_MAX_CLASSES);
    s->names = vg_calloc((size_t)count, sizeof *s->names);
    if (!s->names) return vg_err_set(y->err, VG_ERR_NOMEM, "out of memory");
    s->n_names = count;
    for (int i = 0; i < count; i++) {
        yaml_node_t *v;
        int id = i;
        if (n->type == YAML_SEQUENCE_NODE) {
            v = yaml_document_get_node(y->doc, n->data.sequence.items.start[i]);
        } else {
            yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
            v = yaml_document_get_node(y->doc, pr->value);
            const char *ks = vg_yaml_scalar(k);
            char *end = NULL;
            long l = ks ? strtol(ks, &end, 10) : -1;
            if (!ks || end == ks || *end || l < 0 || l >= count)
                return vg_yaml_err(y, k, "names", "class id '%s' is not an integer in 0..%d",
                            ks ? ks : "?", count - 1);
            id = (int)l;
        }
        const char *name = vg_yaml_scalar(v);
        if (!name || !name[0]) return vg_yaml_err(y, v, "names", "class %d: expected a name", id);
        if (strchr(name, '/') || strchr(name, '\n'))
            return vg_yaml_err(y, v, "names", "class name '%s' contains '/' or a line break", name);
        if (s->names[id]) return vg_yaml_err(y, v, "names", "class id %d given twice", id);
        for (int j = 0; j < count; j++)
            if (s->names[j] && strcmp(s->names[j], name) == 0)
                return vg_yaml_err(y, v, "names", "class name '%s' given twice", name);
        if (!(s->names[id] = dup_s(name))) return vg_err_set(y->err, VG_ERR_NOMEM, "out of memory");
    }
    return VG_OK;
}

vg_status vg_yolo_spec_read(const char *path, vg_yolo_spec *s, vg_err *err) {
    memset(s, 0, sizeof *s);
    if (!path || !path[0]) return vg_err_set(err, VG_ERR_ARG, "detection dataset: no path given");
    bool yaml_given = ends_with_ci(path, ".yaml") || ends_with_ci(path, ".yml");
    s->yaml = yaml_given ? dup_s(path) : vg_path_join(path, "data.yaml");
    if (!s->yaml) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    uint8_t *data = NULL;
    size_t size = 0;
    vg_status st = vg_file_read(s->yaml, YOLO_MAX_YAML_BYTES, &data, &size, err);
    if (st != VG_OK) {
        vg_yolo_spec_free(s);
        return st;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    vg_yctx y = {&doc, s->yaml, err};
    if (!yaml_parser_initialize(&parser)) {
        free(data);
        vg_yolo_spec_free(s);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, data, size);
    if (!yaml_parser_load(&parser, &doc)) {
        st = vg_err_set(err, VG_ERR_FORMAT, "%s:%lu:%lu: not valid YAML: %s", s->yaml,
                        (unsigned long)parser.problem_mark.line + 1,
                        (unsigned long)parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "parse error");
    } else {
        have_doc = true;
    }
    yaml_node_t *top = have_doc ? yaml_document_get_root_node(&doc) : NULL;
    if (st == VG_OK && (!top || top->type != YAML_MAPPING_NODE))
        st = vg_yaml_err(&y, top, NULL, "expected a mapping with train, val, names (a YOLO data.yaml)");
    yaml_node_t *kv[VG_YOLO_SPLITS] = {NULL, NULL, NULL}, *names = NULL, *nc = NULL, *root = NULL;
    for (yaml_node_pair_t *pr = st == VG_OK ? top->data.mapping.pairs.start : NULL;
         pr && pr < top->data.mapping.pairs.top && st == VG_OK; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        const char *ks = vg_yaml_scalar(k);
        if (!ks) continue;
        for (int i = 0; i < VG_YOLO_SPLITS; i++)
            if (strcmp(ks, split_key[i]) == 0) kv[i] = v;
        if (strcmp(ks, "names") == 0)
            names = v;
        else if (strcmp(ks, "nc") == 0)
            nc = v;
        else if (strcmp(ks, "path") == 0)
            root = v;
        /* other keys (roboflow:, download:, kpt_shape: ...) do not matter here */
    }
    if (st == VG_OK) {
        char *ydir = dir_of(s->yaml);
        const char *rv = root && !vg_yaml_null(root) ? vg_yaml_scalar(root) : NULL;
        if (root && !vg_yaml_null(root) && !rv)
            st = vg_yaml_err(&y, root, "path", "expected a folder name");
        else
            s->root = ydir ? (rv ? vg_path_join(ydir, rv) : dup_s(ydir)) : NULL;
        free(ydir);
        if (st == VG_OK && !s->root) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        /* "path: data/" -> "data": sample names relative to it stay relative (and their
         * content hash machine-independent) */
        for (size_t n = s->root ? strlen(s->root) : 0; n > 1 && s->root[n - 1] == '/'; n--)
            s->root[n - 1] = 0;
        if (st == VG_OK && !is_dir(s->root))
            st = vg_yaml_err(&y, root, "path", "%s: no such folder", s->root);
    }
    if (st == VG_OK && !names) st = vg_yaml_err(&y, top, NULL, "no 'names' key (the class names)");
    if (st == VG_OK) st = read_names(s, &y, names);
    if (st == VG_OK && nc) {
        const char *v = vg_yaml_scalar(nc);
        char *end = NULL;
        long l = v ? strtol(v, &end, 10) : -1;
        if (!v || end == v || *end)
            st = vg_yaml_err(&y, nc, "nc", "expected an integer");
        else if (l != s->n_names)
            st = vg_yaml_err(&y, nc, "nc", "%ld, but 'names' lists %d classes", l, s->n_names);
    }
    for (int k = 0; k < VG_YOLO_SPLITS && st == VG_OK; k++) {
        yaml_node_t *v = kv[k];
        if (!v || vg_yaml_null(v)) continue;
        if (v->type == YAML_SCALAR_NODE) {
            st = add_entry(s, k, s->root, vg_yaml_scalar(v), &y, v);
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top && st == VG_OK; it++) {
                yaml_node_t *e = yaml_document_get_node(&doc, *it);
                if (vg_yaml_null(e)) continue; /* `~` or an empty item names nothing */
                if (!vg_yaml_scalar(e))
                    st = vg_yaml_err(&y, e, split_key[k], "expected a folder or list file");
                else
                    st = add_entry(s, k, s->root, vg_yaml_scalar(e), &y, e);
            }
        } else {
            st = vg_yaml_err(&y, v, split_key[k], "expected a folder, a list file, or a list of them");
        }
    }
    if (st == VG_OK && s->n_entries[0] + s->n_entries[1] + s->n_entries[2] == 0)
        st = vg_yaml_err(&y, top, NULL, "no train, val or test images named");
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(data);
    if (st != VG_OK) vg_yolo_spec_free(s);
    return st;
}

/* ---- listing a split's images */

typedef struct {
    char **v;
    int n, cap;
    int skipped; /* files of image formats the decoders do not read */
    char *skipped_example;
} pathvec;

static void pathvec_free(pathvec *p) {
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    free(p->skipped_example);
    memset(p, 0, sizeof *p);
}

static bool pathvec_push(pathvec *p, char *s) { /* takes s */
    if (!s) return false;
    if (p->n == p->cap) {
        if (p->cap >= YOLO_MAX_IMAGES) {
            free(s);
            return false;
        }
        int cap = p->cap ? p->cap * 2 : 64;
        char **v = vg_realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(s);
            return false;
        }
        p->v = v, p->cap = cap;
    }
    p->v[p->n++] = s;
    return true;
}

static bool image_name(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp", NULL};
    for (int i = 0; ext[i]; i++)
        if (ends_with_ci(name, ext[i])) return true;
    return false;
}
static bool other_image_name(const char *name) {
    static const char *const ext[] = {".webp", ".gif",  ".tif", ".tiff", ".heic",
                                      ".heif", ".avif", ".jxl", ".jp2",  NULL};
    for (int i = 0; ext[i]; i++)
        if (ends_with_ci(name, ext[i])) return true;
    return false;
}

static void note_skipped(pathvec *p, const char *path) {
    p->skipped++;
    if (!p->skipped_example) p->skipped_example = dup_s(path);
}

static vg_status walk(const char *dir, int depth, pathvec *out, vg_err *err) {
    DIR *d = opendir(dir);
    if (!d) return vg_err_set(err, VG_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    vg_status st = VG_OK;
    struct dirent *e;
    while (st == VG_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *full = vg_path_join(dir, e->d_name);
        if (!full) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat sb;
        if (stat(full, &sb) != 0) {
            free(full);
            continue; /* a dangling link is nothing */
        }
        struct stat lb;
        if (S_ISDIR(sb.st_mode) && lstat(full, &lb) == 0 && S_ISLNK(lb.st_mode)) {
            free(full); /* a linked folder may lead back up: not followed */
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (depth < YOLO_MAX_DEPTH) st = walk(full, depth + 1, out, err);
            free(full);
        } else if (S_ISREG(sb.st_mode) && image_name(e->d_name)) {
            if (!pathvec_push(out, full))
                st = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory (or over %d images)", dir,
                                YOLO_MAX_IMAGES);
        } else {
            if (S_ISREG(sb.st_mode) && other_image_name(e->d_name)) note_skipped(out, full);
            free(full);
        }
    }
    closedir(d);
    return st;
}

/* a .txt list: one image path per line, relative to the list's folder (Ultralytics' "./"
 * lines) or, when not found there, to the dataset root */
static vg_status read_path_list(const char *list, const char *root, pathvec *out, vg_err *err) {
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(list, YOLO_MAX_LIST_BYTES, &data, &size, err);
    if (st != VG_OK) return st;
    char *ldir = dir_of(list);
    if (!ldir) {
        free(data);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    const char *t = (const char *)data, *end = t + size;
    int line_no = 0;
    while (t < end && st == VG_OK) {
        const char *nl = memchr(t, '\n', (size_t)(end - t));
        const char *le = nl ? nl : end;
        line_no++;
        const char *a = t, *b = le;
        t = nl ? nl + 1 : end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b || *a == '#') continue;
        char *rel = dup_n(a, (size_t)(b - a));
        char *full = rel ? vg_path_join(ldir, strncmp(rel, "./", 2) == 0 ? rel + 2 : rel) : NULL;
        if (full && !is_file(full) && rel[0] != '/') {
            char *alt = vg_path_join(root, strncmp(rel, "./", 2) == 0 ? rel + 2 : rel);
            if (alt && is_file(alt)) {
                free(full);
                full = alt;
            } else {
                free(alt);
            }
        }
        if (!full) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        } else if (!is_file(full)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: %s: no such image", list, line_no, rel);
            free(full);
        } else if (!image_name(full)) {
            note_skipped(out, full);
            free(full);
        } else if (!pathvec_push(out, full)) {
            st = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", list);
        }
        free(rel);
    }
    free(ldir);
    free(data);
    return st;
}

static int cmp_path(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

vg_status vg_yolo_split_images(const vg_yolo_spec *s, int split, char ***paths, int *n,
                               int *skipped, char **skipped_example, vg_err *err) {
    *paths = NULL, *n = 0, *skipped = 0;
    if (skipped_example) *skipped_example = NULL;
    if (split < 0 || split >= VG_YOLO_SPLITS)
        return vg_err_set(err, VG_ERR_ARG, "detection dataset: bad split %d", split);
    pathvec pv = {0};
    vg_status st = VG_OK;
    for (int i = 0; i < s->n_entries[split] && st == VG_OK; i++) {
        const char *e = s->entries[split][i];
        if (is_dir(e))
            st = walk(e, 0, &pv, err);
        else if (ends_with_ci(e, ".txt"))
            st = read_path_list(e, s->root, &pv, err);
        else if (is_file(e) && image_name(e)) {
            char *one = dup_s(e);
            if (!pathvec_push(&pv, one)) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        } else
            st = vg_err_set(err, VG_ERR_FORMAT,
                            "%s: %s: not a folder of images, a .txt list or an image", s->yaml, e);
    }
    if (st == VG_OK && pv.n > 1) {
        qsort(pv.v, (size_t)pv.n, sizeof *pv.v, cmp_path);
        int k = 1; /* the same image twice (two entries naming it) counts once */
        for (int i = 1; i < pv.n; i++) {
            if (strcmp(pv.v[i], pv.v[k - 1]) == 0)
                free(pv.v[i]);
            else
                pv.v[k++] = pv.v[i];
        }
        pv.n = k;
    }
    if (st != VG_OK) {
        pathvec_free(&pv);
        return st;
    }
    *paths = pv.v, *n = pv.n, *skipped = pv.skipped;
    if (skipped_example)
        *skipped_example = pv.skipped_example;
    else
        free(pv.skipped_example);
    return VG_OK;
}

/* ---- label files */

char *vg_yolo_label_path(const char *image) {
    const char *cut = NULL;
    for (const char *p = strstr(image, "/images/"); p; p = strstr(p + 1, "/images/"))
        cut = p;
    size_t n = strlen(image);
    const char *dot = strrchr(image, '.');
    const char *slash = strrchr(image, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - image) : n;
    char *p = vg_malloc(stem + 16);
    if (!p) return NULL;
    if (cut && (size_t)(cut - image) < stem) {
        size_t a = (size_t)(cut - image);
        memcpy(p, image, a);
        memcpy(p + a, "/labels/", 8);
        memcpy(p + a + 8, cut + 8, stem - a - 8);
        memcpy(p + stem, ".txt", 5);
    } else {
        memcpy(p, image, stem);
        memcpy(p + stem, ".txt", 5);
    }
    return p;
}

/* a finite number that uses the whole token */
static bool number(const char *tok, double *v) {
    char *end = NULL;
    errno = 0;
    *v = strtod(tok, &end);
    return end != tok && !*end && errno != ERANGE && isfinite(*v);
}

static float clip01(double v) {
    return (float)fmin(1, fmax(0, v));
}

vg_status vg_yolo_parse_labels(const char *text, size_t size, const char *name, int n_names,
                               vg_box **boxes, int *n_boxes, vg_err *err) {
    *boxes = NULL, *n_boxes = 0;
    int cap = 0;
    const char *t = text, *end = text + size;
    int line_no = 0;
    char line[4096];
    vg_status st = VG_OK;
    while (t < end && st == VG_OK) {
        const char *nl = memchr(t, '\n', (size_t)(end - t));
        const char *le = nl ? nl : end;
        line_no++;
        size_t len = (size_t)(le - t);
        const char *src = t;
        t = nl ? nl + 1 : end;
        if (memchr(src, 0, len)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: not a text line (NUL byte)", name, line_no);
            break;
        }
        if (len >= sizeof line) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: line over %zu characters", name, line_no,
                            sizeof line - 1);
            break;
        }
        memcpy(line, src, len);
        line[len] = 0;
        double v[2 * 1024 + 1];
        int k = 0;
        char *save = NULL;
        bool bad = false;
        const char *bad_tok = NULL;
        for (char *tok = strtok_r(line, " \t\r", &save); tok;
             tok = strtok_r(NULL, " \t\r", &save)) {
            if (k >= (int)(sizeof v / sizeof v[0]) || !number(tok, &v[k])) {
                bad = true;
                bad_tok = tok;
                break;
            }
            k++;
        }
        if (!bad && k == 0) continue; /* blank line */
        if (bad) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: '%s' is not a number", name, line_no,
                            bad_tok ? bad_tok : "?");
            break;
        }
        if (v[0] != floor(v[0]) || v[0] < 0 || v[0] >= n_names) {
            st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: class %g is not an integer in 0..%d", name,
                            line_no, v[0], n_names - 1);
            break;
        }
        double x0, y0, x1, y1;
        if (k == 5) {
            if (!(v[3] > 0 && v[4] > 0)) {
                st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: box width / height %g x %g not > 0",
                                name, line_no, v[3], v[4]);
                break;
            }
            x0 = v[1] - v[3] / 2, x1 = v[1] + v[3] / 2, y0 = v[2] - v[4] / 2, y1 = v[2] + v[4] / 2;
        } else if (k >= 7 && (k - 1) % 2 == 0) { /* polygon: its bounding box */
            x0 = y0 = INFINITY, x1 = y1 = -INFINITY;
            for (int i = 1; i < k; i += 2) {
                x0 = fmin(x0, v[i]), x1 = fmax(x1, v[i]);
                y0 = fmin(y0, v[i + 1]), y1 = fmax(y1, v[i + 1]);
            }
            if (!(x1 > x0 && y1 > y0)) {
                st = vg_err_set(err, VG_ERR_FORMAT, "%s:%d: polygon has no area", name, line_no);
                break;
            }
        } else {
            st = vg_err_set(err, VG_ERR_FORMAT,
                            "%s:%d: %d numbers: expected 'class cx cy w h' (5) or a polygon "
                            "'class x1 y1 x2 y2 x3 y3 ...'",
                            name, line_no, k);
            break;
        }
        const double lo = -YOLO_COORD_SLACK, hi = 1 + YOLO_COORD_SLACK;
        if (x0 < lo || y0 < lo || x1 > hi || y1 > hi) {
            st = vg_err_set(err, VG_ERR_FORMAT,
                            "%s:%d: box %.4g,%.4g..%.4g,%.4g is outside the image (coordinates "
                            "are fractions 0..1 of its width and height)",
                            name, line_no, x0, y0, x1, y1);
            break;
        }
        if (*n_boxes == cap) {
            int nc = cap ? cap * 2 : 8;
            vg_box *b = nc <= 1000000 ? vg_realloc(*boxes, (size_t)nc * sizeof *b) : NULL;
            if (!b) {
                st = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory (or over 1M boxes)", name);
                break;
            }
            *boxes = b, cap = nc;
        }
        /* both ends clipped to 0..1; a box wholly within the slack past an edge has nothing
         * left in the picture: it is no box (it must not make a frame "fire") */
        vg_box c = {clip01(x0), clip01(y0), clip01(x1), clip01(y1), (int)v[0]};
        if (!(c.x1 > c.x0 && c.y1 > c.y0)) continue;
        (*boxes)[(*n_boxes)++] = c;
    }
    if (st != VG_OK) {
        free(*boxes);
        *boxes = NULL, *n_boxes = 0;
    }
    return st;
}

vg_status vg_yolo_read_labels(const char *image, int n_names, vg_box **boxes, int *n_boxes,
                              bool *has_file, vg_err *err) {
    *boxes = NULL, *n_boxes = 0, *has_file = false;
    char *lp = vg_yolo_label_path(image);
    if (!lp) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (stat(lp, &sb) != 0) { /* no label file: a background image */
        vg_status st = errno == ENOENT || errno == ENOTDIR
                           ? VG_OK
                           : vg_err_set(err, VG_ERR_IO, "%s: %s", lp, strerror(errno));
        free(lp);
        return st;
    }
    *has_file = true;
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(lp, YOLO_MAX_LABEL_BYTES, &data, &size, err);
    if (st == VG_OK) {
        st = vg_yolo_parse_labels((const char *)data, size, lp, n_names, boxes, n_boxes, err);
        free(data);
    }
    free(lp);
    return st;
}
