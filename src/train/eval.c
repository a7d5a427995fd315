/* eval.c — classifying a list of dataset images (eval.h): rows of probabilities and labels for
 * `vigie eval` and `vigie optimize`'s report, with box-free crops scored on their own. */
#include "train/eval.h"

#include "core/rng.h"
#include "model/model.h"

#include <string.h>

vg_eval_opts vg_eval_opts_default(void) {
    vg_eval_opts o;
    memset(&o, 0, sizeof o);
    o.runner = vg_runner_opts_default();
    o.tile_rows = o.tile_cols = 1;
    o.no_alarm = -1;
    o.threshold = 0.5f;
    return o;
}

vg_status vg_eval_class_map(const vg_model *m, const vg_dataset *ds, int *map, vg_err *err) {
    int C = vg_model_n_outputs(m);
    for (int c = 0; c < ds->n_classes; c++) {
        map[c] = -1;
        for (int k = 0; k < C; k++)
            if (strcmp(ds->classes[c], vg_model_label(m, k)) == 0) map[c] = k;
        if (map[c] >= 0) continue;
        const char *from = ds->root; /* the dataset the class comes from */
        for (int i = 0; i < ds->n_samples; i++)
            if (ds->samples[i].label == c) {
                from = ds->sources[ds->samples[i].source].root;
                break;
            }
        return vg_err_set(err, VG_ERR_ARG,
                          "class '%s' of %s is not a class of the model (%s%s%s%s...)",
                          ds->classes[c], from, vg_model_label(m, 0), C > 1 ? ", " : "",
                          C > 1 ? vg_model_label(m, 1) : "", C > 2 ? ", " : "");
    }
    return VG_OK;
}

/* the image through the runner: whole, or its tiles with the max rule */
static vg_status classify(vg_runner *r, const vg_image *img, const vg_eval_opts *o, float *p, int C,
                          vg_err *err) {
    if (o->tile_rows * o->tile_cols > 1)
        return vg_runner_classify_tiles(r, img, o->tile_rows, o->tile_cols, o->is_alarm, p,
                                        (size_t)C, NULL, 0, NULL, err);
    return vg_runner_classify(r, img, p, (size_t)C, err);
}

/* the box-free crops of one boxed image, scored; VG_OK also when fewer fit */
static vg_status score_crops(vg_runner *r, const vg_dataset *ds, const vg_sample *s,
                             const vg_image *img, const vg_eval_opts *o, int C, vg_eval_result *res,
                             vg_err *err) {
    vg_augment neg = vg_augment_default(); /* the negative crops of training, same margin */
    float pc[VG_MAX_CLASSES];
    for (int c = 0; c < o->neg_crops; c++) {
        /* keyed by the image's name: the same crops whatever else is evaluated */
        vg_rng rg = vg_rng_make(1, vg_hash64(s->name, strlen(s->name), 0), (uint64_t)c);
        vg_augment_params p;
        vg_augment_draw(NULL, img->w, img->h, 0, 0, 0, &p);
        if (!vg_augment_negative_crop(&neg, img->w, img->h, ds->boxes + s->box0, s->n_boxes, &rg,
                                      &p))
            break;
        vg_image sub = {p.w, p.h, vg_malloc((size_t)p.w * p.h * 3)};
        if (!sub.rgb) return vg_err_set(err, VG_ERR_NOMEM, "box-free crop: out of memory");
        for (int y = 0; y < p.h; y++)
            memcpy(sub.rgb + (size_t)y * p.w * 3, img->rgb + ((size_t)(p.y + y) * img->w + p.x) * 3,
                   (size_t)p.w * 3);
        vg_status st = classify(r, &sub, o, pc, C, err);
        free(sub.rgb);
        if (st == VG_ERR_NOMEM) return st;
        if (st != VG_OK) continue; /* the crop is not counted */
        res->crops[s->source]++;
        res->crop_alarms[s->source] += 1.0f - pc[o->no_alarm] >= o->threshold;
    }
    return VG_OK;
}

vg_status vg_eval_classify(const vg_model *m, const vg_dataset *ds, const int *idx, int n,
                           const vg_eval_opts *o, vg_eval_result *res, vg_err *err) {
    memset(res, 0, sizeof *res);
    int C = vg_model_n_outputs(m), views = vg_tiles_count(o->tile_rows, o->tile_cols);
    bool crops = o->neg_crops > 0 && o->no_alarm >= 0;
    if (C < 1 || C > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_ARG, "eval: the model has %d outputs", C);
    if (views < 1)
        return vg_err_set(err, VG_ERR_ARG, "eval: tiles %dx%d", o->tile_rows, o->tile_cols);
    if (views > 1 && !o->is_alarm)
        return vg_err_set(err, VG_ERR_ARG, "eval: tiles need the alarm classes (max rule)");
    if (crops && ds->n_sources > VG_EVAL_MAX_SOURCES)
        return vg_err_set(err, VG_ERR_ARG, "eval: box-free crops of more than %d datasets",
                          VG_EVAL_MAX_SOURCES);
    int *map = vg_malloc(sizeof(int) * (size_t)(ds->n_classes + 1));
    res->probs = vg_malloc(sizeof(float) * (size_t)(n + 1) * (size_t)C);
    res->labels = vg_malloc(sizeof(int) * (size_t)(n + 1));
    res->pos = vg_malloc(sizeof(int) * (size_t)(n + 1));
    res->n_classes = C;
    vg_runner *r = NULL;
    vg_runner_opts ro = o->runner;
    ro.batch = views;
    vg_status st = VG_OK;
    if (!map || !res->probs || !res->labels || !res->pos)
        st = vg_err_set(err, VG_ERR_NOMEM, "eval of %d images: out of memory", n);
    if (st == VG_OK) st = vg_eval_class_map(m, ds, map, err);
    if (st == VG_OK) st = vg_runner_init(&r, m, &ro, err);
    double t0 = vg_time_now();
    for (int i = 0; st == VG_OK && i < n; i++) {
        const vg_sample *s = &ds->samples[idx[i]];
        vg_image img = {0, 0, NULL};
        vg_err e = {VG_OK, ""};
        vg_status is = vg_image_load(s->path, &img, &e);
        if (is == VG_OK) is = classify(r, &img, o, res->probs + (size_t)res->n * C, C, &e);
        if (is == VG_OK && crops && s->boxed && s->n_boxes > 0)
            is = score_crops(r, ds, s, &img, o, C, res, &e);
        vg_image_free(&img);
        if (is == VG_ERR_NOMEM) { /* not a bad image: the figures would be on other images */
            st = is;
            if (err) *err = e;
        } else if (is != VG_OK) {
            res->skipped++;
            if (o->on_bad) o->on_bad(o->ud, s->path, e.msg);
        } else {
            res->labels[res->n] = map[s->label];
            res->pos[res->n] = i;
            res->n++;
        }
        if (st == VG_OK && o->on_progress) o->on_progress(o->ud, i + 1, n);
    }
    res->seconds = vg_time_now() - t0;
    vg_runner_free(r);
    free(map);
    if (st != VG_OK) vg_eval_result_free(res);
    return st;
}

void vg_eval_result_free(vg_eval_result *res) {
    free(res->probs), free(res->labels), free(res->pos);
    memset(res, 0, sizeof *res);
}
