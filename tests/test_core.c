/* test_core.c — checked reader/writer, file helpers, atomic writes and the thread pool. */
#include "test.h"

#include "core/core.h"
#include "core/pool.h"

#include <stdatomic.h>

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* pool tests: every task index runs exactly once, on a valid thread id */
typedef struct {
    atomic_int *runs; /* per task */
    atomic_int bad_thread;
    int threads;
    int spin; /* busy work per task, to let stealing happen */
} pool_probe;

static void pool_probe_task(void *ctx, int task, int thread) {
    pool_probe *pp = ctx;
    if (thread < 0 || thread >= pp->threads) atomic_fetch_add(&pp->bad_thread, 1);
    volatile int sink = 0;
    for (int i = 0; i < pp->spin * (1 + task % 3); i++) sink += i;
    atomic_fetch_add(&pp->runs[task], 1);
}

static void test_pool(void) {
    enum { MAX_TASKS = 300 };
    atomic_int runs[MAX_TASKS];
    for (int threads = 1; threads <= 4; threads++) {
        vg_pool *p = vg_pool_new(threads);
        CHECK(p && vg_pool_threads(p) == threads, "pool of %d threads", threads);
        if (!p) continue;
        int wrong = 0, first_wrong = -1;
        /* many jobs back to back (workers spinning), task counts below, at and above the
         * thread count, and a few pauses long enough for the workers to fall asleep */
        for (int job = 0; job < 400; job++) {
            int n = (job * 37) % MAX_TASKS + 1;
            if (job % 50 == 7) n = threads - 1 > 0 ? threads - 1 : 1;
            for (int t = 0; t < n; t++) atomic_init(&runs[t], 0);
            pool_probe pp = {runs, 0, threads, job % 3 == 0 ? 200 : 0};
            if (job % 100 == 99) {
                struct timespec ts = {0, 20 * 1000 * 1000}; /* 20 ms: workers sleep */
                nanosleep(&ts, NULL);
            }
            vg_pool_run(p, n, pool_probe_task, &pp);
            for (int t = 0; t < n; t++)
                if (atomic_load(&runs[t]) != 1 && wrong++ == 0) first_wrong = job;
            CHECK(atomic_load(&pp.bad_thread) == 0, "%d threads job %d: thread id out of range",
                  threads, job);
        }
        CHECK(wrong == 0, "%d threads: %d tasks not run exactly once (first in job %d)", threads,
              wrong, first_wrong);
        vg_pool_free(p);
    }
    for (int t = 0; t < 3; t++) atomic_init(&runs[t], 0);
    vg_pool_run(NULL, 3, pool_probe_task, &(pool_probe){runs, 0, 1, 0}); /* inline */
    CHECK(atomic_load(&runs[0]) == 1 && atomic_load(&runs[2]) == 1, "NULL pool runs inline");
}

/* vg_fail_alloc: exactly the n-th allocation fails, through every allocation function, and
 * the count restarts at each call */
static void test_fail_alloc(void) {
    for (int n = 1; n <= 6; n++) {
        vg_fail_alloc(n);
        void *p[6] = {vg_malloc(8), vg_calloc(2, 4), vg_realloc(NULL, 8), vg_aligned_alloc(64, 64),
                      vg_strdup("x"), vg_strndup("xyz", 2)};
        for (int i = 0; i < 6; i++) {
            CHECK((p[i] == NULL) == (i + 1 == n), "fail at %d: allocation %d %s", n, i + 1,
                  p[i] ? "succeeded" : "failed");
            free(p[i]);
        }
        CHECK(vg_alloc_count() == 6, "fail at %d: %ld allocations counted", n, vg_alloc_count());
    }
    vg_fail_alloc(0);
    void *q = vg_malloc(1);
    CHECK(q != NULL && vg_alloc_count() == 1, "after vg_fail_alloc(0)");
    free(q);
}

/* the cancel flag and the benchmarks' percentiles (vigie.h) */
static void test_cancel_and_stats(void) {
    vg_cancel *c = NULL;
    vg_err err;
    CHECK(vg_cancel_init(&c, &err) == VG_OK && c && !vg_cancel_requested(c), "a new flag is down");
    vg_cancel_request(c);
    CHECK(vg_cancel_requested(c), "request raises it");
    vg_cancel_request(c);
    CHECK(vg_cancel_requested(c), "and it stays up");
    vg_cancel_free(c);
    CHECK(!vg_cancel_requested(NULL), "NULL: never requested");
    vg_cancel_request(NULL); /* a no-op */
    vg_fail_alloc(1);
    c = NULL;
    CHECK(vg_cancel_init(&c, &err) == VG_ERR_NOMEM && c == NULL, "allocation failure");
    vg_fail_alloc(0);
    double v[10] = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10};
    vg_sort_doubles(v, 10);
    for (int i = 0; i < 10; i++) CHECK(v[i] == i + 1, "sorted[%d] = %g", i, v[i]);
    /* nearest rank: the smallest value with at least q of them at or below it */
    CHECK(vg_percentile_sorted(v, 10, 0.5) == 5 && vg_percentile_sorted(v, 10, 0.9) == 9 &&
              vg_percentile_sorted(v, 10, 0.91) == 10 && vg_percentile_sorted(v, 10, 0) == 1 &&
              vg_percentile_sorted(v, 10, 1) == 10,
          "percentiles");
    CHECK(vg_percentile_sorted(v, 1, 0.5) == 1 && vg_percentile_sorted(v, 0, 0.5) == 0, "n = 1, 0");
}

void test_core(void) {
    test_fail_alloc();
    test_cancel_and_stats();
    /* paths: "a/b", trailing slashes not doubled, an absolute or a lone b kept as it is */
    static const char *const pj[][3] = {{"a", "b", "a/b"},
                                        {"a//", "b/c", "a/b/c"},
                                        {"a", "/abs/x", "/abs/x"},
                                        {"", "b", "b"},
                                        {"/", "x", "/x"}};
    for (int i = 0; i < 5; i++) {
        char *p = vg_path_join(pj[i][0], pj[i][1]);
        CHECK(p && strcmp(p, pj[i][2]) == 0, "join %s + %s = %s", pj[i][0], pj[i][1],
              p ? p : "(null)");
        free(p);
    }
    /* reader: reads past the end fail, set bad, return zeros, and never move */
    uint8_t buf[6] = {1, 0, 0, 0, 0xff, 0x7f};
    vg_rd r = vg_rd_make(buf, sizeof buf);
    CHECK(vg_rd_u32(&r) == 1 && !r.bad, "u32");
    CHECK(vg_rd_u32(&r) == 0 && r.bad, "u32 past the end must fail");
    CHECK(vg_rd_u8(&r) == 0 && r.bad, "sticky bad");
    r = vg_rd_make(buf, sizeof buf);
    CHECK(vg_rd_span(&r, 7) == NULL && r.bad, "span larger than buffer");
    r = vg_rd_make(buf, sizeof buf);
    r.pos = 5;
    CHECK(vg_rd_span(&r, SIZE_MAX) == NULL && r.bad, "huge span must not wrap");

    /* writer round trip */
    vg_wr w = {0};
    vg_wr_u32(&w, 0xdeadbeef);
    vg_wr_f32(&w, -1.5f);
    vg_wr_u64(&w, 0x0102030405060708ull);
    r = vg_rd_make(w.p, w.n);
    CHECK(vg_rd_u32(&r) == 0xdeadbeef, "wr u32");
    CHECK(vg_rd_f32(&r) == -1.5f, "wr f32");
    CHECK(vg_rd_u64(&r) == 0x0102030405060708ull && vg_rd_left(&r) == 0, "wr u64");
    vg_wr_free(&w);

    size_t s;
    CHECK(!vg_mul_size(SIZE_MAX / 2, 3, &s), "mul overflow detected");
    CHECK(vg_mul_size(1000, 1000, &s) && s == 1000000, "mul");
    CHECK(!vg_add_size(SIZE_MAX, 1, &s), "add overflow detected");
    CHECK(vg_crc32("123456789", 9) == 0xCBF43926u, "crc32 check value");

    /* atomic write: content lands, no temp file stays, failure leaves the old file */
    const char *dir = vg_test_tmpdir();
    char path[700];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    vg_err err;
    CHECK(vg_file_write_atomic(path, "hello", 5, &err) == VG_OK, "write: %s", err.msg);
    CHECK(vg_file_write_atomic(path, "world!", 6, &err) == VG_OK, "overwrite: %s", err.msg);
    uint8_t *data;
    size_t n;
    CHECK(vg_file_read(path, 100, &data, &n, &err) == VG_OK && n == 6 && memcmp(data, "world!", 6) == 0,
          "read back");
    free(data);
    CHECK(count_entries(dir) == 1, "temp files left behind: %d entries", count_entries(dir));
    char bad[800];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.bin", dir);
    CHECK(vg_file_write_atomic(bad, "x", 1, &err) == VG_ERR_IO && strstr(err.msg, bad),
          "missing dir: %s", err.msg);
    CHECK(vg_file_read(path, 3, &data, &n, &err) == VG_ERR_UNSUPPORTED, "size limit");
    CHECK(vg_file_read(dir, 100, &data, &n, &err) == VG_ERR_IO && strstr(err.msg, "directory"),
          "directory: %s", err.msg);
    snprintf(bad, sizeof bad, "%s/missing", dir);
    CHECK(vg_file_read(bad, 100, &data, &n, &err) == VG_ERR_IO, "missing file");
    /* never replace a device or a directory */
    CHECK(vg_file_write_atomic("/dev/null", "x", 1, &err) == VG_ERR_IO, "replacing /dev/null");
    CHECK(vg_file_write_atomic(dir, "x", 1, &err) == VG_ERR_IO, "replacing a directory");

    /* a full disk, simulated with a file size limit in a child process: the write fails with
     * a message, the previous file is intact and no temporary file remains */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        static char big[100000];
        vg_status ws = vg_file_write_atomic(path, big, sizeof big, &err);
        _exit(ws == VG_ERR_IO && strstr(err.msg, "write failed") ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "full disk not reported (status %d)",
          status);
    CHECK(vg_file_read(path, 100, &data, &n, &err) == VG_OK && n == 6 && memcmp(data, "world!", 6) == 0,
          "previous file damaged by a failed write");
    free(data);
    CHECK(count_entries(dir) == 1, "temp file left after a failed write");

    test_pool();
}
