/* Data set bookkeeping and the batch builder: bytes -> floats in the
 * network's [c][n][h][w] layout, with optional standardization and
 * augmentation.  Augmentation draws depend only on (seed, epoch, global
 * sample index), so a sample looks the same whatever rank, batch or position
 * it lands in: runs are reproducible across any number of ranks. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "rng.h"
#include "data_err.h"

/* Counters of the RNG_AUGMENT stream, one per draw. */
enum { DRAW_DY = 0, DRAW_DX = 1, DRAW_FLIP = 2 };

void dataset_free(Dataset *d)
{
    if (d == NULL) return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Pixels are bytes, so a per-channel histogram gives exact sums and a
 * two-pass variance over 256 bins instead of over every pixel. */
void dataset_channel_stats(const Dataset *d, float mean[3], float std[3])
{
    size_t plane = (size_t)d->h * (size_t)d->w;
    for (int ch = 0; ch < 3; ch++) mean[ch] = 0.0f, std[ch] = 1.0f;
    if (d->n <= 0 || plane == 0) return;
    for (int ch = 0; ch < d->c && ch < 3; ch++) {
        uint64_t hist[256] = {0};
        for (long i = 0; i < d->n; i++) {
            const uint8_t *p = d->pixels + ((size_t)i * (size_t)d->c + (size_t)ch) * plane;
            for (size_t k = 0; k < plane; k++) hist[p[k]]++;
        }
        double count = (double)d->n * (double)plane, m = 0.0, v = 0.0;
        for (int b = 0; b < 256; b++) m += (double)hist[b] * (b / 255.0);
        m /= count;
        for (int b = 0; b < 256; b++) v += (double)hist[b] * (b / 255.0 - m) * (b / 255.0 - m);
        mean[ch] = (float)m;
        std[ch] = (float)sqrt(v / count);
    }
}

/* Byte -> float for one channel.  A constant channel has std 0; dividing by
 * it would poison the whole batch with inf/nan, so it is left unscaled. */
static void make_lut(float lut[256], const InputTransform *t, int ch)
{
    int std_ok = t && t->standardize && ch < 3 && t->std[ch] > 0.0f;
    for (int p = 0; p < 256; p++) {
        float v = (float)p / 255.0f;
        if (t && t->standardize && ch < 3) v -= t->mean[ch];
        if (std_ok) v /= t->std[ch];
        lut[p] = v;
    }
}

/* One channel of one sample, cropped from the image zero-padded by pad on
 * each side at offset (dy, dx), then mirrored when flip.  The padding is raw
 * pixel 0, so it goes through the lut like any other pixel. */
static void crop_plane(const uint8_t *src, int h, int w, int pad, int dy, int dx,
                       int flip, const float *lut, float *dst)
{
    for (int y = 0; y < h; y++) {
        int sy = y + dy - pad;
        float *row = dst + (size_t)y * w;
        if (sy < 0 || sy >= h) {
            for (int x = 0; x < w; x++) row[x] = lut[0];
            continue;
        }
        const uint8_t *srow = src + (size_t)sy * w;
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + dx - pad;
            row[x] = sx >= 0 && sx < w ? lut[srow[sx]] : lut[0];
        }
    }
}

void data_make_batch(const Dataset *d, const long *idx, int n,
                     const InputTransform *t, uint64_t seed, long epoch,
                     float *x, int *labels)
{
    size_t plane = (size_t)d->h * (size_t)d->w;
    int augment = t && t->augment;
    int pad = augment && t->crop_pad > 0 ? t->crop_pad : 0;
    float lut[3][256];   /* the InputTransform has room for 3 channels */

    assert(d->c >= 1 && d->c <= 3);
    for (int ch = 0; ch < d->c; ch++) make_lut(lut[ch], t, ch);
    for (int i = 0; i < n; i++) {
        long s = idx[i];
        int dy = 0, dx = 0, flip = 0;
        assert(s >= 0 && s < d->n);
        labels[i] = d->labels[s];
        if (augment) {
            uint64_t key = rng_key(seed, RNG_AUGMENT, (uint64_t)epoch, (uint64_t)s);
            dy = (int)rng_below(key, DRAW_DY, (uint64_t)(2 * pad + 1));
            dx = (int)rng_below(key, DRAW_DX, (uint64_t)(2 * pad + 1));
            flip = rng_uniform(key, DRAW_FLIP) < 0.5f;
        }
        for (int ch = 0; ch < d->c; ch++) {
            const uint8_t *src = d->pixels + ((size_t)s * d->c + ch) * plane;
            float *dst = x + ((size_t)ch * n + i) * plane;
            if (!augment) {
                for (size_t k = 0; k < plane; k++) dst[k] = lut[ch][src[k]];
            } else {
                crop_plane(src, d->h, d->w, pad, dy, dx, flip, lut[ch], dst);
            }
        }
    }
}

void data_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
