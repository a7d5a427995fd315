/* metrics.h — classification metrics for `vigie train` (validation) and `vigie eval`:
 * accuracy, per-class precision / recall / F1, the confusion matrix, and the alarm view of a
 * fire detector: an image raises an alarm when the probability of the alarm classes (every
 * class but the "no alarm" one, e.g. p(fire) + p(smoke) = 1 - p(neutral)) reaches a threshold.
 * Alarm recall = alarm images (fire or smoke) that raise it; false-alarm rate = no-alarm
 * images that raise it. */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include "core/core.h"

/* vg_metrics (the figures) is in vigie.h. */

/* Computes everything from probabilities (n x n_classes) and labels. */
vg_status vg_metrics_compute(int n, int n_classes, const float *probs, const int *labels,
                             int no_alarm, float threshold, vg_metrics *m, vg_err *err);
void vg_metrics_free(vg_metrics *m);

/* Alarm score of one row of probabilities: 1 - p(no_alarm). */
float vg_alarm_score(const float *probs, int n_classes, int no_alarm);

/* ROC of the alarm score: points sorted by decreasing threshold, from (0,0) to (1,1),
 * returned in malloc'ed arrays (free each); AUC by the trapezoid rule. */
vg_status vg_alarm_roc(int n, int n_classes, const float *probs, const int *labels, int no_alarm,
                       float **fpr, float **tpr, float **thr, int *n_points, double *auc,
                       vg_err *err);

/* A threshold whose alarm recall on these samples is >= target: with s_k the alarm score of
 * the positive at rank k = ceil(target * positives), halfway between s_k and the next lower
 * score of any sample (so recall and false alarms on these samples are those at s_k, with the
 * widest margin for unseen images) into *thr. 0.5 when there is no positive. VG_ERR_NOMEM. */
vg_status vg_alarm_threshold_for_recall(int n, int n_classes, const float *probs,
                                        const int *labels, int no_alarm, double target,
                                        float *thr, vg_err *err);

#endif
