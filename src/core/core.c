/* core.c — error messages, checked reader/writer, file helpers (see core.h). */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(sizeof(float) == 4, "vigie stores IEEE-754 binary32 floats");

void vg_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "vigie: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

const char *vg_status_name(vg_status s) {
    switch (s) {
    case VG_OK: return "ok";
    case VG_ERR_ARG: return "invalid argument";
    case VG_ERR_IO: return "i/o error";
    case VG_ERR_FORMAT: return "format error";
    case VG_ERR_UNSUPPORTED: return "unsupported";
    case VG_ERR_NOMEM: return "out of memory";
    case VG_CANCELLED: return "cancelled";
    }
    return "unknown error";
}

vg_status vg_err_set(vg_err *err, vg_status s, const char *fmt, ...) {
    if (err) {
        err->status = s;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void vg_err_prefix(vg_err *err, const char *prefix) {
    if (!err) return;
    char tmp[VG_ERR_MSG_SIZE + 64];
    snprintf(tmp, sizeof tmp, "%s: %s", prefix, err->msg);
    size_t n = strlen(tmp); /* an overlong message is truncated */
    if (n >= sizeof err->msg) n = sizeof err->msg - 1;
    memcpy(err->msg, tmp, n);
    err->msg[n] = 0;
}

/* ---- reader */

const uint8_t *vg_rd_span(vg_rd *r, size_t n) {
    if (r->bad || n > r->n - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *s = r->p + r->pos;
    r->pos += n;
    return s;
}

bool vg_rd_bytes(vg_rd *r, void *dst, size_t n) {
    const uint8_t *s = vg_rd_span(r, n);
    if (!s) {
        memset(dst, 0, n);
        return false;
    }
    memcpy(dst, s, n);
    return true;
}

uint8_t vg_rd_u8(vg_rd *r) {
    const uint8_t *s = vg_rd_span(r, 1);
    return s ? s[0] : 0;
}
uint32_t vg_rd_u32(vg_rd *r) {
    const uint8_t *s = vg_rd_span(r, 4);
    return s ? vg_load_u32(s) : 0;
}
int32_t vg_rd_i32(vg_rd *r) { return (int32_t)vg_rd_u32(r); }
uint64_t vg_rd_u64(vg_rd *r) {
    const uint8_t *s = vg_rd_span(r, 8);
    return s ? vg_load_u64(s) : 0;
}
float vg_load_f32(const uint8_t *p) {
    uint32_t u = vg_load_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
float vg_rd_f32(vg_rd *r) {
    const uint8_t *s = vg_rd_span(r, 4);
    return s ? vg_load_f32(s) : 0.0f;
}

/* ---- writer */

static bool wr_reserve(vg_wr *w, size_t extra) {
    if (w->oom) return false;
    size_t need;
    if (!vg_add_size(w->n, extra, &need)) {
        w->oom = true;
        return false;
    }
    if (need <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = vg_realloc(w->p, cap);
    if (!p) {
        w->oom = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

void vg_wr_bytes(vg_wr *w, const void *src, size_t n) {
    if (n == 0 || !wr_reserve(w, n)) return;
    memcpy(w->p + w->n, src, n);
    w->n += n;
}
void vg_wr_u8(vg_wr *w, uint8_t v) { vg_wr_bytes(w, &v, 1); }
void vg_wr_u32(vg_wr *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    vg_wr_bytes(w, b, 4);
}
void vg_wr_i32(vg_wr *w, int32_t v) { vg_wr_u32(w, (uint32_t)v); }
void vg_wr_u64(vg_wr *w, uint64_t v) {
    vg_wr_u32(w, (uint32_t)v);
    vg_wr_u32(w, (uint32_t)(v >> 32));
}
void vg_wr_f32(vg_wr *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    vg_wr_u32(w, u);
}
void vg_wr_f32s(vg_wr *w, const float *v, size_t n) {
    /* the host is little-endian (checked in vg_model_load/save), so floats go out as-is */
    size_t bytes;
    if (!vg_mul_size(n, 4, &bytes)) {
        w->oom = true;
        return;
    }
    vg_wr_bytes(w, v, bytes);
}
void vg_wr_free(vg_wr *w) {
    free(w->p);
    w->p = NULL;
    w->n = w->cap = 0;
}

/* ---- files */

vg_status vg_file_first_line(const char *path, char *buf, size_t n, vg_err *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    vg_status st = vg_file_read(path, 4096, &data, &size, err);
    if (st != VG_OK) return st;
    size_t k = 0;
    while (k < size && k + 1 < n && data[k] != '\n' && data[k] != '\r') {
        buf[k] = (char)data[k];
        k++;
    }
    buf[k] = 0;
    free(data);
    return VG_OK;
}

vg_status vg_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       vg_err *err) {
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vg_err_set(err, VG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vg_err_set(err, VG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return vg_err_set(err, VG_ERR_IO, "%s: is a directory", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vg_err_set(err, VG_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: file too large (%lld bytes, limit %zu)",
                          path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = vg_malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vg_err_set(err, VG_ERR_IO, "%s: read failed at byte %zu: %s", path, got,
                              k == 0 ? "unexpected end of file" : strerror(e));
        }
        got += (size_t)k;
    }
    close(fd);
    *data = buf;
    *size = n;
    return VG_OK;
}

static void dir_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, size, ".");
    } else if (slash == path) {
        snprintf(dir, size, "/");
    } else {
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
    }
}

vg_status vg_file_write_atomic(const char *path, const void *data, size_t n, vg_err *err) {
    /* the rename would replace whatever is there: refuse devices, directories, sockets */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return vg_err_set(err, VG_ERR_IO, "%s: exists and is not a regular file; not replacing it",
                          path);
    size_t plen = strlen(path);
    char *tmp = vg_malloc(plen + 16);
    if (!tmp) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        vg_status s = vg_err_set(err, VG_ERR_IO, "%s: cannot create temporary file: %s", path,
                                 strerror(errno));
        free(tmp);
        return s;
    }
    const uint8_t *p = data;
    size_t done = 0;
    const char *what = NULL;
    int e = 0;
    while (done < n) {
        ssize_t k = write(fd, p + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            e = k < 0 ? errno : ENOSPC;
            what = "write";
            break;
        }
        done += (size_t)k;
    }
    if (!what && fchmod(fd, 0644) != 0) {
        e = errno;
        what = "chmod";
    }
    if (!what && fsync(fd) != 0) {
        e = errno;
        what = "fsync";
    }
    if (close(fd) != 0 && !what) {
        e = errno;
        what = "close";
    }
    if (!what && rename(tmp, path) != 0) {
        e = errno;
        what = "rename";
    }
    if (what) {
        unlink(tmp);
        free(tmp);
        return vg_err_set(err, VG_ERR_IO, "%s: %s failed after %zu of %zu bytes: %s", path, what,
                          done, n, strerror(e));
    }
    free(tmp);
    /* make the rename itself durable; failure here does not lose data already renamed */
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return VG_OK;
}

uint32_t vg_crc32(const void *data, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const uint8_t *p = data;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

uint64_t vg_hash64(const void *data, size_t n, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

size_t vg_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

double vg_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *vg_path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (b[0] == '/' || na == 0) na = 0;
    while (na > 1 && a[na - 1] == '/')
        na--;
    char *p = vg_malloc(na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    if (na && a[na - 1] != '/') p[na++] = '/'; /* the root "/" is its own separator */
    memcpy(p + na, b, nb + 1);
    return p;
}

/* ---- allocation with fault injection. One counter for the whole process (atomic: worker
 * threads allocate too); fail_at 0 = never. */

static _Atomic long alloc_count, alloc_fail_at;

void vg_fail_alloc(long n) {
    alloc_count = 0;
    alloc_fail_at = n > 0 ? n : 0;
}

long vg_alloc_count(void) { return alloc_count; }

static bool alloc_fails(void) {
    long k = ++alloc_count, f = alloc_fail_at;
    return f > 0 && k == f;
}

void *vg_malloc(size_t n) { return alloc_fails() ? NULL : malloc(n); }
void *vg_calloc(size_t count, size_t size) { return alloc_fails() ? NULL : calloc(count, size); }
void *vg_realloc(void *p, size_t n) { return alloc_fails() ? NULL : realloc(p, n); }
void *vg_aligned_alloc(size_t align, size_t n) {
    return alloc_fails() ? NULL : aligned_alloc(align, n);
}
char *vg_strdup(const char *s) { return alloc_fails() ? NULL : strdup(s); }
char *vg_strndup(const char *s, size_t n) { return alloc_fails() ? NULL : strndup(s, n); }

/* ---- cancellation */

struct vg_cancel {
    atomic_int flag;
};

vg_status vg_cancel_init(vg_cancel **out, vg_err *err) {
    *out = vg_calloc(1, sizeof **out);
    if (!*out) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    atomic_init(&(*out)->flag, 0);
    return VG_OK;
}

void vg_cancel_free(vg_cancel *c) { free(c); }

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "vg_cancel_request must be safe in a signal handler");

/* one lock-free store (atomic_int is lock-free on every target vigie builds for): safe in a
 * signal handler */
void vg_cancel_request(vg_cancel *c) {
    if (c) atomic_store(&c->flag, 1);
}

bool vg_cancel_requested(const vg_cancel *c) { return c && atomic_load(&((vg_cancel *)c)->flag); }

/* ---- timing statistics */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void vg_sort_doubles(double *v, int n) {
    if (n > 1) qsort(v, (size_t)n, sizeof *v, cmp_double);
}

double vg_percentile_sorted(const double *v, int n, double q) {
    if (n < 1) return 0;
    int k = (int)(q * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

void vg_vlogf(void (*log)(void *ud, const char *line), void *ud, const char *fmt, va_list ap) {
    if (!log) return;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    log(ud, line);
}
