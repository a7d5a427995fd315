/* swap.c — a model that can be replaced while watch loops run (vigie.h, vg_watch_model): live
 * adaptation swaps in a new classifier, and every loop takes it between two frames.
 *
 * Each model is an entry with a reference count: the holder's own reference on the current
 * one, and one per loop that took it (vg_watch_model_acquire). A swap moves the holder's
 * reference to the new entry; the old one is freed when its last loop lets it go, so a loop
 * never sees its model freed under it, and never waits for another. */
#define _POSIX_C_SOURCE 200809L
#include "watch/watch.h"

#include "model/model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_ENTRIES 64 /* models alive at once: the current one and those loops still use */

typedef struct {
    vg_model *m;
    char id[VG_WATCH_MODEL_ID];
    int refs;
} entry;

struct vg_watch_model {
    pthread_mutex_t mu;
    entry e[MAX_ENTRIES];
    int n, cur;
    atomic_uint_fast64_t gen;
};

static void copy_id(char *dst, const char *id) {
    snprintf(dst, VG_WATCH_MODEL_ID, "%s", id && *id ? id : "model");
}

vg_status vg_watch_model_init(vg_watch_model **out, vg_model *m, const char *id, vg_err *err) {
    *out = NULL;
    vg_watch_model *h = vg_calloc(1, sizeof *h);
    if (!h) {
        vg_model_free(m);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&h->mu, NULL);
    h->e[0].m = m;
    h->e[0].refs = 1;
    copy_id(h->e[0].id, id);
    h->n = 1;
    atomic_store(&h->gen, 1);
    *out = h;
    return VG_OK;
}

/* whether b can replace a under running loops: the same input and the same classes */
static vg_status compatible(const vg_model *a, const vg_model *b, vg_err *err) {
    vg_model_info ia, ib;
    vg_model_get_info(a, &ia);
    vg_model_get_info(b, &ib);
    if (memcmp(&a->input, &b->input, sizeof a->input) != 0 || ia.n_classes != ib.n_classes)
        return vg_err_set(err, VG_ERR_ARG,
                          "the new model takes another input or has other classes: it cannot "
                          "replace the running one (restart the service)");
    for (int i = 0; i < ia.n_classes; i++)
        if (strcmp(vg_model_label(a, i), vg_model_label(b, i)) != 0)
            return vg_err_set(err, VG_ERR_ARG,
                              "the new model's class %d is '%s', the running one's '%s'", i,
                              vg_model_label(b, i), vg_model_label(a, i));
    return VG_OK;
}

/* drops one reference of entry i (under the lock); frees it at zero */
static void unref(vg_watch_model *h, int i) {
    if (--h->e[i].refs > 0) return;
    vg_model_free(h->e[i].m);
    h->e[i] = h->e[--h->n];
    if (h->cur == h->n) h->cur = i; /* the current entry moved into the hole */
}

vg_status vg_watch_model_swap(vg_watch_model *h, vg_model *m, const char *id, vg_err *err) {
    pthread_mutex_lock(&h->mu);
    vg_status st = compatible(h->e[h->cur].m, m, err);
    if (st == VG_OK && h->n == MAX_ENTRIES)
        st = vg_err_set(err, VG_ERR_ARG, "%d models still in use: swap later", MAX_ENTRIES);
    if (st != VG_OK) {
        pthread_mutex_unlock(&h->mu);
        vg_model_free(m);
        return st;
    }
    int old = h->cur;
    h->e[h->n] = (entry){m, "", 1};
    copy_id(h->e[h->n].id, id);
    h->cur = h->n++;
    unref(h, old);
    atomic_fetch_add(&h->gen, 1);
    pthread_mutex_unlock(&h->mu);
    return VG_OK;
}

const vg_model *vg_watch_model_acquire(vg_watch_model *h, uint64_t *gen, char *id) {
    pthread_mutex_lock(&h->mu);
    entry *e = &h->e[h->cur];
    e->refs++;
    if (gen) *gen = (uint64_t)atomic_load(&h->gen);
    if (id) memcpy(id, e->id, VG_WATCH_MODEL_ID);
    const vg_model *m = e->m;
    pthread_mutex_unlock(&h->mu);
    return m;
}

void vg_watch_model_release(vg_watch_model *h, const vg_model *m) {
    if (!m) return;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n; i++)
        if (h->e[i].m == m) {
            unref(h, i);
            break;
        }
    pthread_mutex_unlock(&h->mu);
}

uint64_t vg_watch_model_gen(vg_watch_model *h) {
    return (uint64_t)atomic_load(&h->gen);
}

void vg_watch_model_free(vg_watch_model *h) {
    if (!h) return;
    for (int i = 0; i < h->n; i++)
        vg_model_free(h->e[i].m);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
