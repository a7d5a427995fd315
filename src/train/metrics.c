/* metrics.c — accuracy, confusion, precision/recall/F1, alarm metrics, ROC (see metrics.h). */
#include "train/metrics.h"

#include <math.h>
#include <string.h>

float vg_alarm_score(const float *probs, int n_classes, int no_alarm) {
    float s = 0;
    for (int c = 0; c < n_classes; c++)
        if (c != no_alarm) s += probs[c];
    return s;
}

void vg_metrics_free(vg_metrics *m) {
    free(m->confusion);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    memset(m, 0, sizeof *m);
}

vg_status vg_metrics_compute(int n, int n_classes, const float *probs, const int *labels,
                             int no_alarm, float threshold, vg_metrics *m, vg_err *err) {
    memset(m, 0, sizeof *m);
    if (n_classes < 1) return vg_err_set(err, VG_ERR_ARG, "metrics: no classes");
    m->n = n;
    m->n_classes = n_classes;
    m->no_alarm = no_alarm;
    m->threshold = threshold;
    m->confusion = vg_calloc((size_t)n_classes * n_classes, sizeof(int));
    m->precision = vg_calloc((size_t)n_classes, sizeof(double));
    m->recall = vg_calloc((size_t)n_classes, sizeof(double));
    m->f1 = vg_calloc((size_t)n_classes, sizeof(double));
    if (!m->confusion || !m->precision || !m->recall || !m->f1) {
        vg_metrics_free(m);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    int correct = 0, tp_alarm = 0, fp_alarm = 0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * n_classes;
        int best = 0;
        for (int c = 1; c < n_classes; c++)
            if (p[c] > p[best]) best = c;
        VG_ASSERT(labels[i] >= 0 && labels[i] < n_classes);
        m->confusion[labels[i] * n_classes + best]++;
        correct += best == labels[i];
        if (no_alarm >= 0) {
            bool alarm = vg_alarm_score(p, n_classes, no_alarm) >= threshold;
            if (labels[i] != no_alarm) {
                m->alarm_pos++;
                tp_alarm += alarm;
            } else {
                m->alarm_neg++;
                fp_alarm += alarm;
            }
        }
    }
    m->accuracy = n ? (double)correct / n : 0;
    for (int c = 0; c < n_classes; c++) {
        int tp = m->confusion[c * n_classes + c], row = 0, col = 0;
        for (int k = 0; k < n_classes; k++) {
            row += m->confusion[c * n_classes + k];
            col += m->confusion[k * n_classes + c];
        }
        m->recall[c] = row ? (double)tp / row : 0;
        m->precision[c] = col ? (double)tp / col : 0;
        double s = m->precision[c] + m->recall[c];
        m->f1[c] = s > 0 ? 2 * m->precision[c] * m->recall[c] / s : 0;
    }
    if (no_alarm >= 0) {
        m->alarm_recall = m->alarm_pos ? (double)tp_alarm / m->alarm_pos : 0;
        m->false_alarm_rate = m->alarm_neg ? (double)fp_alarm / m->alarm_neg : 0;
        m->alarm_precision = tp_alarm + fp_alarm ? (double)tp_alarm / (tp_alarm + fp_alarm) : 0;
        float *fpr, *tpr, *thr;
        int np;
        vg_status st =
            vg_alarm_roc(n, n_classes, probs, labels, no_alarm, &fpr, &tpr, &thr, &np, &m->auc, err);
        if (st != VG_OK) { /* no AUC of 0 made up */
            vg_metrics_free(m);
            return st;
        }
        free(fpr), free(tpr), free(thr);
    }
    return VG_OK;
}

typedef struct {
    float score;
    int pos;
} scored;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

vg_status vg_alarm_roc(int n, int n_classes, const float *probs, const int *labels, int no_alarm,
                       float **fpr, float **tpr, float **thr, int *n_points, double *auc,
                       vg_err *err) {
    *fpr = *tpr = *thr = NULL;
    *n_points = 0;
    *auc = 0;
    scored *s = vg_malloc(sizeof(scored) * (size_t)(n ? n : 1));
    float *f = vg_malloc(sizeof(float) * (size_t)(n + 2)), *t = vg_malloc(sizeof(float) * (size_t)(n + 2));
    float *h = vg_malloc(sizeof(float) * (size_t)(n + 2));
    if (!s || !f || !t || !h) {
        free(s), free(f), free(t), free(h);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    int P = 0, N = 0;
    for (int i = 0; i < n; i++) {
        s[i].score = vg_alarm_score(probs + (size_t)i * n_classes, n_classes, no_alarm);
        s[i].pos = labels[i] != no_alarm;
        P += s[i].pos;
        N += !s[i].pos;
    }
    qsort(s, (size_t)n, sizeof *s, by_score_desc);
    int k = 0, tp = 0, fp = 0;
    f[k] = 0, t[k] = 0, h[k] = 2.0f; /* above any score: nothing raises an alarm */
    k++;
    for (int i = 0; i < n;) {
        float sc = s[i].score;
        while (i < n && s[i].score == sc) { /* tied scores make one point */
            tp += s[i].pos;
            fp += !s[i].pos;
            i++;
        }
        f[k] = N ? (float)fp / N : 0;
        t[k] = P ? (float)tp / P : 0;
        h[k] = sc;
        k++;
    }
    double a = 0;
    for (int i = 1; i < k; i++) a += (double)(f[i] - f[i - 1]) * (t[i] + t[i - 1]) / 2;
    free(s);
    *fpr = f, *tpr = t, *thr = h;
    *n_points = k;
    *auc = (P && N) ? a : 0;
    return VG_OK;
}

static int by_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

vg_status vg_alarm_threshold_for_recall(int n, int n_classes, const float *probs,
                                        const int *labels, int no_alarm, double target,
                                        float *out, vg_err *err) {
    float *pos = vg_malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *all = vg_malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!pos || !all) {
        free(pos), free(all);
        return vg_err_set(err, VG_ERR_NOMEM, "alarm threshold of %d images: out of memory", n);
    }
    int P = 0;
    for (int i = 0; i < n; i++) {
        all[i] = vg_alarm_score(probs + (size_t)i * n_classes, n_classes, no_alarm);
        if (labels[i] != no_alarm) pos[P++] = all[i];
    }
    float thr = 0.5f;
    if (P > 0) {
        qsort(pos, (size_t)P, sizeof(float), by_float_desc);
        int k = (int)ceil(target * P - 1e-9);
        if (k < 1) k = 1;
        if (k > P) k = P;
        float sk = pos[k - 1], below = -1.0f;
        for (int i = 0; i < n; i++)
            if (all[i] < sk && all[i] > below) below = all[i];
        /* halfway to the next lower score: the same recall and false alarms on these samples,
         * with the widest margin on both sides for unseen ones */
        thr = below >= 0 ? 0.5f * (sk + below) : sk;
    }
    free(pos), free(all);
    *out = thr;
    return VG_OK;
}
