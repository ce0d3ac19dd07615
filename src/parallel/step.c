/* The data-parallel step, the shape of the whole program (train_step, at
 * the bottom of this file, reads top to bottom):
 *   1. B_k is drawn from the seed alone and cut into chunks of dist.chunk
 *      positions; rank r takes a contiguous run of whole chunks;
 *   2. the rank computes each chunk's summed per-sample subgradient (scaled
 *      by 1/|B_k|), one chunk at a time, always with the same shapes;
 *   3. the chunks' subgradients are summed across ranks -- the D-critical sum
 *      v_k -- by the step's reductions (t->reductions, built once by
 *      trainer_init): one non-blocking allreduce per parametric layer, started
 *      as soon as that layer's backward pass on the rank's last chunk is done,
 *      so communication runs while the layers below are computed;
 *   4. every rank applies the same optimizer update to its copy of theta;
 *   5. the ranks agree on stopping (a signal on any of them) and, every
 *      run.check_every steps, compare their parameters.
 *
 * reduction = exact: chunk sums are converted to 128-bit fixed point and the
 * integers are summed (associative), so v_k is the same bits for any number of
 * ranks or BLAS threads; a chunk is the unit of work, so a chunk's float
 * subgradient is itself computed identically wherever it runs.  Either each
 * rank sums its chunks and the sums are allreduced, or (t->gather: B_k of at
 * most dist.gather chunks) the chunks' floats are allgathered and every rank
 * sums all of them, inside the update (trainer.h, StepReduction).
 * reduction = fast: one chunk per rank, float MPI_SUM (order-dependent bits). */
#include <mpi.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include <zlib.h>
#include "trainer.h"

static double now(void) { return MPI_Wtime(); }

static int exact(const Trainer *t) { return t->cfg->reduction == REDUCE_EXACT; }

/* The reductions started so far this step (master thread only). */
typedef struct {
    Trainer *t;
    int nreq;
} Pass;

/* Where the step's allreduces add: exact summed t->acc (fixed128,
 * fixed_mpi_sum), fast net.grads (floats, MPI_SUM). */
typedef struct {
    void *base;
    size_t elem_bytes;
    MPI_Datatype type;
    MPI_Op op;
} StepSum;

static StepSum step_sum(const Trainer *t)
{
    if (exact(t)) return (StepSum){ t->acc, sizeof(fixed128), fixed_mpi_type(), fixed_mpi_sum() };
    return (StepSum){ t->net.grads, sizeof(float), MPI_FLOAT, MPI_SUM };
}

/* Reduction r (t->reductions[r]), in place: MPI_Iallreduce of its slots of
 * the step's sum, or, gathered, MPI_Iallgatherv of every chunk's copy of
 * them (each rank's chunks are contiguous, so its copies are too). */
void trainer_start_reduction(Trainer *t, int r, MPI_Request *req)
{
    const StepReduction *red = &t->reductions[r];
    if (t->gather) {
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, trainer_gather_slot(t, red->off, red->count, 0),
                        t->gather_counts + (size_t)r * t->size, t->gather_displs + (size_t)r * t->size,
                        MPI_FLOAT, MPI_COMM_WORLD, req);
        return;
    }
    const StepSum sum = step_sum(t);
    MPI_Iallreduce(MPI_IN_PLACE, (char *)sum.base + red->off * sum.elem_bytes, (int)red->count,
                   sum.type, sum.op, MPI_COMM_WORLD, req);
}

static void start_reduction(Pass *p, int r) { trainer_start_reduction(p->t, r, &p->t->reqs[p->nreq++]); }

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

/* On the rank's last round of chunks, reduction r starts once every thread
 * has added its part: the threads meet, the master merges and starts it, and
 * the others go on with the next layer meanwhile.  (An orphaned barrier: this
 * runs inside the step's parallel region.) */
static void start_when_merged(Pass *p, int r)
{
    Trainer *t = p->t;
    if (t->nworkers > 1) {
#pragma omp barrier
    }
    if (omp_get_thread_num() == 0) {
        if (trainer_summed(t)) merge_workers(t, t->reductions[r].off, t->reductions[r].count);
        start_reduction(p, r);
    }
}

/* What the step adds to a worker's layer loop (net_forward/net_backward's
 * hooks): inna-bench's per-layer timers (worker 0), and after each backward
 * the layer's gradient into the worker's fixed-point sum and, on the last
 * round, the start of its reduction. */
typedef struct {
    Pass *p;
    Worker *w;
    int first, last;    /* the worker's first / last round of the step     */
    int next;           /* the next reduction to start (walks t->reductions) */
    double mark;        /* when the timed layer began                      */
} ChunkPass;

static void time_layer(ChunkPass *c, int slot)
{
    const double t1 = now();
    if (c->p->t->layer_s && c->w == c->p->t->workers) c->p->t->layer_s[slot] += t1 - c->mark;
    c->mark = t1;
}

static void forward_done(void *ctx, int i) { time_layer(ctx, 2 * i); }

/* Exact: the chunk's gradient of layer l onto the grid and into the worker's
 * sum, or (gathered) as floats into the chunk's slot of the copies. */
static void keep_gradient(ChunkPass *c, const Layer *l)
{
    Trainer *t = c->p->t;
    Worker *w = c->w;
    const float *g = w->net->grads + l->param_off;
    if (t->gather) {
        const unsigned e = fixed_copy_exponent(trainer_gather_slot(t, l->param_off, l->nparams, w->chunk_c), g,
                                               l->nparams);
        if (e > w->chunk_exponent) w->chunk_exponent = e;
    } else
        (c->first ? fixed_set : fixed_add)(&w->grid, w->acc + l->param_off, g, l->nparams);
}

static void backward_done(void *ctx, int i)
{
    ChunkPass *c = ctx;
    Trainer *t = c->p->t;
    Net *net = c->w->net;
    const Layer *l = &net->layers[i];
    time_layer(c, 2 * i + 1);
    if (l->nparams) {
        if (exact(t) && c->w->chunk_n) keep_gradient(c, l);
        if (c->last) start_when_merged(c->p, c->next++);
    }
    if (omp_get_thread_num() == 0) progress(c->p);
    c->mark = now();
}

/* Forward of chunk c on worker w and its loss into the worker's sum. */
static void chunk_forward(ChunkPass *cp, long k, int c)
{
    Trainer *t = cp->p->t;
    Worker *w = cp->w;
    Net *net = w->net;
    const int p0 = c * t->chunk, p1 = p0 + t->chunk < t->cfg->batch ? p0 + t->chunk : t->cfg->batch;
    const int n = p1 - p0;
    const long *ids = t->ids + (p0 - t->first);
    const NetHooks hooks = { forward_done, backward_done, cp };
    data_make_batch(&t->train, ids, n, &t->tf, t->cfg->seed, sampler_epoch(&t->sampler, k),
                    w->x, w->labels);
    cp->mark = now();
    const float *logits = net_forward(net, w->x, n, 1, t->cfg->seed, k, ids, &hooks);
    long correct = 0;
    const double loss = softmax_xent(logits, w->labels, net->classes, n,
                                     1.0f / (float)t->cfg->batch, net->dlogits, &correct);
    w->chunk_n = n;
    w->chunk_c = c;
    if (t->gather) {
        float *m = trainer_gather_slot(t, net->nparams, NET_METRICS, c);
        m[NET_METRIC_LOSS] = (float)loss;
        m[NET_METRIC_CORRECT] = (float)correct;
        w->chunk_exponent = fixed_exponent(m, NET_METRICS);
    } else if (exact(t)) {
        fixed128 *m = w->acc + t->net.nparams;
        if (cp->first) m[NET_METRIC_LOSS] = m[NET_METRIC_CORRECT] = 0;
        m[NET_METRIC_LOSS] += fixed_from_float(&w->grid, (float)loss);
        m[NET_METRIC_CORRECT] += fixed_from_float(&w->grid, (float)correct);
    } else {
        net->metrics[NET_METRIC_LOSS] += (float)loss;
        net->metrics[NET_METRIC_CORRECT] += (float)correct;
    }
}

/* Backward of the chunk just forwarded on the worker (none: chunk_n = 0; on
 * the last round every thread still walks the layers to meet the others).
 * Exact: the gradient of the chunk alone, added to the worker's sum. */
static void chunk_backward(ChunkPass *cp)
{
    Worker *w = cp->w;
    Trainer *t = cp->p->t;
    const NetHooks hooks = { NULL, backward_done, cp };
    if (w->chunk_n && exact(t)) net_zero_grad(w->net);
    cp->mark = now();
    net_backward(w->net, w->x, w->chunk_n, &hooks);
    if (w->chunk_n && t->gather)
        trainer_gather_slot(t, t->net.nparams + NET_METRICS, GATHER_FLAGS, w->chunk_c)[GATHER_FLAG_EXPONENT] =
            (float)w->chunk_exponent;
}

/* The rank's chunks forward and backward, dealt to its threads in rounds:
 * round r gives thread j chunk chunk_first + r * nworkers + j.  Starts every
 * reduction but the flags', in the order of t->reductions. */
static void compute_chunks(Pass *p, long k)
{
    Trainer *t = p->t;
    const int W = t->nworkers, nlocal = t->chunk_last - t->chunk_first;
    const int rounds = (nlocal + W - 1) / W;
#pragma omp parallel num_threads(W) if (W > 1)
    {
        ChunkPass cp = { .p = p, .w = &t->workers[omp_get_thread_num()] };
        for (int r = 0; r < rounds; r++) {
            const int c = t->chunk_first + r * W + omp_get_thread_num();
            cp.first = r == 0;
            cp.last = r == rounds - 1;
            cp.w->chunk_n = 0;
            if (c < t->chunk_last) chunk_forward(&cp, k, c);
            if (cp.last) {
                cp.next = 0;
                start_when_merged(p, cp.next++);   /* the metrics: every forward is done */
            }
            chunk_backward(&cp);
        }
    }
}

/* Every worker's sum to zero (a thread without a chunk contributes zeros)
 * and its grid to range exponent T. */
static void clear_sums(Trainer *t, int T)
{
    const int nlocal = t->chunk_last - t->chunk_first;
    for (int j = 0; j < t->nworkers; j++) {
        fixed_grid(&t->workers[j].grid, T, t->nchunks);
        if (trainer_summed(t) && j >= nlocal) memset(t->workers[j].acc, 0, sizeof(fixed128) * t->sum_len);
    }
    if (!exact(t)) net_zero_grad(&t->net);
}

/* Exact: the workers' overflow and non-finite counts into the flag slots. */
static void count_flags(Trainer *t)
{
    fixed128 *flags = t->acc + t->net.nparams + NET_METRICS;
    flags[STEP_FLAG_OVERFLOW] = flags[STEP_FLAG_NONFINITE] = 0;
    for (int j = 0; j < t->nworkers; j++) {
        flags[STEP_FLAG_OVERFLOW] += t->workers[j].grid.overflow;
        flags[STEP_FLAG_NONFINITE] += t->workers[j].grid.nonfinite;
    }
}

unsigned long trainer_params_crc(const Trainer *t)
{
    return crc32_z(0L, (const Bytef *)t->net.params, t->net.nparams * sizeof(float));
}

int trainer_params_agree(const Trainer *t, unsigned long *crc)
{
    unsigned long lo, hi;
    *crc = trainer_params_crc(t);
    MPI_Allreduce(crc, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(crc, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

/* The exact sum's grid and source for the conversion back to float. */
typedef struct {
    Trainer *t;
    FixedGrid grid;
} ExactFill;

/* v_k's entries [off, off + n) from the exact sum (optim_step_fill's fill):
 * the conversion back to float and the update walk the sum once. */
static void grads_from_sum(void *ctx, float *v, size_t off, size_t n)
{
    ExactFill *f = ctx;
    fixed_to_float(&f->grid, f->t->acc + off, v + off, n);
}

/* The gradient reduction holding slot i. */
static const StepReduction *gradient_at(const Trainer *t, size_t i)
{
    for (int r = 0;; r++)
        if (t->reductions[r].kind == RED_GRADIENT && i - t->reductions[r].off < t->reductions[r].count)
            return &t->reductions[r];
}

/* Gathered, the same: every chunk's floats onto the grid and summed
 * (integers: any order gives the same), back to float, in one pass. */
static void grads_from_chunks(void *ctx, float *v, size_t off, size_t n)
{
    ExactFill *f = ctx;
    Trainer *t = f->t;
    const float *x[t->nchunks];
    while (n) {
        const StepReduction *red = gradient_at(t, off);
        const size_t m = red->off + red->count - off < n ? red->off + red->count - off : n;
        for (int c = 0; c < t->nchunks; c++) x[c] = trainer_gather_slot(t, red->off, red->count, c) + (off - red->off);
        fixed_sum_to_float(&f->grid, x, t->nchunks, v + off, m);
        off += m;
        n -= m;
    }
}

/* Gathered: the grid of the step, as the summed step chooses it (a float too
 * large for the default grid: the widest; there, too large is non-finite),
 * with its counts -- every rank sees the same floats, so the same grid.
 * The chunks' largest exponents say whether all fit the default grid; only
 * if not are the floats scanned for the counts. */
static FixedGrid gathered_grid(const Trainer *t)
{
    FixedGrid g;
    const size_t len = (t->net.nparams + NET_METRICS) * (size_t)t->nchunks;   /* not the flags */
    unsigned e = 0;
    for (int c = 0; c < t->nchunks; c++) {
        const float f = trainer_gather_slot(t, t->net.nparams + NET_METRICS, GATHER_FLAGS, c)[GATHER_FLAG_EXPONENT];
        if ((unsigned)f > e) e = (unsigned)f;
    }
    fixed_grid(&g, FIXED_T_DEFAULT, t->nchunks);
    if (fixed_exponent_fits(&g, e)) return g;
    fixed_scan(&g, t->gathered, len);
    if (g.overflow) {
        fixed_grid(&g, FIXED_T_MAX, t->nchunks);
        fixed_scan(&g, t->gathered, len);
    }
    return g;
}

/* Exact: the step's grid and whether a subgradient was non-finite; the
 * metrics as floats. */
static int exact_metrics(Trainer *t, ExactFill *f)
{
    Net *net = &t->net;
    if (!t->gather) {
        f->grid = t->workers[0].grid;
        fixed_to_float(&f->grid, t->acc + net->nparams, net->metrics, NET_METRICS);
        return t->acc[net->nparams + NET_METRICS + STEP_FLAG_NONFINITE] != 0;
    }
    f->grid = gathered_grid(t);
    const int nonfinite = f->grid.nonfinite != 0;
    const float *x[t->nchunks];
    for (int c = 0; c < t->nchunks; c++) x[c] = trainer_gather_slot(t, net->nparams, NET_METRICS, c);
    fixed_sum_to_float(&f->grid, x, t->nchunks, net->metrics, NET_METRICS);
    return nonfinite;
}

void train_step(Trainer *t, long k, int stop_asked, StepStats *st)
{
    Net *net = &t->net;
    const int nlocal = t->chunk_last - t->chunk_first;
    const double t0 = now();
    double wait = 0;
    /* 1. B_k: the rank's positions of the step's minibatch; theta changed in
     *    the last update, so each worker's engine copies of it. */
    if (nlocal) sampler_batch(&t->sampler, k, t->first, t->last, t->ids);
    for (int j = 0; j < t->nworkers && j < nlocal; j++) net_prepare_weights(t->workers[j].net);
    for (int T = FIXED_T_DEFAULT;; T = FIXED_T_MAX) {
        Pass p = { .t = t };
        clear_sums(t, T);
        /* 2. The chunks forward and backward; 3. the reductions of
         *    t->reductions (MPI_Iallreduce, start_reduction), each started as
         *    soon as its slots are final.  A rank without chunks starts the
         *    same reductions, of zeros, in the same order. */
        const int summed = trainer_summed(t);
        if (nlocal) compute_chunks(&p, k);
        else for (int r = 0; r < t->nreductions - exact(t); r++) start_reduction(&p, r);
        if (exact(t)) {   /* the flags last, so they are complete */
            if (summed) count_flags(t);
            start_reduction(&p, t->nreductions - 1);
        }
        const double t1 = now();
        MPI_Waitall(p.nreq, t->reqs, MPI_STATUSES_IGNORE);
        wait += now() - t1;
        /* A gradient too large for this grid: every rank sees the same
         * count, so every rank redoes the step on the widest grid. */
        if (!summed || t->acc[net->nparams + NET_METRICS + STEP_FLAG_OVERFLOW] == 0 || T >= FIXED_T_MAX)
            break;
    }
    const double t2 = now();
    /* 4. v_k (and the metrics) as floats; the same update on every rank.
     *    Exact: the metrics now, the gradient block by block inside the
     *    update (optim_step_fill), so the sum (or the gathered floats) is
     *    read once. */
    ExactFill fill = { .t = t };
    const OptimFill from = t->gather ? grads_from_chunks : grads_from_sum;
    st->nonfinite = exact(t) && exact_metrics(t, &fill);
    st->loss = net->metrics[NET_METRIC_LOSS] / t->cfg->batch;
    st->accuracy = net->metrics[NET_METRIC_CORRECT] / t->cfg->batch;
    if (st->nonfinite) {
        st->loss = NAN;
        from(&fill, net->grads, 0, net->nparams);
    } else if (exact(t)) {
        optim_step_fill(&t->opt, net->params, net->grads, k, from, &fill);
    } else {
        optim_step(&t->opt, net->params, net->grads, k);
    }
    if (k + 1 == t->test_perturb_after) net->params[0] += 1e-3f;
    const double t3 = now();
    /* 5. A signal on any rank stops every rank after this same step; every
     *    run.check_every steps the ranks compare their parameters. */
    st->stop = stop_asked;
    MPI_Allreduce(MPI_IN_PLACE, &st->stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    const long every = t->cfg->check_every;
    st->params_differ = every > 0 && (k + 1) % every == 0 && !trainer_params_agree(t, &st->params_crc);
    st->compute_s = t2 - t0 - wait;
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
        const float *logits = net_forward(w->net, w->x, n, 0, t->cfg->seed, 0, w->ids, NULL);
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
