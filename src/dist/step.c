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
#include <string.h>
#include "trainer.h"

static double now(void) { return MPI_Wtime(); }

/* The loss and correct count of a chunk, as they enter the sum. */
enum { SLOT_LOSS, SLOT_CORRECT };

typedef struct {
    Trainer *t;
    FixedGrid grid;     /* exact only                                       */
    int nreq;           /* requests started this step                      */
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

static void start_metrics(Pass *p) { start_reduce(p, p->t->net.nparams + SLOT_LOSS, NET_METRICS); }

static void start_layer(Pass *p, const Layer *l) { start_reduce(p, l->param_off, l->nparams); }

/* Forward of chunk c (positions [p0, p1) of B_k) and its loss. */
static void chunk_forward(Pass *p, long k, int p0, int p1)
{
    Trainer *t = p->t;
    Net *net = &t->net;
    const int n = p1 - p0;
    sampler_batch(&t->sampler, k, p0, p1, t->ids);
    data_make_batch(&t->train, t->ids, n, &t->tf, t->cfg->seed, sampler_epoch(&t->sampler, k),
                    t->x, t->labels);
    const float *in = t->x;
    for (int i = 0; i < net->nlayers; i++) {
        const double t0 = now();
        net_layer_forward(net, i, in, n, 1, t->cfg->seed, k, t->ids);
        if (t->layer_s) t->layer_s[2 * i] += now() - t0;
        in = net->layers[i].y;
    }
    long correct = 0;
    const double loss = softmax_xent(in, t->labels, net->classes, n,
                                     1.0f / (float)t->cfg->batch, net->dlogits, &correct);
    if (exact(t)) {
        t->acc[net->nparams + SLOT_LOSS] += fixed_from_float(&p->grid, (float)loss);
        t->acc[net->nparams + SLOT_CORRECT] += fixed_from_float(&p->grid, (float)correct);
    } else {
        net->metrics[SLOT_LOSS] += (float)loss;
        net->metrics[SLOT_CORRECT] += (float)correct;
    }
}

/* Backward of the chunk just forwarded.  Each parametric layer's gradient
 * joins the step's sum as soon as it exists; on the rank's last chunk that
 * layer's reduction starts at once. */
static void chunk_backward(Pass *p, int n, int last)
{
    Trainer *t = p->t;
    Net *net = &t->net;
    if (exact(t)) memset(net->grads, 0, sizeof(float) * net->nparams);
    const float *dy = net->dlogits;
    for (int i = net->nlayers - 1; i >= 0 && dy; i--) {
        const double t0 = now();
        dy = net_layer_backward(net, i, t->x, dy, n);
        if (t->layer_s) t->layer_s[2 * i + 1] += now() - t0;
        const Layer *l = &net->layers[i];
        if (l->nparams && exact(t))
            fixed_add(&p->grid, t->acc + l->param_off, net->grads + l->param_off, l->nparams);
        if (l->nparams && last) start_layer(p, l);
        progress(p);
    }
}

/* One attempt at the step's sum on the grid of range exponent T (exact). */
static void sum_subgradients(Pass *p, long k, int T)
{
    Trainer *t = p->t;
    Net *net = &t->net;
    const int chunk = t->chunk, batch = t->cfg->batch;
    p->nreq = 0;
    fixed_grid(&p->grid, T, t->nchunks);
    if (exact(t)) memset(t->acc, 0, sizeof(fixed128) * (net->nparams + NET_METRICS + 2));
    else memset(net->grads, 0, sizeof(float) * (net->nparams + NET_METRICS));
    for (int c = t->chunk_first; c < t->chunk_last; c++) {
        const int p0 = c * chunk, p1 = p0 + chunk < batch ? p0 + chunk : batch;
        const int last = c == t->chunk_last - 1;
        chunk_forward(p, k, p0, p1);
        if (last) start_metrics(p);
        chunk_backward(p, p1 - p0, last);
    }
    if (t->chunk_first == t->chunk_last) {   /* no work here: zeros, same collectives */
        start_metrics(p);
        for (int i = net->nlayers - 1; i >= 0; i--)
            if (net->layers[i].nparams) start_layer(p, &net->layers[i]);
    }
    if (exact(t)) {   /* overflow and non-finite counts, last, so they are complete */
        fixed128 *flags = t->acc + net->nparams + NET_METRICS;
        flags[0] = p->grid.overflow;
        flags[1] = p->grid.nonfinite;
        start_reduce(p, net->nparams + NET_METRICS, 2);
    }
}

void train_step(Trainer *t, long k, StepStats *st)
{
    Net *net = &t->net;
    Pass p = { .t = t };
    double compute = 0, wait = 0;
    for (int T = FIXED_T_DEFAULT;; T = fixed_t_max(t->nchunks)) {
        const double t0 = now();
        sum_subgradients(&p, k, T);
        const double t1 = now();
        MPI_Waitall(p.nreq, t->reqs, MPI_STATUSES_IGNORE);
        const double t2 = now();
        compute += t1 - t0;
        wait += t2 - t1;
        /* A gradient too large for this grid: every rank sees the same
         * count, so every rank redoes the step on the widest grid. */
        if (!exact(t) || t->acc[net->nparams + NET_METRICS] == 0 || T >= fixed_t_max(t->nchunks))
            break;
    }
    const double t2 = now();
    st->nonfinite = 0;
    if (exact(t)) {
        st->nonfinite = t->acc[net->nparams + NET_METRICS + 1] != 0;
        fixed_to_float(&p.grid, t->acc, net->grads, net->nparams + NET_METRICS);
    }
    st->loss = net->metrics[SLOT_LOSS] / t->cfg->batch;
    st->accuracy = net->metrics[SLOT_CORRECT] / t->cfg->batch;
    if (st->nonfinite) st->loss = NAN;
    else optim_step(&t->opt, net->params, net->grads, k);
    const double t3 = now();
    st->compute_s = compute;
    st->comm_s = wait;
    st->update_s = t3 - t2;
}

/* Mean loss and accuracy over a data set.  The set is cut into chunks of
 * net->max_n samples dealt out to ranks like B_k's; each chunk's loss goes
 * into an integer sum (2^-32 units), so the figures do not depend on the
 * number of ranks either. */
void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy)
{
    Net *net = &t->net;
    const long chunk = net->max_n, nchunks = (d->n + chunk - 1) / chunk;
    const long c0 = nchunks * t->rank / t->size, c1 = nchunks * (t->rank + 1) / t->size;
    int64_t sums[3] = {0, 0, 0};  /* loss * 2^32, correct, chunks with a non-finite loss */
    for (long c = c0; c < c1; c++) {
        const long i = c * chunk;
        const int n = (int)(d->n - i < chunk ? d->n - i : chunk);
        for (int j = 0; j < n; j++) t->ids[j] = i + j;
        data_make_batch(d, t->ids, n, &t->tf_eval, t->cfg->seed, 0, t->x, t->labels);
        const float *logits = net_forward(net, t->x, n, 0, t->cfg->seed, 0, t->ids);
        long correct = 0;
        const double l = softmax_xent(logits, t->labels, net->classes, n, 0.0f, NULL, &correct);
        if (isfinite(l) && l < 1e6) sums[0] += llrint(ldexp(l, 32));
        else sums[2]++;
        sums[1] += correct;
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    *loss = sums[2] ? NAN : ldexp((double)sums[0], -32) / (double)d->n;
    *accuracy = (double)sums[1] / (double)d->n;
}
