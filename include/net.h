/* The network: a list of layers built from LayerSpecs, all parameters in one
 * contiguous buffer with named views into it (gradients in a parallel buffer),
 * and every activation buffer sized once for the largest local batch.
 *
 * It computes on one engine (engine.h).  Whatever the engine: the input x of
 * layer 0 is plain [c][n][h][w]; the last layer's y is the plain logits
 * [classes][n]; the backward starts from dlogits (plain [classes][n]); after
 * net_layer_backward of a parametric layer its gradient has been ADDED into
 * grads + param_off in the flat layout.  In between, oneDNN keeps layer
 * outputs (l->y) and their gradients in its own layouts: pass them along,
 * read them with net_layer_output. */
#ifndef INNA_NET_H
#define INNA_NET_H
#include "engine.h"
#include "layers.h"

/* Slots after the gradients: summed loss and correct count of the step, so
 * that one reduction carries both the subgradient and the metrics. */
enum { NET_METRIC_LOSS, NET_METRIC_CORRECT, NET_METRICS };

struct OnednnNet;   /* src/engine/onednn/onednn.h */

typedef struct {
    EngineKind engine;     /* ENGINE_OPENBLAS or ENGINE_ONEDNN              */
    struct OnednnNet *dnnl; /* the oneDNN engine's primitives and buffers   */
    int nlayers;
    Layer *layers;
    Shape input;
    int classes;           /* output channels of the last layer            */
    int max_n;             /* largest batch the buffers hold               */
    size_t nparams;
    float *params, *grads; /* nparams floats each                          */
    float *metrics;        /* NET_METRICS floats right after grads, reduced with them */
    float *dbuf[2];        /* ping-pong buffers for backward gradients     */
    float *dlogits;        /* [classes][max_n]                             */
    Workspace ws;
    size_t engine_bytes;   /* what the engine holds for one chunk, counted as it
                              allocates (inna-bench's memory floor): OpenBLAS: y,
                              max-pool argmax, dropout masks, dbuf, col, dlogits;
                              oneDNN: its blocked buffers, workspaces, masks,
                              scratchpad and weight copies, and dlogits */
    int params_shared;     /* params belong to another Net (net_share_params) */
} Net;

/* net_build_on(ENGINE_OPENBLAS, ...).  Returns 0, or -1 with err set. */
int net_build(Net *net, const LayerSpec *specs, int nlayers, Shape input, int max_n,
              char *err, size_t errlen);
/* The network on an engine (AUTO: engine_resolve); oneDNN creates its
 * primitives for max_n here (failure: "oneDNN: cannot create ... of layer
 * 3: unimplemented"), those of a smaller n at its first forward. */
int net_build_on(Net *net, EngineKind engine, const LayerSpec *specs, int nlayers, Shape input,
                 int max_n, char *err, size_t errlen);
void net_free(Net *net);
/* Makes net read (and net_free leave) another net's parameter buffer: the
 * worker threads of a rank each own activations and gradients, not weights. */
void net_share_params(Net *net, float *params);
/* Weights ~ N(0, 2/fan_in) keyed by (seed, layer, element), biases 0. */
void net_init_params(Net *net, uint64_t seed);
/* After the parameters changed and before the next forward: oneDNN reorders
 * them into its primitives' weight formats (this net's copies); OpenBLAS
 * reads them in place (nothing to do). */
void net_prepare_weights(Net *net);
/* Layer i's output for n samples as plain [c][n][h][w] (tests, debugging;
 * oneDNN, a conv followed by relu: the relu's output, fused into it). */
void net_layer_output(const Net *net, int i, int n, float *dst);
/* The implementations computing: "im2col + sgemm", or oneDNN's names by
 * kind, "conv jit:avx512_core, jit_1x1:avx512_core; pool ...; eltwise ...". */
void net_describe_impl(const Net *net, char *buf, size_t len);
/* What computes: "onednn (oneDNN 2.6.3, avx512_core)" -- the engine, its
 * library, version and instruction set (as printed, stored in checkpoints
 * and compared across ranks). */
void net_describe_engine(const Net *net, char *buf, size_t len);
/* What a caller adds to the one layer loop below (the training step: its
 * timers, the gradient's fixed-point conversion, starting a reduction):
 * forward_done(ctx, i) after layer i's forward; backward_done(ctx, i) after
 * its backward, when layer i's gradient, if it has one, is complete in grads.
 * Either may be NULL; so may the whole NetHooks. */
typedef struct {
    void (*forward_done)(void *ctx, int i);
    void (*backward_done)(void *ctx, int i);
    void *ctx;
} NetHooks;

/* Forward n samples of x [c][n][h][w]; returns the logits [classes][n].
 * train selects dropout; sample_ids are global indices (for dropout keys). */
const float *net_forward(Net *net, const float *x, int n, int train, uint64_t seed,
                         long step, const long *sample_ids, const NetHooks *hooks);
/* Backward from net->dlogits; adds parameter gradients into net->grads.
 * n = 0: computes nothing but still calls the hooks layer by layer (a worker
 * without a chunk meets the others at each reduction). */
void net_backward(Net *net, const float *x, int n, const NetHooks *hooks);
/* Gradients and metrics to zero: before a backward that should not add. */
void net_zero_grad(Net *net);
/* One layer of each (what net_forward and net_backward loop over).
 * Backward returns dx, NULL below the first layer. */
void net_layer_forward(Net *net, int i, const float *in, int n, int train, uint64_t seed,
                       long step, const long *sample_ids);
float *net_layer_backward(Net *net, int i, const float *x, const float *dy, int n);
#endif
