/* Which samples form the global minibatch B_k: a function of (seed, k) only,
 * identical on every rank, whatever the number of ranks. */
#ifndef INNA_SAMPLER_H
#define INNA_SAMPLER_H
#include <stdint.h>

typedef struct {
    int kind;            /* Sampling from config.h                          */
    uint64_t seed;
    long n;              /* training samples                                */
    int batch;           /* |B_k|                                           */
    long steps_per_epoch;/* floor(n / batch), at least 1                    */
    long *perm;          /* shuffle: the permutation of perm_epoch          */
    long perm_epoch;
} Sampler;

int sampler_init(Sampler *s, int kind, uint64_t seed, long n, int batch);
void sampler_free(Sampler *s);
/* Global sample indices of positions [first, last) of B_k into ids. */
void sampler_batch(Sampler *s, long k, int first, int last, long *ids);
static inline long sampler_epoch(const Sampler *s, long k) { return k / s->steps_per_epoch; }

/* Rank r's share of a batch of b positions over p ranks: [b*r/p, b*(r+1)/p). */
static inline int share_begin(int b, int r, int p) { return (int)((long)b * r / p); }
#endif
