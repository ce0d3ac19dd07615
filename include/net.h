/* The network: a list of layers built from LayerSpecs, all parameters in one
 * contiguous buffer with named views into it (gradients in a parallel buffer),
 * and every activation buffer sized once for the largest local batch. */
#ifndef INNA_NET_H
#define INNA_NET_H
#include "layers.h"

/* Slots after the gradients: summed loss and correct count of the step, so
 * that one reduction carries both the subgradient and the metrics. */
enum { NET_METRIC_LOSS, NET_METRIC_CORRECT, NET_METRICS };

typedef struct {
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
    size_t activation_floats; /* total floats in y, dbuf, col: for memory reports */
    int params_shared;     /* params belong to another Net (net_share_params) */
} Net;

int net_build(Net *net, const LayerSpec *specs, int nlayers, Shape input, int max_n,
              char *err, size_t errlen);
void net_free(Net *net);
/* Makes net read (and net_free leave) another net's parameter buffer: the
 * worker threads of a rank each own activations and gradients, not weights. */
void net_share_params(Net *net, float *params);
/* Weights ~ N(0, 2/fan_in) keyed by (seed, layer, element), biases 0. */
void net_init_params(Net *net, uint64_t seed);
/* Forward n samples of x [c][n][h][w]; returns the logits [classes][n].
 * train selects dropout; sample_ids are global indices (for dropout keys). */
const float *net_forward(Net *net, const float *x, int n, int train, uint64_t seed,
                         long step, const long *sample_ids);
/* Backward from net->dlogits; adds parameter gradients into net->grads. */
void net_backward(Net *net, const float *x, int n);
/* One layer of each (what net_forward and net_backward loop over; inna-bench
 * times them one by one).  Backward returns dx, NULL below the first layer. */
void net_layer_forward(Net *net, int i, const float *in, int n, int train, uint64_t seed,
                       long step, const long *sample_ids);
float *net_layer_backward(Net *net, int i, const float *x, const float *dy, int n);
#endif
