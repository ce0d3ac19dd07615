/* What every layer type shares: its name, the shape arithmetic that turns a
 * spec and an input shape into an output shape and a parameter count, and
 * the dispatch of forward and backward to the type's file. */
#include <stdio.h>
#include <string.h>
#include "layers.h"

const char *const layer_type_names[L_NTYPES + 1] = {
    [L_CONV] = "conv", [L_RELU] = "relu", [L_MAXPOOL] = "maxpool",
    [L_AVGPOOL] = "avgpool", [L_GAP] = "gap", [L_DROPOUT] = "dropout", [L_NTYPES] = NULL,
};

const char *layer_type_name(LayerType t)
{
    return (t >= 0 && t < L_NTYPES) ? layer_type_names[t] : "?";
}

int layer_type_parse(const char *name, LayerType *t)
{
    for (int i = 0; i < L_NTYPES; i++)
        if (strcmp(name, layer_type_names[i]) == 0) { *t = (LayerType)i; return 0; }
    return -1;
}

static int has_window(LayerType t)
{
    return t == L_CONV || t == L_MAXPOOL || t == L_AVGPOOL;
}

int layer_window_ok(const LayerSpec *s)
{
    return !has_window(s->type) ||
           (s->size >= 1 && s->stride >= 1 && s->pad >= 0 && s->pad < s->size);
}

/* Output side of a sliding window: floor((in + 2 pad - size) / stride) + 1. */
static int window_out(int in, int size, int stride, int pad)
{
    int span = in + 2 * pad - size;
    return span < 0 ? 0 : span / stride + 1;
}

int layer_shape(const LayerSpec *s, Shape in, Shape *out, size_t *nparams, char *err, size_t errlen)
{
    *out = in;
    *nparams = 0;
    switch (s->type) {
    case L_CONV:
    case L_MAXPOOL:
    case L_AVGPOOL:
        if (!layer_window_ok(s)) {
            snprintf(err, errlen, "%s size=%d stride=%d pad=%d: need size >= 1, stride >= 1, "
                     "0 <= pad < size", layer_type_name(s->type), s->size, s->stride, s->pad);
            return -1;
        }
        out->h = window_out(in.h, s->size, s->stride, s->pad);
        out->w = window_out(in.w, s->size, s->stride, s->pad);
        if (out->h < 1 || out->w < 1) {
            snprintf(err, errlen, "%s size=%d stride=%d pad=%d does not fit a %dx%d input",
                     layer_type_name(s->type), s->size, s->stride, s->pad, in.h, in.w);
            return -1;
        }
        if (s->type == L_CONV) {
            out->c = s->filters;
            *nparams = (size_t)s->filters * in.c * s->size * s->size + (size_t)s->filters;
        }
        return 0;
    case L_GAP:
        out->h = out->w = 1;
        return 0;
    case L_RELU:
    case L_DROPOUT:
        return 0;
    default:
        snprintf(err, errlen, "unknown layer type %d", (int)s->type);
        return -1;
    }
}

void layer_forward(Layer *l, const float *x, int n, Workspace *ws, const ForwardKeys *keys)
{
    switch (l->spec.type) {
    case L_CONV:    conv_forward(l, x, n, ws); break;
    case L_RELU:    relu_forward(l, x, n); break;
    case L_MAXPOOL: maxpool_forward(l, x, n); break;
    case L_AVGPOOL: avgpool_forward(l, x, n); break;
    case L_GAP:     gap_forward(l, x, n); break;
    case L_DROPOUT:
        dropout_forward(l, x, n, keys->train, keys->seed, keys->step, keys->sample_ids);
        break;
    default: break;
    }
}

/* Only a convolution has work to do when no one needs dx: its parameters. */
void layer_backward(Layer *l, const float *x, const float *dy, float *dx, int n, Workspace *ws)
{
    if (l->spec.type == L_CONV) {
        conv_backward(l, x, dy, dx, n, ws);
        return;
    }
    if (!dx) return;
    switch (l->spec.type) {
    case L_RELU:    relu_backward(l, dy, dx, n); break;
    case L_MAXPOOL: maxpool_backward(l, dy, dx, n); break;
    case L_AVGPOOL: avgpool_backward(l, dy, dx, n); break;
    case L_GAP:     gap_backward(l, dy, dx, n); break;
    case L_DROPOUT: dropout_backward(l, dy, dx, n); break;
    default: break;
    }
}
