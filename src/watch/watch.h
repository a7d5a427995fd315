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



/* The pixels of a w x h frame that masks cover (vg_mask: by their centres, even-odd rule):
 * map[y * w + x] = 1 there, else 0. */
void vg_watch_mask_map(const vg_mask *masks, int n, int w, int h, uint8_t *map);

/* Appends the JSON string literal of s (quotes included) to buf (size n, NUL-terminated). */
void vg_watch_json_str(char *buf, size_t n, const char *s);

#endif
