/* fuzz_yolo.c — libFuzzer target for the detection-export parsers (yolo.c): label text and
 * data.yaml. The first byte picks the parser: even, the rest is a label file parsed with
 * n_names = byte / 2 classes; odd, the rest is a data.yaml, written to DIR/data.yaml in a
 * folder made once per process (bit 1 set: the folder is given, else the file). Nothing here
 * creates the folders a yaml names, so most yamls end in "no such folder", as they should.
 * Checked beyond "no crash, no leak, no UB": accepted boxes lie in the image (0 <= x0 <= x1
 * <= 1, the same for y) with a class in 0..n_names-1; an accepted yaml has names (non-empty,
 * distinct) and at least one existing entry; an error has a non-empty message that ends
 * within VG_ERR_MSG_SIZE. A violation abort()s, so libFuzzer reports it. */
#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], yaml[96];

static void remove_dir(void) {
    unlink(yaml);
    rmdir(dir);
}

/* the message of a failed call: set, and a string within the buffer */
static void check_err(const vg_err *err) {
    if (!memchr(err->msg, 0, sizeof err->msg) || !err->msg[0]) abort();
}

static void fuzz_labels(const char *text, size_t size, int n_names) {
    vg_box *boxes = NULL;
    int n = -1;
    vg_err err;
    memset(err.msg, 0x55, sizeof err.msg);
    if (vg_yolo_parse_labels(text, size, "fuzz.txt", n_names, &boxes, &n, &err) == VG_OK) {
        if (n < 0 || (n > 0 && !boxes)) abort();
        for (int i = 0; i < n; i++) {
            const vg_box *b = &boxes[i];
            if (!(0 <= b->x0 && b->x0 <= b->x1 && b->x1 <= 1)) abort();
            if (!(0 <= b->y0 && b->y0 <= b->y1 && b->y1 <= 1)) abort();
            if (b->cls < 0 || b->cls >= n_names) abort();
        }
    } else {
        check_err(&err);
        if (boxes || n != 0) abort();
    }
    free(boxes);
}

static void fuzz_yaml(const uint8_t *text, size_t size, bool give_dir) {
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/fuzz_yolo.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (strlen(dir) >= sizeof dir - 1 || !mkdtemp(dir)) abort();
        snprintf(yaml, sizeof yaml, "%s/data.yaml", dir);
        atexit(remove_dir);
    }
    FILE *f = fopen(yaml, "wb");
    if (!f) abort();
    if (size && fwrite(text, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    vg_yolo_spec s;
    vg_err err;
    memset(err.msg, 0x55, sizeof err.msg);
    if (vg_yolo_spec_read(give_dir ? dir : yaml, &s, &err) == VG_OK) {
        if (!s.yaml || !s.root || s.n_names < 1 || s.n_names > VG_MAX_CLASSES || !s.names) abort();
        for (int i = 0; i < s.n_names; i++) {
            if (!s.names[i] || !s.names[i][0]) abort();
            for (int j = 0; j < i; j++)
                if (strcmp(s.names[i], s.names[j]) == 0) abort();
        }
        int total = 0;
        for (int k = 0; k < VG_YOLO_SPLITS; k++) {
            if (s.n_entries[k] < 0 || (s.n_entries[k] > 0 && !s.entries[k])) abort();
            for (int i = 0; i < s.n_entries[k]; i++) {
                struct stat st;
                if (!s.entries[k][i] || stat(s.entries[k][i], &st) != 0) abort();
            }
            total += s.n_entries[k];
        }
        if (total < 1) abort();
    } else {
        check_err(&err);
    }
    vg_yolo_spec_free(&s);
    unlink(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1)
        fuzz_yaml(data + 1, size - 1, (data[0] & 2) != 0);
    else
        fuzz_labels((const char *)data + 1, size - 1, data[0] >> 1);
    return 0;
}
