/* infer.c — shared inference for several watch loops (vigie.h, vg_watch_infer): one thread
 * takes the frames the loops have handed in, all that are waiting (up to max_batch), and
 * classifies them in one forward pass on one set of runner threads.
 *
 * Why: eight cameras with a runner each on a 2-core board are sixteen threads fighting for two
 * cores; one batched pass also reads each layer's weights once for all the frames.
 * Runners are planned for batches of 1, 2, 4, ... up to max_batch; k waiting frames go
 * through the smallest runner that holds them, the free places filled with a copy of the
 * first frame (their results are dropped). The results are those of each frame alone: a
 * forward pass computes every image of a batch independently.
 * A model swap (live adaptation) hands in runners planned by the caller; the thread installs
 * them between two passes, so no frame waits for their planning. */
#define _POSIX_C_SOURCE 200809L
#include "watch/watch.h"

#include "model/runner.h"

#include <pthread.h>
#include <string.h>

#define MAX_RUNNERS 8 /* batches 1, 2, 4, ... 128 */

typedef struct req {
    const float *input;
    float *probs;
    bool done;
    struct req *next;
} req;

struct vg_watch_infer {
    vg_runner_opts ro;
    vg_runner *r[MAX_RUNNERS];
    vg_runner *pend[MAX_RUNNERS]; /* a swap's runners, waiting to be installed */
    bool pending;
    int rb[MAX_RUNNERS]; /* their batch sizes, ascending */
    int n_runners, max_batch, n_out;
    size_t in_size;  /* floats of one input */
    float *in, *out; /* max_batch inputs and outputs */
    pthread_mutex_t mu;
    pthread_cond_t cv_req, cv_done;
    req *head, *tail; /* waiting, oldest first */
    bool quit, started;
    pthread_t th;
    int64_t batches, frames;
};

static void free_runners(vg_runner **r, int n) {
    for (int i = 0; i < n; i++)
        vg_runner_free(r[i]);
}

static void *infer_main(void *arg) {
    vg_watch_infer *q = arg;
    req *take[128];
    vg_runner *old[MAX_RUNNERS];
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->quit && !q->pending)
            pthread_cond_wait(&q->cv_req, &q->mu);
        if (q->pending) {
            /* a swap: the new runners in, the old ones freed before the swap returns (their
             * model may be freed right after it) */
            memcpy(old, q->r, sizeof old);
            memcpy(q->r, q->pend, sizeof q->r);
            pthread_mutex_unlock(&q->mu);
            free_runners(old, q->n_runners);
            pthread_mutex_lock(&q->mu);
            q->pending = false;
            pthread_cond_broadcast(&q->cv_done);
            continue;
        }
        if (!q->head) break; /* quit, nothing left */
        int k = 0;
        while (q->head && k < q->max_batch) {
            take[k++] = q->head;
            q->head = q->head->next;
        }
        if (!q->head) q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        int ri = 0;
        while (q->rb[ri] < k)
            ri++;
        const int b = q->rb[ri];
        for (int i = 0; i < b; i++)
            memcpy(q->in + (size_t)i * q->in_size, take[i < k ? i : 0]->input,
                   sizeof(float) * q->in_size);
        vg_runner_probs(q->r[ri], q->in, q->out);
        for (int i = 0; i < k; i++)
            memcpy(take[i]->probs, q->out + (size_t)i * q->n_out, sizeof(float) * (size_t)q->n_out);
        pthread_mutex_lock(&q->mu);
        for (int i = 0; i < k; i++)
            take[i]->done = true;
        q->batches++;
        q->frames += k;
        pthread_cond_broadcast(&q->cv_done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

void vg_watch_infer_free(vg_watch_infer *q) {
    if (!q) return;
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->quit = true;
        pthread_cond_broadcast(&q->cv_req);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
    }
    free_runners(q->r, q->n_runners);
    if (q->pending) free_runners(q->pend, q->n_runners);
    free(q->in);
    free(q->out);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv_req);
    pthread_cond_destroy(&q->cv_done);
    free(q);
}

vg_status vg_watch_infer_init(vg_watch_infer **out, const vg_model *m, const vg_runner_opts *ro,
                              int max_batch, vg_err *err) {
    *out = NULL;
    if (max_batch < 1 || max_batch > 128)
        return vg_err_set(err, VG_ERR_ARG, "shared inference: batch %d is not in 1..128",
                          max_batch);
    vg_watch_infer *q = vg_calloc(1, sizeof *q);
    if (!q) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv_req, NULL);
    pthread_cond_init(&q->cv_done, NULL);
    q->ro = ro ? *ro : vg_runner_opts_default();
    vg_model_info info;
    vg_model_get_info(m, &info);
    q->n_out = info.n_classes;
    q->in_size = (size_t)m->input.w * m->input.h * m->input.c;
    vg_status st = VG_OK;
    /* batches 1, 2, 4, ...: the last one max_batch itself */
    for (int b = 1; st == VG_OK; b *= 2) {
        int bb = b < max_batch ? b : max_batch;
        vg_runner_opts o = q->ro;
        o.batch = bb;
        st = vg_runner_init(&q->r[q->n_runners], m, &o, err);
        if (st != VG_OK) break;
        q->rb[q->n_runners++] = bb;
        if (bb == max_batch) break;
    }
    q->max_batch = max_batch;
    if (st == VG_OK) {
        q->in = vg_malloc(sizeof(float) * q->in_size * (size_t)max_batch);
        q->out = vg_malloc(sizeof(float) * (size_t)q->n_out * (size_t)max_batch);
        if (!q->in || !q->out) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    if (st == VG_OK) {
        if (pthread_create(&q->th, NULL, infer_main, q) != 0)
            st = vg_err_set(err, VG_ERR_NOMEM, "shared inference: cannot start its thread");
        else
            q->started = true;
    }
    if (st != VG_OK) {
        vg_watch_infer_free(q);
        return st;
    }
    *out = q;
    return VG_OK;
}

vg_status vg_watch_infer_swap(vg_watch_infer *q, const vg_model *m, vg_err *err) {
    vg_model_info info;
    vg_model_get_info(m, &info);
    if (info.n_classes != q->n_out || (size_t)m->input.w * m->input.h * m->input.c != q->in_size)
        return vg_err_set(err, VG_ERR_ARG,
                          "shared inference: the new model has another input or other classes");
    vg_runner *r[MAX_RUNNERS] = {0};
    vg_status st = VG_OK;
    for (int i = 0; st == VG_OK && i < q->n_runners; i++) {
        vg_runner_opts o = q->ro;
        o.batch = q->rb[i];
        st = vg_runner_init(&r[i], m, &o, err);
    }
    if (st != VG_OK) {
        free_runners(r, q->n_runners);
        return st;
    }
    pthread_mutex_lock(&q->mu);
    while (q->pending) /* another swap first */
        pthread_cond_wait(&q->cv_done, &q->mu);
    memcpy(q->pend, r, sizeof r);
    q->pending = true;
    pthread_cond_signal(&q->cv_req);
    while (q->pending)
        pthread_cond_wait(&q->cv_done, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return VG_OK;
}

void vg_watch_infer_classify(vg_watch_infer *q, const float *input, float *probs) {
    req r = {input, probs, false, NULL};
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = &r;
    else
        q->head = &r;
    q->tail = &r;
    pthread_cond_signal(&q->cv_req);
    while (!r.done)
        pthread_cond_wait(&q->cv_done, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void vg_watch_infer_stats(vg_watch_infer *q, int64_t *batches, int64_t *frames) {
    pthread_mutex_lock(&q->mu);
    *batches = q->batches;
    *frames = q->frames;
    pthread_mutex_unlock(&q->mu);
}
