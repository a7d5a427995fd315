/* plan.c — buffer placement by lifetime, shared by the inference runner and the trainer: the
 * activations (and the trainer's gradients) of a graph go into one arena, tensors whose
 * lifetimes do not overlap sharing a slice. */
#include "model/plan.h"

size_t vg_plan_place(int n, const int *birth, const int *death, const size_t *size,
                     const bool *dedicated, size_t *offset) {
    int *slot_of = vg_malloc(sizeof(int) * (size_t)n);
    size_t *slot_size = vg_calloc((size_t)n + 1, sizeof(size_t));
    int *slot_free_at = vg_calloc((size_t)n + 1, sizeof(int));
    int *order = vg_malloc(sizeof(int) * (size_t)n);
    if (!slot_of || !slot_size || !slot_free_at || !order) {
        free(slot_of), free(slot_size), free(slot_free_at), free(order);
        return SIZE_MAX;
    }
    /* visit tensors by birth */
    int m = 0;
    for (int i = 0; i < n; i++)
        if (size[i] > 0) order[m++] = i;
    for (int a = 1; a < m; a++) /* insertion sort: n is at most a few thousand */
        for (int b = a; b > 0 && birth[order[b - 1]] > birth[order[b]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    int n_slots = 0;
    for (int a = 0; a < m; a++) {
        int i = order[a];
        int best = -1;
        if (!dedicated[i])
            for (int s = 0; s < n_slots; s++)
                if (slot_free_at[s] >= 0 && slot_free_at[s] < birth[i] &&
                    (best < 0 || (slot_size[s] >= size[i]) > (slot_size[best] >= size[i]) ||
                     ((slot_size[s] >= size[i]) == (slot_size[best] >= size[i]) &&
                      slot_size[s] < slot_size[best])))
                    best = s;
        if (best < 0) best = n_slots++;
        if (slot_size[best] < size[i]) slot_size[best] = size[i];
        slot_free_at[best] = dedicated[i] ? -1 : death[i];
        slot_of[i] = best;
    }
    size_t total = 0;
    size_t *slot_off = vg_calloc((size_t)n_slots + 1, sizeof(size_t));
    if (!slot_off) total = SIZE_MAX;
    for (int s = 0; slot_off && s < n_slots; s++) {
        slot_off[s] = total;
        total += (slot_size[s] + 15) & ~(size_t)15;
    }
    for (int i = 0; slot_off && i < n; i++)
        offset[i] = size[i] > 0 ? slot_off[slot_of[i]] : 0;
    free(slot_off), free(slot_of), free(slot_size), free(slot_free_at), free(order);
    return total;
}
