/* checkpoint.c — the checkpoint of a training run: the model file with the configuration
 * text, the run's state (position, best epoch, running sums, history), the optimizer's moments
 * and the best / averaged weights as extra chunks, written atomically; and the reader of those
 * chunks for resume. Bit-for-bit: doubles are stored as their IEEE bits. */
#include "train/train_int.h"

#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1u

static void wr_f64(vg_wr *w, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    vg_wr_u64(w, u);
}
static double rd_f64(vg_rd *r) {
    uint64_t u = vg_rd_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static void state_write(const vg_train_state *s, vg_wr *w) {
    vg_wr_u32(w, STATE_VERSION);
    vg_wr_i32(w, s->epoch);
    vg_wr_i32(w, s->batch);
    vg_wr_u64(w, (uint64_t)s->step);
    wr_f64(w, s->best_val_loss);
    vg_wr_i32(w, s->best_epoch);
    vg_wr_i32(w, s->bad_epochs);
    wr_f64(w, s->run_loss);
    wr_f64(w, s->run_correct);
    wr_f64(w, s->run_seen);
    vg_wr_i32(w, s->n_hist);
    for (int i = 0; i < s->n_hist; i++) {
        const vg_epoch_stats *e = &s->hist[i];
        vg_wr_i32(w, e->epoch);
        double v[] = {e->train_loss,       e->train_acc, e->val_loss, e->val_acc, e->alarm_recall,
                      e->false_alarm_rate, e->auc,       e->lr,       e->seconds};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            wr_f64(w, v[k]);
        vg_wr_u8(w, e->best);
    }
}

static bool state_read(vg_train_state *s, const uint8_t *p, size_t n) {
    vg_rd r = vg_rd_make(p, n);
    if (vg_rd_u32(&r) != STATE_VERSION) return false;
    s->epoch = vg_rd_i32(&r);
    s->batch = vg_rd_i32(&r);
    s->step = (int64_t)vg_rd_u64(&r);
    s->best_val_loss = rd_f64(&r);
    s->best_epoch = vg_rd_i32(&r);
    s->bad_epochs = vg_rd_i32(&r);
    s->run_loss = rd_f64(&r);
    s->run_correct = rd_f64(&r);
    s->run_seen = rd_f64(&r);
    s->n_hist = vg_rd_i32(&r);
    if (r.bad || s->n_hist < 0 || s->n_hist > MAX_EPOCHS || s->epoch < 0 || s->batch < 0)
        return false;
    for (int i = 0; i < s->n_hist; i++) {
        vg_epoch_stats *e = &s->hist[i];
        e->epoch = vg_rd_i32(&r);
        e->train_loss = rd_f64(&r), e->train_acc = rd_f64(&r), e->val_loss = rd_f64(&r);
        e->val_acc = rd_f64(&r), e->alarm_recall = rd_f64(&r), e->false_alarm_rate = rd_f64(&r);
        e->auc = rd_f64(&r), e->lr = rd_f64(&r), e->seconds = rd_f64(&r);
        e->best = vg_rd_u8(&r) != 0;
    }
    return !r.bad && vg_rd_left(&r) == 0;
}

vg_status vg_checkpoint_save(const char *path, const vg_train_cfg *cfg, const vg_train_phase *ph,
                             const vg_train_state *st,
                             const vg_optim *opt, const vg_model *m, const float *best,
                             const float *ema, vg_err *err) {
    vg_strbuf cfgt = {0};
    vg_train_cfg_to_text(cfg, ph, &cfgt);
    if (cfgt.oom || !cfgt.buf) {
        free(cfgt.buf);
        return vg_err_set(err, VG_ERR_NOMEM, "checkpoint: out of memory");
    }
    vg_wr sw = {0};
    state_write(st, &sw);
    vg_wr ow = {0};
    vg_wr_u32(&ow, (uint32_t)opt->cfg.kind);
    vg_wr_u64(&ow, (uint64_t)opt->step);
    vg_wr_u64(&ow, (uint64_t)m->g.n_params);
    vg_wr_f32s(&ow, opt->m, (size_t)m->g.n_params);
    if (opt->v) vg_wr_f32s(&ow, opt->v, (size_t)m->g.n_params);
    vg_chunk ch[5];
    int nc = 0;
    ch[nc++] = (vg_chunk){{'T', 'C', 'F', 'G'}, cfgt.buf ? cfgt.buf : "", cfgt.n};
    ch[nc++] = (vg_chunk){{'T', 'S', 'T', 'A'}, sw.p, sw.n};
    ch[nc++] = (vg_chunk){{'O', 'P', 'T', 'M'}, ow.p, ow.n};
    if (best)
        ch[nc++] = (vg_chunk){{'B', 'E', 'S', 'T'}, best, sizeof(float) * (size_t)m->g.n_params};
    if (ema)
        ch[nc++] = (vg_chunk){{'E', 'M', 'A', ' '}, ema, sizeof(float) * (size_t)m->g.n_params};
    vg_status s = (sw.oom || ow.oom || !cfgt.buf)
                      ? vg_err_set(err, VG_ERR_NOMEM, "out of memory writing the checkpoint")
                      : vg_model_save_ex(m, ch, nc, path, err);
    free(cfgt.buf);
    vg_wr_free(&sw);
    vg_wr_free(&ow);
    return s;
}

/* ---- resume: the chunks of a checkpoint */

/* a copy of a chunk's bytes (at least one byte allocated), NULL without memory */
static void *copy_chunk(const uint8_t *data, size_t size) {
    void *p = vg_malloc(size ? size : 1);
    if (p) memcpy(p, data, size);
    return p;
}

vg_status vg_ckpt_chunk(void *ud, const char tag[4], const uint8_t *data, size_t size,
                        vg_err *err) {
    vg_ckpt_parts *p = ud;
    if (!memcmp(tag, "TCFG", 4)) {
        free(p->cfg_text);
        p->cfg_text = vg_malloc(size + 1);
        if (!p->cfg_text) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        memcpy(p->cfg_text, data, size);
        p->cfg_text[size] = 0;
    } else if (!memcmp(tag, "TSTA", 4)) {
        if (!state_read(p->st, data, size))
            return vg_err_set(err, VG_ERR_FORMAT, "checkpoint: training state unreadable");
        p->have_state = true;
    } else if (!memcmp(tag, "OPTM", 4)) {
        free(p->optm);
        p->optm = copy_chunk(data, size), p->optm_n = size;
        if (!p->optm) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    } else if (!memcmp(tag, "EMA ", 4)) {
        free(p->ema);
        p->ema = copy_chunk(data, size), p->ema_n = size;
        if (!p->ema) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    } else if (!memcmp(tag, "BEST", 4)) {
        free(p->best);
        p->best = copy_chunk(data, size), p->best_n = size;
        if (!p->best) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    return VG_OK;
}
