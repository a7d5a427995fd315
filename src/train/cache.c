/* cache.c — decodes every image of a training or validation set once and keeps it squashed to
 * S x S RGB bytes (see data.h), so that epochs cost a crop and a resample per image instead
 * of a JPEG decode.
 *
 * Where the pixels live: in one malloc'ed slab when they fit the caller's RAM budget,
 * otherwise in a file that is written with plain writes to a temporary name, renamed, and
 * mapped read-only; the kernel's page cache then decides what stays in memory. The file is
 * never modified in place (a rebuild renames a new file over it), so a mapping held by another
 * run keeps seeing its own, complete file.
 *
 * Cache file layout (little-endian):
 *     0  "VGCACHE\0"   8  u32 version   12 u32 S   16 u32 n   20 u32 good entries
 *     24 u64 key of S and the sample paths (also in the file name)
 *     32 u64 key of every image's size and modification time
 *     40 u64 payload offset   48 u64 payload bytes   56 u64 FNV-1a of bytes 0..55 and the table
 *     64 n bytes: 1 = entry decoded, 0 = bad
 *     payload (page-aligned): n * S * S * 3 bytes, entry i at payload + i * S * S * 3
 * The payload has no checksum: verifying hundreds of megabytes on every start would cost more
 * than the cache saves, a truncated file fails the size check, and a flipped pixel bit is
 * harmless noise for training.
 *
 * Decoding runs on a vg_pool in chunks of images; between chunks the calling thread reports
 * bad images (in entry order, so the reports are deterministic) and progress. */
#include "train/data.h"

#include "core/pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC    "VGCACHE"
#define CACHE_VERSION  1u
#define CACHE_HEADER   64
#define CACHE_ALIGN    4096
#define CACHE_MAX_SIZE 4096 /* largest S */

struct vg_cache {
    int n, size, n_good, n_classes;
    size_t entry; /* S * S * 3 */
    int *sample, *label;
    uint8_t *ok;
    uint8_t *pixels; /* entry i at pixels + i * entry */
    uint8_t *slab;   /* RAM mode: the malloc'ed pixels */
    void *map;       /* disk mode: the whole mapped file */
    size_t map_len;
    bool reused;
    char *file;
};

vg_cache_opts vg_cache_opts_default(void) {
    vg_cache_opts o;
    memset(&o, 0, sizeof o);
    o.size = 256;
    o.threads = 1;
    o.ram_budget = (size_t)512 << 20;
    return o;
}

void vg_cache_free(vg_cache *c) {
    if (!c) return;
    if (c->map) munmap(c->map, c->map_len);
    free(c->slab);
    free(c->sample);
    free(c->label);
    free(c->ok);
    free(c->file);
    free(c);
}

int vg_cache_count(const vg_cache *c) {
    return c->n;
}
int vg_cache_good(const vg_cache *c) {
    return c->n_good;
}
int vg_cache_size(const vg_cache *c) {
    return c->size;
}
bool vg_cache_ok(const vg_cache *c, int i) {
    VG_ASSERT(i >= 0 && i < c->n);
    return c->ok[i] != 0;
}
int vg_cache_label(const vg_cache *c, int i) {
    VG_ASSERT(i >= 0 && i < c->n);
    return c->label[i];
}
int vg_cache_sample(const vg_cache *c, int i) {
    VG_ASSERT(i >= 0 && i < c->n);
    return c->sample[i];
}
const uint8_t *vg_cache_pixels(const vg_cache *c, int i) {
    VG_ASSERT(i >= 0 && i < c->n);
    return c->ok[i] ? c->pixels + (size_t)i * c->entry : NULL;
}
void vg_cache_release(const vg_cache *c, int i) {
    VG_ASSERT(i >= 0 && i < c->n);
    if (!c->map || !c->ok[i]) return;
    /* drop this entry's pages from our page tables: they stay in the page cache, but no longer
     * count in the process's resident memory, so a disk cache keeps the memory budget. Entries
     * are not page-aligned; the pages shared with the neighbours are dropped too (rounding
     * outwards), else one page per entry stays resident (3 MB over the budget for 800 images
     * at 288 px). That is safe for a read-only shared file mapping: a neighbour being read
     * meanwhile just faults its page back in from the page cache, with the same bytes. */
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)(c->pixels + (size_t)i * c->entry), e = a + c->entry;
    uintptr_t lo = a / pg * pg, hi = (e + pg - 1) / pg * pg;
    uintptr_t map_end = ((uintptr_t)c->map + c->map_len + pg - 1) / pg * pg;
    if (hi > map_end) hi = map_end;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void vg_cache_class_counts(const vg_cache *c, int *counts) {
    for (int k = 0; k < c->n_classes; k++)
        counts[k] = 0;
    for (int i = 0; i < c->n; i++)
        if (c->ok[i]) counts[c->label[i]]++;
}
size_t vg_cache_ram_bytes(const vg_cache *c) {
    return c->slab ? (size_t)c->n * c->entry : 0;
}
size_t vg_cache_disk_bytes(const vg_cache *c) {
    return c->map ? c->map_len : 0;
}
bool vg_cache_reused(const vg_cache *c) {
    return c->reused;
}
const char *vg_cache_file(const vg_cache *c) {
    return c->file;
}

/* ---- decoding ---------------------------------------------------------------------------------
 */

typedef struct {
    const vg_dataset *ds;
    const int *idx; /* sample of each task */
    int size;
    size_t entry;
    uint8_t *dst; /* task t writes dst + t * entry */
    uint8_t *ok;  /* ok[t] */
    char *msgs;   /* task t's error at msgs + t * VG_ERR_MSG_SIZE */
    atomic_int *nomem; /* set when a task ran out of memory: an error, not a bad image */
} decode_ctx;

static void decode_task(void *ctx, int t, int thread) {
    const decode_ctx *d = ctx;
    const char *path = d->ds->samples[d->idx[t]].path;
    uint8_t *out = d->dst + (size_t)t * d->entry;
    vg_err e = {VG_OK, ""};
    vg_image img = {0, 0, NULL};
    vg_status s = vg_image_load(path, &img, &e);
    if (s == VG_OK) {
        if (img.w == d->size && img.h == d->size) {
            memcpy(out, img.rgb, d->entry);
        } else {
            vg_image small = {0, 0, NULL};
            s = vg_image_resize(&img, d->size, d->size, &small, &e);
            if (s == VG_OK) memcpy(out, small.rgb, d->entry);
            vg_image_free(&small);
        }
    }
    vg_image_free(&img);
    d->ok[t] = s == VG_OK;
    if (s == VG_ERR_NOMEM) atomic_store(d->nomem, 1);
    if (s != VG_OK) {
        memset(out, 0, d->entry); /* keeps the file's holes and RAM deterministic */
        snprintf(d->msgs + (size_t)t * VG_ERR_MSG_SIZE, VG_ERR_MSG_SIZE, "%s", e.msg);
    }
}

/* Writes n bytes at offset `off`; false with errno set on failure. */
static bool pwrite_all(int fd, const void *p, size_t n, off_t off) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = pwrite(fd, b, n, off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = ENOSPC;
            return false;
        }
        b += k;
        n -= (size_t)k;
        off += k;
    }
    return true;
}

/* Decodes every entry, chunk by chunk. RAM mode (fd < 0): straight into c->pixels. Disk mode:
 * into a chunk buffer that is then written at the entry's payload offset. */
static vg_status decode_all(vg_cache *c, const vg_dataset *ds, const int *idx,
                            const vg_cache_opts *o, int fd, uint64_t payload_off, vg_err *err) {
    int threads = o->threads < 1 ? 1 : o->threads;
    /* a chunk of a few images per thread keeps threads busy while bounding the disk-mode buffer
     * and the delay between progress reports */
    int chunk = threads * 4 < 16 ? 16 : threads * 4;
    if (chunk > c->n) chunk = c->n;
    uint8_t *buf = NULL;
    char *msgs = vg_malloc((size_t)chunk * VG_ERR_MSG_SIZE);
    if (fd >= 0) buf = vg_malloc((size_t)chunk * c->entry);
    vg_pool *pool = threads > 1 ? vg_pool_new(threads) : NULL; /* NULL runs inline */
    vg_status s = VG_OK;
    atomic_int nomem = 0;
    if (!msgs || (fd >= 0 && !buf))
        s = vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory for %d images at %dx%d",
                       chunk, c->size, c->size);
    for (int first = 0; s == VG_OK && first < c->n; first += chunk) {
        int k = c->n - first < chunk ? c->n - first : chunk;
        decode_ctx d = {ds,
                        idx + first,
                        c->size,
                        c->entry,
                        fd >= 0 ? buf : c->pixels + (size_t)first * c->entry,
                        c->ok + first,
                        msgs,
                        &nomem};
        vg_pool_run(pool, k, decode_task, &d);
        if (atomic_load(&nomem)) {
            s = vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory decoding images");
            break;
        }
        for (int t = 0; t < k; t++) {
            if (c->ok[first + t])
                c->n_good++;
            else if (o->on_bad)
                o->on_bad(o->ud, ds->samples[idx[first + t]].path,
                          msgs + (size_t)t * VG_ERR_MSG_SIZE);
        }
        if (fd >= 0 && !pwrite_all(fd, buf, (size_t)k * c->entry,
                                   (off_t)(payload_off + (uint64_t)first * c->entry)))
            s = vg_err_set(err, VG_ERR_IO, "%s: write failed: %s", c->file, strerror(errno));
        if (s == VG_OK && o->on_progress) o->on_progress(o->ud, first + k, c->n);
    }
    vg_pool_free(pool);
    free(buf);
    free(msgs);
    return s;
}

/* ---- the cache file ---------------------------------------------------------------------------
 */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t payload_offset(int n) {
    return ((uint64_t)CACHE_HEADER + (uint64_t)n + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN;
}

/* check value of the header's first 56 bytes and the table */
static uint64_t header_check(const uint8_t *file, int n) {
    return vg_hash64(file + CACHE_HEADER, (size_t)n, vg_hash64(file, 56, 0));
}

/* Maps `path` if it is a complete cache of these samples; fills c->ok and c->n_good. */
static bool cache_try_map(vg_cache *c, const char *path, uint64_t path_key, uint64_t stat_key) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    struct stat st;
    uint64_t off = payload_offset(c->n), pay = (uint64_t)c->n * c->entry;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != off + pay ||
        (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return false;
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file open */
    if (m == MAP_FAILED) return false;
    const uint8_t *h = m;
    bool ok = memcmp(h, CACHE_MAGIC, 8) == 0 && vg_load_u32(h + 8) == CACHE_VERSION &&
              vg_load_u32(h + 12) == (uint32_t)c->size && vg_load_u32(h + 16) == (uint32_t)c->n &&
              vg_load_u64(h + 24) == path_key && vg_load_u64(h + 32) == stat_key &&
              vg_load_u64(h + 40) == off && vg_load_u64(h + 48) == pay &&
              vg_load_u64(h + 56) == header_check(h, c->n);
    int good = 0;
    for (int i = 0; ok && i < c->n; i++) {
        uint8_t v = h[CACHE_HEADER + i];
        ok = v <= 1;
        good += v;
    }
    ok = ok && (uint32_t)good == vg_load_u32(h + 20);
    if (!ok) {
        munmap(m, len);
        return false;
    }
    memcpy(c->ok, h + CACHE_HEADER, (size_t)c->n);
    c->n_good = good;
    c->map = m;
    c->map_len = len;
    c->pixels = (uint8_t *)m + off;
    return true;
}

/* Decodes everything into a new cache file and maps it. */
static vg_status cache_write(vg_cache *c, const vg_dataset *ds, const int *idx,
                             const vg_cache_opts *o, uint64_t path_key, uint64_t stat_key,
                             vg_err *err) {
    size_t fl = strlen(c->file);
    char *tmp = vg_malloc(fl + 32);
    if (!tmp) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", c->file);
    snprintf(tmp, fl + 32, "%s.tmp.%ld", c->file, (long)getpid());
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        vg_status s = vg_err_set(err, VG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    uint64_t off = payload_offset(c->n);
    c->n_good = 0;
    vg_status s = decode_all(c, ds, idx, o, fd, off, err);
    uint8_t *head = NULL;
    if (s == VG_OK && !(head = vg_calloc(1, (size_t)off)))
        s = vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", c->file);
    if (s == VG_OK) {
        memcpy(head, CACHE_MAGIC, 8);
        put_u32(head + 8, CACHE_VERSION);
        put_u32(head + 12, (uint32_t)c->size);
        put_u32(head + 16, (uint32_t)c->n);
        put_u32(head + 20, (uint32_t)c->n_good);
        put_u64(head + 24, path_key);
        put_u64(head + 32, stat_key);
        put_u64(head + 40, off);
        put_u64(head + 48, (uint64_t)c->n * c->entry);
        memcpy(head + CACHE_HEADER, c->ok, (size_t)c->n);
        put_u64(head + 56, header_check(head, c->n));
        /* fsync before the rename: a crash must not leave a valid header over missing pixels */
        if (!pwrite_all(fd, head, (size_t)off, 0) || fsync(fd) != 0)
            s = vg_err_set(err, VG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    free(head);
    if (close(fd) != 0 && s == VG_OK)
        s = vg_err_set(err, VG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (s == VG_OK && rename(tmp, c->file) != 0)
        s = vg_err_set(err, VG_ERR_IO, "%s: cannot rename to %s: %s", tmp, c->file,
                       strerror(errno));
    if (s != VG_OK) unlink(tmp);
    free(tmp);
    if (s != VG_OK) return s;
    int good = c->n_good;
    if (!cache_try_map(c, c->file, path_key, stat_key) || c->n_good != good)
        return vg_err_set(err, VG_ERR_IO, "%s: cannot map the cache file just written: %s", c->file,
                          strerror(errno));
    return VG_OK;
}

/* Key of the files' sizes and modification times: an edited image invalidates the cache. */
static uint64_t stat_key_of(const vg_dataset *ds, const int *idx, int n) {
    uint64_t h = 0x5354415453ull; /* "STATS" */
    for (int i = 0; i < n; i++) {
        struct stat st;
        int64_t v[3] = {-1, -1, -1};
        if (stat(ds->samples[idx[i]].path, &st) == 0) {
            v[0] = (int64_t)st.st_size;
            v[1] = (int64_t)st.st_mtim.tv_sec;
            v[2] = (int64_t)st.st_mtim.tv_nsec;
        }
        h = vg_hash64(v, sizeof v, h);
    }
    return h;
}

static uint64_t path_key_of(const vg_dataset *ds, const int *idx, int n, int size) {
    uint32_t head[3] = {CACHE_VERSION, (uint32_t)size, (uint32_t)n};
    uint64_t h = vg_hash64(head, sizeof head, 0x5041544853ull); /* "PATHS" */
    for (int i = 0; i < n; i++) {
        const char *p = ds->samples[idx[i]].path;
        h = vg_hash64(p, strlen(p) + 1, h); /* with the NUL, so "ab","c" != "a","bc" */
    }
    return h;
}

/* A reused cache remembers which entries failed, not why: decode them again for the message.
 * Returns false when one of them now decodes (the cache is stale and must be rebuilt). */
static bool report_cached_bad(const vg_cache *c, const vg_dataset *ds, const vg_cache_opts *o) {
    for (int i = 0; i < c->n; i++) {
        if (c->ok[i]) continue;
        vg_err e = {VG_OK, ""};
        vg_image img = {0, 0, NULL};
        const char *path = ds->samples[c->sample[i]].path;
        if (vg_image_load(path, &img, &e) == VG_OK) {
            vg_image_free(&img);
            return false;
        }
        if (o->on_bad) o->on_bad(o->ud, path, e.msg);
    }
    return true;
}

/* Disk mode: reuse a matching cache file or build one. */
static vg_status cache_on_disk(vg_cache *c, const vg_dataset *ds, const int *idx,
                               const vg_cache_opts *o, size_t total, vg_err *err) {
    if (!o->dir)
        return vg_err_set(err, VG_ERR_NOMEM,
                          "image cache: %d images at %dx%d need %zu MiB, over the RAM budget of "
                          "%zu MiB, and no cache folder was given",
                          c->n, c->size, c->size, total >> 20, o->ram_budget >> 20);
    if (mkdir(o->dir, 0755) != 0 && errno != EEXIST)
        return vg_err_set(err, VG_ERR_IO, "%s: cannot create the cache folder: %s", o->dir,
                          strerror(errno));
    uint64_t pkey = path_key_of(ds, idx, c->n, c->size);
    uint64_t skey = stat_key_of(ds, idx, c->n);
    size_t dl = strlen(o->dir);
    c->file = vg_malloc(dl + 40);
    if (!c->file) return vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory");
    snprintf(c->file, dl + 40, "%s/vigie-cache-%016llx.bin", o->dir, (unsigned long long)pkey);
    if (cache_try_map(c, c->file, pkey, skey)) {
        if (report_cached_bad(c, ds, o)) {
            c->reused = true;
            if (o->on_progress) o->on_progress(o->ud, c->n, c->n);
            return VG_OK;
        }
        munmap(c->map, c->map_len);
        c->map = NULL;
        c->pixels = NULL;
        c->n_good = 0;
    }
    return cache_write(c, ds, idx, o, pkey, skey, err);
}

vg_status vg_cache_build(vg_cache **out, const vg_dataset *ds, const int *idx, int n,
                         const vg_cache_opts *o, vg_err *err) {
    if (!out) return vg_err_set(err, VG_ERR_ARG, "vg_cache_build: no output given");
    *out = NULL;
    if (!ds || !idx || !o) return vg_err_set(err, VG_ERR_ARG, "vg_cache_build: NULL argument");
    if (n < 1) return vg_err_set(err, VG_ERR_ARG, "image cache: no image to cache");
    if (o->size < 1 || o->size > CACHE_MAX_SIZE)
        return vg_err_set(err, VG_ERR_ARG, "image cache: size %d is not in 1..%d", o->size,
                          CACHE_MAX_SIZE);
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n_samples)
            return vg_err_set(err, VG_ERR_ARG,
                              "image cache: sample index %d out of range (%d "
                              "samples)",
                              idx[i], ds->n_samples);
    size_t entry = (size_t)o->size * (size_t)o->size * 3, total;
    if (!vg_mul_size(entry, (size_t)n, &total) || total > (size_t)INT64_MAX)
        return vg_err_set(err, VG_ERR_NOMEM, "image cache: %d images at %dx%d overflow", n, o->size,
                          o->size);
    vg_cache *c = vg_calloc(1, sizeof *c);
    if (!c) return vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory");
    c->n = n;
    c->size = o->size;
    c->entry = entry;
    c->n_classes = ds->n_classes;
    c->sample = vg_malloc((size_t)n * sizeof *c->sample);
    c->label = vg_malloc((size_t)n * sizeof *c->label);
    c->ok = vg_calloc((size_t)n, 1);
    if (!c->sample || !c->label || !c->ok) {
        vg_cache_free(c);
        return vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory");
    }
    for (int i = 0; i < n; i++) {
        c->sample[i] = idx[i];
        c->label[i] = ds->samples[idx[i]].label;
    }
    vg_status s;
    if (total <= o->ram_budget) {
        c->slab = vg_malloc(total);
        c->pixels = c->slab;
        s = c->slab ? decode_all(c, ds, idx, o, -1, 0, err)
                    : vg_err_set(err, VG_ERR_NOMEM,
                                 "image cache: cannot allocate %zu MiB for %d images at %dx%d "
                                 "(lower the RAM budget to use a cache file)",
                                 total >> 20, n, o->size, o->size);
    } else {
        s = cache_on_disk(c, ds, idx, o, total, err);
    }
    if (s == VG_OK && o->require_every_class) {
        int *counts = vg_calloc((size_t)ds->n_classes, sizeof *counts);
        int *listed = vg_calloc((size_t)ds->n_classes, sizeof *listed);
        if (!counts || !listed) s = vg_err_set(err, VG_ERR_NOMEM, "image cache: out of memory");
        for (int i = 0; s == VG_OK && i < n; i++)
            listed[c->label[i]]++;
        if (s == VG_OK) vg_cache_class_counts(c, counts);
        for (int k = 0; s == VG_OK && k < ds->n_classes; k++)
            if (counts[k] == 0 && listed[k] > 0)
                s = vg_err_set(err, VG_ERR_FORMAT,
                               "class '%s' has no usable image: all %d failed to decode",
                               ds->classes[k], listed[k]);
            else if (counts[k] == 0)
                s = vg_err_set(err, VG_ERR_FORMAT, "class '%s' has no image in this set",
                               ds->classes[k]);
        free(counts);
        free(listed);
    }
    if (s != VG_OK) {
        vg_cache_free(c);
        return s;
    }
    *out = c;
    return VG_OK;
}
