/* health.h — is a camera's picture still alive? A pure state machine over frames and times
 * (no clock, no I/O), so it is tested on synthetic frames:
 *   frozen      the picture has not changed for `stuck_after` seconds: mean absolute
 *               difference of a fixed grid of sampled pixels (luma, single pixels, so sensor
 *               noise counts) between consecutive frames below 0.5 of 255 — the RTSP camera
 *               that keeps sending its last frame, or a decoder repeating one;
 *   black       the picture has been black for `stuck_after` seconds (mean luma below 10,
 *               no sampled pixel above 40): a covered lens, a dead sensor, a lost signal;
 *   reconnects  5 or more reconnections within 300 s: a camera that keeps dropping out.
 * Each comes back to ok by itself: a changing picture, light, a quiet connection. */
#ifndef VG_WATCH_HEALTH_H
#define VG_WATCH_HEALTH_H

#include "core/core.h"

typedef enum {
    VG_HEALTH_OK = 0,
    VG_HEALTH_FROZEN = 1,
    VG_HEALTH_BLACK = 2,
    VG_HEALTH_RECONNECTS = 3,
} vg_watch_health_kind;

#define VG_HEALTH_GRID_W       64
#define VG_HEALTH_GRID_H       36
#define VG_HEALTH_STORM_N      5   /* reconnections ... */
#define VG_HEALTH_STORM_WINDOW 300 /* ... within this many seconds */

typedef struct {
    double stuck_after; /* seconds; 0: no frozen / black detection */
    uint8_t prev[VG_HEALTH_GRID_W * VG_HEALTH_GRID_H];
    bool have_prev;
    double same_since, black_since; /* < 0: not in that condition */
    bool frozen, black;
    double storm_t[VG_HEALTH_STORM_N]; /* times of the last reconnections, a ring */
    int storm_pos, storm_n;
    int64_t reconnects_seen;
    bool storm;
} vg_watch_health;

void vg_watch_health_init(vg_watch_health *h, double stuck_after);
/* A frame at time t (seconds, the frames' clock). */
void vg_watch_health_frame(vg_watch_health *h, const vg_image *img, double t);
/* The source's reconnection count so far, seen at wall time t. */
void vg_watch_health_reconnects(vg_watch_health *h, int64_t total, double t);
/* The current condition (the worst first: reconnects, black, frozen). */
vg_watch_health_kind vg_watch_health_state(const vg_watch_health *h);
const char *vg_watch_health_name(vg_watch_health_kind k);

#endif
