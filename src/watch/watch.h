/* watch.h — the `vigie watch` loop: frames from a source, classified at most --fps times a
 * second, alarms from the state machine, events (JSON lines) with a heat-map snapshot at each
 * alarm start, MQTT, statistics.
 *
 * Two threads: a reader pulls frames from the source into a one-frame mailbox; the loop takes
 * the newest frame, classifies it and runs the alarm logic. A live source overwrites a frame
 * the loop has not taken yet (a dropped frame: no backlog, bounded memory); a file or folder
 * waits for the loop instead, so every sampled frame is classified. With tiles, each frame is
 * classified through the whole view and overlapping tiles in one batch (vigie.h, "tiles"); the
 * alarm levels follow the model's own threshold unless given (vg_watch_levels). */
#ifndef VG_WATCH_H
#define VG_WATCH_H

#include "watch/alarm.h"
#include "watch/mqtt.h"
#include "watch/source.h"

typedef struct {
    const char *source;
    vg_watch_source_opts src;
    double fps;                /* classify at most this many frames per second; 0: all */
    vg_watch_alarm_opts alarm; /* alarm.on / alarm.off < 0: from the model (vg_watch_levels) */
    int tile_rows, tile_cols;  /* every frame through these views (vigie.h, "tiles"); 1x1: the
                                  whole frame only */
    bool per_class;            /* one alarm per class instead of one for all alarm classes */
    const char *classes;       /* comma-separated alarm classes; NULL: every class but the
                                  model's no-alarm class (or the one labelled "neutral") */
    const char *snapshots;     /* folder for alarm-start snapshots; NULL: none */
    int jpeg_quality;
    int threads;               /* runner threads */
    int precision;             /* vg_precision */
    /* each event as one JSON line (no newline); called from the loop's thread */
    void (*on_event)(void *ud, const char *json);
    void *ud;                  /* for on_event and src.log */
    vg_watch_mqtt *mqtt;       /* optional, borrowed */
    atomic_int *stop;          /* set by the caller (signal) to end the loop cleanly */
} vg_watch_opts;

vg_watch_opts vg_watch_opts_default(void);

typedef struct {
    int64_t read;       /* frames delivered by the source */
    int64_t skipped;    /* not sampled because of --fps */
    int64_t dropped;    /* overwritten before the loop could take them (live sources) */
    int64_t classified;
    int64_t bad;        /* frames or images that could not be decoded */
    int64_t reconnects;
    int64_t alarms;     /* alarm_start events */
    int64_t snapshot_errors;
    double lat_mean_ms; /* frame decoded -> classified and alarm logic done */
    double lat_p99_ms;  /* from a histogram with 2% wide bins */
    double lat_max_ms;
    double seconds;     /* wall time of the run */
    size_t peak_rss;
} vg_watch_stats;

/* Alarm classes of a model: from `spec` (comma-separated labels), else every class but the
 * no-alarm class of vg_model_alarm(), else every class but one labelled "neutral". */
vg_status vg_watch_alarm_classes(const vg_model *m, const char *spec, bool *is_alarm,
                                 vg_err *err);

/* Resolves the alarm levels of `o` that are not given (alarm.on / alarm.off < 0): from the
 * model's alarm threshold by vg_watch_alarm_levels (off = threshold, on = 4x its odds) when the
 * model stores one and the alarm classes are the model's own (every class but its no-alarm
 * class), else the fixed 0.8 / 0.5. A given level stays; the derived other one is moved to it
 * if it would cross it (off never above on). `desc` (size n, nullable) gets one line saying
 * which levels and where they came from. vg_watch_run calls it on its copy of the options. */
vg_status vg_watch_levels(const vg_model *m, vg_watch_opts *o, char *desc, size_t n, vg_err *err);

/* Runs until the source ends, a stop is requested or a fatal error; alarms still active then
 * end with reason "stopped". `stats` is filled in every case (also on error). With MQTT, the
 * retained state is kept current and, at the end, left as status "offline" with every alarm
 * OFF; vg_watch_mqtt_close then confirms it with the broker. */
vg_status vg_watch_run(const vg_model *m, const vg_watch_opts *o, vg_watch_stats *stats,
                       vg_err *err);

/* Appends the JSON string literal of s (quotes included) to buf (size n, NUL-terminated). */
void vg_watch_json_str(char *buf, size_t n, const char *s);

#endif
