/* test_threads.c — what several cameras do at once: threads that each open a runner on one
 * shared model and classify, from a cold start (the kernel tables and the CPU probe are filled
 * by whichever thread comes first). Every thread must get exactly the probabilities a lone
 * runner gets afterwards. The data race this guards against is only seen under
 * ThreadSanitizer: scripts/test.sh runs this test in a SAN=thread build. Half the threads
 * use their own kernel set (vg_runner_opts.kernels "scalar") beside the default ones. Uses the shipped
 * models/fire.vge (int8 and float parts), so run from the repository root. */
#include "test.h"
#include "vigie.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_THREADS     4
#define N_CLASSES_MAX 8

typedef struct {
    const vg_model *m;
    const vg_image *img;
    int precision;
    const char *kernels;
    float probs[N_CLASSES_MAX];
    char kernels_used[32];
    vg_status st;
    char msg[VG_ERR_MSG_SIZE];
} job;

static void *classify_job(void *arg) {
    job *j = arg;
    vg_runner *r = NULL;
    vg_err err = {0};
    vg_runner_opts ro = vg_runner_opts_default();
    ro.precision = j->precision;
    ro.kernels = j->kernels;
    j->st = vg_runner_init(&r, j->m, &ro, &err);
    if (j->st == VG_OK) j->st = vg_runner_classify(r, j->img, j->probs, N_CLASSES_MAX, &err);
    if (j->st == VG_OK) snprintf(j->kernels_used, sizeof j->kernels_used, "%s", vg_runner_kernels(r));
    if (j->st != VG_OK) snprintf(j->msg, sizeof j->msg, "%s", err.msg);
    (void)vg_kernels_name(); /* read while others may be filling the tables */
    vg_runner_free(r);
    return NULL;
}

void test_threads(void) {
    vg_model *m = NULL;
    vg_err err;
    if (vg_model_open("models/fire.vge", &m, &err) != VG_OK) {
        printf("SKIP threads: models/fire.vge (%s): run from the repository root\n", err.msg);
        vg_test_skipped++;
        return;
    }
    vg_model_info info;
    vg_model_get_info(m, &info);
    CHECK(info.n_classes <= N_CLASSES_MAX, "%d classes", info.n_classes);
    vg_image img = {96, 64, malloc(96 * 64 * 3)};
    for (int i = 0; img.rgb && i < 96 * 64 * 3; i++)
        img.rgb[i] = (uint8_t)(i * 37 % 251);
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    int started = 0;
    for (int i = 0; img.rgb && info.n_classes <= N_CLASSES_MAX && i < N_THREADS; i++) {
        jobs[i] = (job){m, &img, i % 2 ? VG_PRECISION_FLOAT : VG_PRECISION_INT8, i / 2 ? "scalar" : NULL,
                        {0}, "", VG_OK, ""};
        if (pthread_create(&th[i], NULL, classify_job, &jobs[i]) != 0) break;
        started++;
    }
    CHECK(started == N_THREADS, "started %d of %d threads", started, N_THREADS);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    /* the same, one at a time */
    for (int i = 0; i < started; i++) {
        CHECK(jobs[i].st == VG_OK, "thread %d: %s", i, jobs[i].msg);
        job ref = {m, &img, jobs[i].precision, jobs[i].kernels, {0}, "", VG_OK, ""};
        classify_job(&ref);
        CHECK(strcmp(jobs[i].kernels_used, jobs[i].kernels ? jobs[i].kernels : vg_kernels_name()) == 0,
              "thread %d ran the %s kernels", i, jobs[i].kernels_used);
        CHECK(ref.st == VG_OK && memcmp(ref.probs, jobs[i].probs, sizeof ref.probs) == 0,
              "thread %d (%s): its probabilities differ from a lone runner's", i,
              jobs[i].precision == VG_PRECISION_INT8 ? "int8" : "float");
    }
    /* the integer arithmetic is exact: the scalar set gives the default set's int8 result */
    if (started == N_THREADS)
        CHECK(memcmp(jobs[0].probs, jobs[2].probs, sizeof jobs[0].probs) == 0,
              "int8: the scalar kernel set's probabilities differ from the default set's");
    /* a set this CPU lacks is refused, and the process default is left as it was */
    const char *before = vg_kernels_name();
    vg_runner *r = NULL;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.kernels = "sse9";
    CHECK(vg_runner_init(&r, m, &ro, &err) == VG_ERR_ARG && r == NULL && strstr(err.msg, "sse9"),
          "unknown kernel set: %s", err.msg);
    CHECK(strcmp(before, vg_kernels_name()) == 0, "a runner's kernel set changed the process's");
    free(img.rgb);
    vg_model_free(m);
}
