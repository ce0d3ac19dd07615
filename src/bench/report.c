/* What a step run prints (rank 0): the figures with one-line labels (inna-bench
 * --help says what they mean), the "BENCH key=value ..." record of each
 * (config, batch, reduction) and the "COMPARE ..." record of exact against
 * fast.  launch/peer.sh, launch/scaling.sh, results/scaling.py and
 * tests/bench.cmake read the records: their keys stay. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "optim.h"

static const char *coretype_env(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    return v && *v ? v : NULL;
}

static void print_config(const Result *r, const Options *o)
{
    const Config *c = &r->cfg;
    printf("\n== %s (%s): input %dx%dx%d, %d classes, %zu parameters, optimizer %s\n", r->name,
           r->path, c->input.c, c->input.h, c->input.w, r->classes, r->nparams,
           optim_name(c->optim.kind));
    printf("   global batch %d over %d rank(s), reduction %s: %d chunk(s) of %d sample(s) "
           "(%s), %d..%d chunk(s) = %d..%d images per rank\n", c->batch, g_size,
           reduction_name(c->reduction), r->nchunks, r->chunk,
           c->reduction == REDUCE_EXACT ? "dist.chunk; 128-bit fixed-point sums"
                                        : "one chunk per rank; float MPI_SUM",
           r->chunks_min, r->chunks_max, r->n_min, r->n_max);
    printf("   engine: %s\n", r->engine);
    printf("   synthetic set of %ld samples, sampling %s%s; %ld warm-up + %ld timed steps\n",
           r->nsamples, sampling_name(c->sampling), c->augment ? ", augmentation on" : "",
           o->warmup, o->steps);
}


static void print_throughput(const Result *r)
{
    const Flops *f = &r->flops;
    const double per_image = (f->fwd + f->dw + f->dx) / 1e9;
    const int batch = r->cfg.batch;
    printf("step %.2f ms (slowest rank): %.1f images/s, %.1f GFLOP/s\n", 1e3 * r->step,
           batch / r->step, per_image * batch / r->step);
    printf("   GEMM FLOPs per image: %.4f G = forward %.4f + dW %.4f + dX %.4f\n", per_image,
           f->fwd / 1e9, f->dw / 1e9, f->dx / 1e9);
}

static void print_row(const char *name, double fwd, double bwd, int has_bwd, double share_of)
{
    char b[32] = "-";
    if (has_bwd) snprintf(b, sizeof b, "%.2f", 1e3 * bwd);
    printf("   %-22s %10.2f %11s %9.2f %6.1f%%\n", name, 1e3 * fwd, b, 1e3 * (fwd + bwd),
           100.0 * (fwd + bwd) / share_of);
}


/* Where a rank's step time goes (mean over ranks). */
static void print_table(const Result *r)
{
    const int exact = r->cfg.reduction == REDUCE_EXACT;
    const double w = r->wall;
    printf("   %-22s %10s %11s %9s %7s\n", "per step", "forward ms", "backward ms", "total ms", "share");
    for (int c = 0; c < L_NTYPES; c++)
        print_row(layer_type_name((LayerType)c), r->t[c][0], r->t[c][1], 1, w);
    print_row("data+loss (replayed)", r->data, 0, 0, w);
    print_row("rest of compute", r->rest, 0, 0, w);
    if (exact && r->convert > 0) print_row("  fixed-point (replay)", r->convert, 0, 0, w);
    print_row("MPI_Waitall (exposed)", r->wait, 0, 0, w);
    print_row("update", r->update, 0, 0, w);
    print_row("other", w - r->compute - r->wait - r->update, 0, 0, w);
    printf("   (mean over ranks of %.2f ms per step%s)\n", 1e3 * w,
           r->workers > 1 ? "; layers and data+loss: worker 0's chunks" : "");
}

/* --layers: each layer's times (mean over ranks, worker 0's chunks) and,
 * for a convolution, its GEMM FLOPs over them: GFLOP/s of one thread. */
static void print_layers(const Result *r)
{
    printf("   %-5s %-8s %-11s %10s %11s %11s %11s\n", "layer", "type", "output", "forward ms",
           "backward ms", "fwd GFLOP/s", "bwd GFLOP/s");
    for (int i = 0; i < r->nlayers; i++) {
        const Flops *f = &r->lflops[i];
        char gf[16] = "-", gb[16] = "-";
        if (f->fwd > 0 && r->lt[i][0] > 0)
            snprintf(gf, sizeof gf, "%.1f", f->fwd * r->timed_images / r->lt[i][0] / 1e9);
        if (f->dw + f->dx > 0 && r->lt[i][1] > 0)
            snprintf(gb, sizeof gb, "%.1f", (f->dw + f->dx) * r->timed_images / r->lt[i][1] / 1e9);
        printf("   %-5d %-8s %-11s %10.2f %11.2f %11s %11s\n", i + 1,
               layer_type_name(r->cfg.layers[i].type), r->lshape[i], 1e3 * r->lt[i][0],
               1e3 * r->lt[i][1], gf, gb);
    }
}

static void print_split(const Result *r, const Options *o)
{
    printf("compute %.2f ms per step (mean over ranks; ranks %.2f..%.2f), update %.2f ms\n",
           1e3 * r->compute, 1e3 * r->compute_min, 1e3 * r->compute_max, 1e3 * r->update);
    if (g_size == 1) {
        printf("communication: one rank, nothing to send (MPI_Waitall %.3f ms; a blocking "
               "reduction of the same %.1f MB: %.3f ms)\n", 1e3 * r->wait, r->msg_bytes / 1e6,
               1e3 * r->blocking);
        return;
    }
    printf("communication: exposed %.2f ms per step (the rank that waited least; mean over "
           "ranks %.2f ms, largest %.2f ms)\n", 1e3 * r->exposed, 1e3 * r->wait,
           1e3 * r->wait_max);
    printf("   the same %.2f MB (%s) in %d blocking calls alone: %.2f ms (median "
           "of %ld; %.2f..%.2f) -> %.0f%% of the communication hidden\n",
           r->msg_bytes / 1e6, r->msg_what,
           r->reduce_calls, 1e3 * r->blocking, o->reps, 1e3 * r->blocking_min, 1e3 * r->blocking_max,
           100.0 * r->hidden);
}

static void print_bench_line(const Result *r, const Options *o)
{
    const Config *c = &r->cfg;
    const Flops *f = &r->flops;
    const double gflop_img = (f->fwd + f->dw + f->dx) / 1e9;
    const double achieved = gflop_img * c->batch / r->step;
    const char *forced = coretype_env();
    char engine[64];   /* the engine's name: the description up to its first space */
    snprintf(engine, sizeof engine, "%.*s", (int)strcspn(r->engine, " "), r->engine);
    printf("BENCH config=%s engine=%s input=%dx%dx%d np=%d threads=%d oversubscribed=%d core=%s coretype=%s "
           "batch=%d chunk=%d chunks=%d chunks_per_rank=%d reduction=%s steps=%ld warmup=%ld "
           "rounds=%ld workers=%d blas_threads=%d nparams=%zu layer_params=%s img_s=%.3f step_s=%.6f compute_s=%.6f "
           "compute_max_s=%.6f "
           "comm_exposed_s=%.6f comm_wait_s=%.6f comm_blocking_s=%.6f msg_bytes=%.0f hidden=%.4f "
           "update_s=%.6f forward_s=%.6f backward_s=%.6f data_s=%.6f convert_s=%.6f rest_s=%.6f "
           "gflop_img=%.5f gflops=%.2f sgemm_gflops=%.2f sgemm_frac=%.3f seq_gflops=%.2f "
           "seq_frac=%.3f wholek_gflops=%.2f",
           r->name, engine, c->input.c, c->input.h, c->input.w, g_size, r->workers * r->blas,
           r->oversub, openblas_get_corename(), forced ? forced : "unset", c->batch, r->chunk,
           r->nchunks, r->chunks_max, reduction_name(c->reduction), o->steps, o->warmup,
           o->rounds, r->workers, r->blas, r->nparams, r->layer_params, c->batch / r->step, r->step, r->compute,
           r->compute_max,
           r->exposed, r->wait, r->blocking, r->msg_bytes, r->hidden, r->update, r->fwd, r->bwd,
           r->data, r->convert, r->rest, gflop_img, achieved, r->ref.big_sum,
           r->ref.big_sum > 0 ? achieved / r->ref.big_sum : 0.0, r->ref.seq_sum,
           r->ref.seq_sum > 0 ? achieved / r->ref.seq_sum : 0.0, r->ref.whole_sum);
    for (int k = 0; k < L_NTYPES; k++)
        printf(" %s_pct=%.2f", layer_type_name((LayerType)k),
               100.0 * (r->t[k][0] + r->t[k][1]) / r->wall);
    printf(" rss_mib=%.1f hwm_mib=%.1f base_mib=%.1f floor_mib=%.1f acc_mib=%.2f data_mib=%.2f "
           "rss_ratio=%.3f hwm_ratio=%.3f net_ratio=%.3f loss=%.4f nonfinite=%ld\n", r->rss, r->hwm,
           r->base, r->floor.total, r->floor.acc, r->floor.data, r->rss / r->floor.total,
           r->hwm / r->floor.total, (r->rss - r->base) / r->floor.total, r->loss, r->nonfinite);
}


void report(const Result *r, const Options *o, const double *round_steps, int nrounds)
{
    const Flops *f = &r->flops;
    const double achieved = (f->fwd + f->dw + f->dx) / 1e9 * r->cfg.batch / r->step;
    print_config(r, o);
    if (nrounds > 1) {
        printf("rounds: step");
        for (int i = 0; i < nrounds; i++) printf(" %.2f", 1e3 * round_steps[i]);
        printf(" ms; reported: the fastest\n");
    }
    print_throughput(r);
    print_sgemm(&r->ref, achieved);
    print_table(r);
    if (o->layers) print_layers(r);
    print_split(r, o);
    print_memory(r);
    if (!isfinite(r->loss) || r->nonfinite)
        printf("warning: the loss is %g after the timed steps (%ld non-finite steps): timings "
               "may be off\n", r->loss, r->nonfinite);
    print_bench_line(r, o);
    fflush(stdout);
}

/* exact against fast for one (config, batch): the ratio of step times and
 * where the difference is. */

/* exact against fast for one (config, batch): the ratio of step times and
 * where the difference is. */
void report_compare(const Result *e, const Result *f, const double *ratios, int nrounds)
{
    const double ratio = e->step / f->step;
    printf("\n-- exact vs fast, %s batch %d on %d rank(s) x %d thread(s)%s: step %.2f vs %.2f ms, "
           "exact/fast = %.3f (%+.1f%%)\n", e->name, e->cfg.batch, g_size, e->workers * e->blas,
           e->oversub || f->oversub ? " (OVERSUBSCRIBED)" : "", 1e3 * e->step, 1e3 * f->step,
           ratio, 100.0 * (ratio - 1.0));
    double sorted[MAX_ROUNDS], median = ratio;
    if (nrounds > 1) {
        printf("   per round:");
        for (int i = 0; i < nrounds; i++) printf(" %.3f", ratios[i]);
        memcpy(sorted, ratios, sizeof(double) * (size_t)nrounds);
        qsort(sorted, (size_t)nrounds, sizeof sorted[0], cmp_double);
        median = nrounds % 2 ? sorted[nrounds / 2]
                             : 0.5 * (sorted[nrounds / 2 - 1] + sorted[nrounds / 2]);
        printf("; median %.3f\n", median);
    }
    printf("   exact: %d chunks of %d samples (%d..%d per rank; %d worker(s) x %d BLAS thread(s)), "
           "%.2f MB (%s); fast: %d..%d samples per rank (%d BLAS thread(s)), %.2f MB of "
           "floats\n", e->nchunks, e->chunk, e->chunks_min, e->chunks_max, e->workers, e->blas,
           e->msg_bytes / 1e6, e->msg_what, f->n_min, f->n_max, f->blas, f->msg_bytes / 1e6);
    printf("   per step, exact - fast: layers %+.2f ms, data+loss %+.2f ms, rest of compute "
           "%+.2f ms (conversion alone %.2f ms), exposed communication %+.2f ms (MPI_Waitall mean "
           "%+.2f ms), update %+.2f ms\n",
           1e3 * ((e->fwd + e->bwd) - (f->fwd + f->bwd)), 1e3 * (e->data - f->data),
           1e3 * (e->rest - f->rest), 1e3 * e->convert, 1e3 * (e->exposed - f->exposed),
           1e3 * (e->wait - f->wait), 1e3 * (e->update - f->update));
    /* What exactness itself costs, without the layers (whose time differs only
     * by chunk shapes and noise): conversion, MPI progress work, to-float. */
    const double extra = (e->data + e->rest + e->exposed + e->update)
                         - (f->data + f->rest + f->exposed + f->update);
    printf("   without the layers: exact costs %+.2f ms per step = %+.1f%% of the fast step\n",
           1e3 * extra, 100.0 * extra / f->step);
    printf("COMPARE config=%s batch=%d np=%d threads=%d oversubscribed=%d exact_step_s=%.6f "
           "fast_step_s=%.6f ratio=%.4f ratio_median=%.4f rounds=%d exact_extra_s=%.6f "
           "exact_extra_frac=%.4f exact_chunk=%d fast_chunk=%d\n", e->name, e->cfg.batch, g_size,
           e->workers * e->blas, e->oversub || f->oversub, e->step, f->step, ratio, median, nrounds,
           extra, extra / f->step, e->chunk, f->chunk);
    fflush(stdout);
}
