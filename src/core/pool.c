/* pool.c — persistent worker threads (see pool.h).
 *
 * A forward pass dispatches a few hundred small jobs, so waking sleeping threads for each
 * (tens of microseconds through a condition variable) would eat the gain. Workers therefore
 * spin on an atomic job generation for a while before sleeping, and the caller spins on the
 * count of finished tasks.
 *
 * Safety of job reuse: a worker joins a job only while holding the mutex (`busy` counts the
 * workers inside a job), and the caller publishes a new job only while holding the mutex
 * with busy == 0. So no worker can still be claiming task indices of an old job when the
 * job's fields are overwritten, and every task index is claimed exactly once. */
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SPIN_ITERS 200000 /* roughly 100-300 microseconds of polling before sleeping */

typedef struct {
    struct vg_pool *p;
    int id; /* 1..threads-1; the caller is 0 */
} worker_arg;

struct vg_pool {
    int threads;
    pthread_t *tid;
    worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_ullong generation; /* incremented for each job */
    atomic_bool quit;
    atomic_int busy;     /* workers inside the current job */
    int sleepers;        /* workers waiting on `wake` (under mu) */
    /* the current job (written under mu with busy == 0) */
    vg_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next;     /* next task index to claim */
    atomic_int finished; /* tasks completed */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void work(vg_pool *p, int id) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_acq_rel);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, id);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

static void *worker(void *arg) {
    vg_pool *p = ((worker_arg *)arg)->p;
    int id = ((worker_arg *)arg)->id;
    unsigned long long seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen &&
               !atomic_load(&p->quit) && spins < SPIN_ITERS) {
            cpu_relax();
            spins++;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) {
            p->sleepers++;
            pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
        }
        if (atomic_load(&p->quit)) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = atomic_load(&p->generation);
        atomic_fetch_add(&p->busy, 1);
        pthread_mutex_unlock(&p->mu);
        work(p, id);
        atomic_fetch_sub(&p->busy, 1);
    }
    return NULL;
}

vg_pool *vg_pool_new(int threads) {
    if (threads < 1) threads = 1;
    vg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (threads > 1) {
        p->tid = calloc((size_t)threads - 1, sizeof(pthread_t));
        p->args = calloc((size_t)threads - 1, sizeof(worker_arg));
        if (!p->tid || !p->args) {
            vg_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < threads - 1; i++) {
            p->args[i] = (worker_arg){p, i + 1};
            if (pthread_create(&p->tid[i], NULL, worker, &p->args[i]) != 0) {
                p->threads = i + 1; /* keep the workers that did start */
                break;
            }
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
    free(p->args);
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
    pthread_mutex_lock(&p->mu);
    /* workers still leaving the previous job (they only decrement, without the mutex) */
    while (atomic_load(&p->busy) > 0) cpu_relax();
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->finished, 0);
    atomic_store(&p->next, 0);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    for (long spins = 0; atomic_load_explicit(&p->finished, memory_order_acquire) < n_tasks;
         spins++) {
        if (spins < SPIN_ITERS) cpu_relax();
        else sched_yield(); /* a worker was descheduled: give it the core */
    }
}
