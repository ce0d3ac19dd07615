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
    fixed128 *acc;          /* exact, summed: this thread's sum (worker 0: trainer->acc) */
    FixedGrid grid;         /* the step's grid, with this thread's counts   */
    int chunk_n;            /* samples of the chunk in hand (0: none this round) */
    int chunk_c;            /* its index in B_k                             */
    unsigned chunk_exponent; /* gathered: its largest float exponent field so far */
} Worker;

/* The step's sum, one buffer of sum_len slots: the gradient (nparams), the
 * metrics (NET_METRICS: loss, correct count) and, exact only, flags: summed,
 * the overflow and non-finite counts; gathered, each chunk's largest float
 * exponent field (so no rank scans the others' floats for the grid).
 *
 * Exact has two ways to the same integers (Trainer.gather):
 *   summed: each rank converts its chunks' float gradients to the grid and
 *     adds them (fixed128, 16 bytes a slot); the ranks' sums are allreduced;
 *   gathered (B_k of at most dist.gather chunks): the ranks allgather every
 *     chunk's float gradient (4 bytes a slot a chunk) and each rank converts
 *     and adds all of them itself -- fewer bytes to move, no flags to reduce
 *     (every rank sees every float), and no 16-byte sum kept between the
 *     backward pass and the update. */
enum { STEP_FLAG_OVERFLOW, STEP_FLAG_NONFINITE, STEP_FLAGS };
enum { GATHER_FLAG_EXPONENT, GATHER_FLAGS };

/* What one reduction of the step carries. */
typedef enum { RED_METRICS, RED_GRADIENT, RED_FLAGS, RED_NKINDS } ReductionKind;
extern const char *const reduction_kind_names[RED_NKINDS];

/* One reduction of the step: slots [off, off + count) of the step's sum
 * (gathered: every chunk's copy of them, at trainer_gather_slot).  The list
 * (Trainer.reductions) is built once at set-up in the order every rank
 * starts them: the metrics, each parametric layer's gradient from the last
 * layer to the first, then (exact summed) the flags. */
typedef struct {
    ReductionKind kind;
    int layer;              /* RED_GRADIENT: the layer; else -1             */
    size_t off, count;
} StepReduction;

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
    fixed128 *acc;          /* exact summed: the step's sum (sum_len slots)   */
    size_t sum_len;         /* nparams + NET_METRICS (+ STEP_FLAGS or GATHER_FLAGS) */
    int gather;             /* exact gathered (see StepReduction)             */
    float *gathered;        /* gathered: nchunks copies of the sum's slots     */
    int *gather_counts;     /* gathered: per reduction, each rank's floats      */
    int *gather_displs;     /*   and where they go (nreductions x size each)    */
    StepReduction *reductions;  /* the step's allreduces, in order (see StepReduction) */
    int nreductions;
    MPI_Request *reqs;      /* one per reduction                              */
    long test_perturb_after; /* test hook (inna's INNA_TEST_PERTURB): after this
                                step params[0] += 1e-3 on this rank; 0: never */
    double *layer_s;        /* optional (inna-bench): seconds per layer, [2i] forward, [2i+1] backward */
} Trainer;

typedef struct {
    double loss;            /* mean loss over B_k                             */
    double accuracy;        /* fraction of B_k classified right               */
    double compute_s;       /* forward, backward, fixed-point conversion      */
    double comm_s;          /* waiting for the reductions after the backward pass (not hidden) */
    double update_s;
    int nonfinite;          /* exact: a non-finite (or > ~1e36) subgradient: no update made */
    int stop;               /* a rank was asked to stop: every rank stops after this step */
    int params_differ;      /* the rank-agreement check of this step found differing parameters */
    unsigned long params_crc; /* this rank's parameter CRC-32, when checked  */
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
/* One step k: the rank's chunks forward and backward, the reductions of
 * t->reductions (exact: of 128-bit fixed-point sums), the same update
 * everywhere; then the ranks agree on stopping (stop_asked: this rank got a
 * signal) and, every run.check_every steps, compare their parameters. */
void train_step(Trainer *t, long k, int stop_asked, StepStats *st);
/* Starts reduction r of t->reductions (the step's MPI_Iallreduce or, gathered,
 * MPI_Iallgatherv); inna-bench waits on each at once for its blocking figure. */
void trainer_start_reduction(Trainer *t, int r, MPI_Request *req);
/* The bytes one step's reductions carry (a rank's share before and after),
 * and the bytes of exact sums the rank holds for them. */
size_t trainer_msg_bytes(const Trainer *t);
size_t trainer_sum_bytes(const Trainer *t);
/* Exact the summed way (t->acc allreduced), the other exact way than t->gather. */
static inline int trainer_summed(const Trainer *t) { return t->cfg->reduction == REDUCE_EXACT && !t->gather; }
/* Gathered: chunk c's copy of slots [off, off + count) of one reduction. */
static inline float *trainer_gather_slot(const Trainer *t, size_t off, size_t count, int c)
{
    return t->gathered + (size_t)t->nchunks * off + (size_t)c * count;
}
/* A CRC-32 (zlib) of the rank's parameters: the hash runs are compared by. */
unsigned long trainer_params_crc(const Trainer *t);
/* Whether every rank holds the same parameters (a collective); *crc is this
 * rank's CRC-32 of them. */
int trainer_params_agree(const Trainer *t, unsigned long *crc);
/* Mean loss and accuracy over a data set, split across ranks and reduced. */
void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy);
#endif
