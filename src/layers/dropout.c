/* Inverted dropout: y = x * m / (1 - rate), m ~ Bernoulli(1 - rate).  The
 * mask of an element is keyed by (seed, step, global sample index, layer,
 * element), so it does not depend on which rank holds the sample. */
#include "layers.h"
#include "rng.h"

void dropout_forward(Layer *l, const float *x, int n, int train, uint64_t seed,
                     long step, const long *sample_ids)
{
    const int C = l->in.c, HW = l->in.h * l->in.w;
    const float rate = l->spec.rate, scale = 1.0f / (1.0f - rate);
    l->dropout_active = train && rate > 0.0f;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < n; i++) {
            const size_t base = ((size_t)c * n + i) * HW;
            if (!train || rate == 0.0f) {
                for (int j = 0; j < HW; j++) { l->y[base + j] = x[base + j]; l->mask[base + j] = 1; }
                continue;
            }
            const uint64_t key = rng_key(seed, RNG_DROPOUT, (uint64_t)step, (uint64_t)sample_ids[i]);
            const uint64_t ctr0 = ((uint64_t)l->index << 32) | (uint64_t)c * HW;
            rng_keep(key, ctr0, (size_t)HW, rate, l->mask + base);
            for (int j = 0; j < HW; j++) l->y[base + j] = l->mask[base + j] ? x[base + j] * scale : 0.0f;
        }
}

void dropout_backward(Layer *l, const float *dy, float *dx, int n)
{
    const size_t len = (size_t)l->in.c * n * l->in.h * l->in.w;
    /* After an evaluation forward the layer was the identity. */
    const float scale = l->dropout_active ? 1.0f / (1.0f - l->spec.rate) : 1.0f;
    for (size_t j = 0; j < len; j++) dx[j] = dy[j] * (scale * (float)l->mask[j]);
}
