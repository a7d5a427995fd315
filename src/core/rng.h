/* rng.h — small deterministic random numbers (xoshiro128+-style on 64 bits: splitmix64 to
 * seed, xorshift64* to draw). Streams are derived from (seed, a, b) so that e.g. the
 * augmentation of sample i in epoch e is the same whatever thread draws it and whether the
 * run was interrupted and resumed: reproducibility comes from keys, not from call order. */
#ifndef VG_RNG_H
#define VG_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s;
} vg_rng;

static inline uint64_t vg_splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* A stream for (seed, a, b), e.g. (run seed, epoch, sample index). */
static inline vg_rng vg_rng_make(uint64_t seed, uint64_t a, uint64_t b) {
    vg_rng r;
    r.s = vg_splitmix64(seed ^ vg_splitmix64(a ^ vg_splitmix64(b + 0x632BE59BD9B4E019ull)));
    if (r.s == 0) r.s = 1;
    return r;
}

static inline uint64_t vg_rng_u64(vg_rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* uniform in [0, 1) with 24 random bits (exact in float) */
static inline float vg_rng_uniform(vg_rng *r) { return (float)(vg_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

/* uniform integer in [0, n) (n > 0), without modulo bias worth caring about for n < 2^32 */
static inline uint32_t vg_rng_below(vg_rng *r, uint32_t n) {
    return (uint32_t)(((vg_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
