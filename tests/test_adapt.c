/* test_adapt.c — vg_adapt_run (vigie adapt) and its rehearsal set on tiny data made here. The model
 * is built by hand so that its features mean something: the image's mean colour (a global average
 * pool of the normalised input) into a classifier that calls red fire, grey smoke, green neutral,
 * and orange fire too: the look-alike. Five orange frames as feedback; after the update the
 * written model (read back, classified by a plain runner) no longer alarms on them nor on
 * other shades of orange, and still finds every validation fire and smoke; feedback that
 * marks the validation fires neutral is refused and writes nothing; models it cannot adapt
 * and bad feedback are clear errors. The rehearsal set stored in the model gives the same
 * classifier as the data it came from, travels with adapted models, and is refused for a
 * model whose features it does not describe; half precision round-trips. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "compress/calib.h"
#include "model/model.h"
#include "train/rehearsal.h"
#include "watch/cam.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

vg_model *vg_test_small_model(void); /* test_vgm.c: labels fire, smoke, neutral; FC + softmax */

/* a w x h image of one colour with a little texture, written as JPEG */
static void paint(const char *path, int r, int g, int b, int seed) {
    const int w = 24, h = 18;
    vg_image im = {w, h, malloc((size_t)w * h * 3)};
    if (!im.rgb) return;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int t = ((x * 7 + y * 13 + seed * 31) % 9) - 4;
            uint8_t *p = im.rgb + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(r + t < 0 ? 0 : r + t > 255 ? 255 : r + t);
            p[1] = (uint8_t)(g + t < 0 ? 0 : g + t > 255 ? 255 : g + t);
            p[2] = (uint8_t)(b + t < 0 ? 0 : b + t > 255 ? 255 : b + t);
        }
    vg_err err;
    CHECK(vg_watch_jpeg_save(&im, 95, path, &err) == VG_OK, "%s", err.msg);
    vg_image_free(&im);
}

/* the alarm score (1 - p(neutral)) of an image under a model file */
static float score(const char *model, const char *image) {
    vg_model *m = NULL;
    vg_runner *r = NULL;
    vg_image im = {0, 0, NULL};
    vg_err err;
    float p[3] = {0, 0, 1};
    if (vg_model_load(model, &m, &err) == VG_OK && vg_runner_init(&r, m, NULL, &err) == VG_OK &&
        vg_image_load(image, &im, &err) == VG_OK)
        vg_runner_classify(r, &im, p, 3, &err);
    vg_image_free(&im);
    vg_runner_free(r);
    vg_model_free(m);
    return 1.0f - p[2];
}

static void put(const char *dir, const char *rel, char *out, size_t n) {
    snprintf(out, n, "%s/%s", dir, rel);
}

/* the payload of chunk `tag` of a model file (NULL when absent); *n its size */
static uint8_t *chunk_of(const char *path, const char *tag, size_t *n) {
    uint8_t *file = NULL, *out = NULL;
    size_t fsize = 0;
    vg_err err;
    *n = 0;
    if (vg_file_read(path, (size_t)64 << 20, &file, &fsize, &err) != VG_OK) return NULL;
    for (size_t i = 16; i + 16 <= fsize; i++)
        if (!memcmp(file + i, tag, 4)) {
            uint64_t len = 0;
            for (int k = 0; k < 8; k++)
                len |= (uint64_t)file[i + 8 + k] << (8 * k);
            if (len > fsize - i - 16) break;
            out = malloc(len + 1);
            if (out) memcpy(out, file + i + 16, len), *n = len;
            break;
        }
    free(file);
    return out;
}

/* calibration inputs: a random colour per image, normalised, with a little texture */
static vg_status colour_fetch(void *ud, int i, float *in, vg_err *err) {
    (void)ud, (void)err;
    float c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (float)((i * 37 + k * 101) % 200) / 100.0f - 1.0f;
    for (int j = 0; j < 16 * 12 * 3; j++)
        in[j] = c[j % 3] + 0.02f * (float)((j * 7) % 5 - 2);
    return VG_OK;
}

/* probabilities of an image under a model file at a precision */
static void probs_at(const char *model, const char *image, vg_precision prec, float p[3]) {
    vg_model *m = NULL;
    vg_runner *r = NULL;
    vg_image im = {0, 0, NULL};
    vg_err err;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = prec;
    p[0] = p[1] = p[2] = -1;
    if (vg_model_load(model, &m, &err) == VG_OK && vg_runner_init(&r, m, &o, &err) == VG_OK &&
        vg_image_load(image, &im, &err) == VG_OK)
        vg_runner_classify(r, &im, p, 3, &err);
    vg_image_free(&im);
    vg_runner_free(r);
    vg_model_free(m);
}

/* An int8 engine adapts as it runs: its rehearsal set is int8 codes (chunk version 2), the
 * output is an engine again whose integer kernels no longer alarm on the look-alike's shades
 * and still find every validation fire, and whose float view agrees with them; the kind of
 * the output file must match; the guard refuses on an engine too. */
static void check_engine(vg_model *m, const char *dir, const char *data, const char *fb,
                         const char *bad) {
    vg_err err;
    char eng[1024], prep[1024], out[1024], p[2048];
    vg_calib_table t;
    CHECK(vg_calibrate(m, 64, colour_fetch, NULL, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err) ==
                  VG_OK &&
              vg_model_quantize(m, &t, false, &err) == VG_OK,
          "quantize: %s", err.msg);
    vg_calib_table_free(&t);
    put(dir, "e.vge", eng, sizeof eng);
    CHECK(vg_engine_save(m, eng, NULL, &err) == VG_OK, "%s", err.msg);
    vg_adapt_cfg c = vg_adapt_cfg_default();
    const char *fbs[1] = {fb};
    c.model = eng, c.feedback = fbs, c.n_feedback = 0;
    c.data[0].dir = data, c.n_data = 1;
    /* the kinds must match: an engine into a .vgm is refused */
    put(dir, "e-as.vgm", out, sizeof out);
    c.output = out;
    vg_adapt_report r;
    CHECK(vg_adapt_run(&c, NULL, &r, &err) == VG_ERR_ARG && strstr(err.msg, "OUT.vge") &&
              access(out, F_OK) != 0,
          "engine into .vgm: %s", err.msg);
    /* the set stored, as int8 codes; the guard sampled (2 per class) */
    put(dir, "e-prep.vge", prep, sizeof prep);
    c.output = prep, c.guard = 2;
    CHECK(vg_adapt_run(&c, NULL, &r, &err) == VG_OK && r.n_rehearsal == 15 && r.n_val == 6,
          "store the set in an engine: %s (%d, %d)", err.msg, r.n_rehearsal, r.n_val);
    size_t n = 0;
    uint8_t *ch = chunk_of(prep, VG_REHEARSAL_TAG, &n);
    vg_rehearsal rs;
    CHECK(ch && n >= 4 && ch[0] == 2 && vg_rehearsal_decode(ch, n, &rs, &err) == VG_OK && rs.q8 &&
              rs.n == 21 && n == 16 + 4 * VG_REHEARSAL_PROBE + 8 + 21 * 2 + 21 * 3,
          "int8 set: version %d, %zu bytes", ch && n ? ch[0] : -1, n);
    if (ch && rs.n) vg_rehearsal_free(&rs);
    free(ch);
    /* adapt from the stored set */
    c.model = prep, c.n_data = 0, c.n_feedback = 1;
    put(dir, "e-adapted.vge", out, sizeof out);
    c.output = out;
    CHECK(vg_adapt_run(&c, NULL, &r, &err) == VG_OK && r.rehearsal_stored &&
              r.fb_false_before >= 1 && r.fb_false_after == 0 && r.val_hits_after == r.val_pos,
          "adapt an engine: %s (false alarms %d -> %d, recall %d / %d)", err.msg, r.fb_false_before,
          r.fb_false_after, r.val_hits_after, r.val_pos);
    vg_model *a = NULL;
    CHECK(vg_model_load(out, &a, &err) == VG_OK && a->engine && a->q &&
              !strcmp(vg_model_get_meta(a, "alarm_threshold"), "0.5"),
          "an engine again: %s", err.msg);
    vg_model_free(a);
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/shade%d.jpg", dir, i); /* made by test_adapt */
        float q8[3], f32[3], q0[3];
        probs_at(eng, p, VG_PRECISION_INT8, q0);
        probs_at(out, p, VG_PRECISION_INT8, q8);
        probs_at(out, p, VG_PRECISION_FLOAT, f32);
        CHECK(1 - q0[2] >= 0.5f && 1 - q8[2] < 0.5f && fabsf(q8[2] - f32[2]) < 0.05f,
              "engine, shade %d: %.3f -> %.3f (float view %.3f)", i, (double)(1 - q0[2]),
              (double)(1 - q8[2]), (double)(1 - f32[2]));
    }
    for (int i = 5; i < 8; i++) { /* validation fires still found, by the integer kernels */
        float q8[3];
        snprintf(p, sizeof p, "%s/fire/%d.jpg", data, i);
        probs_at(out, p, VG_PRECISION_INT8, q8);
        CHECK(1 - q8[2] >= 0.5f, "engine: validation fire %d lost (%.3f)", i, (double)(1 - q8[2]));
    }
    /* the guard on an engine */
    const char *bads[1] = {bad};
    c.feedback = bads;
    put(dir, "e-refused.vge", out, sizeof out);
    c.output = out;
    CHECK(vg_adapt_run(&c, NULL, &r, &err) == VG_ERR_ARG && r.refused && access(out, F_OK) != 0,
          "engine, fires marked neutral: %s", err.msg);
}

void test_adapt(void) {
    const char *dir = vg_test_tmpdir();
    char p[2048], model[1024], out[1024], fb[512];
    vg_err err;
    /* the model: mean colour (r, g, b in -1..1) -> fire, smoke, neutral */
    vg_model *m = vg_model_new();
    CHECK(m != NULL, "model");
    if (!m) return;
    m->input = (vg_input_spec){16, 12, 3, {127.5f, 127.5f, 127.5f}, {127.5f, 127.5f, 127.5f}};
    int z = vg_graph_gap(&m->g, 0);
    z = vg_graph_fc(&m->g, z, 3, 3, true, VG_ACT_NONE);
    vg_graph_softmax(&m->g, z);
    static const float W0[9] = {4, -2, 0, 0, 0, 0, -3, 2, 0}, B0[3] = {0, 1, 0};
    memcpy(m->g.params + m->g.nodes[1].w, W0, sizeof W0);
    memcpy(m->g.params + m->g.nodes[1].b, B0, sizeof B0);
    const char *labels[] = {"fire", "smoke", "neutral"};
    CHECK(vg_model_set_labels(m, labels, 3, &err) == VG_OK &&
              vg_model_set_meta(m, "alarm_threshold", "0.5", &err) == VG_OK &&
              vg_model_set_meta(m, "no_alarm_class", "neutral", &err) == VG_OK,
          "model: %s", err.msg);
    put(dir, "m.vgm", model, sizeof model);
    CHECK(vg_model_save(m, model, &err) == VG_OK, "%s", err.msg);
    /* data: 8 images per class (5 train, 3 val), colours per class */
    static const int col[3][3] = {{220, 40, 20}, {120, 120, 125}, {30, 140, 60}};
    static const char *cls[3] = {"fire", "smoke", "neutral"};
    put(dir, "data/splits", p, sizeof p);
    char d[512];
    put(dir, "data", d, sizeof d);
    mkdir(d, 0755), mkdir(p, 0755);
    FILE *tr = fopen(strcat(strcpy(p, d), "/splits/train.txt"), "w");
    FILE *va = fopen(strcat(strcpy(p, d), "/splits/val.txt"), "w");
    CHECK(tr && va, "lists");
    for (int c = 0; c < 3 && tr && va; c++) {
        snprintf(p, sizeof p, "%s/%s", d, cls[c]);
        mkdir(p, 0755);
        for (int i = 0; i < 8; i++) {
            snprintf(p, sizeof p, "%s/%s/%d.jpg", d, cls[c], i);
            paint(p, col[c][0] + 5 * i, col[c][1] - 3 * i, col[c][2] + 2 * i, i);
            fprintf(i < 5 ? tr : va, "%s/%d.jpg\n", cls[c], i);
        }
    }
    if (tr) fclose(tr);
    if (va) fclose(va);
    /* the look-alike: orange, which the model takes for fire */
    static const int look[1][3] = {{250, 160, 0}};
    const int best = 0;
    put(dir, "probe.jpg", p, sizeof p);
    paint(p, 250, 160, 0, 0);
    CHECK(score(model, p) >= 0.5f, "the look-alike does not alarm: %.3f", (double)score(model, p));
    put(dir, "fb", fb, sizeof fb);
    mkdir(fb, 0755);
    strcat(strcpy(p, fb), "/neutral");
    mkdir(p, 0755);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/neutral/wall%d.jpg", fb, i);
        paint(p, look[best][0] - 2 * i, look[best][1] + i, look[best][2] + i, i);
    }
    vg_adapt_cfg c = vg_adapt_cfg_default();
    const char *fbs[1] = {fb};
    c.model = model, c.feedback = fbs, c.n_feedback = 1;
    c.data[0].dir = d, c.n_data = 1;
    put(dir, "adapted.vgm", out, sizeof out);
    c.output = out;
    vg_adapt_report r;
    vg_status st = vg_adapt_run(&c, NULL, &r, &err);
    CHECK(st == VG_OK, "adapt: %s", err.msg);
    CHECK(r.n_neutral == 5 && r.n_views == 5 * c.views && r.n_rehearsal == 15 && r.n_val == 9,
          "counts: %d feedback, %d views, %d rehearsal, %d validation", r.n_neutral, r.n_views,
          r.n_rehearsal, r.n_val);
    CHECK(r.fb_false_before >= 1 && r.fb_false_after == 0, "feedback false alarms %d -> %d",
          r.fb_false_before, r.fb_false_after);
    /* read back: the feedback frames and other shades of the look-alike below the threshold */
    for (int i = 0; st == VG_OK && i < 8; i++) {
        snprintf(p, sizeof p, "%s/shade%d.jpg", dir, i);
        paint(p, look[best][0] - 3 + i, look[best][1] + 4 - i, look[best][2] + i % 3, 10 + i);
        float before = score(model, p), after = score(out, p);
        CHECK(before >= 0.5f && after < 0.5f, "shade %d: %.3f -> %.3f", i, (double)before,
              (double)after);
    }
    vg_model *a = NULL;
    CHECK(vg_model_load(out, &a, &err) == VG_OK, "%s", err.msg);
    if (a) {
        const char *parent = vg_model_get_meta(a, "adapt_parent");
        CHECK(parent && strstr(parent, "m.vgm (classifier hash ") &&
                  vg_model_get_meta(a, "adapt_date") &&
                  strstr(vg_model_get_meta(a, "adapt_learnt"), "5 false-alarm"),
              "metadata: %s", parent ? parent : "none");
        CHECK(!strcmp(vg_model_get_meta(a, "alarm_threshold"), "0.5"), "threshold kept");
        vg_model_free(a);
    }
    CHECK(r.val_pos == 6 && r.val_hits_before == 6 && r.val_hits_after == 6 &&
              r.val_false_after == 0,
          "recall %d -> %d of %d, false alarms %d", r.val_hits_before, r.val_hits_after, r.val_pos,
          r.val_false_after);
    /* allocation failures (about 150 points spread over the run): out of memory reported,
     * or the same result; nothing leaks (ASan); the output never half-written */
    vg_fail_alloc(0);
    put(dir, "sweep.vgm", out, sizeof out);
    c.output = out;
    long before = vg_alloc_count();
    vg_adapt_run(&c, NULL, &r, &err);
    long total = vg_alloc_count() - before, stride = total / 150 + 1, tried = 0, clean = 0;
    for (long k = 1; k <= total; k += stride) {
        unlink(out);
        vg_fail_alloc(k);
        vg_status sst = vg_adapt_run(&c, NULL, &r, &err);
        vg_fail_alloc(0);
        tried++;
        clean += sst == VG_OK
                     ? access(out, F_OK) == 0
                     : (sst == VG_ERR_NOMEM || strstr(err.msg, "memory")) && access(out, F_OK) != 0;
    }
    CHECK(total > 50 && clean == tried, "%ld of %ld allocation failures clean (%ld allocations)",
          clean, tried, total);
    /* the rehearsal set travels with the model: stored alone (--data, no feedback), then an
     * adapt without --data learns the same classifier as one with it */
    char prep[1024], fast[1024], slow[1024];
    put(dir, "prepared.vgm", prep, sizeof prep);
    put(dir, "fast.vgm", fast, sizeof fast);
    put(dir, "slow.vgm", slow, sizeof slow);
    vg_adapt_cfg c2 = c;
    c2.n_feedback = 0, c2.output = prep;
    CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_OK && r.n_rehearsal == 15 && r.n_val == 9 &&
              r.rehearsal_bytes > 0,
          "store the set: %s", err.msg);
    c2 = c, c2.output = slow;
    CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_OK, "with --data: %s", err.msg);
    c2 = c, c2.model = prep, c2.n_data = 0, c2.output = fast;
    CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_OK && r.rehearsal_stored && r.n_rehearsal == 15 &&
              r.n_val == 9 && r.fb_false_after == 0,
          "from the stored set: %s", err.msg);
    vg_model *ms = NULL, *mf = NULL;
    if (vg_model_load(slow, &ms, &err) == VG_OK && vg_model_load(fast, &mf, &err) == VG_OK) {
        const float *ws = ms->g.params + ms->g.nodes[1].w, *wf = mf->g.params + mf->g.nodes[1].w;
        CHECK(memcmp(ws, wf, sizeof(float) * 9) == 0, "stored set, other classifier");
    }
    vg_model_free(ms), vg_model_free(mf);
    /* adapting the adapted model again: it carries the set too */
    c2 = c, c2.model = fast, c2.n_data = 0, c2.output = slow;
    CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_OK && r.rehearsal_stored, "again: %s", err.msg);
    /* no set and no data; a set from another "backbone" (the input normalisation changed) */
    c2 = c, c2.n_data = 0, c2.output = slow;
    CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_ERR_ARG && strstr(err.msg, "no rehearsal set"),
          "no set: %s", err.msg);
    {
        /* rewrite the prepared model with another mean, keeping its chunk */
        size_t n = 0;
        uint8_t *payload = chunk_of(prep, VG_REHEARSAL_TAG, &n);
        vg_model *pm = NULL;
        CHECK(payload && vg_model_load(prep, &pm, &err) == VG_OK, "read: %s", err.msg);
        if (pm && payload) {
            pm->input.mean[0] = 60;
            vg_chunk ch = {"RHRS", payload, n};
            CHECK(vg_model_save_ex(pm, &ch, 1, slow, &err) == VG_OK, "%s", err.msg);
            c2.model = slow, c2.output = fast;
            CHECK(vg_adapt_run(&c2, NULL, &r, &err) == VG_ERR_ARG &&
                      strstr(err.msg, "another backbone"),
                  "another backbone: %s", err.msg);
        }
        vg_model_free(pm);
        free(payload);
    }
    /* half precision: every finite half round-trips; floats within half an ulp (2^-11) */
    int bad_rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue; /* NaN */
        bad_rt += vg_float_to_half(vg_half_to_float((uint16_t)h)) != h;
    }
    CHECK(!bad_rt, "%d halves do not round-trip", bad_rt);
    float worst = 0;
    for (int i = 0; i < 100000; i++) {
        float f = (float)ldexp(1.0 + (i % 997) / 997.0, i % 28 - 14) * (i & 1 ? -1 : 1);
        float g2 = vg_half_to_float(vg_float_to_half(f));
        worst = fmaxf(worst, fabsf(g2 - f) / fabsf(f));
    }
    CHECK(worst <= 1.0f / 2048 + 1e-7f, "half rounding error %g", (double)worst);
    CHECK(vg_half_to_float(vg_float_to_half(1e6f)) == INFINITY && vg_float_to_half(0.0f) == 0 &&
              vg_half_to_float(0x3c00) == 1.0f,
          "half limits");
    /* the guard: the validation fires marked neutral */
    char bad[512];
    put(dir, "fb_bad", bad, sizeof bad);
    mkdir(bad, 0755);
    strcat(strcpy(p, bad), "/neutral");
    mkdir(p, 0755);
    for (int i = 5; i < 8; i++) {
        char src[2048];
        snprintf(src, sizeof src, "%s/fire/%d.jpg", d, i);
        snprintf(p, sizeof p, "%s/neutral/f%d.jpg", bad, i);
        CHECK(symlink(src, p) == 0, "link");
        snprintf(src, sizeof src, "%s/smoke/%d.jpg", d, i);
        snprintf(p, sizeof p, "%s/neutral/s%d.jpg", bad, i);
        CHECK(symlink(src, p) == 0, "link");
    }
    const char *bads[1] = {bad};
    c.feedback = bads;
    c.max_recall_drop = 0.01f;
    put(dir, "refused.vgm", out, sizeof out);
    c.output = out;
    st = vg_adapt_run(&c, NULL, &r, &err);
    CHECK(st == VG_ERR_ARG && r.refused && strstr(err.msg, "refused") && access(out, F_OK) != 0,
          "fires marked neutral: %s, refused %d, %s", vg_status_name(st), r.refused, err.msg);
    /* a float model into an engine file name is refused */
    c.feedback = fbs;
    put(dir, "as-engine.vge", out, sizeof out);
    c.output = out;
    st = vg_adapt_run(&c, NULL, &r, &err);
    CHECK(st == VG_ERR_ARG && strstr(err.msg, "not an engine") && access(out, F_OK) != 0,
          "vgm into .vge: %s", err.msg);
    check_engine(m, dir, d, fb, bad);
    put(dir, "refused.vgm", out, sizeof out);
    c.output = out;
    /* errors: a class the model lacks, a missing feedback folder, a model without threshold */
    c.feedback = fbs;
    strcat(strcpy(p, fb), "/dragon");
    mkdir(p, 0755);
    strcat(p, "/x.jpg");
    paint(p, 1, 2, 3, 0);
    st = vg_adapt_run(&c, NULL, &r, &err);
    CHECK(st == VG_ERR_ARG && strstr(err.msg, "dragon"), "unknown class: %s", err.msg);
    unlink(p);
    strcat(strcpy(p, fb), "/dragon");
    rmdir(p);
    const char *none[1] = {"/nonexistent/feedback"};
    c.feedback = none;
    st = vg_adapt_run(&c, NULL, &r, &err);
    CHECK(st != VG_OK && strstr(err.msg, "/nonexistent/feedback"), "missing folder: %s", err.msg);
    c.feedback = fbs;
    vg_model *plain = vg_test_small_model();
    put(dir, "plain.vgm", p, sizeof p);
    CHECK(plain && vg_model_save(plain, p, &err) == VG_OK, "plain");
    vg_model_free(plain);
    /* (the small model's threshold is in its metadata; without it: no alarm rule) */
    vg_model *nothr = vg_test_small_model();
    if (nothr) {
        for (int i = 0; i < nothr->n_meta; i++)
            if (!strcmp(nothr->meta[i].key, "alarm_threshold")) nothr->meta[i].key[0] = 'x';
        CHECK(vg_model_save(nothr, p, &err) == VG_OK, "%s", err.msg);
        vg_model_free(nothr);
        c.model = p;
        st = vg_adapt_run(&c, NULL, &r, &err);
        CHECK(st == VG_ERR_ARG && strstr(err.msg, "no alarm threshold"), "no threshold: %s",
              err.msg);
    }
    vg_model_free(m);
}
