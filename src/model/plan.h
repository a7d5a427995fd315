/* plan.h — what the runner (model/runner.c) and the trainer (train/trainer.c) share to plan
 * and run a graph: buffer placement by lifetime (plan.c) and the float forward of one node
 * (exec.c). Each adds its own: the runner its fusions, packed weights and int8 path, the
 * trainer batch-norm in training mode, saved activations and the backward pass. */
#ifndef VG_PLAN_H
#define VG_PLAN_H

#include "cpu/backend.h"
#include "model/graph.h"

/* Lifetime-based placement: tensor i (size[i] floats; 0 = not placed) lives from step birth[i]
 * to step death[i], inclusive; a slice freed at step s is reused from step s + 1 on. Dedicated
 * tensors get slices of their own. Greedy in order of birth: a free slot that fits (the
 * smallest), else the smallest free one, grown, else a new one. offset[i] gets the tensor's
 * offset in floats (each slice 64-byte aligned); returns the arena's floats, or SIZE_MAX on
 * allocation failure. */
size_t vg_plan_place(int n, const int *birth, const int *death, const size_t *size,
                     const bool *dedicated, size_t *offset);

/* A 1x1, stride-1 convolution without padding: one matrix multiply (the runner's fusions and
 * int8 plans take these). */
bool vg_conv_pointwise(const vg_conv_desc *d);

/* The float forward of node j for n images: x its first input, x2 its second (ADD, MUL), y
 * its output, packed its pre-packed weights (vg_cpu_pack_weights) or NULL. Every op but a
 * batch-norm in training mode (the trainer's). */
void vg_exec_node(vg_cpu *cpu, const vg_graph *g, const vg_node_geom *gm, int j, int n,
                  const float *x, const float *x2, const float *packed, float *y);
/* The same with activation `act` instead of the node's (the trainer keeps hard-swish's input) */
void vg_exec_node_act(vg_cpu *cpu, const vg_graph *g, const vg_node_geom *gm, int j, int n,
                      const float *x, const float *x2, const float *packed, vg_act act, float *y);

#endif
