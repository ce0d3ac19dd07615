#define _GNU_SOURCE /* malloc_trim */
/* The step benchmark: for one (config, batch, reduction), trainer_init
 * builds the trainer exactly as the training program does (chunks, sampler,
 * input standardization and augmentation, optimizer, run.threads workers) on
 * a synthetic data set: pixels and labels drawn from the counter-based
 * generator keyed by sample index, so every rank holds the same set whatever
 * the number of ranks.  train_step fills the per-layer timers of
 * Trainer.layer_s (worker 0's chunks), so the step can be broken down by
 * layer type.
 *
 * After the timed steps, on the same buffers: a blocking MPI_Allreduce of
 * the data the step reduces (alone, after a barrier), to tell how much of the
 * communication the step hides behind its backward pass; a replay of the
 * data/loss work and of the fixed-point conversion, to split the rest of the
 * compute time; the SGEMM reference (gemmref.c) and the memory floor
 * (floor.c). */
#include <cblas.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "program.h"
#include "rng.h"

#define RNG_BENCH 0x62656e6368ULL /* stream of the synthetic pixels and labels */
#define SYNTH_MAX 4096          /* synthetic training samples at most (more: epochs wrap) */

/* ---- set-up ---------------------------------------------------------------------*/

static int load_config(Config *c, const char *path, int batch, int reduction, const Options *o,
                       char *err, size_t errlen)
{
    config_defaults(c);
    if (config_load_file(c, path, err, errlen) != 0) return -1;
    for (int i = 0; i < o->nsets; i++)
        if (config_set(c, o->sets[i], err, errlen) != 0) return -1;
    c->batch = batch;
    c->reduction = (Reduction)reduction;
    /* A batch smaller than the config's chunk is one chunk (printed with the chunks). */
    if (c->chunk > batch) c->chunk = batch;
    if (o->threads >= 0) c->threads = (int)o->threads;
    if (config_validate(c, err, errlen) != 0) return -1;
    config_resolve_dropout(c);
    return 0;
}

static void config_name(const char *path, char *name, size_t len)
{
    const char *base = strrchr(path, '/');
    snprintf(name, len, "%s", base ? base + 1 : path);
    char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".ini") == 0) *dot = '\0';
}

/* The classes the network outputs (channels of its last layer); the config's
 * data.classes when the layers do not fit (trainer_init then says why). */
static int net_classes(const Config *c)
{
    Shape s = c->input, out;
    size_t np;
    char err[256];
    for (int i = 0; i < c->nlayers; i++) {
        if (layer_shape(&c->layers[i], s, &out, &np, err, sizeof err) != 0) return c->classes;
        s = out;
    }
    return s.c;
}

/* Samples [first, first + n) of the synthetic set: bytes uniform in [0, 255]
 * and labels uniform in [0, classes), keyed by the sample index only. */
static int make_synthetic(Dataset *d, const Config *c, long first, long n)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c->input.c;
    d->h = c->input.h;
    d->w = c->input.w;
    d->classes = net_classes(c);
    const size_t len = shape_len(c->input);
    d->pixels = malloc(len * (size_t)n + 1);
    d->labels = malloc((size_t)n + 1);
    if (!d->pixels || !d->labels) return -1;
    for (long j = 0; j < n; j++) {
        const uint64_t g = (uint64_t)(first + j);
        const uint64_t key = rng_key(c->seed, RNG_BENCH, g, 0);
        uint8_t *px = d->pixels + (size_t)j * len;
        for (size_t p = 0; p < len; p++) px[p] = (uint8_t)(rng_u64(key, p) >> 56);
        d->labels[j] = (uint8_t)rng_below(rng_key(c->seed, RNG_BENCH, g, 1), 0, (uint64_t)d->classes);
    }
    return 0;
}

/* Enough samples for every step to see new ones (at most SYNTH_MAX, and at
 * least one batch, which shuffle sampling needs). */
static long synthetic_size(int batch, const Options *o)
{
    long n = (o->warmup + o->steps) * (long)batch;
    if (n > SYNTH_MAX) n = SYNTH_MAX;
    return n < batch ? batch : n;
}

/* ---- after the timed steps ----------------------------------------------------------*/

/* The step's reductions (t->reductions, in the order the step starts them)
 * each started and waited for at once, with nothing else running, after a
 * barrier, reps times: the slowest rank's time of each round; median, min,
 * max.  msg_bytes: what one step reduces.  (The sums' contents are spent:
 * the timed steps are over.) */
static void blocking_allreduce(Trainer *t, long reps, Result *r)
{
    const int exact = t->cfg->reduction == REDUCE_EXACT;
    r->msg_bytes = (double)trainer_msg_bytes(t);
    if (t->gather) snprintf(r->msg_what, sizeof r->msg_what, "%d chunks x (P + 3) floats, gathered", t->nchunks);
    else snprintf(r->msg_what, sizeof r->msg_what, "%s", exact ? "P + 4 fixed128" : "P + 2 floats");
    r->reduce_calls = t->nreductions;
    double s[1000];
    for (long i = -1; i < reps; i++) {   /* round -1: untimed */
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = now();
        for (int j = 0; j < t->nreductions; j++) {
            MPI_Request req;
            trainer_start_reduction(t, j, &req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
        }
        const double dt = allreduce_d(now() - t0, MPI_MAX);
        if (i >= 0) s[i] = dt;
    }
    qsort(s, (size_t)reps, sizeof s[0], cmp_double);
    r->blocking = reps % 2 ? s[reps / 2] : 0.5 * (s[reps / 2 - 1] + s[reps / 2]);
    r->blocking_min = s[0];
    r->blocking_max = s[reps - 1];
}

/* The work of the step besides the layers on worker 0's timeline (the one
 * Trainer.layer_s times): sampler_batch of the rank's positions, and for each
 * of worker 0's chunks data_make_batch and softmax_xent (on the logits its
 * last layer holds), for the timed steps; seconds per step. */
static double replay_data(Trainer *t, const Options *o)
{
    Worker *w = &t->workers[0];
    Net *net = w->net;
    const float *logits = net->layers[net->nlayers - 1].y;
    const double t0 = now();
    for (long k = o->warmup; k < o->warmup + o->steps; k++) {
        if (t->chunk_last > t->chunk_first) sampler_batch(&t->sampler, k, t->first, t->last, t->ids);
        for (int c = t->chunk_first; c < t->chunk_last; c += t->nworkers) {
            const int p0 = c * t->chunk, p1 = p0 + t->chunk < t->cfg->batch ? p0 + t->chunk : t->cfg->batch;
            long correct = 0;
            data_make_batch(&t->train, t->ids + (p0 - t->first), p1 - p0, &t->tf, t->cfg->seed,
                            sampler_epoch(&t->sampler, k), w->x, w->labels);
            softmax_xent(logits, w->labels, net->classes, p1 - p0, 1.0f / (float)t->cfg->batch,
                         net->dlogits, &correct);
        }
    }
    return (now() - t0) / (double)o->steps;
}

/* exact: the conversion of every parameter's gradient once per chunk of
 * worker 0 (what the step's backward hook does layer by layer: fixed_set on the first
 * chunk, fixed_add on the others; the same work per element), for
 * min(steps, 5) steps; seconds per step.  0 for fast. */
static double replay_convert(Trainer *t, const Options *o)
{
    if (!trainer_summed(t)) return 0.0;   /* gathered: in the update */
    const long steps = o->steps < 5 ? o->steps : 5;
    Worker *w = &t->workers[0];
    FixedGrid g;
    fixed_grid(&g, FIXED_T_DEFAULT, t->nchunks);
    const double t0 = now();
    for (long k = 0; k < steps; k++)
        for (int c = t->chunk_first; c < t->chunk_last; c += t->nworkers)
            (c == t->chunk_first ? fixed_set : fixed_add)(&g, w->acc, w->net->grads, t->net.nparams);
    return (now() - t0) / (double)steps;
}

/* ---- one run -------------------------------------------------------------------------*/

static void describe_chunks(const Trainer *t, Result *r)
{
    int mine[2] = {t->chunk_last - t->chunk_first, t->last - t->first}, lo[2], hi[2];
    MPI_Allreduce(mine, lo, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(mine, hi, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    r->chunk = t->chunk;
    r->nchunks = t->nchunks;
    r->chunks_min = lo[0];
    r->chunks_max = hi[0];
    r->n_min = lo[1];
    r->n_max = hi[1];
    r->nparams = t->net.nparams;
    r->classes = t->net.classes;
    r->nlayers = t->net.nlayers;
    r->nsamples = t->train.n;
    size_t used = 0;
    r->layer_params[0] = '\0';
    for (int j = 0; j < t->nreductions; j++)   /* the order the step starts them */
        if (t->reductions[j].kind == RED_GRADIENT && used + 24 < sizeof r->layer_params)
            used += (size_t)snprintf(r->layer_params + used, sizeof r->layer_params - used, "%s%zu",
                                     used ? "," : "", t->reductions[j].count);
}

/* The timed steps: per-rank sums of the StepStats parts, and each step's wait. */
typedef struct { double wall, compute, wait, update, loss; long nonfinite; double *waits; } Loop;

static void timed_steps(Trainer *t, const Options *o, Loop *L)
{
    StepStats st;
    for (long k = 0; k < o->warmup; k++) train_step(t, k, 0, &st);
    memset(t->layer_s, 0, sizeof(double) * 2 * (size_t)t->net.nlayers);
    L->compute = L->wait = L->update = 0.0;
    L->nonfinite = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
    for (long k = o->warmup; k < o->warmup + o->steps; k++) {
        train_step(t, k, 0, &st);
        L->compute += st.compute_s;
        L->wait += st.comm_s;
        L->update += st.update_s;
        L->nonfinite += st.nonfinite;
        L->waits[k - o->warmup] = st.comm_s;
        L->loss = st.loss;
    }
    L->wall = now() - t0;
}

/* Per step, mean over ranks (to rank 0) of this rank's layer timers, by
 * layer and by type; what each layer is, and the images worker 0 (whose
 * timers these are) computes per step. */
static void layer_types(const Trainer *t, long steps, Result *r)
{
    const int L = t->net.nlayers;
    double mine[L_NTYPES][2], all[L_NTYPES][2], per_layer[2 * CONFIG_MAX_LAYERS];
    memset(mine, 0, sizeof mine);
    for (int i = 0; i < L; i++)
        for (int d = 0; d < 2; d++) mine[t->net.layers[i].spec.type][d] += t->layer_s[2 * i + d];
    MPI_Reduce(mine, all, 2 * L_NTYPES, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(t->layer_s, per_layer, 2 * L, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    double images = 0;
    for (int c = t->chunk_first; c < t->chunk_last; c += t->nworkers) {
        const int p0 = c * t->chunk;
        images += (p0 + t->chunk < t->cfg->batch ? p0 + t->chunk : t->cfg->batch) - p0;
    }
    r->timed_images = reduce_d(images, MPI_SUM) / g_size;
    for (int i = 0; i < L; i++) {
        const Layer *l = &t->net.layers[i];
        for (int d = 0; d < 2; d++) r->lt[i][d] = per_layer[2 * i + d] / ((double)steps * g_size);
        r->lflops[i] = layer_flops(&t->net, i);
        snprintf(r->lshape[i], sizeof r->lshape[i], "%dx%dx%d", l->out.c, l->out.h, l->out.w);
    }
    r->fwd = r->bwd = 0.0;
    for (int c = 0; c < L_NTYPES; c++)
        for (int d = 0; d < 2; d++) {
            r->t[c][d] = all[c][d] / ((double)steps * g_size);
            if (d) r->bwd += r->t[c][d]; else r->fwd += r->t[c][d];
        }
}

static void summarize(const Trainer *t, const Options *o, const Loop *L, double data,
                      double convert, Result *r)
{
    const double steps = (double)o->steps;
    layer_types(t, o->steps, r);
    r->step = reduce_d(L->wall / steps, MPI_MAX);
    r->wall = reduce_d(L->wall / steps, MPI_SUM) / g_size;
    r->compute = reduce_d(L->compute / steps, MPI_SUM) / g_size;
    r->compute_min = reduce_d(L->compute / steps, MPI_MIN);
    r->compute_max = reduce_d(L->compute / steps, MPI_MAX);
    r->wait = reduce_d(L->wait / steps, MPI_SUM) / g_size;
    r->wait_max = reduce_d(L->wait / steps, MPI_MAX);
    r->update = reduce_d(L->update / steps, MPI_SUM) / g_size;
    r->data = reduce_d(data, MPI_SUM) / g_size;
    r->convert = reduce_d(convert, MPI_SUM) / g_size;
    r->rest = r->compute - r->fwd - r->bwd - r->data;
    /* Exposed communication: in each step, the wait of the rank that waited
     * least (the last to finish computing), so waiting for a slower rank
     * does not count as communication. */
    MPI_Allreduce(MPI_IN_PLACE, L->waits, (int)o->steps, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    r->exposed = 0.0;
    for (long k = 0; k < o->steps; k++) r->exposed += L->waits[k];
    r->exposed /= steps;
    if (g_size == 1) r->hidden = NAN;
    else if (r->blocking <= 0.0) r->hidden = 1.0;
    else r->hidden = fmin(1.0, fmax(0.0, 1.0 - r->exposed / r->blocking));
    long nf = 0;
    MPI_Reduce(&L->nonfinite, &nf, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    r->nonfinite = nf;
    r->loss = L->loss;
}

/* "onednn (oneDNN 2.6.3, avx512_core); conv jit:avx512_core, ..." */
static void describe_engine(const Net *net, char *buf, size_t len)
{
    char engine[160], impl[480];
    net_describe_engine(net, engine, sizeof engine);
    net_describe_impl(net, impl, sizeof impl);
    snprintf(buf, len, "%s; %s", engine, impl);
}

static int run_one(const char *path, int batch, int reduction, const Options *o, int with_ref,
                   Result *r)
{
    static Trainer t;
    char err[1024] = "";
    memset(r, 0, sizeof *r);
    r->path = path;
    config_name(path, r->name, sizeof r->name);
    int rc = load_config(&r->cfg, path, batch, reduction, o, err, sizeof err) != 0 ? EXIT_INPUT : 0;
    if ((rc = agree(rc, err))) return rc;
    double base, rss, hwm;
    malloc_trim(0);   /* what the previous run freed */
    read_mem(&base, &hwm);
    int hwm_ok = reset_hwm() == 0, all_ok = 0;
    memset(&t, 0, sizeof t);
    const long n = synthetic_size(batch, o);
    if (make_synthetic(&t.train, &r->cfg, 0, n) != 0 || make_synthetic(&t.test, &r->cfg, n, 1) != 0) {
        snprintf(err, sizeof err, "out of memory for %ld synthetic samples", n);
        rc = 1;
    }
    if (!rc) rc = trainer_init(&t, &r->cfg, g_rank, g_size, g_share, err, sizeof err);
    double *layer_s = NULL;
    Loop L = {0};
    if (!rc && (!(layer_s = calloc(2 * (size_t)t.net.nlayers, sizeof(double)))
                || !(L.waits = calloc((size_t)o->steps, sizeof(double))))) {
        snprintf(err, sizeof err, "out of memory");
        rc = 1;
    }
    if ((rc = agree(rc, err))) {
        trainer_free(&t);
        free(layer_s);
        free(L.waits);
        return rc;
    }
    t.layer_s = layer_s;
    r->workers = t.nworkers;
    describe_engine(&t.net, r->engine, sizeof r->engine);
    r->blas = openblas_get_num_threads();
    r->oversub = oversubscribed(r->workers * r->blas);
    describe_chunks(&t, r);
    timed_steps(&t, o, &L);
    read_mem(&rss, &hwm);
    blocking_allreduce(&t, o->reps, r);
    const double data = replay_data(&t, o), convert = replay_convert(&t, o);
    /* The SGEMM reference times the OpenBLAS engine's GEMMs (its im2col
     * buffers): for another engine there is nothing to compare with. */
    r->ref.big_layer = -1;
    r->ref.skipped = t.net.engine != ENGINE_OPENBLAS;
    if (with_ref && !r->ref.skipped && gemm_reference(&t, &r->ref) != 0) rc = 1;
    summarize(&t, o, &L, data, convert, r);
    r->rss = reduce_d(rss, MPI_MAX);
    r->hwm = reduce_d(hwm, MPI_MAX);
    r->base = reduce_d(base, MPI_MAX);
    MPI_Reduce(&hwm_ok, &all_ok, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    r->hwm_ok = all_ok;
    r->floor = memory_floor(&t);
    r->flops = count_flops(&t.net);
    t.layer_s = NULL;
    trainer_free(&t);
    free(layer_s);
    free(L.waits);
    return rc;
}

/* ---- (config, batch) ------------------------------------------------------------*/

/* One (config, batch): every reduction, o->rounds times, alternating. */
int run_config(const char *path, int batch, const Options *o)
{
    static Result res[MAX_ROUNDS][2];
    int best[2] = {0, 0};
    for (int round = 0; round < o->rounds; round++)
        for (int j = 0; j < o->nreductions; j++) {
            int rc = run_one(path, batch, o->reductions[j], o, round == 0, &res[round][j]);
            if (rc) return rc;
            if (round > 0) res[round][j].ref = res[0][j].ref;
            if (res[round][j].step < res[best[j]][j].step) best[j] = round;
        }
    if (g_rank != 0) return 0;
    double steps[MAX_ROUNDS], ratios[MAX_ROUNDS];
    for (int j = 0; j < o->nreductions; j++) {
        for (int i = 0; i < o->rounds; i++) steps[i] = res[i][j].step;
        report(&res[best[j]][j], o, steps, (int)o->rounds);
    }
    if (o->nreductions == 2) {
        const int e = o->reductions[0] == REDUCE_EXACT ? 0 : 1, f = 1 - e;
        for (int i = 0; i < o->rounds; i++) ratios[i] = res[i][e].step / res[i][f].step;
        report_compare(&res[best[e]][e], &res[best[f]][f], ratios, (int)o->rounds);
    }
    return 0;
}

/* Every config file is read before anything runs: a bad one stops the bench at once. */
int check_configs(const Options *o)
{
    static Config c;
    char err[1024] = "";
    int rc = 0;
    for (int i = 0; i < o->nconfigs && !rc; i++)
        for (int j = 0; j < o->nbatches && !rc; j++)
            rc = load_config(&c, o->configs[i], o->batches[j], o->reductions[0], o, err,
                             sizeof err) != 0 ? EXIT_INPUT : 0;
    return agree(rc, err);
}

