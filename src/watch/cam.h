/* cam.h — where in the frame the fire or smoke is: the class activation map (Zhou et al.,
 * 2016) of a classifier that ends in global pooling + a linear layer,
 *     CAM_S(x, y) = sum_k (sum_{c in S} w[c, k]) * f_k(x, y),
 * over the last feature map f (7x7 for a 224 input) and the classifier weights w, for a set S of
 * classes (fire and smoke together, or one class). Also the heat-map overlay of a frame and the
 * atomic JPEG writer of the alarm snapshots. Not here: deciding when to take a snapshot. */
#ifndef VG_WATCH_CAM_H
#define VG_WATCH_CAM_H

#include "model/model.h"

typedef struct {
    const vg_model *m; /* borrowed */
    int feat;          /* feature-map tensor */
    int cls_node;      /* the linear classifier (FC, or 1x1 conv on a 1x1 input) */
    int fh, fw, fc;    /* feature-map shape at the model's input size */
} vg_watch_cam;

/* Finds the feature map and the classifier of `m`; VG_ERR_UNSUPPORTED (with the reason) when
 * the model does not end in pooling + linear layer (+ softmax). Allocates nothing. */
vg_status vg_watch_cam_init(vg_watch_cam *c, const vg_model *m, vg_err *err);

/* The map of `frame` for the classes marked in classes[n_classes] into map[fh * fw] (row
 * major). Runs one float forward pass on a runner made for the call and freed after it, so
 * that the watch loop pays the memory only at an alarm start. */
vg_status vg_watch_cam_map(const vg_watch_cam *c, const vg_image *frame, const bool *classes,
                           float *map, vg_err *err);

/* Size of the heat map of a rows x cols layout (vigie.h, "tiles"): the feature map's (fh x fw)
 * for 1x1, else 2 rows fh x 2 cols fw cells, about twice as fine as one tile's own map. */
void vg_watch_cam_size(const vg_watch_cam *c, int rows, int cols, int *mh, int *mw);

/* The map of the whole frame seen through a rows x cols layout, into map[mh * mw]
 * (vg_watch_cam_size): each view's own map (as vg_watch_cam_map computes it for that part of
 * the frame) is sampled bilinearly at the cells whose centre lies inside the view, and a cell
 * takes the largest value of the views that see it (the whole frame sees every cell), the
 * same max rule as the views' scores. 1x1 is vg_watch_cam_map. The views run one at a time on
 * one batch-1 runner made for the call: the memory of vg_watch_cam_map, n_views its time. */
vg_status vg_watch_cam_map_tiles(const vg_watch_cam *c, const vg_image *frame, int rows, int cols,
                                 const bool *classes, float *map, vg_err *err);

/* `frame` with the map, min-max normalised, upsampled bilinearly (half-pixel centres) to the
 * frame, colour-mapped (black-red-yellow) and alpha-blended (opacity grows with the
 * heat, so cold areas stay untouched). `out` is allocated here. */
vg_status vg_watch_cam_overlay(const vg_image *frame, const float *map, int fh, int fw,
                               vg_image *out, vg_err *err);

/* Encodes an RGB image as JPEG (quality 1..100) and writes it atomically. */
vg_status vg_watch_jpeg_save(const vg_image *img, int quality, const char *path, vg_err *err);

#endif
