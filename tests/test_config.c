/* test_config.c — the service configuration (vg_service_cfg_parse, vigie.h): every key read,
 * defaults then overrides, paths relative to the file, and each kind of mistake refused with
 * file:line:column and the key; a clean failure at every allocation. */
#include "test.h"
#include "vigie.h"

#include <stdlib.h>
#include <string.h>

static const char good[] = "model: m.vge\n"
                           "threads: 2\n"
                           "precision: float\n"
                           "events: /var/log/vigie/events.jsonl\n"
                           "snapshots: snaps\n"
                           "feedback_dir: fb\n"
                           "mqtt:\n"
                           "  host: broker\n"
                           "  user: u\n"
                           "  password_file: pw\n"
                           "  cafile: ca.crt\n"
                           "  topic_prefix: home/vigie\n"
                           "  discovery_prefix: false\n"
                           "defaults:\n"
                           "  window: 5\n"
                           "  cooldown: 20\n"
                           "  classes: fire\n"
                           "  tiles: 2x2\n"
                           "  stuck_after: 30\n"
                           "cameras:\n"
                           "  front-door:\n"
                           "    source: rtsp://cam/stream\n"
                           "    source_options: {rtsp_transport: tcp, stimeout: '5000000'}\n"
                           "    on: 0.7\n"
                           "    off: 0.4\n"
                           "    fps: 5\n"
                           "    masks:\n"
                           "      - [[0, 0], [0.5, 0], [0.5, 0.2]]\n"
                           "  yard_2:\n"
                           "    source: clips/yard.mp4\n"
                           "    loop: true\n"
                           "    tiles: 1x1\n"
                           "    cooldown: 3\n"
                           "    stuck_after: 0\n"
                           "    enabled: no\n";

static void expect_error(const char *text, const char *want1, const char *want2) {
    vg_service_cfg c;
    vg_err err = {0};
    vg_status st = vg_service_cfg_parse(text, strlen(text), "/etc/vigie/c.yaml", &c, &err);
    CHECK(st == VG_ERR_FORMAT && strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2)),
          "expected an error with '%s' / '%s', got %s: %s", want1, want2 ? want2 : "",
          vg_status_name(st), err.msg);
    if (st == VG_OK) vg_service_cfg_free(&c);
}

void test_config(void) {
    vg_service_cfg c;
    vg_err err = {0};
    CHECK(vg_service_cfg_parse(good, strlen(good), "/etc/vigie/c.yaml", &c, &err) == VG_OK,
          "good: %s", err.msg);
    if (c.n_cameras == 2) {
        CHECK(!strcmp(c.model, "/etc/vigie/m.vge") && c.threads == 2 && c.precision == VG_PRECISION_FLOAT &&
                  !strcmp(c.events, "/var/log/vigie/events.jsonl") &&
                  !strcmp(c.snapshots, "/etc/vigie/snaps") &&
                  !strcmp(c.feedback_dir, "/etc/vigie/fb"),
              "top level: %s %s %s", c.model, c.events, c.snapshots);
        CHECK(c.has_mqtt && !strcmp(c.mqtt.host, "broker") && c.mqtt.tls && c.mqtt.port == 8883 &&
                  !strcmp(c.mqtt.password_file, "/etc/vigie/pw") && c.mqtt.no_discovery &&
                  !strcmp(c.mqtt.topic_prefix, "home/vigie"),
              "mqtt");
        const vg_camera_cfg *a = &c.cameras[0], *b = &c.cameras[1];
        CHECK(!strcmp(a->name, "front-door") && !strcmp(a->source, "rtsp://cam/stream") &&
                  a->enabled && a->alarm.window == 5 && a->alarm.cooldown == 20 &&
                  a->alarm.on == 0.7f && a->alarm.off == 0.4f && a->fps == 5 && a->tile_rows == 2 &&
                  a->tile_cols == 2 && !strcmp(a->classes, "fire") && a->n_av_opts == 2 &&
                  !strcmp(a->av_opts[0], "rtsp_transport=tcp") &&
                  !strcmp(a->av_opts[1], "stimeout=5000000") && a->n_masks == 1 &&
                  a->masks[0].n == 3 && a->masks[0].xy[2][1] == 0.2f && a->stuck_after == 30,
              "camera 1 (defaults, overrides, options, mask)");
        CHECK(!strcmp(b->name, "yard_2") && !strcmp(b->source, "/etc/vigie/clips/yard.mp4") &&
                  !b->enabled && b->src.loop && b->tile_rows == 1 && b->alarm.cooldown == 3 &&
                  b->alarm.window == 5 && b->alarm.on < 0 && b->alarm.off < 0 &&
                  b->stuck_after == 0 &&
                  !strcmp(b->classes, "fire"),
              "camera 2 (a relative file, levels from the model)");
        vg_service_cfg_free(&c);
    }
    /* every allocation failing in turn: NOMEM, nothing left (ASan), or the same result */
    vg_fail_alloc(0);
    vg_service_cfg_parse(good, strlen(good), "c.yaml", &c, &err);
    long total = vg_alloc_count();
    vg_service_cfg_free(&c);
    int clean = 0;
    for (long k = 1; k <= total; k++) {
        vg_fail_alloc(k);
        vg_status st = vg_service_cfg_parse(good, strlen(good), "c.yaml", &c, &err);
        vg_fail_alloc(0);
        clean += st == VG_OK ? c.n_cameras == 2 : st == VG_ERR_NOMEM && c.cameras == NULL;
        if (st == VG_OK) vg_service_cfg_free(&c);
    }
    CHECK(total > 20 && clean == total, "%d of %ld allocation failures clean", clean, total);
    /* mistakes, each with its place and key */
    expect_error("model: m\ncameras:\n  a:\n    source: x\n    cooldwn: 3\n",
                 "c.yaml:5:5:", "unknown key 'cooldwn'");
    expect_error("model: m\ncamera:\n  a: {source: x}\n", ":2:1:", "unknown key 'camera'");
    expect_error("cameras:\n  a: {source: x}\n", "no model", NULL);
    expect_error("model: m\n", "no cameras", NULL);
    expect_error("model: m\ncameras:\n  a: {fps: 2}\n", "cameras.a", "no source");
    expect_error("model: m\ncameras:\n  a b: {source: x}\n", ":3:3:", "camera name 'a b'");
    expect_error("model: m\ncameras:\n  a: {source: x, on: 1.5}\n", "on: 1.5 is out of range",
                 NULL);
    expect_error("model: m\ncameras:\n  a: {source: x, on: 0.3, off: 0.6}\n",
                 "off (0.6) above on (0.3)", NULL);
    expect_error("model: m\ncameras:\n  a: {source: x, window: 2.5}\n", "window", "whole number");
    expect_error("model: m\ncameras:\n  a: {source: x, tiles: 9x9}\n", "tiles", NULL);
    expect_error("model: m\ncameras:\n  a: {source: x, stuck_after: -1}\n", "stuck_after", NULL);
    expect_error("model: m\ncameras:\n  a: {source: 'rstp://cam/1'}\n", "c.yaml:3:15: source",
                 "unknown scheme 'rstp'");
    expect_error("model: m\ncameras:\n  a: {source: 'rtsp://'}\n", "source", "nothing after");
    expect_error("model: m\nprecision: int4\ncameras:\n  a: {source: x}\n", "c.yaml:2:12: precision",
                 "auto, float or int8");
    expect_error("model: m\ncameras:\n  a: {source: x, enabled: maybe}\n", "enabled",
                 "true or false");
    expect_error("model: m\ncameras:\n  a: {source: x, masks: [[[0, 0], [1, 0]]]}\n", "masks",
                 "3 to 64 points");
    expect_error("model: m\ncameras:\n  a: {source: x, masks: [[[0, 0], [1, 0], [1, 2]]]}\n",
                 "masks", "out of range");
    expect_error("model: m\ncameras:\n  a: {source: x}\n  a: {source: y}\n",
                 "camera 'a' given twice", NULL);
    expect_error(
        "model: m\nmqtt: {host: h, password: p, password_file: f}\ncameras:\n  a: {source: x}\n",
        "password and password_file", NULL);
    expect_error("model: m\nmqtt: {port: 1883}\ncameras:\n  a: {source: x}\n", "mqtt", "no host");
    expect_error("model: m\ndefaults: {source: x}\ncameras:\n  a: {source: x}\n", "defaults",
                 "unknown key 'source'");
    expect_error("model: [m\n", "not valid YAML", NULL);
    expect_error("- a\n- b\n", "expected a mapping", NULL);
    char big[64];
    snprintf(big, sizeof big, "model: m\nthreads: 1000\ncameras:\n  a: {source: x}\n");
    expect_error(big, "threads: 1000 is out of range", NULL);
    /* a file that is not there is an I/O error naming it */
    CHECK(vg_service_cfg_load("/nonexistent/vigie.yaml", &c, &err) == VG_ERR_IO &&
              strstr(err.msg, "/nonexistent/vigie.yaml"),
          "missing file: %s", err.msg);
}
