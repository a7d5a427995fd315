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
#include "train/plot_int.h"

#include "core/core.h"

#include <math.h>
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
        double qx = vg_plot_ax_map(ax, x), qy = vg_plot_ax_map(ay, y);
        if (vg_plot_inside(clip, qx, qy)) cost += 12;
        if (have) {
            double s[4] = {px, py, qx, qy};
            if (vg_plot_clip_segment(s, clip)) {
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
        double qx = vg_plot_ax_map(ax, x), qy = vg_plot_ax_map(ay, y);
        if (!vg_plot_inside(clip, qx, qy)) continue;
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
        vg_plot_axis_auto(&ay, pn->y_lo, pn->y_hi, false, false, mty);
    else if (npts)
        vg_plot_axis_auto(&ay, ymin, ymax, true, false, mty);
    else
        vg_plot_axis_auto(&ay, 0, 1, false, false, mty);
    ay.p0 = r.y + r.h;
    ay.p1 = r.y;
    vg_plot_font(cv, 12, false);
    r.x = ceil(x_left + 12 + (pn->y_label ? 20 : 0) + vg_plot_ticks_width(cv, &ay) + 10);
    r.w = x_left + VG_PLOT_PANEL_W - 22 - r.x;

    int mtx = (int)(r.w / 70) > 2 ? (int)(r.w / 70) : 2;
    if (npts)
        vg_plot_axis_auto(&ax, xmin, xmax, true, whole, mtx);
    else
        vg_plot_axis_auto(&ax, 0, 1, false, false, mtx);
    ax.p0 = r.x;
    ax.p1 = r.x + r.w;
    for (int k = 0; k < 8; k++) { /* wider steps until the x labels cannot touch */
        double t[64];
        int n = vg_plot_axis_ticks(&ax, t);
        if (n * (vg_plot_ticks_width(cv, &ax) + 16) <= r.w) break;
        ax.step = vg_plot_nice_next(ax.step);
    }

    vg_plot_draw_grid(cv, &r, &ax, &ay);
    cairo_save(cv->cr);
    cairo_rectangle(cv->cr, r.x - 4, r.y - 4, r.w + 9, r.h + 9); /* whole lines on the frame */
    cairo_clip(cv->cr);
    cairo_set_line_width(cv->cr, 2);
    for (int c = 0, k = 0; c < n_curves; c++) {
        if (curves[c].panel != p) continue;
        vg_plot_rgb(cv, PALETTE[k++ % 10]);
        walk_curve(cv, &curves[c], &ax, &ay, &r, true);
        cairo_stroke(cv->cr);
        int np = curve_points(&curves[c]);
        if (np <= MARKERS_UP_TO) curve_markers(cv, &curves[c], &ax, &ay, &r, np == 1 ? 4 : 3);
    }
    cairo_restore(cv->cr);
    if (!npts) {
        vg_plot_font(cv, 14, false);
        cairo_set_source_rgb(cv->cr, 0.55, 0.55, 0.55);
        vg_plot_text_at(cv, r.x + r.w / 2, r.y + r.h / 2, "no data", 0.5, 0.5);
    }
    vg_plot_draw_frame(cv, &r, &ax, &ay);

    char buf[256];
    vg_plot_rgb(cv, INK);
    vg_plot_font(cv, 13, false);
    if (pn->x_label) {
        vg_plot_fit_text(cv, pn->x_label, r.w, buf, sizeof buf);
        vg_plot_text_at(cv, r.x + r.w / 2, H - 16, buf, 0.5, 0.5);
    }
    if (pn->y_label) {
        vg_plot_fit_text(cv, pn->y_label, r.h, buf, sizeof buf);
        vg_plot_text_up(cv, x_left + 20, r.y + r.h / 2, buf, 0.5, 0.5);
    }
    if (pn->title) {
        vg_plot_font(cv, 14, true);
        vg_plot_fit_text(cv, pn->title, r.w, buf, sizeof buf);
        vg_plot_text_at(cv, r.x + r.w / 2, r.y - 14, buf, 0.5, 0.5);
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
    vg_plot_legend_size(cv, e, ne, maxw, &lw, &lh);
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
    vg_plot_legend_draw(cv, cx[best], cy[best], lw, lh, e, ne, maxw);
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
    vg_status st = vg_plot_canvas_open(&cv, n_panels * VG_PLOT_PANEL_W, VG_PLOT_PANEL_H, path, err);
    if (st != VG_OK) return st;
    const double W = (double)n_panels * VG_PLOT_PANEL_W;
    if (title) {
        char buf[256];
        vg_plot_font(&cv, 18, true);
        vg_plot_rgb(&cv, INK);
        vg_plot_fit_text(&cv, title, W - 40, buf, sizeof buf);
        vg_plot_text_at(&cv, W / 2, 24, buf, 0.5, 0.5);
    }
    for (int p = 0; p < n_panels; p++)
        draw_panel(&cv, p, &panels[p], curves, n_curves, title ? 46 : 12);
    return vg_plot_canvas_save(&cv, path, err);
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
    vg_status st = vg_plot_canvas_open(&cv, S, S, path, err);
    if (st != VG_OK) return st;
    cairo_t *cr = cv.cr;
    char buf[256];

    /* layout: class names (cut to 22% of the figure) on the left and below, row totals and the
     * colour bar on the right; names below turn upright when they do not fit under a cell */
    char names[CONF_MAX_CLASSES][96]; /* 9.6 kB */
    const double lf = n <= 12 ? 13 : 11;
    vg_plot_font(&cv, lf, false);
    double lw = 0, cap = vg_plot_cap_h(&cv);
    for (int i = 0; i < n; i++) {
        vg_plot_fit_text(&cv, classes[i], 0.22 * S, names[i], sizeof names[i]);
        lw = fmax(lw, vg_plot_text_w_raw(&cv, names[i]));
    }
    vg_plot_font(&cv, 11, false);
    double tw = 0;
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "n=%lld", row[i]);
        tw = fmax(tw, vg_plot_text_w_raw(&cv, buf));
    }
    double pw = vg_plot_text_w_raw(&cv, "100%");
    double top = title ? 76 : 44, left = 16 + 18 + 10 + lw + 10;
    double right = 10 + tw + 16 + 14 + 6 + pw + 14;
    double below = cap; /* extent of the names under the matrix */
    double cell = floor(fmin((S - left - right) / n, (S - top - (below + 52)) / n));
    bool upright = false;
    vg_plot_font(&cv, lf, false);
    for (int i = 0; i < n; i++)
        upright = upright || vg_plot_text_w_raw(&cv, names[i]) > cell - 6;
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
        vg_plot_font(&cv, 18, true);
        vg_plot_rgb(&cv, INK);
        vg_plot_fit_text(&cv, title, S - 40, buf, sizeof buf);
        vg_plot_text_at(&cv, S / 2.0, oy + 26, buf, 0.5, 0.5);
    }
    if (total > 0)
        snprintf(buf, sizeof buf, "accuracy %.1f%% (%lld of %lld correct)",
                 100.0 * (double)correct / (double)total, correct, total);
    else
        snprintf(buf, sizeof buf, "no samples");
    vg_plot_font(&cv, 13, false);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    vg_plot_text_at(&cv, S / 2.0, oy + (title ? 52 : 22), buf, 0.5, 0.5);

    /* cell text: the count (bold) over the row percentage; one size for every cell, shrunk
     * for the widest count down to 10 pixels; a count still too wide is abbreviated ("2.1G"),
     * and what does not fit its cell is left out */
    double fs = fmin(fmax(cell * 0.3, 8), 20);
    vg_plot_font(&cv, fs, true);
    double cw = 0;
    for (int i = 0; i < n * n; i++) {
        snprintf(buf, sizeof buf, "%d", counts[i]);
        cw = fmax(cw, vg_plot_text_w_raw(&cv, buf));
    }
    if (cw > cell - 8) fs = fmax(floor(fs * (cell - 8) / cw), fmin(fs, 10));
    const double pf = floor(fs * 0.8);
    vg_plot_font(&cv, fs, true);
    const double cap1 = vg_plot_cap_h(&cv);
    vg_plot_font(&cv, pf, false);
    const double cap2 = vg_plot_cap_h(&cv), gap = 0.5 * cap1, block = cap1 + gap + cap2;
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
            vg_plot_rgb(&cv, c);
            cairo_fill(cr);
            if (cap1 > cell - 6) continue;
            char cnt[32], pct[16];
            vg_plot_font(&cv, fs, true);
            snprintf(cnt, sizeof cnt, "%d", v);
            if (vg_plot_text_w_raw(&cv, cnt) > cell - 6) fmt_count_short(cnt, sizeof cnt, v);
            if (vg_plot_text_w_raw(&cv, cnt) > cell - 6) continue;
            bool show_pct = false;
            if (v && pct_rows) {
                vg_plot_font(&cv, pf, false);
                fmt_pct(pct, sizeof pct, v, row[i]);
                show_pct = vg_plot_text_w_raw(&cv, pct) <= cell - 6;
            }
            double cx = x + cell / 2, cy = y + cell / 2;
            if (v == 0)
                cairo_set_source_rgb(cr, 0.62, 0.62, 0.62);
            else if (f > 0.5)
                cairo_set_source_rgb(cr, 1, 1, 1);
            else
                vg_plot_rgb(&cv, INK);
            vg_plot_font(&cv, fs, true);
            vg_plot_text_at(&cv, cx, cy - (show_pct ? block : cap1) / 2, cnt, 0.5, 0);
            if (show_pct) {
                vg_plot_font(&cv, pf, false);
                vg_plot_text_at(&cv, cx, cy - block / 2 + cap1 + gap, pct, 0.5, 0);
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
    vg_plot_font(&cv, lf, false);
    vg_plot_rgb(&cv, INK);
    for (int i = 0; i < n; i += every) {
        double c = floor(x0 + (i + 0.5) * cell) + 0.5, r = floor(y0 + (i + 0.5) * cell) + 0.5;
        vg_plot_text_at(&cv, x0 - 10, r, names[i], 1, 0.5);
        if (upright)
            vg_plot_text_up(&cv, c, y0 + mw + 10, names[i], 1, 0.5);
        else
            vg_plot_text_at(&cv, c, y0 + mw + 10, names[i], 0.5, 0);
    }
    vg_plot_font(&cv, 11, false);
    cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
    for (int i = 0; i < n; i += every) {
        snprintf(buf, sizeof buf, "n=%lld", row[i]);
        vg_plot_text_at(&cv, x0 + mw + 10, y0 + (i + 0.5) * cell, buf, 0, 0.5);
    }
    vg_plot_font(&cv, 14, true);
    vg_plot_rgb(&cv, INK);
    vg_plot_text_at(&cv, x0 + mw / 2, y0 + mw + 10 + below + 23, "predicted", 0.5, 0.5);
    vg_plot_text_up(&cv, x0 - 10 - lw - 19, y0 + mw / 2, "true", 0.5, 0.5);

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
    vg_plot_rgb(&cv, TICK_INK);
    cairo_rectangle(cr, bx + 0.5, y0 + 0.5, bw - 1, mw - 1);
    int bar_ticks = mw >= 100 ? 4 : 1; /* 0/25/50/75/100% or just the ends */
    for (int k = 0; k <= bar_ticks; k++) {
        double y = floor(y0 + mw - (mw - 1) * k / (double)bar_ticks) + 0.5;
        cairo_move_to(cr, bx + bw, y);
        cairo_line_to(cr, bx + bw + 4, y);
    }
    cairo_stroke(cr);
    vg_plot_font(&cv, 11, false);
    for (int k = 0; k <= bar_ticks; k++) {
        double y = floor(y0 + mw - (mw - 1) * k / (double)bar_ticks) + 0.5;
        snprintf(buf, sizeof buf, "%d%%", 100 * k / bar_ticks);
        vg_plot_text_at(&cv, bx + bw + 6, y, buf, 0, 0.5);
    }
    return vg_plot_canvas_save(&cv, path, err);
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
    vg_status st = vg_plot_canvas_open(&cv, S, S, path, err);
    if (st != VG_OK) return st;
    cairo_t *cr = cv.cr;
    char buf[256];
    if (title) {
        vg_plot_font(&cv, 18, true);
        vg_plot_rgb(&cv, INK);
        vg_plot_fit_text(&cv, title, S - 40, buf, sizeof buf);
        vg_plot_text_at(&cv, S / 2.0, 26, buf, 0.5, 0.5);
    }
    double top = title ? 50 : 16, left = 72, right = 24, bottom = 60;
    double side = floor(fmin(S - left - right, S - top - bottom));
    rect r = {floor(left + (S - left - right - side) / 2), top, side, side};
    axis ax = {-0.02, 1.02, 0.2, r.x, r.x + r.w}, ay = {-0.02, 1.02, 0.2, r.y + r.h, r.y};
    vg_plot_draw_grid(&cv, &r, &ax, &ay);

    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w + 1, r.h + 1);
    cairo_clip(cr);
    const double *blue = PALETTE[0], red[3] = {0.84, 0.15, 0.16}, grey[3] = {0.5, 0.5, 0.5};
    cairo_set_line_width(cr, 1.3);
    vg_plot_rgb(&cv, grey);
    cairo_set_dash(cr, (const double[]){6, 5}, 2, 0);
    cairo_move_to(cr, vg_plot_ax_map(&ax, 0), vg_plot_ax_map(&ay, 0));
    cairo_line_to(cr, vg_plot_ax_map(&ax, 1), vg_plot_ax_map(&ay, 1));
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (sorted && n >= 2) { /* the area under the curve */
        cairo_move_to(cr, vg_plot_ax_map(&ax, fpr[0]), vg_plot_ax_map(&ay, 0));
        for (int i = 0; i < n; i++)
            cairo_line_to(cr, vg_plot_ax_map(&ax, fpr[i]), vg_plot_ax_map(&ay, tpr[i]));
        cairo_line_to(cr, vg_plot_ax_map(&ax, fpr[n - 1]), vg_plot_ax_map(&ay, 0));
        cairo_close_path(cr);
        cairo_set_source_rgba(cr, blue[0], blue[1], blue[2], 0.13);
        cairo_fill(cr);
    }
    vg_plot_rgb(&cv, blue);
    cairo_set_line_width(cr, 2.2);
    cairo_move_to(cr, vg_plot_ax_map(&ax, fpr[0]), vg_plot_ax_map(&ay, tpr[0]));
    for (int i = 1; i < n; i++)
        cairo_line_to(cr, vg_plot_ax_map(&ax, fpr[i]), vg_plot_ax_map(&ay, tpr[i]));
    cairo_stroke(cr);
    if (n == 1) {
        cairo_arc(cr, vg_plot_ax_map(&ax, fpr[0]), vg_plot_ax_map(&ay, tpr[0]), 4, 0, 2 * PLOT_PI);
        cairo_fill(cr);
    }
    if (op) { /* dotted guides to both axes, then the point */
        double px = vg_plot_ax_map(&ax, op_fpr), py = vg_plot_ax_map(&ay, op_tpr);
        cairo_set_source_rgba(cr, red[0], red[1], red[2], 0.6);
        cairo_set_line_width(cr, 1);
        cairo_set_dash(cr, (const double[]){2, 3}, 2, 0);
        cairo_move_to(cr, px, r.y + r.h);
        cairo_line_to(cr, px, py);
        cairo_line_to(cr, r.x, py);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_arc(cr, px, py, 6, 0, 2 * PLOT_PI);
        vg_plot_rgb(&cv, red);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.5);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    vg_plot_draw_frame(&cv, &r, &ax, &ay);
    vg_plot_font(&cv, 13, false);
    vg_plot_rgb(&cv, INK);
    vg_plot_text_at(&cv, r.x + r.w / 2, S - 18, "false positive rate (false alarms)", 0.5, 0.5);
    vg_plot_text_up(&cv, 22, r.y + r.h / 2, "true positive rate (recall)", 0.5, 0.5);

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
    vg_plot_legend_size(&cv, e, ne, r.w - 16, &lw, &lh);
    vg_plot_legend_draw(&cv, r.x + r.w - 8 - lw, r.y + r.h - 8 - lh, lw, lh, e, ne, r.w - 16);
    return vg_plot_canvas_save(&cv, path, err);
}
