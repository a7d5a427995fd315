/* test_main.c — runs every unit test, or those whose name contains argv[1]. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vg_test_passed, vg_test_failed, vg_test_skipped;
const char *vg_test_current = "";

double vg_test_max_rel_err(const float *a, const float *b, size_t n, double floor, size_t *worst) {
    double m = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / fmax(fabs((double)b[i]), floor);
        if (r > m || isnan(r)) {
            m = isnan(r) ? INFINITY : r;
            wi = i;
        }
    }
    if (worst) *worst = wi;
    return m;
}

const char *vg_test_shared(const char *rel) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    const char *root = getenv("VIGIE_SHARED");
    snprintf(p, 1024, "%s/%s", root ? root : "../shared", rel);
    if (access(p, R_OK) != 0) {
        printf("SKIP %s: %s not found\n", vg_test_current, p);
        vg_test_skipped++;
        return NULL;
    }
    return p;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
void vg_test_seed(unsigned long long s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
float vg_test_uniform(float lo, float hi) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}
void vg_test_fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = vg_test_uniform(lo, hi);
}

static char tmproot[512];
static int tmpcount;
static void rm_tmproot(void) {
    if (!tmproot[0]) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmproot);
}
const char *vg_test_tmpdir(void) {
    static char dir[600];
    if (!tmproot[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmproot, sizeof tmproot, "%s/vigie-test-XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(tmproot)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(rm_tmproot);
    }
    snprintf(dir, sizeof dir, "%s/%d", tmproot, tmpcount++);
    if (mkdir(dir, 0755) != 0) {
        perror(dir);
        exit(2);
    }
    return dir;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
#define RUN(name)                                                                                \
    if (test_##name && (!filter || strstr(#name, filter))) {                                                      \
        vg_test_current = #name;                                                                 \
        int f0 = vg_test_failed;                                                                 \
        test_##name();                                                                           \
        printf("%-8s %s\n", #name, vg_test_failed == f0 ? "ok" : "FAILED");                    \
    }
    TEST_LIST(RUN)
    printf("%d passed, %d failed, %d skipped\n", vg_test_passed, vg_test_failed, vg_test_skipped);
    return vg_test_failed ? 1 : 0;
}
