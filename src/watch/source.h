/* source.h — where `vigie watch` gets its frames: a V4L2 camera (/dev/videoN, through FFmpeg's
 * device layer), a video file or a network stream (RTSP, HTTP, MJPEG... anything Debian's
 * FFmpeg opens), or a folder of images read in name order. Live sources (cameras, streams)
 * that fail to open or stop delivering are reopened with exponential back-off, each attempt
 * reported through the log callback; they never end on their own. Files and folders end (or
 * loop). Single-threaded: the watch loop reads it from its reader thread. */
#ifndef VG_WATCH_SOURCE_H
#define VG_WATCH_SOURCE_H

#include "core/core.h"

#include <stdatomic.h>



/* vg_watch_source_opts (how a source is read) and its defaults are in vigie.h. */

typedef struct vg_watch_source vg_watch_source;

/* Recognises the kind of `uri` and checks what can be checked at once: a folder must hold
 * images, a file must exist and open as a video (VG_ERR_IO / VG_ERR_FORMAT otherwise). A live
 * source is only opened by the first read, so a camera that is still off is not an error. */
vg_status vg_watch_source_open(vg_watch_source **out, const char *uri,
                               const vg_watch_source_opts *o, vg_err *err);
void vg_watch_source_free(vg_watch_source *s);

/* The next frame, RGB, into `img` (its buffer is reused when the size matches), with its
 * time `t` in seconds: the presentation time for files (continuing across loops), the time
 * since the source was opened for live sources, index / folder_fps for folders. *index is
 * the frame's number in the source (counting from 0, across loops and reconnects).
 * *got = false at the end (a file or folder without loop, or a stop request). Errors: a file
 * that cannot be read further, a live source past max_retries. An unreadable folder image is
 * reported through the log and skipped. */
vg_status vg_watch_source_read(vg_watch_source *s, vg_image *img, double *t, int64_t *index,
                               bool *got, vg_err *err);

vg_watch_src_kind vg_watch_source_kind(const vg_watch_source *s);
/* Frames are produced at the source's pace and must be dropped when the reader is behind. */
bool vg_watch_source_live(const vg_watch_source *s);
/* Reopen attempts so far, and frames / images that could not be decoded. */
int64_t vg_watch_source_reconnects(const vg_watch_source *s);
int64_t vg_watch_source_bad_frames(const vg_watch_source *s);
/* false while a live source is lost (between a failure and the next frame). */
bool vg_watch_source_ok(const vg_watch_source *s);

/* The names vg_watch_source_open would read from a folder, sorted (strcmp): images by their
 * extension (.jpg .jpeg .png .bmp, any case). For tests. */
vg_status vg_watch_folder_list(const char *dir, char ***names, int *n, vg_err *err);
void vg_watch_folder_list_free(char **names, int n);

#endif
