/* test_core.c — checked reader/writer, file helpers and atomic writes. */
#include "test.h"

#include "core/core.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

void test_core(void) {
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
}
