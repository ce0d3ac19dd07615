/* Inverted dropout on a blocked layout, with exactly the masks of
 * src/layers/dropout.c: element (c, h, w) of sample i is kept when
 *     uniform(key(seed, RNG_DROPOUT, step, id_i), (layer << 32) | (c*H*W + h*W + w)) >= rate
 * and then y = x / (1 - rate).  The walk goes over logical (i, c, h, w) and
 * finds each element's place in the layout; channels that only pad the last
 * block get y = 0 and mask 0, so dx is zero there too (oneDNN's primitives
 * expect zero padding).  The mask is kept in the layout of y, so the
 * backward is one pass over the buffer. */
#include <stdio.h>
#include <string.h>
#include "onednn.h"
#include "rng.h"

/* The product of the inner blocks of dimension d. */
static dnnl_dim_t block_of(const dnnl_memory_desc_t *md, int d)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    dnnl_dim_t p = 1;
    for (int k = 0; k < b->inner_nblks; k++)
        if (b->inner_idxs[k] == d) p *= b->inner_blks[k];
    return p;
}

/* The walk needs samples, rows and columns outside the blocks. */
int od_dropout_check(const OdLayer *ol, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md = &ol->src;
    if (md->format_kind == dnnl_blocked && md->ndims == 4 && block_of(md, 0) == 1 &&
        block_of(md, 2) == 1 && block_of(md, 3) == 1)
        return 0;
    snprintf(err, errlen, "oneDNN: dropout on a layout with blocked samples, rows or columns");
    return -1;
}

/* Offset of (i, c, 0, 0): outer blocks by their strides, then the channel's
 * place inside its (possibly nested) inner blocks, innermost block fastest. */
static size_t offset_nc(const dnnl_memory_desc_t *md, dnnl_dim_t i, dnnl_dim_t c)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    const dnnl_dim_t cb = block_of(md, 1);
    size_t off = (size_t)(md->offset0 + i * b->strides[0] + (c / cb) * b->strides[1]);
    dnnl_dim_t rem = c % cb, inner = 0, mult = 1;
    for (int k = b->inner_nblks - 1; k >= 0; k--) {
        if (b->inner_idxs[k] == 1) {
            inner += (rem % b->inner_blks[k]) * mult;
            rem /= b->inner_blks[k];
        }
        mult *= b->inner_blks[k];
    }
    return off + (size_t)inner;
}

/* Mask bytes drawn per batch (rng_keep), then placed in the layout. */
enum { KEEP_BATCH = 1024 };

static int g_generic_only;

void od_dropout_force_generic(int on) { g_generic_only = on; }

/* The channel block of md when the layout is dense and blocked on channels
 * alone (nchw: 1; nChw16c: 16), a power of two; 0 otherwise. */
static int dense_channel_block(const dnnl_memory_desc_t *md, int W)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    const dnnl_dim_t cb = block_of(md, 1);
    if (b->inner_nblks > 1 || (cb & (cb - 1)) || b->strides[3] != cb || b->strides[2] != cb * W)
        return 0;
    return (int)cb;
}

/* One channel block [c0, c0 + cb) of a sample in a dense blocked layout, in
 * memory order: place q holds channel c0 + q % cb at spatial position q / cb,
 * whose counter is ctr + (q % cb) * HW + q / cb (ctr: channel c0's first);
 * channels from c0 + kmax on only pad the block (mask 0, y 0).  The draws
 * land where they are used, and both loops vectorise. */
INNA_CLONES static void dropout_block(uint64_t key, uint64_t ctr, uint64_t HW, int shift, uint64_t kmax,
                                      size_t len, float rate, float scale, const float *src, float *dst,
                                      uint8_t *mask)
{
    const uint64_t thr = rng_keep_threshold(rate), low = ((uint64_t)1 << shift) - 1;
    for (size_t q = 0; q < len; q++) {
        const uint64_t k = q & low;
        mask[q] = (k < kmax) & ((rng_u64(key, ctr + k * HW + (q >> shift)) >> 40) >= thr);
    }
    for (size_t q = 0; q < len; q++) dst[q] = mask[q] ? src[q] * scale : 0.0f;
}

void od_dropout_forward(Layer *l, const OdLayer *ol, int n, const float *src, float *dst,
                        int train, uint64_t seed, long step, const long *sample_ids)
{
    const dnnl_memory_desc_t *md = &ol->dst;
    const float rate = l->spec.rate, scale = 1.0f / (1.0f - rate);
    l->dropout_active = train && rate > 0.0f;
    if (!l->dropout_active) {   /* the identity: padding is copied as the zeros it is */
        memcpy(dst, src, dnnl_memory_desc_get_size(md));
        return;
    }
    const int C = l->in.c, H = l->in.h, W = l->in.w, Cp = (int)md->padded_dims[1];
    const dnnl_dim_t sh = md->format_desc.blocking.strides[2], sw = md->format_desc.blocking.strides[3];
    const size_t HW = (size_t)H * W;
    const int cb = g_generic_only ? 0 : dense_channel_block(md, W);
    if (cb) {
        const int shift = __builtin_ctz((unsigned)cb);
        for (int i = 0; i < n; i++) {
            const uint64_t key = rng_key(seed, RNG_DROPOUT, (uint64_t)step, (uint64_t)sample_ids[i]);
            for (int c0 = 0; c0 < Cp; c0 += cb) {
                const size_t base = offset_nc(md, i, c0);
                const uint64_t ctr = ((uint64_t)l->index << 32) | (uint64_t)c0 * HW;
                dropout_block(key, ctr, HW, shift, (uint64_t)(C - c0 < cb ? C - c0 : cb), HW * (size_t)cb,
                              rate, scale, src + base, dst + base, l->mask + base);
            }
        }
        return;
    }
    uint8_t keep[KEEP_BATCH];
    for (int i = 0; i < n; i++) {
        const uint64_t key = rng_key(seed, RNG_DROPOUT, (uint64_t)step, (uint64_t)sample_ids[i]);
        for (int c = 0; c < Cp; c++) {
            const size_t base = offset_nc(md, i, c);
            const uint64_t ctr0 = ((uint64_t)l->index << 32) | (uint64_t)c * HW;
            for (size_t j0 = 0; j0 < HW; j0 += KEEP_BATCH) {
                const size_t m = HW - j0 < KEEP_BATCH ? HW - j0 : KEEP_BATCH;
                if (c < C) rng_keep(key, ctr0 + j0, m, rate, keep);
                else memset(keep, 0, m);
                int h = (int)(j0 / (size_t)W), w = (int)(j0 % (size_t)W);
                for (size_t j = 0; j < m; j++) {
                    const size_t at = base + (size_t)(h * sh + w * sw);
                    l->mask[at] = keep[j];
                    dst[at] = keep[j] ? src[at] * scale : 0.0f;
                    if (++w == W) { w = 0; h++; }
                }
            }
        }
    }
}

/* dx = dy * (scale * mask), the expression of src/layers/dropout.c; after
 * an evaluation forward the layer was the identity. */
void od_dropout_backward(const Layer *l, const OdLayer *ol, const float *dy, float *dx)
{
    const size_t bytes = dnnl_memory_desc_get_size(&ol->dst), len = bytes / sizeof(float);
    if (!l->dropout_active) {
        if (dx != dy) memcpy(dx, dy, bytes);
        return;
    }
    const float scale = 1.0f / (1.0f - l->spec.rate);
    for (size_t j = 0; j < len; j++) dx[j] = dy[j] * (scale * (float)l->mask[j]);
}
