/* Layer specs and shapes as the layer tests write them (test_layers.c,
 * test_onednn.c). */
#ifndef INNA_TEST_SPECS_H
#define INNA_TEST_SPECS_H
#include "layers.h"

static inline size_t shape_len(Shape s) { return (size_t)s.c * s.h * s.w; }

static inline LayerSpec conv_spec(int filters, int size, int stride, int pad)
{
    return (LayerSpec){.type = L_CONV, .filters = filters, .size = size, .stride = stride, .pad = pad};
}
static inline LayerSpec pool_spec(LayerType t, int size, int stride, int pad)
{
    return (LayerSpec){.type = t, .size = size, .stride = stride, .pad = pad};
}
static inline LayerSpec plain_spec(LayerType t) { return (LayerSpec){.type = t}; }
static inline LayerSpec dropout_spec(float rate) { return (LayerSpec){.type = L_DROPOUT, .rate = rate}; }
#endif
