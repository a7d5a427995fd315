/* sources.c — one dataset from several sources (see data.h: vg_dataset_open): folder-per-class
 * trees with their split lists and detection exports (YOLO / Roboflow layout, yolo.c) whose
 * image classes come from boxes; classes matched by name; the union of every source's train,
 * val and test splits. Also the rule that gives a crop of a boxed image its class, and the
 * content hash by which a model records the images it saw.
 *
 * Why one dataset rather than a list of datasets: the cache, the loader, the class weights and
 * the metrics all work on sample indices; with every source's samples in one array they keep
 * working unchanged, and a sample's `source` field is enough for per-source figures. */
#include "train/data.h"
#include "train/data_int.h"

#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

vg_dataset_opts vg_dataset_opts_default(void) {
    vg_dataset_opts o;
    memset(&o, 0, sizeof o);
    o.no_alarm = "neutral";
    o.default_lists = true;
    o.val_fraction = 0.15f;
    o.seed = 1;
    return o;
}

/* what was read of one source before the dataset is assembled */
typedef struct {
    char *root;
    char *real; /* the real path of its folder (an export's: its yaml's), or NULL */
    bool detection;
    scan_tree tree; /* folder trees */
    vg_yolo_spec y; /* detection exports */
    char **img[3];  /* per split: image paths */
    int n_img[3];
    vg_box **boxes[3]; /* per split and image: its boxes (data.yaml class ids) */
    int *n_boxes[3];
    int no_label_file, empty_labels, skipped;
    char *skipped_example;
} pending;

static void pending_free(pending *p) {
    free(p->root);
    free(p->real);
    vg_scan_tree_free(&p->tree);
    vg_yolo_spec_free(&p->y);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < p->n_img[k]; i++) {
            free(p->img[k][i]);
            if (p->boxes[k]) free(p->boxes[k][i]);
        }
        free(p->img[k]);
        free(p->boxes[k]);
        free(p->n_boxes[k]);
    }
    free(p->skipped_example);
}

/* the real path of a dataset's folder: for an export given as its .yaml, the yaml's folder */
static char *realpath_of(const char *root, bool detection) {
    char *dir = NULL;
    const char *dot = strrchr(root, '.'), *sl = strrchr(root, '/');
    if (detection && dot && (!sl || dot > sl) &&
        (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")))
        dir = sl ? vg_strndup(root, (size_t)(sl - root)) : vg_strdup(".");
    char *r = realpath(dir ? dir : root, NULL);
    free(dir);
    return r;
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static vg_status read_detection(pending *p, bool extra, vg_err *err) {
    vg_status st = vg_yolo_spec_read(p->root, &p->y, err);
    for (int k = 0; k < 3 && st == VG_OK; k++) {
        if (extra && k != VG_SPLIT_TRAIN) continue;
        int skipped = 0;
        char *example = NULL;
        st = vg_yolo_split_images(&p->y, k, &p->img[k], &p->n_img[k], &skipped, &example, err);
        p->skipped += skipped;
        if (example && !p->skipped_example)
            p->skipped_example = example;
        else
            free(example);
        if (st != VG_OK) break;
        p->boxes[k] = vg_calloc((size_t)p->n_img[k] + 1, sizeof *p->boxes[k]);
        p->n_boxes[k] = vg_calloc((size_t)p->n_img[k] + 1, sizeof *p->n_boxes[k]);
        if (!p->boxes[k] || !p->n_boxes[k]) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        for (int i = 0; i < p->n_img[k] && st == VG_OK; i++) {
            bool has_file;
            st = vg_yolo_read_labels(p->img[k][i], p->y.n_names, &p->boxes[k][i], &p->n_boxes[k][i],
                                     &has_file, err);
            if (st == VG_OK && p->n_boxes[k][i] == 0) {
                if (has_file)
                    p->empty_labels++;
                else
                    p->no_label_file++;
            }
        }
    }
    /* a data.yaml entry that names no image, or images none of which has a label file: the
     * layout is not what was meant (labels elsewhere), and every image would become neutral */
    static const char *const names[3] = {"train", "val", "test"};
    for (int k = 0; k < 3 && st == VG_OK; k++)
        if (p->y.n_entries[k] > 0 && p->n_img[k] == 0 && !(extra && k != VG_SPLIT_TRAIN))
            st = vg_err_set(err, VG_ERR_FORMAT, "%s: its %s split (%s) holds no image (%s)",
                            p->y.yaml, names[k], p->y.entries[k][0], VG_DATA_EXTENSIONS);
    int n_all = p->n_img[0] + p->n_img[1] + p->n_img[2];
    if (st == VG_OK && n_all > 0 && p->no_label_file == n_all) {
        const char *first = p->n_img[0] ? p->img[0][0] : p->n_img[1] ? p->img[1][0] : p->img[2][0];
        char *lp = vg_yolo_label_path(first);
        st = vg_err_set(err, VG_ERR_FORMAT,
                        "%s: none of its %d images has a label file (for %s: %s); labels go in a "
                        "labels/ folder beside images/, one .txt per image",
                        p->y.yaml, n_all, first, lp ? lp : "?");
        free(lp);
    }
    /* an image in two splits (two entries of data.yaml naming it) would leak */
    static const char *const split_name[3] = {"train", "val", "test"};
    for (int a = 0; a < 3 && st == VG_OK; a++)
        for (int b = a + 1; b < 3 && st == VG_OK; b++) {
            int i = 0, j = 0;
            while (i < p->n_img[a] && j < p->n_img[b]) {
                int c = strcmp(p->img[a][i], p->img[b][j]);
                if (c == 0) {
                    st = vg_err_set(err, VG_ERR_FORMAT, "%s: %s is in both its %s and %s splits",
                                    p->y.yaml, p->img[a][i], split_name[a], split_name[b]);
                    break;
                }
                if (c < 0)
                    i++;
                else
                    j++;
            }
        }
    return st;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the union of every source's class names (and the no-alarm class), sorted */
static vg_status class_union(pending *p, int n, const char *no_alarm, strvec *out, vg_err *err) {
    bool any_det = false;
    for (int s = 0; s < n; s++) {
        if (p[s].detection) {
            any_det = true;
            for (int i = 0; i < p[s].y.n_names; i++)
                if (!vg_strvec_push(out, p[s].y.names[i], strlen(p[s].y.names[i])))
                    return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        } else {
            for (int i = 0; i < p[s].tree.n_dirs; i++)
                if (!vg_strvec_push(out, p[s].tree.dirs[i].name, strlen(p[s].tree.dirs[i].name)))
                    return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        }
    }
    if (any_det) {
        if (!no_alarm || !no_alarm[0])
            return vg_err_set(
                err, VG_ERR_ARG,
                "a detection dataset needs a no-alarm class for images without boxes");
        if (!vg_strvec_push(out, no_alarm, strlen(no_alarm)))
            return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_name);
    int k = 0;
    for (int i = 0; i < out->n; i++) {
        if (k > 0 && strcmp(out->v[k - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[k++] = out->v[i];
    }
    out->n = k;
    if (k > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%d classes in all (at most %d)", k,
                          VG_MAX_CLASSES);
    return VG_OK;
}

/* appends a detection source's images as samples, with their boxes */
static vg_status add_detection(vg_dataset *ds, pending *p, int src, bool extra, vg_err *err) {
    int cls[VG_MAX_CLASSES];
    for (int i = 0; i < p->y.n_names; i++)
        cls[i] = vg_dataset_find_class(ds, p->y.names[i]);
    int total = p->n_img[0] + p->n_img[1] + p->n_img[2], nb = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < p->n_img[k]; i++)
            nb += p->n_boxes[k][i];
    vg_sample *v = vg_realloc(ds->samples, (size_t)(ds->n_samples + total + 1) * sizeof *v);
    if (!v) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    ds->samples = v;
    vg_box *bv = vg_realloc(ds->boxes, (size_t)(ds->n_boxes + nb + 1) * sizeof *bv);
    if (!bv) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    ds->boxes = bv;
    /* samples in name order across splits, as the cache and list order want one order */
    int at[3] = {0, 0, 0};
    size_t rl = strlen(p->y.root);
    for (int done = 0; done < total; done++) {
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (at[j] < p->n_img[j] && (k < 0 || strcmp(p->img[j][at[j]], p->img[k][at[k]]) < 0))
                k = j;
        int i = at[k]++;
        vg_sample *s = &ds->samples[ds->n_samples];
        memset(s, 0, sizeof *s);
        s->path = p->img[k][i];
        p->img[k][i] = NULL; /* moved */
        bool inside = strncmp(s->path, p->y.root, rl) == 0 && s->path[rl] == '/';
        s->name = inside ? s->path + rl + 1 : s->path;
        s->extra = extra;
        s->source = src;
        s->split = k;
        s->boxed = true;
        s->box0 = ds->n_boxes;
        s->n_boxes = p->n_boxes[k][i];
        int best = ds->no_alarm;
        for (int b = 0; b < s->n_boxes; b++) {
            vg_box x = p->boxes[k][i][b];
            x.cls = cls[x.cls];
            ds->boxes[ds->n_boxes++] = x;
            if (best == ds->no_alarm || ds->box_rank[x.cls] < ds->box_rank[best]) best = x.cls;
        }
        s->label = best;
        ds->n_samples++;
    }
    vg_source *so = &ds->sources[src];
    so->count = ds->n_samples - so->first;
    so->no_label_file = p->no_label_file;
    so->empty_labels = p->empty_labels;
    so->skipped = p->skipped;
    so->skipped_example = p->skipped_example;
    p->skipped_example = NULL;
    for (int k = 0; k < 3; k++)
        if (p->y.n_entries[k] > 0 && p->n_img[k] > 0) {
            const char *e = p->y.entries[k][0];
            so->from[k] = vg_malloc(strlen(e) + 1);
            if (so->from[k]) strcpy(so->from[k], e);
        }
    return VG_OK;
}

/* reads the lists of a folder tree and sets its samples' splits */
static vg_status split_tree(vg_dataset *ds, int src, const vg_source_spec *sp,
                            const vg_dataset_opts *o, vg_err *err) {
    vg_source *so = &ds->sources[src];
    if (sp->extra) return VG_OK; /* every image trains */
    const char *given[3] = {sp->train_list, sp->val_list, sp->test_list};
    static const char *const def[3] = {"splits/train.txt", "splits/val.txt", "splits/test.txt"};
    char *path[3] = {NULL, NULL, NULL};
    vg_status st = VG_OK;
    for (int k = 0; k < 3 && st == VG_OK; k++) {
        if (given[k])
            path[k] = vg_strdup(given[k]);
        else if (o->default_lists && !sp->lists_only) {
            /* (a failed allocation is out of memory, not a missing list: the split would
             * silently change) */
            char *d = vg_path_join(so->root, def[k]);
            if (!d)
                st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            else if (is_file(d))
                path[k] = d;
            else
                free(d);
        }
        if (given[k] && !path[k]) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    int *idx[3] = {NULL, NULL, NULL}, n[3] = {0, 0, 0};
    for (int k = 0; k < 3 && st == VG_OK; k++)
        if (path[k]) st = vg_dataset_read_list_in(ds, src, path[k], &idx[k], &n[k], err);
    static const char *const split_name[3] = {"train", "val", "test"};
    if (st == VG_OK) {
        int *first = vg_calloc((size_t)so->count + 1, sizeof *first); /* 1 + split, 0: none */
        if (!first) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        for (int k = 0; k < 3 && st == VG_OK; k++)
            for (int i = 0; i < n[k] && st == VG_OK; i++) {
                int r = idx[k][i] - so->first;
                if (first[r])
                    st = vg_err_set(err, VG_ERR_FORMAT,
                                    "%s: %s is in both the %s list (%s) and the %s list (%s)",
                                    so->root, ds->samples[idx[k][i]].name, split_name[first[r] - 1],
                                    path[first[r] - 1], split_name[k], path[k]);
                first[r] = k + 1;
            }
        for (int i = 0; i < so->count && st == VG_OK; i++)
            ds->samples[so->first + i].split = first[i]  ? first[i] - 1
                                               : path[0] ? VG_SPLIT_NONE
                                                         : VG_SPLIT_TRAIN;
        free(first);
    }
    for (int k = 0; k < 3; k++) {
        free(idx[k]);
        so->from[k] = path[k]; /* kept for reports */
    }
    if (st == VG_OK && !path[0] && !path[1])
        st = vg_stratify_source(ds, src, o->val_fraction, o->seed, err);
    return st;
}

vg_status vg_dataset_open(const vg_source_spec *src, int n, const vg_dataset_opts *o_in,
                          vg_dataset **out, vg_err *err) {
    if (!out) return vg_err_set(err, VG_ERR_ARG, "vg_dataset_open: no output given");
    *out = NULL;
    if (!src || n < 1) return vg_err_set(err, VG_ERR_ARG, "dataset: no folder given");
    vg_dataset_opts o = o_in ? *o_in : vg_dataset_opts_default();
    pending *p = vg_calloc((size_t)n, sizeof *p);
    if (!p) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = VG_OK;
    for (int s = 0; s < n && st == VG_OK; s++) {
        if (!src[s].dir || !src[s].dir[0]) {
            st = vg_err_set(err, VG_ERR_ARG, "dataset: no folder given");
            break;
        }
        if (!(p[s].root = vg_clean_root(src[s].dir))) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            break;
        }
        p[s].detection = vg_yolo_is_export(p[s].root);
        /* the same data twice (./X and X, X and X/data.yaml) would count every image twice */
        p[s].real = realpath_of(p[s].root, p[s].detection);
        for (int q = 0; q < s && st == VG_OK; q++)
            if (strcmp(p[q].root, p[s].root) == 0 ||
                (p[q].real && p[s].real && strcmp(p[q].real, p[s].real) == 0))
                st = vg_err_set(err, VG_ERR_ARG, "%s: given twice (as %s too)", p[s].root,
                                p[q].root);
        if (st == VG_OK && p[s].detection &&
            (src[s].train_list || src[s].val_list || src[s].test_list))
            st = vg_err_set(err, VG_ERR_ARG,
                            "%s: a detection export takes its splits from its data.yaml; split "
                            "lists are for folder-per-class trees",
                            p[s].root);
        if (st == VG_OK)
            st = p[s].detection ? read_detection(&p[s], src[s].extra, err)
                                : vg_scan_tree_read(p[s].root, &p[s].tree, err);
    }
    strvec names = {0};
    if (st == VG_OK) st = class_union(p, n, o.no_alarm, &names, err);
    vg_dataset *ds = st == VG_OK ? vg_calloc(1, sizeof *ds) : NULL;
    if (st == VG_OK && !ds) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) {
        ds->no_alarm = -1;
        ds->classes = names.v; /* moved */
        ds->n_classes = names.n;
        memset(&names, 0, sizeof names);
        ds->root = vg_clean_root(p[0].root);
        ds->box_rank = vg_malloc(sizeof(int) * (size_t)ds->n_classes);
        if (!ds->root || !ds->box_rank) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st == VG_OK) {
        bool any_det = false;
        for (int c = 0; c < ds->n_classes; c++)
            ds->box_rank[c] = INT_MAX;
        int rank = 0;
        for (int s = 0; s < n; s++)
            for (int i = 0; p[s].detection && i < p[s].y.n_names; i++) {
                int c = vg_dataset_find_class(ds, p[s].y.names[i]);
                if (ds->box_rank[c] == INT_MAX) ds->box_rank[c] = rank++;
                any_det = true;
            }
        if (any_det) ds->no_alarm = vg_dataset_find_class(ds, o.no_alarm);
    }
    for (int s = 0; s < n && st == VG_OK; s++) {
        int si = vg_dataset_add_source(ds, p[s].root, p[s].detection, src[s].extra);
        if (si < 0) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            break;
        }
        if (p[s].detection) {
            st = add_detection(ds, &p[s], si, src[s].extra, err);
            continue;
        }
        int map[VG_MAX_CLASSES];
        for (int i = 0; i < p[s].tree.n_dirs; i++)
            map[i] = vg_dataset_find_class(ds, p[s].tree.dirs[i].name);
        st = vg_append_samples(ds, p[s].root, &p[s].tree, map, src[s].extra, err);
        if (st != VG_OK) break;
        ds->sources[si].count = ds->n_samples - ds->sources[si].first;
        for (int i = 0; i < p[s].tree.ignored.n; i++) {
            char **v = vg_realloc(ds->ignored, (size_t)(ds->n_ignored + 1) * sizeof *v);
            if (!v) break; /* informative only */
            ds->ignored = v;
            ds->ignored[ds->n_ignored++] = p[s].tree.ignored.v[i];
            p[s].tree.ignored.v[i] = NULL;
        }
        st = split_tree(ds, si, &src[s], &o, err);
    }
    if (st == VG_OK) {
        ds->n_main = ds->sources[0].count;
        st = vg_dataset_collect_splits(ds, err);
    }
    for (int s = 0; s < n; s++)
        pending_free(&p[s]);
    free(p);
    vg_strvec_free(&names);
    if (st != VG_OK) {
        vg_dataset_free(ds);
        return st;
    }
    *out = ds;
    return VG_OK;
}

int vg_dataset_pick(const vg_dataset *ds, int s, int k, bool fallback_all, int *idx,
                    bool *all_taken) {
    const vg_source *so = &ds->sources[s];
    bool all = k == VG_SPLIT_NONE || (fallback_all && so->n_split[k] == 0);
    int n = 0;
    for (int i = so->first; i < so->first + so->count; i++)
        if (all || ds->samples[i].split == k) idx[n++] = i;
    if (all_taken) *all_taken = all && k != VG_SPLIT_NONE;
    return n;
}

int vg_dataset_find_source(const vg_dataset *ds, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    for (int s = 0; s < ds->n_sources; s++)
        if (strlen(ds->sources[s].root) == n && strncmp(ds->sources[s].root, dir, n) == 0) return s;
    return -1;
}

uint64_t vg_dataset_hash(const vg_dataset *ds, const int *idx, int n) {
    uint64_t h = vg_hash64("vigie-samples", 13, 0);
    for (int i = 0; i < n; i++) {
        const vg_sample *s = &ds->samples[idx[i]];
        const char *src = ds->sources[s->source].name;
        h = vg_hash64(src, strlen(src) + 1, h); /* with the NUL: "a" + "bc" != "ab" + "c" */
        h = vg_hash64(s->name, strlen(s->name) + 1, h);
    }
    return h;
}

/* the hash of vg_dataset_hash over the samples of idx that come from source s, in order */
static uint64_t source_hash(const vg_dataset *ds, const int *idx, int n, int s, int *count) {
    uint64_t h = vg_hash64("vigie-samples", 13, 0);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const vg_sample *sm = &ds->samples[idx[i]];
        if (sm->source != s) continue;
        const char *src = ds->sources[s].name;
        h = vg_hash64(src, strlen(src) + 1, h);
        h = vg_hash64(sm->name, strlen(sm->name) + 1, h);
        k++;
    }
    *count = k;
    return h;
}

void vg_dataset_describe(const vg_dataset *ds, const int *idx, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int s = 0; s < ds->n_sources; s++) { /* no allocation: it cannot fail */
        int k;
        uint64_t h = source_hash(ds, idx, n, s, &k);
        if (k == 0) continue;
        int w = snprintf(buf + used, size - used, "%s%s:%d:%016llx", used ? "; " : "",
                         ds->sources[s].name, k, (unsigned long long)h);
        if (w < 0 || (size_t)w >= size - used) {
            buf[used] = 0; /* no half entry */
            break;
        }
        used += (size_t)w;
    }
}

/* ---- the class of a crop */

int vg_dataset_crop_label(const vg_dataset *ds, int si, float x0, float y0, float x1, float y1,
                          bool *ambiguous) {
    const vg_sample *s = &ds->samples[si];
    *ambiguous = false;
    if (!s->boxed) return s->label;
    int best = ds->no_alarm;
    for (int b = 0; b < s->n_boxes; b++) {
        const vg_box *bx = &ds->boxes[s->box0 + b];
        int k = vg_box_keep(bx, x0, y0, x1, y1);
        if (k < 0)
            *ambiguous = true;
        else if (k > 0 && (best == ds->no_alarm || ds->box_rank[bx->cls] < ds->box_rank[best]))
            best = bx->cls;
    }
    return best;
}

int vg_box_keep(const vg_box *b, float x0, float y0, float x1, float y1) {
    double iw = (double)(b->x1 < x1 ? b->x1 : x1) - (double)(b->x0 > x0 ? b->x0 : x0);
    double ih = (double)(b->y1 < y1 ? b->y1 : y1) - (double)(b->y0 > y0 ? b->y0 : y0);
    double inter = iw > 0 && ih > 0 ? iw * ih : 0;
    double ab = ((double)b->x1 - b->x0) * ((double)b->y1 - b->y0);
    double ac = ((double)x1 - x0) * ((double)y1 - y0);
    double shown = ab > 0 ? inter / ab : 0, filled = ac > 0 ? inter / ac : 0;
    if (shown >= VG_BOX_KEEP || filled >= VG_BOX_KEEP) return 1;
    if (shown <= VG_BOX_GONE && filled <= VG_BOX_GONE) return 0;
    return -1;
}
