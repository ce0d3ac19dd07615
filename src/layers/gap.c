/* Global average pooling: y[c][i] = (1/HW) sum_p x[c][i][p], so the last
 * convolution's channels become the logits. */
#include "layers.h"

void gap_forward(Layer *l, const float *x, int n)
{
    const int HW = l->in.h * l->in.w;
    const size_t planes = (size_t)l->in.c * n;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *in = x + pl * HW;
        double sum = 0.0;
        for (int j = 0; j < HW; j++) sum += in[j];
        l->y[pl] = (float)(sum / HW);
    }
}

void gap_backward(Layer *l, const float *dy, float *dx, int n)
{
    const int HW = l->in.h * l->in.w;
    const size_t planes = (size_t)l->in.c * n;
    for (size_t pl = 0; pl < planes; pl++) {
        float share = dy[pl] / (float)HW;
        for (int j = 0; j < HW; j++) dx[pl * HW + j] = share;
    }
}
