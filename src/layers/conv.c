/* Convolution as GEMM.  Activations are [c][n][h][w], so the columns of all
 * n samples form one matrix and the layer is a single SGEMM:
 *     y[o][(i,p)] = b[o] + sum_{c,ki,kj} W[o][c][ki][kj] * x[c][i][p*stride - pad + (ki,kj)]
 * A 1x1 stride-1 unpadded convolution needs no im2col: x already is the
 * column matrix. */
#include <cblas.h>
#include <string.h>
#include "layers.h"

/* C = op(A) op(B) + beta C, every matrix packed row-major (so the leading
 * dimensions follow from the shape), K cut into blocks of kblock: the layers
 * pass GEMM_K_BLOCK (inna-bench also times whole K).  A longer K is split by
 * OpenBLAS into blocks whose sizes differ between its single- and
 * multi-threaded drivers, and then the partial sums round differently: the
 * bits would depend on the BLAS thread count.  Within one block each C
 * element is one pass over k whatever the threads, so we cut K ourselves
 * (C += A_kb B_kb) and the result is the same for any threads. */
void conv_gemm(const ConvGemm *g, int kblock, const float *A, const float *B, float *C)
{
    const enum CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = g->trans_b ? CblasTrans : CblasNoTrans;
    const int M = g->M, N = g->N, K = g->K;
    const int lda = g->trans_a ? M : K, ldb = g->trans_b ? K : N, ldc = N;
    for (int k0 = 0; k0 < K; k0 += kblock) {
        const int kb = K - k0 < kblock ? K - k0 : kblock;
        const float *a = g->trans_a ? A + (size_t)k0 * lda : A + k0;
        const float *b = g->trans_b ? B + k0 : B + (size_t)k0 * ldb;
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, kb, 1.0f, a, lda, b, ldb, k0 ? 1.0f : g->beta, C, ldc);
    }
}

static int is_pointwise(const Layer *l)
{
    return l->spec.size == 1 && l->spec.stride == 1 && l->spec.pad == 0;
}

size_t layer_col_len(const Layer *l, int n)
{
    if (l->spec.type != L_CONV || is_pointwise(l)) return 0;
    return (size_t)l->in.c * l->spec.size * l->spec.size * (size_t)n * l->out.h * l->out.w;
}

/* With M = out.c, N = n out.h out.w, K = in.c size^2 (col is K x N):
 * forward y = W col, backward-weights dW += dy col^T, backward-data
 * dcol = W^T dy. */
void conv_gemm_shapes(const Layer *l, int n, ConvGemm g[CONV_NGEMMS])
{
    const int M = l->out.c, K = l->in.c * l->spec.size * l->spec.size;
    const int N = n * l->out.h * l->out.w;
    g[CONV_GEMM_FORWARD] = (ConvGemm){ M, N, K, 0, 0, 0.0f };
    g[CONV_GEMM_WEIGHTS] = (ConvGemm){ M, K, N, 0, 1, 1.0f };
    g[CONV_GEMM_DATA] = (ConvGemm){ K, N, M, 1, 0, 0.0f };
}

/* The output columns ox whose input column ix = ox*s - p + kj lies inside
 * [0, W): [*lo, *hi).  Outside them im2col writes zeros and col2im adds
 * nothing, so the inner loops below run without a bounds test. */
static void valid_cols(int OW, int W, int s, int p, int kj, int *lo, int *hi)
{
    int a = p - kj > 0 ? (p - kj + s - 1) / s : 0;    /* first ox with ix >= 0 */
    int b = W - 1 + p - kj >= 0 ? (W - 1 + p - kj) / s + 1 : 0;  /* past the last ix < W */
    *lo = a < OW ? a : OW;
    *hi = b < *lo ? *lo : b < OW ? b : OW;
}

/* col[(c,ki,kj)][(i,oy,ox)] = x[c][i][oy*s - p + ki][ox*s - p + kj], 0 outside. */
static void im2col(const Layer *l, const float *x, int n, float *col)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    const int H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w;
    const size_t rowlen = (size_t)n * OH * OW;
    for (int c = 0; c < l->in.c; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *dst = col + ((size_t)(c * k + ki) * k + kj) * rowlen;
                int lo, hi;
                valid_cols(OW, W, s, p, kj, &lo, &hi);
                for (int i = 0; i < n; i++) {
                    const float *plane = x + ((size_t)c * n + i) * H * W;
                    for (int oy = 0; oy < OH; oy++, dst += OW) {
                        const int iy = oy * s - p + ki;
                        if (iy < 0 || iy >= H) {
                            memset(dst, 0, sizeof(float) * OW);
                            continue;
                        }
                        for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                        for (int ox = hi; ox < OW; ox++) dst[ox] = 0.0f;
                        if (lo == hi) continue;
                        const float *src = plane + (size_t)iy * W + (lo * s - p + kj);
                        if (s == 1)
                            memcpy(dst + lo, src, sizeof(float) * (size_t)(hi - lo));
                        else
                            for (int ox = lo; ox < hi; ox++) dst[ox] = src[(ox - lo) * s];
                    }
                }
            }
}

/* The adjoint of im2col: dx[c][i][iy][ix] += col[(c,ki,kj)][(i,oy,ox)]. */
static void col2im(const Layer *l, const float *col, int n, float *dx)
{
    const int k = l->spec.size, s = l->spec.stride, p = l->spec.pad;
    const int H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w;
    memset(dx, 0, sizeof(float) * (size_t)l->in.c * n * H * W);
    for (int c = 0; c < l->in.c; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *src = col + ((size_t)(c * k + ki) * k + kj) * (size_t)n * OH * OW;
                int lo, hi;
                valid_cols(OW, W, s, p, kj, &lo, &hi);
                for (int i = 0; i < n; i++) {
                    float *plane = dx + ((size_t)c * n + i) * H * W;
                    for (int oy = 0; oy < OH; oy++, src += OW) {
                        const int iy = oy * s - p + ki;
                        if (iy < 0 || iy >= H || lo == hi) continue;
                        float *dst = plane + (size_t)iy * W + (lo * s - p + kj);
                        if (s == 1)   /* contiguous: the loop vectorises */
                            for (int ox = lo; ox < hi; ox++) dst[ox - lo] += src[ox];
                        else
                            for (int ox = lo; ox < hi; ox++) dst[(ox - lo) * s] += src[ox];
                    }
                }
            }
}

/* sum_j x[j] in a fixed order that vectorises: lane r of 8 partial sums
 * takes j = r (mod 8), then the lanes are added pairwise.  (One running sum
 * would be a chain of dependent additions, 4x slower; the order is written
 * out, so the bits do not depend on the compiler or the CPU.) */
static float row_sum(const float *x, int n)
{
    float lane[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int r = 0; r < 8; r++) lane[r] += x[j + r];
    for (int r = 0; j < n; j++, r++) lane[r] += x[j];
    for (int w = 4; w >= 1; w /= 2)
        for (int r = 0; r < w; r++) lane[r] += lane[r + w];
    return lane[0];
}

void conv_forward(Layer *l, const float *x, int n, Workspace *ws)
{
    ConvGemm g[CONV_NGEMMS];
    conv_gemm_shapes(l, n, g);
    const int M = g[CONV_GEMM_FORWARD].M, N = g[CONV_GEMM_FORWARD].N;
    const float *col = x;
    if (!is_pointwise(l)) {
        im2col(l, x, n, ws->col);
        col = ws->col;
    }
    conv_gemm(&g[CONV_GEMM_FORWARD], GEMM_K_BLOCK, l->w, col, l->y);
    for (int o = 0; o < M; o++) {
        float *row = l->y + (size_t)o * N, bias = l->b[o];
        for (int j = 0; j < N; j++) row[j] += bias;
    }
}

/* dW += dy col^T;  db[o] += sum_j dy[o][j];  dcol = W^T dy, dx = col2im(dcol). */
void conv_backward(Layer *l, const float *x, const float *dy, float *dx, int n, Workspace *ws)
{
    ConvGemm g[CONV_NGEMMS];
    conv_gemm_shapes(l, n, g);
    const int M = g[CONV_GEMM_FORWARD].M, N = g[CONV_GEMM_FORWARD].N;
    const float *col = x;
    if (!is_pointwise(l)) {
        im2col(l, x, n, ws->col);  /* recomputed: cheaper than keeping one per layer */
        col = ws->col;
    }
    conv_gemm(&g[CONV_GEMM_WEIGHTS], GEMM_K_BLOCK, dy, col, l->dw);
    for (int o = 0; o < M; o++) l->db[o] += row_sum(dy + (size_t)o * N, N);
    if (!dx) return;
    if (is_pointwise(l)) {
        conv_gemm(&g[CONV_GEMM_DATA], GEMM_K_BLOCK, l->w, dy, dx);
        return;
    }
    conv_gemm(&g[CONV_GEMM_DATA], GEMM_K_BLOCK, l->w, dy, ws->col);
    col2im(l, ws->col, n, dx);
}
