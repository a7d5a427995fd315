/* loader.c — the batch loader (see data.h): a background thread turns cached images into
 * batches of normalised model input while the caller trains on the previous batch.
 *
 * Two batch slots make the double buffer. Each slot is FREE, FILLING (the worker writes it),
 * READY, or HELD (the caller reads it); every state change happens under the mutex, and a slot's
 * buffers are touched only by whoever owns its state (worker while FILLING, caller while
 * HELD), so the two threads never access the same memory unsynchronised. The epoch's draw
 * order is rewritten only by vg_loader_start, which first waits until no slot is FILLING; the
 * worker only reads it while filling.
 *
 * Reproducibility: the order of an epoch depends on (seed, epoch) only, and the augmentation of
 * a draw on (seed, epoch, key), key = the dataset sample index (shuffle), or that plus the draw
 * position (balanced sampling draws with replacement, and two draws of one sample should not
 * get the same crop). So batch k is the same whatever the thread count, and whether the epoch
 * started at 0 or at k. Not here: the augmentation itself (augment.c). */
#include "train/data.h"

#include "core/pool.h"
#include "core/rng.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define LOADER_ORDER_TAG 0xFFFFFFFFFFFFFFFEull /* RNG key `b` of the epoch order */
/* xored into a draw's key for the choices that only boxed samples make (crop kind, zoom-in,
 * negative crop, redraws of crops that cut a box): the other draws stay what they were */
#define LOADER_BOX_TAG 0xB0C5B0C5B0C5B0C5ull
/* xored into a draw's key for the scene a zoom-out is pasted into */
#define LOADER_SCENE_TAG 0x5CE9E5CE9E5CE9E5ull

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD } slot_state;

typedef struct {
    slot_state state;
    int batch; /* batch index within the epoch */
    int n;
    float *x;     /* (batch, h, w, 3) */
    int *labels;  /* batch */
    int *entries; /* batch */
} loader_slot;

struct vg_loader {
    const vg_cache *cache;
    vg_loader_opts o;
    vg_augment aug;
    bool has_aug;
    int n;        /* entries drawn from */
    int *entries; /* good cache entries */
    /* balanced sampling: entries of class c are by_class[class_first[c] ..][class_n[c]] */
    int n_classes, n_present;
    int *by_class, *class_first, *class_n, *present;
    int n_batches;
    size_t img_floats;
    vg_pool *pool; /* the worker's helpers; NULL = the worker alone */

    pthread_t thread;
    bool thread_started, sync_ready; /* what vg_loader_free must undo */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* worker waits: a slot freed, a new epoch, quit */
    pthread_cond_t done_cv; /* caller waits: a slot filled or abandoned */
    atomic_bool cancel;     /* read by fill tasks to abandon a batch early */
    /* under mu */
    loader_slot slot[2];
    int *order; /* cache entry of each draw of the epoch */
    int epoch;
    bool active;
    int next_make, next_take;
    unsigned gen; /* bumped by vg_loader_start: a batch filled for an older gen is dropped */
    bool filling, quit;
};

vg_loader_opts vg_loader_opts_default(void) {
    vg_loader_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 32;
    o.threads = 1;
    return o;
}

int vg_loader_batches(const vg_loader *l) {
    return l->n_batches;
}
int vg_loader_epoch_size(const vg_loader *l) {
    return l->n;
}

void vg_loader_order(const vg_loader *l, int epoch, int *order) {
    vg_rng r = vg_rng_make(l->o.seed, (uint64_t)epoch, LOADER_ORDER_TAG);
    if (l->o.balanced) {
        /* each draw: a class uniformly among those present, then one of its samples */
        for (int d = 0; d < l->n; d++) {
            int c = l->present[vg_rng_below(&r, (uint32_t)l->n_present)];
            order[d] =
                l->by_class[l->class_first[c] + (int)vg_rng_below(&r, (uint32_t)l->class_n[c])];
        }
        return;
    }
    memcpy(order, l->entries, (size_t)l->n * sizeof *order);
    for (int i = l->n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)vg_rng_below(&r, (uint32_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* ---- the worker -------------------------------------------------------------------------------
 */

typedef struct {
    vg_loader *l;
    loader_slot *s;
    int first_draw;
    int epoch;
} fill_ctx;

/* Draw d of an epoch (cache entry e): its augmentation parameters and its label. A boxed
 * sample's crop takes the class of the boxes it keeps; a crop that cuts a box only partly is
 * drawn again (10 tries, then the whole image, which keeps every box). */
static int draw(const vg_loader *l, int d, int e, int epoch, vg_augment_params *p) {
    const int S = vg_cache_size(l->cache);
    const vg_augment *a = l->has_aug ? &l->aug : NULL;
    uint64_t key = (uint64_t)vg_cache_sample(l->cache, e);
    if (l->o.balanced) key += (uint64_t)(d + 1) << 32;
    vg_augment_draw(a, S, S, l->o.seed, (uint64_t)epoch, key, p);
    const int label = vg_cache_label(l->cache, e);
    const vg_dataset *ds = l->o.ds;
    if (!a || !ds) return label;
    const int si = vg_cache_sample(l->cache, e);
    const vg_sample *s = &ds->samples[si];
    if (!s->boxed) return label;
    vg_rng r = vg_rng_make(l->o.seed, (uint64_t)epoch, key ^ LOADER_BOX_TAG);
    const float u = vg_rng_uniform(&r);
    const vg_box *bx = ds->boxes + s->box0;
    if (s->n_boxes > 0 && u < a->neg_crop && ds->no_alarm >= 0 &&
        vg_augment_negative_crop(a, S, S, bx, s->n_boxes, &r, p))
        return ds->no_alarm;
    if (s->n_boxes > 0 && u >= a->neg_crop && u < a->neg_crop + a->box_zoom)
        vg_augment_zoom_crop(a, S, S, &bx[vg_rng_below(&r, (uint32_t)s->n_boxes)], &r, p);
    for (int t = 0; t < 10; t++) {
        bool ambiguous;
        int c =
            vg_dataset_crop_label(ds, si, (float)p->x / S, (float)p->y / S,
                                  (float)(p->x + p->w) / S, (float)(p->y + p->h) / S, &ambiguous);
        if (!ambiguous) return c;
        vg_augment_random_crop(a, S, S, &r, p);
    }
    p->x = p->y = 0, p->w = p->h = S;
    return label;
}

static void fill_task(void *ctx, int t, int thread) {
    const fill_ctx *f = ctx;
    vg_loader *l = f->l;
    if (atomic_load_explicit(&l->cancel, memory_order_relaxed)) return;
    const int d = f->first_draw + t, e = l->order[d];
    const int S = vg_cache_size(l->cache);
    vg_augment_params p;
    f->s->labels[t] = draw(l, d, e, f->epoch, &p);
    /* a zoom-out into a scene: one of the no-alarm images, keyed like the draw */
    int bg = -1, na = l->o.ds ? l->o.ds->no_alarm : -1;
    if (l->has_aug && l->aug.zoom_scene && p.zoom < 1.0f && na >= 0 && na < l->n_classes &&
        l->class_n[na] > 0) {
        uint64_t key = (uint64_t)vg_cache_sample(l->cache, e);
        if (l->o.balanced) key += (uint64_t)(d + 1) << 32;
        vg_rng r = vg_rng_make(l->o.seed, (uint64_t)f->epoch, key ^ LOADER_SCENE_TAG);
        bg = l->by_class[l->class_first[na] + (int)vg_rng_below(&r, (uint32_t)l->class_n[na])];
    }
    vg_augment_render_scene(vg_cache_pixels(l->cache, e), S, S, &p,
                            bg >= 0 ? vg_cache_pixels(l->cache, bg) : NULL, S, S, &l->o.spec,
                            f->s->x + (size_t)t * l->img_floats);
    vg_cache_release(l->cache, e);
    if (bg >= 0) vg_cache_release(l->cache, bg);
    f->s->entries[t] = e;
}

void vg_loader_label_counts(const vg_loader *l, int epoch, int *counts) {
    const int nc = l->o.ds ? l->o.ds->n_classes : l->n_classes;
    for (int c = 0; c < nc; c++)
        counts[c] = 0;
    int *order = vg_malloc(sizeof(int) * ((size_t)l->n + 1));
    if (!order) return;
    vg_loader_order(l, epoch, order);
    for (int d = 0; d < l->n; d++) {
        vg_augment_params p;
        int c = draw(l, d, order[d], epoch, &p);
        if (c >= 0 && c < nc) counts[c]++;
    }
    free(order);
}

static void *worker_main(void *arg) {
    vg_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        loader_slot *s = NULL;
        while (!l->quit) {
            if (l->active && l->next_make < l->n_batches) {
                s = l->slot[0].state == SLOT_FREE   ? &l->slot[0]
                    : l->slot[1].state == SLOT_FREE ? &l->slot[1]
                                                    : NULL;
                if (s) break;
            }
            pthread_cond_wait(&l->work_cv, &l->mu);
        }
        if (l->quit) break;
        const int b = l->next_make++;
        const unsigned gen = l->gen;
        s->state = SLOT_FILLING;
        s->batch = b;
        s->n = l->n - b * l->o.batch < l->o.batch ? l->n - b * l->o.batch : l->o.batch;
        l->filling = true;
        fill_ctx f = {l, s, b * l->o.batch, l->epoch};
        pthread_mutex_unlock(&l->mu);

        vg_pool_run(l->pool, s->n, fill_task, &f);

        pthread_mutex_lock(&l->mu);
        l->filling = false;
        s->state = gen == l->gen && !atomic_load(&l->cancel) ? SLOT_READY : SLOT_FREE;
        pthread_cond_broadcast(&l->done_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- the caller's side ------------------------------------------------------------------------
 */

void vg_loader_start(vg_loader *l, int epoch, int first_batch) {
    VG_ASSERT(epoch >= 0 && first_batch >= 0);
    pthread_mutex_lock(&l->mu);
    l->gen++;
    atomic_store(&l->cancel, true); /* a batch being filled is abandoned */
    while (l->filling)
        pthread_cond_wait(&l->done_cv, &l->mu);
    atomic_store(&l->cancel, false);
    l->slot[0].state = l->slot[1].state = SLOT_FREE;
    vg_loader_order(l, epoch, l->order);
    l->epoch = epoch;
    l->next_make = l->next_take = first_batch < l->n_batches ? first_batch : l->n_batches;
    l->active = true;
    pthread_cond_signal(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
}

bool vg_loader_next(vg_loader *l, vg_batch *b) {
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < 2; i++) {
        if (l->slot[i].state == SLOT_HELD) {
            l->slot[i].state = SLOT_FREE; /* the caller is done with the previous batch */
            pthread_cond_signal(&l->work_cv);
        }
    }
    if (!l->active || l->next_take >= l->n_batches) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    loader_slot *s = NULL;
    for (;;) {
        for (int i = 0; i < 2; i++)
            if (l->slot[i].state == SLOT_READY && l->slot[i].batch == l->next_take) s = &l->slot[i];
        if (s) break;
        pthread_cond_wait(&l->done_cv, &l->mu);
    }
    s->state = SLOT_HELD;
    l->next_take++;
    b->n = s->n;
    b->index = s->batch;
    b->epoch = l->epoch;
    b->x = s->x;
    b->labels = s->labels;
    b->entries = s->entries;
    pthread_mutex_unlock(&l->mu);
    return true;
}

void vg_loader_free(vg_loader *l) {
    if (!l) return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        atomic_store(&l->cancel, true); /* the batch in preparation is cut short */
        pthread_cond_signal(&l->work_cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    if (l->sync_ready) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->work_cv);
        pthread_cond_destroy(&l->done_cv);
    }
    vg_pool_free(l->pool);
    for (int i = 0; i < 2; i++) {
        free(l->slot[i].x);
        free(l->slot[i].labels);
        free(l->slot[i].entries);
    }
    free(l->order);
    free(l->entries);
    free(l->by_class);
    free(l->class_first);
    free(l->class_n);
    free(l->present);
    free(l);
}

vg_status vg_loader_new(vg_loader **out, const vg_cache *c, const int *entries, int n,
                        const vg_loader_opts *o, vg_err *err) {
    if (!out) return vg_err_set(err, VG_ERR_ARG, "vg_loader_new: no output given");
    *out = NULL;
    if (!c || !o) return vg_err_set(err, VG_ERR_ARG, "vg_loader_new: NULL argument");
    if (o->batch < 1 || o->batch > 65536)
        return vg_err_set(err, VG_ERR_ARG, "loader: batch size %d is not in 1..65536", o->batch);
    vg_status s = vg_input_spec_check(&o->spec, err);
    if (s != VG_OK) return s;
    if (o->aug && (s = vg_augment_check(o->aug, err)) != VG_OK) return s;
    const int total = entries ? n : vg_cache_count(c);
    if (total < 0) return vg_err_set(err, VG_ERR_ARG, "loader: %d entries", n);

    vg_loader *l = vg_calloc(1, sizeof *l);
    if (!l) return vg_err_set(err, VG_ERR_NOMEM, "loader: out of memory");
    l->cache = c;
    l->o = *o;
    l->o.aug = NULL; /* the copy below is used instead of the caller's pointer */
    if (o->aug) {
        l->aug = *o->aug;
        l->has_aug = true;
    }
    l->entries = vg_malloc(((size_t)total + 1) * sizeof *l->entries);
    if (!l->entries) goto nomem;
    for (int i = 0; i < total; i++) {
        int e = entries ? entries[i] : i;
        if (e < 0 || e >= vg_cache_count(c)) {
            vg_loader_free(l);
            return vg_err_set(err, VG_ERR_ARG, "loader: cache entry %d out of range (%d)", e,
                              vg_cache_count(c));
        }
        if (vg_cache_ok(c, e)) l->entries[l->n++] = e;
    }
    if (l->n == 0) {
        vg_loader_free(l);
        return vg_err_set(err, VG_ERR_ARG, "loader: no usable image to load");
    }
    l->n_batches = o->drop_last ? l->n / o->batch : (l->n + o->batch - 1) / o->batch;
    if (l->n_batches == 0) {
        vg_loader_free(l);
        return vg_err_set(err, VG_ERR_ARG, "loader: %d images make no full batch of %d", l->n,
                          o->batch);
    }

    /* classes present among the entries, for balanced sampling */
    int n_classes = 0;
    for (int i = 0; i < l->n; i++) {
        int lab = vg_cache_label(c, l->entries[i]);
        if (lab + 1 > n_classes) n_classes = lab + 1;
    }
    l->n_classes = n_classes;
    l->by_class = vg_malloc((size_t)l->n * sizeof *l->by_class);
    l->class_first = vg_calloc((size_t)n_classes, sizeof *l->class_first);
    l->class_n = vg_calloc((size_t)n_classes, sizeof *l->class_n);
    l->present = vg_malloc((size_t)n_classes * sizeof *l->present);
    l->order = vg_malloc((size_t)l->n * sizeof *l->order);
    if (!l->by_class || !l->class_first || !l->class_n || !l->present || !l->order) goto nomem;
    for (int i = 0; i < l->n; i++)
        l->class_n[vg_cache_label(c, l->entries[i])]++;
    for (int k = 0, acc = 0; k < n_classes; k++) {
        l->class_first[k] = acc;
        acc += l->class_n[k];
        if (l->class_n[k] > 0) l->present[l->n_present++] = k;
    }
    {
        int *fill = vg_calloc((size_t)n_classes, sizeof *fill);
        if (!fill) goto nomem;
        for (int i = 0; i < l->n; i++) {
            int lab = vg_cache_label(c, l->entries[i]);
            l->by_class[l->class_first[lab] + fill[lab]++] = l->entries[i];
        }
        free(fill);
    }

    l->img_floats = (size_t)o->spec.w * (size_t)o->spec.h * 3;
    size_t xf;
    if (!vg_mul_size(l->img_floats, (size_t)o->batch, &xf) || xf > SIZE_MAX / sizeof(float)) {
        vg_loader_free(l);
        return vg_err_set(err, VG_ERR_NOMEM, "loader: batch of %d at %dx%d is too large", o->batch,
                          o->spec.w, o->spec.h);
    }
    for (int i = 0; i < 2; i++) {
        l->slot[i].x = vg_malloc(xf * sizeof(float));
        l->slot[i].labels = vg_malloc((size_t)o->batch * sizeof(int));
        l->slot[i].entries = vg_malloc((size_t)o->batch * sizeof(int));
        if (!l->slot[i].x || !l->slot[i].labels || !l->slot[i].entries) goto nomem;
    }
    if (o->threads > 1) l->pool = vg_pool_new(o->threads); /* NULL: the worker works alone */

    atomic_init(&l->cancel, false);
    if (pthread_mutex_init(&l->mu, NULL) != 0) goto nomem;
    if (pthread_cond_init(&l->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        goto nomem;
    }
    if (pthread_cond_init(&l->done_cv, NULL) != 0) {
        pthread_cond_destroy(&l->work_cv);
        pthread_mutex_destroy(&l->mu);
        goto nomem;
    }
    l->sync_ready = true;
    if (pthread_create(&l->thread, NULL, worker_main, l) != 0) {
        vg_loader_free(l);
        return vg_err_set(err, VG_ERR_NOMEM, "loader: cannot start the worker thread");
    }
    l->thread_started = true;
    *out = l;
    return VG_OK;

nomem:
    vg_loader_free(l);
    return vg_err_set(err, VG_ERR_NOMEM, "loader: out of memory (batch %d at %dx%d)", o->batch,
                      o->spec.w, o->spec.h);
}
