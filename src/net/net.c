/* The network: layers built from specs, one parameter buffer with a view per
 * layer, activation buffers sized once for the largest local batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net.h"
#include "rng.h"
#ifdef INNA_HAVE_ONEDNN
#include "../engine/onednn/onednn.h"
#endif

static float *alloc_floats(size_t n)
{
    /* 64-byte aligned for the BLAS kernels; zeroed so unused tails are defined. */
    size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) memset(p, 0, bytes);
    return p;
}

static size_t shape_len(Shape s) { return (size_t)s.c * s.h * s.w; }

/* Shapes, parameter offsets and views; no activation memory yet. */
static int plan_layers(Net *net, const LayerSpec *specs, char *err, size_t errlen)
{
    Shape cur = net->input;
    size_t off = 0;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        char why[256];
        l->spec = specs[i];
        l->index = i;
        l->in = cur;
        if (layer_shape(&l->spec, cur, &l->out, &l->nparams, why, sizeof why) != 0) {
            snprintf(err, errlen, "net.layer %d: %s", i + 1, why);
            return -1;
        }
        l->param_off = off;
        off += l->nparams;
        cur = l->out;
    }
    if (cur.h != 1 || cur.w != 1) {
        snprintf(err, errlen, "net.layer: the network ends in %dx%dx%d, not in logits "
                 "(end with gap)", cur.c, cur.h, cur.w);
        return -1;
    }
    net->classes = cur.c;
    net->nparams = off;
    return 0;
}

/* What every engine shares: parameters, gradients, their views, dlogits. */
static int alloc_common(Net *net)
{
    net->params = alloc_floats(net->nparams);
    net->grads = alloc_floats(net->nparams + NET_METRICS);
    net->dlogits = alloc_floats((size_t)net->classes * net->max_n);
    if (!net->params || !net->grads || !net->dlogits) return -1;
    net->metrics = net->grads + net->nparams;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        if (!l->nparams) continue;
        size_t nw = l->nparams - (size_t)l->out.c;
        l->w = net->params + l->param_off;  l->b = l->w + nw;
        l->dw = net->grads + l->param_off;  l->db = l->dw + nw;
    }
    return 0;
}

/* The layers of src/layers/: activations [c][n][h][w], im2col columns. */
static int alloc_openblas(Net *net)
{
    const int n = net->max_n;
    size_t dmax = shape_len(net->input), colmax = 0, total = 0, aux = 0;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        size_t len = shape_len(l->out) * n;
        if (!(l->y = alloc_floats(len))) return -1;
        total += len;
        if (l->spec.type == L_MAXPOOL && !(l->argmax = malloc(sizeof(int32_t) * len))) return -1;
        if (l->spec.type == L_DROPOUT && !(l->mask = malloc(len))) return -1;
        aux += l->spec.type == L_MAXPOOL ? sizeof(int32_t) * len : l->spec.type == L_DROPOUT ? len : 0;
        if (shape_len(l->out) > dmax) dmax = shape_len(l->out);
        if (layer_col_len(l, n) > colmax) colmax = layer_col_len(l, n);
    }
    for (int k = 0; k < 2; k++)
        if (!(net->dbuf[k] = alloc_floats(dmax * n))) return -1;
    net->ws.col_len = colmax;
    net->ws.col = alloc_floats(colmax);
    if (!net->ws.col) return -1;
    net->engine_bytes = sizeof(float) * (total + 2 * dmax * n + colmax + (size_t)net->classes * n) + aux;
    return 0;
}

int net_build(Net *net, const LayerSpec *specs, int nlayers, Shape input, int max_n,
              char *err, size_t errlen)
{
    return net_build_on(net, ENGINE_OPENBLAS, specs, nlayers, input, max_n, err, errlen);
}

static int out_of_memory(const Net *net, char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory allocating the network for batch %d", net->max_n);
    return -1;
}

/* The engine's own buffers (and, for oneDNN, its primitives). */
static int build_engine(Net *net, char *err, size_t errlen)
{
    if (net->engine == ENGINE_OPENBLAS) return alloc_openblas(net) == 0 ? 0 : out_of_memory(net, err, errlen);
    if (net->engine != ENGINE_ONEDNN) {
        snprintf(err, errlen, "run.engine: no engine number %d", (int)net->engine);
        return -1;
    }
#ifdef INNA_HAVE_ONEDNN
    if (onednn_build(net, err, errlen) != 0) return -1;
    net->engine_bytes = onednn_bytes(net) + sizeof(float) * (size_t)net->classes * net->max_n;
    return 0;
#else
    snprintf(err, errlen, "run.engine: %s: this build has no oneDNN", engine_name(net->engine));
    return -1;
#endif
}

int net_build_on(Net *net, EngineKind engine, const LayerSpec *specs, int nlayers, Shape input,
                 int max_n, char *err, size_t errlen)
{
    memset(net, 0, sizeof *net);
    net->engine = engine_resolve(engine);
    net->nlayers = nlayers;
    net->input = input;
    net->max_n = max_n < 1 ? 1 : max_n;
    net->layers = calloc((size_t)nlayers, sizeof(Layer));
    if (!net->layers) { snprintf(err, errlen, "out of memory"); return -1; }
    if (plan_layers(net, specs, err, errlen) != 0) { net_free(net); return -1; }
    if ((alloc_common(net) != 0 && out_of_memory(net, err, errlen)) || build_engine(net, err, errlen) != 0) {
        net_free(net);
        return -1;
    }
    return 0;
}

void net_share_params(Net *net, float *params)
{
    free(net->params);
    net->params = params;
    net->params_shared = 1;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        if (!l->nparams) continue;
        l->w = params + l->param_off;
        l->b = l->w + (l->nparams - (size_t)l->out.c);
    }
}

void net_free(Net *net)
{
#ifdef INNA_HAVE_ONEDNN
    onednn_free(net);   /* its buffers, then the layers' pointers into them are NULL */
#endif
    for (int i = 0; net->layers && i < net->nlayers; i++) {
        free(net->layers[i].y);
        free(net->layers[i].argmax);
        free(net->layers[i].mask);
    }
    free(net->layers);
    if (!net->params_shared) free(net->params);
    free(net->grads);
    free(net->dbuf[0]);
    free(net->dbuf[1]);
    free(net->dlogits);
    free(net->ws.col);
    memset(net, 0, sizeof *net);
}

/* He initialisation: W ~ N(0, 2 / fan_in), b = 0; element e of layer i is
 * drawn from key (seed, RNG_INIT, i), counter e: the seed alone decides. */
void net_init_params(Net *net, uint64_t seed)
{
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        if (!l->nparams) continue;
        const size_t fan_in = (size_t)l->in.c * l->spec.size * l->spec.size;
        const size_t nw = l->nparams - (size_t)l->out.c;
        const double sd = sqrt(2.0 / (double)fan_in);
        const uint64_t key = rng_key(seed, RNG_INIT, (uint64_t)i, 0);
        for (size_t e = 0; e < nw; e++) l->w[e] = (float)(sd * rng_normal(key, e));
        memset(l->b, 0, sizeof(float) * (size_t)l->out.c);
    }
}

/* The engines' one dispatch point: every net_* below that computes starts
 * here.  ONEDNN is only ever set in a build that has it. */
#ifdef INNA_HAVE_ONEDNN
#define ON_ONEDNN(net) ((net)->engine == ENGINE_ONEDNN)
#else
#define ON_ONEDNN(net) 0
#define onednn_prepare_weights(net) ((void)0)
#define onednn_layer_forward(net, i, in, n, train, seed, step, ids) ((void)0)
#define onednn_layer_backward(net, i, x, dy, n) ((float *)NULL)
#define onednn_layer_output(net, i, n, dst) ((void)0)
#define onednn_describe_impl(net, buf, len) ((void)0)
#endif

void net_prepare_weights(Net *net)
{
    if (ON_ONEDNN(net)) onednn_prepare_weights(net);
}

void net_layer_output(const Net *net, int i, int n, float *dst)
{
    if (ON_ONEDNN(net)) onednn_layer_output(net, i, n, dst);
    else memcpy(dst, net->layers[i].y, sizeof(float) * shape_len(net->layers[i].out) * n);
}

void net_describe_impl(const Net *net, char *buf, size_t len)
{
    if (ON_ONEDNN(net)) onednn_describe_impl(net, buf, len);
    else snprintf(buf, len, "im2col + sgemm");
}

void net_describe_engine(const Net *net, char *buf, size_t len)
{
    char lib[128];
    engine_describe(net->engine, lib, sizeof lib);
    snprintf(buf, len, "%s (%s)", engine_name(net->engine), lib);
}

void net_layer_forward(Net *net, int i, const float *in, int n, int train, uint64_t seed,
                       long step, const long *sample_ids)
{
    if (ON_ONEDNN(net)) {
        onednn_layer_forward(net, i, in, n, train, seed, step, sample_ids);
        return;
    }
    const ForwardKeys keys = { train, seed, step, sample_ids };
    layer_forward(&net->layers[i], in, n, &net->ws, &keys);
}

float *net_layer_backward(Net *net, int i, const float *x, const float *dy, int n)
{
    if (ON_ONEDNN(net)) return onednn_layer_backward(net, i, x, dy, n);
    const float *in = i ? net->layers[i - 1].y : x;
    float *dx = i ? net->dbuf[i & 1] : NULL;  /* dy of layer i lives in dbuf[(i+1)&1] */
    layer_backward(&net->layers[i], in, dy, dx, n, &net->ws);
    return dx;
}

const float *net_forward(Net *net, const float *x, int n, int train, uint64_t seed,
                         long step, const long *sample_ids, const NetHooks *hooks)
{
    const float *in = x;
    for (int i = 0; i < net->nlayers; i++) {
        net_layer_forward(net, i, in, n, train, seed, step, sample_ids);
        if (hooks && hooks->forward_done) hooks->forward_done(hooks->ctx, i);
        in = net->layers[i].y;
    }
    return in;
}

void net_backward(Net *net, const float *x, int n, const NetHooks *hooks)
{
    const float *dy = n ? net->dlogits : NULL;
    for (int i = net->nlayers - 1; i >= 0; i--) {
        if (dy) dy = net_layer_backward(net, i, x, dy, n);
        if (hooks && hooks->backward_done) hooks->backward_done(hooks->ctx, i);
    }
}

void net_zero_grad(Net *net)
{
    memset(net->grads, 0, sizeof(float) * (net->nparams + NET_METRICS));
}
