/* health.c — frozen, black and reconnecting cameras (health.h). */
#include "watch/health.h"

#include <string.h>

#define FROZEN_DIFF 0.5 /* mean absolute difference (0..255) below which frames are the same */
#define BLACK_MEAN  10
#define BLACK_MAX   40

void vg_watch_health_init(vg_watch_health *h, double stuck_after) {
    memset(h, 0, sizeof *h);
    h->stuck_after = stuck_after > 0 ? stuck_after : 0;
    h->same_since = h->black_since = -1;
}

void vg_watch_health_frame(vg_watch_health *h, const vg_image *img, double t) {
    if (h->stuck_after <= 0 || !img->rgb || img->w < 1 || img->h < 1) return;
    uint8_t cur[VG_HEALTH_GRID_W * VG_HEALTH_GRID_H];
    int64_t sum = 0, diff = 0;
    int mx = 0;
    for (int gy = 0; gy < VG_HEALTH_GRID_H; gy++) {
        /* pixel centres of a regular grid over the frame */
        int y = (int)(((int64_t)gy * 2 + 1) * img->h / (2 * VG_HEALTH_GRID_H));
        for (int gx = 0; gx < VG_HEALTH_GRID_W; gx++) {
            int x = (int)(((int64_t)gx * 2 + 1) * img->w / (2 * VG_HEALTH_GRID_W));
            const uint8_t *p = img->rgb + 3 * ((size_t)y * img->w + x);
            int l = (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8;
            int i = gy * VG_HEALTH_GRID_W + gx;
            cur[i] = (uint8_t)l;
            sum += l;
            if (l > mx) mx = l;
            if (h->have_prev) diff += l > h->prev[i] ? l - h->prev[i] : h->prev[i] - l;
        }
    }
    const int n = VG_HEALTH_GRID_W * VG_HEALTH_GRID_H;
    bool same = h->have_prev && (double)diff < FROZEN_DIFF * n;
    bool dark = sum < (int64_t)BLACK_MEAN * n && mx <= BLACK_MAX;
    if (!same)
        h->same_since = -1;
    else if (h->same_since < 0)
        h->same_since = t;
    if (!dark)
        h->black_since = -1;
    else if (h->black_since < 0)
        h->black_since = t;
    h->frozen = h->same_since >= 0 && t - h->same_since >= h->stuck_after;
    h->black = h->black_since >= 0 && t - h->black_since >= h->stuck_after;
    memcpy(h->prev, cur, sizeof cur);
    h->have_prev = true;
}

void vg_watch_health_reconnects(vg_watch_health *h, int64_t total, double t) {
    for (; h->reconnects_seen < total; h->reconnects_seen++) {
        h->storm_t[h->storm_pos] = t;
        h->storm_pos = (h->storm_pos + 1) % VG_HEALTH_STORM_N;
        if (h->storm_n < VG_HEALTH_STORM_N) h->storm_n++;
    }
    /* the oldest of the last N reconnections is at storm_pos once the ring is full */
    h->storm =
        h->storm_n == VG_HEALTH_STORM_N && t - h->storm_t[h->storm_pos] <= VG_HEALTH_STORM_WINDOW;
}

vg_watch_health_kind vg_watch_health_state(const vg_watch_health *h) {
    return h->storm    ? VG_HEALTH_RECONNECTS
           : h->black  ? VG_HEALTH_BLACK
           : h->frozen ? VG_HEALTH_FROZEN
                       : VG_HEALTH_OK;
}

const char *vg_watch_health_name(vg_watch_health_kind k) {
    static const char *names[] = {"ok", "frozen", "black", "reconnects"};
    return (unsigned)k < 4 ? names[k] : "?";
}
