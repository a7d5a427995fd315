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

/* vg_watch_opts, vg_watch_stats, vg_watch_levels and vg_watch_run are in vigie.h. */

/* Alarm classes of a model: from `spec` (comma-separated labels), else every class but the
 * no-alarm class of vg_model_alarm(), else every class but one labelled "neutral". */
vg_status vg_watch_alarm_classes(const vg_model *m, const char *spec, bool *is_alarm,
                                 vg_err *err);

/* Live adaptation (autoadapt.c): a background thread that adapts the configured model on
 * every camera's feedback after `every` new frames and hands the result to `use` (which takes
 * the model over, also on error, and swaps it in), keeping the adapted models in
 * FEEDBACK_DIR/models/. */
typedef struct vg_watch_adapter vg_watch_adapter;
typedef struct {
    const char *model;        /* the configured model file: every adaptation starts from it */
    const char *feedback_dir; /* FEEDBACK_DIR/<camera>/ trees; models in FEEDBACK_DIR/models/ */
    int every, keep, threads;
    void (*log)(void *ud, const char *msg);
    void (*on_event)(void *ud, const char *json); /* "model" and "adapt_refused" lines */
    vg_status (*use)(void *ud, vg_model *m, const char *id, vg_err *err);
    void *ud;
} vg_watch_adapter_opts;
/* `running`: the id of the model the service starts with (vg_watch_adapter_current). */
vg_status vg_watch_adapter_start(vg_watch_adapter **out, const vg_watch_adapter_opts *o,
                                 const char *running, vg_err *err);
/* One more feedback frame (from a camera's thread). */
void vg_watch_adapter_feedback(vg_watch_adapter *a);
/* Takes models/current again (a rollback, then a reload): a model other than the running one
 * is loaded and handed to `use`. */
vg_status vg_watch_adapter_sync(vg_watch_adapter *a, vg_err *err);
/* Waits for an adaptation under way, then stops. NULL is a no-op. */
void vg_watch_adapter_stop(vg_watch_adapter *a);
/* A model file's id in events and state: its file name without the extension ("fire"). */
void vg_watch_model_id_of(const char *model, char id[VG_WATCH_MODEL_ID]);
/* The model to start with: models/current's (path, id "STEM.aN") when it names an adapted
 * model of this configured model (models/base holds its hash; another model's adapted ones
 * are dropped, reported through log), else the configured one (id: its file name's stem).
 * Creates FEEDBACK_DIR/models/. */
vg_status vg_watch_adapter_current(const char *feedback_dir, const char *model, char *path,
                                   size_t n, char *id, void (*log)(void *, const char *), void *ud,
                                   vg_err *err);

/* The pixels of a w x h frame that masks cover (vg_mask: by their centres, even-odd rule):
 * map[y * w + x] = 1 there, else 0. */
void vg_watch_mask_map(const vg_mask *masks, int n, int w, int h, uint8_t *map);

/* Appends the JSON string literal of s (quotes included) to buf (size n, NUL-terminated). */
void vg_watch_json_str(char *buf, size_t n, const char *s);

#endif
