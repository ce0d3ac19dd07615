/* Max-pooling over size x size windows (stride, zero-free padding: padded
 * positions never win).  The subgradient goes to the FIRST maximal element of
 * the window in row-major order (PyTorch's convention), whose offset in the
 * input plane is kept in l->argmax. */
#include <float.h>
#include <string.h>
#include "layers.h"

void maxpool_forward(Layer *l, const float *x, int n)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    const int H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w;
    const size_t planes = (size_t)l->in.c * n;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *in = x + pl * H * W;
        float *out = l->y + pl * OH * OW;
        int32_t *arg = l->argmax + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float best = -FLT_MAX;
                int32_t where = -1;
                for (int ki = 0; ki < k; ki++) {
                    int iy = oy * s - p + ki;
                    if (iy < 0 || iy >= H) continue;
                    for (int kj = 0; kj < k; kj++) {
                        int ix = ox * s - p + kj;
                        if (ix < 0 || ix >= W) continue;
                        float v = in[iy * W + ix];
                        if (where < 0 || v > best) { best = v; where = iy * W + ix; }
                    }
                }
                out[oy * OW + ox] = best;
                arg[oy * OW + ox] = where;
            }
    }
}

void maxpool_backward(Layer *l, const float *dy, float *dx, int n)
{
    const int HW = l->in.h * l->in.w, OHW = l->out.h * l->out.w;
    const size_t planes = (size_t)l->in.c * n;
    memset(dx, 0, sizeof(float) * planes * HW);
    for (size_t pl = 0; pl < planes; pl++) {
        const float *g = dy + pl * OHW;
        const int32_t *arg = l->argmax + pl * OHW;
        float *d = dx + pl * HW;
        for (int j = 0; j < OHW; j++) d[arg[j]] += g[j];
    }
}
