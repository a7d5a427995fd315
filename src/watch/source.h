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

typedef enum {
    VG_WATCH_SRC_FOLDER = 0,
    VG_WATCH_SRC_FILE = 1,
    VG_WATCH_SRC_DEVICE = 2,  /* /dev/video* */
    VG_WATCH_SRC_NETWORK = 3, /* scheme://... */
} vg_watch_src_kind;

typedef void (*vg_watch_log_fn)(void *ud, const char *msg);

typedef struct {
    bool loop;             /* files and folders: start again at the end */
    bool realtime;         /* files and folders: deliver frames at their own pace, like a camera */
    double folder_fps;     /* folders: frames per second of the image sequence (> 0) */
    double reconnect_min;  /* first delay before reopening a live source, seconds (> 0) */
    double reconnect_max;  /* the delay doubles up to this */
    int max_retries;       /* failed attempts in a row before giving up; 0: never give up */
    double timeout;        /* live sources: seconds without data before the stream is lost */
    const char *const *av_opts; /* FFmpeg options "key=value" for opening the source */
    int n_av_opts;
    vg_watch_log_fn log;   /* reports (reconnects, unreadable images); may be NULL */
    void *log_ud;
    atomic_int *stop;      /* set (by a signal handler) to make every wait return; may be NULL */
} vg_watch_source_opts;

vg_watch_source_opts vg_watch_source_opts_default(void);

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
