/* Convolution as GEMM.  Activations are [c][n][h][w], so the columns of all
 * n samples form one matrix and the layer is a single SGEMM:
 *     y[o][(i,p)] = b[o] + sum_{c,ki,kj} W[o][c][ki][kj] * x[c][i][p*stride - pad + (ki,kj)]
 * A 1x1 stride-1 unpadded convolution needs no im2col: x already is the
 * column matrix. */
#include <cblas.h>
#include <string.h>
#include "layers.h"

/* K (the summed dimension) of every GEMM call stays at or below this.  A
 * longer K is split by OpenBLAS into blocks whose sizes differ between its
 * single- and multi-threaded drivers, and then the partial sums round
 * differently: the bits would depend on the BLAS thread count.  Within one
 * block each C element is one pass over k whatever the threads, so we cut K
 * ourselves (C += A_kb B_kb) and the result is the same for any threads. */

/* C = A B + beta C (row-major, op() by ta/tb), K cut into GEMM_K_BLOCK blocks. */
static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int k0 = 0; k0 < K; k0 += GEMM_K_BLOCK) {
        const int kb = K - k0 < GEMM_K_BLOCK ? K - k0 : GEMM_K_BLOCK;
        const float *a = ta == CblasNoTrans ? A + k0 : A + (size_t)k0 * lda;
        const float *b = tb == CblasNoTrans ? B + (size_t)k0 * ldb : B + k0;
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, kb, 1.0f, a, lda, b, ldb, k0 ? 1.0f : beta, C, ldc);
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
    const int M = l->out.c, K = l->in.c * l->spec.size * l->spec.size;
    const int N = n * l->out.h * l->out.w;
    const float *col = x;
    if (!is_pointwise(l)) {
        im2col(l, x, n, ws->col);
        col = ws->col;
    }
    gemm(CblasNoTrans, CblasNoTrans, M, N, K, l->w, K, col, N, 0.0f, l->y, N);
    for (int o = 0; o < M; o++) {
        float *row = l->y + (size_t)o * N, bias = l->b[o];
        for (int j = 0; j < N; j++) row[j] += bias;
    }
}

/* dW += dy col^T;  db[o] += sum_j dy[o][j];  dcol = W^T dy, dx = col2im(dcol). */
void conv_backward(Layer *l, const float *x, const float *dy, float *dx, int n, Workspace *ws)
{
    const int M = l->out.c, K = l->in.c * l->spec.size * l->spec.size;
    const int N = n * l->out.h * l->out.w;
    const float *col = x;
    if (!is_pointwise(l)) {
        im2col(l, x, n, ws->col);  /* recomputed: cheaper than keeping one per layer */
        col = ws->col;
    }
    gemm(CblasNoTrans, CblasTrans, M, K, N, dy, N, col, N, 1.0f, l->dw, K);
    for (int o = 0; o < M; o++) l->db[o] += row_sum(dy + (size_t)o * N, N);
    if (!dx) return;
    if (is_pointwise(l)) {
        gemm(CblasTrans, CblasNoTrans, K, N, M, l->w, K, dy, N, 0.0f, dx, N);
        return;
    }
    gemm(CblasTrans, CblasNoTrans, K, N, M, l->w, K, dy, N, 0.0f, ws->col, N);
    col2im(l, ws->col, n, dx);
}
