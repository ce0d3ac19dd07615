/* The layers and the network against finite differences, hand computations
 * and naive reference loops.
 *
 *  1. every layer type alone (built by net_build as [layer, gap] so that the
 *     net is valid; the layer's own forward/backward are then called
 *     directly): L = sum_j r_j y_j with fixed random r (so dy = r), backward's
 *     dx, dW, db against central differences evaluated in double from the
 *     float outputs; conv and pool forwards also against naive loops;
 *  2. the kink conventions of design note section 2, exactly;
 *  3. softmax_xent by hand and by finite differences;
 *  4. a whole small network: d(mean loss)/d(theta) for every parameter
 *     against finite differences (entries whose perturbation flips a ReLU or
 *     moves a max-pool argmax are skipped);
 *  5. backward on n = 4 samples = sum of 4 one-sample backward passes;
 *  6. net_build errors;  7. the NiN parameter count;  8. net_init_params.
 *
 * Finite differences always divide by the perturbation actually applied,
 * (float)(v + h) - (float)(v - h), not by 2h. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "layers.h"
#include "net.h"
#include "rng.h"
#include "specs.h"

/* Dropout keys used throughout: ids are global sample indices, deliberately
 * neither sorted nor starting at 0. */
#define DROP_SEED 12345u
#define DROP_STEP 6L
static const long drop_ids[4] = {41, 7, 19, 3};

/* A net whose first layer is `s`, followed by gap when needed to make the
 * net valid (net_build insists on ending in 1x1). */
static int build_single(Net *net, LayerSpec s, Shape in, int max_n)
{
    LayerSpec specs[2] = {s, plain_spec(L_GAP)};
    char err[256] = "";
    int rc = net_build(net, specs, s.type == L_GAP ? 1 : 2, in, max_n, err, sizeof err);
    if (rc != 0) fprintf(stderr, "net_build failed: %s\n", err);
    CHECK(rc == 0);
    return rc;
}

static void layer_fwd(Net *net, const float *x, int n, int train, const long *ids)
{
    net_layer_forward(net, 0, x, n, train, DROP_SEED, DROP_STEP, ids);
}

/* Layer 0's backward with an explicit dx: net_layer_backward skips dx below
 * the first layer, and these checks need it; the same dispatch. */
static void layer_bwd(Net *net, const float *x, const float *dy, float *dx, int n)
{
    layer_backward(&net->layers[0], x, dy, dx, n, &net->ws);
}

/* L = sum_j r_j y_j, in double. */
static double objective(const Layer *l, const float *r, size_t len)
{
    double s = 0.0;
    for (size_t j = 0; j < len; j++) s += (double)r[j] * (double)l->y[j];
    return s;
}

typedef enum { IN_UNIFORM, IN_AWAY_FROM_ZERO, IN_DISTINCT } InputKind;

typedef struct {
    const char *name;
    LayerSpec spec;
    Shape in;
    int n;
    InputKind kind;
    float h;
    double atol, rtol;   /* for dx, dW and db alike */
    int train;           /* dropout only */
} LayerCase;

/* Naive double-precision convolution straight from the formula in conv.c. */
static void conv_reference(const Layer *l, const float *x, int n, double *y)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    const int C = l->in.c, H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w;
    for (int o = 0; o < l->out.c; o++)
        for (int i = 0; i < n; i++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = l->b[o];
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int iy = oy * s - p + ki, ix = ox * s - p + kj;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)l->w[((o * C + c) * k + ki) * k + kj] *
                                       x[(((size_t)c * n + i) * H + iy) * W + ix];
                            }
                    y[(((size_t)o * n + i) * OH + oy) * OW + ox] = acc;
                }
}

/* Naive pooling: max or mean over the window positions inside the image. */
static void pool_reference(const Layer *l, const float *x, int n, double *y)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    const int H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w;
    for (size_t pl = 0; pl < (size_t)l->in.c * n; pl++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double best = -INFINITY, sum = 0.0;
                int cnt = 0;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int iy = oy * s - p + ki, ix = ox * s - p + kj;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                        double v = x[pl * H * W + (size_t)iy * W + ix];
                        if (v > best) best = v;
                        sum += v;
                        cnt++;
                    }
                y[pl * OH * OW + (size_t)oy * OW + ox] = l->spec.type == L_MAXPOOL ? best : sum / cnt;
            }
}

/* Test 1: one layer against central differences. */
static void gradcheck_layer(const LayerCase *c)
{
    Net net;
    if (build_single(&net, c->spec, c->in, c->n) != 0) return;
    Layer *l = &net.layers[0];
    const int n = c->n;
    const size_t xlen = shape_len(l->in) * n, ylen = shape_len(l->out) * n;
    float *x = malloc(sizeof(float) * xlen), *dx = malloc(sizeof(float) * xlen);
    float *r = malloc(sizeof(float) * ylen);
    float *g0 = malloc(sizeof(float) * (net.nparams + 1));
    const uint64_t seed = 1000 + (uint64_t)c->spec.type * 10 + (uint64_t)c->spec.size;

    switch (c->kind) {
    case IN_UNIFORM:        gc_fill_uniform(x, xlen, seed, 1, -1.0f, 1.0f); break;
    case IN_AWAY_FROM_ZERO: gc_fill_away_from_zero(x, xlen, seed, 1, 0.05f); break;
    case IN_DISTINCT:       gc_fill_distinct(x, xlen, seed, 1, 0.05f); break;
    }
    gc_fill_uniform(r, ylen, seed, 2, -1.0f, 1.0f);
    if (net.nparams) gc_fill_uniform(net.params, net.nparams, seed, 3, -0.5f, 0.5f);
    /* backward ADDS into the gradient buffer: start it from random values. */
    gc_fill_uniform(net.grads, net.nparams, seed, 4, -1.0f, 1.0f);
    memcpy(g0, net.grads, sizeof(float) * net.nparams);
    for (size_t j = 0; j < xlen; j++) dx[j] = 777.0f;   /* dx must be overwritten */

    layer_fwd(&net, x, n, c->train, drop_ids);
    printf("%s: %dx%dx%d -> %dx%dx%d, n = %d\n", c->name, l->in.c, l->in.h, l->in.w,
           l->out.c, l->out.h, l->out.w, n);

    /* The forward itself against a naive loop (a gradient check alone would
     * accept a wrong but self-consistent forward). */
    if (c->spec.type == L_CONV || c->spec.type == L_MAXPOOL || c->spec.type == L_AVGPOOL) {
        double *yref = malloc(sizeof(double) * ylen);
        char what[96];
        snprintf(what, sizeof what, "%s: forward vs naive", c->name);
        GcGroup g = gc_group(what);
        if (c->spec.type == L_CONV) conv_reference(l, x, n, yref);
        else pool_reference(l, x, n, yref);
        /* conv: a float dot product of K <= 75 terms of size <= 0.5 has
         * rounding error below K * 2^-24 * sum|terms| ~ 1e-5, typically far
         * less; pools: max is exact, the mean of <= 9 floats is within 1e-6. */
        double tol = c->spec.type == L_CONV ? 1e-5 : c->spec.type == L_MAXPOOL ? 0.0 : 1e-6;
        for (size_t j = 0; j < ylen; j++) gc_close(&g, j, l->y[j], yref[j], tol, tol);
        gc_report(&g);
        free(yref);
    }

    layer_bwd(&net, x, r, dx, n);

    char wdx[96], wdw[96], wdb[96];
    snprintf(wdx, sizeof wdx, "%s: dx", c->name);
    snprintf(wdw, sizeof wdw, "%s: dW", c->name);
    snprintf(wdb, sizeof wdb, "%s: db", c->name);
    GcGroup gdx = gc_group(wdx), gdw = gc_group(wdw), gdb = gc_group(wdb);

    for (size_t p = 0; p < net.nparams; p++) {
        float *v = &net.params[p], save = *v;
        float vp = save + c->h, vm = save - c->h;
        *v = vp; layer_fwd(&net, x, n, c->train, drop_ids); double lp = objective(l, r, ylen);
        *v = vm; layer_fwd(&net, x, n, c->train, drop_ids); double lm = objective(l, r, ylen);
        *v = save;
        double fd = (lp - lm) / ((double)vp - (double)vm);
        double got = (double)net.grads[p] - (double)g0[p];
        int is_bias = l->nparams && p >= l->param_off + l->nparams - (size_t)l->out.c;
        gc_close(is_bias ? &gdb : &gdw, p, got, fd, c->atol, c->rtol);
    }
    for (size_t j = 0; j < xlen; j++) {
        float save = x[j], vp = save + c->h, vm = save - c->h;
        x[j] = vp; layer_fwd(&net, x, n, c->train, drop_ids); double lp = objective(l, r, ylen);
        x[j] = vm; layer_fwd(&net, x, n, c->train, drop_ids); double lm = objective(l, r, ylen);
        x[j] = save;
        double fd = (lp - lm) / ((double)vp - (double)vm);
        gc_close(&gdx, j, dx[j], fd, c->atol, c->rtol);
    }
    gc_report(&gdx);
    if (net.nparams) {
        gc_report(&gdw);
        gc_report(&gdb);
        CHECK(gdw.checked > 0 && gdb.checked == l->out.c);
    }

    /* conv with dx = NULL (the first layer of a net) must still give dW, db. */
    if (c->spec.type == L_CONV) {
        char what[96];
        snprintf(what, sizeof what, "%s: dW with dx = NULL", c->name);
        GcGroup g = gc_group(what);
        float *first = malloc(sizeof(float) * net.nparams);
        for (size_t p = 0; p < net.nparams; p++) first[p] = net.grads[p] - g0[p];
        memset(net.grads, 0, sizeof(float) * net.nparams);
        layer_fwd(&net, x, n, 0, drop_ids);
        layer_bwd(&net, x, r, NULL, n);
        /* same GEMM, only the float addition to g0 differs: 2^-24 * |g0 + dW| */
        for (size_t p = 0; p < net.nparams; p++) gc_close(&g, p, net.grads[p], first[p], 1e-6, 1e-6);
        gc_report(&g);
        free(first);
    }
    free(x); free(dx); free(r); free(g0);
    net_free(&net);
}

static void test_layer_gradients(void)
{
    const Shape s375 = {3, 7, 5}, s275 = {2, 7, 5};
    /* Tolerances.  Conv, avgpool, gap and dropout (fixed mask) are affine in
     * each input and parameter, relu and maxpool piecewise affine with inputs
     * kept further than h from every kink, so central differences have no
     * truncation error: what remains is float rounding.  Each output is
     * within ~2^-24 * (sum of |terms|) <= ~3e-7 of its exact value (|y| <~ 3
     * for conv); at most ~70 outputs move when one entry moves, and their
     * errors add with random signs, so |L+ - L-| is off by ~sqrt(70) * 3e-7
     * = 2.5e-6, divided by 2h = 0.125 that is ~2e-5 (observed <= 8e-6); the
     * accumulation g0 + dW adds 2^-24 * |g0 + dW| <~ 2e-7.  atol = rtol =
     * 1e-4 (derivatives are O(1)), while any indexing or scaling bug moves
     * a derivative by O(0.1..1).  For pools and relu the outputs are copies
     * or short sums (error ~1e-7), hence 1e-5; relu and maxpool use
     * h = 1/64 with every kink >= 0.05 away (distinct inputs for maxpool). */
    const float hl = 0.0625f, hk = 0.015625f;
    const LayerCase cases[] = {
        {"conv 4 k5 s1 p2",  conv_spec(4, 5, 1, 2), s375, 2, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        {"conv 3 k3 s2 p1",  conv_spec(3, 3, 2, 1), s275, 3, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        {"conv 4 k1 (GEMM)", conv_spec(4, 1, 1, 0), s375, 2, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        {"conv 2 k1 s2",     conv_spec(2, 1, 2, 0), s375, 2, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        {"conv 3 k3 s1 p0",  conv_spec(3, 3, 1, 0), s275, 3, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        /* stride 3 with pad 2: windows whose left, right or both ends are padding */
        {"conv 2 k4 s3 p2",  conv_spec(2, 4, 3, 2), s275, 2, IN_UNIFORM, hl, 1e-4, 1e-4, 0},
        {"relu",             plain_spec(L_RELU),    s375, 2, IN_AWAY_FROM_ZERO, hk, 1e-5, 1e-5, 0},
        {"maxpool 3/2/1",    pool_spec(L_MAXPOOL, 3, 2, 1), s275, 3, IN_DISTINCT, hk, 1e-5, 1e-5, 0},
        {"maxpool 2/2/0",    pool_spec(L_MAXPOOL, 2, 2, 0), s275, 2, IN_DISTINCT, hk, 1e-5, 1e-5, 0},
        {"avgpool 3/2/1",    pool_spec(L_AVGPOOL, 3, 2, 1), s275, 3, IN_UNIFORM, hl, 1e-5, 1e-5, 0},
        {"avgpool 2/2/0",    pool_spec(L_AVGPOOL, 2, 2, 0), s275, 2, IN_UNIFORM, hl, 1e-5, 1e-5, 0},
        {"gap",              plain_spec(L_GAP),     s375, 3, IN_UNIFORM, hl, 1e-5, 1e-5, 0},
        {"dropout 0.3 train", dropout_spec(0.3f),   s375, 3, IN_UNIFORM, hl, 1e-5, 1e-5, 1},
        {"dropout 0.3 eval", dropout_spec(0.3f),    s375, 3, IN_UNIFORM, hl, 1e-5, 1e-5, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gradcheck_layer(&cases[i]);
}

/* avgpool 3/2/1 on a 4x4 plane, by hand: the windows of the 2x2 output hold
 * 4, 6, 6 and 9 positions inside the image (padding not counted). */
static void test_avgpool_corner(void)
{
    Net net;
    if (build_single(&net, pool_spec(L_AVGPOOL, 3, 2, 1), (Shape){1, 4, 4}, 1) != 0) return;
    Layer *l = &net.layers[0];
    CHECK(l->out.h == 2 && l->out.w == 2);
    float x[16];
    for (int j = 0; j < 16; j++) x[j] = (float)(j + 1);   /* row-major 1..16 */
    avgpool_forward(l, x, 1);
    /* (0,0): rows 0-1, cols 0-1: (1+2+5+6)/4 = 3.5 (3.5 * 9/4 would be 14/9 = 1.5556 with padding counted)
     * (0,1): rows 0-1, cols 1-3: (2+3+4+6+7+8)/6 = 5
     * (1,0): rows 1-3, cols 0-1: (5+6+9+10+13+14)/6 = 9.5
     * (1,1): rows 1-3, cols 1-3: (6+7+8+10+11+12+14+15+16)/9 = 11 */
    CHECK_CLOSE(l->y[0], 3.5, 1e-7);
    CHECK_CLOSE(l->y[1], 5.0, 1e-7);
    CHECK_CLOSE(l->y[2], 9.5, 1e-7);
    CHECK_CLOSE(l->y[3], 11.0, 1e-7);
    /* backward: dy = (1, 0, 0, 0) gives 1/4 on the corner's 4 inputs only. */
    float dy[4] = {1, 0, 0, 0}, dx[16];
    avgpool_backward(l, dy, dx, 1);
    for (int j = 0; j < 16; j++) {
        int in_corner = (j / 4 < 2) && (j % 4 < 2);
        CHECK(dx[j] == (in_corner ? 0.25f : 0.0f));
    }
    net_free(&net);
}

/* rng_keep, the masks' batch generator (vectorised where the CPU allows),
 * against rng_uniform(.) >= rate one counter at a time, for rates that are
 * and are not multiples of 2^-24, and the extremes; lengths leave tails. */
static void test_rng_keep(void)
{
    const float rates[] = { 0.0f, 0.3f, 0.25f, 0.5f, 0x1.000002p-1f, 0.9f, 5.0f / 16777216.0f, 1.0f };
    static uint8_t keep[1031];
    int bad = 0;
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++)
        for (size_t n = 1024; n <= 1031; n++) {
            const uint64_t key = rng_key(DROP_SEED, RNG_DROPOUT, r, n), ctr0 = ((uint64_t)3 << 32) | (n * 977);
            rng_keep(key, ctr0, n, rates[r], keep);
            for (size_t j = 0; j < n; j++) bad += keep[j] != (rng_uniform(key, ctr0 + j) >= rates[r]);
        }
    /* At the boundary: a rate equal to a draw keeps it, the next float up
     * drops it (batches of 16, so the vector loop decides). */
    const uint64_t key = rng_key(DROP_SEED, RNG_DROPOUT, 99, 0);
    for (uint64_t j = 0; j < 512; j++) {
        const float u = rng_uniform(key, j);
        rng_keep(key, j, 16, u, keep);
        bad += keep[0] != 1;
        rng_keep(key, j, 16, nextafterf(u, 2.0f), keep + 16);
        bad += keep[16] != 0;
        for (uint64_t q = 1; q < 16; q++)
            bad += keep[q] != (rng_uniform(key, j + q) >= u) ||
                   keep[16 + q] != (rng_uniform(key, j + q) >= nextafterf(u, 2.0f));
    }
    CHECK(bad == 0);
}

/* Dropout beyond the gradient check: the forward's values, the mask's keys,
 * eval mode, and masks that follow the sample, not its batch position. */
static void test_dropout(void)
{
    const float rate = 0.3f, scale = 1.0f / (1.0f - rate);
    const Shape in = {3, 7, 5};
    const int HW = 35, C = 3;
    Net net;
    if (build_single(&net, dropout_spec(rate), in, 3) != 0) return;
    Layer *l = &net.layers[0];
    const size_t len = shape_len(in) * 3;
    float x[3 * 105], dy[3 * 105], dx[3 * 105];
    gc_fill_uniform(x, len, 5, 1, -1.0f, 1.0f);
    gc_fill_uniform(dy, len, 5, 2, -1.0f, 1.0f);

    /* train: y = x * scale where kept, 0 elsewhere; the keep decision is the
     * documented key (seed, RNG_DROPOUT, step, sample id), counter
     * layer << 32 | element-within-sample; dx = mask * scale * dy exactly. */
    dropout_forward(l, x, 3, 1, DROP_SEED, DROP_STEP, drop_ids);
    dropout_backward(l, dy, dx, 3);
    int kept = 0, bad_y = 0, bad_dx = 0, bad_key = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < HW; j++) {
                size_t at = ((size_t)c * 3 + i) * HW + j;
                uint64_t key = rng_key(DROP_SEED, RNG_DROPOUT, DROP_STEP, (uint64_t)drop_ids[i]);
                int keep = rng_uniform(key, ((uint64_t)l->index << 32) | (uint64_t)(c * HW + j)) >= rate;
                kept += keep;
                bad_key += keep != (l->mask[at] != 0);
                bad_y += l->y[at] != (keep ? x[at] * scale : 0.0f);
                bad_dx += dx[at] != (keep ? dy[at] * scale : 0.0f);
            }
    CHECK(bad_key == 0);
    CHECK(bad_y == 0);
    CHECK(bad_dx == 0);
    CHECK(kept > 0 && kept < (int)len);

    /* Same (seed, step, id) -> same mask wherever the sample sits in the
     * batch and whatever n is: sample 19 (position 2 above) alone, and the
     * batch (19, 41) against positions 2 and 0 above. */
    float y3[3 * 105];
    memcpy(y3, l->y, sizeof(float) * len);
    const long ids2[2] = {19, 41};
    const int from[2] = {2, 0};
    float x2[2 * 105];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 2; i++)
            memcpy(x2 + ((size_t)c * 2 + i) * HW, x + ((size_t)c * 3 + from[i]) * HW, sizeof(float) * HW);
    dropout_forward(l, x2, 2, 1, DROP_SEED, DROP_STEP, ids2);
    int moved = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 2; i++)
            moved += memcmp(l->y + ((size_t)c * 2 + i) * HW, y3 + ((size_t)c * 3 + from[i]) * HW,
                            sizeof(float) * HW) != 0;
    CHECK(moved == 0);
    float x1[105];
    for (int c = 0; c < C; c++) memcpy(x1 + (size_t)c * HW, x + ((size_t)c * 3 + 2) * HW, sizeof(float) * HW);
    dropout_forward(l, x1, 1, 1, DROP_SEED, DROP_STEP, ids2);
    for (int c = 0; c < C; c++)
        CHECK(memcmp(l->y + (size_t)c * HW, y3 + ((size_t)c * 3 + 2) * HW, sizeof(float) * HW) == 0);

    /* ... and a different step, seed or sample id gives a different mask
     * (105 elements agreeing by chance: probability ~0.58^105 ~ 1e-25). */
    uint8_t m0[105];
    dropout_forward(l, x1, 1, 1, DROP_SEED, DROP_STEP, ids2);
    memcpy(m0, l->mask, 105);
    dropout_forward(l, x1, 1, 1, DROP_SEED, DROP_STEP + 1, ids2);
    CHECK(memcmp(m0, l->mask, 105) != 0);
    dropout_forward(l, x1, 1, 1, DROP_SEED + 1, DROP_STEP, ids2);
    CHECK(memcmp(m0, l->mask, 105) != 0);
    dropout_forward(l, x1, 1, 1, DROP_SEED, DROP_STEP, ids2 + 1);
    CHECK(memcmp(m0, l->mask, 105) != 0);

    /* eval: the identity, forward and backward. */
    dropout_forward(l, x, 3, 0, DROP_SEED, DROP_STEP, drop_ids);
    CHECK(memcmp(l->y, x, sizeof(float) * len) == 0);
    dropout_backward(l, dy, dx, 3);
    int eval_bad = 0;
    for (size_t j = 0; j < len; j++) eval_bad += dx[j] != dy[j];
    if (eval_bad)
        fprintf(stderr, "dropout eval: backward is not the identity, e.g. dy = %.7g -> dx = %.7g "
                "(ratio %.7g; 1/(1-rate) = %.7g)\n", dy[0], dx[0], dx[0] / dy[0], scale);
    CHECK(eval_bad == 0);
    net_free(&net);

    /* The kept fraction on a larger layer: 16384 Bernoulli(0.7) draws have
     * standard deviation 0.0036 around 0.7; 0.02 is 5.5 sigma. */
    Net big;
    const Shape bs = {8, 32, 32};
    if (build_single(&big, dropout_spec(rate), bs, 2) != 0) return;
    const size_t blen = shape_len(bs) * 2;
    float *bx = malloc(sizeof(float) * blen);
    for (size_t j = 0; j < blen; j++) bx[j] = 1.0f;
    const long bids[2] = {1000, 1001};
    dropout_forward(&big.layers[0], bx, 2, 1, DROP_SEED, DROP_STEP, bids);
    size_t bkept = 0;
    for (size_t j = 0; j < blen; j++) bkept += big.layers[0].mask[j] != 0;
    double frac = (double)bkept / (double)blen;
    printf("dropout 0.3: kept fraction %.4f of %zu\n", frac, blen);
    CHECK(fabs(frac - 0.7) < 0.02);
    /* E[y] = x: the mean of the scaled output is within 0.02/0.7 of 1. */
    double ysum = 0.0;
    for (size_t j = 0; j < blen; j++) ysum += big.layers[0].y[j];
    CHECK(fabs(ysum / (double)blen - 1.0) < 0.03);
    /* rate 0 in train mode is the identity. */
    big.layers[0].spec.rate = 0.0f;
    dropout_forward(&big.layers[0], bx, 2, 1, DROP_SEED, DROP_STEP, bids);
    CHECK(memcmp(big.layers[0].y, bx, sizeof(float) * blen) == 0);
    free(bx);
    net_free(&big);
}

/* Test 2: the kinks, exactly. */
static void test_kinks(void)
{
    /* ReLU'(0) = 0, also for -0; tiny inputs on either side are not kinks. */
    Net net;
    if (build_single(&net, plain_spec(L_RELU), (Shape){1, 2, 3}, 1) != 0) return;
    const float x[6] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-30f, -1e-30f};
    const float dy[6] = {1, 2, 3, 4, 5, 6};
    const float ywant[6] = {0, 0, 1, 0, 1e-30f, 0}, dxwant[6] = {0, 0, 3, 0, 5, 0};
    float dx[6];
    relu_forward(&net.layers[0], x, 1);
    relu_backward(&net.layers[0], dy, dx, 1);
    for (int j = 0; j < 6; j++) {
        CHECK(net.layers[0].y[j] == ywant[j]);
        CHECK(dx[j] == dxwant[j]);
    }
    net_free(&net);

    /* maxpool 2/2/0 on 4x4 with ties; each window's gradient goes to its
     * first maximal element in row-major order:
     *   window (0,0): all four 5            -> (0,0)
     *   window (0,1): 9 at (0,3) and (1,2)   -> (0,3)
     *   window (1,0): 7 at (2,1) and (3,0)   -> (2,1)
     *   window (1,1): unique 8 at (3,3)      -> (3,3) */
    if (build_single(&net, pool_spec(L_MAXPOOL, 2, 2, 0), (Shape){1, 4, 4}, 1) != 0) return;
    {
        const float p[16] = {5, 5, 1, 9,
                             5, 5, 9, 2,
                             0, 7, 3, 4,
                             7, 6, 1, 8};
        const float g[4] = {1, 2, 3, 4};
        float d[16], dwant[16] = {0};
        dwant[0] = 1; dwant[3] = 2; dwant[9] = 3; dwant[15] = 4;
        maxpool_forward(&net.layers[0], p, 1);
        CHECK(net.layers[0].y[0] == 5 && net.layers[0].y[1] == 9);
        CHECK(net.layers[0].y[2] == 7 && net.layers[0].y[3] == 8);
        maxpool_backward(&net.layers[0], g, d, 1);
        for (int j = 0; j < 16; j++) {
            if (d[j] != dwant[j]) fprintf(stderr, "maxpool ties: dx[%d] = %g, expected %g\n", j, d[j], dwant[j]);
            CHECK(d[j] == dwant[j]);
        }
    }
    net_free(&net);

    /* maxpool 3/2/1 on 4x4: every window is partly padding.  Padded
     * positions never win, even when every input is negative. */
    if (build_single(&net, pool_spec(L_MAXPOOL, 3, 2, 1), (Shape){1, 4, 4}, 1) != 0) return;
    {
        Layer *l = &net.layers[0];
        float p[16], d[16];
        const float g[4] = {1, 2, 3, 4};
        /* x(r,c) = -(1 + 4r + c): the least negative of each window is its
         * top-left valid element: (0,0) -> -1, (0,1) -> (0,1) = -2,
         * (1,0) -> (1,0) = -5, (1,1) -> (1,1) = -6. */
        for (int j = 0; j < 16; j++) p[j] = -(float)(1 + j);
        maxpool_forward(l, p, 1);
        CHECK(l->y[0] == -1 && l->y[1] == -2 && l->y[2] == -5 && l->y[3] == -6);
        maxpool_backward(l, g, d, 1);
        for (int j = 0; j < 16; j++)
            CHECK(d[j] == (j == 0 ? 1.0f : j == 1 ? 2.0f : j == 4 ? 3.0f : j == 5 ? 4.0f : 0.0f));
        /* A constant -2 plane: every window ties on all its valid positions;
         * the first valid one in row-major order is (0,0), (0,1), (1,0), (1,1). */
        for (int j = 0; j < 16; j++) p[j] = -2.0f;
        maxpool_forward(l, p, 1);
        for (int j = 0; j < 4; j++) CHECK(l->y[j] == -2.0f);
        maxpool_backward(l, g, d, 1);
        for (int j = 0; j < 16; j++)
            CHECK(d[j] == (j == 0 ? 1.0f : j == 1 ? 2.0f : j == 4 ? 3.0f : j == 5 ? 4.0f : 0.0f));
        /* A maximum at (1,1) belongs to all four overlapping windows: it
         * collects 1 + 2 + 3 + 4 = 10. */
        for (int j = 0; j < 16; j++) p[j] = 0.0f;
        p[5] = 3.0f;
        maxpool_forward(l, p, 1);
        maxpool_backward(l, g, d, 1);
        for (int j = 0; j < 16; j++) CHECK(d[j] == (j == 5 ? 10.0f : 0.0f));
    }
    net_free(&net);
}

/* Test 3: softmax cross-entropy. */
static void test_softmax_xent(void)
{
    /* One sample, logits (1, 2, 0.5), label 0:
     *   loss = log(e^1 + e^2 + e^0.5) - 1 = log(11.756059...) - 1 = 1.4643687841079447
     *   p = (e, e^2, e^0.5) / 11.756059 = (0.2312239, 0.6285317, 0.1402444)
     * (python: math.log(math.exp(1)+math.exp(2)+math.exp(.5)) - 1). */
    const float z[3] = {1.0f, 2.0f, 0.5f};
    int label = 0;
    float d[3];
    long correct = 0;
    double loss = softmax_xent(z, &label, 3, 1, 1.0f, d, &correct);
    CHECK_CLOSE(loss, 1.4643687841079447, 1e-12);   /* double inside, exact float logits */
    const double s = exp(1.0) + exp(2.0) + exp(0.5);
    CHECK_CLOSE(d[0], exp(1.0) / s - 1.0, 1e-7);      /* float output: 2^-24 relative */
    CHECK_CLOSE(d[1], exp(2.0) / s, 1e-7);
    CHECK_CLOSE(d[2], exp(0.5) / s, 1e-7);
    CHECK_CLOSE(d[1], 0.6285317, 1e-6);
    CHECK(correct == 0);                               /* arg-max is class 1 */
    label = 1;
    softmax_xent(z, &label, 3, 1, 0.5f, d, &correct);
    CHECK(correct == 1);
    CHECK_CLOSE(d[1], 0.5 * (exp(2.0) / s - 1.0), 1e-7);   /* the scale argument */
    CHECK_CLOSE(d[0], 0.5 * exp(1.0) / s, 1e-7);
    /* NULL dlogits (evaluation) still returns the loss and counts. */
    CHECK_CLOSE(softmax_xent(z, &label, 3, 1, 0.0f, NULL, &correct), log(s) - 2.0, 1e-12);
    CHECK(correct == 2);                               /* counts accumulate */

    /* Large logits: no overflow. (1000, 0, -1000): label 0 -> ~0, label 2 -> 2000. */
    const float big[3] = {1000.0f, 0.0f, -1000.0f};
    label = 0;
    CHECK_CLOSE(softmax_xent(big, &label, 3, 1, 1.0f, d, NULL), 0.0, 1e-12);
    label = 2;
    CHECK_CLOSE(softmax_xent(big, &label, 3, 1, 1.0f, d, NULL), 2000.0, 1e-12);
    CHECK(isfinite(d[0]) && isfinite(d[2]));

    /* n = 3, 5 classes in the [classes][n] layout, scale 1/3: dlogits
     * against scale * d(sum loss)/dz by central differences in double.  The
     * loss is computed in double from float logits, so the only error is the
     * truncation h^2/6 * |f'''| <= 1e-6/6 and the float output (3e-8). */
    enum { NC = 5, NS = 3 };
    float lz[NC * NS], dl[NC * NS];
    const int labels[NS] = {4, 0, 2};
    gc_fill_uniform(lz, NC * NS, 77, 1, -2.0f, 2.0f);
    const float scale = 1.0f / 3.0f;
    long corr = 0;
    double total = softmax_xent(lz, labels, NC, NS, scale, dl, &corr);
    double want = 0.0;
    long want_corr = 0;
    for (int i = 0; i < NS; i++) {
        double ss = 0.0;
        int best = 0;
        for (int k = 0; k < NC; k++) {
            ss += exp((double)lz[k * NS + i]);
            if (lz[k * NS + i] > lz[best * NS + i]) best = k;
        }
        want += log(ss) - lz[labels[i] * NS + i];
        want_corr += best == labels[i];
    }
    CHECK_CLOSE(total, want, 1e-12);
    CHECK(corr == want_corr);
    GcGroup g = gc_group("softmax_xent: dlogits");
    for (int j = 0; j < NC * NS; j++) {
        float save = lz[j], vp = save + 1e-3f, vm = save - 1e-3f;
        lz[j] = vp; double lp = softmax_xent(lz, labels, NC, NS, scale, NULL, NULL);
        lz[j] = vm; double lm = softmax_xent(lz, labels, NC, NS, scale, NULL, NULL);
        lz[j] = save;
        gc_close(&g, (size_t)j, dl[j], scale * (lp - lm) / ((double)vp - (double)vm), 1e-6, 1e-6);
    }
    gc_report(&g);
    /* Each sample's dlogits sum to 0 (softmax minus one-hot). */
    for (int i = 0; i < NS; i++) {
        double sum = 0.0;
        for (int k = 0; k < NC; k++) sum += dl[k * NS + i];
        CHECK_CLOSE(sum, 0.0, 1e-7);
    }
}

/* The small network of tests 4 and 5 (input 2x8x8, 4 classes):
 * conv3x3 -> relu -> maxpool -> conv1x1 -> relu -> avgpool -> dropout ->
 * conv1x1 -> relu -> gap. */
static const LayerSpec small_net_specs[] = {
    {.type = L_CONV, .filters = 6, .size = 3, .stride = 1, .pad = 1},
    {.type = L_RELU},
    {.type = L_MAXPOOL, .size = 3, .stride = 2, .pad = 1},
    {.type = L_CONV, .filters = 8, .size = 1, .stride = 1, .pad = 0},
    {.type = L_RELU},
    {.type = L_AVGPOOL, .size = 3, .stride = 2, .pad = 1},
    {.type = L_DROPOUT, .rate = 0.5f},
    {.type = L_CONV, .filters = 4, .size = 1, .stride = 1, .pad = 0},
    {.type = L_RELU},
    {.type = L_GAP},
};
enum { SMALL_LAYERS = sizeof small_net_specs / sizeof small_net_specs[0] };
static const Shape small_in = {2, 8, 8};

static int build_small(Net *net, int max_n)
{
    char err[256] = "";
    int rc = net_build(net, small_net_specs, SMALL_LAYERS, small_in, max_n, err, sizeof err);
    if (rc != 0) fprintf(stderr, "net_build(small): %s\n", err);
    CHECK(rc == 0);
    if (rc) return rc;
    CHECK(net->classes == 4);
    CHECK(net->nparams == (2 * 9 * 6 + 6) + (6 * 8 + 8) + (8 * 4 + 4));
    net_init_params(net, 2024);
    /* non-zero biases, so that their gradients are exercised too; the
     * last conv's biases keep the logit ReLUs mostly open. */
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = &net->layers[i];
        if (l->spec.type != L_CONV) continue;
        gc_fill_uniform(l->b, (size_t)l->out.c, 31, (uint64_t)i, 0.0f, 0.3f);
    }
    return 0;
}

/* Mean loss of the n samples at the current parameters. */
static double mean_loss(Net *net, const float *x, int n, int train, const long *ids,
                        const int *labels, int want_grad)
{
    const float *logits = net_forward(net, x, n, train, DROP_SEED, DROP_STEP, ids, NULL);
    double loss = softmax_xent(logits, labels, net->classes, n, 1.0f / (float)n,
                               want_grad ? net->dlogits : NULL, NULL);
    return loss / n;
}

/* The activation pattern: ReLU signs and max-pool argmaxes. */
typedef struct { uint8_t *relu[SMALL_LAYERS]; int32_t *arg[SMALL_LAYERS]; } Pattern;

static void pattern_take(const Net *net, int n, Pattern *p)
{
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        size_t len = shape_len(l->out) * n;
        p->relu[i] = NULL; p->arg[i] = NULL;
        if (l->spec.type == L_RELU) {
            p->relu[i] = malloc(len);
            for (size_t j = 0; j < len; j++) p->relu[i][j] = l->y[j] > 0.0f;
        } else if (l->spec.type == L_MAXPOOL) {
            p->arg[i] = malloc(sizeof(int32_t) * len);
            memcpy(p->arg[i], l->argmax, sizeof(int32_t) * len);
        }
    }
}

static int pattern_same(const Net *net, int n, const Pattern *p)
{
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        size_t len = shape_len(l->out) * n;
        if (p->relu[i])
            for (size_t j = 0; j < len; j++)
                if (p->relu[i][j] != (l->y[j] > 0.0f)) return 0;
        if (p->arg[i] && memcmp(p->arg[i], l->argmax, sizeof(int32_t) * len) != 0) return 0;
    }
    return 1;
}

static void pattern_free(Pattern *p)
{
    for (int i = 0; i < SMALL_LAYERS; i++) { free(p->relu[i]); free(p->arg[i]); }
}

/* Test 4: d(mean loss)/d(theta) of the whole network, every parameter. */
static void test_network_gradient(int train)
{
    enum { N = 3 };
    Net net;
    if (build_small(&net, N) != 0) return;
    const size_t xlen = shape_len(small_in) * N;
    float *x = malloc(sizeof(float) * xlen);
    gc_fill_uniform(x, xlen, 8, 1, -1.0f, 1.0f);
    const int labels[N] = {0, 3, 1};

    memset(net.grads, 0, sizeof(float) * net.nparams);
    double loss0 = mean_loss(&net, x, N, train, drop_ids, labels, 1);
    net_backward(&net, x, N, NULL);
    Pattern base;
    pattern_take(&net, N, &base);
    printf("network (dropout %s): %zu parameters, mean loss %.6f\n",
           train ? "train" : "eval", net.nparams, loss0);

    /* Tolerance: with the pattern fixed the logits are affine in any single
     * parameter, so the central difference only carries the softmax's
     * curvature, h^2/6 * |f'''| <~ 1e-4/6 * |dz/dtheta|^3 ~ 1e-6, and the
     * float rounding of the logits (|z| ~ 1, 2^-24 relative, ~1e-7 in the
     * loss), divided by 2h = 0.02: ~1e-5.  atol 5e-5 + rtol 1e-3; gradient
     * entries are O(1e-2..1e-1), and dropping the dropout factor (x2) or a
     * pooling weight would miss by far more. */
    const float h = 1e-2f;
    GcGroup g[3] = {gc_group("network: conv1 (3x3) W,b"), gc_group("network: conv2 (1x1) W,b"),
                    gc_group("network: conv3 (1x1) W,b")};
    char name[3][64];
    for (int k = 0; k < 3; k++) {
        snprintf(name[k], sizeof name[k], "network (%s): conv%d W,b", train ? "train" : "eval", k + 1);
        g[k].what = name[k];
    }
    int skipped = 0;
    for (size_t p = 0; p < net.nparams; p++) {
        int which = p < net.layers[3].param_off ? 0 : p < net.layers[7].param_off ? 1 : 2;
        float save = net.params[p], vp = save + h, vm = save - h;
        net.params[p] = vp;
        double lp = mean_loss(&net, x, N, train, drop_ids, labels, 0);
        int smooth = pattern_same(&net, N, &base);
        net.params[p] = vm;
        double lm = mean_loss(&net, x, N, train, drop_ids, labels, 0);
        smooth = smooth && pattern_same(&net, N, &base);
        net.params[p] = save;
        if (!smooth) { skipped++; continue; }
        gc_close(&g[which], p, net.grads[p], (lp - lm) / ((double)vp - (double)vm), 5e-5, 1e-3);
    }
    for (int k = 0; k < 3; k++) gc_report(&g[k]);
    printf("  %d of %zu parameters skipped (perturbation crosses a kink)\n", skipped, net.nparams);
    /* Enough entries checked in every layer (the design asks for ~50 overall). */
    CHECK(g[0].checked >= 40 && g[1].checked >= 20 && g[2].checked >= 20);
    pattern_free(&base);
    free(x);
    net_free(&net);
}

/* Test 5: one backward on n = 4 samples = the sum of four one-sample
 * backward passes (train mode: the dropout masks follow the sample ids), and
 * = the backward of the same batch in another order. */
static void test_per_sample_sum(void)
{
    enum { N = 4 };
    Net net;
    if (build_small(&net, N) != 0) return;
    const size_t plane = (size_t)small_in.h * small_in.w, xlen = shape_len(small_in) * N;
    const size_t P = net.nparams;
    float *x = malloc(sizeof(float) * xlen), *xs = malloc(sizeof(float) * xlen);
    float *x1 = malloc(sizeof(float) * shape_len(small_in));
    float *gb = malloc(sizeof(float) * P), *gr = malloc(sizeof(float) * P);
    double *gs = calloc(P, sizeof(double));
    gc_fill_uniform(x, xlen, 9, 1, -1.0f, 1.0f);
    const int labels[N] = {2, 0, 3, 1};
    const float scale = 1.0f / 8.0f;   /* as if the global batch were 8 */

    memset(net.grads, 0, sizeof(float) * P);
    const float *z = net_forward(&net, x, N, 1, DROP_SEED, DROP_STEP, drop_ids, NULL);
    double lb = softmax_xent(z, labels, net.classes, N, scale, net.dlogits, NULL);
    net_backward(&net, x, N, NULL);
    memcpy(gb, net.grads, sizeof(float) * P);

    double ls = 0.0;
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < small_in.c; c++)
            memcpy(x1 + c * plane, x + ((size_t)c * N + i) * plane, sizeof(float) * plane);
        memset(net.grads, 0, sizeof(float) * P);
        z = net_forward(&net, x1, 1, 1, DROP_SEED, DROP_STEP, drop_ids + i, NULL);
        ls += softmax_xent(z, labels + i, net.classes, 1, scale, net.dlogits, NULL);
        net_backward(&net, x1, 1, NULL);
        for (size_t p = 0; p < P; p++) gs[p] += net.grads[p];
    }
    /* The same batch reversed. */
    long rids[N];
    int rlabels[N];
    for (int i = 0; i < N; i++) {
        rids[i] = drop_ids[N - 1 - i];
        rlabels[i] = labels[N - 1 - i];
        for (int c = 0; c < small_in.c; c++)
            memcpy(xs + ((size_t)c * N + i) * plane, x + ((size_t)c * N + (N - 1 - i)) * plane,
                   sizeof(float) * plane);
    }
    memset(net.grads, 0, sizeof(float) * P);
    z = net_forward(&net, xs, N, 1, DROP_SEED, DROP_STEP, rids, NULL);
    softmax_xent(z, rlabels, net.classes, N, scale, net.dlogits, NULL);
    net_backward(&net, xs, N, NULL);
    memcpy(gr, net.grads, sizeof(float) * P);

    CHECK_CLOSE(lb, ls, 1e-6);
    /* 1e-5 relative: the two computations differ only in the order of float
     * sums (GEMMs of 4 vs 1 samples, 4 partial sums), ~2^-24 * sqrt(terms)
     * relative to the magnitude of the summed terms.  An entry is compared
     * relative to max(|g|, 1e-2 * max|g| of its layer) so that entries that
     * cancel to ~0 are judged against the size of what was summed; a wrong
     * dropout key or a sample mixed up moves entries by O(|g|). */
    GcGroup gsum = gc_group("n=4 backward vs sum of 4 single"), grev = gc_group("n=4 backward vs reversed batch");
    for (int i = 0; i < net.nlayers; i++) {
        const Layer *l = &net.layers[i];
        if (!l->nparams) continue;
        double mx = 0.0;
        for (size_t p = l->param_off; p < l->param_off + l->nparams; p++) mx = fmax(mx, fabs(gs[p]));
        for (size_t p = l->param_off; p < l->param_off + l->nparams; p++) {
            double ref = fmax(fabs(gs[p]), 1e-2 * mx);
            gc_close(&gsum, p, gb[p] / ref, gs[p] / ref, 1e-5, 0.0);
            gc_close(&grev, p, gr[p] / ref, gs[p] / ref, 1e-5, 0.0);
        }
    }
    gc_report(&gsum);
    gc_report(&grev);
    free(x); free(xs); free(x1); free(gb); free(gr); free(gs);
    net_free(&net);
}

/* Test 6: net_build errors name the configuration key. */
static void test_build_errors(void)
{
    Net net;
    char err[256];
    /* a 5x5 max-pool does not fit a 4x4 input */
    const LayerSpec pool_too_big[] = {{.type = L_MAXPOOL, .size = 5, .stride = 1, .pad = 0}, {.type = L_GAP}};
    strcpy(err, "");
    CHECK(net_build(&net, pool_too_big, 2, (Shape){1, 4, 4}, 2, err, sizeof err) != 0);
    printf("net_build error: %s\n", err);
    CHECK(strstr(err, "net.layer") != NULL);
    CHECK(strstr(err, "maxpool") != NULL);
    CHECK(net.layers == NULL && net.params == NULL);   /* nothing left allocated */
    /* the second layer does not fit: the message says which */
    const LayerSpec second[] = {{.type = L_CONV, .filters = 2, .size = 3, .stride = 1, .pad = 0},
                                {.type = L_AVGPOOL, .size = 3, .stride = 2, .pad = 0}, {.type = L_GAP}};
    strcpy(err, "");
    CHECK(net_build(&net, second, 3, (Shape){1, 4, 4}, 2, err, sizeof err) != 0);
    printf("net_build error: %s\n", err);
    CHECK(strstr(err, "net.layer 2") != NULL);
    /* no gap: ends in 3x4x4, not in logits */
    const LayerSpec no_gap[] = {{.type = L_CONV, .filters = 3, .size = 3, .stride = 1, .pad = 1}, {.type = L_RELU}};
    strcpy(err, "");
    CHECK(net_build(&net, no_gap, 2, (Shape){1, 4, 4}, 2, err, sizeof err) != 0);
    printf("net_build error: %s\n", err);
    CHECK(strstr(err, "net.layer") != NULL);
    CHECK(net.layers == NULL);
    /* a pool window that can lie wholly in the padding (pad >= size) is refused */
    const LayerSpec pad_too_big[] = {{.type = L_MAXPOOL, .size = 2, .stride = 2, .pad = 2}, {.type = L_GAP}};
    strcpy(err, "");
    CHECK(net_build(&net, pad_too_big, 2, (Shape){1, 4, 4}, 2, err, sizeof err) != 0);
    printf("net_build error: %s\n", err);
    CHECK(strstr(err, "net.layer 1") != NULL && strstr(err, "pad < size") != NULL);
    /* and the same with gap builds */
    const LayerSpec ok[] = {{.type = L_CONV, .filters = 3, .size = 3, .stride = 1, .pad = 1}, {.type = L_GAP}};
    CHECK(net_build(&net, ok, 2, (Shape){1, 4, 4}, 2, err, sizeof err) == 0);
    CHECK(net.classes == 3 && net.nparams == 3 * 9 + 3);
    net_free(&net);
}

/* The NiN of design note section 6. */
static const LayerSpec nin_specs[] = {
    {.type = L_CONV, .filters = 192, .size = 5, .stride = 1, .pad = 2}, {.type = L_RELU},
    {.type = L_CONV, .filters = 160, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_CONV, .filters = 96, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_MAXPOOL, .size = 3, .stride = 2, .pad = 1}, {.type = L_DROPOUT, .rate = 0.5f},
    {.type = L_CONV, .filters = 192, .size = 5, .stride = 1, .pad = 2}, {.type = L_RELU},
    {.type = L_CONV, .filters = 192, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_CONV, .filters = 192, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_AVGPOOL, .size = 3, .stride = 2, .pad = 1}, {.type = L_DROPOUT, .rate = 0.5f},
    {.type = L_CONV, .filters = 192, .size = 3, .stride = 1, .pad = 1}, {.type = L_RELU},
    {.type = L_CONV, .filters = 192, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_CONV, .filters = 10, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_GAP},
};
enum { NIN_LAYERS = sizeof nin_specs / sizeof nin_specs[0] };

/* Tests 7 and 8: parameter count and initialisation. */
static void test_nin(void)
{
    Net a, b;
    char err[256] = "";
    const Shape in = {3, 32, 32};
    int rc = net_build(&a, nin_specs, NIN_LAYERS, in, 1, err, sizeof err);
    if (rc) fprintf(stderr, "net_build(NiN): %s\n", err);
    CHECK(rc == 0);
    if (rc) return;
    /* 3*25*192+192 + 192*160+160 + 160*96+96 + 96*25*192+192 + 2*(192*192+192)
     * + 192*9*192+192 + 192*192+192 + 192*10+10 = 966,986 */
    printf("NiN: %zu parameters\n", a.nparams);
    CHECK(a.nparams == 966986);
    CHECK(a.classes == 10);
    CHECK(a.layers[6].out.h == 16 && a.layers[6].out.w == 16);    /* max-pool 32 -> 16 */
    CHECK(a.layers[14].out.h == 8 && a.layers[14].out.w == 8);    /* avg-pool 16 -> 8 */
    /* the views tile the buffer: each layer's w, then its b, then the next */
    size_t off = 0;
    int biggest = -1;
    for (int i = 0; i < a.nlayers; i++) {
        Layer *l = &a.layers[i];
        if (!l->nparams) continue;
        CHECK(l->param_off == off);
        CHECK(l->w == a.params + off && l->dw == a.grads + off);
        CHECK(l->b == l->w + (l->nparams - (size_t)l->out.c));
        off += l->nparams;
        if (biggest < 0 || l->nparams > a.layers[biggest].nparams) biggest = i;
    }
    CHECK(off == a.nparams);
    CHECK(biggest == 8);   /* conv 192 5x5 on 96 channels: 460,992 */

    /* biases are set to zero by the initialisation, whatever was there */
    for (size_t p = 0; p < a.nparams; p++) a.params[p] = 1.0f;
    net_init_params(&a, 7);
    rc = net_build(&b, nin_specs, NIN_LAYERS, in, 1, err, sizeof err);
    CHECK(rc == 0);
    if (rc) { net_free(&a); return; }
    net_init_params(&b, 7);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.nparams) == 0);
    net_init_params(&b, 8);
    size_t differ = 0;
    for (size_t p = 0; p < a.nparams; p++) differ += a.params[p] != b.params[p];
    /* every weight differs (equal draws: probability ~2^-24 each); biases are 0 in both */
    size_t nbias = 0;
    for (int i = 0; i < a.nlayers; i++) if (a.layers[i].nparams) nbias += (size_t)a.layers[i].out.c;
    printf("NiN init: seeds 7 and 8 differ in %zu of %zu weights\n", differ, a.nparams - nbias);
    CHECK(differ + 10 >= a.nparams - nbias);

    for (int i = 0; i < a.nlayers; i++) {
        Layer *l = &a.layers[i];
        if (!l->nparams) continue;
        const size_t nw = l->nparams - (size_t)l->out.c;
        const double fan_in = (double)l->in.c * l->spec.size * l->spec.size, want = 2.0 / fan_in;
        double s = 0.0, s2 = 0.0;
        for (size_t e = 0; e < nw; e++) { s += l->w[e]; s2 += (double)l->w[e] * l->w[e]; }
        double mean = s / nw, var = s2 / nw - mean * mean;
        int zero_b = 1;
        for (int o = 0; o < l->out.c; o++) zero_b &= l->b[o] == 0.0f;
        CHECK(zero_b);
        /* The sample variance of nw normals has relative s.d. sqrt(2/nw):
         * 0.2% for the biggest layer, so 5% cannot fail by chance yet
         * catches a wrong fan-in (factor >= 5/3 here); layers with >= 10^4
         * weights (s.d. <= 1.4%) get the same 5%, 3.5 sigma at worst. */
        if (i == biggest || nw >= 10000) {
            printf("  layer %2d: %7zu weights, variance %.4e, 2/fan_in %.4e (ratio %.4f), mean %+.1e\n",
                   i + 1, nw, var, want, var / want, mean);
            CHECK(fabs(var / want - 1.0) < 0.05);
            CHECK(fabs(mean) < 5.0 * sqrt(want / nw));   /* 5 sigma of the sample mean */
        }
    }
    net_free(&a);
    net_free(&b);
}

/* conv_gemm_shapes: what conv_forward/conv_backward multiply (inna-bench
 * counts and times these): conv 3x8x8 -> 5 filters 3x3 stride 2 pad 1, out
 * 4x4, n = 2: M = 5, N = 2*16, K = 3*9; the columns are K x N, as im2col
 * sizes them.  conv_gemm with K in blocks agrees with one whole-K call. */
static void test_conv_gemm_shapes(void)
{
    Net net;
    if (build_single(&net, conv_spec(5, 3, 2, 1), (Shape){3, 8, 8}, 2) != 0) return;
    const Layer *l = &net.layers[0];
    ConvGemm g[CONV_NGEMMS];
    conv_gemm_shapes(l, 2, g);
    const ConvGemm *f = &g[CONV_GEMM_FORWARD], *w = &g[CONV_GEMM_WEIGHTS], *d = &g[CONV_GEMM_DATA];
    CHECK(f->M == 5 && f->N == 32 && f->K == 27 && !f->trans_a && !f->trans_b && f->beta == 0.0f);
    CHECK(w->M == 5 && w->N == 27 && w->K == 32 && !w->trans_a && w->trans_b && w->beta == 1.0f);
    CHECK(d->M == 27 && d->N == 32 && d->K == 5 && d->trans_a && !d->trans_b && d->beta == 0.0f);
    CHECK((size_t)f->K * f->N == layer_col_len(l, 2));
    net_free(&net);

    enum { M = 3, N = 4, K = 2 * GEMM_K_BLOCK + 7 };
    static float a[M * K], b[K * N];
    float blocked[M * N], whole[M * N];
    gc_fill_uniform(a, M * K, 1, 0, -1.0f, 1.0f);
    gc_fill_uniform(b, K * N, 2, 0, -1.0f, 1.0f);
    const ConvGemm big = { M, N, K, 0, 0, 0.0f };
    conv_gemm(&big, GEMM_K_BLOCK, a, b, blocked);
    conv_gemm(&big, K, a, b, whole);
    for (int j = 0; j < M * N; j++) CHECK_CLOSE(blocked[j], whole[j], 1e-4);
}

int main(void)
{
    test_layer_gradients();
    test_avgpool_corner();
    test_dropout();
    test_rng_keep();
    test_kinks();
    test_softmax_xent();
    test_network_gradient(1);
    test_network_gradient(0);
    test_per_sample_sum();
    test_build_errors();
    test_nin();
    test_conv_gemm_shapes();
    return check_report("test_layers");
}
