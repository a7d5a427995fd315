/* test_watch_levels.c — `vigie watch` follows the model's operating point: the mapping from a
 * model's alarm threshold to the arm / clear levels (0.5 -> 0.8 / 0.5, 0.2 -> 0.5 / 0.2,
 * monotone, inside (0, 1)), and how vg_watch_levels resolves the levels of a watch: from the
 * model's threshold, the fixed 0.8 / 0.5 without one or for other alarm classes, given levels
 * kept. */
#include "test.h"

#include "model/model.h"
#include "watch/watch.h"

#include <stdlib.h>
#include <string.h>

static void test_mapping(void) {
    float on, off;
    vg_watch_alarm_levels(0.5f, &on, &off);
    CHECK_NEAR(on, 0.8, 1e-6, "threshold 0.5: on");
    CHECK_NEAR(off, 0.5, 1e-6, "threshold 0.5: off");
    vg_watch_alarm_levels(0.2f, &on, &off);
    CHECK_NEAR(on, 0.5, 1e-6, "threshold 0.2: on");
    CHECK_NEAR(off, 0.2, 1e-6, "threshold 0.2: off");
    /* 4x the odds of the threshold, everywhere */
    for (int i = 1; i < 100; i++) {
        float t = (float)i / 100;
        vg_watch_alarm_levels(t, &on, &off);
        double ratio = (on / (1.0 - on)) / (t / (1.0 - t));
        CHECK_NEAR(ratio, 4.0, 1e-4, "odds ratio at threshold %g", t);
    }
    /* monotone, off < on, both inside (0, 1), also at and beyond the ends */
    float prev_on = -1, prev_off = -1;
    for (int i = -10; i <= 1010; i++) {
        float t = (float)i / 1000;
        vg_watch_alarm_levels(t, &on, &off);
        CHECK(on > 0 && on < 1 && off > 0 && off < 1 && off < on, "threshold %g: on %g off %g", t,
              on, off);
        CHECK(on >= prev_on && off >= prev_off,
              "not monotone at %g: on %g after %g, off %g after %g", t, on, prev_on, off, prev_off);
        prev_on = on, prev_off = off;
    }
    vg_watch_alarm_levels(NAN, &on, &off);
    CHECK(on == 0.8f && off == 0.5f, "NaN threshold: %g / %g", on, off);
}

/* a 3-class model (fire, neutral, smoke); with thr >= 0 it stores that alarm threshold */
static vg_model *model_with(float thr) {
    vg_model *m = vg_model_new();
    m->input = (vg_input_spec){8, 8, 3, {0, 0, 0}, {1, 1, 1}};
    int t = vg_graph_gap(&m->g, 0);
    t = vg_graph_fc(&m->g, t, 3, 3, true, VG_ACT_NONE);
    vg_graph_softmax(&m->g, t);
    static const char *const labels[3] = {"fire", "neutral", "smoke"};
    vg_model_set_labels(m, labels, 3, NULL);
    if (thr >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%g", thr);
        vg_model_set_meta(m, "no_alarm_class", "neutral", NULL);
        vg_model_set_meta(m, "alarm_threshold", v, NULL);
    }
    return m;
}

static void test_resolve(void) {
    vg_err err;
    char desc[512];
    vg_watch_opts o = vg_watch_opts_default();
    CHECK(o.alarm.on < 0 && o.alarm.off < 0, "default levels are set (%g / %g)", o.alarm.on,
          o.alarm.off);
    /* from the model's threshold */
    vg_model *m = model_with(0.2f);
    CHECK(vg_watch_levels(m, &o, desc, sizeof desc, &err) == VG_OK, "%s", err.msg);
    CHECK(fabs(o.alarm.on - 0.5) < 1e-6 && fabs(o.alarm.off - 0.2) < 1e-6, "thr 0.2: %g / %g",
          o.alarm.on, o.alarm.off);
    CHECK(strstr(desc, "on 0.500, off 0.200") && strstr(desc, "threshold 0.200"), "desc: %s", desc);
    /* --classes naming the model's own alarm classes: still the model's threshold */
    o = vg_watch_opts_default();
    o.classes = "smoke,fire";
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(fabs(o.alarm.on - 0.5) < 1e-6, "model's classes: on %g (%s)", o.alarm.on, desc);
    /* other classes: the threshold says nothing about them */
    o = vg_watch_opts_default();
    o.classes = "fire";
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.on == 0.8f && o.alarm.off == 0.5f && strstr(desc, "fixed"), "fire only: %s",
          desc);
    o.alarm.on = o.alarm.off = -1;
    o.classes = "flames";
    CHECK(vg_watch_levels(m, &o, desc, sizeof desc, &err) == VG_ERR_ARG, "unknown class accepted");
    /* given levels stay; the other follows the model, without crossing the given one */
    o = vg_watch_opts_default();
    o.alarm.on = 0.9f;
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.on == 0.9f && fabs(o.alarm.off - 0.2) < 1e-6, "on given: %s", desc);
    o = vg_watch_opts_default();
    o.alarm.on = 0.6f, o.alarm.off = 0.1f;
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.on == 0.6f && o.alarm.off == 0.1f && strstr(desc, "given"), "both given: %s",
          desc);
    vg_model_free(m);
    m = model_with(0.95f);
    o = vg_watch_opts_default();
    o.alarm.on = 0.9f; /* below the derived off (0.95) */
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.on == 0.9f && o.alarm.off == 0.9f, "off capped at on: %s", desc);
    o = vg_watch_opts_default();
    o.alarm.off = 0.99f; /* above the derived on (0.987) */
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.off == 0.99f && o.alarm.on == 0.99f, "on raised to off: %s", desc);
    vg_model_free(m);
    /* no threshold: the fixed levels of the README's table */
    m = model_with(-1);
    o = vg_watch_opts_default();
    vg_watch_levels(m, &o, desc, sizeof desc, &err);
    CHECK(o.alarm.on == 0.8f && o.alarm.off == 0.5f && strstr(desc, "no alarm threshold"),
          "no threshold: %s", desc);
    vg_model_free(m);
}

void test_watch_levels(void) {
    test_mapping();
    test_resolve();
}
