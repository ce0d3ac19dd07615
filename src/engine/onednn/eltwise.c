/* ReLU on oneDNN: y = max(x, 0), dx = dy * [y > 0] (ReLU'(0) = 0, the
 * convention of src/layers/relu.c): the eltwise backward that reads the
 * output (relu_use_dst_for_bwd), which is also the only one that works when
 * the relu is a convolution's post-op and its input was never stored.  Then
 * the forward is nothing (the convolution wrote y) and only the backward
 * primitive runs; its forward descriptor is made as the backward's hint. */
#include <stdio.h>
#include "onednn.h"

int od_relu_create(struct OnednnNet *o, const Layer *l, OdLayer *ol, char *err, size_t errlen)
{
    char what[64];
    dnnl_eltwise_desc_t ed;
    snprintf(what, sizeof what, "the relu of layer %d", l->index + 1);
    ol->dst = ol->src;
    dnnl_status_t s = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                                     dnnl_eltwise_relu_use_dst_for_bwd, &ol->src, 0.0f, 0.0f);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    if (od_prim(o, &ol->fwd, &ed, NULL, NULL, what, err, errlen)) return -1;
    if (l->index == 0) return 0;   /* nothing needs dx below layer 0 */
    snprintf(what, sizeof what, "the backward relu of layer %d", l->index + 1);
    s = dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd, &ol->dst, &ol->dst, 0.0f, 0.0f);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    return od_prim(o, &ol->bwd, &ed, NULL, ol->fwd.pd, what, err, errlen);
}

void od_relu_forward(struct OnednnNet *o, OdLayer *ol, const float *src, float *dst)
{
    const OdArg a[] = {{DNNL_ARG_SRC, OD_SRC, src}, {DNNL_ARG_DST, OD_DST, dst}};
    od_run(o, &ol->fwd, ol->m, 2, a);
}

void od_relu_backward(struct OnednnNet *o, OdLayer *ol, const float *y, const float *dy, float *dx)
{
    const OdArg a[] = {{DNNL_ARG_DST, OD_DST, y}, {DNNL_ARG_DIFF_DST, OD_DIFF_DST, dy},
                       {DNNL_ARG_DIFF_SRC, OD_DIFF_SRC, dx}};
    od_run(o, &ol->bwd, ol->m, 3, a);
}
