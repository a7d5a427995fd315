/* test_watch.c — unit tests of `vigie watch`'s library parts: the alarm state machine on
 * synthetic probability sequences (timings checked to the frame), the class activation map
 * of a tiny model against a direct computation, the heat-map overlay and JPEG snapshot, and
 * the folder source (name order, an unreadable image reported and skipped). */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "model/model.h"
#include "model/runner.h"
#include "watch/alarm.h"
#include "watch/cam.h"
#include "watch/health.h"
#include "watch/source.h"
#include "watch/watch.h"

#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- alarm -------------------------------------------------------------------------------- */

enum { FIRE = 0, NEUTRAL = 1, SMOKE = 2 };
static const bool alarm_cls[3] = {true, false, true};

typedef struct {
    int starts, updates, ends;
    double t_start[8], t_end[8], since[8];
    int cls_start[8], reason_end[8];
} ev_count;

/* Feeds n frames at 10 fps from time t0 with probabilities (pf, pn, ps) per frame from fn. */
typedef void (*prob_fn)(int i, float p[3]);

static double feed(vg_watch_alarm *a, int n, double t0, prob_fn fn, ev_count *c) {
    vg_watch_alarm_event ev[4];
    double t = t0;
    for (int i = 0; i < n; i++) {
        float p[3];
        fn(i, p);
        t = t0 + 0.1 * i;
        int k = vg_watch_alarm_step(a, p, t, ev);
        for (int j = 0; j < k; j++) {
            if (ev[j].kind == VG_WATCH_EV_START && c->starts < 8) {
                c->t_start[c->starts] = ev[j].t;
                c->since[c->starts] = ev[j].since;
                c->cls_start[c->starts++] = ev[j].cls;
            } else if (ev[j].kind == VG_WATCH_EV_END && c->ends < 8) {
                c->reason_end[c->ends] = (int)ev[j].reason;
                c->t_end[c->ends++] = ev[j].t;
            } else if (ev[j].kind == VG_WATCH_EV_UPDATE) {
                c->updates++;
            }
        }
    }
    return t + 0.1;
}

static void p_neutral(int i, float p[3]) {
    (void)i;
    p[FIRE] = 0.02f, p[NEUTRAL] = 0.95f, p[SMOKE] = 0.03f;
}
static void p_fire(int i, float p[3]) {
    (void)i;
    p[FIRE] = 0.97f, p[NEUTRAL] = 0.01f, p[SMOKE] = 0.02f;
}
static void p_one_bright(int i, float p[3]) {
    if (i == 10) p_fire(i, p);
    else p_neutral(i, p);
}
/* fire and smoke share the evidence: neither alone reaches 0.7, together 0.9 */
static void p_mixed(int i, float p[3]) {
    (void)i;
    p[FIRE] = 0.45f, p[NEUTRAL] = 0.10f, p[SMOKE] = 0.45f;
}
/* a flickering fire: in each group of 5 frames, 3 or 4 bright ones, so the 5-frame mean moves
 * between ~0.6 and ~0.8, across `on` (0.7) again and again but never below `off` (0.4) */
static void p_flicker(int i, float p[3]) {
    static const int bright[10] = {1, 1, 0, 1, 0, 1, 1, 1, 0, 1};
    if (bright[i % 10]) p_fire(i, p);
    else p_neutral(i, p);
}

static vg_watch_alarm_opts opts_std(void) {
    vg_watch_alarm_opts o = {5, 0.7f, 0.4f, 1.0, 10.0, 0.0};
    return o;
}

static void test_alarm_sequences(void) {
    vg_err err;
    vg_watch_alarm a;
    vg_watch_alarm_opts o = opts_std();

    /* one bright frame among neutral ones: nothing at all */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    ev_count c = {0};
    feed(&a, 60, 0.0, p_one_bright, &c);
    CHECK(c.starts == 0 && c.ends == 0, "one bright frame: %d starts, %d ends", c.starts, c.ends);
    vg_watch_alarm_free(&a);

    /* 2 s neutral, 4 s fire, 3 s neutral at 10 fps. The 5-frame mean reaches 0.7 at the 4th
     * fire frame (4 x 0.97 / 5 = 0.78; 3 fire frames give 0.59): armed at 2.3 s, started
     * after the 1 s minimum at 3.3 s. It clears when the window holds one fire frame (0.2 +
     * ...< 0.4), i.e. the 4th neutral frame: 6.3 s. */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    double t = feed(&a, 20, 0.0, p_neutral, &c);
    t = feed(&a, 40, t, p_fire, &c);
    CHECK(c.starts == 1 && c.ends == 0, "during the fire: %d starts, %d ends", c.starts, c.ends);
    CHECK_NEAR(c.since[0], 2.3, 1e-9, "armed when the mean reached on");
    CHECK_NEAR(c.t_start[0], 3.3, 1e-9, "start after the minimum duration");
    CHECK(c.cls_start[0] == FIRE, "class %d", c.cls_start[0]);
    CHECK(vg_watch_alarm_active(&a, 0), "alarm active during the fire");
    feed(&a, 30, t, p_neutral, &c);
    CHECK(c.starts == 1 && c.ends == 1, "after the fire: %d starts, %d ends", c.starts, c.ends);
    CHECK_NEAR(c.t_end[0], 6.3, 1e-9, "end when the mean falls below off");
    CHECK(c.reason_end[0] == VG_WATCH_END_CLEAR, "reason %d", c.reason_end[0]);
    vg_watch_alarm_free(&a);

    /* 0.9 s of fire: armed at 0.3 s, below `off` again at 1.2 s (one fire frame left in the
     * window), before the minimum duration: no alarm */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    t = feed(&a, 9, 0.0, p_fire, &c);
    feed(&a, 30, t, p_neutral, &c);
    CHECK(c.starts == 0, "0.9 s of fire: %d starts", c.starts);
    /* the same with 2 s of fire does start: the test above is about the duration */
    memset(&c, 0, sizeof c);
    t = feed(&a, 20, t + 3.0, p_fire, &c);
    CHECK(c.starts == 1, "2 s of fire: %d starts", c.starts);
    vg_watch_alarm_free(&a);

    /* flicker across `on` for 30 s: one alarm, thanks to the hysteresis ... */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    t = feed(&a, 300, 0.0, p_flicker, &c);
    CHECK(c.starts == 1 && c.ends == 0, "flicker: %d starts, %d ends", c.starts, c.ends);
    vg_watch_alarm_free(&a);
    /* ... which is what prevents the spam: the same sequence without hysteresis, minimum
     * duration or cool-down starts and ends many times */
    vg_watch_alarm_opts raw = {5, 0.7f, 0.7f, 0.0, 0.0, 0.0};
    CHECK(vg_watch_alarm_init(&a, &raw, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    feed(&a, 300, 0.0, p_flicker, &c);
    CHECK(c.starts >= 8, "flicker without hysteresis: only %d starts", c.starts);
    vg_watch_alarm_free(&a);

    /* cool-down: fire 0-5 s, neutral 5-7 s, fire again from 7 s. The first alarm ends at
     * 5.3 s; the second may not start before 5.3 + 10 = 15.3 s, and does start then (armed
     * long before, so the minimum duration is met). */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    t = feed(&a, 50, 0.0, p_fire, &c);
    t = feed(&a, 20, t, p_neutral, &c);
    feed(&a, 150, t, p_fire, &c);
    CHECK(c.starts == 2 && c.ends == 1, "cool-down: %d starts, %d ends", c.starts, c.ends);
    CHECK_NEAR(c.t_end[0], 5.3, 1e-9, "first end");
    CHECK_NEAR(c.t_start[1], 15.3, 1e-9, "second start waits for the cool-down");
    CHECK(c.t_start[1] - c.t_end[0] >= o.cooldown - 1e-9, "cool-down %g", c.t_start[1] - c.t_end[0]);
    vg_watch_alarm_free(&a);

    /* updates every 2 s while active, and stop ends the alarm with reason "stopped" */
    o.update_every = 2.0;
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    t = feed(&a, 100, 0.0, p_fire, &c); /* start at 1.3 s, then updates at 3.3 ... 9.3 */
    CHECK(c.starts == 1 && c.updates == 4, "%d starts, %d updates", c.starts, c.updates);
    vg_watch_alarm_event ev[4];
    int k = vg_watch_alarm_stop(&a, t, ev);
    CHECK(k == 1 && ev[0].kind == VG_WATCH_EV_END && ev[0].reason == VG_WATCH_END_STOPPED &&
              ev[0].cls == FIRE,
          "stop: %d events", k);
    CHECK(!vg_watch_alarm_active(&a, 0), "inactive after stop");
    vg_watch_alarm_free(&a);
    o.update_every = 0;

    /* fire and smoke share the evidence: the default channel (their sum) raises the alarm,
     * the per-class channels do not */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    memset(&c, 0, sizeof c);
    feed(&a, 40, 0.0, p_mixed, &c);
    CHECK(c.starts == 1, "summed channel: %d starts", c.starts);
    CHECK_NEAR(vg_watch_alarm_score(&a, 0), 0.9, 1e-5, "summed score");
    vg_watch_alarm_free(&a);
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, true, &err) == VG_OK, "%s", err.msg);
    CHECK(a.n_channels == 2, "%d channels", a.n_channels);
    memset(&c, 0, sizeof c);
    feed(&a, 40, 0.0, p_mixed, &c);
    CHECK(c.starts == 0, "per class: %d starts", c.starts);
    memset(&c, 0, sizeof c);
    feed(&a, 40, 4.0, p_fire, &c);
    CHECK(c.starts == 1 && c.cls_start[0] == FIRE, "per class fire: %d starts, class %d",
          c.starts, c.cls_start[0]);
    vg_watch_alarm_free(&a);

    /* bad settings are refused with a message */
    vg_watch_alarm_opts bad = opts_std();
    bad.off = 0.8f;
    CHECK(vg_watch_alarm_init(&a, &bad, 3, alarm_cls, false, &err) == VG_ERR_ARG &&
              strstr(err.msg, "off"),
          "off > on accepted");
    bad = opts_std();
    bad.window = 0;
    CHECK(vg_watch_alarm_opts_check(&bad, &err) == VG_ERR_ARG, "window 0 accepted");
    bool none[3] = {false, false, false};
    CHECK(vg_watch_alarm_init(&a, &o, 3, none, false, &err) == VG_ERR_ARG, "no alarm class accepted");
    /* NaN probabilities count as 0, not as an alarm */
    CHECK(vg_watch_alarm_init(&a, &o, 3, alarm_cls, false, &err) == VG_OK, "%s", err.msg);
    vg_watch_alarm_event e2[2];
    int nev = 0;
    for (int i = 0; i < 50; i++) {
        float p[3] = {NAN, 0.0f, NAN};
        nev += vg_watch_alarm_step(&a, p, 0.1 * i, e2);
    }
    CHECK(nev == 0 && vg_watch_alarm_score(&a, 0) == 0.0f, "NaN: %d events", nev);
    vg_watch_alarm_free(&a);
}

/* ---- class activation map ----------------------------------------------------------------- */

#define CH 6
#define CW 5
#define CK 4 /* feature channels */
#define NC 3

/* input 6x5x3 -> conv 3x3/1 SAME (4 channels, ReLU) -> global average pool -> FC 4->3 ->
 * softmax; input normalised as (pixel - 100) / 50 */
static vg_model *tiny_model(bool with_pool) {
    vg_model *m = vg_model_new();
    m->input = (vg_input_spec){CW, CH, 3, {100, 100, 100}, {50, 50, 50}};
    vg_graph *g = &m->g;
    int f = vg_graph_conv(g, 0, 3, CK, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU);
    int p = with_pool ? vg_graph_gap(g, f) : f;
    int l = vg_graph_fc(g, p, with_pool ? CK : CH * CW * CK, NC, true, VG_ACT_NONE);
    vg_graph_softmax(g, l);
    vg_test_seed(77);
    vg_test_fill(g->params, (size_t)g->n_params, -1.0f, 1.0f);
    return m;
}

static void test_cam_map(void) {
    vg_err err;
    vg_model *m = tiny_model(true);
    vg_image img = {CW, CH, malloc(CH * CW * 3)};
    vg_test_seed(5);
    for (int i = 0; i < CH * CW * 3; i++) img.rgb[i] = (uint8_t)vg_test_uniform(0, 255.99f);
    vg_watch_cam cam;
    CHECK(vg_watch_cam_init(&cam, m, &err) == VG_OK, "%s", err.msg);
    CHECK(cam.fh == CH && cam.fw == CW && cam.fc == CK, "feature map %dx%dx%d", cam.fh, cam.fw,
          cam.fc);
    /* direct computation: features f_k(y, x) of the conv, then sum_k w[c, k] f_k */
    const vg_node *conv = &m->g.nodes[0], *fc = &m->g.nodes[2];
    const float *cw = m->g.params + conv->w, *cb = m->g.params + conv->b;
    const float *fw = m->g.params + fc->w;
    double f[CH][CW][CK];
    for (int y = 0; y < CH; y++)
        for (int x = 0; x < CW; x++)
            for (int k = 0; k < CK; k++) {
                double s = cb[k];
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= CH || xx < 0 || xx >= CW) continue;
                        for (int ci = 0; ci < 3; ci++) {
                            double in = (img.rgb[(yy * CW + xx) * 3 + ci] - 100.0) / 50.0;
                            s += cw[((k * 3 + (dy + 1)) * 3 + (dx + 1)) * 3 + ci] * in;
                        }
                    }
                f[y][x][k] = s > 0 ? s : 0;
            }
    bool sets[3][NC] = {{true, false, false}, {false, false, true}, {true, false, true}};
    for (int s = 0; s < 3; s++) {
        float map[CH * CW];
        CHECK(vg_watch_cam_map(&cam, &img, sets[s], map, &err) == VG_OK, "%s", err.msg);
        double worst = 0, scale = 1e-3;
        for (int p = 0; p < CH * CW; p++) {
            double ref = 0;
            for (int c = 0; c < NC; c++)
                if (sets[s][c])
                    for (int k = 0; k < CK; k++) ref += fw[c * CK + k] * f[p / CW][p % CW][k];
            if (fabs(ref) > scale) scale = fabs(ref);
            double d = fabs(map[p] - ref);
            if (d > worst) worst = d;
        }
        /* fp32 sums of ~30 terms of size ~1 against float64: 1e-4 relative is generous */
        CHECK(worst / scale < 1e-4, "class set %d: max error %g (scale %g)", s, worst, scale);
    }
    /* the map is the logit minus the bias, averaged: mean over cells + bias = logit */
    {
        float map[CH * CW];
        vg_watch_cam_map(&cam, &img, sets[0], map, &err);
        double mean = 0;
        for (int p = 0; p < CH * CW; p++) mean += map[p] / (CH * CW);
        double logit = m->g.params[fc->b + 0];
        for (int k = 0; k < CK; k++) {
            double fk = 0;
            for (int p = 0; p < CH * CW; p++) fk += f[p / CW][p % CW][k] / (CH * CW);
            logit += fw[k] * fk;
        }
        CHECK_NEAR(mean + m->g.params[fc->b + 0], logit, 1e-4, "CAM mean vs the class logit");
    }
    vg_model_free(m);
    /* a classifier that reads the whole feature map (no pooling) has no CAM */
    m = tiny_model(false);
    CHECK(vg_watch_cam_init(&cam, m, &err) == VG_ERR_UNSUPPORTED && strstr(err.msg, "pool"),
          "no pool: %s", err.msg);
    vg_model_free(m);
    vg_image_free(&img);
}

static void test_cam_overlay_jpeg(void) {
    vg_err err;
    /* a gray 40x30 frame, a 3x4 map hot in its bottom-right cell only */
    vg_image fr = {40, 30, malloc(40 * 30 * 3)};
    memset(fr.rgb, 90, 40 * 30 * 3);
    float map[12] = {0};
    map[11] = 5.0f;
    vg_image ov;
    CHECK(vg_watch_cam_overlay(&fr, map, 3, 4, &ov, &err) == VG_OK, "%s", err.msg);
    CHECK(ov.w == 40 && ov.h == 30, "overlay %dx%d", ov.w, ov.h);
    const uint8_t *hot = ov.rgb + ((size_t)29 * 40 + 39) * 3, *cold = ov.rgb;
    CHECK(cold[0] == 90 && cold[1] == 90 && cold[2] == 90, "cold corner changed: %d %d %d",
          cold[0], cold[1], cold[2]);
    CHECK(hot[0] > 150 && hot[0] > hot[2] + 60, "hot corner not red/yellow: %d %d %d", hot[0],
          hot[1], hot[2]);
    /* a flat map shows nothing */
    float flat[12];
    for (int i = 0; i < 12; i++) flat[i] = 3.0f;
    vg_image ov2;
    CHECK(vg_watch_cam_overlay(&fr, flat, 3, 4, &ov2, &err) == VG_OK, "%s", err.msg);
    CHECK(memcmp(ov2.rgb, fr.rgb, 40 * 30 * 3) == 0, "flat map changed the frame");
    vg_image_free(&ov2);
    /* JPEG round trip: the snapshot decodes to the same size and nearly the same pixels */
    char path[700];
    snprintf(path, sizeof path, "%s/snap.jpg", vg_test_tmpdir());
    CHECK(vg_watch_jpeg_save(&ov, 90, path, &err) == VG_OK, "%s", err.msg);
    vg_image back;
    CHECK(vg_image_load(path, &back, &err) == VG_OK, "%s", err.msg);
    if (back.rgb) {
        CHECK(back.w == 40 && back.h == 30, "decoded %dx%d", back.w, back.h);
        double d = 0;
        for (int i = 0; i < 40 * 30 * 3; i++) d += fabs((double)back.rgb[i] - ov.rgb[i]);
        CHECK(d / (40 * 30 * 3) < 4.0, "JPEG mean abs error %g", d / (40 * 30 * 3));
    }
    vg_image_free(&back);
    CHECK(vg_watch_jpeg_save(&ov, 0, path, &err) == VG_ERR_ARG, "quality 0 accepted");
    snprintf(path, sizeof path, "%s/no/such/dir/x.jpg", vg_test_tmpdir());
    CHECK(vg_watch_jpeg_save(&ov, 90, path, &err) == VG_ERR_IO, "write into a missing folder");
    vg_image_free(&ov);
    vg_image_free(&fr);
}

/* ---- folder source -------------------------------------------------------------------------- */

typedef struct {
    int n;
    char last[600];
} log_rec;

static void rec_log(void *ud, const char *msg) {
    log_rec *r = ud;
    r->n++;
    snprintf(r->last, sizeof r->last, "%s", msg);
}

static void write_img(const char *dir, const char *name, int w) {
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vg_image im = {w, 8, calloc((size_t)w * 8 * 3, 1)};
    vg_err err;
    CHECK(vg_watch_jpeg_save(&im, 90, path, &err) == VG_OK, "%s", err.msg);
    vg_image_free(&im);
}

static void test_source_folder(void) {
    vg_err err;
    const char *dir = vg_test_tmpdir();
    /* name order is strcmp order: "10" before "2"; the width tells which image came */
    write_img(dir, "2.jpg", 12);
    write_img(dir, "10.jpg", 10);
    write_img(dir, "a.JPG", 14);
    write_img(dir, "c.jpeg", 16);
    char path[800];
    snprintf(path, sizeof path, "%s/b_bad.jpg", dir); /* a JPEG cut after its header */
    FILE *f = fopen(path, "wb");
    static const uint8_t cut[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0};
    fwrite(cut, 1, sizeof cut, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    f = fopen(path, "w");
    fputs("not an image\n", f);
    fclose(f);

    char **names;
    int n;
    CHECK(vg_watch_folder_list(dir, &names, &n, &err) == VG_OK, "%s", err.msg);
    const char *want[] = {"10.jpg", "2.jpg", "a.JPG", "b_bad.jpg", "c.jpeg"};
    CHECK(n == 5, "%d names", n);
    for (int i = 0; i < n && i < 5; i++)
        CHECK(strcmp(names[i], want[i]) == 0, "name %d: %s, wanted %s", i, names[i], want[i]);
    vg_watch_folder_list_free(names, n);

    log_rec lr = {0, ""};
    vg_watch_source_opts o = vg_watch_source_opts_default();
    o.folder_fps = 4;
    o.log = rec_log;
    o.log_ud = &lr;
    vg_watch_source *s;
    CHECK(vg_watch_source_open(&s, dir, &o, &err) == VG_OK, "%s", err.msg);
    if (s) {
        CHECK(vg_watch_source_kind(s) == VG_WATCH_SRC_FOLDER && !vg_watch_source_live(s), "kind");
        const int widths[] = {10, 12, 14, 16};
        vg_image img = {0, 0, NULL};
        for (int i = 0; i < 4; i++) {
            double t = -1;
            int64_t idx = -1;
            bool got = false;
            CHECK(vg_watch_source_read(s, &img, &t, &idx, &got, &err) == VG_OK, "%s", err.msg);
            CHECK(got && img.w == widths[i] && idx == i, "frame %d: got %d, width %d, index %lld",
                  i, got, img.w, (long long)idx);
            CHECK_NEAR(t, i / 4.0, 1e-12, "time of frame %d", i);
            if (i == 2) CHECK(lr.n == 0, "report before the bad image: '%s'", lr.last);
            if (i == 3) /* the bad image sits between a.JPG and c.jpeg: reported, not fatal */
                CHECK(lr.n == 1 && strstr(lr.last, "b_bad.jpg") && strstr(lr.last, "skipped"),
                      "report: %d '%s'", lr.n, lr.last);
        }
        bool got = true;
        double t;
        int64_t idx;
        CHECK(vg_watch_source_read(s, &img, &t, &idx, &got, &err) == VG_OK && !got, "end");
        CHECK(vg_watch_source_bad_frames(s) == 1, "bad %lld",
              (long long)vg_watch_source_bad_frames(s));
        vg_image_free(&img);
        vg_watch_source_free(s);
    }
    /* loop: after the last image comes the first again, time going on */
    o.loop = true;
    CHECK(vg_watch_source_open(&s, dir, &o, &err) == VG_OK, "%s", err.msg);
    if (s) {
        vg_image img = {0, 0, NULL};
        double t = 0;
        int64_t idx = 0;
        bool got = false;
        for (int i = 0; i < 6; i++) vg_watch_source_read(s, &img, &t, &idx, &got, &err);
        CHECK(got && img.w == 12 && idx == 5, "loop: width %d index %lld", img.w, (long long)idx);
        CHECK_NEAR(t, 5 / 4.0, 1e-12, "loop time");
        vg_image_free(&img);
        vg_watch_source_free(s);
    }
    /* errors: an empty folder, a missing file, a file that is not a video */
    const char *empty = vg_test_tmpdir();
    CHECK(vg_watch_source_open(&s, empty, &o, &err) == VG_ERR_IO && strstr(err.msg, "no images"),
          "empty folder: %s", err.msg);
    snprintf(path, sizeof path, "%s/missing.mp4", empty);
    CHECK(vg_watch_source_open(&s, path, &o, &err) == VG_ERR_IO && s == NULL, "missing file");
    snprintf(path, sizeof path, "%s/junk.mp4", vg_test_tmpdir());
    f = fopen(path, "w");
    fputs("this is not a video, whatever its name says\n", f);
    fclose(f);
    CHECK(vg_watch_source_open(&s, path, &o, &err) == VG_ERR_FORMAT && s == NULL,
          "text file as a video: %s", err.msg);
}

/* masks: pixel centres inside a polygon (even-odd rule: a concave one, overlapping ones) */
static void test_masks(void) {
    enum { W = 10, H = 8 };
    uint8_t map[W * H];
    /* the left half, and a concave "C" (a square with a notch cut into its right side) */
    vg_mask m[2] = {{4, {{0, 0}, {0.5f, 0}, {0.5f, 1}, {0, 1}}}, {0}};
    vg_watch_mask_map(m, 1, W, H, map);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) CHECK(map[y * W + x] == (x < 5), "half mask at %d,%d", x, y);
    vg_mask c = {8, {{0.6f, 0}, {1, 0}, {1, 0.25f}, {0.8f, 0.25f}, {0.8f, 0.75f}, {1, 0.75f}, {1, 1}, {0.6f, 1}}};
    m[1] = c;
    vg_watch_mask_map(m, 2, W, H, map);
    /* column 9 (centre 0.95): covered in rows 0-1 and 6-7, not in the notch (rows 2-5) */
    for (int y = 0; y < H; y++) CHECK(map[y * W + 9] == (y < 2 || y > 5), "notch at row %d", y);
    CHECK(map[0 * W + 5] == 0 && map[3 * W + 6] == 1 && map[3 * W + 7] == 1, "between and in the C");
    vg_watch_mask_map(m, 0, W, H, map);
    for (int i = 0; i < W * H; i++) CHECK(map[i] == 0, "no mask: nothing covered");
}

/* ---- several cameras on one model, as `vigie watch --config` runs them: a loop per camera
 * in its own thread (ThreadSanitizer runs this in scripts/test.sh), events named by camera, a
 * mask, and a looping camera stopped by its cancel flag */

vg_model *vg_test_small_model(void); /* test_vgm.c: labels fire, smoke, neutral */

typedef struct {
    const vg_model *m;
    vg_watch_opts o;
    vg_watch_stats st;
    vg_status status;
    vg_err err;
    int events, tagged, stopped;
} cam_job;

static void cam_event(void *ud, const char *json) {
    cam_job *c = ud;
    char want[64];
    snprintf(want, sizeof want, "{\"camera\":\"%s\",\"t\":", c->o.camera);
    c->events++;
    c->tagged += strncmp(json, want, strlen(want)) == 0;
    c->stopped += strstr(json, "\"reason\":\"stopped\"") != NULL;
}

static void *cam_main(void *arg) {
    cam_job *c = arg;
    c->status = vg_watch_run(c->m, &c->o, &c->st, &c->err);
    return NULL;
}

static void test_cameras(void) {
    vg_model *m = vg_test_small_model();
    vg_cancel *stop = NULL;
    vg_err err;
    CHECK(m && vg_cancel_init(&stop, &err) == VG_OK, "model and cancel flag");
    if (!m || !stop) {
        vg_model_free(m), vg_cancel_free(stop);
        return;
    }
    const char *dir = vg_test_tmpdir();
    write_img(dir, "1.jpg", 12), write_img(dir, "2.jpg", 16), write_img(dir, "3.jpg", 20);
    static const vg_mask all = {4, {{0, 0}, {1, 0}, {1, 1}, {0, 1}}};
    enum { N = 3 };
    cam_job c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].m = m;
        c[i].o = vg_watch_opts_default();
        c[i].o.source = dir;
        c[i].o.camera = i == 0 ? "a" : i == 1 ? "b" : "looping";
        /* levels every score reaches: an alarm starts at once and never clears */
        c[i].o.alarm.window = 1, c[i].o.alarm.min_duration = 0;
        c[i].o.alarm.on = 0.0001f, c[i].o.alarm.off = 0.00005f;
        c[i].o.on_event = cam_event, c[i].o.ud = &c[i];
        c[i].o.stop = stop;
    }
    c[1].o.masks = &all, c[1].o.n_masks = 1; /* the whole frame: the model sees its mean */
    c[2].o.src.loop = true, c[2].o.src.realtime = true, c[2].o.src.folder_fps = 50;
    int started = 0;
    for (int i = 0; i < N && pthread_create(&th[i], NULL, cam_main, &c[i]) == 0; i++) started++;
    CHECK(started == N, "started %d threads", started);
    /* the two plain folders end by themselves; the looping one when the flag is raised */
    for (int i = 0; i < started && i < 2; i++) pthread_join(th[i], NULL);
    struct timespec ts = {0, 300 * 1000 * 1000}; /* (its statistics are its thread's until it ends) */
    nanosleep(&ts, NULL);
    vg_cancel_request(stop);
    if (started == N) pthread_join(th[2], NULL);
    for (int i = 0; i < started; i++) {
        CHECK(c[i].status == VG_OK, "camera %s: %s", c[i].o.camera, c[i].err.msg);
        CHECK(c[i].events >= 2 && c[i].tagged == c[i].events && c[i].stopped == 1,
              "camera %s: %d events, %d named, %d ended by the stop", c[i].o.camera, c[i].events,
              c[i].tagged, c[i].stopped);
    }
    CHECK(c[0].st.classified == 3 && c[1].st.classified == 3, "classified %lld and %lld of 3",
          (long long)c[0].st.classified, (long long)c[1].st.classified);
    CHECK(c[2].st.read >= 1 && vg_cancel_requested(stop), "the looping camera read %lld frames",
          (long long)c[2].st.read);
    vg_cancel_free(stop);
    vg_model_free(m);
}

/* a frame of uniform grey `v`, with noise of amplitude `noise` from a fixed generator */
static void health_frame(vg_image *img, int v, int noise, unsigned *seed) {
    for (size_t i = 0; i < (size_t)img->w * img->h * 3; i++) {
        int x = v;
        if (noise) {
            *seed = *seed * 1103515245u + 12345u;
            x += (int)((*seed >> 16) % (unsigned)(2 * noise + 1)) - noise;
        }
        img->rgb[i] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
    }
}

static void test_health(void) {
    vg_image img = {160, 90, malloc(160 * 90 * 3)};
    CHECK(img.rgb != NULL, "frame");
    if (!img.rgb) return;
    unsigned seed = 1;
    vg_watch_health h;
    /* a live picture with sensor noise (+-3) never counts as frozen */
    vg_watch_health_init(&h, 5);
    for (int i = 0; i < 100; i++) {
        health_frame(&img, 120, 3, &seed);
        vg_watch_health_frame(&h, &img, i * 0.5);
    }
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "noisy live picture: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* the same frame again and again: frozen after stuck_after seconds, not before */
    vg_watch_health_init(&h, 5);
    health_frame(&img, 120, 3, &seed);
    for (int i = 0; i <= 9; i++) vg_watch_health_frame(&h, &img, i * 0.5); /* 4.5 s the same */
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "4.5 s frozen: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    vg_watch_health_frame(&h, &img, 5.5);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_FROZEN, "5 s frozen: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    health_frame(&img, 120, 3, &seed); /* it moves again */
    vg_watch_health_frame(&h, &img, 6.0);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "moving again: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* black with a little noise: black (not frozen: the noise changes it) */
    vg_watch_health_init(&h, 5);
    for (int i = 0; i < 20; i++) {
        health_frame(&img, 3, 3, &seed);
        vg_watch_health_frame(&h, &img, i * 0.5);
    }
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_BLACK, "black picture: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* a dark night scene with one street light is not black */
    vg_watch_health_init(&h, 5);
    for (int i = 0; i < 20; i++) {
        health_frame(&img, 3, 3, &seed);
        for (int y = 0; y < 30; y++) memset(img.rgb + 3 * (size_t)y * img.w, 200, 3 * 60);
        vg_watch_health_frame(&h, &img, i * 0.5);
    }
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "night scene with a light: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* stuck_after 0: never */
    vg_watch_health_init(&h, 0);
    health_frame(&img, 0, 0, &seed);
    for (int i = 0; i < 100; i++) vg_watch_health_frame(&h, &img, i * 10.0);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "detection off: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* reconnections: 4 in 300 s is no storm, a 5th is; quiet for 300 s clears it */
    vg_watch_health_init(&h, 60);
    for (int i = 1; i <= 4; i++) vg_watch_health_reconnects(&h, i, i * 60.0);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "4 reconnections");
    vg_watch_health_reconnects(&h, 5, 290);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_RECONNECTS, "5 within 230 s: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    vg_watch_health_reconnects(&h, 5, 361);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "quiet since: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    /* spread out (one every 100 s) is no storm */
    vg_watch_health_init(&h, 60);
    for (int i = 1; i <= 20; i++) vg_watch_health_reconnects(&h, i, i * 100.0);
    CHECK(vg_watch_health_state(&h) == VG_HEALTH_OK, "one every 100 s: %s",
          vg_watch_health_name(vg_watch_health_state(&h)));
    free(img.rgb);
}

/* ---- the service: three cameras on one model, a reload, a refused reload, the stop */

typedef struct {
    pthread_mutex_t mu;
    int events[3]; /* per camera a, b, c */
    int ended[3];  /* on_camera_end calls */
    int errors;
} svc_seen;

static int svc_index(const char *s) {
    return strstr(s, "\"camera\":\"a\"") || !strcmp(s, "a")   ? 0
           : strstr(s, "\"camera\":\"b\"") || !strcmp(s, "b") ? 1
           : strstr(s, "\"camera\":\"c\"") || !strcmp(s, "c") ? 2
                                                               : -1;
}
static void svc_event(void *ud, const char *json) {
    svc_seen *v = ud;
    int i = svc_index(json);
    pthread_mutex_lock(&v->mu);
    if (i >= 0) v->events[i]++;
    pthread_mutex_unlock(&v->mu);
}
static void svc_end(void *ud, const vg_service_camera *c) {
    svc_seen *v = ud;
    int i = svc_index(c->name);
    pthread_mutex_lock(&v->mu);
    if (i >= 0) v->ended[i]++;
    if (c->status != VG_OK) v->errors++;
    pthread_mutex_unlock(&v->mu);
}

static vg_status svc_parse(const char *dir, const char *text, vg_service_cfg *cfg, vg_err *err) {
    char name[800];
    snprintf(name, sizeof name, "%s/svc.yaml", dir);
    return vg_service_cfg_parse(text, strlen(text), name, cfg, err);
}

static void test_service(void) {
    vg_model *m = vg_test_small_model();
    const char *dir = vg_test_tmpdir();
    char path[800];
    vg_err err;
    snprintf(path, sizeof path, "%s/svc.vgm", dir);
    CHECK(m && vg_model_save(m, path, &err) == VG_OK, "small model saved");
    vg_model_free(m);
    snprintf(path, sizeof path, "%s/imgs", dir);
    mkdir(path, 0755);
    write_img(path, "1.jpg", 12), write_img(path, "2.jpg", 16), write_img(path, "3.jpg", 20);
    /* levels every score reaches: each camera raises an alarm at its first frame */
    const char *head = "model: svc.vgm\n"
                       "defaults: {window: 1, min_duration: 0, on: 0.001, off: 0.001}\n"
                       "cameras:\n";
    const char *live = "{source: imgs, loop: true, realtime: true, fps: 50}";
    char text[1024];
    snprintf(text, sizeof text, "%s  a: %s\n  b: %s\n  c: {source: imgs}\n", head, live, live);
    vg_service_cfg cfg;
    CHECK(svc_parse(dir, text, &cfg, &err) == VG_OK, "%s", err.msg);
    svc_seen seen;
    memset(&seen, 0, sizeof seen);
    pthread_mutex_init(&seen.mu, NULL);
    vg_service_hooks h = {NULL, svc_event, svc_end, &seen};
    vg_service *s = NULL;
    CHECK(vg_service_start(&s, &cfg, &h, &err) == VG_OK, "%s", err.msg);
    if (!s) return;
    /* c reads its folder once and ends by itself; a and b loop */
    int running = 3;
    for (int i = 0; i < 500 && (running = vg_service_running(s)) == 3; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(running == 2, "running after c's end: %d", running);
    CHECK(vg_service_alive(s, 5), "the loops come round");
    /* reload: b removed, a changed (fps), c unchanged (stays ended) */
    snprintf(text, sizeof text, "%s  a: {source: imgs, loop: true, realtime: true, fps: 40}\n"
                                "  c: {source: imgs}\n", head);
    char summary[512] = "";
    CHECK(svc_parse(dir, text, &cfg, &err) == VG_OK, "%s", err.msg);
    CHECK(vg_service_reload(s, &cfg, summary, sizeof summary, &err) == VG_OK, "%s", err.msg);
    CHECK(!strcmp(summary, "0 added, 1 removed (b), 1 changed (a), 1 untouched"), "summary '%s'",
          summary);
    CHECK(vg_service_running(s) == 1, "running after the reload: %d", vg_service_running(s));
    /* the restarted a raises its alarm again (its events: 2 from the first run, then more) */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&seen.mu);
        int n = seen.events[0];
        pthread_mutex_unlock(&seen.mu);
        if (n >= 3) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* the model cannot change by a reload: refused, nothing changed */
    snprintf(text, sizeof text, "model: other.vgm\ncameras:\n  a: %s\n", live);
    CHECK(svc_parse(dir, text, &cfg, &err) == VG_OK, "%s", err.msg);
    CHECK(vg_service_reload(s, &cfg, summary, sizeof summary, &err) == VG_ERR_ARG &&
              strstr(err.msg, "'model' changed"),
          "model change: %s", err.msg);
    CHECK(vg_service_running(s) == 1, "running after the refused reload: %d",
          vg_service_running(s));
    /* a camera whose classes the model lacks: refused before anything stops */
    snprintf(text, sizeof text, "%s  a: %s\n  d: {source: imgs, classes: dragon}\n", head, live);
    CHECK(svc_parse(dir, text, &cfg, &err) == VG_OK, "%s", err.msg);
    CHECK(vg_service_reload(s, &cfg, summary, sizeof summary, &err) == VG_ERR_ARG &&
              strstr(err.msg, "camera d") && strstr(err.msg, "dragon"),
          "bad camera: %s", err.msg);
    CHECK(vg_service_running(s) == 1, "running after the bad camera: %d", vg_service_running(s));
    CHECK(vg_service_stop(s), "stop");
    pthread_mutex_lock(&seen.mu);
    CHECK(seen.ended[0] == 2 && seen.ended[1] == 1 && seen.ended[2] == 1,
          "ends reported: a %d (2: changed, stopped), b %d, c %d", seen.ended[0], seen.ended[1],
          seen.ended[2]);
    CHECK(seen.events[0] >= 3 && seen.events[1] >= 2 && seen.events[2] >= 2 && !seen.errors,
          "events a %d, b %d, c %d; %d errors", seen.events[0], seen.events[1], seen.events[2],
          seen.errors);
    pthread_mutex_unlock(&seen.mu);
    pthread_mutex_destroy(&seen.mu);
    /* a missing model: an error, nothing started, the configuration freed */
    snprintf(text, sizeof text, "model: missing.vgm\ncameras:\n  a: %s\n", live);
    CHECK(svc_parse(dir, text, &cfg, &err) == VG_OK, "%s", err.msg);
    CHECK(vg_service_start(&s, &cfg, &h, &err) != VG_OK && s == NULL && strstr(err.msg, "missing"),
          "missing model: %s", err.msg);
}

/* ---- shared inference: frames of several threads batched, each result its own */

enum { INF_THREADS = 4, INF_FRAMES = 12 };
typedef struct {
    vg_watch_infer *q;
    const float *inputs; /* INF_FRAMES inputs */
    size_t in_size;
    int n_out;
    float probs[INF_FRAMES][VG_MAX_CLASSES];
} inf_job;

static void *inf_main(void *arg) {
    inf_job *j = arg;
    for (int f = 0; f < INF_FRAMES; f++)
        vg_watch_infer_classify(j->q, j->inputs + (size_t)f * j->in_size, j->probs[f]);
    return NULL;
}

static void test_infer(void) {
    vg_model *m = vg_test_small_model();
    CHECK(m != NULL, "model");
    if (!m) return;
    vg_model_info info;
    vg_model_get_info(m, &info);
    const vg_input_spec *spec = &m->input;
    size_t in_size = (size_t)spec->w * spec->h * spec->c;
    /* every thread its own frames: different sizes and shades */
    float *inputs = malloc(sizeof(float) * in_size * INF_THREADS * INF_FRAMES);
    vg_watch_infer *q = NULL;
    vg_err err;
    CHECK(inputs != NULL, "inputs");
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = 2;
    CHECK(vg_watch_infer_init(&q, m, &ro, 3, &err) == VG_OK, "%s", err.msg); /* batches 1, 2, 3 */
    CHECK(vg_watch_infer_init(&(vg_watch_infer *){NULL}, m, &ro, 0, &err) == VG_ERR_ARG,
          "batch 0 refused");
    if (!inputs || !q) {
        free(inputs), vg_watch_infer_free(q), vg_model_free(m);
        return;
    }
    for (int k = 0; k < INF_THREADS * INF_FRAMES; k++) {
        vg_image im = {8 + k % 7, 9 + k % 5, malloc((size_t)(8 + k % 7) * (9 + k % 5) * 3)};
        for (size_t i = 0; im.rgb && i < (size_t)im.w * im.h * 3; i++)
            im.rgb[i] = (uint8_t)((i * 7 + (size_t)k * 31) % 256);
        CHECK(im.rgb && vg_image_to_input(&im, spec, inputs + (size_t)k * in_size, in_size, &err) ==
                            VG_OK,
              "input %d", k);
        vg_image_free(&im);
    }
    inf_job jobs[INF_THREADS];
    pthread_t th[INF_THREADS];
    int started = 0;
    for (int t = 0; t < INF_THREADS; t++) {
        jobs[t] = (inf_job){q, inputs + (size_t)t * INF_FRAMES * in_size, in_size,
                            info.n_classes, {{0}}};
        if (pthread_create(&th[t], NULL, inf_main, &jobs[t]) == 0) started++;
    }
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    CHECK(started == INF_THREADS, "threads");
    float worst = 0;
    float *want = malloc(sizeof(float) * (size_t)info.n_classes);
    vg_runner *one = NULL;
    vg_runner_opts o1 = vg_runner_opts_default();
    CHECK(want && vg_runner_init(&one, m, &o1, &err) == VG_OK, "batch-1 runner");
    for (int t = 0; one && want && t < started; t++)
        for (int f = 0; f < INF_FRAMES; f++) {
            /* the frame alone through a batch-1 runner of the same model */
            vg_runner_probs(one, inputs + ((size_t)t * INF_FRAMES + f) * in_size, want);
            for (int c = 0; c < info.n_classes; c++)
                worst = fmaxf(worst, fabsf(want[c] - jobs[t].probs[f][c]));
        }
    CHECK(worst < 1e-5f, "shared inference vs the frame alone: max difference %g", (double)worst);
    /* the frames differ enough that a result given to the wrong frame would show */
    float spread = 0;
    for (int f = 1; f < INF_FRAMES; f++)
        spread = fmaxf(spread, fabsf(jobs[0].probs[f][0] - jobs[0].probs[0][0]));
    CHECK(spread > 1e-3f, "the test frames' results differ by only %g", (double)spread);
    int64_t passes = 0, frames = 0;
    vg_watch_infer_stats(q, &passes, &frames);
    CHECK(frames == INF_THREADS * INF_FRAMES && passes >= frames / 3 && passes <= frames,
          "%lld frames in %lld passes", (long long)frames, (long long)passes);
    free(want);
    vg_runner_free(one);
    vg_watch_infer_free(q);
    free(inputs);
    vg_model_free(m);
}

/* the model holder: acquire / swap / release (a held model survives a swap: ASan would catch
 * it freed), a model of other classes refused; the shared inference follows a swap (its
 * results those of a runner of the new model) */
static void test_model_swap(void) {
    vg_model *a = vg_test_small_model(), *b = vg_test_small_model(), *c = vg_test_small_model();
    CHECK(a && b && c, "models");
    if (!a || !b || !c) {
        vg_model_free(a), vg_model_free(b), vg_model_free(c);
        return;
    }
    for (int64_t i = 0; i < b->g.n_params; i++) /* b: other weights */
        b->g.params[i] *= -0.7f;
    const char *other[] = {"fire", "dragon", "neutral"};
    vg_model_set_labels(c, other, 3, NULL);
    vg_err err;
    vg_watch_model *h = NULL;
    CHECK(vg_watch_model_init(&h, a, "base", &err) == VG_OK, "%s", err.msg);
    if (!h) {
        vg_model_free(b), vg_model_free(c);
        return;
    }
    uint64_t g0, g1;
    char id[VG_WATCH_MODEL_ID];
    const vg_model *held = vg_watch_model_acquire(h, &g0, id);
    CHECK(held == a && !strcmp(id, "base") && vg_watch_model_gen(h) == g0, "acquire: %s", id);
    vg_runner_opts ro = vg_runner_opts_default();
    vg_watch_infer *q = NULL;
    CHECK(vg_watch_infer_init(&q, held, &ro, 2, &err) == VG_OK, "%s", err.msg);
    CHECK(vg_watch_model_swap(h, c, "other", &err) == VG_ERR_ARG && strstr(err.msg, "dragon"),
          "other classes: %s", err.msg);
    CHECK(vg_watch_model_swap(h, b, "new", &err) == VG_OK && vg_watch_model_gen(h) != g0, "%s",
          err.msg);
    const vg_model *now = vg_watch_model_acquire(h, &g1, id);
    CHECK(now == b && !strcmp(id, "new") && g1 != g0, "after the swap: %s", id);
    /* the old model, still held, still whole */
    CHECK(held->g.n_params == b->g.n_params && vg_model_n_outputs(held) == 3, "held model");
    size_t in = (size_t)a->input.w * a->input.h * a->input.c;
    float *x = malloc(sizeof(float) * in), pa[3], pb[3], pq[3];
    vg_runner *ra = NULL, *rb = NULL;
    CHECK(x && vg_runner_init(&ra, held, NULL, &err) == VG_OK &&
              vg_runner_init(&rb, now, NULL, &err) == VG_OK,
          "runners");
    if (x && ra && rb && q) {
        for (size_t i = 0; i < in; i++)
            x[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
        vg_runner_probs(ra, x, pa);
        vg_runner_probs(rb, x, pb);
        vg_watch_infer_classify(q, x, pq);
        CHECK(fabsf(pq[0] - pa[0]) < 1e-6f && fabsf(pa[0] - pb[0]) > 1e-3f, "before: %g %g %g",
              (double)pq[0], (double)pa[0], (double)pb[0]);
        CHECK(vg_watch_infer_swap(q, now, &err) == VG_OK, "%s", err.msg);
        vg_watch_infer_classify(q, x, pq);
        CHECK(fabsf(pq[0] - pb[0]) < 1e-6f && fabsf(pq[1] - pb[1]) < 1e-6f,
              "the shared inference after the swap: %g, want %g", (double)pq[0], (double)pb[0]);
    }
    vg_runner_free(ra), vg_runner_free(rb);
    free(x);
    vg_watch_infer_free(q);
    vg_watch_model_release(h, held); /* a freed here (ASan: no leak, no double free) */
    vg_watch_model_release(h, now);
    vg_watch_model_free(h);
}

/* the adapted models on disk: models/base guards against another configured model, current
 * names the one to start with, list and select (rollback) */
static void test_adapted_models(void) {
    const char *dir = vg_test_tmpdir();
    char fb[600], model[700], p[1400], path[1400], id[VG_WATCH_MODEL_ID];
    snprintf(fb, sizeof fb, "%s/afb", dir);
    snprintf(model, sizeof model, "%s/cam.vgm", dir);
    mkdir(fb, 0755);
    vg_model *m = vg_test_small_model();
    vg_err err;
    CHECK(m && vg_model_save(m, model, &err) == VG_OK, "save");
    /* nothing adapted yet: the configured model */
    CHECK(vg_watch_adapter_current(fb, model, path, sizeof path, id, NULL, NULL, &err) == VG_OK &&
              !strcmp(path, model) && !strcmp(id, "cam"),
          "start: %s %s", path, id);
    for (int g = 1; g <= 2; g++) {
        snprintf(p, sizeof p, "%s/models/cam.a%d.vgm", fb, g);
        CHECK(vg_model_set_meta(m, "adapt_date", g == 1 ? "d1" : "d2", &err) == VG_OK &&
                  vg_model_save(m, p, &err) == VG_OK,
              "save a%d", g);
    }
    snprintf(p, sizeof p, "%s/models/current", fb);
    FILE *f = fopen(p, "w");
    if (f) fputs("cam.a2.vgm\n", f), fclose(f);
    CHECK(vg_watch_adapter_current(fb, model, path, sizeof path, id, NULL, NULL, &err) == VG_OK &&
              strstr(path, "/models/cam.a2.vgm") && !strcmp(id, "cam.a2"),
          "current: %s %s (%s)", path, id, err.msg);
    vg_adapted_model list[8];
    int n = vg_adapted_list(fb, model, list, 8, &err);
    CHECK(n == 2 && !strcmp(list[0].id, "cam.a1") && !list[0].current && list[1].current &&
              !strcmp(list[1].date, "d2"),
          "list: %d", n);
    char chosen[VG_WATCH_MODEL_ID];
    CHECK(vg_adapted_select(fb, model, NULL, chosen, sizeof chosen, &err) == VG_OK &&
              !strcmp(chosen, "cam.a1"),
          "rollback: %s", chosen);
    CHECK(vg_adapted_select(fb, model, NULL, chosen, sizeof chosen, &err) == VG_OK &&
              !strcmp(chosen, "cam") && access(p, F_OK) != 0,
          "rollback to the configured model: %s", chosen);
    CHECK(vg_adapted_select(fb, model, NULL, chosen, sizeof chosen, &err) == VG_ERR_ARG,
          "nothing to roll back: %s", err.msg);
    CHECK(vg_adapted_select(fb, model, "cam.a9", chosen, sizeof chosen, &err) == VG_ERR_ARG &&
              strstr(err.msg, "cam.a9"),
          "unknown id: %s", err.msg);
    CHECK(vg_adapted_select(fb, model, "cam.a2", chosen, sizeof chosen, &err) == VG_OK &&
              !strcmp(chosen, "cam.a2"),
          "select: %s", err.msg);
    /* a current that names something else is an error, not a path to follow */
    f = fopen(p, "w");
    if (f) fputs("../../etc/passwd\n", f), fclose(f);
    CHECK(vg_watch_adapter_current(fb, model, path, sizeof path, id, NULL, NULL, &err) ==
              VG_ERR_FORMAT,
          "hostile current: %s", err.msg);
    /* the configured model changed: its predecessor's adapted models are dropped */
    f = fopen(p, "w");
    if (f) fputs("cam.a2.vgm\n", f), fclose(f);
    vg_model_set_meta(m, "source", "another", &err);
    CHECK(vg_model_save(m, model, &err) == VG_OK, "save");
    CHECK(vg_watch_adapter_current(fb, model, path, sizeof path, id, NULL, NULL, &err) == VG_OK &&
              !strcmp(path, model) && access(p, F_OK) != 0,
          "another base: %s", path);
    CHECK(vg_adapted_list("/nonexistent", model, list, 8, &err) < 0 &&
              strstr(err.msg, "/nonexistent"),
          "no folder: %s", err.msg);
    vg_model_free(m);
}

void test_watch(void) {
    test_model_swap();
    test_adapted_models();
    test_infer();
    test_service();
    test_health();
    test_masks();
    test_cameras();
    test_alarm_sequences();
    test_cam_map();
    test_cam_overlay_jpeg();
    test_source_folder();
}
