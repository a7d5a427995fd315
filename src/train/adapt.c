/* adapt.c — `vigie adapt` (vigie.h, vg_adapt_run): a trained classifier learns from the
 * user's own feedback (false alarms in neutral/, missed fires in fire/ or smoke/) in seconds,
 * without forgetting what it knew.
 *
 * Only the classifier (the last fully-connected layer) learns, on feature vectors: the
 * backbone runs once per image, never backwards. The feedback images are seen in several
 * augmented views (crops, flips, colour), so that the next frame of the same look-alike, a
 * little shifted or brighter, is learnt too. A rehearsal set (a class-balanced sample of the
 * original training images) is learnt at the same time, so that nothing else moves, and the
 * weights are pulled towards where they were. The alarm threshold is kept.
 *
 * The guard: alarm recall on the validation positives of the original data, at the kept
 * threshold, before and after. A drop of more than max_recall_drop (1 point by default)
 * refuses the update, nothing written: feedback that contradicts the training data (fire
 * frames marked neutral) cannot silently make the detector blind. */
#include "train/rehearsal.h"

#include "core/rng.h"
#include "model/model.h"
#include "model/surgery.h"
#include "ops/ops.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

vg_adapt_cfg vg_adapt_cfg_default(void) {
    vg_adapt_cfg c;
    memset(&c, 0, sizeof c);
    c.rehearsal = 100;
    c.views = 16;
    c.steps = 300;
    c.lr = 0.2f;
    c.anchor = 0.01f;
    c.max_recall_drop = 0.01f;
    c.threads = 1;
    c.seed = 1;
    return c;
}

static void say(const vg_adapt_hooks *h, const char *fmt, ...) VG_PRINTF(2, 3);
static void say(const vg_adapt_hooks *h, const char *fmt, ...) {
    if (!h || !h->log) return;
    va_list ap;
    va_start(ap, fmt);
    vg_vlogf(h->log, h->ud, fmt, ap);
    va_end(ap);
}

/* feature vectors with their classes (model label indices) */
typedef struct {
    float *f; /* (n, d) */
    int *y;
    int n, cap, d;
} feats;

static bool feats_room(feats *F, int more) {
    if (F->n + more <= F->cap) return true;
    int cap = F->cap ? F->cap : 64;
    while (cap < F->n + more)
        cap *= 2;
    float *f = vg_realloc(F->f, sizeof(float) * (size_t)cap * (size_t)F->d);
    if (!f) return false;
    F->f = f;
    int *y = vg_realloc(F->y, sizeof(int) * (size_t)cap);
    if (!y) return false;
    F->y = y;
    F->cap = cap;
    return true;
}

typedef struct {
    const vg_adapt_cfg *cfg;
    const vg_adapt_hooks *h;
    const vg_model *m;
    vg_runner *r; /* the feature model, float */
    float *x;     /* one input */
    int d;
    int done, total; /* images, for progress */
} ctx;

static void progress(ctx *c, const char *what) {
    c->done++;
    if (c->h && c->h->progress) c->h->progress(c->h->ud, what, c->done, c->total);
}

/* the features of one image: its whole view (view 0), then views - 1 augmented ones */
static vg_status image_features(ctx *c, const char *path, int label, int views, uint64_t key,
                                feats *F, vg_err *err) {
    vg_image img = {0, 0, NULL};
    vg_status st = vg_image_load(path, &img, err);
    if (st != VG_OK) return st;
    if (!feats_room(F, views)) {
        vg_image_free(&img);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    vg_augment a = vg_augment_default();
    for (int v = 0; v < views; v++) {
        vg_augment_params p;
        vg_augment_draw(v ? &a : NULL, img.w, img.h, c->cfg->seed, (uint64_t)v, key, &p);
        vg_augment_render(img.rgb, img.w, img.h, &p, &c->m->input, c->x);
        vg_runner_forward(c->r, c->x, F->f + (size_t)F->n * c->d);
        F->y[F->n++] = label;
    }
    vg_image_free(&img);
    return VG_OK;
}

/* class probabilities of every row through the classifier W, b; lq: an int8 engine's logits
 * quantization (its integer kernels round the logits to that grid before the softmax), or
 * NULL */
static void classify_q(const feats *F, const float *W, const float *b, int C, const vg_qparam *lq,
                       float *probs) {
    vg_matmul_ref(F->n, C, F->d, F->f, W, b, VG_ACT_NONE, probs);
    for (size_t i = 0; lq && i < (size_t)F->n * C; i++) {
        long q = lrintf(probs[i] / lq->scale) + lq->zp;
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        probs[i] = (float)(q - lq->zp) * lq->scale;
    }
    vg_softmax_ref(F->n, C, probs, probs);
}

static void classify(const feats *F, const float *W, const float *b, int C, float *probs) {
    classify_q(F, W, b, C, NULL, probs);
}

/* the range of the logits of every row (for the engine's requantization) */
static void logit_range(const feats *F, const float *W, const float *b, int C, float *buf,
                        float *lo, float *hi) {
    vg_matmul_ref(F->n, C, F->d, F->f, W, b, VG_ACT_NONE, buf);
    for (size_t i = 0; i < (size_t)F->n * C; i++) {
        if (buf[i] < *lo) *lo = buf[i];
        if (buf[i] > *hi) *hi = buf[i];
    }
}

/* alarm decisions at the threshold: positives found, neutrals alarmed (counts) */
static void alarm_counts(const feats *F, const float *probs, int C, int no_alarm, float thr,
                         int views, int *pos, int *pos_hit, int *neg, int *neg_hit) {
    *pos = *pos_hit = *neg = *neg_hit = 0;
    for (int i = 0; i < F->n; i += views) { /* view 0 of each image: the whole image */
        bool alarm = 1.0f - probs[(size_t)i * C + no_alarm] >= thr;
        if (F->y[i] == no_alarm)
            *neg += 1, *neg_hit += alarm;
        else
            *pos += 1, *pos_hit += alarm;
    }
}

/* Training of the classifier: the feedback views' cross-entropy against their labels (half the
 * weight) and the rehearsal's against the old classifier's own probabilities (the other half:
 * distillation, so where the feedback asks nothing, nothing moves; labels would instead
 * re-fit the rehearsal sample and shift the boundary on their own), plus
 * anchor * |W - W0|^2 / 2 */
/* whether every feedback view is on its side of the threshold, by a margin: the training
 * stops there (the smallest change that does the job moves the rest the least) */
static bool feedback_learnt(const feats *fb, const float *W, const float *b, int C, int no_alarm,
                            float thr, float *probs) {
    classify(fb, W, b, C, probs);
    const float margin = 0.1f * (thr < 1 - thr ? thr : 1 - thr);
    for (int i = 0; i < fb->n; i++) {
        float a = 1.0f - probs[(size_t)i * C + no_alarm];
        if (fb->y[i] == no_alarm ? a > thr - margin : a < thr + margin) return false;
    }
    return true;
}

static vg_status train_classifier(const vg_adapt_cfg *cfg, const feats *reh, const feats *fb, int C,
                                  int no_alarm, float thr, float *W, float *b, int *steps,
                                  vg_err *err) {
    const int D = reh->d;
    const size_t nw = (size_t)C * D, np = nw + (size_t)C;
    float *w0 = vg_malloc(sizeof(float) * nw), *g = vg_malloc(sizeof(float) * np);
    float *m1 = vg_calloc(np, sizeof(float)); /* momentum */
    int rows = reh->n > fb->n ? reh->n : fb->n;
    float *lg = vg_malloc(sizeof(float) * (size_t)rows * C),
          *dl = vg_malloc(sizeof(float) * (size_t)rows * C);
    float *gt = vg_malloc(sizeof(float) * np);
    float *soft = vg_malloc(sizeof(float) * ((size_t)reh->n + 1) * C); /* the old outputs */
    float *fp = vg_malloc(sizeof(float) * ((size_t)fb->n + 1) * C);
    vg_status st = VG_OK;
    if (!w0 || !g || !m1 || !lg || !dl || !gt || !soft || !fp) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(w0, W, sizeof(float) * nw);
    if (reh->n) classify(reh, W, b, C, soft);
    const feats *nf = fb->n ? fb : reh; /* the scale of a step */
    double sq = 0;
    for (size_t i = 0; i < (size_t)nf->n * D; i++)
        sq += (double)nf->f[i] * nf->f[i];
    const float lr = (float)(cfg->lr / (sq / (nf->n ? nf->n : 1) + 1.0));
    *steps = 0;
    for (int step = 1; step <= cfg->steps; step++) {
        if (fb->n && feedback_learnt(fb, W, b, C, no_alarm, thr, fp)) break;
        *steps = step;
        memset(g, 0, sizeof(float) * np);
        const feats *sets[2] = {reh, fb};
        for (int s = 0; s < 2; s++) {
            const feats *F = sets[s];
            if (!F->n) continue;
            vg_matmul_ref(F->n, C, D, F->f, W, b, VG_ACT_NONE, lg);
            if (s == 0)
                vg_softmax_xent_soft_ref(F->n, C, lg, soft, NULL, dl);
            else
                vg_softmax_xent_ref(F->n, C, lg, F->y, NULL, 0, dl);
            memset(gt, 0, sizeof(float) * np);
            vg_matmul_bwd_ref(F->n, C, D, F->f, W, dl, NULL, gt, gt + nw);
            float share = reh->n && fb->n ? 0.5f : 1.0f;
            for (size_t i = 0; i < np; i++)
                g[i] += share * gt[i];
        }
        for (size_t i = 0; i < nw; i++)
            g[i] += cfg->anchor * (W[i] - w0[i]);
        /* gradient descent with momentum, not Adam: a step along the gradient changes the
         * logits of images whose features resemble the feedback's, where Adam's per-weight
         * normalisation would move all 1280 directions alike and every image with them. The
         * step is scaled by the feedback's squared feature norm, so lr means the same for
         * any backbone: a logit moves by about lr x its gradient per step. */
        for (size_t i = 0; i < np; i++) {
            m1[i] = 0.9f * m1[i] + g[i];
            if (i < nw)
                W[i] -= lr * m1[i];
            else
                b[i - nw] -= lr * m1[i];
        }
    }
out:
    free(w0), free(g), free(m1), free(lg), free(dl), free(gt), free(soft), free(fp);
    return st;
}

static void skipped(void *ud, const char *path, const char *msg) {
    say(((ctx *)ud)->h, "skipped %s: %s", path, msg);
}

static void reh_progress(void *ud, int done, int total) {
    const ctx *c = ud;
    if (c->h && c->h->progress) c->h->progress(c->h->ud, "rehearsal and guard images", done, total);
}

/* the model file's rehearsal chunk, kept while it loads */
typedef struct {
    uint8_t *data;
    size_t size;
} chunk_ctx;

static vg_status keep_chunk(void *ud, const char tag[4], const uint8_t *data, size_t size,
                            vg_err *err) {
    chunk_ctx *c = ud;
    if (memcmp(tag, VG_REHEARSAL_TAG, 4) != 0) return VG_OK; /* a later version's: skipped */
    free(c->data);
    if (!(c->data = vg_malloc(size + 1))) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    memcpy(c->data, data, size);
    c->size = size;
    return VG_OK;
}

vg_status vg_adapt_ready(const char *model, vg_err *err) {
    chunk_ctx cc = {NULL, 0};
    vg_model *m = NULL, *fm = NULL;
    vg_status st = vg_model_load_ex(model, keep_chunk, &cc, &m, err);
    int na, fc;
    float thr;
    if (st == VG_OK && !vg_model_alarm(m, &na, &thr))
        st = vg_err_set(err, VG_ERR_ARG,
                        "%s stores no alarm threshold (not trained by vigie "
                        "train)",
                        model);
    if (st == VG_OK) st = vg_feature_model(m, &fm, &fc, err);
    if (st == VG_OK && !cc.data)
        st = vg_err_set(err, VG_ERR_ARG,
                        "%s carries no rehearsal set: store one with vigie adapt %s --data DIR... "
                        "-o %s (its training data)",
                        model, model, model);
    vg_rehearsal rs;
    if (st == VG_OK && (st = vg_rehearsal_decode(cc.data, cc.size, &rs, err)) == VG_OK) {
        vg_model_info info;
        vg_model_get_info(m, &info);
        if (rs.d != vg_model_n_outputs(fm) || rs.n_classes != info.n_classes)
            st = vg_err_set(err, VG_ERR_ARG, "%s: its rehearsal set is another model's", model);
        vg_rehearsal_free(&rs);
    }
    free(cc.data);
    vg_model_free(fm);
    vg_model_free(m);
    return st;
}

/* the model in its own format: an engine stays an engine */
static vg_status save(const vg_model *m, const vg_chunk *chunk, const char *path, vg_err *err) {
    return m->engine ? vg_engine_save_ex(m, chunk, 1, path, NULL, err)
                     : vg_model_save_ex(m, chunk, 1, path, err);
}

vg_status vg_adapt_run(const vg_adapt_cfg *cfg, const vg_adapt_hooks *h, vg_adapt_report *rep,
                       vg_err *err) {
    memset(rep, 0, sizeof *rep);
    double t0 = vg_time_now();
    if (!cfg->model || !cfg->output || (cfg->n_feedback < 1 && cfg->n_data < 1) ||
        cfg->n_data < 0 || cfg->n_data > VG_TRAIN_MAX_DATA || cfg->n_feedback < 0 ||
        cfg->n_feedback > VG_ADAPT_MAX_FEEDBACK)
        return vg_err_set(err, VG_ERR_ARG,
                          "adapt needs a model, -o OUT, and --feedback DIR (with --data DIR "
                          "unless the model carries its rehearsal set), or --data DIR alone "
                          "(to store the rehearsal set)");
    if (cfg->views < 1 || cfg->views > 256 || cfg->rehearsal < 1 || cfg->steps < 1 ||
        !(cfg->lr > 0) || !(cfg->anchor >= 0) || !(cfg->max_recall_drop >= 0))
        return vg_err_set(err, VG_ERR_ARG,
                          "adapt: views 1..256, rehearsal >= 1, steps >= 1, "
                          "lr > 0, anchor >= 0, max recall drop >= 0");
    vg_model *m = NULL, *fm = NULL;
    vg_dataset *ds = NULL;
    vg_dataset *fbs[VG_ADAPT_MAX_FEEDBACK] = {0};
    feats reh = {0}, val = {0}, fb = {0};
    float *probs = NULL, *W = NULL, *b = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg, c.h = h;
    chunk_ctx cc = {NULL, 0};
    vg_rehearsal rs;
    memset(&rs, 0, sizeof rs);
    uint8_t *rs_buf = NULL;
    vg_status st = vg_model_load_ex(cfg->model, keep_chunk, &cc, &m, err);
    if (st != VG_OK) return st;
    int no_alarm = -1;
    float thr = 0;
    vg_model_info info;
    vg_model_get_info(m, &info);
    const int C = info.n_classes;
    const vg_graph *g = &m->g;
    int fc = 0;
    size_t ol = strlen(cfg->output);
    bool out_vge = ol >= 4 && strcmp(cfg->output + ol - 4, ".vge") == 0;
    if (m->engine != out_vge) {
        st =
            vg_err_set(err, VG_ERR_ARG,
                       m->engine ? "%s is an engine file: the adapted model is one too (-o OUT.vge)"
                                 : "%s is not an engine file: the adapted model is not either "
                                   "(-o OUT.vgm; vigie optimize makes engines)",
                       cfg->model);
    } else if (!vg_model_alarm(m, &no_alarm, &thr)) {
        st = vg_err_set(err, VG_ERR_ARG,
                        "%s: the model stores no alarm threshold (not trained by vigie train)",
                        cfg->model);
    } else if ((st = vg_feature_model(m, &fm, &fc, err)) != VG_OK) {
        vg_err e = *err;
        vg_err_set(err, st, "%s: %s", cfg->model, e.msg);
    }
    if (st != VG_OK) goto out;
    rep->threshold = thr;
    c.m = m;
    c.d = st == VG_OK ? vg_model_n_outputs(fm) : 0;
    if (st == VG_OK) {
        vg_runner_opts ro = vg_runner_opts_default();
        ro.threads = cfg->threads;
        ro.precision = vg_feature_precision(fm); /* an int8 engine's features: as it runs */
        st = vg_runner_init(&c.r, fm, &ro, err);
    }
    c.x = vg_malloc(sizeof(float) * (size_t)m->input.w * m->input.h * m->input.c);
    if (st == VG_OK && !c.x) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    reh.d = val.d = fb.d = c.d;
    /* the rehearsal set: the model's own (no --data), else computed from --data below */
    if (st == VG_OK && cfg->n_data == 0) {
        float probe[VG_REHEARSAL_PROBE];
        vg_rehearsal_probe(c.r, fm, probe);
        if (!cc.data)
            st = vg_err_set(err, VG_ERR_ARG,
                            "%s carries no rehearsal set: give its training data with --data "
                            "(the adapted model will carry one)",
                            cfg->model);
        else if ((st = vg_rehearsal_decode(cc.data, cc.size, &rs, err)) == VG_OK)
            st = vg_rehearsal_check(&rs, probe, c.d, C, err);
        rep->rehearsal_stored = true;
    }
    /* the feedback: every image of every tree, classes by name */
    for (int k = 0; st == VG_OK && k < cfg->n_feedback; k++) {
        st = vg_dataset_scan(cfg->feedback[k], &fbs[k], err);
        for (int i = 0; st == VG_OK && i < fbs[k]->n_classes; i++)
            if (vg_model_find_label(m, fbs[k]->classes[i]) < 0)
                st = vg_err_set(err, VG_ERR_ARG,
                                "%s: class folder '%s' is none of the model's "
                                "classes",
                                cfg->feedback[k], fbs[k]->classes[i]);
        if (st == VG_OK) c.total += fbs[k]->n_samples;
    }
    /* the rehearsal data and its validation split (the guard) */
    if (st == VG_OK && cfg->n_data > 0) {
        vg_dataset_opts o = vg_dataset_opts_default();
        o.val_fraction = 0; /* a made-up split would not be the one the model was chosen on */
        st = vg_dataset_open(cfg->data, cfg->n_data, &o, &ds, err);
        if (st == VG_OK && (!ds->n_val || !ds->n_train))
            st = vg_err_set(err, VG_ERR_ARG,
                            "%s: rehearsal data needs train and validation splits (lists)",
                            cfg->data[0].dir);
    }
    for (int k = 0; st == VG_OK && k < cfg->n_feedback; k++)
        for (int i = 0; st == VG_OK && i < fbs[k]->n_samples; i++) {
            const vg_sample *s = &fbs[k]->samples[i];
            int l = vg_model_find_label(m, fbs[k]->classes[s->label]);
            st = image_features(&c, s->path, l, cfg->views, (uint64_t)k << 32 | (uint64_t)i, &fb,
                                err);
            if (l == no_alarm)
                rep->n_neutral++;
            else
                rep->n_alarm++;
            progress(&c, "feedback");
        }
    /* the rehearsal set from --data: the images of its training splits sampled, its
     * validation splits whole (the guard), as vigie train stores it */
    if (st == VG_OK && ds) {
        vg_rehearsal_hooks rh = {skipped, reh_progress, &c};
        st = vg_rehearsal_build(m, fm, c.r, ds, ds->train, ds->n_train, ds->val, ds->n_val,
                                cfg->rehearsal, cfg->guard, cfg->seed, cfg->threads, &rh, &rs, err);
    }
    float *row = vg_malloc(sizeof(float) * ((size_t)c.d + 1));
    if (st == VG_OK && !row) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    /* the set as floats: rehearsed rows and the guard's */
    for (int i = 0; st == VG_OK && i < rs.n; i++) {
        vg_rehearsal_row(&rs, i, row);
        feats *F = rs.guard[i] ? &val : &reh;
        if (!feats_room(F, 1)) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(F->f + (size_t)F->n * c.d, row, sizeof(float) * (size_t)c.d);
        F->y[F->n++] = rs.label[i];
    }
    free(row);
    if (st == VG_OK && (!reh.n || !val.n))
        st = vg_err_set(err, VG_ERR_ARG,
                        "the rehearsal set has %d training and %d validation "
                        "images: both are needed",
                        reh.n, val.n);
    size_t rs_size = 0;
    if (st == VG_OK) st = vg_rehearsal_encode(&rs, &rs_buf, &rs_size, err);
    if (st != VG_OK) goto out;
    const vg_chunk chunk = {VG_REHEARSAL_TAG, rs_buf, rs_size};
    rep->n_rehearsal = reh.n;
    rep->n_val = val.n;
    rep->rehearsal_bytes = rs_size;
    if (cfg->n_feedback == 0) { /* only the set, stored for later adapts: the model unchanged */
        rep->seconds_features = vg_time_now() - t0;
        st = vg_rehearsal_note(m, &rs, rs_size, NULL, 0, err);
        if (st == VG_OK) st = save(m, &chunk, cfg->output, err);
        goto out;
    }
    rep->n_views = fb.n;
    rep->seconds_features = vg_time_now() - t0;
    /* before, train, after */
    const vg_node *fcn = &g->nodes[fc];
    const size_t nw = (size_t)C * c.d;
    int rows = val.n > fb.n ? val.n : fb.n;
    rows = reh.n > rows ? reh.n : rows;
    probs = vg_malloc(sizeof(float) * (size_t)(rows + 1) * C);
    W = vg_malloc(sizeof(float) * nw);
    b = vg_malloc(sizeof(float) * (size_t)C);
    if (!probs || !W || !b) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(W, g->params + fcn->w, sizeof(float) * nw);
    memcpy(b, g->params + fcn->b, sizeof(float) * (size_t)C);
    /* an int8 engine rounds its logits: the guard measures what it will compute */
    vg_qparam lq = m->q ? m->q->t[fcn->out] : (vg_qparam){0, 0};
    const vg_qparam *lqp = m->q ? &lq : NULL;
    int pos, neg;
    classify_q(&val, W, b, C, lqp, probs);
    alarm_counts(&val, probs, C, no_alarm, thr, 1, &pos, &rep->val_hits_before, &neg,
                 &rep->val_false_before);
    rep->val_pos = pos, rep->val_neg = neg;
    classify_q(&fb, W, b, C, lqp, probs);
    int fpos, fneg;
    alarm_counts(&fb, probs, C, no_alarm, thr, cfg->views, &fpos, &rep->fb_hits_before, &fneg,
                 &rep->fb_false_before);
    /* the parent: by name and by the classifier it had (no path of this machine) */
    char v[1024], date[32];
    const char *base = strrchr(cfg->model, '/');
    snprintf(v, sizeof v, "%s (classifier hash %016llx)", base ? base + 1 : cfg->model,
             (unsigned long long)vg_hash64(g->params + fcn->w, sizeof(float) * nw, 0));
    double t1 = vg_time_now();
    st = train_classifier(cfg, &reh, &fb, C, no_alarm, thr, W, b, &rep->steps, err);
    rep->seconds_train = vg_time_now() - t1;
    if (st != VG_OK) goto out;
    /* the new classifier into the model; an int8 engine's requantized (its logits' range
     * widened to what every row gives now), and measured as the integers it will run */
    memcpy(g->params + fcn->w, W, sizeof(float) * nw);
    memcpy(g->params + fcn->b, b, sizeof(float) * (size_t)C);
    vg_model_unshare(m, fc);
    if (m->q) {
        float lo = 0, hi = 0;
        logit_range(&reh, W, b, C, probs, &lo, &hi);
        logit_range(&val, W, b, C, probs, &lo, &hi);
        logit_range(&fb, W, b, C, probs, &lo, &hi);
        if ((st = vg_model_requantize_fc(m, fc, lo, hi, err)) != VG_OK) goto out;
        memcpy(W, g->params + fcn->w, sizeof(float) * nw);
        memcpy(b, g->params + fcn->b, sizeof(float) * (size_t)C);
        lq = m->q->t[fcn->out];
    }
    classify_q(&val, W, b, C, lqp, probs);
    alarm_counts(&val, probs, C, no_alarm, thr, 1, &pos, &rep->val_hits_after, &neg,
                 &rep->val_false_after);
    classify_q(&fb, W, b, C, lqp, probs);
    alarm_counts(&fb, probs, C, no_alarm, thr, cfg->views, &fpos, &rep->fb_hits_after, &fneg,
                 &rep->fb_false_after);
    double r0 = pos ? (double)rep->val_hits_before / pos : 1,
           r1 = pos ? (double)rep->val_hits_after / pos : 1;
    /* feedback that cannot be learnt at all contradicts what the rehearsal keeps: refused too,
     * rather than a model written unchanged in effect */
    int wrong0 = rep->fb_false_before + rep->n_alarm - rep->fb_hits_before,
        wrong1 = rep->fb_false_after + rep->n_alarm - rep->fb_hits_after;
    if (wrong1 > 0 && wrong1 >= wrong0) {
        rep->refused = true;
        st = vg_err_set(err, VG_ERR_ARG,
                        "update refused, nothing written: the feedback could not be learnt (%d "
                        "of %d images still on the wrong side of the threshold): it contradicts "
                        "the training data (real fire or smoke marked neutral?)",
                        wrong1, rep->n_neutral + rep->n_alarm);
        goto out;
    }
    if (r1 < r0 - cfg->max_recall_drop - 1e-9) {
        rep->refused = true;
        st = vg_err_set(err, VG_ERR_ARG,
                        "update refused, nothing written: alarm recall on the %d validation "
                        "positives would fall from %.3f to %.3f, more than %.3f (does the "
                        "feedback mark real fire or smoke as neutral?)",
                        pos, r0, r1, (double)cfg->max_recall_drop);
        goto out;
    }
    /* what it learnt */
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    st = vg_model_set_meta(m, "adapt_parent", v, err);
    if (st == VG_OK) st = vg_model_set_meta(m, "adapt_date", date, err);
    snprintf(v, sizeof v,
             "%d false-alarm and %d missed-alarm images x %d views; rehearsal %d images, "
             "guard %d validation images; recall %.3f -> %.3f, validation false alarms %d -> "
             "%d of %d",
             rep->n_neutral, rep->n_alarm, cfg->views, reh.n, val.n, r0, r1, rep->val_false_before,
             rep->val_false_after, neg);
    if (st == VG_OK) st = vg_model_set_meta(m, "adapt_learnt", v, err);
    if (st == VG_OK) st = save(m, &chunk, cfg->output, err);
out:
    rep->seconds = vg_time_now() - t0;
    rep->peak_rss = vg_peak_rss_bytes();
    for (int k = 0; k < VG_ADAPT_MAX_FEEDBACK; k++)
        vg_dataset_free(fbs[k]);
    vg_dataset_free(ds);
    vg_runner_free(c.r);
    free(c.x);
    free(cc.data), free(rs_buf);
    vg_rehearsal_free(&rs);
    free(reh.f), free(reh.y), free(val.f), free(val.y), free(fb.f), free(fb.y);
    free(probs), free(W), free(b);
    vg_model_free(fm);
    vg_model_free(m);
    return st;
}
