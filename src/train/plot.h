/* plot.h — the PNG figures that `vigie train` and `vigie eval` write: training curves, a
 * confusion matrix and an ROC curve, drawn with cairo (text with cairo's "toy" font API, so
 * fontconfig picks whatever sans-serif font the system has; without any font the figures are
 * still written, only without text).
 *
 * Every function renders the whole figure in memory, encodes it as an 8-bit RGB PNG and writes
 * it with vg_file_write_atomic: on any error `path` is left as it was. Nothing is printed;
 * errors come back as a vg_status with a message that names the file:
 *     VG_ERR_ARG    bad input (no classes, a negative count, a curve on a panel that does not
 *                   exist, an ROC point outside [0, 1], ...);
 *     VG_ERR_IO     the file could not be written (the message carries the path);
 *     VG_ERR_NOMEM  the image or the encoded PNG could not be allocated.
 *
 * Example (the figure of a training run):
 *     vg_curve c[4] = {
 *         {"train", 0, epochs, NULL, train_loss}, {"val", 0, epochs, NULL, val_loss},
 *         {"train", 1, epochs, NULL, train_acc},  {"val", 1, epochs, NULL, val_acc},
 *     };
 *     vg_plot_curves("run/curves.png", "fire-v3", c, 4, NULL, 0, &err);
 *
 * Not here: interactive display, vector output, any statistics (see metrics.h). */
#ifndef VG_PLOT_H
#define VG_PLOT_H

#include "vigie.h"

/* One line of a curves figure. The colour is chosen by the curve's index among the curves of
 * the same panel, so "train" and "val" keep their colours from panel to panel. */
typedef struct {
    const char *name; /* legend entry, e.g. "train" or "val"; NULL = not in the legend */
    int panel;        /* 0 .. n_panels - 1 */
    int n;            /* number of points (0 = an empty curve, listed in the legend only) */
    const float *x;   /* n x values (epochs), or NULL for 1, 2, ..., n */
    const float *y;   /* n y values; NaN and infinite values are skipped (an epoch without
                       * validation), and the line joins the points on either side */
} vg_curve;

/* One panel (a pair of axes) of a curves figure. */
typedef struct {
    const char *title;   /* above the panel, e.g. "loss"; NULL = none */
    const char *x_label; /* axis titles; NULL = none */
    const char *y_label;
    float y_lo, y_hi; /* a fixed y range when y_lo < y_hi (points outside are clipped);
                       * otherwise the range covers the data */
} vg_plot_panel;

/* Size of a curves figure: panels side by side, each VG_PLOT_PANEL_W x VG_PLOT_PANEL_H. */
#define VG_PLOT_PANEL_W 500
#define VG_PLOT_PANEL_H 500
/* Size of an ROC figure (square). */
#define VG_PLOT_ROC_SIZE 600

/* Training curves: n_panels (1 to 4) panels side by side, each with its curves, ticks at
 * 1/2/5 x 10^k steps (whole numbers on x when every x is whole), axis titles and a legend
 * placed in the corner that hides the fewest points. panels == NULL (n_panels ignored) means
 * the two panels of a training run: "loss" and "accuracy" against "epoch". `title` may be
 * NULL. A panel without any finite point says "no data". */
vg_status vg_plot_curves(const char *path, const char *title, const vg_curve *curves, int n_curves,
                         const vg_plot_panel *panels, int n_panels, vg_err *err);

/* Side of the (square) confusion-matrix figure for n_classes: 600 up to 8 classes, then
 * growing by 50 pixels a class (1200 for 20) so that cells stay readable, at most 1600. */
int vg_plot_confusion_size(int n_classes);

/* Confusion matrix heat map: counts is n_classes x n_classes, row = true class, column =
 * predicted class. Cells are shaded by their fraction of the row (white 0% .. dark blue 100%,
 * with a colour bar) and show the count and the row percentage; rows are labelled with the
 * class names ("true", with the row totals on the right), columns below ("predicted"), names
 * too long being shortened with an ellipsis; the overall accuracy is written under the title.
 * 1 <= n_classes <= 100, every count >= 0. */
vg_status vg_plot_confusion(const char *path, const char *title, const char *const *classes,
                            int n_classes, const int *counts, vg_err *err);

/* ROC curve: n >= 1 points (fpr[i], tpr[i]) in [0, 1], in the order they are joined (as
 * vg_alarm_roc returns them), with the chance diagonal, the area under the curve shaded when
 * fpr is non-decreasing, `auc` in the legend (when it is in [0, 1]; pass NaN to leave it out)
 * and the operating point (op_fpr, op_tpr) — the alarm threshold chosen on validation —
 * marked, unless op_fpr < 0 or op_tpr < 0. */
vg_status vg_plot_roc(const char *path, const char *title, const float *fpr, const float *tpr,
                      int n, float auc, float op_fpr, float op_tpr, vg_err *err);

#endif
