/* pool.c — persistent worker threads (see pool.h).
 *
 * A batch-1 forward pass dispatches one job per layer, some 70 jobs of 20-500 microseconds,
 * so the per-job cost matters as much as the split:
 * - Workers spin on the job generation for a while before sleeping (waking a sleeping thread
 *   through a condition variable costs tens of microseconds), and join a job without a lock.
 * - Each thread owns a contiguous range of the task indices and claims them from the front, on
 *   its own cache line; a thread that runs out steals from the back of another's range. Kernels
 *   number their tasks in memory order (image rows first), so thread t works on the same part
 *   of every layer's output: the next layer mostly reads what the same core wrote, from its
 *   own cache, instead of pulling half of each activation across cores. Stealing from the back
 *   keeps the owner's front (and the next layer's boundary) undisturbed.
 * - Finished tasks are counted per thread and added once at the end, not per task.
 *
 * Safety of job reuse. The caller publishes job g+1 in three steps: it makes the generation
 * odd ("publishing"), waits until every worker that entered job g has left it, then writes the
 * job and makes the generation even again. A worker enters a job by recording the generation
 * it saw in `entered` and reading the generation again: both sides store, then load the
 * other's variable (sequentially consistent), so either the caller sees the worker's entry
 * and waits for it, or the worker sees the odd generation and backs off before touching the
 * job. So no worker can still claim task indices of an old job when its fields change, and
 * every task index is claimed exactly once. The wait for stragglers happens at the next
 * publication, not at the end of a job, so the caller returns as soon as all tasks are done. */
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

/* Roughly a millisecond of polling before sleeping: longer than the gap between two layers
 * (a few microseconds) and than the gap between back-to-back frames, short enough that an idle
 * pool stops burning a core quickly. */
#define SPIN_ITERS 20000
#define LINE 128 /* x86's adjacent-line prefetcher pairs 64-byte lines: keep hot atomics apart */

typedef struct {
    alignas(LINE) atomic_ullong range; /* task indices left: low 32 bits lo, high 32 bits hi */
} range_slot;

typedef struct {
    alignas(LINE) atomic_ullong entered; /* last generation this worker entered */
    atomic_ullong left;                  /* last generation this worker left */
    struct vg_pool *p;
    int id; /* 1..threads-1; the caller is 0 */
} worker_slot;

struct vg_pool {
    int threads;
    pthread_t *tid;
    worker_slot *workers; /* [threads - 1] */
    range_slot *ranges;   /* [threads] */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_int sleepers; /* workers about to wait or waiting on `wake` */
    atomic_bool quit;
    /* the current job: written while the generation is odd, read after seeing it even */
    alignas(LINE) atomic_ullong generation;
    vg_task_fn fn;
    void *ctx;
    int n_tasks;
    alignas(LINE) atomic_int done; /* tasks completed in the current job */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline unsigned long long pack_range(unsigned lo, unsigned hi) {
    return (unsigned long long)hi << 32 | lo;
}

/* next task of range r from the front (its owner), or -1 when it is empty */
static int claim_front(range_slot *r) {
    unsigned long long v = atomic_fetch_add_explicit(&r->range, 1, memory_order_acq_rel);
    unsigned lo = (unsigned)v, hi = (unsigned)(v >> 32);
    return lo < hi ? (int)lo : -1;
}

/* last task of range r (a thief), or -1 when it is empty */
static int claim_back(range_slot *r) {
    unsigned long long v = atomic_load_explicit(&r->range, memory_order_acquire);
    for (;;) {
        unsigned lo = (unsigned)v, hi = (unsigned)(v >> 32);
        if (lo >= hi) return -1;
        if (atomic_compare_exchange_weak_explicit(&r->range, &v, pack_range(lo, hi - 1),
                                                  memory_order_acq_rel, memory_order_acquire))
            return (int)(hi - 1);
    }
}

/* thread `id`'s share of the current job: its own range, then the others' */
static void work(vg_pool *p, int id) {
    int done = 0, t;
    while ((t = claim_front(&p->ranges[id])) >= 0) {
        p->fn(p->ctx, t, id);
        done++;
    }
    for (int k = 1; k < p->threads; k++) {
        range_slot *victim = &p->ranges[(id + k) % p->threads];
        while ((t = claim_back(victim)) >= 0) {
            p->fn(p->ctx, t, id);
            done++;
        }
    }
    if (done) atomic_fetch_add_explicit(&p->done, done, memory_order_release);
}

/* an even generation other than `seen`, or `seen` when it is still current after spinning */
static unsigned long long spin_for_job(vg_pool *p, unsigned long long seen) {
    for (int spins = 0; spins < SPIN_ITERS; spins++) {
        unsigned long long g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if ((g != seen && !(g & 1)) || atomic_load_explicit(&p->quit, memory_order_relaxed))
            return g;
        cpu_relax();
    }
    return seen;
}

static void *worker(void *arg) {
    worker_slot *self = arg;
    vg_pool *p = self->p;
    unsigned long long seen = 0;
    for (;;) {
        unsigned long long g = spin_for_job(p, seen);
        if (g == seen || (g & 1)) { /* sleep (the caller wakes sleepers after publishing) */
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            for (;;) {
                g = atomic_load(&p->generation);
                if ((g != seen && !(g & 1)) || atomic_load(&p->quit)) break;
                pthread_cond_wait(&p->wake, &p->mu);
            }
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        atomic_store(&self->entered, g);
        if (atomic_load(&p->generation) == g) work(p, self->id);
        /* else the caller is already publishing the next job: skip this one */
        atomic_store_explicit(&self->left, g, memory_order_release);
        seen = g;
    }
    return NULL;
}

vg_pool *vg_pool_new(int threads) {
    if (threads < 1) threads = 1;
    vg_pool *p = vg_aligned_alloc(LINE, (sizeof *p + LINE - 1) / LINE * LINE);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, false);
    p->ranges = vg_aligned_alloc(LINE, sizeof(range_slot) * (size_t)threads);
    if (!p->ranges) {
        vg_pool_free(p);
        return NULL;
    }
    for (int t = 0; t < threads; t++) atomic_init(&p->ranges[t].range, 0);
    if (threads > 1) {
        p->tid = vg_calloc((size_t)threads - 1, sizeof(pthread_t));
        p->workers = vg_aligned_alloc(LINE, sizeof(worker_slot) * (size_t)(threads - 1));
        if (!p->tid || !p->workers) {
            vg_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < threads - 1; i++) {
            worker_slot *w = &p->workers[i];
            atomic_init(&w->entered, 0);
            atomic_init(&w->left, 0);
            w->p = p;
            w->id = i + 1;
            if (pthread_create(&p->tid[i], NULL, worker, w) != 0) break;
            p->threads = i + 2; /* keep the workers that did start */
        }
    }
    return p;
}

void vg_pool_free(vg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->tid && i < p->threads - 1; i++) pthread_join(p->tid[i], NULL);
    free(p->tid);
    free(p->workers);
    free(p->ranges);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p);
}

int vg_pool_threads(const vg_pool *p) { return p ? p->threads : 1; }

void vg_pool_run(vg_pool *p, int n_tasks, vg_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    int T = p->threads;
    unsigned long long g = atomic_load_explicit(&p->generation, memory_order_relaxed);
    atomic_store(&p->generation, g + 1); /* odd: publishing */
    /* workers that entered the previous job and are still leaving it (they found no task) */
    for (int i = 0; i < T - 1; i++) {
        worker_slot *w = &p->workers[i];
        while (atomic_load_explicit(&w->left, memory_order_acquire) != atomic_load(&w->entered))
            cpu_relax();
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    for (int t = 0; t < T; t++) {
        unsigned lo = (unsigned)((long long)n_tasks * t / T);
        unsigned hi = (unsigned)((long long)n_tasks * (t + 1) / T);
        atomic_store_explicit(&p->ranges[t].range, pack_range(lo, hi), memory_order_relaxed);
    }
    atomic_store(&p->generation, g + 2); /* even: the job is ready */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, 0);
    for (long spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks; spins++) {
        if (spins < SPIN_ITERS) cpu_relax();
        else sched_yield(); /* a worker was descheduled: give it the core */
    }
}
