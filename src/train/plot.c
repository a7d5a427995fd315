/* plot.c — the PNG figures of plot.h, drawn with cairo on an RGB image surface, encoded with
 * cairo_surface_write_to_png_stream into a growable buffer and written atomically.
 *
 * Layout is computed in pixels from the fixed figure size and the measured width of the text
 * (tick labels, class names), so nothing is clipped or overlaps whatever the numbers are. All
 * text goes through text_at(), which replaces invalid UTF-8 (a Latin-1 labels file, say) with
 * '?': cairo's toy text API would otherwise put the context in an error state and lose the
 * whole figure. Data coordinates stay in double until a segment has been clipped to the plot
 * rectangle, so 1e30 or a point far outside a fixed range never reaches cairo's fixed-point
 * coordinates. Not here: any statistics (metrics.c computes them), any other output format. */
#include "train/plot.h"

#include "core/core.h"

/* as <cairo/cairo.h>, the header is found without pkg-config's -I/usr/include/cairo (it includes
 * its siblings with quotes), so no build rule needs extra flags */
#include <cairo/cairo.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Under AddressSanitizer: fontconfig (which cairo's toy text API uses) keeps its patterns and
 * parsed configuration through offsets rather than pointers, so LeakSanitizer reports them
 * as leaked at exit. They are not ours; this hook (read by LSan, in SAN=1 builds only) tells
 * it so, for every binary that draws a figure. */
#if defined(__SANITIZE_ADDRESS__)
#define VG_PLOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VG_PLOT_ASAN 1
#endif
#endif
#ifdef VG_PLOT_ASAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libfontconfig.so\n";
}
#endif

#define PLOT_PI 3.14159265358979323846
#define FONT    "sans-serif"

/* matplotlib's "tab10": distinct, and readable on white */
static const double PALETTE[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812},
};
static const double INK[3] = {0.13, 0.13, 0.13};   /* titles */
static const double TICK_INK[3] = {0.3, 0.3, 0.3}; /* tick labels, frames */
static const double GRID[3] = {0.91, 0.91, 0.91};

typedef struct {
    double x, y, w, h;
} rect;

/* ---- canvas: an image surface, its context, the current font size */

typedef struct {
    cairo_surface_t *s;
    cairo_t *cr;
    double fs;
} canvas;

static vg_status canvas_open(canvas *cv, int w, int h, const char *path, vg_err *err) {
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
static vg_status canvas_save(canvas *cv, const char *path, vg_err *err) {
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

static void rgb(canvas *cv, const double c[3]) {
    cairo_set_source_rgb(cv->cr, c[0], c[1], c[2]);
}

/* ---- text */

static void font(canvas *cv, double size, bool bold) {
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

static double text_w_raw(canvas *cv, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cv->cr, s, &te);
    return te.x_advance;
}

/* Height of the capital letters of the current font (the anchor of vertical alignment). */
static double cap_h(canvas *cv) {
    cairo_text_extents_t te;
    cairo_text_extents(cv->cr, "H", &te);
    return te.height > 0 ? -te.y_bearing : 0.72 * cv->fs;
}

/* Draws s anchored at (x, y): ax = 0 / 0.5 / 1 puts x at the left / centre / right end of the
 * text, ay = 0 / 0.5 / 1 puts y at the top / middle / baseline of its capital letters. */
static void text_at(canvas *cv, double x, double y, const char *s, double ax, double ay) {
    char buf[256];
    clean_text(s, buf, sizeof buf);
    double w = text_w_raw(cv, buf);
    cairo_move_to(cv->cr, x - ax * w, y + cap_h(cv) * (1 - ay));
    cairo_show_text(cv->cr, buf);
    cairo_new_path(cv->cr);
}

/* The same, turned 90 degrees anticlockwise (reading upwards); ax runs along the text. */
static void text_up(canvas *cv, double x, double y, const char *s, double ax, double ay) {
    cairo_save(cv->cr);
    cairo_translate(cv->cr, x, y);
    cairo_rotate(cv->cr, -PLOT_PI / 2);
    text_at(cv, 0, 0, s, ax, ay);
    cairo_restore(cv->cr);
}

/* s cleaned and, when wider than maxw pixels, shortened to fit with a trailing ellipsis. */
static void fit_text(canvas *cv, const char *s, double maxw, char *buf, size_t size) {
    VG_ASSERT(size >= 8);
    clean_text(s, buf, size - 3); /* room for the 3 bytes of the ellipsis */
    if (text_w_raw(cv, buf) <= maxw) return;
    size_t n = strlen(buf);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf + n, "\xE2\x80\xA6", 4); /* U+2026 and the terminator */
        if (text_w_raw(cv, buf) <= maxw) return;
    }
}

/* ---- axes */

typedef struct {
    double lo, hi; /* data range shown */
    double step;   /* between ticks */
    double p0, p1; /* pixels of lo and hi */
} axis;

static double ax_map(const axis *a, double v) {
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
static double nice_next(double step) {
    return nice_at_least(step * 1.5);
}

/* Range [dmin, dmax] of the data, widened by 5% on each side (pad), or to +-10% around a flat
 * value (+-1 for whole numbers, or around 0). Step for at most max_ticks intervals. */
static void axis_auto(axis *a, double dmin, double dmax, bool pad, bool whole, int max_ticks) {
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
static int axis_ticks(const axis *a, double *t) {
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
static double ticks_width(canvas *cv, const axis *a) {
    double t[64];
    int n = axis_ticks(a, t);
    double m = ticks_maxabs(t, n), w = 0;
    char buf[48];
    for (int i = 0; i < n; i++) {
        fmt_tick(buf, sizeof buf, t[i], a->step, m);
        w = fmax(w, text_w_raw(cv, buf));
    }
    return w;
}

/* Liang-Barsky: clips segment s = (x0, y0, x1, y1) to r in place; false when nothing is left.
 * An end inside r is kept bit for bit, so consecutive segments still join. */
static bool clip_segment(double s[4], const rect *r) {
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

static bool inside(const rect *r, double x, double y) {
    return x >= r->x && x <= r->x + r->w && y >= r->y && y <= r->y + r->h;
}

/* Grid lines at the ticks of both axes, across r (drawn under the data). */
static void draw_grid(canvas *cv, const rect *r, const axis *ax, const axis *ay) {
    double t[64];
    cairo_set_line_width(cv->cr, 1);
    rgb(cv, GRID);
    int n = axis_ticks(ax, t);
    for (int i = 0; i < n; i++) {
        double x = floor(ax_map(ax, t[i])) + 0.5;
        cairo_move_to(cv->cr, x, r->y);
        cairo_line_to(cv->cr, x, r->y + r->h);
    }
    n = axis_ticks(ay, t);
    for (int i = 0; i < n; i++) {
        double y = floor(ax_map(ay, t[i])) + 0.5;
        cairo_move_to(cv->cr, r->x, y);
        cairo_line_to(cv->cr, r->x + r->w, y);
    }
    cairo_stroke(cv->cr);
}

/* Frame of r, the ticks below and left of it and their labels (drawn over the data). */
static void draw_frame(canvas *cv, const rect *r, const axis *ax, const axis *ay) {
    cairo_t *cr = cv->cr;
    double t[128]; /* x ticks, then y ticks */
    char buf[48];
    rgb(cv, TICK_INK);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, r->x + 0.5, r->y + 0.5, r->w, r->h);
    double bottom = r->y + r->h + 0.5;
    int n = axis_ticks(ax, t);
    for (int i = 0; i < n; i++) {
        double x = floor(ax_map(ax, t[i])) + 0.5;
        cairo_move_to(cr, x, bottom);
        cairo_line_to(cr, x, bottom + 5);
    }
    int m = axis_ticks(ay, t + n);
    for (int i = 0; i < m; i++) {
        double y = floor(ax_map(ay, t[n + i])) + 0.5;
        cairo_move_to(cr, r->x + 0.5, y);
        cairo_line_to(cr, r->x - 4.5, y);
    }
    cairo_stroke(cr);
    font(cv, 12, false);
    double mx = ticks_maxabs(t, n), my = ticks_maxabs(t + n, m);
    for (int i = 0; i < n; i++) {
        fmt_tick(buf, sizeof buf, t[i], ax->step, mx);
        text_at(cv, floor(ax_map(ax, t[i])) + 0.5, bottom + 8, buf, 0.5, 0);
    }
    for (int i = 0; i < m; i++) {
        fmt_tick(buf, sizeof buf, t[n + i], ay->step, my);
        text_at(cv, r->x - 8, floor(ax_map(ay, t[n + i])) + 0.5, buf, 1, 0.5);
    }
}

/* ---- legend: a white box of rows "swatch  text" */

typedef struct {
    const char *text;
    const double *rgb;
    int line;      /* 0 none, 1 solid, 2 dashed */
    double marker; /* radius of a dot in the swatch, 0 = none */
} legend_entry;

enum { LEG_FS = 12, LEG_ROW = 20, LEG_PAD = 8, LEG_SWATCH = 26, LEG_GAP = 7 };

/* Size of the legend whose texts are cut to fit maxw pixels overall. */
static void legend_size(canvas *cv, const legend_entry *e, int n, double maxw, double *w,
                        double *h) {
    font(cv, LEG_FS, false);
    double tw = 0;
    char buf[256];
    for (int i = 0; i < n; i++) {
        fit_text(cv, e[i].text, maxw - 2 * LEG_PAD - LEG_SWATCH - LEG_GAP, buf, sizeof buf);
        tw = fmax(tw, text_w_raw(cv, buf));
    }
    *w = ceil(2 * LEG_PAD + LEG_SWATCH + LEG_GAP + tw);
    *h = 2 * LEG_PAD + n * LEG_ROW - 4;
}

static void legend_draw(canvas *cv, double x, double y, double w, double h, const legend_entry *e,
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
    font(cv, LEG_FS, false);
    char buf[256];
    for (int i = 0; i < n; i++) {
        double cy = y + LEG_PAD - 2 + (i + 0.5) * LEG_ROW, sx = x + LEG_PAD;
        rgb(cv, e[i].rgb);
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
        rgb(cv, INK);
        fit_text(cv, e[i].text, maxw - 2 * LEG_PAD - LEG_SWATCH - LEG_GAP, buf, sizeof buf);
        text_at(cv, sx + LEG_SWATCH + LEG_GAP, cy, buf, 0, 0.5);
    }
}

/* ---- training curves */

static const vg_plot_panel DEFAULT_PANELS[2] = {
    {"loss", "epoch", "loss", 0, 0},
    {"accuracy", "epoch", "accuracy", 0, 0},
};

enum { MAX_LEGEND = 16, MARKERS_UP_TO = 40 };

static bool point_at(const vg_curve *c, int i, double *x, double *y) {
    double xv = c->x ? (double)c->x[i] : (double)i + 1, yv = c->y[i];
    if (!isfinite(xv) || !isfinite(yv)) return false;
    *x = xv;
    *y = yv;
    return true;
}

static int curve_points(const vg_curve *c) {
    int k = 0;
    double x, y;
    for (int i = 0; i < c->n; i++)
        k += point_at(c, i, &x, &y);
    return k;
}

/* Walks the finite points of c in pixels, the segments between them clipped to `clip`; adds
 * the visible segments to the path when `path`. Returns the length of curve inside `clip` plus
 * 12 per point inside: the cost of hiding that rectangle under a legend. */
static double walk_curve(canvas *cv, const vg_curve *c, const axis *ax, const axis *ay,
                         const rect *clip, bool path) {
    double cost = 0, px = 0, py = 0, lx = NAN, ly = NAN;
    bool have = false;
    for (int i = 0; i < c->n; i++) {
        double x, y;
        if (!point_at(c, i, &x, &y)) continue;
        double qx = ax_map(ax, x), qy = ax_map(ay, y);
        if (inside(clip, qx, qy)) cost += 12;
        if (have) {
            double s[4] = {px, py, qx, qy};
            if (clip_segment(s, clip)) {
                cost += hypot(s[2] - s[0], s[3] - s[1]);
                if (path) {
                    if (s[0] != lx || s[1] != ly) cairo_move_to(cv->cr, s[0], s[1]);
                    cairo_line_to(cv->cr, s[2], s[3]);
                }
                lx = s[2];
                ly = s[3];
            }
        }
        px = qx;
        py = qy;
        have = true;
    }
    return cost;
}

static void curve_markers(canvas *cv, const vg_curve *c, const axis *ax, const axis *ay,
                          const rect *clip, double radius) {
    for (int i = 0; i < c->n; i++) {
        double x, y;
        if (!point_at(c, i, &x, &y)) continue;
        double qx = ax_map(ax, x), qy = ax_map(ay, y);
        if (!inside(clip, qx, qy)) continue;
        cairo_new_sub_path(cv->cr);
        cairo_arc(cv->cr, qx, qy, radius, 0, 2 * PLOT_PI);
    }
    cairo_fill(cv->cr);
}

/* Panel p of the figure: the strip [p * VG_PLOT_PANEL_W, (p + 1) * VG_PLOT_PANEL_W), its top
 * at top0 (under the figure's title). */
static void draw_panel(canvas *cv, int p, const vg_plot_panel *pn, const vg_curve *curves,
                       int n_curves, double top0) {
    const double x_left = (double)p * VG_PLOT_PANEL_W, H = VG_PLOT_PANEL_H;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    bool whole = true;
    int npts = 0;
    for (int c = 0; c < n_curves; c++) {
        if (curves[c].panel != p) continue;
        for (int i = 0; i < curves[c].n; i++) {
            double x, y;
            if (!point_at(&curves[c], i, &x, &y)) continue;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
            whole = whole && x == floor(x) && fabs(x) < 1e9;
            npts++;
        }
    }

    /* y first: its tick labels set the left margin */
    rect r;
    r.y = top0 + (pn->title ? 30 : 8);
    r.h = H - 58 - r.y;
    axis ax, ay;
    int mty = (int)(r.h / 45) > 2 ? (int)(r.h / 45) : 2;
    if (isfinite(pn->y_lo) && isfinite(pn->y_hi) && pn->y_lo < pn->y_hi)
        axis_auto(&ay, pn->y_lo, pn->y_hi, false, false, mty);
    else if (npts)
        axis_auto(&ay, ymin, ymax, true, false, mty);
    else
        axis_auto(&ay, 0, 1, false, false, mty);
    ay.p0 = r.y + r.h;
    ay.p1 = r.y;
    font(cv, 12, false);
    r.x = ceil(x_left + 12 + (pn->y_label ? 20 : 0) + ticks_width(cv, &ay) + 10);
    r.w = x_left + VG_PLOT_PANEL_W - 22 - r.x;

    int mtx = (int)(r.w / 70) > 2 ? (int)(r.w / 70) : 2;
    if (npts)
        axis_auto(&ax, xmin, xmax, true, whole, mtx);
    else
        axis_auto(&ax, 0, 1, false, false, mtx);
    ax.p0 = r.x;
    ax.p1 = r.x + r.w;
    for (int k = 0; k < 8; k++) { /* wider steps until the x labels cannot touch */
        double t[64];
        int n = axis_ticks(&ax, t);
        if (n * (ticks_width(cv, &ax) + 16) <= r.w) break;
        ax.step = nice_next(ax.step);
    }

    draw_grid(cv, &r, &ax, &ay);
    cairo_save(cv->cr);
    cairo_rectangle(cv->cr, r.x - 4, r.y - 4, r.w + 9, r.h + 9); /* whole lines on the frame */
    cairo_clip(cv->cr);
    cairo_set_line_width(cv->cr, 2);
    for (int c = 0, k = 0; c < n_curves; c++) {
        if (curves[c].panel != p) continue;
        rgb(cv, PALETTE[k++ % 10]);
        walk_curve(cv, &curves[c], &ax, &ay, &r, true);
        cairo_stroke(cv->cr);
        int np = curve_points(&curves[c]);
        if (np <= MARKERS_UP_TO) curve_markers(cv, &curves[c], &ax, &ay, &r, np == 1 ? 4 : 3);
    }
    cairo_restore(cv->cr);
    if (!npts) {
        font(cv, 14, false);
        cairo_set_source_rgb(cv->cr, 0.55, 0.55, 0.55);
        text_at(cv, r.x + r.w / 2, r.y + r.h / 2, "no data", 0.5, 0.5);
    }
    draw_frame(cv, &r, &ax, &ay);

    char buf[256];
    rgb(cv, INK);
    font(cv, 13, false);
    if (pn->x_label) {
        fit_text(cv, pn->x_label, r.w, buf, sizeof buf);
        text_at(cv, r.x + r.w / 2, H - 16, buf, 0.5, 0.5);
    }
    if (pn->y_label) {
        fit_text(cv, pn->y_label, r.h, buf, sizeof buf);
        text_up(cv, x_left + 20, r.y + r.h / 2, buf, 0.5, 0.5);
    }
    if (pn->title) {
        font(cv, 14, true);
        fit_text(cv, pn->title, r.w, buf, sizeof buf);
        text_at(cv, r.x + r.w / 2, r.y - 14, buf, 0.5, 0.5);
    }

    /* legend in the corner that hides the least of the curves (top right, bottom right, top
     * left, bottom left on a tie) */
    legend_entry e[MAX_LEGEND];
    int ne = 0;
    for (int c = 0, k = 0; c < n_curves; c++) {
        if (curves[c].panel != p) continue;
        const double *col = PALETTE[k++ % 10];
        if (!curves[c].name || ne == MAX_LEGEND) continue;
        e[ne++] = (legend_entry){curves[c].name, col, 1,
                                 curve_points(&curves[c]) <= MARKERS_UP_TO ? 3 : 0};
    }
    if (!ne) return;
    double lw, lh, maxw = r.w - 16;
    legend_size(cv, e, ne, maxw, &lw, &lh);
    const double cx[4] = {r.x + r.w - 8 - lw, r.x + r.w - 8 - lw, r.x + 8, r.x + 8};
    const double cy[4] = {r.y + 8, r.y + r.h - 8 - lh, r.y + 8, r.y + r.h - 8 - lh};
    int best = 0;
    double best_cost = INFINITY;
    for (int k = 0; k < 4; k++) {
        rect box = {cx[k] - 4, cy[k] - 4, lw + 8, lh + 8};
        double cost = 0;
        for (int c = 0; c < n_curves; c++)
            if (curves[c].panel == p) cost += walk_curve(cv, &curves[c], &ax, &ay, &box, false);
        if (cost < best_cost) {
            best_cost = cost;
            best = k;
        }
    }
    legend_draw(cv, cx[best], cy[best], lw, lh, e, ne, maxw);
}

vg_status vg_plot_curves(const char *path, const char *title, const vg_curve *curves, int n_curves,
                         const vg_plot_panel *panels, int n_panels, vg_err *err) {
    if (!path) return vg_err_set(err, VG_ERR_ARG, "plot: no output path");
    if (!panels) {
        panels = DEFAULT_PANELS;
        n_panels = 2;
    }
    if (n_panels < 1 || n_panels > 4)
        return vg_err_set(err, VG_ERR_ARG, "%s: %d panels; a figure has 1 to 4", path, n_panels);
    if (n_curves < 0 || (n_curves > 0 && !curves))
        return vg_err_set(err, VG_ERR_ARG, "%s: bad curve list (%d curves%s)", path, n_curves,
                          curves ? "" : ", NULL");
    for (int c = 0; c < n_curves; c++) {
        const vg_curve *cu = &curves[c];
        const char *name = cu->name ? cu->name : "unnamed";
        if (cu->panel < 0 || cu->panel >= n_panels)
            return vg_err_set(err, VG_ERR_ARG, "%s: curve %d (%s) is on panel %d of 0..%d", path, c,
                              name, cu->panel, n_panels - 1);
        if (cu->n < 0 || (cu->n > 0 && !cu->y))
            return vg_err_set(err, VG_ERR_ARG, "%s: curve %d (%s) has %d points and %s y values",
                              path, c, name, cu->n, cu->y ? "some" : "no");
    }

    canvas cv;
    vg_status st = canvas_open(&cv, n_panels * VG_PLOT_PANEL_W, VG_PLOT_PANEL_H, path, err);
    if (st != VG_OK) return st;
    const double W = (double)n_panels * VG_PLOT_PANEL_W;
    if (title) {
        char buf[256];
        font(&cv, 18, true);
        rgb(&cv, INK);
        fit_text(&cv, title, W - 40, buf, sizeof buf);
        text_at(&cv, W / 2, 24, buf, 0.5, 0.5);
    }
    for (int p = 0; p < n_panels; p++)
        draw_panel(&cv, p, &panels[p], curves, n_curves, title ? 46 : 12);
    return canvas_save(&cv, path, err);
}

/* ---- confusion matrix */

enum { CONF_MAX_CLASSES = 100 };

int vg_plot_confusion_size(int n_classes) {
    int s = 200 + 50 * (n_classes > 0 ? (n_classes < 100 ? n_classes : 100) : 0);
    return s < 600 ? 600 : s > 1600 ? 1600 : s;
}

/* matplotlib's "Blues" colour map: white (0) to dark blue (1) */
static void blues(double f, double c[3]) {
    static const double stop[5][3] = {
        {247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107},
    };
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    int i = (int)(f * 4);
    if (i > 3) i = 3;
    double u = f * 4 - i;
    for (int k = 0; k < 3; k++)
        c[k] = (stop[i][k] + (stop[i + 1][k] - stop[i][k]) * u) / 255;
}

/* 1234 as "1234", 12345 as "12k", 2147483647 as "2.1G" */
static void fmt_count_short(char *buf, size_t size, long long v) {
    double d = (double)v;
    int k = -1;
    while (d >= 999.5 && k < 3) {
        d /= 1000;
        k++;
    }
    if (k < 0)
        snprintf(buf, size, "%lld", v);
    else
        snprintf(buf, size, d < 9.95 ? "%.1f%c" : "%.0f%c", d, "kMGT"[k]);
}

/* "93.1%", "100%", "<0.1%", ">99.9%" of part / whole (0 < part <= whole) */
static void fmt_pct(char *buf, size_t size, long long part, long long whole) {
    double pct = 100.0 * (double)part / (double)whole;
    if (part == whole)
        snprintf(buf, size, "100%%");
    else if (pct < 0.05)
        snprintf(buf, size, "<0.1%%");
    else if (pct >= 99.95)
        snprintf(buf, size, ">99.9%%");
    else
        snprintf(buf, size, "%.1f%%", pct);
}

vg_status vg_plot_confusion(const char *path, const char *title, const char *const *classes,
                            int n_classes, const int *counts, vg_err *err) {
    const int n = n_classes;
    if (!path) return vg_err_set(err, VG_ERR_ARG, "plot: no output path");
    if (n < 1)
        return vg_err_set(err, VG_ERR_ARG, "%s: a confusion matrix needs at least 1 class (got %d)",
                          path, n);
    if (n > CONF_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: %d classes; at most %d can be drawn", path,
                          n, CONF_MAX_CLASSES);
    if (!classes || !counts)
        return vg_err_set(err, VG_ERR_ARG, "%s: no %s", path, classes ? "counts" : "class names");
    for (int i = 0; i < n; i++)
        if (!classes[i]) return vg_err_set(err, VG_ERR_ARG, "%s: class %d has no name", path, i);
    long long row[CONF_MAX_CLASSES], total = 0, correct = 0;
    for (int i = 0; i < n; i++) {
        row[i] = 0;
        for (int j = 0; j < n; j++) {
            int v = counts[i * n + j];
            if (v < 0)
                return vg_err_set(err, VG_ERR_ARG,
                                  "%s: count of true class %d, predicted %d is negative (%d)", path,
                                  i, j, v);
            row[i] += v;
        }
        total += row[i];
        correct += counts[i * n + i];
    }

    const int S = vg_plot_confusion_size(n);
    canvas cv;
    vg_status st = canvas_open(&cv, S, S, path, err);
    if (st != VG_OK) return st;
    cairo_t *cr = cv.cr;
    char buf[256];

    /* layout: class names (cut to 22% of the figure) on the left and below, row totals and the
     * colour bar on the right; names below turn upright when they do not fit under a cell */
    char names[CONF_MAX_CLASSES][96]; /* 9.6 kB */
    const double lf = n <= 12 ? 13 : 11;
    font(&cv, lf, false);
    double lw = 0, cap = cap_h(&cv);
    for (int i = 0; i < n; i++) {
        fit_text(&cv, classes[i], 0.22 * S, names[i], sizeof names[i]);
        lw = fmax(lw, text_w_raw(&cv, names[i]));
    }
    font(&cv, 11, false);
    double tw = 0;
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "n=%lld", row[i]);
        tw = fmax(tw, text_w_raw(&cv, buf));
    }
    double pw = text_w_raw(&cv, "100%");
    double top = title ? 76 : 44, left = 16 + 18 + 10 + lw + 10;
    double right = 10 + tw + 16 + 14 + 6 + pw + 14;
    double below = cap; /* extent of the names under the matrix */
    double cell = floor(fmin((S - left - right) / n, (S - top - (below + 52)) / n));
    bool upright = false;
    font(&cv, lf, false);
    for (int i = 0; i < n; i++)
        upright = upright || text_w_raw(&cv, names[i]) > cell - 6;
    if (upright) {
        below = lw;
        cell = floor(fmin((S - left - right) / n, (S - top - (below + 52)) / n));
    }
    cell = fmax(fmin(cell, 180), 2);
    const double mw = n * cell;
    const double x0 = floor(left + (S - left - right - mw) / 2);
    /* the whole block (title, accuracy, matrix, names) centred vertically */
    const double oy = floor((S - top - mw - (below + 52)) / 2), y0 = oy + top;
    if (title) {
        font(&cv, 18, true);
        rgb(&cv, INK);
        fit_text(&cv, title, S - 40, buf, sizeof buf);
        text_at(&cv, S / 2.0, oy + 26, buf, 0.5, 0.5);
    }
    if (total > 0)
        snprintf(buf, sizeof buf, "accuracy %.1f%% (%lld of %lld correct)",
                 100.0 * (double)correct / (double)total, correct, total);
    else
        snprintf(buf, sizeof buf, "no samples");
    font(&cv, 13, false);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    text_at(&cv, S / 2.0, oy + (title ? 52 : 22), buf, 0.5, 0.5);

    /* cell text: the count (bold) over the row percentage; one size for every cell, shrunk
     * for the widest count down to 10 pixels; a count still too wide is abbreviated ("2.1G"),
     * and what does not fit its cell is left out */
    double fs = fmin(fmax(cell * 0.3, 8), 20);
    font(&cv, fs, true);
    double cw = 0;
    for (int i = 0; i < n * n; i++) {
        snprintf(buf, sizeof buf, "%d", counts[i]);
        cw = fmax(cw, text_w_raw(&cv, buf));
    }
    if (cw > cell - 8) fs = fmax(floor(fs * (cell - 8) / cw), fmin(fs, 10));
    const double pf = floor(fs * 0.8);
    font(&cv, fs, true);
    const double cap1 = cap_h(&cv);
    font(&cv, pf, false);
    const double cap2 = cap_h(&cv), gap = 0.5 * cap1, block = cap1 + gap + cap2;
    const bool pct_rows = pf >= 7 && block <= cell - 6;

    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            int v = counts[i * n + j];
            double f = row[i] > 0 ? (double)v / (double)row[i] : 0, c[3];
            if (row[i] > 0)
                blues(f, c);
            else
                c[0] = c[1] = c[2] = 0.94;
            double x = x0 + j * cell, y = y0 + i * cell;
            cairo_rectangle(cr, x + 1, y + 1, cell - 2, cell - 2);
            rgb(&cv, c);
            cairo_fill(cr);
            if (cap1 > cell - 6) continue;
            char cnt[32], pct[16];
            font(&cv, fs, true);
            snprintf(cnt, sizeof cnt, "%d", v);
            if (text_w_raw(&cv, cnt) > cell - 6) fmt_count_short(cnt, sizeof cnt, v);
            if (text_w_raw(&cv, cnt) > cell - 6) continue;
            bool show_pct = false;
            if (v && pct_rows) {
                font(&cv, pf, false);
                fmt_pct(pct, sizeof pct, v, row[i]);
                show_pct = text_w_raw(&cv, pct) <= cell - 6;
            }
            double cx = x + cell / 2, cy = y + cell / 2;
            if (v == 0)
                cairo_set_source_rgb(cr, 0.62, 0.62, 0.62);
            else if (f > 0.5)
                cairo_set_source_rgb(cr, 1, 1, 1);
            else
                rgb(&cv, INK);
            font(&cv, fs, true);
            text_at(&cv, cx, cy - (show_pct ? block : cap1) / 2, cnt, 0.5, 0);
            if (show_pct) {
                font(&cv, pf, false);
                text_at(&cv, cx, cy - block / 2 + cap1 + gap, pct, 0.5, 0);
            }
        }
    }
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, mw - 1, mw - 1);
    cairo_stroke(cr);

    /* names, totals, axis titles; with cells lower than the text (many classes), only every
     * `every`-th row and column is named */
    const int every = cell >= lf + 3 ? 1 : (int)ceil((lf + 3) / cell);
    font(&cv, lf, false);
    rgb(&cv, INK);
    for (int i = 0; i < n; i += every) {
        double c = floor(x0 + (i + 0.5) * cell) + 0.5, r = floor(y0 + (i + 0.5) * cell) + 0.5;
        text_at(&cv, x0 - 10, r, names[i], 1, 0.5);
        if (upright)
            text_up(&cv, c, y0 + mw + 10, names[i], 1, 0.5);
        else
            text_at(&cv, c, y0 + mw + 10, names[i], 0.5, 0);
    }
    font(&cv, 11, false);
    cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
    for (int i = 0; i < n; i += every) {
        snprintf(buf, sizeof buf, "n=%lld", row[i]);
        text_at(&cv, x0 + mw + 10, y0 + (i + 0.5) * cell, buf, 0, 0.5);
    }
    font(&cv, 14, true);
    rgb(&cv, INK);
    text_at(&cv, x0 + mw / 2, y0 + mw + 10 + below + 23, "predicted", 0.5, 0.5);
    text_up(&cv, x0 - 10 - lw - 19, y0 + mw / 2, "true", 0.5, 0.5);

    /* colour bar: fraction of the row */
    double bx = floor(x0 + mw + 10 + tw + 16), bw = 14;
    cairo_pattern_t *grad = cairo_pattern_create_linear(0, y0 + mw, 0, y0);
    for (int k = 0; k <= 4; k++) {
        double c[3];
        blues(k / 4.0, c);
        cairo_pattern_add_color_stop_rgb(grad, k / 4.0, c[0], c[1], c[2]);
    }
    cairo_rectangle(cr, bx, y0, bw, mw);
    cairo_set_source(cr, grad);
    cairo_fill(cr);
    cairo_pattern_destroy(grad);
    rgb(&cv, TICK_INK);
    cairo_rectangle(cr, bx + 0.5, y0 + 0.5, bw - 1, mw - 1);
    int bar_ticks = mw >= 100 ? 4 : 1; /* 0/25/50/75/100% or just the ends */
    for (int k = 0; k <= bar_ticks; k++) {
        double y = floor(y0 + mw - (mw - 1) * k / (double)bar_ticks) + 0.5;
        cairo_move_to(cr, bx + bw, y);
        cairo_line_to(cr, bx + bw + 4, y);
    }
    cairo_stroke(cr);
    font(&cv, 11, false);
    for (int k = 0; k <= bar_ticks; k++) {
        double y = floor(y0 + mw - (mw - 1) * k / (double)bar_ticks) + 0.5;
        snprintf(buf, sizeof buf, "%d%%", 100 * k / bar_ticks);
        text_at(&cv, bx + bw + 6, y, buf, 0, 0.5);
    }
    return canvas_save(&cv, path, err);
}

/* ---- ROC curve */

vg_status vg_plot_roc(const char *path, const char *title, const float *fpr, const float *tpr,
                      int n, float auc, float op_fpr, float op_tpr, vg_err *err) {
    if (!path) return vg_err_set(err, VG_ERR_ARG, "plot: no output path");
    if (n < 1 || !fpr || !tpr)
        return vg_err_set(err, VG_ERR_ARG, "%s: an ROC curve needs at least 1 point (got %d%s)",
                          path, n, fpr && tpr ? "" : ", NULL");
    bool sorted = true;
    for (int i = 0; i < n; i++) {
        if (!(fpr[i] >= 0 && fpr[i] <= 1 && tpr[i] >= 0 && tpr[i] <= 1))
            return vg_err_set(err, VG_ERR_ARG, "%s: ROC point %d (%g, %g) is outside [0, 1]", path,
                              i, (double)fpr[i], (double)tpr[i]);
        if (i > 0 && fpr[i] < fpr[i - 1]) sorted = false;
    }
    bool op = op_fpr >= 0 && op_tpr >= 0;
    if (op && !(op_fpr <= 1 && op_tpr <= 1))
        return vg_err_set(err, VG_ERR_ARG, "%s: operating point (%g, %g) is outside [0, 1]", path,
                          (double)op_fpr, (double)op_tpr);

    const int S = VG_PLOT_ROC_SIZE;
    canvas cv;
    vg_status st = canvas_open(&cv, S, S, path, err);
    if (st != VG_OK) return st;
    cairo_t *cr = cv.cr;
    char buf[256];
    if (title) {
        font(&cv, 18, true);
        rgb(&cv, INK);
        fit_text(&cv, title, S - 40, buf, sizeof buf);
        text_at(&cv, S / 2.0, 26, buf, 0.5, 0.5);
    }
    double top = title ? 50 : 16, left = 72, right = 24, bottom = 60;
    double side = floor(fmin(S - left - right, S - top - bottom));
    rect r = {floor(left + (S - left - right - side) / 2), top, side, side};
    axis ax = {-0.02, 1.02, 0.2, r.x, r.x + r.w}, ay = {-0.02, 1.02, 0.2, r.y + r.h, r.y};
    draw_grid(&cv, &r, &ax, &ay);

    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w + 1, r.h + 1);
    cairo_clip(cr);
    const double *blue = PALETTE[0], red[3] = {0.84, 0.15, 0.16}, grey[3] = {0.5, 0.5, 0.5};
    cairo_set_line_width(cr, 1.3);
    rgb(&cv, grey);
    cairo_set_dash(cr, (const double[]){6, 5}, 2, 0);
    cairo_move_to(cr, ax_map(&ax, 0), ax_map(&ay, 0));
    cairo_line_to(cr, ax_map(&ax, 1), ax_map(&ay, 1));
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (sorted && n >= 2) { /* the area under the curve */
        cairo_move_to(cr, ax_map(&ax, fpr[0]), ax_map(&ay, 0));
        for (int i = 0; i < n; i++)
            cairo_line_to(cr, ax_map(&ax, fpr[i]), ax_map(&ay, tpr[i]));
        cairo_line_to(cr, ax_map(&ax, fpr[n - 1]), ax_map(&ay, 0));
        cairo_close_path(cr);
        cairo_set_source_rgba(cr, blue[0], blue[1], blue[2], 0.13);
        cairo_fill(cr);
    }
    rgb(&cv, blue);
    cairo_set_line_width(cr, 2.2);
    cairo_move_to(cr, ax_map(&ax, fpr[0]), ax_map(&ay, tpr[0]));
    for (int i = 1; i < n; i++)
        cairo_line_to(cr, ax_map(&ax, fpr[i]), ax_map(&ay, tpr[i]));
    cairo_stroke(cr);
    if (n == 1) {
        cairo_arc(cr, ax_map(&ax, fpr[0]), ax_map(&ay, tpr[0]), 4, 0, 2 * PLOT_PI);
        cairo_fill(cr);
    }
    if (op) { /* dotted guides to both axes, then the point */
        double px = ax_map(&ax, op_fpr), py = ax_map(&ay, op_tpr);
        cairo_set_source_rgba(cr, red[0], red[1], red[2], 0.6);
        cairo_set_line_width(cr, 1);
        cairo_set_dash(cr, (const double[]){2, 3}, 2, 0);
        cairo_move_to(cr, px, r.y + r.h);
        cairo_line_to(cr, px, py);
        cairo_line_to(cr, r.x, py);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_arc(cr, px, py, 6, 0, 2 * PLOT_PI);
        rgb(&cv, red);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.5);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    draw_frame(&cv, &r, &ax, &ay);
    font(&cv, 13, false);
    rgb(&cv, INK);
    text_at(&cv, r.x + r.w / 2, S - 18, "false positive rate (false alarms)", 0.5, 0.5);
    text_up(&cv, 22, r.y + r.h / 2, "true positive rate (recall)", 0.5, 0.5);

    char l0[64], l2[96];
    if (isfinite(auc) && auc >= 0 && auc <= 1)
        snprintf(l0, sizeof l0, "ROC (AUC = %.3f)", (double)auc);
    else
        snprintf(l0, sizeof l0, "ROC");
    snprintf(l2, sizeof l2, "operating point: FPR %.1f%%, TPR %.1f%%", 100.0 * op_fpr,
             100.0 * op_tpr);
    legend_entry e[3] = {
        {l0, blue, 1, n == 1 ? 4 : 0},
        {"chance", grey, 2, 0},
        {l2, red, 0, 5},
    };
    int ne = op ? 3 : 2;
    double lw, lh;
    legend_size(&cv, e, ne, r.w - 16, &lw, &lh);
    legend_draw(&cv, r.x + r.w - 8 - lw, r.y + r.h - 8 - lh, lw, lh, e, ne, r.w - 16);
    return canvas_save(&cv, path, err);
}
