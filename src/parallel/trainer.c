/* Setting up one rank's share of a run: data, network, optimizer, buffers.
 * Every rank does the same work, so every rank finds the same input errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "placement.h"
#include "trainer.h"

/* CIFAR-10's binary version is data_batch_1..5.bin and test_batch.bin; some
 * copies pack it as train.bin and test.bin, CIFAR-100's names: either is
 * taken (the five batches when both are there). */
static int cifar_file(char *buf, size_t len, const Config *c, const char *name)
{
    snprintf(buf, len, "%s/%s", c->dir, name);
    return access(buf, F_OK) == 0;
}

static int load_cifar(Dataset *d, const Config *c, int test, char *err, size_t errlen)
{
    char paths[5][CONFIG_PATH_MAX + 32];
    const char *ptrs[5];
    int np = 0;
    const int batches = c->format == DATA_CIFAR10 && cifar_file(paths[0], sizeof paths[0], c, "data_batch_1.bin");
    if (c->format == DATA_CIFAR10 && !batches && !cifar_file(paths[0], sizeof paths[0], c, "train.bin")) {
        snprintf(err, errlen, "data.dir: %s holds neither data_batch_1.bin ... data_batch_5.bin, "
                 "test_batch.bin nor train.bin, test.bin (CIFAR-10's binary version)", c->dir);
        return -1;
    }
    if (!batches)
        cifar_file(paths[np++], sizeof paths[0], c, test ? "test.bin" : "train.bin");
    else if (test)
        cifar_file(paths[np++], sizeof paths[0], c, "test_batch.bin");
    else
        for (; np < 5; np++) snprintf(paths[np], sizeof paths[np], "%s/data_batch_%d.bin", c->dir, np + 1);
    for (int i = 0; i < np; i++) ptrs[i] = paths[i];
    return cifar_load(d, ptrs, np, c->format == DATA_CIFAR100, c->coarse, err, errlen);
}

static int load_set(Dataset *d, const Config *c, int test, char *err, size_t errlen)
{
    int rc = c->format == DATA_IDX
        ? idx_load(d, test ? c->test_images : c->train_images,
                   test ? c->test_labels : c->train_labels, c->classes, err, errlen)
        : load_cifar(d, c, test, err, errlen);
    long limit = test ? c->test_limit : c->train_limit;
    if (rc == 0 && limit > 0 && limit < d->n) d->n = limit;
    return rc;
}

/* The data must have the shape the network takes and the classes it outputs. */
static int check_fit(const Dataset *d, const char *what, const Net *net, char *err, size_t errlen)
{
    if (d->c != net->input.c || d->h != net->input.h || d->w != net->input.w) {
        snprintf(err, errlen, "net.input: the %s images are %dx%dx%d (CxHxW) but the network "
                 "takes %dx%dx%d", what, d->c, d->h, d->w, net->input.c, net->input.h, net->input.w);
        return -1;
    }
    if (d->classes != net->classes) {
        snprintf(err, errlen, "net.layer: the network outputs %d classes but the %s set has %d",
                 net->classes, what, d->classes);
        return -1;
    }
    return 0;
}

/* The step counter keys every random draw and indexes the metrics; a budget
 * beyond 2^40 steps (decades at any speed) is a typo, and epochs times steps
 * per epoch must not wrap around. */
#define MAX_STEPS (1L << 40)

static int check_budget(const Trainer *t, char *err, size_t errlen)
{
    const Config *c = t->cfg;
    const long per_epoch = t->sampler.steps_per_epoch;
    if (c->steps > MAX_STEPS) {
        snprintf(err, errlen, "train.steps: %ld is more than the %ld steps a run may take", c->steps,
                 MAX_STEPS);
        return -1;
    }
    if (c->steps < 0 && per_epoch > 0 && c->epochs > MAX_STEPS / per_epoch) {
        snprintf(err, errlen, "train.epochs: %ld epochs of %ld steps are more than the %ld steps "
                 "a run may take", c->epochs, per_epoch, MAX_STEPS);
        return -1;
    }
    return 0;
}

static void set_transforms(Trainer *t)
{
    const Config *c = t->cfg;
    memset(&t->tf, 0, sizeof t->tf);
    t->tf.standardize = c->standardize;
    /* A constant channel has std 0; data_make_batch then leaves it unscaled. */
    if (c->standardize) dataset_channel_stats(&t->train, t->tf.mean, t->tf.std);
    t->tf_eval = t->tf;
    t->tf.augment = c->augment;
    t->tf.crop_pad = c->crop_pad;
}

static void *alloc_aligned(size_t bytes)
{
    const size_t rounded = (bytes + 63) / 64 * 64;   /* aligned_alloc wants a multiple */
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* Worker j's buffers; worker 0 computes in the rank's own net. */
static int alloc_worker(Trainer *t, int j, char *err, size_t errlen)
{
    const Config *c = t->cfg;
    Worker *w = &t->workers[j];
    const size_t in_len = (size_t)c->input.c * c->input.h * c->input.w;
    w->net = &t->net;
    if (j > 0) {
        if (net_build_on(&w->own, t->net.engine, c->layers, c->nlayers, c->input, t->chunk, err,
                         errlen) != 0)
            return 2;
        net_share_params(&w->own, t->net.params);
        w->net = &w->own;
    }
    w->x = alloc_aligned(in_len * (size_t)t->chunk * sizeof(float));
    w->labels = malloc(sizeof(int) * (size_t)t->chunk);
    w->ids = malloc(sizeof(long) * (size_t)t->chunk);
    const int summed = trainer_summed(t);
    if (summed) w->acc = j == 0 ? t->acc : alloc_aligned(sizeof(fixed128) * t->sum_len);
    if (!w->x || !w->labels || !w->ids || (summed && !w->acc)) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    return 0;
}

/* exact: workers compute whole chunks and every engine call (GEMM, oneDNN
 * primitive) runs on one thread, whatever OPENBLAS_NUM_THREADS or
 * OMP_NUM_THREADS say, so a chunk's bits are the same wherever it runs;
 * run.threads workers (auto: the rank's cores, no more than its chunks).
 * fast: one worker whose engine calls take run.threads threads (auto: the
 * rank's cores); the float sum is order-dependent anyway.  Before any net
 * is built: oneDNN fixes a primitive's threading when it creates it. */
static int set_threads(Trainer *t, EngineKind engine, char *err, size_t errlen)
{
    const Config *c = t->cfg;
    const int exact = c->reduction == REDUCE_EXACT, want = c->threads > 0 ? c->threads : t->cores;
    const int nlocal = t->chunk_last - t->chunk_first, busy = nlocal > 1 ? nlocal : 1;
    t->nworkers = !exact ? 1 : c->threads > 0 ? c->threads : want < busy ? want : busy;
    t->blas_threads = exact ? 1 : want;
    engine_set_threads(engine, t->blas_threads);
    /* OpenBLAS too under oneDNN (nothing of ours calls it then, but what
     * reports its threads reports the truth). */
    const int got = placement_set_blas_threads(t->blas_threads);
    if (engine != ENGINE_OPENBLAS) return 0;
    if (exact && got != 1) {
        snprintf(err, errlen, "OpenBLAS runs %d threads per call after being asked for 1: the exact "
                 "reduction needs single-threaded GEMMs", got);
        return 1;
    }
    t->blas_threads = got;
    return 0;
}

const char *const reduction_kind_names[RED_NKINDS] = {
    [RED_METRICS] = "metrics", [RED_GRADIENT] = "gradient", [RED_FLAGS] = "flags",
};

/* The step's reductions, in the order every rank starts them (see StepReduction):
 * the metrics once the forwards are done, a layer's gradient once its
 * backward is, the flags once everything is.  Returns how many. */
static int list_reductions(const Net *net, int nflags, StepReduction *out)
{
    StepReduction r[net->nlayers + 2];
    int n = 0;
    r[n++] = (StepReduction){ RED_METRICS, -1, net->nparams, NET_METRICS };
    for (int i = net->nlayers - 1; i >= 0; i--)
        if (net->layers[i].nparams)
            r[n++] = (StepReduction){ RED_GRADIENT, i, net->layers[i].param_off, net->layers[i].nparams };
    if (nflags) r[n++] = (StepReduction){ RED_FLAGS, -1, net->nparams + NET_METRICS, (size_t)nflags };
    if (out) memcpy(out, r, sizeof(StepReduction) * (size_t)n);
    return n;
}

/* Gathered: for each reduction, the floats each rank contributes (its
 * chunks' copies of the reduction's slots) and where they land. */
static void gather_layout(Trainer *t)
{
    for (int r = 0; r < t->nreductions; r++)
        for (int q = 0; q < t->size; q++) {
            const int c0 = share_begin(t->nchunks, q, t->size), c1 = share_begin(t->nchunks, q + 1, t->size);
            const size_t count = t->reductions[r].count;
            t->gather_counts[r * t->size + q] = (int)((size_t)(c1 - c0) * count);
            t->gather_displs[r * t->size + q] = (int)((size_t)c0 * count);
        }
}

size_t trainer_msg_bytes(const Trainer *t)
{
    if (t->cfg->reduction != REDUCE_EXACT) return sizeof(float) * t->sum_len;
    if (t->gather) return sizeof(float) * t->sum_len * (size_t)t->nchunks;
    return sizeof(fixed128) * t->sum_len;
}

size_t trainer_sum_bytes(const Trainer *t)
{
    if (t->cfg->reduction != REDUCE_EXACT) return 0;
    if (t->gather) return trainer_msg_bytes(t);
    return sizeof(fixed128) * t->sum_len * (size_t)t->nworkers;
}

static int alloc_run_buffers(Trainer *t, char *err, size_t errlen)
{
    const Net *net = &t->net;
    const Config *c = t->cfg;
    const int summed = trainer_summed(t);
    const int nflags = summed ? STEP_FLAGS : t->gather ? GATHER_FLAGS : 0;
    t->opt_state = calloc((size_t)optim_nstate(&c->optim) * net->nparams + 1, sizeof(float));
    t->ids = malloc(sizeof(long) * (size_t)(t->last - t->first + 1));
    t->sum_len = net->nparams + NET_METRICS + (size_t)nflags;
    t->nreductions = list_reductions(net, nflags, NULL);
    t->reductions = malloc(sizeof(StepReduction) * (size_t)t->nreductions);
    t->reqs = malloc(sizeof(MPI_Request) * (size_t)t->nreductions);
    t->workers = calloc((size_t)t->nworkers, sizeof(Worker));
    if (summed) t->acc = alloc_aligned(sizeof(fixed128) * t->sum_len);
    if (t->gather) {
        const size_t cells = (size_t)t->nreductions * (size_t)t->size;
        t->gathered = alloc_aligned(sizeof(float) * t->sum_len * (size_t)t->nchunks);
        t->gather_counts = malloc(sizeof(int) * cells);
        t->gather_displs = malloc(sizeof(int) * cells);
    }
    if (!t->opt_state || !t->ids || !t->reductions || !t->reqs || !t->workers || (summed && !t->acc) ||
        (t->gather && (!t->gathered || !t->gather_counts || !t->gather_displs))) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    list_reductions(net, nflags, t->reductions);
    if (t->gather) gather_layout(t);
    for (int j = 0; j < t->nworkers; j++) {
        int rc = alloc_worker(t, j, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

int trainer_setup(Trainer *t, const Config *cfg, int rank, int size, int cores, char *err,
                  size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (load_set(&t->train, cfg, 0, err, errlen) != 0) return 2;
    if (load_set(&t->test, cfg, 1, err, errlen) != 0) return 2;
    return trainer_init(t, cfg, rank, size, cores, err, errlen);
}

int trainer_init(Trainer *t, const Config *cfg, int rank, int size, int cores, char *err,
                 size_t errlen)
{
    t->cfg = cfg;
    t->rank = rank;
    t->size = size;
    t->cores = cores;
    /* exact: chunks of dist.chunk, whatever the ranks; fast: one chunk per rank. */
    t->chunk = cfg->reduction == REDUCE_EXACT ? cfg->chunk : (cfg->batch + size - 1) / size;
    t->nchunks = (cfg->batch + t->chunk - 1) / t->chunk;
    t->chunk_first = share_begin(t->nchunks, rank, size);
    t->chunk_last = share_begin(t->nchunks, rank + 1, size);
    t->first = t->chunk_first * t->chunk < cfg->batch ? t->chunk_first * t->chunk : cfg->batch;
    t->last = t->chunk_last * t->chunk < cfg->batch ? t->chunk_last * t->chunk : cfg->batch;
    t->gather = cfg->reduction == REDUCE_EXACT && t->nchunks <= cfg->gather;
    const EngineKind engine = engine_resolve(cfg->engine);
    int rc = set_threads(t, engine, err, errlen);
    if (rc) return rc;
    /* Buffers hold one chunk: the network works on one chunk at a time. */
    if (net_build_on(&t->net, engine, cfg->layers, cfg->nlayers, cfg->input, t->chunk, err, errlen) != 0)
        return 2;
    if (check_fit(&t->train, "training", &t->net, err, errlen) != 0) return 2;
    if (check_fit(&t->test, "test", &t->net, err, errlen) != 0) return 2;
    if (cfg->sampling == SAMPLE_SHUFFLE && t->train.n < cfg->batch) {
        snprintf(err, errlen, "train.batch: %d is larger than the %ld training samples",
                 cfg->batch, t->train.n);
        return 2;
    }
    set_transforms(t);
    if ((rc = alloc_run_buffers(t, err, errlen))) return rc;
    if (sampler_init(&t->sampler, cfg->sampling, cfg->seed, t->train.n, cfg->batch) != 0) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    if (check_budget(t, err, errlen) != 0) return 2;
    net_init_params(&t->net, cfg->seed);
    optim_init(&t->opt, &cfg->optim, t->net.nparams, t->opt_state);
    return 0;
}

void trainer_free(Trainer *t)
{
    dataset_free(&t->train);
    dataset_free(&t->test);
    net_free(&t->net);
    sampler_free(&t->sampler);
    free(t->opt_state);
    for (int j = 0; t->workers && j < t->nworkers; j++) {
        Worker *w = &t->workers[j];
        if (j > 0) {
            net_free(&w->own);
            free(w->acc);
        }
        free(w->x);
        free(w->labels);
        free(w->ids);
    }
    free(t->workers);
    free(t->ids);
    free(t->acc);
    free(t->gathered);
    free(t->gather_counts);
    free(t->gather_displs);
    free(t->reductions);
    free(t->reqs);
}

long trainer_total_steps(const Trainer *t)
{
    return t->cfg->steps >= 0 ? t->cfg->steps : t->cfg->epochs * t->sampler.steps_per_epoch;
}
