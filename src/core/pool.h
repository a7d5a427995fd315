/* pool.h — a small persistent pool of worker threads. Work is expressed as n independent
 * tasks; the caller's thread takes part, so a pool of 1 thread runs everything inline and
 * creates no thread at all. Tasks are handed out dynamically, so results must never depend on
 * which thread ran which task: kernels split their output into fixed-size pieces (not "one
 * piece per thread"), which makes every result identical whatever the thread count. */
#ifndef VG_POOL_H
#define VG_POOL_H

#include "core/core.h"

typedef struct vg_pool vg_pool;

/* fn(ctx, task, thread) for task in [0, n_tasks); thread in [0, threads) identifies the
 * running thread (0 = the caller), for per-thread scratch memory only */
typedef void (*vg_task_fn)(void *ctx, int task, int thread);

/* Starts threads - 1 workers (threads >= 1). NULL on failure (then run inline). */
vg_pool *vg_pool_new(int threads);
void vg_pool_free(vg_pool *p);
int vg_pool_threads(const vg_pool *p);

/* Runs all tasks and returns when every one has finished. p may be NULL (inline). Not
 * reentrant: a task must not call vg_pool_run on the same pool. */
void vg_pool_run(vg_pool *p, int n_tasks, vg_task_fn fn, void *ctx);

#endif
