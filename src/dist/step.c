/* The data-parallel step, the shape of the whole program:
 *   1. B_k is drawn from the seed alone and cut into chunks of dist.chunk
 *      positions; rank r takes a contiguous run of whole chunks;
 *   2. the rank computes each chunk's summed per-sample subgradient (scaled
 *      by 1/|B_k|), one chunk at a time, always with the same shapes;
 *   3. the chunks' subgradients are summed across ranks -- the D-critical sum
 *      v_k -- by one non-blocking allreduce per parametric layer, started as
 *      soon as that layer's backward pass on the rank's last chunk is done, so
 *      communication runs while the layers below are computed;
 *   4. every rank applies the same optimizer update to its copy of theta.
 *
 * reduction = exact: chunk sums are converted to 128-bit fixed point and the
 * integers are summed (associative), so v_k is the same bits for any number of
 * ranks or BLAS threads; a chunk is the unit of work, so a chunk's float
 * subgradient is itself computed identically wherever it runs.
 * reduction = fast: one chunk per rank, float MPI_SUM (order-dependent bits). */
#include <mpi.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include "trainer.h"

static double now(void) { return MPI_Wtime(); }

/* The loss and correct count of a chunk, as they enter the sum. */
enum { SLOT_LOSS, SLOT_CORRECT };

typedef struct {
    Trainer *t;
    int nreq;           /* requests started this step (master thread only) */
} Pass;

static int exact(const Trainer *t) { return t->cfg->reduction == REDUCE_EXACT; }

/* Starts the reduction of `count` slots at offset off of the step's sum:
 * fixed128 slots of t->acc (exact) or floats of net->grads (fast). */
static void start_reduce(Pass *p, size_t off, size_t count)
{
    Trainer *t = p->t;
    MPI_Request *r = &t->reqs[p->nreq++];
    if (exact(t))
        MPI_Iallreduce(MPI_IN_PLACE, t->acc + off, (int)count, fixed_mpi_type(), fixed_mpi_sum(),
                       MPI_COMM_WORLD, r);
    else
        MPI_Iallreduce(MPI_IN_PLACE, t->net.grads + off, (int)count, MPI_FLOAT, MPI_SUM,
                       MPI_COMM_WORLD, r);
}

/* Lets the non-blocking reductions advance while we compute: Open MPI moves a
 * collective along only inside MPI calls. */
static void progress(Pass *p)
{
    int done;
    if (p->nreq) MPI_Testall(p->nreq, p->t->reqs, &done, MPI_STATUSES_IGNORE);
}

/* The threads' sums of slots [off, off + count) into worker 0's (= t->acc):
 * integer additions, so the order of threads does not matter. */
static void merge_workers(Trainer *t, size_t off, size_t count)
{
    for (int j = 1; j < t->nworkers; j++) fixed_sum_into(t->acc + off, t->workers[j].acc + off, count);
}

/* On the rank's last round of chunks, each reduction starts once every thread
 * has added its part: the threads meet, the master merges and starts it, and
 * the others go on with the next layer meanwhile.  (An orphaned barrier: this
 * runs inside the step's parallel region.) */
static void start_when_merged(Pass *p, size_t off, size_t count)
{
    Trainer *t = p->t;
    if (t->nworkers > 1) {
#pragma omp barrier
    }
    if (omp_get_thread_num() == 0) {
        if (exact(t)) merge_workers(t, off, count);
        start_reduce(p, off, count);
    }
}

/* Forward of chunk c on worker w and its loss; returns the chunk's size.
 * first: w's first chunk of the step, which sets w's sum instead of adding
 * to it (no clearing pass over the 16-byte-per-parameter sum). */
static int chunk_forward(Pass *p, Worker *w, long k, int c, int first)
{
    Trainer *t = p->t;
    Net *net = w->net;
    const int p0 = c * t->chunk, p1 = p0 + t->chunk < t->cfg->batch ? p0 + t->chunk : t->cfg->batch;
    const int n = p1 - p0;
    const long *ids = t->ids + (p0 - t->first);
    data_make_batch(&t->train, ids, n, &t->tf, t->cfg->seed, sampler_epoch(&t->sampler, k),
                    w->x, w->labels);
    const float *in = w->x;
    for (int i = 0; i < net->nlayers; i++) {
        const double t0 = now();
        net_layer_forward(net, i, in, n, 1, t->cfg->seed, k, ids);
        if (t->layer_s && w == t->workers) t->layer_s[2 * i] += now() - t0;
        in = net->layers[i].y;
    }
    long correct = 0;
    const double loss = softmax_xent(in, w->labels, net->classes, n,
                                     1.0f / (float)t->cfg->batch, net->dlogits, &correct);
    if (exact(t)) {
        fixed128 *m = w->acc + t->net.nparams;
        if (first) m[SLOT_LOSS] = m[SLOT_CORRECT] = 0;
        m[SLOT_LOSS] += fixed_from_float(&w->grid, (float)loss);
        m[SLOT_CORRECT] += fixed_from_float(&w->grid, (float)correct);
    } else {
        net->metrics[SLOT_LOSS] += (float)loss;
        net->metrics[SLOT_CORRECT] += (float)correct;
    }
    return n;
}

/* Backward of the chunk just forwarded on w (n = 0: none, but on the last
 * round every thread walks the layers to meet the others).  Each parametric
 * layer's gradient joins the thread's sum as soon as it exists; on the last
 * round that layer's reduction starts at once. */
static void chunk_backward(Pass *p, Worker *w, int n, int first, int last)
{
    Trainer *t = p->t;
    Net *net = w->net;
    if (n && exact(t)) memset(net->grads, 0, sizeof(float) * net->nparams);
    const float *dy = n ? net->dlogits : NULL;
    for (int i = net->nlayers - 1; i >= 0; i--) {
        const Layer *l = &net->layers[i];
        if (dy) {
            const double t0 = now();
            dy = net_layer_backward(net, i, w->x, dy, n);
            if (t->layer_s && w == t->workers) t->layer_s[2 * i + 1] += now() - t0;
            if (l->nparams && exact(t))
                (first ? fixed_set : fixed_add)(&w->grid, w->acc + l->param_off,
                                                net->grads + l->param_off, l->nparams);
        }
        if (l->nparams && last) start_when_merged(p, l->param_off, l->nparams);
        if (omp_get_thread_num() == 0) progress(p);
    }
}

/* One attempt at the step's sum on the grid of range exponent T (exact).
 * The rank's chunks are dealt to its threads in rounds: round r gives thread
 * j chunk chunk_first + r * nworkers + j. */
static void sum_subgradients(Pass *p, long k, int T)
{
    Trainer *t = p->t;
    Net *net = &t->net;
    const int W = t->nworkers, nlocal = t->chunk_last - t->chunk_first;
    const int rounds = (nlocal + W - 1) / W;
    p->nreq = 0;
    for (int j = 0; j < W; j++) {   /* a thread without a chunk contributes zeros */
        fixed_grid(&t->workers[j].grid, T, t->nchunks);
        if (exact(t) && j >= nlocal)
            memset(t->workers[j].acc, 0, sizeof(fixed128) * (net->nparams + NET_METRICS + 2));
    }
    if (!exact(t)) memset(net->grads, 0, sizeof(float) * (net->nparams + NET_METRICS));
    if (nlocal) sampler_batch(&t->sampler, k, t->first, t->last, t->ids);
    /* theta changed in the last update: each worker's engine copies of it. */
    for (int j = 0; j < W && j < nlocal; j++) net_prepare_weights(t->workers[j].net);
#pragma omp parallel num_threads(W) if (W > 1)
    {
        Worker *w = &t->workers[omp_get_thread_num()];
        for (int r = 0; r < rounds; r++) {
            const int c = t->chunk_first + r * W + omp_get_thread_num();
            const int last = r == rounds - 1;
            const int n = c < t->chunk_last ? chunk_forward(p, w, k, c, r == 0) : 0;
            if (last) start_when_merged(p, net->nparams + SLOT_LOSS, NET_METRICS);
            chunk_backward(p, w, n, r == 0, last);
        }
    }
    if (nlocal == 0) {   /* no work here: zeros, the same collectives in the same order */
        start_reduce(p, net->nparams + SLOT_LOSS, NET_METRICS);
        for (int i = net->nlayers - 1; i >= 0; i--)
            if (net->layers[i].nparams) start_reduce(p, net->layers[i].param_off, net->layers[i].nparams);
    }
    if (exact(t)) {   /* overflow and non-finite counts, last, so they are complete */
        fixed128 *flags = t->acc + net->nparams + NET_METRICS;
        flags[0] = flags[1] = 0;
        for (int j = 0; j < W; j++) {
            flags[0] += t->workers[j].grid.overflow;
            flags[1] += t->workers[j].grid.nonfinite;
        }
        start_reduce(p, net->nparams + NET_METRICS, 2);
    }
}

/* v_k's entries [off, off + n) from the exact sum (optim_step_fill's fill):
 * the conversion back to float and the update walk the sum once. */
static void grads_from_sum(void *ctx, float *v, size_t off, size_t n)
{
    const Trainer *t = ctx;
    fixed_to_float(&t->workers[0].grid, t->acc + off, v + off, n);
}

void train_step(Trainer *t, long k, StepStats *st)
{
    Net *net = &t->net;
    Pass p = { .t = t };
    double compute = 0, wait = 0;
    for (int T = FIXED_T_DEFAULT;; T = FIXED_T_MAX) {
        const double t0 = now();
        sum_subgradients(&p, k, T);
        const double t1 = now();
        MPI_Waitall(p.nreq, t->reqs, MPI_STATUSES_IGNORE);
        const double t2 = now();
        compute += t1 - t0;
        wait += t2 - t1;
        /* A gradient too large for this grid: every rank sees the same
         * count, so every rank redoes the step on the widest grid. */
        if (!exact(t) || t->acc[net->nparams + NET_METRICS] == 0 || T >= FIXED_T_MAX)
            break;
    }
    const double t2 = now();
    const FixedGrid *grid = &t->workers[0].grid;
    st->nonfinite = exact(t) && t->acc[net->nparams + NET_METRICS + 1] != 0;
    if (exact(t))   /* the metrics now; the gradient block by block in the update */
        fixed_to_float(grid, t->acc + net->nparams, net->metrics, NET_METRICS);
    st->loss = net->metrics[SLOT_LOSS] / t->cfg->batch;
    st->accuracy = net->metrics[SLOT_CORRECT] / t->cfg->batch;
    if (st->nonfinite) {
        st->loss = NAN;
        if (exact(t)) fixed_to_float(grid, t->acc, net->grads, net->nparams);
    } else if (exact(t)) {
        optim_step_fill(&t->opt, net->params, net->grads, k, grads_from_sum, t);
    } else {
        optim_step(&t->opt, net->params, net->grads, k);
    }
    const double t3 = now();
    st->compute_s = compute;
    st->comm_s = wait;
    st->update_s = t3 - t2;
}

/* Mean loss and accuracy over a data set.  The set is cut into chunks of
 * net->max_n samples dealt out to ranks like B_k's, and to the rank's
 * threads; each chunk's loss goes into an integer sum (2^-32 units), so the
 * figures do not depend on the number of ranks or threads either. */
void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy)
{
    const long chunk = t->net.max_n, nchunks = (d->n + chunk - 1) / chunk;
    const long c0 = nchunks * t->rank / t->size, c1 = nchunks * (t->rank + 1) / t->size;
    int64_t sums[3] = {0, 0, 0};  /* loss * 2^32, correct, chunks with a non-finite loss */
    int64_t loss_units = 0, correct = 0, bad = 0;
    for (int j = 0; j < t->nworkers; j++) net_prepare_weights(t->workers[j].net);
#pragma omp parallel for num_threads(t->nworkers) schedule(static, 1) if (t->nworkers > 1) \
        reduction(+ : loss_units, correct, bad)
    for (long c = c0; c < c1; c++) {
        Worker *w = &t->workers[omp_get_thread_num()];
        const long i = c * chunk;
        const int n = (int)(d->n - i < chunk ? d->n - i : chunk);
        for (int j = 0; j < n; j++) w->ids[j] = i + j;
        data_make_batch(d, w->ids, n, &t->tf_eval, t->cfg->seed, 0, w->x, w->labels);
        const float *logits = net_forward(w->net, w->x, n, 0, t->cfg->seed, 0, w->ids);
        long right = 0;
        const double l = softmax_xent(logits, w->labels, w->net->classes, n, 0.0f, NULL, &right);
        if (isfinite(l) && l < 1e6) loss_units += llrint(ldexp(l, 32));
        else bad++;
        correct += right;
    }
    sums[0] = loss_units;
    sums[1] = correct;
    sums[2] = bad;
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    *loss = sums[2] ? NAN : ldexp((double)sums[0], -32) / (double)d->n;
    *accuracy = (double)sums[1] / (double)d->n;
}
