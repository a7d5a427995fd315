/* alarm.c — the alarm state machine of `vigie watch` (see alarm.h).
 *
 * Per channel: IDLE -> ARMING when the smoothed score reaches `on`; ARMING -> IDLE as soon as
 * it falls below `off`; ARMING -> ACTIVE (alarm_start) once it has stayed >= off for
 * min_duration seconds and the cool-down of the previous alarm is over; ACTIVE -> IDLE
 * (alarm_end) when it falls below `off`, which starts the cool-down. The sliding mean divides
 * by the full window from the first frame on, so a bright first frame counts as 1/window. */
#include "watch/alarm.h"

#include <math.h>
#include <string.h>

void vg_watch_alarm_levels(float thr, float *on, float *off) {
    double t = isnan(thr) ? 0.5 : thr < 0.001f ? 0.001 : thr > 0.999f ? 0.999 : (double)thr;
    *off = (float)t;
    *on = (float)(4.0 * t / (1.0 + 3.0 * t)); /* odds x 4: t/(1-t) * 4 = on/(1-on) */
}

vg_status vg_watch_alarm_opts_check(const vg_watch_alarm_opts *o, vg_err *err) {
    if (o->window < 1 || o->window > VG_WATCH_MAX_WINDOW)
        return vg_err_set(err, VG_ERR_ARG, "window must be 1..%d frames, not %d",
                          VG_WATCH_MAX_WINDOW, o->window);
    if (!(o->on > 0.0f && o->on <= 1.0f))
        return vg_err_set(err, VG_ERR_ARG, "on threshold must be in (0, 1], not %g", o->on);
    if (!(o->off >= 0.0f && o->off <= o->on))
        return vg_err_set(err, VG_ERR_ARG, "off threshold must be in [0, on=%g], not %g", o->on,
                          o->off);
    if (!(o->min_duration >= 0) || !(o->cooldown >= 0) || !(o->update_every >= 0))
        return vg_err_set(err, VG_ERR_ARG, "durations must be >= 0 seconds");
    return VG_OK;
}

vg_status vg_watch_alarm_init(vg_watch_alarm *a, const vg_watch_alarm_opts *o, int n_classes,
                              const bool *is_alarm, bool per_class, vg_err *err) {
    memset(a, 0, sizeof *a);
    vg_status st = vg_watch_alarm_opts_check(o, err);
    if (st != VG_OK) return st;
    if (n_classes < 1 || n_classes > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_ARG, "alarm: %d classes", n_classes);
    a->o = *o;
    a->n_classes = n_classes;
    a->alarm_cls = vg_malloc(sizeof(int) * (size_t)n_classes);
    if (!a->alarm_cls) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int c = 0; c < n_classes; c++)
        if (is_alarm[c]) a->alarm_cls[a->n_alarm++] = c;
    if (a->n_alarm == 0) {
        vg_watch_alarm_free(a);
        return vg_err_set(err, VG_ERR_ARG, "no alarm class");
    }
    a->n_channels = per_class ? a->n_alarm : 1;
    a->ch = vg_calloc((size_t)a->n_channels, sizeof *a->ch);
    a->ring = vg_calloc((size_t)o->window * (size_t)a->n_alarm, sizeof(float));
    a->mean = vg_calloc((size_t)a->n_alarm, sizeof(float));
    if (!a->ch || !a->ring || !a->mean) {
        vg_watch_alarm_free(a);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < a->n_channels; k++) {
        a->ch[k].cool_until = -1e300;
        a->ch[k].cls = per_class ? a->alarm_cls[k] : a->alarm_cls[0];
    }
    return VG_OK;
}

void vg_watch_alarm_free(vg_watch_alarm *a) {
    if (!a) return;
    free(a->alarm_cls);
    free(a->ch);
    free(a->ring);
    free(a->mean);
    memset(a, 0, sizeof *a);
}

/* index into alarm classes of the dominant one (highest smoothed probability) */
static int dominant(const vg_watch_alarm *a) {
    int best = 0;
    for (int j = 1; j < a->n_alarm; j++)
        if (a->mean[j] > a->mean[best]) best = j;
    return best;
}

float vg_watch_alarm_score(const vg_watch_alarm *a, int channel) {
    if (a->n_channels > 1) return a->mean[channel];
    float s = 0;
    for (int j = 0; j < a->n_alarm; j++) s += a->mean[j];
    return s;
}

bool vg_watch_alarm_active(const vg_watch_alarm *a, int channel) {
    return a->ch[channel].state == VG_WATCH_ACTIVE;
}

int vg_watch_alarm_class(const vg_watch_alarm *a, int channel) {
    if (a->n_channels > 1 || a->ch[channel].state == VG_WATCH_ACTIVE) return a->ch[channel].cls;
    return a->alarm_cls[dominant(a)];
}

int vg_watch_alarm_step(vg_watch_alarm *a, const float *probs, double t, vg_watch_alarm_event *ev) {
    const vg_watch_alarm_opts *o = &a->o;
    float *slot = a->ring + (size_t)a->pos * (size_t)a->n_alarm;
    for (int j = 0; j < a->n_alarm; j++) {
        float p = probs[a->alarm_cls[j]];
        slot[j] = p == p ? (p < 0 ? 0 : p > 1 ? 1 : p) : 0; /* NaN counts as 0 */
    }
    a->pos = (a->pos + 1) % o->window;
    /* summed afresh each frame (window <= 1000): no running-sum drift over days */
    for (int j = 0; j < a->n_alarm; j++) {
        double s = 0;
        for (int i = 0; i < o->window; i++) s += a->ring[(size_t)i * (size_t)a->n_alarm + (size_t)j];
        a->mean[j] = (float)(s / o->window);
    }
    int n = 0;
    for (int k = 0; k < a->n_channels; k++) {
        vg_watch_channel *c = &a->ch[k];
        float s = vg_watch_alarm_score(a, k);
        if (c->state == VG_WATCH_IDLE && s >= o->on) {
            c->state = VG_WATCH_ARMING;
            c->since = t;
        }
        if (c->state == VG_WATCH_ARMING) {
            if (s < o->off) {
                c->state = VG_WATCH_IDLE;
            } else if (t - c->since + 1e-9 >= o->min_duration && t + 1e-9 >= c->cool_until) {
                /* with min_duration 0 this is the frame that reached `on` */
                double armed = c->since;
                c->state = VG_WATCH_ACTIVE;
                c->since = t;
                c->last_update = t;
                c->peak = s;
                if (a->n_channels == 1) c->cls = a->alarm_cls[dominant(a)];
                ev[n++] = (vg_watch_alarm_event){VG_WATCH_EV_START, k, c->cls, s, s, t, armed,
                                                 VG_WATCH_END_CLEAR};
            }
        } else if (c->state == VG_WATCH_ACTIVE) {
            if (s > c->peak) c->peak = s;
            if (s < o->off) {
                c->state = VG_WATCH_IDLE;
                c->cool_until = t + o->cooldown;
                ev[n++] = (vg_watch_alarm_event){VG_WATCH_EV_END, k, c->cls, s, c->peak, t,
                                                 c->since, VG_WATCH_END_CLEAR};
            } else if (o->update_every > 0 && t - c->last_update + 1e-9 >= o->update_every) {
                c->last_update = t;
                ev[n++] = (vg_watch_alarm_event){VG_WATCH_EV_UPDATE, k, c->cls, s, c->peak, t,
                                                 c->since, VG_WATCH_END_CLEAR};
            }
        }
    }
    return n;
}

int vg_watch_alarm_stop(vg_watch_alarm *a, double t, vg_watch_alarm_event *ev) {
    int n = 0;
    for (int k = 0; k < a->n_channels; k++) {
        vg_watch_channel *c = &a->ch[k];
        if (c->state == VG_WATCH_ACTIVE)
            ev[n++] = (vg_watch_alarm_event){VG_WATCH_EV_END, k, c->cls,
                                             vg_watch_alarm_score(a, k), c->peak, t, c->since,
                                             VG_WATCH_END_STOPPED};
        c->state = VG_WATCH_IDLE;
    }
    return n;
}
