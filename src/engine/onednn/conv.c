/* Convolution on oneDNN:
 *     y[n][o][p] = b[o] + sum_{c,ki,kj} W[o][c][ki][kj] x[n][c][p*stride - pad + (ki,kj)]
 * (then max(y, 0) when the next layer is a relu: a post-op, so y is
 * written once).  Three primitives: forward (bias fused), backward-data
 * dx = W^T dy, backward-weights dW = dy x^T with db = sum dy.  The
 * primitives pick the weight formats; net_prepare_weights reorders the
 * plain weights [out][in][kh][kw] into them once per update, and the
 * weight gradient is reordered back and added into grads (a sum post-op).
 *
 * x comes in the layout of the layer below.  When no JIT kernel takes that
 * layout for one of the three primitives (oneDNN falls back to its
 * reference loops, 10-100x slower: e.g. 6 channels in blocks of 16 into a
 * stride-2 convolution), the convolution computes on another input layout
 * (csrc), and x and dx are reordered between the two (convert). */
#include <stdio.h>
#include <string.h>
#include "onednn.h"

static int is_reference(const OdPrim *pr)
{
    const char *name = NULL;
    dnnl_primitive_desc_query(pr->pd, dnnl_query_impl_info_str, 0, &name);
    return name && strncmp(name, "ref", 3) == 0;
}

/* The forward on input layout src and output layout dst_tag (any: the
 * primitive's choice). */
static int create_forward(struct OnednnNet *o, const Layer *l, int fuse_relu, OdLayer *ol,
                          const OdLayer *ref, const dnnl_memory_desc_t *src, dnnl_format_tag_t dst_tag,
                          const dnnl_memory_desc_t *bias, char *err, size_t errlen)
{
    const int n = (int)src->dims[0], k = l->spec.size;
    dnnl_dims_t st, ker, pl, pr, dd, wd = {l->out.c, l->in.c, k, k};
    dnnl_memory_desc_t w, dst;
    od_window(l, st, ker, pl, pr);
    od_dims(l->out, n, dd);
    /* max_n: the primitive chooses (any); other n: the max_n plan's formats. */
    if (ref) {
        w = *od_query(&ref->fwd, dnnl_query_weights_md);
        if (od_md_with_n(&ref->dst, n, &dst, err, errlen)) return -1;
    } else {
        od_check(dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any), "a md");
        od_check(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dst_tag), "a md");
    }
    dnnl_convolution_desc_t cd;
    char what[64];
    snprintf(what, sizeof what, "the convolution of layer %d", l->index + 1);
    dnnl_status_t s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
                                                         src, &w, bias, &dst, st, pl, pr);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    dnnl_post_ops_t po = NULL;
    if (fuse_relu) {
        od_check(dnnl_post_ops_create(&po), "post-ops");
        od_check(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "post-ops");
    }
    const int rc = od_prim(o, &ol->fwd, &cd, po, NULL, what, err, errlen);
    if (po) dnnl_post_ops_destroy(po);
    if (rc) return -1;
    ol->csrc = *od_query(&ol->fwd, dnnl_query_src_md);
    ol->dst = *od_query(&ol->fwd, dnnl_query_dst_md);
    return 0;
}

/* Backward-data (not below layer 0: nothing needs that dx) and -weights. */
static int create_backward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const OdLayer *ref,
                           const dnnl_memory_desc_t *bias, char *err, size_t errlen)
{
    const int k = l->spec.size;
    dnnl_dims_t st, ker, pl, pr, wd = {l->out.c, l->in.c, k, k};
    dnnl_memory_desc_t any;
    dnnl_convolution_desc_t cd;
    dnnl_status_t s;
    char what[80];
    od_window(l, st, ker, pl, pr);
    od_check(dnnl_memory_desc_init_by_tag(&any, 4, wd, dnnl_f32, dnnl_format_tag_any), "a md");
    if (l->index > 0) {
        const dnnl_memory_desc_t *wb = ref ? od_query(&ref->bwd, dnnl_query_weights_md) : &any;
        s = dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &ol->csrc, wb,
                                                     &ol->dst, st, pl, pr);
        snprintf(what, sizeof what, "the backward-data convolution of layer %d", l->index + 1);
        if (s != dnnl_success) return od_fail(s, what, err, errlen);
        if (od_prim(o, &ol->bwd, &cd, NULL, ol->fwd.pd, what, err, errlen)) return -1;
    }
    const dnnl_memory_desc_t *dw = ref ? od_query(&ref->bwd_w, dnnl_query_diff_weights_md) : &any;
    s = dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &ol->csrc, dw, bias,
                                                    &ol->dst, st, pl, pr);
    snprintf(what, sizeof what, "the backward-weights convolution of layer %d", l->index + 1);
    if (s != dnnl_success) return od_fail(s, what, err, errlen);
    return od_prim(o, &ol->bwd_w, &cd, NULL, ol->fwd.pd, what, err, errlen);
}

/* How many of the three primitives run oneDNN's reference loops. */
static int references(const OdLayer *ol)
{
    return is_reference(&ol->fwd) + (ol->bwd.pd && is_reference(&ol->bwd)) + is_reference(&ol->bwd_w);
}

static void drop(OdLayer *ol)
{
    od_prim_free(&ol->fwd);
    od_prim_free(&ol->bwd);
    od_prim_free(&ol->bwd_w);
}

/* The three primitives on input layout src. */
static int create_on(struct OnednnNet *o, const Layer *l, int fuse_relu, OdLayer *ol, const OdLayer *ref,
                     const dnnl_memory_desc_t *src, dnnl_format_tag_t dst_tag, const dnnl_memory_desc_t *bias,
                     char *err, size_t errlen)
{
    if (create_forward(o, l, fuse_relu, ol, ref, src, dst_tag, bias, err, errlen) ||
        create_backward(o, l, ol, ref, bias, err, errlen)) {
        drop(ol);
        return -1;
    }
    return 0;
}

/* The input layout: the layer below's if JIT kernels take it for all three
 * primitives; else the one of: the primitives' own choice, nhwc in and out
 * (oneDNN's brgconv kernels; they decline an output left to any), nChw16c
 * with the fewest primitives left to reference loops (the first on ties).
 * The max_n plan decides; smaller n follow it. */
static int choose_layout(struct OnednnNet *o, const Layer *l, int fuse_relu, OdLayer *ol,
                         const OdLayer *ref, const dnnl_memory_desc_t *bias, char *err, size_t errlen)
{
    enum { NCAND = 4 };
    static const dnnl_format_tag_t src_tag[NCAND] = {dnnl_format_tag_undef, dnnl_format_tag_any, dnnl_nhwc,
                                                     dnnl_nChw16c};
    static const dnnl_format_tag_t dst_tag[NCAND] = {dnnl_format_tag_any, dnnl_format_tag_any, dnnl_nhwc,
                                                     dnnl_format_tag_any};
    dnnl_memory_desc_t cand[NCAND];
    if (ref) {
        if (od_md_with_n(&ref->csrc, (int)ol->src.dims[0], &cand[0], err, errlen)) return -1;
        return create_on(o, l, fuse_relu, ol, ref, &cand[0], dnnl_format_tag_any, bias, err, errlen);
    }
    int best = -1, fewest = 4;
    for (int c = 0; c < NCAND; c++) {
        cand[c] = ol->src;
        if (c > 0) od_check(dnnl_memory_desc_init_by_tag(&cand[c], 4, ol->src.dims, dnnl_f32, src_tag[c]), "a md");
        if (create_on(o, l, fuse_relu, ol, ref, &cand[c], dst_tag[c], bias, err, errlen) != 0) continue;
        const int r = references(ol);
        if (r == 0) return 0;
        if (r < fewest) { best = c; fewest = r; }
        drop(ol);
    }
    if (best < 0) return -1;   /* err: the last candidate's failure */
    return create_on(o, l, fuse_relu, ol, ref, &cand[best], dst_tag[best], bias, err, errlen);
}

/* x and dx between the layer below's layout and the convolution's. */
static int create_conversion(struct OnednnNet *o, const Layer *l, OdLayer *ol, char *err, size_t errlen)
{
    if (ol->src.format_kind == dnnl_format_kind_any) ol->src = ol->csrc;  /* layer 0 */
    ol->convert = !dnnl_memory_desc_equal(&ol->src, &ol->csrc);
    if (!ol->convert) return 0;
    if (od_reorder(o, &ol->to_conv, &ol->src, &ol->csrc, 0, "an input reorder", err, errlen) ||
        (l->index > 0 &&
         od_reorder(o, &ol->from_conv, &ol->csrc, &ol->src, 0, "a gradient reorder", err, errlen)))
        return -1;
    return 0;
}

/* Weight reorders (plain <-> the primitives' formats) and memory objects. */
static int create_weight_moves(struct OnednnNet *o, const Layer *l, OdLayer *ol, const dnnl_memory_desc_t *bias,
                               char *err, size_t errlen)
{
    const int k = l->spec.size;
    dnnl_dims_t wd = {l->out.c, l->in.c, k, k};
    dnnl_memory_desc_t plain;
    od_check(dnnl_memory_desc_init_by_tag(&plain, 4, wd, dnnl_f32, dnnl_oihw), "a md");
    const dnnl_memory_desc_t *wf = od_query(&ol->fwd, dnnl_query_weights_md);
    const dnnl_memory_desc_t *dw = od_query(&ol->bwd_w, dnnl_query_diff_weights_md);
    if (od_reorder(o, &ol->w_fwd, &plain, wf, 0, "a weight reorder", err, errlen) ||
        od_reorder(o, &ol->dw_sum, dw, &plain, 1, "a weight-gradient reorder", err, errlen) ||
        od_mem(&ol->m[OD_WPLAIN], &plain, err, errlen) || od_mem(&ol->m[OD_W], wf, err, errlen) ||
        od_mem(&ol->m[OD_BIAS], bias, err, errlen) || od_mem(&ol->m[OD_DB], bias, err, errlen) ||
        od_mem(&ol->m[OD_DW], dw, err, errlen) || od_mem(&ol->m[OD_CSRC], &ol->csrc, err, errlen) ||
        od_mem(&ol->m[OD_DIFF_CSRC], &ol->csrc, err, errlen))
        return -1;
    if (!ol->bwd.pd) return 0;
    const dnnl_memory_desc_t *wb = od_query(&ol->bwd, dnnl_query_weights_md);
    return od_reorder(o, &ol->w_bwd, &plain, wb, 0, "a weight reorder", err, errlen) ||
           od_mem(&ol->m[OD_WB], wb, err, errlen) ? -1 : 0;
}

int od_conv_create(struct OnednnNet *o, const Layer *l, int fuse_relu, OdLayer *ol,
                   const OdLayer *ref, char *err, size_t errlen)
{
    dnnl_dims_t bd = {l->out.c};
    dnnl_memory_desc_t bias;
    od_check(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_x), "a md");
    if (choose_layout(o, l, fuse_relu, ol, ref, &bias, err, errlen) ||
        create_conversion(o, l, ol, err, errlen))
        return -1;
    return create_weight_moves(o, l, ol, &bias, err, errlen);
}

/* Once per update: w (plain, shared by the rank's nets) into this net's
 * forward and backward-data formats (the plan of max_n: every n shares them). */
void od_conv_prepare(struct OnednnNet *o, const Layer *l, OdLayer *ol)
{
    const int i = l->index;
    const OdArg a[] = {{DNNL_ARG_FROM, OD_WPLAIN, l->w}, {DNNL_ARG_TO, OD_W, o->w[i]}};
    od_run(o, &ol->w_fwd, ol->m, 2, a);
    if (o->wb[i] && o->wb[i] != o->w[i]) {
        const OdArg b[] = {{DNNL_ARG_FROM, OD_WPLAIN, l->w}, {DNNL_ARG_TO, OD_WB, o->wb[i]}};
        od_run(o, &ol->w_bwd, ol->m, 2, b);
    }
}

void od_conv_forward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *src, float *dst)
{
    if (ol->convert) {
        const OdArg r[] = {{DNNL_ARG_FROM, OD_SRC, src}, {DNNL_ARG_TO, OD_CSRC, o->cin[l->index]}};
        od_run(o, &ol->to_conv, ol->m, 2, r);
        src = o->cin[l->index];
    }
    const OdArg a[] = {{DNNL_ARG_SRC, OD_CSRC, src}, {DNNL_ARG_WEIGHTS, OD_W, o->w[l->index]},
                       {DNNL_ARG_BIAS, OD_BIAS, l->b}, {DNNL_ARG_DST, OD_DST, dst}};
    od_run(o, &ol->fwd, ol->m, 4, a);
}

/* dW, db into scratch, then added into the flat gradient (dW by a reorder
 * with a sum post-op, db by a loop); dx when asked for. */
void od_conv_backward(struct OnednnNet *o, Layer *l, OdLayer *ol, const float *src,
                      const float *dy, float *dx)
{
    if (ol->convert) src = o->cin[l->index];   /* converted by the forward */
    const OdArg w[] = {{DNNL_ARG_SRC, OD_CSRC, src}, {DNNL_ARG_DIFF_DST, OD_DIFF_DST, dy},
                       {DNNL_ARG_DIFF_WEIGHTS, OD_DW, o->dw}, {DNNL_ARG_DIFF_BIAS, OD_DB, o->db}};
    od_run(o, &ol->bwd_w, ol->m, 4, w);
    const OdArg s[] = {{DNNL_ARG_FROM, OD_DW, o->dw}, {DNNL_ARG_TO, OD_WPLAIN, l->dw}};
    od_run(o, &ol->dw_sum, ol->m, 2, s);
    for (int c = 0; c < l->out.c; c++) l->db[c] += o->db[c];
    if (!dx) return;
    const OdArg d[] = {{DNNL_ARG_DIFF_DST, OD_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, OD_WB, o->wb[l->index]},
                       {DNNL_ARG_DIFF_SRC, OD_DIFF_CSRC, ol->convert ? o->ctmp : dx}};
    od_run(o, &ol->bwd, ol->m, 3, d);
    if (!ol->convert) return;
    const OdArg r[] = {{DNNL_ARG_FROM, OD_DIFF_CSRC, o->ctmp}, {DNNL_ARG_TO, OD_DIFF_SRC, dx}};
    od_run(o, &ol->from_conv, ol->m, 2, r);
}
