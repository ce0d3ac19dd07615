/* One file per layer type under src/layers/, each with the same small
 * interface: forward and backward side by side, on activations laid out
 * [channel][sample][row][col] for the n samples of the local batch, so that a
 * convolution over the whole batch is one GEMM. */
#ifndef INNA_LAYERS_H
#define INNA_LAYERS_H
#include <stddef.h>
#include <stdint.h>

typedef enum { L_CONV, L_RELU, L_MAXPOOL, L_AVGPOOL, L_GAP, L_DROPOUT, L_NTYPES } LayerType;

/* What the config file says about one layer. */
typedef struct {
    LayerType type;
    int filters;       /* conv: output channels                  */
    int size, stride, pad; /* conv and pools: kernel, stride, pad */
    float rate;        /* dropout: probability of zeroing; <0 = use net.dropout */
} LayerSpec;

typedef struct { int c, h, w; } Shape;

typedef struct Layer {
    LayerSpec spec;
    int index;          /* position in the network, keys dropout masks     */
    Shape in, out;      /* per-sample shapes                               */
    size_t nparams;     /* weights + biases                                */
    size_t param_off;   /* offset of this layer's weights in the flat buffer */
    float *w, *b;       /* views into the parameter buffer: w [out][in][kh][kw] */
    float *dw, *db;     /* views into the gradient buffer (same layout)    */
    float *y;           /* output activations [out.c][n][out.h][out.w]     */
    int32_t *argmax;    /* max-pool: input offset of each output's max     */
    uint8_t *mask;      /* dropout: kept elements                          */
    int dropout_active; /* dropout: the last forward dropped (train mode)  */
} Layer;

/* conv.c cuts the summed dimension K of every GEMM into blocks of at most
 * this many (see there why); inna-bench times the GEMMs the same way. */
enum { GEMM_K_BLOCK = 256 };

/* One GEMM of a convolution: C = op(A) op(B) + beta C, row-major, every
 * matrix packed; op transposes when trans_a / trans_b. */
typedef struct {
    int M, N, K;
    int trans_a, trans_b;
    float beta;
} ConvGemm;
enum { CONV_GEMM_FORWARD, CONV_GEMM_WEIGHTS, CONV_GEMM_DATA, CONV_NGEMMS };

/* Scratch shared by all layers (im2col columns), sized at start-up. */
typedef struct {
    float *col;
    size_t col_len;
} Workspace;

/* Output shape and parameter count of a layer given its input shape;
 * returns 0, or -1 with err set when the spec does not fit the input. */
int layer_shape(const LayerSpec *s, Shape in, Shape *out, size_t *nparams, char *err, size_t errlen);
size_t layer_col_len(const Layer *l, int n);   /* im2col floats needed for n samples */
/* "conv", "relu", "maxpool", "avgpool", "gap", "dropout" in enum order, NULL-ended. */
extern const char *const layer_type_names[L_NTYPES + 1];
const char *layer_type_name(LayerType t);          /* "?" when out of range */
int layer_type_parse(const char *name, LayerType *t);
/* The sliding-window rule of conv and the pools: size >= 1, stride >= 1 and
 * 0 <= pad < size (a window lying wholly in the padding would see no input);
 * 1 for the other types. */
int layer_window_ok(const LayerSpec *s);

/* The random keys of a forward pass: train selects dropout (0: identity),
 * whose mask of sample i is keyed by (seed, step, sample_ids[i], layer). */
typedef struct {
    int train;
    uint64_t seed;
    long step;
    const long *sample_ids;
} ForwardKeys;

/* The one dispatch over layer types: the network (src/net/net.c) and the
 * tests call these, never a type's functions by a switch of their own.
 * Backward with dx = NULL: only the parameter gradients (below layer 0). */
void layer_forward(Layer *l, const float *x, int n, Workspace *ws, const ForwardKeys *keys);
void layer_backward(Layer *l, const float *x, const float *dy, float *dx, int n, Workspace *ws);

/* Each forward reads x [in.c][n][in.h][in.w] and writes l->y.  Each backward
 * reads dy (gradient w.r.t. l->y) and x, adds parameter gradients into
 * l->dw/l->db, and writes dx (unless dx is NULL: nothing needs it). */
void conv_forward(Layer *l, const float *x, int n, Workspace *ws);
void conv_backward(Layer *l, const float *x, const float *dy, float *dx, int n, Workspace *ws);
/* The GEMMs conv_forward and conv_backward make for n samples: forward,
 * backward-weights (dW += dy col^T), backward-data (dcol = W^T dy; not made
 * when dx is NULL).  inna-bench counts and times these very shapes. */
void conv_gemm_shapes(const Layer *l, int n, ConvGemm g[CONV_NGEMMS]);
/* Runs one with K cut into blocks of kblock (the layers use GEMM_K_BLOCK). */
void conv_gemm(const ConvGemm *g, int kblock, const float *A, const float *B, float *C);
void relu_forward(Layer *l, const float *x, int n);
void relu_backward(Layer *l, const float *dy, float *dx, int n);
void maxpool_forward(Layer *l, const float *x, int n);
void maxpool_backward(Layer *l, const float *dy, float *dx, int n);
void avgpool_forward(Layer *l, const float *x, int n);
void avgpool_backward(Layer *l, const float *dy, float *dx, int n);
void gap_forward(Layer *l, const float *x, int n);
void gap_backward(Layer *l, const float *dy, float *dx, int n);
/* Dropout keeps each element with probability 1-rate and scales kept ones by
 * 1/(1-rate) (inverted dropout); the mask of sample i is keyed by
 * (seed, step, sample_ids[i], layer index).  train = 0: identity. */
void dropout_forward(Layer *l, const float *x, int n, int train, uint64_t seed,
                     long step, const long *sample_ids);
void dropout_backward(Layer *l, const float *dy, float *dx, int n);

/* Softmax cross-entropy on logits [classes][n]; returns the summed loss over
 * the n samples, counts correct arg-max predictions into *correct, and writes
 * dlogits = scale * (softmax - onehot) (scale = 1/|global batch|). */
double softmax_xent(const float *logits, const int *labels, int classes, int n,
                    float scale, float *dlogits, long *correct);
#endif
