/* The oneDNN engine's glue: the CPU engine, status checks, primitives and
 * reorders, plans (every primitive of the net for one batch size), the
 * net's buffers in the primitives' layouts, and the net_* hooks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl_debug.h>
#include "onednn.h"

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;

static void make_engine(void)
{
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}

dnnl_engine_t od_engine(void)
{
    pthread_once(&g_engine_once, make_engine);
    return g_engine;
}

int od_fail(dnnl_status_t s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "oneDNN: cannot create %s: %s", what, dnnl_status2str(s));
    return -1;
}

void od_check(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return;
    fprintf(stderr, "inna: oneDNN: %s failed: %s\n", what, dnnl_status2str(s));
    abort();
}

static void *alloc_bytes(size_t bytes)
{
    /* 64-byte aligned (a cache line, an AVX-512 vector), zeroed: padding
     * lanes of blocked layouts must hold zeros. */
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) memset(p, 0, rounded ? rounded : 64);
    return p;
}

/* The net's one scratchpad (primitives of a net run one after another)
 * grows to the largest any primitive asks for: only while primitives are
 * created, never inside a step once every shape has been seen. */
static int grow_scratch(struct OnednnNet *o, size_t need)
{
    if (need <= o->scratch_bytes) return 0;
    void *p = alloc_bytes(need);
    if (!p) return -1;
    free(o->scratch);
    o->bytes += need - o->scratch_bytes;
    o->scratch = p;
    o->scratch_bytes = need;
    return 0;
}

/* pd made: the primitive and its scratchpad memory. */
static dnnl_status_t finish_prim(struct OnednnNet *o, OdPrim *pr)
{
    dnnl_status_t s = dnnl_primitive_create(&pr->p, pr->pd);
    if (s != dnnl_success) return s;
    const dnnl_memory_desc_t *md = od_query(pr, dnnl_query_scratchpad_md);
    s = dnnl_memory_create(&pr->scratch, md, od_engine(), DNNL_MEMORY_NONE);
    if (s != dnnl_success) return s;
    return grow_scratch(o, dnnl_memory_desc_get_size(md)) ? dnnl_out_of_memory : dnnl_success;
}

static dnnl_status_t make_attr(dnnl_primitive_attr_t *attr, const_dnnl_post_ops_t po)
{
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && po) s = dnnl_primitive_attr_set_post_ops(*attr, po);
    return s;
}

int od_prim(struct OnednnNet *o, OdPrim *pr, const_dnnl_op_desc_t desc, const_dnnl_post_ops_t po,
            const_dnnl_primitive_desc_t hint, const char *what, char *err, size_t errlen)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t s = make_attr(&attr, po);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pr->pd, desc, attr, od_engine(), hint);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_success) s = finish_prim(o, pr);
    return s == dnnl_success ? 0 : od_fail(s, what, err, errlen);
}

/* to = from (accumulate: to += from, a sum post-op: dst = src + 1 * dst). */
int od_reorder(struct OnednnNet *o, OdPrim *pr, const dnnl_memory_desc_t *from,
               const dnnl_memory_desc_t *to, int accumulate, const char *what, char *err,
               size_t errlen)
{
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t s = dnnl_success;
    if (accumulate) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(po, 1.0f);
    }
    if (s == dnnl_success) s = make_attr(&attr, po);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pr->pd, from, od_engine(), to, od_engine(), attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    if (s == dnnl_success) s = finish_prim(o, pr);
    return s == dnnl_success ? 0 : od_fail(s, what, err, errlen);
}

void od_prim_free(OdPrim *pr)
{
    if (pr->scratch) dnnl_memory_destroy(pr->scratch);
    if (pr->p) dnnl_primitive_destroy(pr->p);
    if (pr->pd) dnnl_primitive_desc_destroy(pr->pd);
    memset(pr, 0, sizeof *pr);
}

const dnnl_memory_desc_t *od_query(const OdPrim *pr, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pr->pd, what, 0);
}

int od_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, char *err, size_t errlen)
{
    dnnl_status_t s = dnnl_memory_create(m, md, od_engine(), DNNL_MEMORY_NONE);
    return s == dnnl_success ? 0 : od_fail(s, "a memory object", err, errlen);
}

void od_run(struct OnednnNet *o, const OdPrim *pr, dnnl_memory_t *m, int nargs, const OdArg *args)
{
    enum { MAX_ARGS = 8 };
    dnnl_exec_arg_t a[MAX_ARGS];
    for (int k = 0; k < nargs && k < MAX_ARGS - 1; k++) {
        od_check(dnnl_memory_set_data_handle(m[args[k].role], (void *)args[k].buf), "binding a buffer");
        a[k].arg = args[k].arg;
        a[k].memory = m[args[k].role];
    }
    od_check(dnnl_memory_set_data_handle(pr->scratch, o->scratch), "binding the scratchpad");
    a[nargs].arg = DNNL_ARG_SCRATCHPAD;
    a[nargs].memory = pr->scratch;
    od_check(dnnl_primitive_execute(pr->p, o->stream, nargs + 1, a), "a primitive");
}

int od_md_with_n(const dnnl_memory_desc_t *md, int n, dnnl_memory_desc_t *out, char *err,
                 size_t errlen)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int ok = md->format_kind == dnnl_blocked && md->ndims >= 1;
    for (int k = 0; ok && k < b->inner_nblks; k++) ok = b->inner_idxs[k] != 0;
    for (int d = 1; ok && d < md->ndims; d++) ok = b->strides[0] >= b->strides[d];
    if (!ok) {
        snprintf(err, errlen, "oneDNN: a layout whose batch dimension is not outermost");
        return -1;
    }
    *out = *md;
    out->dims[0] = out->padded_dims[0] = n;
    return 0;
}

void od_dims(Shape s, int n, dnnl_dims_t d)
{
    d[0] = n; d[1] = s.c; d[2] = s.h; d[3] = s.w;
}

/* oneDNN wants both paddings: right = (out - 1) * stride + size - in - left,
 * which is what our output size floor((in + 2 pad - size) / stride) + 1
 * leaves: at most pad, less (even negative, which oneDNN takes) when
 * trailing rows lie in no window. */
void od_window(const Layer *l, dnnl_dims_t strides, dnnl_dims_t kernel, dnnl_dims_t pad_l,
               dnnl_dims_t pad_r)
{
    const int s = l->spec.stride, k = l->spec.size, p = l->spec.pad;
    strides[0] = strides[1] = s;
    kernel[0] = kernel[1] = k;
    pad_l[0] = pad_l[1] = p;
    pad_r[0] = (dnnl_dim_t)(l->out.h - 1) * s + k - l->in.h - p;
    pad_r[1] = (dnnl_dim_t)(l->out.w - 1) * s + k - l->in.w - p;
}

/* ---- plans ---- */

static int is_last(const Net *net, int i) { return i == net->nlayers - 1; }

/* The plain layouts at the net's two ends, [c][n][h][w] as dims {n, c, h, w}. */
static void plain_md(Shape s, int n, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d, st = {(dnnl_dim_t)s.h * s.w, (dnnl_dim_t)n * s.h * s.w, s.w, 1};
    od_dims(s, n, d);
    od_check(dnnl_memory_desc_init_by_strides(md, 4, d, dnnl_f32, st), "a plain memory descriptor");
}

/* Layer i's input layout in plan n: the previous layer's output; at layer 0
 * the max_n plan lets a convolution choose (any) and gives other layers
 * nChw16c (channels in blocks of 16, the AVX-512 vector); smaller n reuse it. */
static int source_md(const Net *net, int i, int n, const OdLayer *prev, const OdLayer *ref,
                     dnnl_memory_desc_t *md, char *err, size_t errlen)
{
    if (i > 0) { *md = prev->dst; return 0; }
    if (ref) return od_md_with_n(&ref->src, n, md, err, errlen);
    dnnl_dims_t d;
    od_dims(net->input, n, d);
    const dnnl_format_tag_t tag = net->layers[0].spec.type == L_CONV ? dnnl_format_tag_any : dnnl_nChw16c;
    od_check(dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, tag), "a memory descriptor");
    return 0;
}

static int create_layer(struct OnednnNet *o, const Net *net, int i, OdLayer *ol, const OdLayer *ref,
                        char *err, size_t errlen)
{
    const Layer *l = &net->layers[i];
    switch (l->spec.type) {
    case L_CONV: return od_conv_create(o, l, o->fused[i], ol, ref, err, errlen);
    case L_RELU: return od_relu_create(o, l, ol, err, errlen);
    case L_MAXPOOL:
    case L_AVGPOOL:
    case L_GAP: return od_pool_create(o, l, ol, ref, err, errlen);
    case L_DROPOUT:
        ol->dst = ol->src;
        return od_dropout_check(ol, err, errlen);
    default:
        snprintf(err, errlen, "oneDNN: layer %d: unknown type", i + 1);
        return -1;
    }
}

/* The reorders at the ends and the memory objects of every role. */
static int create_ends(struct OnednnNet *o, const Net *net, int i, int n, OdLayer *ol, char *err,
                       size_t errlen)
{
    dnnl_memory_desc_t plain;
    if (i == 0) {
        plain_md(net->input, n, &plain);
        if (od_reorder(o, &ol->in, &plain, &ol->src, 0, "the input reorder", err, errlen) ||
            od_mem(&ol->m[OD_PLAIN_IN], &plain, err, errlen))
            return -1;
    }
    if (is_last(net, i)) {
        plain_md(net->layers[i].out, n, &plain);
        if (od_reorder(o, &ol->logits, &ol->dst, &plain, 0, "the logits reorder", err, errlen) ||
            od_reorder(o, &ol->dlogits, &plain, &ol->dst, 0, "the dlogits reorder", err, errlen) ||
            od_mem(&ol->m[OD_PLAIN_OUT], &plain, err, errlen))
            return -1;
    }
    if (od_mem(&ol->m[OD_SRC], &ol->src, err, errlen) || od_mem(&ol->m[OD_DIFF_SRC], &ol->src, err, errlen) ||
        od_mem(&ol->m[OD_DST], &ol->dst, err, errlen) || od_mem(&ol->m[OD_DIFF_DST], &ol->dst, err, errlen))
        return -1;
    if (net->layers[i].spec.type == L_MAXPOOL) return od_mem(&ol->m[OD_WS], &ol->ws, err, errlen);
    return 0;
}

static void free_plan(const Net *net, OdPlan *p)
{
    if (!p) return;
    for (int i = 0; p->layers && i < net->nlayers; i++) {
        OdLayer *ol = &p->layers[i];
        OdPrim *prims[] = {&ol->fwd, &ol->bwd, &ol->bwd_w, &ol->in, &ol->logits, &ol->dlogits,
                           &ol->w_fwd, &ol->w_bwd, &ol->dw_sum, &ol->to_conv, &ol->from_conv};
        for (size_t k = 0; k < sizeof prims / sizeof prims[0]; k++) od_prim_free(prims[k]);
        for (int r = 0; r < OD_NMEM; r++)
            if (ol->m[r]) dnnl_memory_destroy(ol->m[r]);
    }
    free(p->layers);
    free(p);
}

/* Every primitive of the net for batch n (layouts from the max_n plan, if made). */
static OdPlan *make_plan(struct OnednnNet *o, const Net *net, int n, char *err, size_t errlen)
{
    OdPlan *p = calloc(1, sizeof *p), *ref = o->plans[net->max_n];
    if (p) p->layers = calloc((size_t)net->nlayers, sizeof(OdLayer));
    if (!p || !p->layers) {
        snprintf(err, errlen, "out of memory");
        free_plan(net, p);
        return NULL;
    }
    p->n = n;
    for (int i = 0; i < net->nlayers; i++) {
        OdLayer *ol = &p->layers[i];
        const OdLayer *r = ref ? &ref->layers[i] : NULL;
        if (source_md(net, i, n, i ? &p->layers[i - 1] : NULL, r, &ol->src, err, errlen) ||
            create_layer(o, net, i, ol, r, err, errlen) || create_ends(o, net, i, n, ol, err, errlen)) {
            free_plan(net, p);
            return NULL;
        }
    }
    return p;
}

/* The plan for n, made at its first use (then cached). */
static OdPlan *plan_for(Net *net, int n)
{
    struct OnednnNet *o = net->dnnl;
    if (n < 1 || n > net->max_n) {
        fprintf(stderr, "inna: oneDNN: a batch of %d samples in a network built for %d\n", n, net->max_n);
        abort();
    }
    if (!o->plans[n]) {
        char err[512];
        const size_t before = o->scratch_bytes;
        o->plans[n] = make_plan(o, net, n, err, sizeof err);
        if (!o->plans[n]) {
            fprintf(stderr, "inna: %s (batch of %d)\n", err, n);
            abort();
        }
        net->engine_bytes += o->scratch_bytes - before;
    }
    return o->plans[n];
}

/* ---- buffers ---- */

static void *take(struct OnednnNet *o, size_t bytes, int *fail)
{
    void *p = alloc_bytes(bytes);
    if (!p) *fail = 1;
    o->bytes += bytes;
    return p;
}

static size_t md_bytes(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md); }

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* A convolution's weights in its formats, its input in its own layout
 * (convert), and the sizes of the scratch it shares with the others. */
static void alloc_conv(struct OnednnNet *o, const Layer *l, const OdLayer *ol, int *fail)
{
    const int i = l->index;
    const dnnl_memory_desc_t *wf = od_query(&ol->fwd, dnnl_query_weights_md);
    o->w[i] = take(o, md_bytes(wf), fail);
    if (i > 0) {
        const dnnl_memory_desc_t *wb = od_query(&ol->bwd, dnnl_query_weights_md);
        o->wb[i] = dnnl_memory_desc_equal(wf, wb) ? o->w[i] : take(o, md_bytes(wb), fail);
    }
    o->dw_bytes = max_sz(o->dw_bytes, md_bytes(od_query(&ol->bwd_w, dnnl_query_diff_weights_md)));
    if (l->out.c > o->db_len) o->db_len = l->out.c;
    if (!ol->convert) return;
    o->cin[i] = take(o, md_bytes(&ol->csrc), fail);
    o->ctmp_bytes = max_sz(o->ctmp_bytes, md_bytes(&ol->csrc));
}

/* Buffers sized by the max_n plan's layouts (smaller n use a prefix). */
static int alloc_buffers(Net *net, const OdPlan *p)
{
    struct OnednnNet *o = net->dnnl;
    int fail = 0;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        const OdLayer *ol = &p->layers[i];
        o->out_bytes[i] = md_bytes(&ol->dst);
        const int alias = l->spec.type == L_RELU && i > 0 && o->fused[i - 1];
        o->out[i] = alias ? o->out[i - 1] : take(o, o->out_bytes[i], &fail);
        if (i > 0) o->dbuf_bytes = max_sz(o->dbuf_bytes, md_bytes(&ol->src));
        if (l->spec.type == L_MAXPOOL) o->ws[i] = take(o, o->ws_bytes[i] = md_bytes(&ol->ws), &fail);
        if (l->spec.type == L_DROPOUT) l->mask = take(o, o->out_bytes[i] / sizeof(float), &fail);
        if (l->spec.type == L_CONV) alloc_conv(o, l, ol, &fail);
        l->y = is_last(net, i) ? take(o, sizeof(float) * l->out.c * net->max_n, &fail) : o->out[i];
    }
    o->in = take(o, o->in_bytes = md_bytes(&p->layers[0].src), &fail);
    o->dlast = take(o, o->dlast_bytes = md_bytes(&p->layers[net->nlayers - 1].dst), &fail);
    o->dw = take(o, o->dw_bytes, &fail);
    if (o->ctmp_bytes) o->ctmp = take(o, o->ctmp_bytes, &fail);
    o->db = take(o, sizeof(float) * (size_t)o->db_len, &fail);
    for (int k = 0; k < 2; k++) net->dbuf[k] = take(o, o->dbuf_bytes, &fail);
    return fail ? -1 : 0;
}

int onednn_build(Net *net, char *err, size_t errlen)
{
    struct OnednnNet *o = calloc(1, sizeof *o);
    const size_t L = (size_t)net->nlayers;
    net->dnnl = o;
    if (!o) { snprintf(err, errlen, "out of memory"); return -1; }
    if (!od_engine()) { snprintf(err, errlen, "oneDNN: cannot create the CPU engine"); return -1; }
    dnnl_status_t s = dnnl_stream_create(&o->stream, od_engine(), dnnl_stream_default_flags);
    if (s != dnnl_success) return od_fail(s, "a stream", err, errlen);
    o->plans = calloc((size_t)net->max_n + 1, sizeof(OdPlan *));
    o->out = calloc(L, sizeof(float *));
    o->w = calloc(L, sizeof(float *));
    o->wb = calloc(L, sizeof(float *));
    o->ws = calloc(L, sizeof(uint8_t *));
    o->cin = calloc(L, sizeof(float *));
    o->fused = calloc(L, sizeof(int));
    o->out_bytes = calloc(L, sizeof(size_t));
    o->ws_bytes = calloc(L, sizeof(size_t));
    if (!o->plans || !o->out || !o->w || !o->wb || !o->ws || !o->cin || !o->fused || !o->out_bytes || !o->ws_bytes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* conv then relu: the relu is the convolution's post-op (one pass over y). */
    for (int i = 0; i + 1 < net->nlayers; i++)
        o->fused[i] = net->layers[i].spec.type == L_CONV && net->layers[i + 1].spec.type == L_RELU;
    if (!(o->plans[net->max_n] = make_plan(o, net, net->max_n, err, errlen))) return -1;
    if (alloc_buffers(net, o->plans[net->max_n]) != 0) {
        snprintf(err, errlen, "out of memory allocating the network for batch %d", net->max_n);
        return -1;
    }
    return 0;
}

void onednn_free(Net *net)
{
    struct OnednnNet *o = net->dnnl;
    if (!o) return;
    for (int n = 0; o->plans && n <= net->max_n; n++) free_plan(net, o->plans[n]);
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        const int alias = i > 0 && o->out && o->out[i] == o->out[i - 1];
        if (is_last(net, i)) free(l->y);
        if (o->out && !alias) free(o->out[i]);
        if (o->wb && o->w && o->wb[i] != o->w[i]) free(o->wb[i]);
        if (o->w) free(o->w[i]);
        if (o->ws) free(o->ws[i]);
        if (o->cin) free(o->cin[i]);
        free(l->mask);
        l->y = NULL;
        l->mask = NULL;
    }
    for (int k = 0; k < 2; k++) { free(net->dbuf[k]); net->dbuf[k] = NULL; }
    free(o->in); free(o->dlast); free(o->dw); free(o->db); free(o->ctmp); free(o->scratch);
    free(o->plans); free(o->out); free(o->w); free(o->wb); free(o->ws); free(o->cin); free(o->fused);
    free(o->out_bytes); free(o->ws_bytes);
    if (o->stream) dnnl_stream_destroy(o->stream);
    free(o);
    net->dnnl = NULL;
}

/* ---- the net_* hooks ---- */

size_t onednn_bytes(const Net *net) { return net->dnnl ? net->dnnl->bytes : 0; }

void onednn_prepare_weights(Net *net)
{
    struct OnednnNet *o = net->dnnl;
    OdPlan *p = o->plans[net->max_n];
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].spec.type == L_CONV) od_conv_prepare(o, &net->layers[i], &p->layers[i]);
    o->prepared = 1;
}

void onednn_layer_forward(Net *net, int i, const float *in, int n, int train, uint64_t seed,
                          long step, const long *sample_ids)
{
    struct OnednnNet *o = net->dnnl;
    Layer *l = &net->layers[i];
    OdLayer *ol = &plan_for(net, n)->layers[i];
    float *dst = o->out[i];
    if (i == 0) {
        const OdArg a[] = {{DNNL_ARG_FROM, OD_PLAIN_IN, in}, {DNNL_ARG_TO, OD_SRC, o->in}};
        od_run(o, &ol->in, ol->m, 2, a);
        in = o->in;
    }
    switch (l->spec.type) {
    case L_CONV:
        if (!o->prepared) {
            fprintf(stderr, "inna: oneDNN: a forward before net_prepare_weights\n");
            abort();
        }
        od_conv_forward(o, l, ol, in, dst);
        break;
    case L_RELU: if (!(i > 0 && o->fused[i - 1])) od_relu_forward(o, ol, in, dst); break;
    case L_MAXPOOL:
    case L_AVGPOOL:
    case L_GAP: od_pool_forward(o, l, ol, in, dst, o->ws[i]); break;
    case L_DROPOUT: od_dropout_forward(l, ol, n, in, dst, train, seed, step, sample_ids); break;
    default: break;
    }
    if (is_last(net, i)) {
        const OdArg a[] = {{DNNL_ARG_FROM, OD_DST, dst}, {DNNL_ARG_TO, OD_PLAIN_OUT, l->y}};
        od_run(o, &ol->logits, ol->m, 2, a);
    }
}

float *onednn_layer_backward(Net *net, int i, const float *x, const float *dy, int n)
{
    struct OnednnNet *o = net->dnnl;
    Layer *l = &net->layers[i];
    OdLayer *ol = &plan_for(net, n)->layers[i];
    /* dx in the ping-pong buffer dy is not in; an element-wise layer writes
     * it over dy (dy is the engine's own: a dbuf or dlast), which saves a
     * stream of writes over the largest activations. */
    float *dx = i ? net->dbuf[dy == net->dbuf[0]] : NULL;
    if (is_last(net, i)) {
        const OdArg a[] = {{DNNL_ARG_FROM, OD_PLAIN_OUT, dy}, {DNNL_ARG_TO, OD_DIFF_DST, o->dlast}};
        od_run(o, &ol->dlogits, ol->m, 2, a);
        dy = o->dlast;
    }
    switch (l->spec.type) {
    case L_CONV: od_conv_backward(o, l, ol, i ? o->out[i - 1] : o->in, dy, dx); break;
    case L_RELU: if (dx) od_relu_backward(o, ol, o->out[i], dy, dx = (float *)dy); break;
    case L_MAXPOOL:
    case L_AVGPOOL:
    case L_GAP: if (dx) od_pool_backward(o, l, ol, dy, dx, o->ws[i]); break;
    case L_DROPOUT: if (dx) od_dropout_backward(l, ol, dy, dx = (float *)dy); break;
    default: break;
    }
    return dx;
}

/* Layer i's output as plain [c][n][h][w] (a conv with a fused relu: after
 * the relu).  For tests and debugging: makes and drops a reorder. */
void onednn_layer_output(const Net *net, int i, int n, float *dst)
{
    struct OnednnNet *o = net->dnnl;
    const Layer *l = &net->layers[i];
    if (is_last(net, i)) {
        memcpy(dst, l->y, sizeof(float) * l->out.c * n);
        return;
    }
    OdLayer *ol = &plan_for((Net *)net, n)->layers[i];
    dnnl_memory_desc_t plain;
    dnnl_memory_t m[2] = {NULL, NULL};
    OdPrim r = {0};
    char err[256];
    plain_md(l->out, n, &plain);
    if (od_reorder(o, &r, &ol->dst, &plain, 0, "a reorder", err, sizeof err) ||
        od_mem(&m[0], &ol->dst, err, sizeof err) || od_mem(&m[1], &plain, err, sizeof err)) {
        fprintf(stderr, "inna: %s\n", err);
        abort();
    }
    const OdArg a[] = {{DNNL_ARG_FROM, 0, o->out[i]}, {DNNL_ARG_TO, 1, dst}};
    od_run(o, &r, m, 2, a);
    dnnl_memory_destroy(m[0]);
    dnnl_memory_destroy(m[1]);
    od_prim_free(&r);
}

/* "conv A, B; pool C; eltwise D": the distinct implementations by kind. */
static void add_name(char *list, size_t len, const OdPrim *pr)
{
    const char *name = NULL;
    if (!pr->pd || dnnl_primitive_desc_query(pr->pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success ||
        !name)
        return;
    const size_t nl = strlen(name);
    for (const char *s = strstr(list, name); s; s = strstr(s + 1, name))
        if ((s == list || s[-1] == ' ') && (s[nl] == ',' || s[nl] == '\0')) return;
    const size_t used = strlen(list);
    snprintf(list + used, len - used, "%s%s", used ? ", " : "", name);
}

void onednn_describe_impl(const Net *net, char *buf, size_t len)
{
    struct OnednnNet *o = net->dnnl;
    enum { KINDS = 3, LEN = 256 };
    static const char *const kind[KINDS] = {"conv", "pool", "eltwise"};
    char list[KINDS][LEN] = {{0}};
    for (int n = 1; n <= net->max_n; n++) {
        const OdPlan *p = o->plans[n];
        for (int i = 0; p && i < net->nlayers; i++) {
            const OdLayer *ol = &p->layers[i];
            const LayerType t = net->layers[i].spec.type;
            const int k = t == L_CONV ? 0 : t == L_RELU ? 2 : t == L_DROPOUT ? -1 : 1;
            if (k < 0) continue;
            add_name(list[k], LEN, &ol->fwd);
            add_name(list[k], LEN, &ol->bwd);
            add_name(list[k], LEN, &ol->bwd_w);
        }
    }
    buf[0] = '\0';
    for (int k = 0; k < KINDS; k++) {
        if (!list[k][0]) continue;
        const size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s %s", used ? "; " : "", kind[k], list[k]);
    }
}
