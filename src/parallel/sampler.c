/* Minibatch selection.  shuffle: epoch e visits a permutation drawn from
 * (seed, e) by Fisher-Yates; iid: each position drawn uniformly with
 * replacement from (seed, k) (the paper's Assumption 1); sequential: file
 * order, for cross-checks with other tools. */
#include <stdlib.h>
#include "config.h"
#include "rng.h"
#include "sampler.h"

int sampler_init(Sampler *s, int kind, uint64_t seed, long n, int batch)
{
    s->kind = kind;
    s->seed = seed;
    s->n = n;
    s->batch = batch;
    s->steps_per_epoch = n / batch > 0 ? n / batch : 1;
    s->perm_epoch = -1;
    s->perm = NULL;
    if (kind == SAMPLE_SHUFFLE && !(s->perm = malloc(sizeof(long) * (size_t)n))) return -1;
    return 0;
}

void sampler_free(Sampler *s)
{
    free(s->perm);
    s->perm = NULL;
}

static void shuffle_epoch(Sampler *s, long epoch)
{
    const uint64_t key = rng_key(s->seed, RNG_SHUFFLE, (uint64_t)epoch, 0);
    for (long i = 0; i < s->n; i++) s->perm[i] = i;
    for (long i = s->n - 1; i > 0; i--) {
        long j = (long)rng_below(key, (uint64_t)i, (uint64_t)i + 1);
        long t = s->perm[i]; s->perm[i] = s->perm[j]; s->perm[j] = t;
    }
    s->perm_epoch = epoch;
}

void sampler_batch(Sampler *s, long k, int first, int last, long *ids)
{
    const long epoch = sampler_epoch(s, k), pos = k % s->steps_per_epoch;
    const uint64_t key = rng_key(s->seed, RNG_IID, (uint64_t)k, 0);
    if (s->kind == SAMPLE_SHUFFLE && s->perm_epoch != epoch) shuffle_epoch(s, epoch);
    for (int j = first; j < last; j++) {
        long slot = pos * s->batch + j;
        switch (s->kind) {
        case SAMPLE_SHUFFLE: ids[j - first] = s->perm[slot % s->n]; break;
        case SAMPLE_IID:     ids[j - first] = (long)rng_below(key, (uint64_t)j, (uint64_t)s->n); break;
        default:             ids[j - first] = (k * s->batch + j) % s->n; break;
        }
    }
}
