/* train_cfg.c — the training configuration: its defaults (the default recipe) and its text
 * form, which checkpoints store and the refit passes on. One table of fields drives both the
 * writing and the parsing (see cfg_fields). */
#include "train/train_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vg_train_cfg vg_train_cfg_default(void) {
    vg_train_cfg c;
    memset(&c, 0, sizeof c);
    c.val_fraction = 0.15f;
    c.default_lists = true;
    /* The default recipe, chosen on the union of the shared datasets' validation lists
     * (README): the last 4 inverted-residual blocks and the head fine-tuned (a light fine-tune
     * generalised better to other cameras than the whole backbone, and on 4,000 images it is
     * the one that fits the 20-minute budget), 10 epochs, validated and kept as a weight
     * moving average; boxed images' crops labelled by the boxes they keep, no zoom-in or
     * negative crops (validation did not support them). */
    c.mode = VG_TRAIN_LAST;
    c.last_n = 4;
    c.epochs = 10;
    c.batch = 32;
    c.lr = 3e-4f;
    c.weight_decay = 0.05f;
    c.momentum = 0.9f;
    c.label_smoothing = 0.1f;
    c.warmup_epochs = 1.0f;
    c.final_lr_frac = 0.01f;
    c.optimizer = VG_OPT_ADAMW;
    c.balanced = false;
    c.class_weights = true;
    c.patience = 6;
    c.ema = 0.99f;
    c.augment = true;
    c.aug = vg_augment_default();
    c.tta_flip = false;
    c.alarm_recall = 0.97;
    c.no_alarm = "neutral";
    c.mem_budget = (size_t)1 << 30;
    c.threads = 2;
    c.seed = 1;
    c.backbone_lr_mult = 1.0f;
    c.refit = true;
    return c;
}

vg_train_phase vg_train_phase_none(void) {
    vg_train_phase p = {0, 0, -1.0f, NULL};
    return p;
}

void vg_sb_add(vg_strbuf *b, const char *fmt, ...) {
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        b->oom = true; /* cannot happen with the lines written here; never truncate silently */
        return;
    }
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *p = vg_realloc(b->buf, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->n, tmp, (size_t)k + 1);
    b->n += (size_t)k;
}

/* ---- the configuration as text (checkpoints store it; resume restores it) */

/* One table drives both writing and parsing the configuration: a field added to vg_train_cfg
 * that a checkpoint or the refit must carry is one line here. Not in it: the data sources
 * (their own "source=" lines), what the caller gives again on resume (memory budget, threads,
 * cache folder) and the pointers set by callers (init_model, teacher, hooks). */
typedef enum { F_BOOL, F_INT, F_ENUM, F_FLOAT, F_DOUBLE, F_U64, F_STR } field_type;
typedef struct {
    const char *key;
    field_type type;
    size_t off;
} cfg_field;
_Static_assert(sizeof(vg_train_mode) == sizeof(int) && sizeof(vg_opt_kind) == sizeof(int),
               "F_ENUM fields are read and written as int");

/* the configuration and the refit's phase, written and read as one text */
typedef struct {
    vg_train_cfg c;
    vg_train_phase p;
} cfg_job;

#define FIELD(key, type, member)                                                                   \
    { key, type, offsetof(cfg_job, c.member) }
#define PHASE_FIELD(key, type, member)                                                             \
    { key, type, offsetof(cfg_job, p.member) }
static const cfg_field cfg_fields[] = {
    FIELD("default_lists", F_BOOL, default_lists),
    FIELD("val_fraction", F_FLOAT, val_fraction),
    FIELD("backbone", F_STR, backbone),
    FIELD("out", F_STR, out),
    FIELD("mode", F_ENUM, mode),
    FIELD("last_n", F_INT, last_n),
    FIELD("size", F_INT, size),
    FIELD("epochs", F_INT, epochs),
    FIELD("batch", F_INT, batch),
    FIELD("lr", F_FLOAT, lr),
    FIELD("weight_decay", F_FLOAT, weight_decay),
    FIELD("momentum", F_FLOAT, momentum),
    FIELD("label_smoothing", F_FLOAT, label_smoothing),
    FIELD("warmup_epochs", F_FLOAT, warmup_epochs),
    FIELD("final_lr_frac", F_FLOAT, final_lr_frac),
    FIELD("optimizer", F_ENUM, optimizer),
    FIELD("balanced", F_BOOL, balanced),
    FIELD("class_weights", F_BOOL, class_weights),
    FIELD("patience", F_INT, patience),
    FIELD("augment", F_BOOL, augment),
    FIELD("keep_last", F_BOOL, keep_last),
    FIELD("aug.scale_min", F_FLOAT, aug.scale_min),
    FIELD("aug.scale_max", F_FLOAT, aug.scale_max),
    FIELD("aug.ratio_min", F_FLOAT, aug.ratio_min),
    FIELD("aug.ratio_max", F_FLOAT, aug.ratio_max),
    FIELD("aug.flip_prob", F_FLOAT, aug.flip_prob),
    FIELD("aug.brightness", F_FLOAT, aug.brightness),
    FIELD("aug.contrast", F_FLOAT, aug.contrast),
    FIELD("aug.saturation", F_FLOAT, aug.saturation),
    FIELD("aug.hue", F_FLOAT, aug.hue),
    FIELD("aug.zoom_prob", F_FLOAT, aug.zoom_prob),
    FIELD("aug.zoom_min", F_FLOAT, aug.zoom_min),
    FIELD("aug.box_zoom", F_FLOAT, aug.box_zoom),
    FIELD("aug.box_zoom_min", F_FLOAT, aug.box_zoom_min),
    FIELD("aug.box_zoom_max", F_FLOAT, aug.box_zoom_max),
    FIELD("aug.neg_crop", F_FLOAT, aug.neg_crop),
    FIELD("aug.neg_margin", F_FLOAT, aug.neg_margin),
    FIELD("aug.neg_scale_min", F_FLOAT, aug.neg_scale_min),
    FIELD("aug.zoom_scene", F_BOOL, aug.zoom_scene),
    FIELD("tta_flip", F_BOOL, tta_flip),
    FIELD("mixup", F_FLOAT, mixup),
    FIELD("ema", F_FLOAT, ema),
    FIELD("backbone_lr_mult", F_FLOAT, backbone_lr_mult),
    FIELD("pool", F_INT, pool),
    FIELD("alarm_recall", F_DOUBLE, alarm_recall),
    FIELD("threshold_union", F_BOOL, threshold_union),
    FIELD("no_alarm", F_STR, no_alarm),
    FIELD("seed", F_U64, seed),
    FIELD("refit", F_BOOL, refit),
    PHASE_FIELD("phase", F_INT, phase),
    PHASE_FIELD("stop_epoch", F_INT, stop_epoch),
    PHASE_FIELD("fixed_threshold", F_FLOAT, fixed_threshold),
    PHASE_FIELD("select_note", F_STR, select_note),
};
#undef FIELD
#undef PHASE_FIELD
#define N_CFG_FIELDS (sizeof cfg_fields / sizeof cfg_fields[0])

static void field_write(vg_strbuf *b, const cfg_job *c, const cfg_field *f) {
    const char *p = (const char *)c + f->off;
    switch (f->type) {
    case F_BOOL: vg_sb_add(b, "%s=%d\n", f->key, *(const bool *)p); break;
    case F_INT:
    case F_ENUM: vg_sb_add(b, "%s=%d\n", f->key, *(const int *)p); break;
    case F_FLOAT: vg_sb_add(b, "%s=%.9g\n", f->key, (double)*(const float *)p); break; /* exact */
    case F_DOUBLE: vg_sb_add(b, "%s=%.17g\n", f->key, *(const double *)p); break;      /* exact */
    case F_U64: vg_sb_add(b, "%s=%llu\n", f->key, (unsigned long long)*(const uint64_t *)p); break;
    case F_STR: {
        const char *v = *(const char *const *)p;
        vg_sb_add(b, "%s=%s\n", f->key, v ? v : "");
        break;
    }
    }
}

/* Sets the field named k from v (strings point into v); false when no field has that name. */
static bool field_read(cfg_job *c, const char *k, char *v) {
    for (size_t i = 0; i < N_CFG_FIELDS; i++) {
        const cfg_field *f = &cfg_fields[i];
        if (strcmp(f->key, k) != 0) continue;
        char *p = (char *)c + f->off;
        switch (f->type) {
        case F_BOOL: *(bool *)p = atoi(v) != 0; break;
        case F_INT:
        case F_ENUM: *(int *)p = atoi(v); break;
        case F_FLOAT: *(float *)p = strtof(v, NULL); break;
        case F_DOUBLE: *(double *)p = strtod(v, NULL); break;
        case F_U64: *(uint64_t *)p = strtoull(v, NULL, 10); break;
        case F_STR: *(const char **)p = *v ? v : NULL; break;
        }
        return true;
    }
    return false;
}

void vg_train_cfg_to_text(const vg_train_cfg *c, const vg_train_phase *ph, vg_strbuf *b) {
    cfg_job j = {*c, ph ? *ph : vg_train_phase_none()};
    /* one line per source: folder, lists and role, tab-separated (paths hold no tab here:
     * vg_train_run refuses them) */
    for (int i = 0; i < c->n_data; i++) {
        const vg_source_spec *d = &c->data[i];
        vg_sb_add(b, "source=%s\t%s\t%s\t%s\t%d\n", d->dir, d->train_list ? d->train_list : "",
                  d->val_list ? d->val_list : "", d->test_list ? d->test_list : "", d->extra);
    }
    for (size_t i = 0; i < N_CFG_FIELDS; i++)
        field_write(b, &j, &cfg_fields[i]);
}

/* The lines of checkpoints written before the field table (read, never written). */
static bool legacy_read(vg_train_cfg *d, const char *k, char *v) {
    const char *sv = *v ? v : NULL;
    if (!strcmp(k, "data") && sv && d->n_data < VG_TRAIN_MAX_DATA) {
        memset(&d->data[d->n_data], 0, sizeof d->data[0]);
        d->data[d->n_data++].dir = sv;
    } else if (!strcmp(k, "train_list") && d->n_data > 0)
        d->data[0].train_list = sv;
    else if (!strcmp(k, "val_list") && d->n_data > 0)
        d->data[0].val_list = sv;
    else if (!strcmp(k, "extra_train") && d->n_data < VG_TRAIN_MAX_DATA) {
        memset(&d->data[d->n_data], 0, sizeof d->data[0]);
        d->data[d->n_data].dir = v;
        d->data[d->n_data++].extra = true;
    } else if (!strcmp(k, "aug"))
        sscanf(v, "%f %f %f %f %f %f %f %f %f", &d->aug.scale_min, &d->aug.scale_max,
               &d->aug.ratio_min, &d->aug.ratio_max, &d->aug.flip_prob, &d->aug.brightness,
               &d->aug.contrast, &d->aug.saturation, &d->aug.hue);
    else if (!strcmp(k, "aug_zoom"))
        sscanf(v, "%f %f", &d->aug.zoom_prob, &d->aug.zoom_min);
    else if (!strcmp(k, "aug_zoom_scene"))
        d->aug.zoom_scene = atoi(v) != 0;
    else if (!strcmp(k, "aug_boxes"))
        sscanf(v, "%f %f %f %f %f %f", &d->aug.box_zoom, &d->aug.box_zoom_min, &d->aug.box_zoom_max,
               &d->aug.neg_crop, &d->aug.neg_margin, &d->aug.neg_scale_min);
    else
        return false;
    return true;
}

/* Parses the text back; strings point into `text` (kept alive by the caller). Unknown lines
 * are ignored (a newer writer's fields keep their defaults). */
vg_status vg_train_cfg_parse(char *text, vg_train_cfg *c, vg_train_phase *ph, vg_err *err) {
    cfg_job j = {vg_train_cfg_default(), vg_train_phase_none()};
    vg_train_cfg *d = &j.c;
    const vg_train_phase *p = &j.p;
    d->mem_budget = c->mem_budget, d->threads = c->threads, d->cache_dir = c->cache_dir;
    d->resume = c->resume;
    d->default_lists = false; /* checkpoints from before default lists have no such line */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        const char *k = line;
        char *v = eq + 1;
        if (!strcmp(k, "source") && d->n_data < VG_TRAIN_MAX_DATA) {
            char *f[5] = {v, NULL, NULL, NULL, NULL};
            for (int q = 1; q < 5 && f[q - 1]; q++) {
                char *tab = strchr(f[q - 1], '\t');
                if (tab) *tab = 0, f[q] = tab + 1;
            }
            if (!f[4]) return vg_err_set(err, VG_ERR_FORMAT, "checkpoint: bad source line");
            vg_source_spec *sp = &d->data[d->n_data++];
            memset(sp, 0, sizeof *sp);
            sp->dir = f[0];
            sp->train_list = *f[1] ? f[1] : NULL;
            sp->val_list = *f[2] ? f[2] : NULL;
            sp->test_list = *f[3] ? f[3] : NULL;
            sp->extra = atoi(f[4]) != 0;
        } else if (!field_read(&j, k, v)) {
            legacy_read(d, k, v);
        }
    }
    if (p->phase < 0 || p->phase > 2 || p->stop_epoch < 0 || p->stop_epoch > d->epochs)
        return vg_err_set(err, VG_ERR_FORMAT, "checkpoint: refit phase %d / stop epoch %d invalid",
                          p->phase, p->stop_epoch);
    if (d->n_data == 0 || !d->out || !d->backbone)
        return vg_err_set(err, VG_ERR_FORMAT, "checkpoint: configuration incomplete");
    *c = *d;
    if (ph) *ph = *p;
    return VG_OK;
}

vg_status vg_train_cfg_text(const vg_train_cfg *c, const vg_train_phase *ph, char **out,
                            vg_err *err) {
    vg_strbuf b = {0};
    vg_train_cfg_to_text(c, ph, &b);
    if (!b.buf || b.oom) {
        free(b.buf);
        *out = NULL;
        return vg_err_set(err, VG_ERR_NOMEM, "training configuration: out of memory");
    }
    *out = b.buf;
    return VG_OK;
}

