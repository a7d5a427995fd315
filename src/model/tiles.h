/* tiles.h — internal part of the tiled classification (vigie.h, "tiles"): the model inputs of
 * a list of views, shared by vg_runner_classify_tiles and the watch's heat map. */
#ifndef VG_TILES_H
#define VG_TILES_H

#include "core/core.h"

/* Each view of `img` resized and normalised as vg_image_to_input does for a whole image, into
 * out (n x spec->h x spec->w x spec->c floats, view after view). A view covering the whole
 * frame is the frame itself; any other is copied out of the frame first (one buffer of the
 * largest view, for the call). Views must lie inside the frame (VG_ERR_ARG otherwise). */
vg_status vg_tiles_inputs(const vg_image *img, const vg_rect *views, int n,
                          const vg_input_spec *spec, float *out, vg_err *err);

#endif
