/* alarm.h — turns a stream of per-frame class probabilities into few, reliable alarm events:
 * per-class smoothing over a sliding window of frames, hysteresis (arm at `on`, clear below
 * `off`), a minimum duration before an alarm starts and a cool-down after it ends. Pure state
 * machine over (probabilities, time): no clock, no I/O, so it is tested on synthetic sequences.
 *
 * Channels: by default one alarm channel whose score is the sum of the smoothed probabilities
 * of every alarm class (the model's own rule, p(fire) + p(smoke)), reported under the dominant
 * class; with per_class, one independent channel per alarm class. */
#ifndef VG_WATCH_ALARM_H
#define VG_WATCH_ALARM_H

#include "core/core.h"


/* vg_watch_alarm_opts (smoothing, levels, durations) is in vigie.h. */

/* The arm / clear levels that follow a model's operating point: for a model whose alarm
 * threshold (vg_model_alarm, chosen at training for its target recall) is thr,
 *     off = thr,   on = sigmoid(logit(thr) + log 4) = 4 thr / (1 + 3 thr),
 * i.e. clear where the model's own decision flips and arm at 4 times its odds. Threshold 0.5
 * gives 0.8 / 0.5, the levels the README's table chose for such a model; 0.2 gives 0.5 / 0.2.
 * In log-odds the margin is the same for every threshold, and both levels stay inside (0, 1)
 * (a fixed margin or ratio in probability would leave it above a threshold of 0.6 or so).
 * thr is clamped to [0.001, 0.999] first (a NaN counts as 0.5). */
void vg_watch_alarm_levels(float thr, float *on, float *off);

/* Checks ranges; the message names the offending setting. */
vg_status vg_watch_alarm_opts_check(const vg_watch_alarm_opts *o, vg_err *err);

typedef enum {
    VG_WATCH_EV_START = 1,
    VG_WATCH_EV_UPDATE = 2,
    VG_WATCH_EV_END = 3,
} vg_watch_ev_kind;

typedef enum {
    VG_WATCH_END_CLEAR = 0,   /* the score fell below `off` */
    VG_WATCH_END_STOPPED = 1, /* the watch stopped (signal, end of the source) while active */
    VG_WATCH_END_DISARMED = 2, /* the camera was disarmed (MQTT switch) while active */
} vg_watch_end_reason;

typedef struct {
    vg_watch_ev_kind kind;
    int channel;
    int cls;         /* class reported: the channel's class, or the dominant alarm class */
    float p;         /* smoothed score of the channel at this frame */
    float peak;      /* highest smoothed score since the alarm started */
    double t;        /* time of the frame (seconds, the caller's clock) */
    double since;    /* START: when the score first reached `on`; UPDATE / END: alarm start */
    vg_watch_end_reason reason; /* END only */
} vg_watch_alarm_event;

typedef enum {
    VG_WATCH_IDLE = 0,
    VG_WATCH_ARMING = 1, /* reached `on`, waiting for the minimum duration / the cool-down */
    VG_WATCH_ACTIVE = 2,
} vg_watch_alarm_state;

typedef struct {
    vg_watch_alarm_state state;
    double since;      /* ARMING: when `on` was reached; ACTIVE: alarm start */
    double cool_until; /* no start before this time */
    double last_update;
    float peak;
    int cls;
} vg_watch_channel;

typedef struct {
    vg_watch_alarm_opts o;
    int n_classes;
    int n_alarm;        /* alarm classes */
    int *alarm_cls;     /* their class indices */
    int n_channels;     /* 1, or n_alarm with per_class */
    vg_watch_channel *ch;
    float *ring;        /* window x n_alarm probabilities, newest at pos - 1 */
    float *mean;        /* n_alarm smoothed probabilities of the last step */
    int pos;
} vg_watch_alarm;

/* `is_alarm[n_classes]` marks the alarm classes (at least one). */
vg_status vg_watch_alarm_init(vg_watch_alarm *a, const vg_watch_alarm_opts *o, int n_classes,
                              const bool *is_alarm, bool per_class, vg_err *err);
void vg_watch_alarm_free(vg_watch_alarm *a);

/* One classified frame: probs[n_classes] at time t (seconds, non-decreasing). Writes at most
 * one event per channel into ev (room for n_channels) and returns their count. */
int vg_watch_alarm_step(vg_watch_alarm *a, const float *probs, double t, vg_watch_alarm_event *ev);
/* Ends every active alarm (reason STOPPED) at time t; returns the events written. */
int vg_watch_alarm_stop(vg_watch_alarm *a, double t, vg_watch_alarm_event *ev);

/* Smoothed score of a channel after the last step, and whether it is active. */
float vg_watch_alarm_score(const vg_watch_alarm *a, int channel);
bool vg_watch_alarm_active(const vg_watch_alarm *a, int channel);
/* Class shown for a channel now: its own class, or the dominant alarm class. */
int vg_watch_alarm_class(const vg_watch_alarm *a, int channel);

#endif
