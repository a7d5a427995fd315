/* epochs.c — the epoch loop of a training run (train.c sets the run up and finishes it), one
 * driver for both kinds of training: full / last-N (augmented batches through the trainer,
 * chunked forward / backward, soft targets from targets.c) and head-only (the classifier on
 * features the frozen backbone computes once). Each kind supplies its batches' gradients and
 * its validation; the driver owns the rest: learning-rate schedule, the caller's step hooks,
 * optimizer step, weight averaging, progress, stop requests, validation figures, early
 * stopping, checkpoints, the best weights and the final outputs (vg_run_finish). */
#include "train/train_int.h"

#include "core/rng.h"
#include "model/surgery.h"
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a stop asked by the caller, between two batches: a checkpoint, and the run ends as
 * interrupted (resumed later bit for bit) */
static vg_status stop_here(vg_run *R, vg_err *err) {
    vg_status st = vg_run_save_checkpoint(R, err);
    R->res->interrupted = st == VG_OK;
    return st;
}

/* an epoch's statistics before validation: loss and accuracy over its batches */
static vg_epoch_stats epoch_stats(const vg_run *R, int epoch, double lr) {
    vg_epoch_stats e;
    memset(&e, 0, sizeof e);
    e.epoch = epoch + 1;
    e.train_loss = R->st.run_seen ? R->st.run_loss / R->st.run_seen : NAN;
    e.train_acc = R->st.run_seen ? R->st.run_correct / R->st.run_seen : NAN;
    e.lr = lr;
    e.val_loss = e.val_acc = e.alarm_recall = e.false_alarm_rate = e.auc = NAN;
    return e;
}

static void ema_update(vg_run *R) {
    if (!R->ema) return;
    /* warm-up: early on the average follows the weights closely (TensorFlow's correction) */
    double d = R->cfg->ema, s = (double)R->st.step;
    if ((1 + s) / (10 + s) < d) d = (1 + s) / (10 + s);
    const float *p = R->m->g.params;
    for (int r = 0; r < R->n_ranges; r++)
        for (int64_t i = R->ranges[r].off; i < R->ranges[r].off + R->ranges[r].len; i++)
            R->ema[i] = (float)(d * R->ema[i] + (1 - d) * p[i]);
}

/* evaluate with the averaged weights: swap them in (and back out afterwards) */
static void ema_swap(vg_run *R, bool in) {
    if (!R->ema) return;
    size_t bytes = sizeof(float) * (size_t)R->m->g.n_params;
    if (in) {
        memcpy(R->swap, R->m->g.params, bytes);
        memcpy(R->m->g.params, R->ema, bytes);
    } else {
        memcpy(R->m->g.params, R->swap, bytes);
    }
}

/* The end of an epoch: its figures recorded (best weights, patience), the CSV and the
 * checkpoint written; *stop when early stopping ends the run here. */
static vg_status end_epoch(vg_run *R, vg_epoch_stats *e, int epoch, double t_ep, bool have_val,
                           bool *stop, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    e->seconds = vg_time_now() - t_ep;
    R->st.epoch = epoch + 1;
    R->st.batch = 0;
    vg_run_epoch_done(R, e);
    ema_swap(R, false);
    vg_status st = vg_run_write_csv(R, err);
    if (st == VG_OK) st = vg_run_save_checkpoint(R, err);
    if (st == VG_OK && c->patience > 0 && have_val && R->st.bad_epochs >= c->patience) {
        vg_run_say(R->hooks,
                   "early stop: validation loss has not improved for %d epochs (best: "
                   "epoch %d)",
                   c->patience, R->st.best_epoch);
        *stop = true;
    }
    return st;
}

/* ---- the driver */

/* What a kind of training gives the driver. */
typedef struct {
    void *ud;
    int batches; /* per epoch */
    /* the epoch's batch order, from batch `first` on (a resumed epoch) */
    void (*start)(void *ud, int epoch, int first);
    /* the next batch of the epoch: its gradient into grads() (zeroed first), its mean loss,
     * correct top-1 count, size and index; false at the epoch's end (or on error, *st set) */
    bool (*next)(void *ud, int epoch, double *loss, int *correct, int *n, int *index, vg_status *st,
                 vg_err *err);
    float *(*grads)(void *ud);
    /* validation images: probabilities and labels with the current weights, mean loss; NULL
     * when there are none */
    vg_status (*validate)(void *ud, float *probs, int *labels, int *nv, double *loss, vg_err *err);
} epoch_src;

static vg_status drive(vg_run *R, const epoch_src *s, float *probs, int *labels, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_model *m = R->m;
    int C = R->ds->n_classes, batches = s->batches;
    int64_t total = (int64_t)c->epochs * batches, warm = (int64_t)(c->warmup_epochs * batches);
    double t_run = vg_time_now();
    int64_t imgs_run = 0;
    vg_status st = VG_OK;
    for (int epoch = R->st.epoch; st == VG_OK && epoch < vg_run_run_epochs(R); epoch++) {
        double t_ep = vg_time_now();
        int imgs_ep = 0;
        s->start(s->ud, epoch, R->st.batch);
        float lr = c->lr;
        for (;;) {
            double loss;
            int correct, n, index;
            if (!s->next(s->ud, epoch, &loss, &correct, &n, &index, &st, err)) break;
            /* (the epoch's figures keep the rate of its last batch) */
            lr = vg_lr_schedule(c->lr, R->st.step, total, warm, c->final_lr_frac);
            float *grads = s->grads(s->ud);
            if (c->pre_step) c->pre_step(c->step_ud, m->g.params, grads, R->st.step, total);
            vg_optim_step(&R->opt, m->g.params, grads, lr);
            if (c->post_step) c->post_step(c->step_ud, m->g.params, R->st.step, total);
            R->st.step++;
            ema_update(R);
            R->st.run_loss += loss * n;
            R->st.run_correct += correct;
            R->st.run_seen += n;
            R->st.batch = index + 1;
            imgs_ep += n;
            imgs_run += n;
            double sec_per_batch = (vg_time_now() - t_run) / ((double)imgs_run / c->batch);
            double eta =
                sec_per_batch * (double)((int64_t)vg_run_run_epochs(R) * batches - R->st.step);
            vg_run_progress(R, "training", epoch, index + 1, batches, lr, t_ep, imgs_ep, eta);
            if (vg_run_stop_requested(R->hooks)) {
                st = stop_here(R, err);
                goto out;
            }
        }
        if (st != VG_OK) break;
        /* validation, with the averaged weights (which the best-weights copy takes too) */
        vg_epoch_stats e = epoch_stats(R, epoch, lr);
        ema_swap(R, true);
        if (s->validate) {
            vg_run_progress(R, "validating", epoch, 0, 1, lr, t_ep, imgs_ep, 0);
            int nv;
            double vl;
            vg_metrics mt;
            float thr = 0.5f;
            st = s->validate(s->ud, probs, labels, &nv, &vl, err);
            if (st == VG_OK && R->no_alarm >= 0)
                st = vg_run_choose_threshold(R, probs, labels, nv, &thr, err);
            if (st == VG_OK)
                st = vg_metrics_compute(nv, C, probs, labels, R->no_alarm, thr, &mt, err);
            if (st != VG_OK) {
                ema_swap(R, false);
                break;
            }
            e.val_loss = vl, e.val_acc = mt.accuracy, e.alarm_recall = mt.alarm_recall;
            e.false_alarm_rate = mt.false_alarm_rate, e.auc = mt.auc;
            vg_metrics_free(&mt);
        }
        bool stop = false;
        st = end_epoch(R, &e, epoch, t_ep, s->validate != NULL, &stop, err);
        if (stop) break;
    }
    if (st == VG_OK) {
        /* the best weights, then the final validation and outputs */
        memcpy(m->g.params, R->best, sizeof(float) * (size_t)m->g.n_params);
        int nv = 0;
        double vl;
        if (s->validate) st = s->validate(s->ud, probs, labels, &nv, &vl, err);
        if (st == VG_OK) st = vg_run_finish(R, probs, labels, nv, err);
    }
out:
    R->res->images_per_s = (double)imgs_run / (vg_time_now() - t_run + 1e-9);
    return st;
}

/* ---- full / last-N training: augmented batches through the trainer */

typedef struct {
    vg_run *R;
    vg_trainer *t;
    vg_loader *ld;
    vg_runner *teacher; /* distillation, or NULL */
    size_t img;         /* floats of one input image */
    float *xmix, *targets, *sw;
    int *perm;
} full_ctx;

static void full_start(void *ud, int epoch, int first) {
    full_ctx *F = ud;
    vg_loader_start(F->ld, epoch, first);
}

static bool full_next(void *ud, int epoch, double *loss, int *correct, int *n, int *index,
                      vg_status *st, vg_err *err) {
    (void)st, (void)err;
    full_ctx *F = ud;
    vg_run *R = F->R;
    const vg_train_cfg *c = R->cfg;
    int C = R->ds->n_classes;
    vg_batch b;
    if (!vg_loader_next(F->ld, &b)) return false;
    double bw = 0;
    for (int i = 0; i < b.n; i++)
        bw += R->class_w ? R->class_w[b.labels[i]] : 1.0;
    vg_trainer_zero_grad(F->t);
    const float *xs = b.x;
    float lam = 1.0f;
    if (c->mixup > 0) {
        lam = vg_targets_mixup(c, epoch, b.index, b.x, b.labels, b.n, F->img, C, R->class_w,
                               F->perm, F->xmix, F->targets, F->sw);
        xs = F->xmix;
    }
    if (F->teacher)
        vg_targets_distill(c, F->teacher, xs, b.labels, b.n, F->img, C, R->class_w, F->targets,
                           F->sw);
    *loss = 0, *correct = 0;
    for (int i = 0; i < b.n; i += R->chunk) {
        int k = b.n - i < R->chunk ? b.n - i : R->chunk;
        const float *lg = vg_trainer_forward(F->t, xs + i * F->img, k);
        for (int j = 0; j < k; j++) {
            int want = lam >= 0.5f ? b.labels[i + j] : b.labels[F->perm[i + j]];
            *correct += vg_run_argmax(lg + (size_t)j * C, C) == want;
        }
        if (c->mixup > 0 || F->teacher)
            *loss += vg_trainer_loss_soft(F->t, F->targets + (size_t)i * C, F->sw + i, k, bw);
        else
            *loss += vg_trainer_loss(F->t, b.labels + i, k, bw, R->class_w, c->label_smoothing);
        vg_trainer_backward(F->t, k);
    }
    *n = b.n, *index = b.index;
    return true;
}

static float *full_grads(void *ud) {
    return vg_trainer_grads(((full_ctx *)ud)->t);
}

static vg_status full_validate(void *ud, float *probs, int *labels, int *nv, double *loss,
                               vg_err *err) {
    full_ctx *F = ud;
    return vg_run_predict_cache(F->R, F->t, F->R->vc, probs, labels, nv, loss, err);
}

/* class weights from the draws of epoch 1: crops of boxed images take the class of what they
 * keep, and negative crops are neutral, so weigh the classes as the draws have them */
static vg_status draw_class_weights(vg_run *R, vg_loader *ld, vg_err *err) {
    int C = R->ds->n_classes;
    int counts[VG_MAX_CLASSES];
    vg_loader_label_counts(ld, 0, counts);
    bool every = true; /* a class whose few boxed images all lost their boxes in epoch 1 */
    for (int i = 0; i < C; i++)
        every = every && counts[i] > 0;
    vg_status st = VG_OK;
    if (every)
        st = vg_class_weights(counts, C, R->ds->classes, R->class_w, err);
    else
        vg_run_say(R->hooks, "note: a class has no draw in epoch 1: class weights from the images");
    char line[512];
    int k = snprintf(line, sizeof line, "class weights from the draws of epoch 1:");
    for (int i = 0; i < C && k > 0 && (size_t)k < sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %s %d (%.2f)", R->ds->classes[i],
                      counts[i], (double)R->class_w[i]);
    if (st == VG_OK && every && R->st.step == 0) vg_run_say(R->hooks, "%s", line);
    return st;
}

vg_status vg_run_train_full(vg_run *R, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_model *m = R->m;
    int C = R->ds->n_classes;
    full_ctx F;
    memset(&F, 0, sizeof F);
    F.R = R;
    F.img = (size_t)R->size * R->size * 3;
    vg_trainer_opts o = {R->chunk, c->threads, R->first_trainable, R->logits, false, 0.1f};
    vg_status st = vg_trainer_init(&F.t, &m->g, R->size, R->size, &o, err);
    vg_loader_opts lo = vg_loader_opts_default();
    lo.batch = c->batch;
    lo.balanced = c->balanced;
    lo.aug = c->augment ? &c->aug : NULL;
    lo.spec = m->input;
    lo.seed = c->seed;
    lo.threads = 1;
    lo.ds = R->ds;
    if (st == VG_OK) st = vg_loader_new(&F.ld, R->tc, NULL, 0, &lo, err);
    bool boxed = false;
    for (int i = 0; i < R->ds->n_train && !boxed; i++)
        boxed = R->ds->samples[R->ds->train[i]].boxed;
    if (st == VG_OK && boxed && c->augment && R->class_w) st = draw_class_weights(R, F.ld, err);
    int nv_max = R->vc ? vg_cache_count(R->vc) : 0;
    float *probs = vg_malloc(sizeof(float) * (size_t)(nv_max + 1) * C);
    int *labels = vg_malloc(sizeof(int) * (size_t)(nv_max + 1));
    F.xmix = c->mixup > 0 ? vg_malloc(sizeof(float) * F.img * (size_t)c->batch) : NULL;
    F.targets = vg_malloc(sizeof(float) * (size_t)c->batch * C);
    F.sw = vg_malloc(sizeof(float) * (size_t)c->batch);
    F.perm = vg_malloc(sizeof(int) * (size_t)c->batch);
    for (int i = 0; F.perm && i < c->batch; i++)
        F.perm[i] = i;
    if (st == VG_OK &&
        (!probs || !labels || !F.targets || !F.sw || !F.perm || (c->mixup > 0 && !F.xmix)))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    /* the teacher of distillation: one image at a time (its cost is small beside a training
     * step, and batch 1 needs no padding for the last, shorter chunk) */
    if (st == VG_OK && c->teacher && c->distill > 0) {
        vg_runner_opts to = vg_runner_opts_default();
        to.threads = c->threads, to.precision = VG_PRECISION_FLOAT;
        if (c->mixup > 0)
            st = vg_err_set(err, VG_ERR_ARG, "distillation and mixup do not combine");
        else if (c->teacher->input.w != R->size || c->teacher->input.h != R->size ||
                 vg_model_n_outputs(c->teacher) != C)
            st = vg_err_set(err, VG_ERR_ARG,
                            "the distillation teacher needs input %dx%d and %d classes", R->size,
                            R->size, C);
        else
            st = vg_runner_init(&F.teacher, c->teacher, &to, err);
    }
    if (st == VG_OK) {
        epoch_src s = {&F,         vg_loader_batches(F.ld),     full_start, full_next,
                       full_grads, R->vc ? full_validate : NULL};
        st = drive(R, &s, probs, labels, err);
    }
    vg_runner_free(F.teacher);
    vg_loader_free(F.ld);
    vg_trainer_free(F.t);
    free(probs), free(labels), free(F.xmix), free(F.targets), free(F.sw), free(F.perm);
    return st;
}

/* ---- head-only training on features computed once */

typedef struct {
    float *f; /* (n, d) */
    int *y;
    int n, d;
} feats;

static vg_status compute_features(vg_run *R, const vg_model *fm, const vg_cache *c, bool flip_views,
                                  bool average_flip, feats *out, const char *what, vg_err *err) {
    int d = vg_model_n_outputs(fm), S = vg_cache_size(c), good = vg_cache_good(c);
    int views = flip_views ? 2 : 1, rows = average_flip ? good : good * views;
    out->f = vg_calloc((size_t)rows * d + 1, sizeof(float));
    out->y = vg_malloc(sizeof(int) * (size_t)(rows + 1));
    out->n = rows;
    out->d = d;
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = R->cfg->threads, ro.precision = VG_PRECISION_FLOAT;
    float *x = vg_malloc(sizeof(float) * (size_t)R->size * R->size * 3),
          *o = vg_malloc(sizeof(float) * (size_t)d);
    vg_status st = (!out->f || !out->y || !x || !o) ? vg_err_set(err, VG_ERR_NOMEM, "out of memory")
                                                    : vg_runner_init(&r, fm, &ro, err);
    int k = 0;
    double t0 = vg_time_now();
    for (int i = 0; st == VG_OK && i < vg_cache_count(c); i++) {
        if (!vg_cache_ok(c, i)) continue;
        for (int v = 0; v < views; v++) {
            vg_augment_params p;
            vg_augment_draw(NULL, S, S, 0, 0, 0, &p);
            p.flip = v == 1;
            vg_augment_render(vg_cache_pixels(c, i), S, S, &p, &fm->input, x);
            vg_cache_release(c, i);
            vg_runner_forward(r, x, o);
            int row = average_flip ? k : k * views + v;
            for (int j = 0; j < d; j++)
                out->f[(size_t)row * d + j] += average_flip ? o[j] / views : o[j];
            out->y[row] = vg_cache_label(c, i);
        }
        k++;
        vg_run_progress(R, what, 0, k, good, 0, t0, k * views,
                        (good - k) * (vg_time_now() - t0) / k);
        if (vg_run_stop_requested(R->hooks)) {
            st = vg_err_set(err, VG_CANCELLED,
                            "interrupted while computing features (no checkpoint yet)");
            break;
        }
    }
    vg_runner_free(r);
    free(x), free(o);
    return st;
}

/* ---- head-only training: the classifier on the features */

typedef struct {
    vg_run *R;
    feats tr, va;
    int D, bi; /* feature size; the next batch */
    const vg_node *fc;
    float *lg, *dl, *xb, *grads;
    int *order, *yb;
} head_ctx;

static void head_start(void *ud, int epoch, int first) {
    head_ctx *H = ud;
    vg_rng rng = vg_rng_make(H->R->cfg->seed, (uint64_t)epoch, 0x48454144u);
    for (int i = 0; i < H->tr.n; i++)
        H->order[i] = i;
    for (int i = H->tr.n - 1; i > 0; i--) {
        int j = (int)vg_rng_below(&rng, (uint32_t)i + 1), tmp = H->order[i];
        H->order[i] = H->order[j], H->order[j] = tmp;
    }
    H->bi = first;
}

static bool head_next(void *ud, int epoch, double *loss, int *correct, int *n_out, int *index,
                      vg_status *st, vg_err *err) {
    (void)epoch, (void)st, (void)err;
    head_ctx *H = ud;
    const vg_train_cfg *c = H->R->cfg;
    int C = H->R->ds->n_classes, D = H->D, B = c->batch;
    if (H->bi * B >= H->tr.n) return false;
    int n = H->tr.n - H->bi * B < B ? H->tr.n - H->bi * B : B;
    for (int i = 0; i < n; i++) {
        int s = H->order[H->bi * B + i];
        memcpy(H->xb + (size_t)i * D, H->tr.f + (size_t)s * D, sizeof(float) * (size_t)D);
        H->yb[i] = H->tr.y[s];
    }
    const float *params = H->R->m->g.params;
    const float *W = params + H->fc->w, *bias = params + H->fc->b;
    vg_matmul_ref(n, C, D, H->xb, W, bias, VG_ACT_NONE, H->lg);
    *loss = vg_softmax_xent_ref(n, C, H->lg, H->yb, H->R->class_w, c->label_smoothing, H->dl);
    *correct = 0;
    for (int i = 0; i < n; i++)
        *correct += vg_run_argmax(H->lg + (size_t)i * C, C) == H->yb[i];
    memset(H->grads + H->fc->w, 0, sizeof(float) * (size_t)C * D);
    memset(H->grads + H->fc->b, 0, sizeof(float) * (size_t)C);
    vg_matmul_bwd_ref(n, C, D, H->xb, W, H->dl, NULL, H->grads + H->fc->w, H->grads + H->fc->b);
    *n_out = n, *index = H->bi++;
    return true;
}

static float *head_grads(void *ud) {
    return ((head_ctx *)ud)->grads;
}

static vg_status head_validate(void *ud, float *probs, int *labels, int *nv, double *loss,
                               vg_err *err) {
    (void)err;
    head_ctx *H = ud;
    int C = H->R->ds->n_classes;
    const float *params = H->R->m->g.params;
    vg_matmul_ref(H->va.n, C, H->D, H->va.f, params + H->fc->w, params + H->fc->b, VG_ACT_NONE,
                  H->lg);
    vg_softmax_ref(H->va.n, C, H->lg, probs);
    double vl = 0;
    for (int i = 0; i < H->va.n; i++)
        vl -= log(fmax(probs[(size_t)i * C + H->va.y[i]], 1e-12));
    memcpy(labels, H->va.y, sizeof(int) * (size_t)H->va.n);
    *nv = H->va.n, *loss = vl / H->va.n;
    return VG_OK;
}

vg_status vg_run_train_head(vg_run *R, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_model *m = R->m;
    int C = R->ds->n_classes;
    head_ctx H;
    memset(&H, 0, sizeof H);
    H.R = R;
    H.fc = &m->g.nodes[R->fc_node];
    vg_model *fm = vg_model_new();
    if (!fm) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_graph_free(&fm->g);
    vg_status st = vg_graph_slice(&m->g, R->fc_node, &fm->g, err);
    fm->input = m->input;
    if (st == VG_OK)
        st = compute_features(R, fm, R->tc, c->augment, false, &H.tr, "features (training)", err);
    if (st == VG_OK && R->vc)
        st = compute_features(R, fm, R->vc, c->tta_flip, true, &H.va, "features (validation)", err);
    vg_model_free(fm);
    H.D = H.tr.d;
    int rows = H.tr.n > H.va.n ? H.tr.n : H.va.n + 1;
    H.lg = vg_malloc(sizeof(float) * (size_t)rows * C + 4);
    H.dl = vg_malloc(sizeof(float) * (size_t)c->batch * C + 4);
    H.xb = vg_malloc(sizeof(float) * (size_t)c->batch * H.D + 4);
    float *probs = vg_malloc(sizeof(float) * (size_t)(H.va.n + 1) * C);
    int *labels = vg_malloc(sizeof(int) * (size_t)(H.va.n + 1));
    H.order = vg_malloc(sizeof(int) * (size_t)(H.tr.n + 1));
    H.yb = vg_malloc(sizeof(int) * (size_t)c->batch);
    H.grads = vg_calloc((size_t)m->g.n_params, sizeof(float));
    if (st == VG_OK &&
        (!H.lg || !H.dl || !H.xb || !probs || !labels || !H.order || !H.yb || !H.grads))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) {
        epoch_src s = {&H,         (H.tr.n + c->batch - 1) / c->batch, head_start, head_next,
                       head_grads, H.va.n > 0 ? head_validate : NULL};
        st = drive(R, &s, probs, labels, err);
    }
    free(H.tr.f), free(H.tr.y), free(H.va.f), free(H.va.y);
    free(H.lg), free(H.dl), free(H.xb), free(probs), free(labels), free(H.order), free(H.yb),
        free(H.grads);
    return st;
}
