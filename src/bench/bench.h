/* inna-bench's parts (src/bench/): main.c (options, the header, main),
 * step.c (the timed training step and what is measured after it),
 * report.c (what a step run prints: figures, BENCH and COMPARE records),
 * gemmref.c (FLOP count and SGEMM on the convolutions' own GEMM shapes),
 * floor.c (resident memory against the floor of what a rank must hold),
 * allreduce.c (--allreduce-sweep).  inna-bench --help says what the
 * figures mean. */
#ifndef INNA_BENCH_H
#define INNA_BENCH_H
#include <mpi.h>
#include <time.h>
#include "layers.h"
#include "trainer.h"

#define MAX_LIST 16
#define MAX_SETS 64
#define MAX_ROUNDS 16
#define MIB (1024.0 * 1024.0)

enum { SWEEP_FIXED128, SWEEP_FLOAT, SWEEP_BYTE, SWEEP_NTYPES };
extern const char *const sweep_names[SWEEP_NTYPES];

typedef struct {
    const char *configs[MAX_LIST];
    int nconfigs;
    int batches[MAX_LIST];
    int nbatches;
    int reductions[2];
    int nreductions;
    const char *sets[MAX_SETS];
    int nsets;
    long steps, warmup, rounds, reps;
    long threads;                   /* run.threads for every run; -1: the config's */
    int sweep;                      /* --allreduce-sweep                      */
    int sweep_types[SWEEP_NTYPES];
    int nsweep_types;
    long sweep_max;                 /* bytes                                  */
    int layers;                     /* --layers: the table per layer too      */
} Options;

/* This process's place (main.c): rank, ranks, ranks on its node, the node's
 * online cores, and the rank's share of them (what run.threads = auto gives). */
extern int g_rank, g_size, g_local_ranks, g_cores, g_share;

typedef struct { double fwd, dw, dx; } Flops;   /* GEMM FLOPs per image */

/* One GEMM of a conv layer's step (conv_gemm_shapes) on a worker's buffers. */
typedef struct {
    ConvGemm s;
    const float *A, *B;
    float *C;
} Gemm;

/* SGEMM references, GFLOP/s per rank: sum and minimum over ranks. */
typedef struct {
    Gemm big;               /* the largest forward GEMM                       */
    int big_layer, ngemms, per_rank;
    int skipped;            /* not run: the engine is not openblas            */
    double big_sum, big_min, seq_sum, seq_min, whole_sum, whole_min;
} GemmRef;

/* The floor of a rank's memory, MiB (floor.c). */
typedef struct { double params, grads, state, engine, input, acc, data, total; } Floor;

/* One (config, batch, reduction) run, reduced over ranks (meaningful on rank 0).
 * Times are seconds per step. */
typedef struct {
    Config cfg;
    const char *path;
    char name[128];
    char engine[640];             /* what computes: engine, library, ISA; implementations */
    int classes, nlayers, chunk, nchunks, chunks_min, chunks_max, n_min, n_max;
    int workers, blas, oversub;  /* threads per rank = workers x BLAS threads */
    int reduce_calls;             /* the step's reductions (Trainer.nreductions) */
    size_t nparams;
    long nsamples;
    char layer_params[512]; /* parametric layers' sizes, in the order the step reduces them */
    double step;            /* slowest rank's wall time                       */
    double wall;            /* mean over ranks                                */
    double t[L_NTYPES][2];  /* per layer type, forward / backward, mean over ranks */
    double lt[CONFIG_MAX_LAYERS][2]; /* per layer, the same                   */
    Flops lflops[CONFIG_MAX_LAYERS]; /* per layer, GEMM FLOPs per image       */
    char lshape[CONFIG_MAX_LAYERS][32]; /* per layer, its output c x h x w     */
    double timed_images;    /* images per step on the timed worker (worker 0), mean over ranks */
    double fwd, bwd;        /* all layers                                     */
    double compute, compute_min, compute_max;
    double exposed;         /* mean over steps of the least wait over ranks   */
    double wait;            /* mean over ranks of the wait                    */
    double wait_max;
    double blocking, blocking_min, blocking_max; /* one MPI_Allreduce alone: median, range */
    double hidden;          /* 1 - exposed / blocking, in [0, 1]; NaN on one rank */
    double update;
    double data;            /* replayed: sampler, data_make_batch, softmax_xent */
    double convert;         /* replayed: fixed_add of this rank's chunks (exact) */
    double rest;            /* compute - layers - data                        */
    double msg_bytes;       /* what the step reduces per rank (trainer_msg_bytes) */
    char msg_what[64];      /* what the message is: "P + 4 fixed128", ...      */
    double loss;
    long nonfinite;
    double rss, hwm, base;
    int hwm_ok;
    Floor floor;
    Flops flops;
    GemmRef ref;
} Result;

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline size_t shape_len(Shape s) { return (size_t)s.c * s.h * s.w; }

static inline int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* main.c: v over ranks, to rank 0 (reduce_d) or to all (allreduce_d);
 * collective: on some node, its ranks x `threads` threads exceed its cores. */
double reduce_d(double v, MPI_Op op);
double allreduce_d(double v, MPI_Op op);
int oversubscribed(int threads);

/* step.c: every config file read before anything runs (a bad one stops the
 * bench at once); one (config, batch): every reduction, o->rounds times. */
int check_configs(const Options *o);
int run_config(const char *path, int batch, const Options *o);

/* report.c (rank 0): one run, and exact against fast for one (config, batch). */
void report(const Result *r, const Options *o, const double *round_steps, int nrounds);
void report_compare(const Result *e, const Result *f, const double *ratios, int nrounds);

/* gemmref.c */
Flops count_flops(const Net *net);
/* Layer i's share of it (zero for a layer without GEMMs). */
Flops layer_flops(const Net *net, int i);
int gemm_reference(Trainer *t, GemmRef *r);
void print_sgemm(const GemmRef *r, double achieved);

/* floor.c */
void read_mem(double *rss, double *hwm);
int reset_hwm(void);
Floor memory_floor(const Trainer *t);
void print_memory(const Result *r);

/* allreduce.c; oversub: the sweep's ranks (one thread each) exceed a node's cores. */
int run_sweep(const Options *o, int oversub);
#endif
