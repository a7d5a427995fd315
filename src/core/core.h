/* core.h — internal plumbing shared by every module: error reporting, checked arithmetic on
 * sizes, a bounds-checked byte reader, a growable byte writer, whole-file reads and atomic
 * writes. Nothing here knows about neural networks. */
#ifndef VG_CORE_H
#define VG_CORE_H

#include "vigie.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define VG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VG_PRINTF(a, b)
#endif

/* Always-on check for programming errors inside the library (never for bad input). */
#define VG_ASSERT(c)                                                                             \
    do {                                                                                         \
        if (!(c)) vg_assert_fail(#c, __FILE__, __LINE__);                                        \
    } while (0)
_Noreturn void vg_assert_fail(const char *expr, const char *file, int line);

/* ---- allocation: every allocation of the library goes through these (not free: what they
 * return is released with free()), so that tests can make the n-th one fail (vg_fail_alloc in
 * vigie.h) and check that every path out of an allocation failure is a clean error. */
void *vg_malloc(size_t n);
void *vg_calloc(size_t count, size_t size);
void *vg_realloc(void *p, size_t n);
void *vg_aligned_alloc(size_t align, size_t n);
char *vg_strdup(const char *s);
char *vg_strndup(const char *s, size_t n);

/* Fills `err` (may be NULL) and returns `s`, so that `return vg_err_set(...)` reads well. */
vg_status vg_err_set(vg_err *err, vg_status s, const char *fmt, ...) VG_PRINTF(3, 4);
/* Prefixes an existing message with "prefix: ". */
void vg_err_prefix(vg_err *err, const char *prefix);

/* size arithmetic that reports overflow instead of wrapping */
static inline bool vg_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}
static inline bool vg_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

/* ---- checked reader: every read is bounds-checked; a failed read sets `bad` and returns 0
 * bytes, so parsers may read a whole record and test `bad` once. */
typedef struct {
    const uint8_t *p;
    size_t n;
    size_t pos;
    bool bad;
} vg_rd;

static inline vg_rd vg_rd_make(const void *p, size_t n) {
    vg_rd r = {(const uint8_t *)p, n, 0, false};
    return r;
}
bool vg_rd_bytes(vg_rd *r, void *dst, size_t n);
const uint8_t *vg_rd_span(vg_rd *r, size_t n); /* pointer into the buffer, or NULL */
uint8_t vg_rd_u8(vg_rd *r);
uint32_t vg_rd_u32(vg_rd *r);
int32_t vg_rd_i32(vg_rd *r);
uint64_t vg_rd_u64(vg_rd *r);
float vg_rd_f32(vg_rd *r);
static inline size_t vg_rd_left(const vg_rd *r) { return r->n - r->pos; }

/* little-endian loads from unaligned memory (the caller has checked the bounds) */
static inline uint16_t vg_load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t vg_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t vg_load_u64(const uint8_t *p) {
    return (uint64_t)vg_load_u32(p) | ((uint64_t)vg_load_u32(p + 4) << 32);
}
float vg_load_f32(const uint8_t *p);

/* ---- growable writer; allocation failure sets `oom` and later writes are dropped. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} vg_wr;

void vg_wr_bytes(vg_wr *w, const void *src, size_t n);
void vg_wr_u8(vg_wr *w, uint8_t v);
void vg_wr_u32(vg_wr *w, uint32_t v);
void vg_wr_i32(vg_wr *w, int32_t v);
void vg_wr_u64(vg_wr *w, uint64_t v);
void vg_wr_f32(vg_wr *w, float v);
void vg_wr_f32s(vg_wr *w, const float *v, size_t n);
void vg_wr_free(vg_wr *w);

/* ---- files */

/* Reads a whole regular file (at most `max_bytes`) into a malloc'ed buffer. */
/* A formatted line to a caller's log hook (progress and report hooks of training, evaluation,
 * optimization); nothing when log is NULL. Lines are cut at 2047 characters. */
void vg_vlogf(void (*log)(void *ud, const char *line), void *ud, const char *fmt, va_list ap)
    VG_PRINTF(3, 0);

vg_status vg_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       vg_err *err);
/* The first line of a small text file (at most 4 KiB read), without its end of line ("\n" or
 * "\r\n"), truncated to n - 1 bytes: a password file, a pointer file. */
vg_status vg_file_first_line(const char *path, char *buf, size_t n, vg_err *err);
/* Writes `n` bytes to `path` atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. On any failure the temp file is removed and `path` is untouched. */
vg_status vg_file_write_atomic(const char *path, const void *data, size_t n, vg_err *err);

/* "a/b" in a new string (free it), or NULL: b alone when it is absolute or a is empty; a's
 * trailing slashes are not doubled. */
char *vg_path_join(const char *a, const char *b);

uint32_t vg_crc32(const void *data, size_t n);

/* 64-bit FNV-1a, for content hashes (not security). */
uint64_t vg_hash64(const void *data, size_t n, uint64_t seed);

#endif
