/* Average pooling over size x size windows; padded positions are excluded
 * from the count (count_include_pad = False in PyTorch terms):
 *     y = (1/|V|) sum_{v in V} x_v,   V = window positions inside the image. */
#include <string.h>
#include "layers.h"

/* Valid rows/cols of the window at (oy, ox): [y0, y1) x [x0, x1). */
static void window(const Layer *l, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    *y0 = oy * s - p; *y1 = *y0 + k;
    *x0 = ox * s - p; *x1 = *x0 + k;
    if (*y0 < 0) *y0 = 0;
    if (*x0 < 0) *x0 = 0;
    if (*y1 > l->in.h) *y1 = l->in.h;
    if (*x1 > l->in.w) *x1 = l->in.w;
}

void avgpool_forward(Layer *l, const float *x, int n)
{
    const int W = l->in.w, HW = l->in.h * l->in.w, OH = l->out.h, OW = l->out.w;
    const size_t planes = (size_t)l->in.c * n;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *in = x + pl * HW;
        float *out = l->y + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                window(l, oy, ox, &y0, &y1, &x0, &x1);
                float sum = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) sum += in[iy * W + ix];
                out[oy * OW + ox] = sum / (float)((y1 - y0) * (x1 - x0));
            }
    }
}

void avgpool_backward(Layer *l, const float *dy, float *dx, int n)
{
    const int W = l->in.w, HW = l->in.h * l->in.w, OH = l->out.h, OW = l->out.w;
    const size_t planes = (size_t)l->in.c * n;
    memset(dx, 0, sizeof(float) * planes * HW);
    for (size_t pl = 0; pl < planes; pl++) {
        const float *g = dy + pl * OH * OW;
        float *d = dx + pl * HW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                window(l, oy, ox, &y0, &y1, &x0, &x1);
                float share = g[oy * OW + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) d[iy * W + ix] += share;
            }
    }
}
