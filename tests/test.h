/* test.h — the tiny test harness of vigie's unit tests. Each tests/test_*.c file defines
 * `void test_<name>(void)` functions listed in tests/test_main.c. A check prints one line per
 * failure with the numbers involved; the run ends with "N passed, M failed".
 * Tests that need ../shared skip (and say so) when it is absent. */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

extern int vg_test_passed, vg_test_failed, vg_test_skipped;
extern const char *vg_test_current;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) {                                                                              \
            vg_test_passed++;                                                                    \
        } else {                                                                                 \
            vg_test_failed++;                                                                    \
            printf("FAIL %s (%s:%d): %s: ", vg_test_current, __FILE__, __LINE__, #cond);         \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
        }                                                                                        \
    } while (0)

/* |a-b| <= tol, with the values printed on failure */
#define CHECK_NEAR(a, b, tol, ...)                                                               \
    do {                                                                                         \
        double a_ = (a), b_ = (b), t_ = (tol);                                                   \
        if (fabs(a_ - b_) <= t_) {                                                               \
            vg_test_passed++;                                                                    \
        } else {                                                                                 \
            vg_test_failed++;                                                                    \
            printf("FAIL %s (%s:%d): %.9g vs %.9g (tol %.3g): ", vg_test_current, __FILE__,      \
                   __LINE__, a_, b_, t_);                                                        \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
        }                                                                                        \
    } while (0)

/* Maximum relative error between two arrays, |a-b| / max(|b|, floor): `floor` keeps values
 * near zero from dominating. Returns the index of the worst element in *worst. */
double vg_test_max_rel_err(const float *a, const float *b, size_t n, double floor, size_t *worst);

/* Path of a file under ../shared, or NULL (after printing a SKIP line) when it is absent. */
const char *vg_test_shared(const char *rel);

/* Deterministic pseudo-random numbers for test data. */
void vg_test_seed(unsigned long long s);
float vg_test_uniform(float lo, float hi);
void vg_test_fill(float *x, size_t n, float lo, float hi);

/* A fresh empty directory for the current test (under $TMPDIR), removed at exit. */
const char *vg_test_tmpdir(void);

/* Every test group, in run order (tests/test_main.c runs them). */
#define TEST_LIST(X)                                                                               \
    X(core)                                                                                        \
    X(ops)                                                                                         \
    X(gemm)                                                                                        \
    X(image)                                                                                       \
    X(graph)                                                                                       \
    X(vgm)                                                                                         \
    X(tflite)                                                                                      \
    X(tflite_synth)                                                                                \
    X(tflite_q8)                                                                                   \
    X(onnx)                                                                                        \
    X(golden)                                                                                      \
    X(grad)                                                                                        \
    X(golden_train)                                                                                \
    X(train)                                                                                       \
    X(data)                                                                                        \
    X(sources)                                                                                     \
    X(metrics)                                                                                     \
    X(quant)                                                                                       \
    X(prune)                                                                                       \
    X(cluster)                                                                                     \
    X(fold)                                                                                        \
    X(calib)                                                                                       \
    X(engine)                                                                                      \
    X(corrupt)                                                                                     \
    X(plot)                                                                                        \
    X(watch)                                                                                       \
    X(watch_levels)                                                                                \
    X(config)                                                                                      \
    X(adapt)                                                                                       \
    X(tiles)                                                                                       \
    X(threads)

/* weak, so that a test file being written does not break the build of the others */
#define VG_TEST_DECLARE(name) void test_##name(void) __attribute__((weak));
TEST_LIST(VG_TEST_DECLARE)

#endif
