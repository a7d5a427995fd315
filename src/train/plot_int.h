/* plot_int.h — the drawing primitives the figures of plot.c are made of (plot_draw.c): a
 * canvas (cairo image surface, PNG out, atomic write), text that survives any bytes, axes with
 * nice ticks, clipping in double precision, legends. Internal to train/. */
#ifndef VG_PLOT_INT_H
#define VG_PLOT_INT_H

#include "train/plot.h"

/* as <cairo/cairo.h>, the header is found without pkg-config's -I/usr/include/cairo (it includes
 * its siblings with quotes), so no build rule needs extra flags */
#include <cairo/cairo.h>
#include <stdbool.h>
#include <stddef.h>

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

typedef struct {
    cairo_surface_t *s;
    cairo_t *cr;
    double fs;
} canvas;

typedef struct {
    double lo, hi; /* data range shown */
    double step;   /* between ticks */
    double p0, p1; /* pixels of lo and hi */
} axis;

typedef struct {
    const char *text;
    const double *rgb;
    int line;      /* 0 none, 1 solid, 2 dashed */
    double marker; /* radius of a dot in the swatch, 0 = none */
} legend_entry;

double vg_plot_ax_map(const axis *a, double v);
void vg_plot_axis_auto(axis *a, double dmin, double dmax, bool pad, bool whole, int max_ticks);
int vg_plot_axis_ticks(const axis *a, double *t);
vg_status vg_plot_canvas_open(canvas *cv, int w, int h, const char *path, vg_err *err);
vg_status vg_plot_canvas_save(canvas *cv, const char *path, vg_err *err);
double vg_plot_cap_h(canvas *cv);
bool vg_plot_clip_segment(double s[4], const rect *r);
void vg_plot_draw_frame(canvas *cv, const rect *r, const axis *ax, const axis *ay);
void vg_plot_draw_grid(canvas *cv, const rect *r, const axis *ax, const axis *ay);
void vg_plot_fit_text(canvas *cv, const char *s, double maxw, char *buf, size_t size);
void vg_plot_font(canvas *cv, double size, bool bold);
bool vg_plot_inside(const rect *r, double x, double y);
void vg_plot_legend_draw(canvas *cv, double x, double y, double w, double h, const legend_entry *e,
                         int n, double maxw);
void vg_plot_legend_size(canvas *cv, const legend_entry *e, int n, double maxw, double *w,
                         double *h);
double vg_plot_nice_next(double step);
void vg_plot_rgb(canvas *cv, const double c[3]);
void vg_plot_text_at(canvas *cv, double x, double y, const char *s, double ax, double ay);
void vg_plot_text_up(canvas *cv, double x, double y, const char *s, double ax, double ay);
double vg_plot_text_w_raw(canvas *cv, const char *s);
double vg_plot_ticks_width(canvas *cv, const axis *a);

#endif
