/* classify.c — the smallest complete program on libvigie: load a model (.vgm, .vge or
 * .tflite), classify one image, print every class from the most probable, and the model's own
 * alarm decision when it has one. It uses vigie.h alone and links with libvigie.a and the
 * inference libraries alone (libjpeg, libpng, zlib, libm, pthread): the Makefile builds it so,
 * and the tests compare its output with `vigie predict`.
 *
 *     cc -Iinclude examples/classify.c build/libvigie.a -ljpeg -lpng -lz -lm -pthread -o classify
 *     ./classify models/fire.vge frame.jpg
 */
#include "vigie.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE\n", argv[0]);
        return 2;
    }
    vg_err err;
    vg_model *m = NULL;
    vg_runner *r = NULL;
    vg_image img = {0};
    float *probs = NULL;
    int rc = 1;
    if (vg_model_open(argv[1], &m, &err) != VG_OK) goto fail;
    vg_runner_opts ro = vg_runner_opts_default();
    if (vg_runner_init(&r, m, &ro, &err) != VG_OK) goto fail;
    if (vg_image_load(argv[2], &img, &err) != VG_OK) goto fail;
    vg_model_info info;
    vg_model_get_info(m, &info);
    probs = malloc(sizeof(float) * (size_t)info.n_classes);
    if (!probs) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if (vg_runner_classify(r, &img, probs, (size_t)info.n_classes, &err) != VG_OK) goto fail;
    /* the model's stored alarm rule: p(every class but no_alarm) >= threshold */
    int no_alarm;
    float threshold;
    int has_alarm = vg_model_alarm(m, &no_alarm, &threshold);
    double p_alarm = 0;
    for (int i = 0; has_alarm && i < info.n_classes; i++)
        if (i != no_alarm) p_alarm += probs[i];
    /* classes from the most probable (selection: a classifier has few) */
    for (int k = 0; k < info.n_classes; k++) {
        int best = -1;
        for (int i = 0; i < info.n_classes; i++)
            if (probs[i] >= 0 && (best < 0 || probs[i] > probs[best])) best = i;
        printf("%s  %.1f%%\n", vg_model_label(m, best), 100.0 * probs[best]);
        probs[best] = -1; /* printed */
    }
    if (has_alarm)
        printf("alarm: %s (%.3f, threshold %.3f)\n", p_alarm >= threshold ? "yes" : "no", p_alarm,
               threshold);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "classify: %s\n", err.msg);
done:
    free(probs);
    vg_image_free(&img);
    vg_runner_free(r);
    vg_model_free(m);
    return rc;
}
