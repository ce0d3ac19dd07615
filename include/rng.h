/* Counter-based random numbers: every draw is a pure function of a key and a
 * counter, so a trajectory depends on the seed alone and never on the number
 * of ranks, threads or on timing.  key = rng_key(seed, stream, a, b) where
 * (a, b) is e.g. (step, global sample index). */
#ifndef INNA_RNG_H
#define INNA_RNG_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "clones.h"

enum rng_stream {
    RNG_INIT = 1,    /* weight initialisation: (layer, 0), counter = element  */
    RNG_SHUFFLE = 2, /* epoch permutation: (epoch, 0), counter = position      */
    RNG_IID = 3,     /* i.i.d. sampling: (step, 0), counter = batch position   */
    RNG_DROPOUT = 4, /* dropout mask: (step, global sample), counter = layer<<32|element */
    RNG_AUGMENT = 5, /* crop/flip: (epoch, global sample), counter = draw      */
};

/* splitmix64 finaliser: a bijective 64-bit mixer (Steele, Lea, Flood 2014). */
static inline uint64_t rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t rng_key(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    return rng_mix(rng_mix(rng_mix(rng_mix(seed) ^ stream) ^ a) ^ b);
}

static inline uint64_t rng_u64(uint64_t key, uint64_t counter)
{
    return rng_mix(key ^ rng_mix(counter));
}

/* Uniform in [0, 1) with 24 random bits: exact in float. */
static inline float rng_uniform(uint64_t key, uint64_t counter)
{
    return (float)(rng_u64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

/* rng_uniform(key, c) >= rate exactly when (rng_u64(key, c) >> 40) >= this:
 * the uniform is x * 2^-24 with x the draw's top 24 bits, and rate * 2^24 is
 * exact in double.  An integer compare, so loops of draws vectorise. */
static inline uint64_t rng_keep_threshold(float rate)
{
    const double t = ceil((double)rate * 16777216.0);
    return t <= 0.0 ? 0 : (uint64_t)t;
}

/* keep[j] = (rng_uniform(key, ctr0 + j) >= rate) for j < n: a dropout mask,
 * a batch of independent counters at a time (INNA_CLONES: vectorised). */
INNA_CLONES static inline void rng_keep(uint64_t key, uint64_t ctr0, size_t n, float rate, uint8_t *keep)
{
    const uint64_t thr = rng_keep_threshold(rate);
    for (size_t j = 0; j < n; j++) keep[j] = (rng_u64(key, ctr0 + j) >> 40) >= thr;
}

/* Uniform integer in [0, n) by Lemire's multiply-shift (bias < n / 2^64). */
static inline uint64_t rng_below(uint64_t key, uint64_t counter, uint64_t n)
{
    return (uint64_t)(((__uint128_t)rng_u64(key, counter) * n) >> 64);
}

/* Standard normal by Box-Muller on two independent uniforms (double inside). */
static inline double rng_normal(uint64_t key, uint64_t counter)
{
    double u1 = ((double)(rng_u64(key, 2 * counter) >> 11) + 1.0) * 0x1.0p-53; /* (0,1] */
    double u2 = (double)(rng_u64(key, 2 * counter + 1) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
#endif
