/* Everything one rank holds for a training run, and the data-parallel step. */
#ifndef INNA_TRAINER_H
#define INNA_TRAINER_H
#include "config.h"
#include "fixedsum.h"
#include "data.h"
#include "net.h"
#include "optim.h"
#include "sampler.h"

/* One thread of a rank: it computes whole chunks with its own activations,
 * gradients and share of the fixed-point sum; the weights are the rank's.
 * Worker 0 works in the rank's own net and sum. */
typedef struct {
    Net own;                /* workers 1..: their network buffers          */
    Net *net;               /* worker 0: &trainer->net; others: &own        */
    float *x;               /* input batch of one chunk [c][chunk][h][w]    */
    int *labels;
    long *ids;              /* evaluation: the chunk's sample indices        */
    fixed128 *acc;          /* exact: this thread's sum (worker 0: trainer->acc) */
    FixedGrid grid;         /* the step's grid, with this thread's counts   */
} Worker;

typedef struct {
    const Config *cfg;
    int rank, size;
    int chunk, nchunks;     /* B_k is nchunks chunks of `chunk` positions (the last may be short) */
    int chunk_first, chunk_last; /* this rank's chunks [chunk_first, chunk_last) */
    int first, last;        /* this rank's positions [first, last) in every B_k */
    Dataset train, test;
    InputTransform tf;      /* training input: standardize, augment          */
    InputTransform tf_eval; /* test input: same standardization, no augmentation */
    Net net;
    Optimizer opt;
    float *opt_state;
    Sampler sampler;
    long *ids;              /* global indices of the rank's positions of B_k  */
    int cores;              /* this rank's share of its node's cores (placement.h) */
    int nworkers;           /* exact: worker threads on whole chunks; fast: 1  */
    int blas_threads;       /* threads per engine call (GEMM, oneDNN primitive):
                               exact 1; fast the rank's                      */
    Worker *workers;
    fixed128 *acc;          /* exact: the step's sum, nparams + NET_METRICS + 2 flags */
    MPI_Request *reqs;      /* one per parametric layer + metrics + flags    */
    double *layer_s;        /* optional (inna-bench): seconds per layer, [2i] forward, [2i+1] backward */
} Trainer;

typedef struct {
    double loss;            /* mean loss over B_k                             */
    double accuracy;        /* fraction of B_k classified right               */
    double compute_s;       /* forward, backward, fixed-point conversion      */
    double comm_s;          /* waiting for the reductions after the backward pass (not hidden) */
    double update_s;
    int nonfinite;          /* exact: a non-finite (or > ~1e36) subgradient: no update made */
} StepStats;

/* Loads data, sets the threads, builds the network on cfg->engine
 * (engine_resolve'd) and the optimizer: cores is the rank's share of the
 * node (placement_cores), what run.threads = auto gives.  Returns 0, or 2
 * with err set (bad input: files, shapes, classes, budget; an engine that
 * cannot create a layer) or 1 (out of memory, or a BLAS that will not run
 * single-threaded). */
int trainer_setup(Trainer *t, const Config *cfg, int rank, int size, int cores, char *err,
                  size_t errlen);
/* The same with t->train and t->test already filled (inna-bench's synthetic
 * data); t's other fields are set here. */
int trainer_init(Trainer *t, const Config *cfg, int rank, int size, int cores, char *err,
                 size_t errlen);
void trainer_free(Trainer *t);
long trainer_total_steps(const Trainer *t);
/* One step k: the rank's chunks forward and backward, one non-blocking
 * allreduce per parametric layer (exact: of 128-bit fixed-point sums), the
 * same update everywhere. */
void train_step(Trainer *t, long k, StepStats *st);
/* Mean loss and accuracy over a data set, split across ranks and reduced. */
void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy);
#endif
