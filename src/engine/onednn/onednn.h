/* The oneDNN engine, private to src/net/net.c and src/engine/onednn/.
 *
 * Activations stay in the layouts oneDNN's primitives choose (blocked, e.g.
 * nChw16c: channels in blocks of 16, padded with zeros) from layer to layer;
 * reorders happen only at the input (our plain [c][n][h][w] -> layer 0's
 * layout), at the logits (the last layer's output -> plain [classes][n]),
 * for weights and their gradients (plain [out][in][kh][kw] <-> the
 * convolutions' formats), and around a convolution that has JIT kernels
 * only for another input layout than the layer below gives it (conv.c).
 * Gradients w.r.t. activations share the layouts of the activations.
 *
 * A conv followed by relu computes the relu as a post-op: the relu layer's
 * output is the conv's buffer (one pass, one buffer) and its backward is
 * oneDNN's relu backward on that output, dx = dy * [y > 0].
 *
 * Threads: a primitive runs on omp_get_max_threads() threads, 1 inside a
 * worker thread of the step (engine_set_threads); with the same shapes and
 * threads the same primitive (kernel, blocking, summation order) is made in
 * every net, so a chunk's result does not depend on the worker or rank.
 *
 * A plan holds every primitive of the network for one batch size n: the
 * plan of max_n is made at build time and fixes every layout; a plan for a
 * smaller n (the short last chunk of a batch, the end of a test set) is made
 * at its first use with the same layouts (N is the outermost dimension of
 * each, so only the sample count changes), hence the same buffers and the
 * same prepared weights serve every n. */
#ifndef INNA_ONEDNN_H
#define INNA_ONEDNN_H
#include <dnnl.h>
#include <stdint.h>
#include "net.h"

/* Hooks for net.c: the engine's side of net_build_on, net_free, ... */
int onednn_build(Net *net, char *err, size_t errlen);
void onednn_free(Net *net);
void onednn_prepare_weights(Net *net);
void onednn_layer_forward(Net *net, int i, const float *in, int n, int train, uint64_t seed,
                          long step, const long *sample_ids);
float *onednn_layer_backward(Net *net, int i, const float *x, const float *dy, int n);
void onednn_layer_output(const Net *net, int i, int n, float *dst);
void onednn_describe_impl(const Net *net, char *buf, size_t len);
size_t onednn_bytes(const Net *net);   /* everything the engine allocated */

/* One primitive: its descriptor, the primitive, and a memory object for its
 * scratchpad (the net's shared buffer, bound at each run). */
typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
} OdPrim;

/* Memory objects of a layer, by role; their buffers are bound at each run. */
enum {
    OD_SRC, OD_DST, OD_DIFF_SRC, OD_DIFF_DST, /* activations and their gradients   */
    OD_CSRC, OD_DIFF_CSRC,                    /* conv: x in its own layout         */
    OD_W, OD_WB, OD_BIAS, OD_DW, OD_DB,       /* conv: weights (fwd, bwd-data), grads */
    OD_WPLAIN,                                /* conv: weights [out][in][kh][kw]   */
    OD_WS,                                    /* max-pool workspace                */
    OD_PLAIN_IN, OD_PLAIN_OUT,                /* layer 0: plain x; last: plain logits */
    OD_NMEM
};

/* One layer in one plan. */
typedef struct {
    OdPrim fwd, bwd, bwd_w;       /* the layer's primitives (bwd_w: conv weights) */
    OdPrim in;                    /* layer 0: plain x -> src                      */
    OdPrim logits, dlogits;       /* last layer: dst -> plain, plain -> diff dst  */
    OdPrim w_fwd, w_bwd, dw_sum;  /* conv: plain -> fwd / bwd-data weights; dW += */
    OdPrim to_conv, from_conv;    /* conv, convert: x -> csrc, dx in csrc -> src  */
    dnnl_memory_desc_t src, dst;  /* layouts of x and y (and of dx, dy)           */
    dnnl_memory_desc_t csrc;      /* conv: the layout of x it computes on         */
    int convert;                  /* conv: csrc differs from src (reorders)       */
    dnnl_memory_desc_t ws;        /* max-pool workspace                           */
    dnnl_memory_t m[OD_NMEM];
} OdLayer;

typedef struct {
    int n;
    OdLayer *layers;
} OdPlan;

struct OnednnNet {
    dnnl_stream_t stream;
    OdPlan **plans;      /* [max_n + 1]: plans[n] made at its first use        */
    float **out;         /* layer i's output in its layout (fused relu: the conv's) */
    float *in;           /* layer 0's input in its layout                     */
    float *dlast;        /* the last layer's dy in its layout                 */
    float **w, **wb;     /* conv: weights in the forward / backward-data formats */
    float **cin;         /* conv, convert: x in the conv's own layout          */
    float *ctmp;         /* conv, convert: dx in the conv's layout              */
    size_t ctmp_bytes;
    float *dw, *db;      /* conv: weight and bias gradients before they join grads */
    int db_len;          /* floats in db: the most output channels of a conv  */
    uint8_t **ws;        /* max-pool workspaces                               */
    int *fused;          /* conv i followed by relu i+1: the relu is a post-op */
    size_t *out_bytes, *ws_bytes, in_bytes, dlast_bytes, dw_bytes, dbuf_bytes;
    void *scratch;       /* one scratchpad for every primitive of the net      */
    size_t scratch_bytes;
    size_t bytes;        /* everything above, for Net.engine_bytes             */
    int prepared;        /* net_prepare_weights has run                        */
};

/* onednn.c: the engine, status checks, memory descriptors and runs. */
dnnl_engine_t od_engine(void);
/* A failure at build time: err = "oneDNN: cannot create <what>: <status>". */
int od_fail(dnnl_status_t s, const char *what, char *err, size_t errlen);
/* A failure at run time cannot happen after creation succeeded: abort. */
void od_check(dnnl_status_t s, const char *what);
/* Creates pd (attr: user scratchpad, plus post-ops), the primitive and its
 * scratchpad memory; records the largest scratchpad in o.  0 or -1 + err. */
int od_prim(struct OnednnNet *o, OdPrim *pr, const_dnnl_op_desc_t desc, const_dnnl_post_ops_t po,
            const_dnnl_primitive_desc_t hint, const char *what, char *err, size_t errlen);
int od_reorder(struct OnednnNet *o, OdPrim *pr, const dnnl_memory_desc_t *from,
               const dnnl_memory_desc_t *to, int accumulate, const char *what, char *err,
               size_t errlen);
void od_prim_free(OdPrim *pr);
const dnnl_memory_desc_t *od_query(const OdPrim *pr, dnnl_query_t what);
int od_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, char *err, size_t errlen);
/* Executes pr with args {role, buffer} taken from the layer's memory objects. */
typedef struct { int arg, role; const void *buf; } OdArg;
void od_run(struct OnednnNet *o, const OdPrim *pr, dnnl_memory_t *m, int nargs, const OdArg *args);
/* Same layout as md for a batch of n (N outermost: strides unchanged). */
int od_md_with_n(const dnnl_memory_desc_t *md, int n, dnnl_memory_desc_t *out, char *err,
                 size_t errlen);
/* A window layer's padding: left = pad, right so that the output size matches. */
void od_window(const Layer *l, dnnl_dims_t strides, dnnl_dims_t kernel, dnnl_dims_t pad_l,
               dnnl_dims_t pad_r);
/* {n, c, h, w} of a per-sample shape. */
void od_dims(Shape s, int n, dnnl_dims_t d);

/* One file per layer type: create the layer's primitives in plan ol (ref:
 * the same layer in the max_n plan, whose layouts a smaller n reuses; NULL
 * while making that plan), run forward and backward. */
int od_conv_create(struct OnednnNet *o, const Layer *l, int fuse_relu, OdLayer *ol,
                   const OdLayer *ref, char *err, size_t errlen);
void od_conv_forward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *src, float *dst);
void od_conv_backward(struct OnednnNet *o, Layer *l, OdLayer *ol, const float *src,
                      const float *dy, float *dx);
void od_conv_prepare(struct OnednnNet *o, const Layer *l, OdLayer *ol);

int od_pool_create(struct OnednnNet *o, const Layer *l, OdLayer *ol, const OdLayer *ref,
                   char *err, size_t errlen);
void od_pool_forward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *src,
                     float *dst, uint8_t *ws);
void od_pool_backward(struct OnednnNet *o, const Layer *l, OdLayer *ol, const float *dy,
                      float *dx, const uint8_t *ws);

int od_relu_create(struct OnednnNet *o, const Layer *l, OdLayer *ol, char *err, size_t errlen);
void od_relu_forward(struct OnednnNet *o, OdLayer *ol, const float *src, float *dst);
/* dx may be dy (in place: the engine's backward does that). */
void od_relu_backward(struct OnednnNet *o, OdLayer *ol, const float *y, const float *dy, float *dx);

int od_dropout_check(const OdLayer *ol, char *err, size_t errlen);
void od_dropout_forward(Layer *l, const OdLayer *ol, int n, const float *src, float *dst,
                        int train, uint64_t seed, long step, const long *sample_ids);
/* dx may be dy, as for the relu. */
void od_dropout_backward(const Layer *l, const OdLayer *ol, const float *dy, float *dx);
/* Tests: 1 = the forward's walk for any layout even where the layout is
 * dense (both must give the same masks); 0 = the fastest. */
void od_dropout_force_generic(int on);
#endif
