/* epochs.c — the epoch loops of a training run (train.c sets the run up and finishes it):
 * full / last-N training (augmented batches, chunked forward / backward, optimizer step with
 * the caller's step hooks, weight averaging, validation, early stopping, checkpoint), and
 * head-only training on features the frozen backbone computes once. Both end in
 * vg_run_finish. */
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

/* Beta(a, a) by Johnk's method (fine for the small a mixup uses) */
static float beta_sample(vg_rng *r, float a) {
    for (int tries = 0; tries < 1000; tries++) {
        double u = vg_rng_uniform(r), v = vg_rng_uniform(r);
        double x = pow(u, 1.0 / a), y = pow(v, 1.0 / a);
        if (x + y <= 1.0 && x + y > 0) return (float)(x / (x + y));
    }
    return 0.5f;
}

/* ---- full / last-N training */

vg_status vg_run_train_full(vg_run *R, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_model *m = R->m;
    int C = R->ds->n_classes;
    vg_trainer *t = NULL;
    vg_loader *ld = NULL;
    float *probs = NULL;
    int *labels = NULL;
    vg_trainer_opts o = {R->chunk, c->threads, R->first_trainable, R->logits, false, 0.1f};
    vg_status st = vg_trainer_init(&t, &m->g, R->size, R->size, &o, err);
    vg_loader_opts lo = vg_loader_opts_default();
    lo.batch = c->batch;
    lo.balanced = c->balanced;
    lo.aug = c->augment ? &c->aug : NULL;
    lo.spec = m->input;
    lo.seed = c->seed;
    lo.threads = 1;
    lo.ds = R->ds;
    if (st == VG_OK) st = vg_loader_new(&ld, R->tc, NULL, 0, &lo, err);
    bool boxed = false;
    for (int i = 0; i < R->ds->n_train && !boxed; i++)
        boxed = R->ds->samples[R->ds->train[i]].boxed;
    if (st == VG_OK && boxed && c->augment && R->class_w) {
        /* crops of boxed images take the class of what they keep, and negative crops are
         * neutral: weigh the classes as the draws have them, not as the images do */
        int counts[VG_MAX_CLASSES];
        vg_loader_label_counts(ld, 0, counts);
        bool every = true; /* a class whose few boxed images all lost their boxes in epoch 1 */
        for (int i = 0; i < C; i++)
            every = every && counts[i] > 0;
        if (every)
            st = vg_class_weights(counts, C, R->ds->classes, R->class_w, err);
        else
            vg_run_say(R->hooks,
                       "note: a class has no draw in epoch 1: class weights from the images");
        char line[512];
        int k = snprintf(line, sizeof line, "class weights from the draws of epoch 1:");
        for (int i = 0; i < C && k > 0 && (size_t)k < sizeof line; i++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s %d (%.2f)", R->ds->classes[i],
                          counts[i], (double)R->class_w[i]);
        if (st == VG_OK && every && R->st.step == 0) vg_run_say(R->hooks, "%s", line);
    }
    int nv_max = R->vc ? vg_cache_count(R->vc) : 0;
    probs = vg_malloc(sizeof(float) * (size_t)(nv_max + 1) * C);
    labels = vg_malloc(sizeof(int) * (size_t)(nv_max + 1));
    size_t img_floats = (size_t)R->size * R->size * 3;
    float *xmix = c->mixup > 0 ? vg_malloc(sizeof(float) * img_floats * (size_t)c->batch) : NULL;
    float *targets = vg_malloc(sizeof(float) * (size_t)c->batch * C);
    float *sw = vg_malloc(sizeof(float) * (size_t)c->batch);
    int *perm = vg_malloc(sizeof(int) * (size_t)c->batch);
    for (int i = 0; perm && i < c->batch; i++)
        perm[i] = i;
    if (st == VG_OK && (!probs || !labels || !targets || !sw || !perm || (c->mixup > 0 && !xmix)))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    /* the teacher of distillation: one image at a time (its cost is small beside a training
     * step, and batch 1 needs no padding for the last, shorter chunk) */
    vg_runner *teach = NULL;
    bool distill = c->teacher && c->distill > 0;
    if (st == VG_OK && distill) {
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
            st = vg_runner_init(&teach, c->teacher, &to, err);
    }
    int batches = st == VG_OK ? vg_loader_batches(ld) : 0;
    int64_t total = (int64_t)c->epochs * batches, warm = (int64_t)(c->warmup_epochs * batches);
    double t_run = vg_time_now(), sec_per_batch = 0;
    int imgs_run = 0;
    for (int epoch = R->st.epoch; st == VG_OK && epoch < vg_run_run_epochs(R); epoch++) {
        double t_ep = vg_time_now();
        int imgs_ep = 0;
        vg_loader_start(ld, epoch, R->st.batch);
        vg_batch b;
        float lr = c->lr;
        while (vg_loader_next(ld, &b)) {
            lr = vg_lr_schedule(c->lr, R->st.step, total, warm, c->final_lr_frac);
            double bw = 0;
            for (int i = 0; i < b.n; i++)
                bw += R->class_w ? R->class_w[b.labels[i]] : 1.0;
            vg_trainer_zero_grad(t);
            double loss = 0;
            int correct = 0;
            size_t img = (size_t)R->size * R->size * 3;
            const float *xs = b.x;
            float lam = 1.0f;
            if (c->mixup > 0) {
                /* mixup: blend every image with a partner of the same batch, one lambda per
                 * batch; targets and class weights blend alike (all keyed: resume-exact) */
                vg_rng mr =
                    vg_rng_make(c->seed, (uint64_t)epoch, 0x4D495850000000ull + (uint64_t)b.index);
                lam = beta_sample(&mr, c->mixup);
                for (int i = 0; i < b.n; i++)
                    perm[i] = i;
                for (int i = b.n - 1; i > 0; i--) {
                    int j = (int)vg_rng_below(&mr, (uint32_t)i + 1), tmp = perm[i];
                    perm[i] = perm[j], perm[j] = tmp;
                }
                for (int i = 0; i < b.n; i++) {
                    const float *p = b.x + i * img, *q = b.x + (size_t)perm[i] * img;
                    float *om = xmix + i * img;
                    for (size_t k = 0; k < img; k++)
                        om[k] = lam * p[k] + (1 - lam) * q[k];
                    float *tg = targets + (size_t)i * C;
                    for (int cc = 0; cc < C; cc++)
                        tg[cc] = c->label_smoothing / C;
                    tg[b.labels[i]] += lam * (1 - c->label_smoothing);
                    tg[b.labels[perm[i]]] += (1 - lam) * (1 - c->label_smoothing);
                    sw[i] = R->class_w ? lam * R->class_w[b.labels[i]] +
                                             (1 - lam) * R->class_w[b.labels[perm[i]]]
                                       : 1.0f;
                }
                xs = xmix;
            }
            if (distill) {
                /* soft targets: the teacher's probabilities blended with the smoothed label */
                for (int i = 0; i < b.n; i++) {
                    float *tg = targets + (size_t)i * C;
                    vg_runner_forward(teach, xs + i * img, tg);
                    for (int cc = 0; cc < C; cc++)
                        tg[cc] = c->distill * tg[cc] + (1 - c->distill) * c->label_smoothing / C;
                    tg[b.labels[i]] += (1 - c->distill) * (1 - c->label_smoothing);
                    sw[i] = R->class_w ? R->class_w[b.labels[i]] : 1.0f;
                }
            }
            for (int i = 0; i < b.n; i += R->chunk) {
                int k = b.n - i < R->chunk ? b.n - i : R->chunk;
                const float *lg = vg_trainer_forward(t, xs + i * img, k);
                for (int j = 0; j < k; j++) {
                    int want = lam >= 0.5f ? b.labels[i + j] : b.labels[perm[i + j]];
                    correct += vg_run_argmax(lg + (size_t)j * C, C) == want;
                }
                if (c->mixup > 0 || distill)
                    loss += vg_trainer_loss_soft(t, targets + (size_t)i * C, sw + i, k, bw);
                else
                    loss += vg_trainer_loss(t, b.labels + i, k, bw, R->class_w, c->label_smoothing);
                vg_trainer_backward(t, k);
            }
            if (c->pre_step)
                c->pre_step(c->step_ud, m->g.params, vg_trainer_grads(t), R->st.step, total);
            vg_optim_step(&R->opt, m->g.params, vg_trainer_grads(t), lr);
            if (c->post_step) c->post_step(c->step_ud, m->g.params, R->st.step, total);
            R->st.step++;
            ema_update(R);
            R->st.run_loss += loss * b.n;
            R->st.run_correct += correct;
            R->st.run_seen += b.n;
            R->st.batch = b.index + 1;
            imgs_ep += b.n;
            imgs_run += b.n;
            double el = vg_time_now() - t_run;
            sec_per_batch = el / ((double)imgs_run / c->batch);
            double eta =
                sec_per_batch * (double)((int64_t)vg_run_run_epochs(R) * batches - R->st.step);
            vg_run_progress(R, "training", epoch, b.index + 1, batches, lr, t_ep, imgs_ep, eta);
            if (vg_run_stop_requested(R->hooks)) {
                st = stop_here(R, err);
                goto out;
            }
        }
        /* validation */
        vg_epoch_stats e = epoch_stats(R, epoch, lr);
        ema_swap(R, true); /* validation, and the best-weights copy, use the averaged weights */
        if (R->vc) {
            vg_run_progress(R, "validating", epoch, 0, 1, lr, t_ep, imgs_ep, 0);
            int nv;
            double vl;
            st = vg_run_predict_cache(R, t, R->vc, probs, labels, &nv, &vl, err);
            if (st != VG_OK) {
                ema_swap(R, false);
                break;
            }
            vg_metrics mt;
            float thr = 0.5f;
            if (R->no_alarm >= 0) st = vg_run_choose_threshold(R, probs, labels, nv, &thr, err);
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
        st = end_epoch(R, &e, epoch, t_ep, R->vc != NULL, &stop, err);
        if (stop) break;
    }
    if (st == VG_OK) {
        /* the best weights, then the final validation and outputs */
        memcpy(m->g.params, R->best, sizeof(float) * (size_t)m->g.n_params);
        int nv = 0;
        double vl;
        if (R->vc) st = vg_run_predict_cache(R, t, R->vc, probs, labels, &nv, &vl, err);
        if (st == VG_OK) st = vg_run_finish(R, probs, labels, nv, err);
    }
out:
    vg_runner_free(teach);
    R->res->images_per_s = imgs_run / (vg_time_now() - t_run + 1e-9);
    vg_loader_free(ld);
    vg_trainer_free(t);
    free(probs), free(labels), free(xmix), free(targets), free(sw), free(perm);
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
    vg_runner_opts ro = {R->cfg->threads, 1, VG_PRECISION_FLOAT, 0};
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
            st = vg_err_set(err, VG_CANCELLED, "interrupted while computing features (no checkpoint yet)");
            break;
        }
    }
    vg_runner_free(r);
    free(x), free(o);
    return st;
}

vg_status vg_run_train_head(vg_run *R, vg_err *err) {
    const vg_train_cfg *c = R->cfg;
    vg_model *m = R->m;
    int C = R->ds->n_classes;
    const vg_node *fc = &m->g.nodes[R->fc_node];
    vg_model *fm = vg_model_new();
    if (!fm) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_graph_free(&fm->g);
    vg_status st = vg_graph_slice(&m->g, R->fc_node, &fm->g, err);
    fm->input = m->input;
    feats tr = {0}, va = {0};
    if (st == VG_OK)
        st = compute_features(R, fm, R->tc, c->augment, false, &tr, "features (training)", err);
    if (st == VG_OK && R->vc)
        st = compute_features(R, fm, R->vc, c->tta_flip, true, &va, "features (validation)", err);
    vg_model_free(fm);
    int D = tr.d;
    float *W = m->g.params + fc->w, *bias = m->g.params + fc->b;
    float *lg = vg_malloc(sizeof(float) * (size_t)(tr.n > va.n ? tr.n : va.n + 1) * C + 4);
    float *dl = vg_malloc(sizeof(float) * (size_t)c->batch * C + 4);
    float *xb = vg_malloc(sizeof(float) * (size_t)c->batch * D + 4);
    float *probs = vg_malloc(sizeof(float) * (size_t)(va.n + 1) * C);
    int *order = vg_malloc(sizeof(int) * (size_t)(tr.n + 1)),
        *yb = vg_malloc(sizeof(int) * (size_t)c->batch);
    float *grads = vg_calloc((size_t)m->g.n_params, sizeof(float));
    if (st == VG_OK && (!lg || !dl || !xb || !probs || !order || !yb || !grads))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    int batches = (tr.n + c->batch - 1) / c->batch;
    int64_t total = (int64_t)c->epochs * batches, warm = (int64_t)(c->warmup_epochs * batches);
    double t_run = vg_time_now();
    for (int epoch = R->st.epoch; st == VG_OK && epoch < vg_run_run_epochs(R); epoch++) {
        double t_ep = vg_time_now();
        vg_rng rng = vg_rng_make(c->seed, (uint64_t)epoch, 0x48454144u);
        for (int i = 0; i < tr.n; i++)
            order[i] = i;
        for (int i = tr.n - 1; i > 0; i--) {
            int j = (int)vg_rng_below(&rng, (uint32_t)i + 1), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        float lr = c->lr;
        for (int bi = R->st.batch; bi < batches; bi++) {
            lr = vg_lr_schedule(c->lr, R->st.step, total, warm, c->final_lr_frac);
            int n = tr.n - bi * c->batch < c->batch ? tr.n - bi * c->batch : c->batch;
            for (int i = 0; i < n; i++) {
                int s = order[bi * c->batch + i];
                memcpy(xb + (size_t)i * D, tr.f + (size_t)s * D, sizeof(float) * (size_t)D);
                yb[i] = tr.y[s];
            }
            vg_matmul_ref(n, C, D, xb, W, bias, VG_ACT_NONE, lg);
            float loss = vg_softmax_xent_ref(n, C, lg, yb, R->class_w, c->label_smoothing, dl);
            int correct = 0;
            for (int i = 0; i < n; i++)
                correct += vg_run_argmax(lg + (size_t)i * C, C) == yb[i];
            memset(grads + fc->w, 0, sizeof(float) * (size_t)C * D);
            memset(grads + fc->b, 0, sizeof(float) * (size_t)C);
            vg_matmul_bwd_ref(n, C, D, xb, W, dl, NULL, grads + fc->w, grads + fc->b);
            vg_optim_step(&R->opt, m->g.params, grads, lr);
            R->st.step++;
            ema_update(R);
            R->st.run_loss += (double)loss * n;
            R->st.run_correct += correct;
            R->st.run_seen += n;
            R->st.batch = bi + 1;
            vg_run_progress(R, "training", epoch, bi + 1, batches, lr, t_ep, (bi + 1) * c->batch,
                            0);
            if (vg_run_stop_requested(R->hooks)) {
                st = stop_here(R, err);
                goto out;
            }
        }
        vg_epoch_stats e = epoch_stats(R, epoch, lr);
        ema_swap(R, true);
        if (va.n > 0) {
            vg_matmul_ref(va.n, C, D, va.f, W, bias, VG_ACT_NONE, lg);
            vg_softmax_ref(va.n, C, lg, probs);
            double vl = 0;
            for (int i = 0; i < va.n; i++)
                vl -= log(fmax(probs[(size_t)i * C + va.y[i]], 1e-12));
            vg_metrics mt;
            float thr = 0.5f;
            if (R->no_alarm >= 0) st = vg_run_choose_threshold(R, probs, va.y, va.n, &thr, err);
            if (st == VG_OK)
                st = vg_metrics_compute(va.n, C, probs, va.y, R->no_alarm, thr, &mt, err);
            if (st != VG_OK) {
                ema_swap(R, false);
                goto out;
            }
            e.val_loss = vl / va.n, e.val_acc = mt.accuracy, e.alarm_recall = mt.alarm_recall;
            e.false_alarm_rate = mt.false_alarm_rate, e.auc = mt.auc;
            vg_metrics_free(&mt);
        }
        bool stop = false;
        st = end_epoch(R, &e, epoch, t_ep, va.n > 0, &stop, err);
        if (stop) break;
    }
    if (st == VG_OK) {
        memcpy(m->g.params, R->best, sizeof(float) * (size_t)m->g.n_params);
        if (va.n > 0) {
            vg_matmul_ref(va.n, C, D, va.f, W, bias, VG_ACT_NONE, lg);
            vg_softmax_ref(va.n, C, lg, probs);
        }
        st = vg_run_finish(R, probs, va.y, va.n, err);
    }
out:
    R->res->images_per_s =
        tr.n * (double)(R->st.n_hist ? R->st.n_hist : 1) / (vg_time_now() - t_run + 1e-9);
    free(tr.f), free(tr.y), free(va.f), free(va.y);
    free(lg), free(dl), free(xb), free(probs), free(order), free(yb), free(grads);
    return st;
}
