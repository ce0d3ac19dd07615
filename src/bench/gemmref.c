/* The FLOP count of the step and the SGEMM reference: the GEMMs of the
 * convolutions, with the shapes conv.c makes (conv_gemm_shapes) on a
 * worker's own buffers, run by all ranks and all their workers at once, so
 * that the step's GFLOP/s reads as a fraction of what the machine does on
 * those shapes in the same run. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "program.h"

#define MAX_GEMMS (CONV_NGEMMS * CONFIG_MAX_LAYERS)
#define GEMM_TARGET_FLOP 2e10   /* per rank and reference: ~0.1-0.4 s here */

static double gemm_flops(const ConvGemm *g) { return 2.0 * g->M * g->N * g->K; }

/* 2 M N K per GEMM of conv_forward / conv_backward, per image; the first
 * layer's backward computes no dX (net_backward passes dx = NULL). */
Flops layer_flops(const Net *net, int i)
{
    Flops f = {0, 0, 0};
    const Layer *l = &net->layers[i];
    if (l->spec.type != L_CONV) return f;
    ConvGemm g[CONV_NGEMMS];
    conv_gemm_shapes(l, 1, g);
    f.fwd = gemm_flops(&g[CONV_GEMM_FORWARD]);
    f.dw = gemm_flops(&g[CONV_GEMM_WEIGHTS]);
    if (i > 0) f.dx = gemm_flops(&g[CONV_GEMM_DATA]);
    return f;
}

Flops count_flops(const Net *net)
{
    Flops f = {0, 0, 0};
    for (int i = 0; i < net->nlayers; i++) {
        const Flops l = layer_flops(net, i);
        f.fwd += l.fwd;
        f.dw += l.dw;
        f.dx += l.dx;
    }
    return f;
}

/* The GEMMs of conv layer i's step for one chunk (net->max_n samples), on
 * the buffers conv.c would use: the input itself is the column matrix when
 * the layer needs no im2col. */
static int layer_gemms(Net *net, const float *x, int i, Gemm *g)
{
    Layer *l = &net->layers[i];
    ConvGemm s[CONV_NGEMMS];
    conv_gemm_shapes(l, net->max_n, s);
    const int direct = layer_col_len(l, net->max_n) == 0;
    const float *col = direct ? (i ? net->layers[i - 1].y : x) : net->ws.col;
    int c = 0;
    g[c++] = (Gemm){ s[CONV_GEMM_FORWARD], l->w, col, l->y };
    g[c++] = (Gemm){ s[CONV_GEMM_WEIGHTS], l->y, col, l->dw };
    if (i > 0) g[c++] = (Gemm){ s[CONV_GEMM_DATA], l->w, l->y, direct ? net->dbuf[0] : net->ws.col };
    return c;
}

/* One GEMM, K cut as conv.c does (kblock) or in one call. */
static void gemm_run(const Gemm *g, int kblock)
{
    conv_gemm(&g->s, kblock ? GEMM_K_BLOCK : g->s.K, g->A, g->B, g->C);
}

/* All ranks and all their workers at once (worker j runs GEMMs [first,
 * first + count) of its list g + j * MAX_GEMMS): one untimed pass, then reps
 * passes; GFLOP/s of this rank. */
static double time_gemms(const Gemm *g, int first, int count, int workers, int kblock)
{
    double flops = 0.0;
    for (int i = first; i < first + count; i++) flops += gemm_flops(&g[i].s);
    int reps = (int)ceil(GEMM_TARGET_FLOP / (flops * workers));
    reps = reps < 2 ? 2 : reps > 1000 ? 1000 : reps;
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
        const Gemm *mine = g + (size_t)omp_get_thread_num() * MAX_GEMMS;
        for (int i = first; i < first + count; i++) gemm_run(&mine[i], kblock);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
        const Gemm *mine = g + (size_t)omp_get_thread_num() * MAX_GEMMS;
        for (int r = 0; r < reps; r++)
            for (int i = first; i < first + count; i++) gemm_run(&mine[i], kblock);
    }
    return workers * reps * flops / (now() - t0) / 1e9;
}

/* The largest conv's forward GEMM alone, and the step's GEMMs back to back
 * (K-blocked as conv.c, then in whole-K calls), on every worker at once. */
int gemm_reference(Trainer *t, GemmRef *r)
{
    const int W = t->nworkers;
    Gemm *g = malloc(sizeof(Gemm) * MAX_GEMMS * (size_t)W);
    int count = 0, big = -1;
    double big_flops = 0.0;
    memset(r, 0, sizeof *r);
    r->big_layer = -1;
    r->per_rank = t->net.max_n;
    if (agree(g ? 0 : 1, "out of memory for the SGEMM reference")) { free(g); return 1; }
    for (int j = 0; j < W; j++) {
        Net *net = t->workers[j].net;
        count = 0;
        for (int i = 0; i < net->nlayers; i++) {
            if (net->layers[i].spec.type != L_CONV) continue;
            int first = count;
            count += layer_gemms(net, t->workers[j].x, i, g + (size_t)j * MAX_GEMMS + count);
            if (j == 0 && gemm_flops(&g[first].s) > big_flops) {
                big_flops = gemm_flops(&g[first].s);
                big = first;
                r->big_layer = i;
            }
        }
    }
    r->ngemms = count;
    if (big >= 0) {
        r->big = g[big];
        double rate = time_gemms(g, big, 1, W, 1);
        r->big_sum = reduce_d(rate, MPI_SUM);
        r->big_min = reduce_d(rate, MPI_MIN);
        rate = time_gemms(g, 0, count, W, 1);
        r->seq_sum = reduce_d(rate, MPI_SUM);
        r->seq_min = reduce_d(rate, MPI_MIN);
        rate = time_gemms(g, 0, count, W, 0);
        r->whole_sum = reduce_d(rate, MPI_SUM);
        r->whole_min = reduce_d(rate, MPI_MIN);
    }
    free(g);
    return 0;
}

/* achieved: the step's GFLOP/s. */
void print_sgemm(const GemmRef *r, double achieved)
{
    if (r->big_layer < 0) {
        printf("SGEMM: %s\n", !r->skipped ? "the network has no convolution"
                                  : "no reference (it times the openblas engine's GEMMs)");
        return;
    }
    const ConvGemm *b = &r->big.s;
    printf("SGEMM on all %d rank(s) at once, one chunk of %d images, K in blocks of %d:\n",
           g_size, r->per_rank, GEMM_K_BLOCK);
    printf("   largest conv forward (layer %d, M=%d N=%d K=%d): %d x %.1f (slowest %.1f) = "
           "%.1f GFLOP/s; step/it %.2f\n", r->big_layer + 1, b->M, b->N, b->K, g_size,
           r->big_sum / g_size, r->big_min, r->big_sum, achieved / r->big_sum);
    printf("   the step's %d GEMMs back to back: %d x %.1f (slowest %.1f) = %.1f GFLOP/s; "
           "step/it %.2f\n", r->ngemms, g_size, r->seq_sum / g_size, r->seq_min, r->seq_sum,
           achieved / r->seq_sum);
    printf("   the same GEMMs with whole K: %.1f GFLOP/s (K-blocked / whole K = %.2f)\n",
           r->whole_sum, r->seq_sum / r->whole_sum);
}
