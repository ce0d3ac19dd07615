/* The oneDNN engine against the OpenBLAS engine (itself checked against
 * naive loops and finite differences in test_layers.c) and against central
 * finite differences of its own; exit 77 (skipped) in a build without it.
 *
 *  1. every layer type in a small net [conv, LAYER, (relu,) gap] (and
 *     convolutions of many shapes, with and without a fused relu, channel
 *     counts 3, 6, 10 that do not fill a block of 16): each layer's output,
 *     each layer's dx and the parameter gradient against OpenBLAS, for
 *     n = max_n and n < max_n (another plan); dropout masks exactly equal;
 *  2. the same nets' parameter gradient against central differences of the
 *     oneDNN forward (entries whose perturbation crosses a ReLU or max-pool
 *     kink are recognised as those where OpenBLAS' own difference quotient
 *     disagrees with its backward, and skipped); through the first conv's
 *     dW this checks every layer's dx too;
 *  3. max-pool ties and padding, avg-pool's excluded padding, by hand;
 *  4. a whole NiN-shaped network's gradient against OpenBLAS;
 *  5. bitwise repeatability: the same chunk twice on one net, and on two
 *     nets sharing the parameters (two workers), gives the same bits. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "net.h"
#include "rng.h"
#include "specs.h"
#ifdef INNA_HAVE_ONEDNN
#include "../src/engine/onednn/onednn.h"

#define DROP_SEED 4242u
#define DROP_STEP 9L
static const long ids[8] = {17, 3, 40, 8, 25, 1, 33, 12};

static int build(Net *net, EngineKind e, const LayerSpec *specs, int nl, Shape in, int max_n)
{
    char err[512] = "";
    int rc = net_build_on(net, e, specs, nl, in, max_n, err, sizeof err);
    if (rc) fprintf(stderr, "net_build_on(%s): %s\n", engine_name(e), err);
    CHECK(rc == 0);
    return rc;
}

/* Layer i's dx (what its net_layer_backward returned, bwd_to's result) as
 * plain [c][n][h][w]. */
static void dx_plain(Net *net, int i, int n, const float *dx, float *dst)
{
    struct OnednnNet *o = net->dnnl;
    if (!o) {
        memcpy(dst, dx, sizeof(float) * shape_len(net->layers[i].in) * n);
        return;
    }
    const OdLayer *ol = &o->plans[n]->layers[i];
    const Shape s = net->layers[i].in;
    dnnl_dims_t d = {n, s.c, s.h, s.w}, st = {(dnnl_dim_t)s.h * s.w, (dnnl_dim_t)n * s.h * s.w, s.w, 1};
    dnnl_memory_desc_t plain;
    dnnl_memory_t m[2];
    OdPrim r = {0};
    char err[256];
    od_check(dnnl_memory_desc_init_by_strides(&plain, 4, d, dnnl_f32, st), "md");
    CHECK(od_reorder(o, &r, &ol->src, &plain, 0, "r", err, sizeof err) == 0);
    CHECK(od_mem(&m[0], &ol->src, err, sizeof err) == 0 && od_mem(&m[1], &plain, err, sizeof err) == 0);
    const OdArg a[] = {{DNNL_ARG_FROM, 0, dx}, {DNNL_ARG_TO, 1, dst}};
    od_run(o, &r, m, 2, a);
    dnnl_memory_destroy(m[0]);
    dnnl_memory_destroy(m[1]);
    od_prim_free(&r);
}

/* L = sum_j r_j z_j over the logits z, in double (dlogits = r). */
static double objective(Net *net, const float *x, int n, int train, const float *r)
{
    net_prepare_weights(net);
    const float *z = net_forward(net, x, n, train, DROP_SEED, DROP_STEP, ids, NULL);
    double s = 0.0;
    for (size_t j = 0; j < (size_t)net->classes * n; j++) s += (double)r[j] * z[j];
    return s;
}

/* Forward, then backward from dlogits = r down to layer `to`, grads cleared
 * first; returns layer `to`'s dx. */
static const float *bwd_to(Net *net, const float *x, int n, int train, const float *r, int to)
{
    net_prepare_weights(net);
    net_forward(net, x, n, train, DROP_SEED, DROP_STEP, ids, NULL);
    memcpy(net->dlogits, r, sizeof(float) * net->classes * n);
    memset(net->grads, 0, sizeof(float) * net->nparams);
    const float *dy = net->dlogits;
    for (int i = net->nlayers - 1; i >= to && dy; i--) dy = net_layer_backward(net, i, x, dy, n);
    return dy;
}

static void fwd_bwd(Net *net, const float *x, int n, int train, const float *r)
{
    bwd_to(net, x, n, train, r, 0);
}

/* |a - b| <= rtol |b| + atol max|b| over an array (the scale of the whole). */
static void close_arrays(const char *what, const float *a, const float *b, size_t len, double rtol,
                         double atol)
{
    double mx = 0.0;
    for (size_t j = 0; j < len; j++) mx = fmax(mx, fabs(b[j]));
    GcGroup g = gc_group(what);
    for (size_t j = 0; j < len; j++) gc_close(&g, j, a[j], b[j], atol * mx, rtol);
    gc_report(&g);
}

typedef struct {
    const char *name;
    LayerSpec specs[6];
    int nl;
    Shape in;
    int max_n;
    int train;
    int fd;   /* also the finite-difference check */
} Case;

/* Every layer's output and dx, and the gradient, on both engines at n. */
static void compare_engines(const Case *c, Net *a, Net *b, const float *x, const float *r, int n)
{
    char what[160];
    fwd_bwd(a, x, n, c->train, r);
    float *ga = malloc(sizeof(float) * a->nparams + 1);
    memcpy(ga, a->grads, sizeof(float) * a->nparams);
    fwd_bwd(b, x, n, c->train, r);
    for (int i = 0; i < a->nlayers; i++) {
        const Layer *l = &a->layers[i];
        const size_t ylen = shape_len(l->out) * n, xlen = shape_len(l->in) * n;
        float *ya = malloc(sizeof(float) * ylen), *yb = malloc(sizeof(float) * ylen);
        /* a conv followed by relu: oneDNN's output is after the fused relu */
        const int fused = l->spec.type == L_CONV && i + 1 < a->nlayers && a->layers[i + 1].spec.type == L_RELU;
        net_layer_output(a, fused ? i + 1 : i, n, ya);
        net_layer_output(b, i, n, yb);
        snprintf(what, sizeof what, "%s n=%d: layer %d (%s) y", c->name, n, i + 1,
                 layer_type_name(l->spec.type));
        /* float sums in another order: 2^-24 * sqrt(terms) relative */
        close_arrays(what, yb, ya, ylen, 1e-5, 1e-6);
        if (l->spec.type == L_DROPOUT && i > 0 && c->train) {
            /* the same mask: zero exactly where OpenBLAS' is */
            int bad = 0;
            for (size_t j = 0; j < ylen; j++) bad += (ya[j] == 0.0f) != (yb[j] == 0.0f);
            CHECK(bad == 0);
        }
        free(ya); free(yb);
        if (i == 0) continue;
        float *da = malloc(sizeof(float) * xlen), *db = malloc(sizeof(float) * xlen);
        /* dx of layer i: the backward down to i on both */
        dx_plain(a, i, n, bwd_to(a, x, n, c->train, r, i), da);
        dx_plain(b, i, n, bwd_to(b, x, n, c->train, r, i), db);
        snprintf(what, sizeof what, "%s n=%d: layer %d (%s) dx", c->name, n, i + 1,
                 layer_type_name(l->spec.type));
        close_arrays(what, db, da, xlen, 1e-4, 1e-5);
        free(da); free(db);
    }
    fwd_bwd(b, x, n, c->train, r);
    snprintf(what, sizeof what, "%s n=%d: gradient vs OpenBLAS", c->name, n);
    /* dW sums n*OH*OW products in another order: ~1e-6 relative to the
     * largest entry; 1e-5 of it plus 1e-4 relative. */
    close_arrays(what, b->grads, ga, a->nparams, 1e-4, 1e-5);
    free(ga);
}

/* Central differences of the oneDNN forward against its backward, for every
 * parameter; entries where OpenBLAS' own quotient misses its backward sit
 * on a kink (relu sign or max-pool argmax flips within h) and are skipped. */
static void finite_differences(const Case *c, Net *a, Net *b, const float *x, const float *r, int n)
{
    const float h = 1.0f / 64;
    char what[160];
    snprintf(what, sizeof what, "%s n=%d: gradient vs differences", c->name, n);
    GcGroup g = gc_group(what);
    fwd_bwd(a, x, n, c->train, r);
    fwd_bwd(b, x, n, c->train, r);
    int skipped = 0;
    for (size_t p = 0; p < b->nparams; p++) {
        const float save = b->params[p], vp = save + h, vm = save - h;
        double fd[2];
        Net *nets[2] = {a, b};
        for (int e = 0; e < 2; e++) {
            nets[e]->params[p] = vp;
            double lp = objective(nets[e], x, n, c->train, r);
            nets[e]->params[p] = vm;
            double lm = objective(nets[e], x, n, c->train, r);
            nets[e]->params[p] = save;
            fd[e] = (lp - lm) / ((double)vp - (double)vm);
        }
        /* Without a kink L is affine in one parameter: the quotient is exact
         * but for the rounding of L (|L| ~ 1, <= 30 logits, each within
         * ~1e-7 relative: ~1e-6), / 2h = 1/32: ~3e-5; 2e-4 + 1e-3 relative.
         * An entry counts as smooth when OpenBLAS is within half of that. */
        if (fabs(fd[0] - a->grads[p]) > 0.5 * (2e-4 + 1e-3 * fabs(fd[0]))) { skipped++; continue; }
        gc_close(&g, p, b->grads[p], fd[1], 2e-4, 1e-3);
    }
    gc_report(&g);
    printf("  %d of %zu skipped (a kink within h)\n", skipped, b->nparams);
    /* Random inputs put many relu inputs within h of 0 (a first-layer
     * weight moves a whole channel): an eighth, at least 16, must remain. */
    CHECK(g.checked >= 16 && g.checked >= (int)b->nparams / 8);
}

static void run_case(const Case *c)
{
    Net a, b;
    if (build(&a, ENGINE_OPENBLAS, c->specs, c->nl, c->in, c->max_n)) return;
    if (build(&b, ENGINE_ONEDNN, c->specs, c->nl, c->in, c->max_n)) { net_free(&a); return; }
    const size_t xlen = shape_len(c->in) * c->max_n;
    float *x = malloc(sizeof(float) * xlen), *r = malloc(sizeof(float) * a.classes * c->max_n);
    gc_fill_uniform(x, xlen, 11, 1, -1.0f, 1.0f);
    gc_fill_uniform(r, (size_t)a.classes * c->max_n, 11, 2, -1.0f, 1.0f);
    gc_fill_uniform(a.params, a.nparams, 11, 3, -0.5f, 0.5f);
    /* biases 0.2 .. 0.7: fewer relu inputs near the kink */
    for (int i = 0; i < a.nlayers; i++)
        if (a.layers[i].nparams) gc_fill_uniform(a.layers[i].b, (size_t)a.layers[i].out.c, 11, 4 + (uint64_t)i, 0.2f, 0.7f);
    memcpy(b.params, a.params, sizeof(float) * a.nparams);
    for (int n = c->max_n; n >= c->max_n - 1 && n >= 1; n--) {
        compare_engines(c, &a, &b, x, r, n);
        if (c->fd && n == c->max_n) finite_differences(c, &a, &b, x, r, n);
    }
    free(x); free(r);
    net_free(&a);
    net_free(&b);
}

static void test_layers(void)
{
    const Shape s3 = {3, 7, 5}, s2 = {2, 7, 6};
    const LayerSpec c6 = conv_spec(6, 3, 1, 1), relu = plain_spec(L_RELU), gap = plain_spec(L_GAP);
    const Case cases[] = {
        {"conv k3 p1 + relu", {c6, relu, gap}, 3, s3, 3, 0, 1},
        {"conv k5 s1 p2", {c6, conv_spec(10, 5, 1, 2), gap}, 3, s3, 3, 0, 1},
        {"conv k5 s1 p2 + relu", {c6, conv_spec(10, 5, 1, 2), relu, gap}, 4, s3, 3, 0, 1},
        {"conv k1", {c6, conv_spec(10, 1, 1, 0), gap}, 3, s3, 3, 0, 1},
        {"conv k1 + relu", {c6, conv_spec(10, 1, 1, 0), relu, gap}, 4, s3, 3, 0, 1},
        {"conv k3 s2 p1 + relu", {c6, conv_spec(12, 3, 2, 1), relu, gap}, 4, s2, 3, 0, 1},
        {"conv k3 s1 p0", {c6, conv_spec(3, 3, 1, 0), gap}, 3, s2, 2, 0, 1},
        {"conv k4 s3 p2", {c6, conv_spec(2, 4, 3, 2), gap}, 3, s2, 2, 0, 1},
        {"conv k1 s2", {c6, conv_spec(10, 1, 2, 0), gap}, 3, s3, 2, 0, 1},
        /* 6 columns, k3 s2 p0: the last column in no window (oneDNN: right padding -1) */
        {"conv k3 s2 p0", {c6, conv_spec(4, 3, 2, 0), gap}, 3, s2, 2, 0, 1},
        {"conv 16 -> 32 k1 + relu", {conv_spec(16, 3, 1, 1), relu, conv_spec(32, 1, 1, 0), relu, gap}, 5,
         s3, 3, 0, 0},
        {"relu (unfused)", {c6, pool_spec(L_AVGPOOL, 1, 1, 0), relu, gap}, 4, s3, 3, 0, 1},
        {"maxpool 3/2/1", {c6, pool_spec(L_MAXPOOL, 3, 2, 1), gap}, 3, s3, 3, 0, 1},
        {"maxpool 2/2/0", {c6, pool_spec(L_MAXPOOL, 2, 2, 0), gap}, 3, s2, 2, 0, 1},
        {"avgpool 3/2/1", {c6, pool_spec(L_AVGPOOL, 3, 2, 1), gap}, 3, s3, 3, 0, 1},
        {"avgpool 2/2/0", {c6, pool_spec(L_AVGPOOL, 2, 2, 0), gap}, 3, s2, 2, 0, 1},
        {"gap", {c6, gap}, 2, s3, 3, 0, 1},
        {"dropout 0.3 train", {c6, dropout_spec(0.3f), gap}, 3, s3, 3, 1, 1},
        {"dropout 0.3 eval", {c6, dropout_spec(0.3f), gap}, 3, s3, 3, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* Dropout as layer 0 (its input is x itself, reordered exactly): the same
 * y bit for bit, hence the same mask, for 3 and 10 channels (blocks of 16
 * mostly padding), and the padding of the blocked buffer stays zero. */
static void test_dropout_masks(void)
{
    const int chans[2] = {3, 10};
    for (int k = 0; k < 4; k++) {   /* k >= 2: the walk for any layout (see od_dropout_force_generic) */
        od_dropout_force_generic(k >= 2);
        const LayerSpec specs[2] = {dropout_spec(0.4f), plain_spec(L_GAP)};
        const Shape in = {chans[k % 2], 5, 6};
        Net a, b;
        if (build(&a, ENGINE_OPENBLAS, specs, 2, in, 4) || build(&b, ENGINE_ONEDNN, specs, 2, in, 4)) return;
        for (int n = 4; n >= 3; n--) {
            const size_t len = shape_len(in) * n;
            float *x = malloc(sizeof(float) * len), *yb = malloc(sizeof(float) * len);
            gc_fill_uniform(x, len, 5, (uint64_t)n, 0.5f, 1.0f);   /* no zeros: a 0 in y is a drop */
            net_layer_forward(&a, 0, x, n, 1, DROP_SEED, DROP_STEP, ids);
            net_layer_forward(&b, 0, x, n, 1, DROP_SEED, DROP_STEP, ids);
            net_layer_output(&b, 0, n, yb);
            size_t dropped = 0;
            for (size_t j = 0; j < len; j++) dropped += a.layers[0].y[j] == 0.0f;
            printf("dropout layer 0, %d channels, n = %d, %s walk: %zu of %zu dropped, oneDNN %s\n", in.c,
                   n, k >= 2 ? "generic" : "fastest", dropped, len, memcmp(a.layers[0].y, yb, sizeof(float) * len) ? "DIFFERS" : "bit for bit");
            CHECK(memcmp(a.layers[0].y, yb, sizeof(float) * len) == 0);
            CHECK(dropped > 0 && dropped < len);
            /* the blocked buffer: exactly Cp - C zero channels beyond the data */
            const OdLayer *ol = &b.dnnl->plans[n]->layers[0];
            const size_t total = dnnl_memory_desc_get_size(&ol->dst) / sizeof(float);
            size_t nonzero = 0;
            size_t kept = 0;   /* and the mask there is 0: dx stays zero in the padding */
            for (size_t j = 0; j < total; j++) {
                nonzero += b.dnnl->out[0][j] != 0.0f;
                kept += b.layers[0].mask[j];
            }
            CHECK(nonzero == len - dropped);
            CHECK(kept == len - dropped);
            free(x); free(yb);
        }
        net_free(&a);
        net_free(&b);
    }
    od_dropout_force_generic(0);
}

/* Max-pool ties, by hand: an identity 1x1 conv (exact) feeds a max-pool
 * whose single window is the whole plane, so dlogits is its dy.  Each
 * channel's dy must land on the first maximal element in row-major order:
 *   c0: all 5                      -> (0,0)
 *   c1: 9 at (0,2) and (1,1)       -> (0,2)
 *   c2: 7 at (1,0) and (2,2)       -> (1,0)
 *   c3: unique 8 at (2,1)          -> (2,1)
 * and with padding (3/2/1 on 2x2: one window, 5 of 9 positions padding), a
 * constant -2 plane -> (0,0), padding never wins. */
static void test_maxpool_ties(void)
{
    const float planes[4][9] = {{5, 5, 5, 5, 5, 5, 5, 5, 5},
                                {1, 2, 9, 3, 9, 4, 0, 1, 2},
                                {1, 2, 3, 7, 6, 5, 4, 3, 7},
                                {1, 2, 3, 4, 5, 6, 7, 8, 0}};
    const int want[4] = {0, 2, 3, 7};
    const EngineKind engines[2] = {ENGINE_OPENBLAS, ENGINE_ONEDNN};
    for (int e = 0; e < 2; e++) {
        const LayerSpec specs[2] = {conv_spec(4, 1, 1, 0), pool_spec(L_MAXPOOL, 3, 1, 0)};
        Net net;
        if (build(&net, engines[e], specs, 2, (Shape){4, 3, 3}, 1)) return;
        memset(net.params, 0, sizeof(float) * net.nparams);
        for (int c = 0; c < 4; c++) net.layers[0].w[c * 4 + c] = 1.0f;
        float x[36], dx[36], r[4] = {1, 2, 3, 4};
        memcpy(x, planes, sizeof x);
        dx_plain(&net, 1, 1, bwd_to(&net, x, 1, 0, r, 1), dx);
        int bad = 0;
        for (int c = 0; c < 4; c++)
            for (int j = 0; j < 9; j++) {
                float expect = j == want[c] ? r[c] : 0.0f;
                if (dx[c * 9 + j] != expect) {
                    bad++;
                    fprintf(stderr, "%s max-pool ties: channel %d dx[%d] = %g, expected %g\n",
                            engine_name(engines[e]), c, j, dx[c * 9 + j], expect);
                }
            }
        printf("max-pool ties, %s: %s\n", engine_name(engines[e]), bad ? "NOT the first maximum" :
               "dy to the first maximal element in row-major order");
        CHECK(bad == 0);
        net_free(&net);

        const LayerSpec pspecs[2] = {conv_spec(1, 1, 1, 0), pool_spec(L_MAXPOOL, 3, 2, 1)};
        if (build(&net, engines[e], pspecs, 2, (Shape){1, 2, 2}, 1)) return;
        net.layers[0].w[0] = 1.0f;
        net.layers[0].b[0] = 0.0f;
        float px[4] = {-2, -2, -2, -2}, pdx[4], pr[1] = {5};
        const float *pdx_engine = bwd_to(&net, px, 1, 0, pr, 1);
        CHECK(net.layers[1].y[0] == -2.0f);
        dx_plain(&net, 1, 1, pdx_engine, pdx);
        CHECK(pdx[0] == 5.0f && pdx[1] == 0.0f && pdx[2] == 0.0f && pdx[3] == 0.0f);
        net_free(&net);
    }
}

/* avgpool 3/2/1 on 4x4 (after an identity conv): the 2x2 outputs average
 * 4, 6, 6 and 9 positions, padding not counted (test_layers.c's numbers). */
static void test_avgpool_padding(void)
{
    const LayerSpec specs[3] = {conv_spec(1, 1, 1, 0), pool_spec(L_AVGPOOL, 3, 2, 1), plain_spec(L_GAP)};
    Net net;
    if (build(&net, ENGINE_ONEDNN, specs, 3, (Shape){1, 4, 4}, 2)) return;
    net.layers[0].w[0] = 1.0f;
    net.layers[0].b[0] = 0.0f;
    float x[16], y[4];
    for (int j = 0; j < 16; j++) x[j] = (float)(j + 1);
    net_prepare_weights(&net);
    net_forward(&net, x, 1, 0, DROP_SEED, DROP_STEP, ids, NULL);
    net_layer_output(&net, 1, 1, y);
    printf("oneDNN avgpool 3/2/1 on 1..16: %g %g %g %g (want 3.5 5 9.5 11)\n", y[0], y[1], y[2], y[3]);
    CHECK_CLOSE(y[0], 3.5, 1e-6);
    CHECK_CLOSE(y[1], 5.0, 1e-6);
    CHECK_CLOSE(y[2], 9.5, 1e-6);
    CHECK_CLOSE(y[3], 11.0, 1e-6);
    net_free(&net);
}

/* tiny.ini's network (every layer type, 6 and 12 channels) on 1x28x28. */
static const LayerSpec tiny_specs[] = {
    {.type = L_CONV, .filters = 8, .size = 3, .stride = 1, .pad = 1}, {.type = L_RELU},
    {.type = L_CONV, .filters = 6, .size = 1, .stride = 1}, {.type = L_RELU},
    {.type = L_MAXPOOL, .size = 3, .stride = 2, .pad = 1}, {.type = L_DROPOUT, .rate = 0.25f},
    {.type = L_CONV, .filters = 12, .size = 3, .stride = 2, .pad = 1}, {.type = L_RELU},
    {.type = L_AVGPOOL, .size = 3, .stride = 2, .pad = 1},
    {.type = L_CONV, .filters = 10, .size = 1, .stride = 1}, {.type = L_RELU}, {.type = L_GAP},
};
enum { TINY_LAYERS = sizeof tiny_specs / sizeof tiny_specs[0], TINY_N = 8 };
static const Shape tiny_in = {1, 28, 28};

/* Softmax cross-entropy gradient of a chunk; grads cleared first. */
static void chunk_grad(Net *net, const float *x, int n)
{
    static const int labels[TINY_N] = {3, 1, 4, 1, 5, 9, 2, 6};
    net_prepare_weights(net);
    const float *z = net_forward(net, x, n, 1, DROP_SEED, DROP_STEP, ids, NULL);
    softmax_xent(z, labels, net->classes, n, 1.0f / TINY_N, net->dlogits, NULL);
    memset(net->grads, 0, sizeof(float) * net->nparams);
    net_backward(net, x, n, NULL);
}

static void test_network(void)
{
    Net a, b, b2;
    if (build(&a, ENGINE_OPENBLAS, tiny_specs, TINY_LAYERS, tiny_in, TINY_N) ||
        build(&b, ENGINE_ONEDNN, tiny_specs, TINY_LAYERS, tiny_in, TINY_N) ||
        build(&b2, ENGINE_ONEDNN, tiny_specs, TINY_LAYERS, tiny_in, TINY_N))
        return;
    net_init_params(&a, 5);
    memcpy(b.params, a.params, sizeof(float) * a.nparams);
    net_share_params(&b2, b.params);
    const size_t xlen = shape_len(tiny_in) * TINY_N;
    float *x = malloc(sizeof(float) * xlen), *g1 = malloc(sizeof(float) * b.nparams);
    gc_fill_uniform(x, xlen, 6, 1, -1.0f, 1.0f);
    char impl[512];
    net_describe_impl(&b, impl, sizeof impl);
    printf("tiny network on oneDNN: %s; %zu bytes held\n", impl, b.engine_bytes);
    for (int n = TINY_N; n >= TINY_N - 3; n -= 3) {
        char what[96];
        chunk_grad(&a, x, n);
        chunk_grad(&b, x, n);
        snprintf(what, sizeof what, "tiny network n=%d: gradient vs OpenBLAS", n);
        close_arrays(what, b.grads, a.grads, a.nparams, 1e-4, 1e-5);
        /* bitwise: again on the same net, and on a second net (a worker) */
        memcpy(g1, b.grads, sizeof(float) * b.nparams);
        chunk_grad(&b, x, n);
        CHECK(memcmp(g1, b.grads, sizeof(float) * b.nparams) == 0);
        chunk_grad(&b2, x, n);
        const int same = memcmp(g1, b2.grads, sizeof(float) * b.nparams) == 0;
        printf("tiny network n=%d: same chunk, second run and second net: %s\n", n,
               same ? "same bits" : "DIFFERENT bits");
        CHECK(same);
    }
    net_describe_impl(&b, impl, sizeof impl);
    printf("after n = %d: %s\n", TINY_N - 3, impl);
    free(x); free(g1);
    net_free(&a);
    net_free(&b);
    net_free(&b2);
}

/* net_build_on's errors come back as messages, and engine descriptions. */
static void test_describe(void)
{
    char d[256];
    engine_describe(ENGINE_ONEDNN, d, sizeof d);
    printf("engine_describe(onednn): %s\n", d);
    CHECK(strncmp(d, "oneDNN 2.", 9) == 0 || strncmp(d, "oneDNN 3.", 9) == 0);
    engine_describe(ENGINE_OPENBLAS, d, sizeof d);
    printf("engine_describe(openblas): %s\n", d);
    CHECK(strncmp(d, "OpenBLAS ", 9) == 0 && strstr(d, " kernel") != NULL);
    CHECK(engine_resolve(ENGINE_AUTO) == ENGINE_ONEDNN);
    CHECK(engine_available(ENGINE_ONEDNN));
}
#endif

int main(void)
{
#ifndef INNA_HAVE_ONEDNN
    printf("built without oneDNN: skipped\n");
    return 77;
#else
    engine_set_threads(ENGINE_ONEDNN, 1);
    test_describe();
    test_layers();
    test_dropout_masks();
    test_maxpool_ties();
    test_avgpool_padding();
    test_network();
    return check_report("test_onednn");
#endif
}
