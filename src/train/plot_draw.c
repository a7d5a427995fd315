/* plot_draw.c — the drawing primitives of the figures (plot_int.h): canvas and PNG output,
 * text, axes and ticks, clipping, grid and frame, legends. See plot.c for the figures. */
#include "train/plot_int.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- canvas: an image surface, its context, the current font size */

vg_status vg_plot_canvas_open(canvas *cv, int w, int h, const char *path, vg_err *err) {
    cv->s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cv->cr = NULL;
    cv->fs = 12;
    if (cairo_surface_status(cv->s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(cv->s);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot allocate a %dx%d image", path, w, h);
    }
    cv->cr = cairo_create(cv->s);
    if (cairo_status(cv->cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cv->cr);
        cairo_surface_destroy(cv->s);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot create a drawing context", path);
    }
    cairo_set_source_rgb(cv->cr, 1, 1, 1);
    cairo_paint(cv->cr);
    cairo_set_line_join(cv->cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cv->cr, CAIRO_LINE_CAP_ROUND);
    return VG_OK;
}

static cairo_status_t png_sink(void *closure, const unsigned char *data, unsigned int len) {
    vg_wr *w = closure;
    vg_wr_bytes(w, data, len);
    return w->oom ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

/* Encodes the figure and writes it to `path`; frees the canvas in every case. */
vg_status vg_plot_canvas_save(canvas *cv, const char *path, vg_err *err) {
    cairo_status_t cs = cairo_status(cv->cr);
    cairo_destroy(cv->cr);
    vg_wr w = {0};
    vg_status st;
    if (cs != CAIRO_STATUS_SUCCESS) {
        st = vg_err_set(err, cs == CAIRO_STATUS_NO_MEMORY ? VG_ERR_NOMEM : VG_ERR_UNSUPPORTED,
                        "%s: cannot draw the figure: %s", path, cairo_status_to_string(cs));
    } else {
        cairo_surface_flush(cv->s);
        cs = cairo_surface_write_to_png_stream(cv->s, png_sink, &w);
        if (w.oom || cs == CAIRO_STATUS_NO_MEMORY)
            st = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory encoding the PNG", path);
        else if (cs != CAIRO_STATUS_SUCCESS)
            st = vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: cannot encode the PNG: %s", path,
                            cairo_status_to_string(cs));
        else
            st = vg_file_write_atomic(path, w.p, w.n, err);
    }
    cairo_surface_destroy(cv->s);
    vg_wr_free(&w);
    return st;
}

void vg_plot_rgb(canvas *cv, const double c[3]) {
    cairo_set_source_rgb(cv->cr, c[0], c[1], c[2]);
}

/* ---- text */

void vg_plot_font(canvas *cv, double size, bool bold) {
    cairo_select_font_face(cv->cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cv->cr, size);
    cv->fs = size;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not valid. */
static int utf8_len(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* Copies s into buf (at most size - 1 bytes, cut at a character boundary), every invalid
 * byte and control character replaced with '?'. */
static void clean_text(const char *s, char *buf, size_t size) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0;
    while (*p) {
        int n = utf8_len(p);
        if (o + (size_t)(n ? n : 1) + 1 > size) break;
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7F))) {
            buf[o++] = '?';
            p++;
        } else {
            memcpy(buf + o, p, (size_t)n);
            o += (size_t)n;
            p += n;
        }
    }
    buf[o] = 0;
}

double vg_plot_text_w_raw(canvas *cv, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cv->cr, s, &te);
    return te.x_advance;
}

/* Height of the capital letters of the current font (the anchor of vertical alignment). */
double vg_plot_cap_h(canvas *cv) {
    cairo_text_extents_t te;
    cairo_text_extents(cv->cr, "H", &te);
    return te.height > 0 ? -te.y_bearing : 0.72 * cv->fs;
}

/* Draws s anchored at (x, y): ax = 0 / 0.5 / 1 puts x at the left / centre / right end of the
 * text, ay = 0 / 0.5 / 1 puts y at the top / middle / baseline of its capital letters. */
void vg_plot_text_at(canvas *cv, double x, double y, const char *s, double ax, double ay) {
    char buf[256];
    clean_text(s, buf, sizeof buf);
    double w = vg_plot_text_w_raw(cv, buf);
    cairo_move_to(cv->cr, x - ax * w, y + vg_plot_cap_h(cv) * (1 - ay));
    cairo_show_text(cv->cr, buf);
    cairo_new_path(cv->cr);
}

/* The same, turned 90 degrees anticlockwise (reading upwards); ax runs along the text. */
void vg_plot_text_up(canvas *cv, double x, double y, const char *s, double ax, double ay) {
    cairo_save(cv->cr);
    cairo_translate(cv->cr, x, y);
    cairo_rotate(cv->cr, -PLOT_PI / 2);
    vg_plot_text_at(cv, 0, 0, s, ax, ay);
    cairo_restore(cv->cr);
}

/* s cleaned and, when wider than maxw pixels, shortened to fit with a trailing ellipsis. */
void vg_plot_fit_text(canvas *cv, const char *s, double maxw, char *buf, size_t size) {
    VG_ASSERT(size >= 8);
    clean_text(s, buf, size - 3); /* room for the 3 bytes of the ellipsis */
    if (vg_plot_text_w_raw(cv, buf) <= maxw) return;
    size_t n = strlen(buf);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf + n, "\xE2\x80\xA6", 4); /* U+2026 and the terminator */
        if (vg_plot_text_w_raw(cv, buf) <= maxw) return;
    }
}

/* ---- axes */

double vg_plot_ax_map(const axis *a, double v) {
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* The smallest 1, 2 or 5 x 10^k that is >= raw (> 0). */
static double nice_at_least(double raw) {
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
    return m * mag;
}

/* The next nice step after `step`. */
double vg_plot_nice_next(double step) {
    return nice_at_least(step * 1.5);
}

/* Range [dmin, dmax] of the data, widened by 5% on each side (pad), or to +-10% around a flat
 * value (+-1 for whole numbers, or around 0). Step for at most max_ticks intervals. */
void vg_plot_axis_auto(axis *a, double dmin, double dmax, bool pad, bool whole, int max_ticks) {
    double mag = fmax(fabs(dmin), fabs(dmax));
    double span = dmax - dmin;
    if (!(span > 1e-5 * mag)) { /* flat: also values equal up to float rounding */
        double c = 0.5 * dmin + 0.5 * dmax, h = whole ? 1 : mag > 0 ? 0.1 * mag : 1;
        dmin = c - h;
        dmax = c + h;
    } else if (pad) {
        dmin -= 0.05 * span;
        dmax += 0.05 * span;
    }
    a->lo = dmin;
    a->hi = dmax;
    a->step = nice_at_least((dmax - dmin) / (max_ticks > 1 ? max_ticks : 1));
    if (whole && a->step < 1) a->step = 1;
}

/* Ticks: the multiples of step within [lo, hi]; at most 64 (the step guarantees far fewer). */
int vg_plot_axis_ticks(const axis *a, double *t) {
    double k0 = ceil(a->lo / a->step - 1e-9), k1 = floor(a->hi / a->step + 1e-9);
    int n = 0;
    for (double k = k0; k <= k1 && n < 64; k++) {
        double v = k * a->step;
        t[n++] = fabs(v) < 1e-9 * a->step ? 0 : v;
    }
    return n;
}

/* "1e-7" for "1e-07", "2.5e30" for "2.5e+30" */
static void compact_exponent(char *s) {
    char *e = strchr(s, 'e');
    if (!e) return;
    const char *p = e + 1;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    while (*p == '0' && p[1])
        p++;
    char tail[16];
    snprintf(tail, sizeof tail, "%s%s", neg ? "-" : "", p);
    snprintf(e + 1, 16, "%s", tail);
}

/* Tick label of v: as many decimals as the step needs, scientific notation for large or tiny
 * magnitudes (maxabs: the largest |tick| on the axis). buf has at least 40 bytes. */
static void fmt_tick(char *buf, size_t size, double v, double step, double maxabs) {
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    int es = (int)floor(log10(step) + 1e-9);
    if (maxabs >= 1e6 || maxabs < 1e-3) {
        int em = (int)floor(log10(maxabs) + 1e-9);
        int dec = em - es < 0 ? 0 : em - es > 8 ? 8 : em - es;
        snprintf(buf, size, "%.*e", dec, v);
        compact_exponent(buf);
    } else {
        snprintf(buf, size, "%.*f", es < 0 ? -es : 0, v);
    }
}

static double ticks_maxabs(const double *t, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(t[i]));
    return m;
}

/* Widest tick label of the axis, in the current font. */
double vg_plot_ticks_width(canvas *cv, const axis *a) {
    double t[64];
    int n = vg_plot_axis_ticks(a, t);
    double m = ticks_maxabs(t, n), w = 0;
    char buf[48];
    for (int i = 0; i < n; i++) {
        fmt_tick(buf, sizeof buf, t[i], a->step, m);
        w = fmax(w, vg_plot_text_w_raw(cv, buf));
    }
    return w;
}

/* Liang-Barsky: clips segment s = (x0, y0, x1, y1) to r in place; false when nothing is left.
 * An end inside r is kept bit for bit, so consecutive segments still join. */
bool vg_plot_clip_segment(double s[4], const rect *r) {
    double x0 = s[0], y0 = s[1], dx = s[2] - s[0], dy = s[3] - s[1], t0 = 0, t1 = 1;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {x0 - r->x, r->x + r->w - x0, y0 - r->y, r->y + r->h - y0};
    for (int k = 0; k < 4; k++) {
        if (p[k] == 0) {
            if (q[k] < 0) return false;
            continue;
        }
        double t = q[k] / p[k];
        if (p[k] < 0) {
            if (t > t1) return false;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return false;
            if (t < t1) t1 = t;
        }
    }
    if (t1 < 1) {
        s[2] = x0 + t1 * dx;
        s[3] = y0 + t1 * dy;
    }
    s[0] = x0 + t0 * dx;
    s[1] = y0 + t0 * dy;
    return true;
}

bool vg_plot_inside(const rect *r, double x, double y) {
    return x >= r->x && x <= r->x + r->w && y >= r->y && y <= r->y + r->h;
}

/* Grid lines at the ticks of both axes, across r (drawn under the data). */
void vg_plot_draw_grid(canvas *cv, const rect *r, const axis *ax, const axis *ay) {
    double t[64];
    cairo_set_line_width(cv->cr, 1);
    vg_plot_rgb(cv, GRID);
    int n = vg_plot_axis_ticks(ax, t);
    for (int i = 0; i < n; i++) {
        double x = floor(vg_plot_ax_map(ax, t[i])) + 0.5;
        cairo_move_to(cv->cr, x, r->y);
        cairo_line_to(cv->cr, x, r->y + r->h);
    }
    n = vg_plot_axis_ticks(ay, t);
    for (int i = 0; i < n; i++) {
        double y = floor(vg_plot_ax_map(ay, t[i])) + 0.5;
        cairo_move_to(cv->cr, r->x, y);
        cairo_line_to(cv->cr, r->x + r->w, y);
    }
    cairo_stroke(cv->cr);
}

/* Frame of r, the ticks below and left of it and their labels (drawn over the data). */
void vg_plot_draw_frame(canvas *cv, const rect *r, const axis *ax, const axis *ay) {
    cairo_t *cr = cv->cr;
    double t[128]; /* x ticks, then y ticks */
    char buf[48];
    vg_plot_rgb(cv, TICK_INK);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, r->x + 0.5, r->y + 0.5, r->w, r->h);
    double bottom = r->y + r->h + 0.5;
    int n = vg_plot_axis_ticks(ax, t);
    for (int i = 0; i < n; i++) {
        double x = floor(vg_plot_ax_map(ax, t[i])) + 0.5;
        cairo_move_to(cr, x, bottom);
        cairo_line_to(cr, x, bottom + 5);
    }
    int m = vg_plot_axis_ticks(ay, t + n);
    for (int i = 0; i < m; i++) {
        double y = floor(vg_plot_ax_map(ay, t[n + i])) + 0.5;
        cairo_move_to(cr, r->x + 0.5, y);
        cairo_line_to(cr, r->x - 4.5, y);
    }
    cairo_stroke(cr);
    vg_plot_font(cv, 12, false);
    double mx = ticks_maxabs(t, n), my = ticks_maxabs(t + n, m);
    for (int i = 0; i < n; i++) {
        fmt_tick(buf, sizeof buf, t[i], ax->step, mx);
        vg_plot_text_at(cv, floor(vg_plot_ax_map(ax, t[i])) + 0.5, bottom + 8, buf, 0.5, 0);
    }
    for (int i = 0; i < m; i++) {
        fmt_tick(buf, sizeof buf, t[n + i], ay->step, my);
        vg_plot_text_at(cv, r->x - 8, floor(vg_plot_ax_map(ay, t[n + i])) + 0.5, buf, 1, 0.5);
    }
}

/* ---- legend: a white box of rows "swatch  text" */

enum { LEG_FS = 12, LEG_ROW = 20, LEG_PAD = 8, LEG_SWATCH = 26, LEG_GAP = 7 };

/* Size of the legend whose texts are cut to fit maxw pixels overall. */
void vg_plot_legend_size(canvas *cv, const legend_entry *e, int n, double maxw, double *w,
                         double *h) {
    vg_plot_font(cv, LEG_FS, false);
    double tw = 0;
    char buf[256];
    for (int i = 0; i < n; i++) {
        vg_plot_fit_text(cv, e[i].text, maxw - 2 * LEG_PAD - LEG_SWATCH - LEG_GAP, buf, sizeof buf);
        tw = fmax(tw, vg_plot_text_w_raw(cv, buf));
    }
    *w = ceil(2 * LEG_PAD + LEG_SWATCH + LEG_GAP + tw);
    *h = 2 * LEG_PAD + n * LEG_ROW - 4;
}

void vg_plot_legend_draw(canvas *cv, double x, double y, double w, double h, const legend_entry *e,
                         int n, double maxw) {
    cairo_t *cr = cv->cr;
    x = floor(x);
    y = floor(y);
    cairo_rectangle(cr, x + 0.5, y + 0.5, w, h);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.78, 0.78, 0.78);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    vg_plot_font(cv, LEG_FS, false);
    char buf[256];
    for (int i = 0; i < n; i++) {
        double cy = y + LEG_PAD - 2 + (i + 0.5) * LEG_ROW, sx = x + LEG_PAD;
        vg_plot_rgb(cv, e[i].rgb);
        if (e[i].line) {
            cairo_set_line_width(cr, 2);
            if (e[i].line == 2) cairo_set_dash(cr, (const double[]){5, 4}, 2, 0);
            cairo_move_to(cr, sx, cy);
            cairo_line_to(cr, sx + LEG_SWATCH, cy);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        if (e[i].marker > 0) {
            cairo_arc(cr, sx + LEG_SWATCH / 2.0, cy, e[i].marker, 0, 2 * PLOT_PI);
            cairo_fill(cr);
        }
        vg_plot_rgb(cv, INK);
        vg_plot_fit_text(cv, e[i].text, maxw - 2 * LEG_PAD - LEG_SWATCH - LEG_GAP, buf, sizeof buf);
        vg_plot_text_at(cv, sx + LEG_SWATCH + LEG_GAP, cy, buf, 0, 0.5);
    }
}
