/* ReLU: y = max(x, 0).  At the kink we return ReLU'(0) = 0, the element of
 * the Clarke subdifferential PyTorch also returns: dx = dy * [y > 0]. */
#include "layers.h"

static size_t layer_len(const Layer *l, int n)
{
    return (size_t)l->out.c * n * l->out.h * l->out.w;
}

void relu_forward(Layer *l, const float *x, int n)
{
    const size_t len = layer_len(l, n);
    for (size_t j = 0; j < len; j++) l->y[j] = x[j] > 0.0f ? x[j] : 0.0f;
}

void relu_backward(Layer *l, const float *dy, float *dx, int n)
{
    const size_t len = layer_len(l, n);
    for (size_t j = 0; j < len; j++) {
        float g = dy[j];  /* loaded unconditionally so the loop vectorises */
        dx[j] = l->y[j] > 0.0f ? g : 0.0f;
    }
}
