/* train.c — a whole training run (see train.h).
 *
 * Order of work: dataset and split -> backbone -> classifier (new head) or checkpoint ->
 * what learns (head / last N blocks / all) -> memory plan (chunk, cache in RAM or on disk) ->
 * image caches -> epochs (augmented batches, chunked forward/backward, optimizer, validation,
 * early stopping, checkpoint) -> best weights -> alarm threshold on validation -> model, CSV,
 * plots.
 *
 * Resume is bit-for-bit: every random choice is keyed by (seed, epoch, sample), kernels give
 * the same results for any thread count, and a checkpoint holds the parameters, the optimizer
 * state, the best weights so far, the position (epoch, batch) and the running sums of the
 * epoch in progress. Nothing time-dependent goes into the model file. */
#include "train/train_int.h"

#include "core/rng.h"
#include "cpu/backend.h"
#include "model/surgery.h"
#include "train/metrics.h"
#include "train/plot.h"
#include "train/rehearsal.h"
#include "train/trainer.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* code, libraries, stacks, allocator slack: 48 MiB left a 288 px run with its images cached on
 * disk (the whole budget planned) 5 MiB over a 1 GiB budget */
#define PROCESS_OVERHEAD (64u << 20)

/* ---- small helpers */

/* epochs this run goes through: a refit stops early in its `epochs`-long schedule */
int vg_run_run_epochs(const vg_run *R) {
    int stop = R->ph->stop_epoch, epochs = R->cfg->epochs;
    return stop > 0 && stop < epochs ? stop : epochs;
}

void vg_run_say(const vg_train_hooks *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vg_run_say(const vg_train_hooks *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (h) vg_vlogf(h->log, h->ud, fmt, ap);
    va_end(ap);
}

bool vg_run_stop_requested(const vg_train_hooks *h) {
    return h && h->should_stop && h->should_stop(h->ud);
}

/* OUT.vgm -> OUT + suffix */
static void sibling(const char *out, const char *suffix, char *buf, size_t size) {
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".vgm") == 0) n -= 4;
    snprintf(buf, size, "%.*s%s", (int)n, out, suffix);
}

static void dir_of(const char *path, char *buf, size_t size) {
    const char *s = strrchr(path, '/');
    if (!s)
        snprintf(buf, size, ".");
    else
        snprintf(buf, size, "%.*s", (int)(s - path) ? (int)(s - path) : 1, path);
}

vg_status vg_run_save_checkpoint(vg_run *R, vg_err *err) {
    return vg_checkpoint_save(R->ckpt, R->cfg, R->ph, &R->st, &R->opt, R->m, R->best, R->ema, err);
}

/* ---- validation */

/* Probabilities of every validation entry (no augmentation; mirrored average with TTA). */
vg_status vg_run_predict_cache(vg_run *R, vg_trainer *t, const vg_cache *c, float *probs,
                               int *labels, int *n_out, double *loss, vg_err *err) {
    int C = R->ds->n_classes, S = vg_cache_size(c), n = 0;
    vg_input_spec spec = R->m->input;
    size_t img = (size_t)spec.w * spec.h * 3;
    float *x = vg_malloc(sizeof(float) * img * (size_t)R->chunk);
    int *ent = vg_malloc(sizeof(int) * (size_t)R->chunk);
    if (!x || !ent) {
        free(x), free(ent);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    double lsum = 0;
    int views = R->cfg->tta_flip ? 2 : 1;
    for (int i = 0; i < vg_cache_count(c);) {
        int k = 0;
        for (; i < vg_cache_count(c) && k < R->chunk; i++)
            if (vg_cache_ok(c, i)) ent[k++] = i;
        if (k == 0) break;
        for (int v = 0; v < views; v++) {
            for (int j = 0; j < k; j++) {
                vg_augment_params p;
                vg_augment_draw(NULL, S, S, 0, 0, 0, &p);
                p.flip = v == 1;
                vg_augment_render(vg_cache_pixels(c, ent[j]), S, S, &p, &spec, x + j * img);
                vg_cache_release(c, ent[j]);
            }
            const float *lg = vg_trainer_forward(t, x, k);
            for (int j = 0; j < k; j++) {
                float pr[VG_MAX_CLASSES];
                vg_softmax_ref(1, C, lg + (size_t)j * C, pr);
                for (int cc = 0; cc < C; cc++)
                    probs[(size_t)(n + j) * C + cc] =
                        (v ? probs[(size_t)(n + j) * C + cc] : 0.0f) + pr[cc] / views;
            }
        }
        for (int j = 0; j < k; j++) {
            labels[n + j] = vg_cache_label(c, ent[j]);
            float pl = probs[(size_t)(n + j) * C + labels[n + j]];
            lsum += -log(pl > 1e-12f ? pl : 1e-12f);
        }
        n += k;
    }
    free(x), free(ent);
    *n_out = n;
    *loss = n ? lsum / n : NAN;
    return VG_OK;
}

/* ---- the vg_run */

/* "fire 253/38 neutral 118/20 ..." (training / validation images per class) into line */
static void class_counts_line(const vg_dataset *ds, const int *tr, int ntr, const int *va, int nva,
                              char *line, size_t size, int k) {
    int tc[VG_MAX_CLASSES] = {0}, vcn[VG_MAX_CLASSES] = {0};
    for (int i = 0; i < ntr; i++)
        tc[ds->samples[tr[i]].label]++;
    for (int i = 0; i < nva; i++)
        vcn[ds->samples[va[i]].label]++;
    for (int i = 0; i < ds->n_classes && k > 0 && (size_t)k < size; i++)
        k += snprintf(line + k, size - (size_t)k, " %s %d/%d", ds->classes[i], tc[i], vcn[i]);
}

static vg_status setup_data(vg_run *R, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_dataset_opts o = vg_dataset_opts_default();
    o.no_alarm = c->no_alarm ? c->no_alarm : "neutral";
    o.default_lists = c->default_lists;
    o.val_fraction = c->val_fraction;
    o.seed = c->seed;
    vg_status st = vg_dataset_open(c->data, c->n_data, &o, &R->ds, err);
    if (st != VG_OK) return st;
    vg_dataset *ds = R->ds;
    for (int s = 0; s < ds->n_sources; s++) {
        const vg_source *so = &ds->sources[s];
        if (so->made_up && R->ph->phase != 2 && so->n_split[VG_SPLIT_VAL] > 0)
            vg_run_say(R->hooks,
                       "warning: %s: no train or val list: made up a stratified %.0f%% "
                       "validation split; near-duplicate frames of one clip may land on both "
                       "sides and make validation look better than it is",
                       so->root, 100.0 * c->val_fraction);
        if (so->skipped)
            vg_run_say(R->hooks, "%s: %d file%s skipped: image format not read (%s, e.g. %s)",
                       so->root, so->skipped, so->skipped > 1 ? "s" : "", VG_DATA_EXTENSIONS,
                       so->skipped_example ? so->skipped_example : "?");
        if (so->detection && so->no_label_file + so->empty_labels > 0 && ds->no_alarm >= 0)
            vg_run_say(R->hooks,
                       "%s: %d images without boxes (%d without a label file, %d with an "
                       "empty one): class %s",
                       so->root, so->no_label_file + so->empty_labels, so->no_label_file,
                       so->empty_labels, ds->classes[ds->no_alarm]);
    }
    /* what each source brings (before a refit merges val into train) */
    char line[1024];
    for (int s = 0; s < ds->n_sources && ds->n_sources > 1; s++) {
        const vg_source *so = &ds->sources[s];
        int *tr = vg_malloc(sizeof(int) * ((size_t)so->count + 1)),
            *va = vg_malloc(sizeof(int) * ((size_t)so->count + 1));
        if (!tr || !va) {
            free(tr), free(va);
            return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        }
        int nt = 0, nv = 0;
        for (int i = so->first; i < so->first + so->count; i++) {
            if (ds->samples[i].split == VG_SPLIT_TRAIN)
                tr[nt++] = i;
            else if (ds->samples[i].split == VG_SPLIT_VAL)
                va[nv++] = i;
        }
        int k = snprintf(line, sizeof line, "  %s%s: %d training, %d validation:", so->name,
                         so->detection ? " (boxes)"
                         : so->extra   ? " (training only)"
                                       : "",
                         nt, nv);
        class_counts_line(ds, tr, nt, va, nv, line, sizeof line, k);
        vg_run_say(R->hooks, "%s", line);
        free(tr), free(va);
    }
    /* the train and val images as the selection saw them (a refit trains on both) */
    vg_dataset_describe(ds, ds->train, ds->n_train, R->train_set, sizeof R->train_set);
    vg_dataset_describe(ds, ds->val, ds->n_val, R->val_set, sizeof R->val_set);
    if (ds->n_val) { /* kept for the rehearsal set's guard: a refit merges them below */
        if (!(R->guard = vg_malloc(sizeof(int) * (size_t)ds->n_val)))
            return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        memcpy(R->guard, ds->val, sizeof(int) * (size_t)ds->n_val);
        R->n_guard = ds->n_val;
    }
    if (R->ph->phase == 2) st = vg_dataset_merge_val(ds, err);
    if (st != VG_OK) return st;
    R->no_alarm = c->no_alarm ? vg_dataset_find_class(ds, c->no_alarm) : -1;
    if (R->no_alarm < 0 && c->no_alarm)
        vg_run_say(R->hooks, "note: no class named '%s': alarm metrics are off", c->no_alarm);
    int k = snprintf(line, sizeof line,
                     "data: %d classes, %d training images, %d validation:", ds->n_classes,
                     ds->n_train, ds->n_val);
    class_counts_line(ds, ds->train, ds->n_train, ds->val, ds->n_val, line, sizeof line, k);
    vg_run_say(R->hooks, "%s", line);
    return VG_OK;
}

/* memory plan: the largest chunk (<= batch, <= 16) that fits with everything else */
static vg_status plan_memory(vg_run *R, size_t *cache_ram, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    size_t np = (size_t)R->m->g.n_params;
    size_t state = np * sizeof(float) *
                   (3 + (c->optimizer == VG_OPT_ADAMW ? 2 : 1)); /* params, grads, best, moments */
    size_t loader = 2 * (size_t)c->batch * R->size * R->size * 3 * sizeof(float);
    size_t fixed = state + loader + PROCESS_OVERHEAD;
    int max_chunk = c->batch < 16 ? c->batch : 16;
    vg_trainer_opts o = {1, c->threads, R->first_trainable, R->logits, false, 0.1f};
    size_t need1 = 0;
    R->chunk = 0;
    for (int ch = max_chunk; ch >= 1; ch--) {
        o.chunk = ch;
        size_t buf = c->mode == VG_TRAIN_HEAD
                         ? 0
                         : vg_trainer_estimate_bytes(&R->m->g, R->size, R->size, &o);
        if (ch == 1) need1 = fixed + buf;
        if (c->mem_budget == 0 || fixed + buf <= c->mem_budget) {
            R->chunk = ch;
            size_t left = c->mem_budget ? c->mem_budget - fixed - buf : (size_t)4 << 30;
            *cache_ram = left;
            R->res->buffers = buf;
            break;
        }
    }
    if (R->chunk == 0)
        return vg_err_set(err, VG_ERR_NOMEM,
                          "--mem-budget %.0f MB is too small: this model needs at least %.0f MB "
                          "(parameters and optimizer state %.0f MB, loader %.0f MB, training "
                          "buffers for one image %.0f MB, process %.0f MB); try a smaller --size, "
                          "--train last:N with fewer blocks, or a smaller --batch",
                          (double)c->mem_budget / 1e6, (double)need1 / 1e6, (double)state / 1e6,
                          (double)loader / 1e6, (double)(need1 - fixed) / 1e6,
                          (double)PROCESS_OVERHEAD / 1e6);
    if (c->mode == VG_TRAIN_HEAD) R->chunk = max_chunk;
    vg_run_say(R->hooks,
               "memory plan: chunk %d; parameters + optimizer %.0f MB, training buffers %.0f MB, "
               "loader %.0f MB, process %.0f MB; image cache up to %.0f MB in RAM%s",
               R->chunk, (double)state / 1e6, (double)R->res->buffers / 1e6, (double)loader / 1e6,
               (double)PROCESS_OVERHEAD / 1e6, (double)*cache_ram / 1e6,
               c->mem_budget ? "" : " (no budget)");
    return VG_OK;
}

typedef struct {
    vg_run *R;
    const char *what;
} cache_progress_ud;

static void on_bad_image(void *ud, const char *path, const char *msg) {
    cache_progress_ud *u = ud;
    vg_run_say(u->R->hooks, "skipping unreadable image %s: %s", path, msg);
}

static void on_cache_progress(void *ud, int done, int total) {
    cache_progress_ud *u = ud;
    if (!u->R->hooks || !u->R->hooks->progress) return;
    vg_train_progress p = {u->what, 0, vg_run_run_epochs(u->R), done, total, 0, 0, 0, 0, 0};
    u->R->hooks->progress(u->R->hooks->ud, &p);
}

static vg_status build_caches(vg_run *R, size_t ram, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    char dir[1024];
    if (c->cache_dir)
        snprintf(dir, sizeof dir, "%s", c->cache_dir);
    else
        dir_of(c->out, dir, sizeof dir);
    vg_cache_opts co = vg_cache_opts_default();
    /* random crops need resolution to spare; squashing stays within 3x of the output so the
     * no-augmentation view equals the inference preprocessing */
    int S = c->augment && c->mode != VG_TRAIN_HEAD ? (R->size * 8 + 6) / 7 : R->size;
    co.size = S;
    co.threads = c->threads;
    co.ram_budget = ram;
    co.dir = dir;
    co.require_every_class = true;
    cache_progress_ud pu = {R, "caching training images"};
    co.on_bad = on_bad_image;
    co.on_progress = on_cache_progress;
    co.ud = &pu;
    vg_status st = vg_cache_build(&R->tc, R->ds, R->ds->train, R->ds->n_train, &co, err);
    if (st != VG_OK) return st;
    if (vg_cache_good(R->tc) < vg_cache_count(R->tc))
        vg_run_say(R->hooks, "%d of %d training images could not be read and are skipped",
                   vg_cache_count(R->tc) - vg_cache_good(R->tc), vg_cache_count(R->tc));
    R->res->cache_ram = vg_cache_ram_bytes(R->tc);
    R->res->cache_disk = vg_cache_disk_bytes(R->tc);
    if (vg_cache_file(R->tc))
        vg_run_say(R->hooks,
                   "training images cached on disk (%s, %.0f MB): the memory budget leaves "
                   "too little RAM for them",
                   vg_cache_file(R->tc), (double)vg_cache_disk_bytes(R->tc) / 1e6);
    if (R->ds->n_val > 0) {
        co.size = R->size;
        co.require_every_class = false;
        size_t left = ram > vg_cache_ram_bytes(R->tc) ? ram - vg_cache_ram_bytes(R->tc) : 0;
        co.ram_budget = left;
        pu.what = "caching validation images";
        st = vg_cache_build(&R->vc, R->ds, R->ds->val, R->ds->n_val, &co, err);
        if (st != VG_OK) return st;
        R->res->cache_ram += vg_cache_ram_bytes(R->vc);
        R->res->cache_disk += vg_cache_disk_bytes(R->vc);
    }
    return VG_OK;
}

/* ---- outputs: CSV, plots, final model */

vg_status vg_run_write_csv(vg_run *R, vg_err *err) {
    vg_strbuf b = {0};
    vg_sb_add(&b,
              "epoch,train_loss,train_acc,val_loss,val_acc,alarm_recall,false_alarm_rate,auc,lr,"
              "seconds,best\n");
    for (int i = 0; i < R->st.n_hist; i++) {
        const vg_epoch_stats *e = &R->st.hist[i];
        vg_sb_add(&b, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.8f,%.2f,%d\n", e->epoch,
                  e->train_loss, e->train_acc, e->val_loss, e->val_acc, e->alarm_recall,
                  e->false_alarm_rate, e->auc, e->lr, e->seconds, e->best);
    }
    vg_status st = b.buf && !b.oom ? vg_file_write_atomic(R->res->csv, b.buf, b.n, err)
                                   : vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    free(b.buf);
    return st;
}

static vg_status write_curves(vg_run *R, vg_err *err) {
    int n = R->st.n_hist;
    if (n == 0) return VG_OK;
    float *v = vg_malloc(sizeof(float) * (size_t)n * 5);
    if (!v) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    float *x = v, *tl = v + n, *vl = v + 2 * n, *ta = v + 3 * n, *va = v + 4 * n;
    for (int i = 0; i < n; i++) {
        const vg_epoch_stats *e = &R->st.hist[i];
        x[i] = (float)e->epoch;
        tl[i] = (float)e->train_loss, vl[i] = (float)e->val_loss;
        ta[i] = (float)e->train_acc, va[i] = (float)e->val_acc;
    }
    vg_curve c[4] = {
        {"train", 0, n, x, tl}, {"val", 0, n, x, vl}, {"train", 1, n, x, ta}, {"val", 1, n, x, va}};
    char title[256];
    const char *name =
        strrchr(R->res->model, '/') ? strrchr(R->res->model, '/') + 1 : R->res->model;
    snprintf(title, sizeof title, "%.120s: training curves%s", name,
             R->ph->phase == 2 ? " (refit on train + val: no validation)" : "");
    vg_status st = vg_plot_curves(R->res->curves, title, c, R->ds->n_val ? 4 : 2, NULL, 0, err);
    free(v);
    return st;
}

static void meta(vg_run *R, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void meta(vg_run *R, const char *k, const char *fmt, ...) {
    char v[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    if (vg_model_set_meta(R->m, k, v, NULL) != VG_OK) R->meta_failed = true;
}

static const char *mode_name(const vg_train_cfg *c, char *buf, size_t n) {
    if (c->mode == VG_TRAIN_HEAD)
        snprintf(buf, n, "head");
    else if (c->mode == VG_TRAIN_ALL)
        snprintf(buf, n, "all");
    else
        snprintf(buf, n, "last:%d", c->last_n);
    return buf;
}

/* The source of each validation row (the good entries of the validation cache, in order);
 * false when the rows do not map (no cache, a count mismatch). */
static bool val_sources(const vg_run *R, int nv, int *src) {
    int r = 0;
    for (int i = 0; R->vc && i < vg_cache_count(R->vc) && r < nv; i++)
        if (vg_cache_ok(R->vc, i)) src[r++] = R->ds->samples[vg_cache_sample(R->vc, i)].source;
    return R->vc && r == nv;
}

/* The alarm threshold: the target recall on the validation images of every source that has
 * alarm images (the lowest of their thresholds), so that no camera type is left below it;
 * on their union with cfg->threshold_union or a single source. */
vg_status vg_run_choose_threshold(const vg_run *R, const float *probs, const int *labels, int nv,
                                  float *out, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    int C = R->ds->n_classes;
    float thr;
    vg_status st = vg_alarm_threshold_for_recall(nv, C, probs, labels, R->no_alarm, c->alarm_recall,
                                                 &thr, err);
    if (st != VG_OK || c->threshold_union || R->ds->n_sources < 2) {
        *out = thr;
        return st;
    }
    int *src = vg_malloc(sizeof(int) * ((size_t)nv + 1)),
        *l = vg_malloc(sizeof(int) * ((size_t)nv + 1));
    float *p = vg_malloc(sizeof(float) * ((size_t)nv + 1) * (size_t)C);
    if (!src || !l || !p) st = vg_err_set(err, VG_ERR_NOMEM, "alarm threshold: out of memory");
    if (st == VG_OK && val_sources(R, nv, src)) {
        for (int s = 0; st == VG_OK && s < R->ds->n_sources; s++) {
            int k = 0, pos = 0;
            for (int i = 0; i < nv; i++)
                if (src[i] == s) {
                    memcpy(p + (size_t)k * C, probs + (size_t)i * C, sizeof(float) * (size_t)C);
                    pos += labels[i] != R->no_alarm;
                    l[k++] = labels[i];
                }
            if (pos == 0) continue;
            float t;
            st = vg_alarm_threshold_for_recall(k, C, p, l, R->no_alarm, c->alarm_recall, &t, err);
            if (st == VG_OK && t < thr) thr = t;
        }
    }
    free(src), free(l), free(p);
    *out = thr;
    return st;
}

/* The validation figures of each source at threshold thr (rows: the good entries of the
 * validation cache, in order), said and written to *note ("name: n= acc= ...; ..."). */
static vg_status per_source_val(vg_run *R, const float *probs, const int *labels, int nv, float thr,
                                char *note, size_t size, vg_err *err) {
    note[0] = 0;
    const vg_dataset *ds = R->ds;
    if (!R->vc || ds->n_sources < 2) return VG_OK;
    int C = ds->n_classes, *src = vg_malloc(sizeof(int) * ((size_t)nv + 1));
    float *p = vg_malloc(sizeof(float) * ((size_t)nv + 1) * (size_t)C);
    int *l = vg_malloc(sizeof(int) * ((size_t)nv + 1));
    if (!src || !p || !l) {
        free(src), free(p), free(l);
        return vg_err_set(err, VG_ERR_NOMEM, "validation figures per dataset: out of memory");
    }
    vg_status st = VG_OK;
    bool mapped = val_sources(R, nv, src);
    size_t used = 0;
    for (int s = 0; s < ds->n_sources && mapped; s++) {
        int k = 0;
        for (int i = 0; i < nv; i++)
            if (src[i] == s) {
                memcpy(p + (size_t)k * C, probs + (size_t)i * C, sizeof(float) * (size_t)C);
                l[k++] = labels[i];
            }
        vg_metrics mt;
        if (k == 0) continue;
        st = vg_metrics_compute(k, C, p, l, R->no_alarm, thr, &mt, err);
        if (st != VG_OK) break;
        char ar[32] = "-", fa[32] = "-";
        if (mt.alarm_pos) snprintf(ar, sizeof ar, "%.3f", mt.alarm_recall);
        if (mt.alarm_neg) snprintf(fa, sizeof fa, "%.3f", mt.false_alarm_rate);
        vg_run_say(
            R->hooks,
            "  val %-18s %4d images: accuracy %.3f, alarm recall %s (%d), false alarms %s (%d)",
            ds->sources[s].name, k, mt.accuracy, ar, mt.alarm_pos, fa, mt.alarm_neg);
        int w = snprintf(note + used, size - used,
                         "%s%s: n=%d accuracy=%.4f alarm_recall=%s false_alarm_rate=%s",
                         used ? "; " : "", ds->sources[s].name, k, mt.accuracy, ar, fa);
        if (w > 0 && (size_t)w < size - used) used += (size_t)w;
        vg_metrics_free(&mt);
    }
    free(src), free(p), free(l);
    return st;
}

/* val probabilities with the final weights -> threshold, metrics, model, plots */

/* an image of the rehearsal set that cannot be read: said, skipped */
static void rehearsal_bad(void *ud, const char *path, const char *msg) {
    (void)path;
    vg_run_say(ud, "rehearsal set: skipping %s", msg);
}

vg_status vg_run_finish(vg_run *R, const float *probs, const int *labels, int nv, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    int C = R->ds->n_classes;
    vg_train_result *res = R->res;
    float thr = 0.5f;
    vg_metrics mt;
    memset(&mt, 0, sizeof mt);
    if (R->ph->phase == 2 && R->ph->fixed_threshold >= 0)
        thr = R->ph->fixed_threshold; /* the selection run's: nothing left to choose it on */
    else if (nv > 0 && R->no_alarm >= 0) {
        vg_status st = vg_run_choose_threshold(R, probs, labels, nv, &thr, err);
        if (st != VG_OK) return st;
    }
    if (nv > 0) {
        vg_status st = vg_metrics_compute(nv, C, probs, labels, R->no_alarm, thr, &mt, err);
        if (st != VG_OK) return st;
        res->val_acc = mt.accuracy;
        res->alarm_recall = mt.alarm_recall;
        res->false_alarm_rate = mt.false_alarm_rate;
        res->auc = mt.auc;
    }
    res->alarm_threshold = thr;
    char mode[32];
    meta(R, "train_mode", "%s", mode_name(c, mode, sizeof mode));
    meta(R, "train_recipe",
         "epochs=%d (ran %d, best %d) batch=%d size=%d optimizer=%s lr=%g weight_decay=%g "
         "label_smoothing=%g class_weights=%d balanced=%d augment=%d crop=%g jitter=%g "
         "zoom_out=%g/%g%s box_zoom=%g/%g-%g neg_crops=%g/%g mixup=%g ema=%g backbone_lr_mult=%g "
         "pool=%s tta_flip=%d keep=%s seed=%llu",
         c->epochs, R->st.n_hist, R->st.best_epoch, c->batch, R->size,
         c->optimizer == VG_OPT_ADAMW ? "adamw" : "sgd", c->lr, c->weight_decay, c->label_smoothing,
         c->class_weights, c->balanced, c->augment, c->aug.scale_min, c->aug.brightness,
         c->aug.zoom_prob, c->aug.zoom_min, c->aug.zoom_scene ? "/scene" : "", c->aug.box_zoom,
         c->aug.box_zoom_min, c->aug.box_zoom_max, c->aug.neg_crop, c->aug.neg_margin, c->mixup,
         c->ema, c->backbone_lr_mult,
         c->pool == 1   ? "max"
         : c->pool == 2 ? "avg+max"
                        : "avg",
         c->tta_flip, c->keep_last ? "last" : "best", (unsigned long long)c->seed);
    if (R->no_alarm >= 0) {
        meta(R, "no_alarm_class", "%s", R->ds->classes[R->no_alarm]);
        meta(R, "alarm_threshold", "%.6f", thr);
        meta(R, "alarm_recall_target", "%.4f%s", c->alarm_recall,
             c->threshold_union || R->ds->n_sources < 2
                 ? ""
                 : " on the validation images of every dataset");
    }
    if (c->tta_flip) meta(R, "tta", "flip");
    /* which images it learnt from and was chosen on, by content (no path of this machine),
     * so that `vigie eval` can tell a figure on them from a held-out one */
    meta(R, "train_set", "%s", R->train_set);
    if (R->val_set[0]) meta(R, "val_set", "%s", R->val_set);
    if (R->ph->phase == 2) {
        meta(R, "refit",
             "trained on train + val (%d images), %d of the %d-epoch schedule; alarm "
             "threshold kept from the run that chose it on val",
             vg_cache_good(R->tc), vg_run_run_epochs(R), c->epochs);
        if (R->ph->select_note) meta(R, "selection_val_metrics", "%s", R->ph->select_note);
    }
    if (nv > 0) {
        meta(R, "val_metrics",
             "n=%d accuracy=%.4f alarm_recall=%.4f false_alarm_rate=%.4f auc=%.4f", nv, mt.accuracy,
             mt.alarm_recall, mt.false_alarm_rate, mt.auc);
        char note[1024];
        vg_status ps = per_source_val(R, probs, labels, nv, thr, note, sizeof note, err);
        if (ps != VG_OK) {
            vg_metrics_free(&mt);
            return ps;
        }
        if (note[0]) meta(R, "val_metrics_by_source", "%s", note);
    }
    if (R->meta_failed) {
        vg_metrics_free(&mt);
        return vg_err_set(err, VG_ERR_NOMEM, "model metadata: out of memory");
    }
    /* the rehearsal set of vigie adapt: 100 training images per class and the validation
     * images (the guard) as the final backbone sees them, carried in the model (RHRS) */
    vg_status st = VG_OK;
    uint8_t *rs_buf = NULL;
    size_t rs_size = 0;
    if (R->n_guard > 0 && R->no_alarm >= 0) {
        vg_rehearsal rs;
        vg_rehearsal_hooks rh = {rehearsal_bad, NULL, (void *)R->hooks};
        st = vg_rehearsal_build(R->m, NULL, NULL, R->ds, R->ds->train, R->ds->n_train, R->guard,
                                R->n_guard, 100, 0, c->seed, c->threads, &rh, &rs, err);
        if (st == VG_OK) {
            st = vg_rehearsal_encode(&rs, &rs_buf, &rs_size, err);
            vg_run_say(R->hooks, "rehearsal set for vigie adapt: %d images (%d guard), %.1f MB",
                       rs.n, R->n_guard, (double)rs_size / 1048576.0);
        }
        vg_rehearsal_free(&rs);
    }
    const vg_chunk chunk = {VG_REHEARSAL_TAG, rs_buf, rs_size};
    if (st == VG_OK)
        st = vg_model_save_ex(R->m, rs_buf ? &chunk : NULL, rs_buf ? 1 : 0, res->model, err);
    free(rs_buf);
    if (st == VG_OK) st = vg_run_write_csv(R, err);
    if (st == VG_OK) st = write_curves(R, err);
    if (st == VG_OK && nv > 0)
        st = vg_plot_confusion(res->confusion, "validation: confusion matrix",
                               (const char *const *)R->ds->classes, C, mt.confusion, err);
    if (st == VG_OK && nv > 0 && R->no_alarm >= 0) {
        float *f, *t, *h;
        int np;
        double auc;
        st = vg_alarm_roc(nv, C, probs, labels, R->no_alarm, &f, &t, &h, &np, &auc, err);
        if (st == VG_OK) {
            st =
                vg_plot_roc(res->roc, "validation: alarm ROC (fire or smoke vs no alarm)", f, t, np,
                            (float)auc, (float)mt.false_alarm_rate, (float)mt.alarm_recall, err);
            free(f), free(t), free(h);
        }
    }
    vg_metrics_free(&mt);
    if (st == VG_OK) unlink(R->ckpt); /* finished: nothing to resume */
    return st;
}

void vg_run_epoch_done(vg_run *R, vg_epoch_stats *e) {
    vg_train_state *s = &R->st;
    bool improved = !isnan(e->val_loss) ? e->val_loss < s->best_val_loss : true;
    if (R->cfg->keep_last) improved = true;
    if (improved) {
        if (!isnan(e->val_loss)) s->best_val_loss = e->val_loss;
        s->best_epoch = e->epoch;
        s->bad_epochs = 0;
        memcpy(R->best, R->m->g.params, sizeof(float) * (size_t)R->m->g.n_params);
    } else {
        s->bad_epochs++;
    }
    e->best = improved;
    if (s->n_hist < MAX_EPOCHS) s->hist[s->n_hist++] = *e;
    s->run_loss = s->run_correct = s->run_seen = 0;
    if (R->hooks && R->hooks->epoch_end) R->hooks->epoch_end(R->hooks->ud, e);
}

void vg_run_progress(vg_run *R, const char *phase, int epoch, int step, int steps, double lr,
                     double t0, int done_imgs, double eta) {
    if (!R->hooks || !R->hooks->progress) return;
    double el = vg_time_now() - t0;
    vg_train_progress p = {phase,
                           epoch + 1,
                           vg_run_run_epochs(R),
                           step,
                           steps,
                           R->st.run_seen ? R->st.run_loss / R->st.run_seen : 0,
                           R->st.run_seen ? R->st.run_correct / R->st.run_seen : 0,
                           el > 0 ? done_imgs / el : 0,
                           eta,
                           lr};
    R->hooks->progress(R->hooks->ud, &p);
}

int vg_run_argmax(const float *p, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return b;
}

/* ---- weight averaging and mixup */

/* ---- the vg_run */

static vg_status check_cfg(const vg_train_cfg *c, vg_err *err) {
    if (c->n_data < 1 || c->n_data > VG_TRAIN_MAX_DATA)
        return vg_err_set(err, VG_ERR_ARG, "no --data folder (or over %d)", VG_TRAIN_MAX_DATA);
    int main_sources = 0;
    for (int i = 0; i < c->n_data; i++) {
        const vg_source_spec *d = &c->data[i];
        const char *p[4] = {d->dir, d->train_list, d->val_list, d->test_list};
        for (int j = 0; j < 4; j++)
            if (p[j] && (strchr(p[j], '\t') || strchr(p[j], '\n')))
                return vg_err_set(err, VG_ERR_ARG, "%s: a path with a tab or line break", p[j]);
        main_sources += !d->extra;
    }
    if (main_sources == 0)
        return vg_err_set(err, VG_ERR_ARG, "only training-only (--extra-train) data: give --data");
    if (!c->backbone && !c->init_model) return vg_err_set(err, VG_ERR_ARG, "no --backbone model");
    if (!c->out) return vg_err_set(err, VG_ERR_ARG, "no output model (-o)");
    /* find out now, not after an hour of training, that the results cannot be written */
    char dir[1024];
    dir_of(c->out, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return vg_err_set(err, VG_ERR_IO, "%s: the folder %s does not exist", c->out, dir);
    if (access(dir, W_OK) != 0)
        return vg_err_set(err, VG_ERR_IO, "%s: the folder %s is not writable", c->out, dir);
    if (c->epochs < 1 || c->epochs > MAX_EPOCHS)
        return vg_err_set(err, VG_ERR_ARG, "--epochs must be 1..%d", MAX_EPOCHS);
    if (c->batch < 1 || c->batch > 4096)
        return vg_err_set(err, VG_ERR_ARG, "--batch must be 1..4096");
    if (!(c->lr > 0) || !isfinite(c->lr)) return vg_err_set(err, VG_ERR_ARG, "--lr must be > 0");
    if (c->size != 0 && (c->size < 32 || c->size > 1024))
        return vg_err_set(err, VG_ERR_ARG, "--size must be 32..1024");
    if (c->threads < 1 || c->threads > 256)
        return vg_err_set(err, VG_ERR_ARG, "--threads must be 1..256");
    if (c->mode == VG_TRAIN_LAST && c->last_n < 1)
        return vg_err_set(err, VG_ERR_ARG, "--train last:N needs N >= 1");
    if (!(c->alarm_recall > 0 && c->alarm_recall <= 1))
        return vg_err_set(err, VG_ERR_ARG, "--alarm-recall must be in (0, 1]");
    if (c->label_smoothing < 0 || c->label_smoothing >= 1)
        return vg_err_set(err, VG_ERR_ARG, "--label-smoothing must be in [0, 1)");
    return c->augment ? vg_augment_check(&c->aug, err) : VG_OK;
}

/* OUT.vgm -> OUT + infix + ext */
static void named(const char *out, const char *infix, const char *ext, char *buf, size_t size) {
    char suf[64];
    snprintf(suf, sizeof suf, "%s%s", infix, ext);
    sibling(out, suf, buf, size);
}

/* the files of a run: a selection run's get a ".select" infix; a refit names the selection's */
static void set_names(const vg_train_cfg *c, int phase, vg_train_result *res) {
    const char *inf = phase == 1 ? ".select" : "";
    /* a refit has no validation images: the confusion matrix and ROC are the selection's */
    const char *val_inf = phase ? ".select" : "";
    if (phase == 1)
        named(c->out, inf, ".vgm", res->model, sizeof res->model);
    else
        snprintf(res->model, sizeof res->model, "%s", c->out);
    named(c->out, inf, ".csv", res->csv, sizeof res->csv);
    named(c->out, inf, ".curves.png", res->curves, sizeof res->curves);
    named(c->out, val_inf, ".confusion.png", res->confusion, sizeof res->confusion);
    named(c->out, val_inf, ".roc.png", res->roc, sizeof res->roc);
    res->refit = phase == 2;
    if (phase == 2) {
        named(c->out, ".select", ".vgm", res->select_model, sizeof res->select_model);
        named(c->out, ".select", ".csv", res->select_csv, sizeof res->select_csv);
        named(c->out, ".select", ".curves.png", res->select_curves, sizeof res->select_curves);
    }
}

/* One run (a plain run, a selection run or a refit). After a finished selection run,
 * *next (free() it) is the refit's configuration as checkpoint text. */
static vg_status run_once(const vg_train_cfg *cfg_in, const vg_train_phase *ph_in,
                          const vg_train_hooks *hooks, vg_train_result *res, char **next,
                          vg_err *err) {
    memset(res, 0, sizeof *res);
    double t0 = vg_time_now();
    vg_train_cfg cfg = *cfg_in;
    vg_train_phase ph = *ph_in;
    vg_run R;
    memset(&R, 0, sizeof R);
    R.cfg = &cfg;
    R.ph = &ph;
    R.hooks = hooks;
    R.res = res;
    vg_ckpt_parts cp;
    memset(&cp, 0, sizeof cp);
    cp.st = &R.st;
    vg_model *resumed = NULL, *bb = NULL;
    vg_status st = VG_OK;
    if (cfg.resume) {
        st = vg_model_load_ex(cfg.resume, vg_ckpt_chunk, &cp, &resumed, err);
        if (st == VG_OK && (!cp.cfg_text || !cp.have_state || !cp.optm))
            st = vg_err_set(err, VG_ERR_FORMAT, "%s: a model, not a training checkpoint",
                            cfg.resume);
        /* the configuration comes from the checkpoint (its strings point into cp.cfg_text) */
        if (st == VG_OK) st = vg_train_cfg_parse(cp.cfg_text, &cfg, &ph, err);
        if (st == VG_OK)
            vg_run_say(hooks, "resuming %s at epoch %d, batch %d (%lld steps done)", cfg.resume,
                       R.st.epoch + 1, R.st.batch, (long long)R.st.step);
    }
    if (st == VG_OK) st = check_cfg(&cfg, err);
    if (st == VG_OK) {
        sibling(cfg.out, ".ckpt", R.ckpt, sizeof R.ckpt);
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s", R.ckpt);
        st = setup_data(&R, err);
    }
    if (st == VG_OK && ph.phase == 1 && R.ds->n_val == 0) {
        vg_run_say(hooks,
                   "note: no validation images, so nothing to choose the epoch count on: no refit");
        ph.phase = 0;
    }
    if (st == VG_OK) set_names(&cfg, ph.phase, res);
    if (st == VG_OK && resumed) {
        R.m = resumed;
        resumed = NULL;
        bool same = R.m->n_labels == R.ds->n_classes;
        for (int i = 0; same && i < R.ds->n_classes; i++)
            same = !strcmp(R.m->labels[i], R.ds->classes[i]);
        if (!same)
            st = vg_err_set(err, VG_ERR_ARG, "the checkpoint's classes differ from the dataset's");
    } else if (st == VG_OK && cfg.init_model) {
        /* a copy of the classifier to fine-tune, float only */
        vg_wr w = {0};
        st = vg_model_serialize(cfg.init_model, &w, err);
        if (st == VG_OK) st = vg_model_parse(w.p, w.n, "model", &R.m, err);
        vg_wr_free(&w);
        if (st == VG_OK) {
            vg_qgraph_free(R.m->q);
            R.m->q = NULL;
            bool same = R.m->n_labels == R.ds->n_classes;
            for (int i = 0; same && i < R.ds->n_classes; i++)
                same = !strcmp(R.m->labels[i], R.ds->classes[i]);
            if (!same)
                st = vg_err_set(err, VG_ERR_ARG, "the model's classes differ from the dataset's");
        }
    } else if (st == VG_OK) {
        st = vg_model_open(cfg.backbone, &bb, err);
        if (st == VG_OK && cfg.size) bb->input.w = bb->input.h = cfg.size;
        if (st == VG_OK)
            st = vg_model_new_classifier_pool(bb, R.ds->n_classes,
                                              (const char *const *)R.ds->classes, cfg.seed,
                                              (vg_pool_mode)cfg.pool, &R.m, err);
        if (st == VG_OK) { /* by name and content: no path of this machine in the model */
            const char *base = strrchr(cfg.backbone, '/');
            char v[512];
            snprintf(v, sizeof v, "%s (weights hash %016llx)", base ? base + 1 : cfg.backbone,
                     (unsigned long long)vg_hash64(bb->g.params,
                                                   sizeof(float) * (size_t)bb->g.n_params, 0));
            st = vg_model_set_meta(R.m, "backbone_file", v, err);
        }
    }
    if (st == VG_OK) {
        R.size = R.m->input.w;
        if (R.m->input.h != R.size)
            st = vg_err_set(err, VG_ERR_UNSUPPORTED, "non-square model input");
        R.fc_node = R.m->g.n_nodes - 2;
        R.logits = vg_graph_logits_tensor(&R.m->g);
        if (cfg.mode == VG_TRAIN_HEAD)
            R.first_trainable = R.fc_node;
        else if (cfg.mode == VG_TRAIN_ALL)
            R.first_trainable = 0;
        else {
            int starts[256], nb = vg_graph_block_starts(&R.m->g, starts, 256);
            if (cfg.last_n > nb)
                st = vg_err_set(err, VG_ERR_ARG, "--train last:%d, but the model has %d blocks",
                                cfg.last_n, nb);
            else
                R.first_trainable = starts[nb - cfg.last_n];
        }
    }
    size_t cache_ram = 0;
    if (st == VG_OK) st = plan_memory(&R, &cache_ram, err);
    if (st == VG_OK) st = build_caches(&R, cache_ram, err);
    if (st == VG_OK && cfg.class_weights) {
        int counts[VG_MAX_CLASSES];
        R.class_w = vg_malloc(sizeof(float) * (size_t)R.ds->n_classes);
        vg_cache_class_counts(R.tc, counts);
        st = R.class_w ? vg_class_weights(counts, R.ds->n_classes, R.ds->classes, R.class_w, err)
                       : vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st == VG_OK) {
        R.n_ranges =
            vg_trainer_param_ranges(&R.m->g, R.size, R.size, R.first_trainable, false, R.ranges);
        /* the pretrained layers may learn slower than the new head */
        const vg_node *fcn = &R.m->g.nodes[R.fc_node];
        for (int i = 0; i < R.n_ranges; i++)
            if (R.ranges[i].off != fcn->w && R.ranges[i].off != fcn->b)
                R.ranges[i].lr_mult = cfg.backbone_lr_mult > 0 ? cfg.backbone_lr_mult : 1.0f;
        vg_optim_cfg oc = {cfg.optimizer, cfg.momentum, 0.9f, 0.999f, 1e-8f, cfg.weight_decay};
        st = vg_optim_init(&R.opt, &oc, R.m->g.n_params, R.ranges, R.n_ranges, err);
        size_t pb = sizeof(float) * (size_t)R.m->g.n_params;
        R.best = vg_malloc(pb);
        if (cfg.ema > 0) R.ema = vg_malloc(pb), R.swap = vg_malloc(pb);
        if (st == VG_OK && (!R.best || (cfg.ema > 0 && (!R.ema || !R.swap))))
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        if (st == VG_OK && R.ema) memcpy(R.ema, R.m->g.params, pb);
    }
    if (st == VG_OK && cp.optm) { /* resume: optimizer state and best weights */
        vg_rd r = vg_rd_make(cp.optm, cp.optm_n);
        uint32_t kind = vg_rd_u32(&r);
        R.opt.step = (int64_t)vg_rd_u64(&r);
        uint64_t np = vg_rd_u64(&r);
        if (kind != (uint32_t)cfg.optimizer || np != (uint64_t)R.m->g.n_params ||
            !vg_rd_bytes(&r, R.opt.m, sizeof(float) * np) ||
            (R.opt.v && !vg_rd_bytes(&r, R.opt.v, sizeof(float) * np)) || vg_rd_left(&r) != 0)
            st = vg_err_set(err, VG_ERR_FORMAT, "%s: optimizer state does not match the model",
                            cfg.resume);
        if (st == VG_OK && R.ema && cp.ema && cp.ema_n == sizeof(float) * (size_t)R.m->g.n_params)
            memcpy(R.ema, cp.ema, cp.ema_n);
        if (st == VG_OK && cp.best && cp.best_n == sizeof(float) * (size_t)R.m->g.n_params)
            memcpy(R.best, cp.best, cp.best_n);
        else if (st == VG_OK)
            memcpy(R.best, R.m->g.params, sizeof(float) * (size_t)R.m->g.n_params);
    } else if (st == VG_OK) {
        R.st.best_val_loss = INFINITY;
        memcpy(R.best, R.m->g.params, sizeof(float) * (size_t)R.m->g.n_params);
    }
    if (st == VG_OK) {
        char mode[32];
        vg_run_say(hooks,
                   "model: %s, %d classes, input %dx%d, training %s (from node %d of %d), chunk %d "
                   "of batch %d, %d threads",
                   cfg.backbone ? cfg.backbone : "(fine-tuning)", R.ds->n_classes, R.size, R.size,
                   mode_name(&cfg, mode, sizeof mode), R.first_trainable, R.m->g.n_nodes, R.chunk,
                   cfg.batch, cfg.threads);
        st = cfg.mode == VG_TRAIN_HEAD ? vg_run_train_head(&R, err) : vg_run_train_full(&R, err);
    }
    res->epochs_run = R.st.n_hist;
    res->best_epoch = R.st.best_epoch;
    res->n_train = R.tc ? vg_cache_good(R.tc) : 0;
    res->n_val = R.vc ? vg_cache_good(R.vc) : 0;
    res->n_classes = R.ds ? R.ds->n_classes : 0;
    res->chunk = R.chunk;
    res->val_loss = R.st.best_val_loss;
    res->seconds = vg_time_now() - t0;
    res->peak_rss = vg_peak_rss_bytes();
    if (st == VG_OK && !res->interrupted && ph.phase == 1 && next) {
        /* the refit: same settings, train + val, stops where validation was best */
        vg_train_phase r;
        char note[256];
        snprintf(
            note, sizeof note,
            "n=%d accuracy=%.4f alarm_recall=%.4f false_alarm_rate=%.4f auc=%.4f best_epoch=%d",
            res->n_val, res->val_acc, res->alarm_recall, res->false_alarm_rate, res->auc,
            R.st.best_epoch);
        r.phase = 2;
        r.stop_epoch = R.st.best_epoch > 0 ? R.st.best_epoch : cfg.epochs;
        r.fixed_threshold = res->alarm_threshold;
        r.select_note = note;
        vg_strbuf b = {0};
        vg_train_cfg_to_text(&cfg, &r, &b);
        if (!b.buf || b.oom) {
            free(b.buf);
            b.buf = NULL;
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        }
        *next = b.buf;
    }
    vg_optim_free(&R.opt);
    vg_cache_free(R.tc);
    vg_cache_free(R.vc);
    vg_dataset_free(R.ds);
    vg_model_free(R.m);
    vg_model_free(bb);
    vg_model_free(resumed);
    free(R.best), free(R.class_w), free(R.ema), free(R.swap), free(R.guard);
    free(cp.cfg_text), free(cp.optm), free(cp.best), free(cp.ema);
    return st;
}

vg_status vg_train_run_phase(const vg_train_cfg *cfg, const vg_train_phase *ph_in,
                             const vg_train_hooks *hooks, vg_train_result *res, vg_err *err) {
    vg_train_phase ph = vg_train_phase_none();
    if (ph_in && ph_in->phase == 2)
        ph = *ph_in; /* a caller may ask for a refit directly */
    else if (!cfg->resume)
        ph.phase = cfg->refit && !cfg->init_model ? 1 : 0;
    /* (a checkpoint knows its phase: run_once reads it) */
    char *next = NULL;
    vg_status st = run_once(cfg, &ph, hooks, res, &next, err);
    if (st != VG_OK || !next) {
        free(next);
        if (st == VG_OK && res->interrupted)
            st = vg_err_set(err, VG_CANCELLED, "interrupted; checkpoint saved to %s",
                            res->checkpoint);
        return st;
    }
    vg_train_result sel = *res;
    vg_train_cfg r = *cfg; /* keeps the resources: memory budget, threads, cache folder */
    vg_train_phase rph;
    r.resume = NULL;
    st = vg_train_cfg_parse(next, &r, &rph, err);
    if (st == VG_OK) {
        vg_run_say(hooks,
                   "selection run done: best validation loss at epoch %d of %d; refit on train + "
                   "val for %d epochs of the same schedule, alarm threshold %.3f",
                   sel.best_epoch, sel.epochs_run, rph.stop_epoch, (double)rph.fixed_threshold);
        st = run_once(&r, &rph, hooks, res, NULL, err);
    }
    free(next);
    if (st == VG_OK && res->interrupted)
        st = vg_err_set(err, VG_CANCELLED, "interrupted; checkpoint saved to %s", res->checkpoint);
    if (st != VG_OK) return st;
    /* the validation figures are the selection run's: the refit has none of its own */
    res->n_val = sel.n_val;
    res->best_epoch = sel.best_epoch;
    res->val_acc = sel.val_acc, res->val_loss = sel.val_loss;
    res->alarm_recall = sel.alarm_recall, res->false_alarm_rate = sel.false_alarm_rate;
    res->auc = sel.auc;
    res->select_epochs_run = sel.epochs_run;
    res->select_n_train = sel.n_train;
    res->seconds += sel.seconds;
    return VG_OK;
}

vg_status vg_train_run(const vg_train_cfg *cfg, const vg_train_hooks *hooks, vg_train_result *res,
                       vg_err *err) {
    return vg_train_run_phase(cfg, NULL, hooks, res, err);
}
