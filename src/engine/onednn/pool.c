/* Pooling on oneDNN, in the layout of the layer below:
 *   maxpool  y = max over the window's positions inside the image (padding
 *            never wins); the backward sends dy to the position kept in the
 *            workspace, which oneDNN 2.6 makes the first maximal one in
 *            row-major window order -- our convention (test_onednn checks
 *            ties, and all-equal windows that are partly padding);
 *   avgpool  y = mean over the positions inside the image (padding excluded
 *            from the count, as src/layers/avgpool.c): pooling_avg_exclude_padding;
 *   gap      an average pool whose window is the whole plane. */
#include <stdio.h>
#include "onednn.h"

static dnnl_alg_kind_t alg_of(const Layer *l)
{
    return l->spec.type == L_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
}

/* The window: the spec's, or the whole plane for gap. */
static void window(const Layer *l, dnnl_dims_t st, dnnl_dims_t k, dnnl_dims_t pl, dnnl_dims_t pr)
{
    if (l->spec.type != L_GAP) {
        od_window(l, st, k, pl, pr);
        return;
    }
    st[0] = st[1] = 1;
    k[0] = l->in.h;
    k[1] = l->in.w;
    pl[0] = pl[1] = pr[0] = pr[1] = 0;
}

int od_pool_create(struct OnednnNet *o, const Layer *l, OdLayer *ol, const OdLayer *ref,
                   char *err, size_t errlen)
{
    const int n = (int)ol->src.dims[0];
    dnnl_dims_t st, k, pl, pr, dd;
    dnnl_memory_desc_t dst;
    char what[80];
    window(l, st, k, pl, pr);
    od_dims(l->out, n, dd);
    if (ref) {
        if (od_md_with_n(&ref->dst, n, &dst, err, errlen)) return -1;
    } else {
        od_check(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_format_tag_any), "a md");
    }
    dnnl_pooling_desc_t pd;
    snprintf(what, sizeof what, "the %s of layer %d", layer_type_name(l->spec.type), l->index + 1);
    dnnl_status_t s = dnnl_pooling_forward_desc_init(&pd, dnnl_forward_training, alg_of(l), &ol->src,
                                                     &dst, st, k, pl, pr);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    if (od_prim(o, &ol->fwd, &pd, NULL, NULL, what, err, errlen)) return -1;
    ol->dst = *od_query(&ol->fwd, dnnl_query_dst_md);
    if (l->spec.type == L_MAXPOOL) ol->ws = *od_query(&ol->fwd, dnnl_query_workspace_md);
    if (l->index == 0) return 0;   /* nothing needs dx below layer 0 */
    snprintf(what, sizeof what, "the backward %s of layer %d", layer_type_name(l->spec.type), l->index + 1);
    s = dnnl_pooling_backward_desc_init(&pd, alg_of(l), &ol->src, &ol->dst, st, k, pl, pr);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    return od_prim(o, &ol->bwd, &pd, NULL, ol->fwd.pd, what, err, errlen);
}

void od_pool_forward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *src,
                     float *dst, uint8_t *ws)
{
    const OdArg a[] = {{DNNL_ARG_SRC, OD_SRC, src}, {DNNL_ARG_DST, OD_DST, dst},
                       {DNNL_ARG_WORKSPACE, OD_WS, ws}};
    od_run(o, &ol->fwd, ol->m, l->spec.type == L_MAXPOOL ? 3 : 2, a);
}

void od_pool_backward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *dy,
                      float *dx, const uint8_t *ws)
{
    const OdArg a[] = {{DNNL_ARG_DIFF_DST, OD_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, OD_DIFF_SRC, dx},
                       {DNNL_ARG_WORKSPACE, OD_WS, ws}};
    od_run(o, &ol->bwd, ol->m, l->spec.type == L_MAXPOOL ? 3 : 2, a);
}
