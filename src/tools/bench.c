#define _GNU_SOURCE /* strcasestr, sched_getaffinity, malloc_trim */
/* inna-bench: times the real training step (train_step of src/dist/step.c)
 * of the networks of config files (by default NiN for 1x28x28 and 3x32x32
 * input) at several global batch sizes, with reduction = exact and = fast, on
 * synthetic data sets built in memory: pixels and labels drawn from the
 * counter-based generator keyed by sample index, so every rank holds the same
 * set whatever the number of ranks.  trainer_init builds the trainer exactly
 * as the training program does (chunks, sampler, input standardization and
 * augmentation, optimizer, run.threads workers), and train_step fills the
 * per-layer timers of Trainer.layer_s (worker 0's chunks), so the step can be
 * broken down by layer type.
 *
 * After the timed steps, on the same buffers: a blocking MPI_Allreduce of the
 * data the step reduces (alone, after a barrier), to tell how much of the
 * communication the step hides behind its backward pass; a replay of the
 * data/loss work and of the fixed-point conversion, to split the rest of the
 * compute time; and SGEMM on the network's own GEMM shapes on all ranks at
 * once, so the step's GFLOP/s is read as a fraction of what the machine does
 * on those shapes in the same run.  Rank 0 prints; one "BENCH key=value ..."
 * line per (config, batch, reduction) and one "COMPARE ..." line per
 * (config, batch) are meant for scripts (launch/scaling.sh, results/scaling.py).
 *
 * --allreduce-sweep instead times MPI_Allreduce alone at message sizes of
 * 8 B ... 64 MiB ("ALLREDUCE ..." lines) and the local reduction operation
 * MPI_Reduce_local ("REDUCE_LOCAL ..." lines), for the latency/bandwidth fit.
 *
 * Exit status: 0 done, 2 bad input (usage, config file), 1 anything else. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "blaskernel.h"
#include "config.h"
#include "fixedsum.h"
#include "net.h"
#include "optim.h"
#include "rng.h"
#include "sampler.h"
#include "placement.h"
#include "trainer.h"

#define EXIT_INPUT 2
#define MAX_LIST 16
#define MAX_SETS 64
#define MAX_ROUNDS 16
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define MAX_GEMMS (3 * CONFIG_MAX_LAYERS)
#define GEMM_TARGET_FLOP 2e10   /* per rank and reference: ~0.1-0.4 s here */
#define RNG_BENCH 0x62656e6368ULL /* stream of the synthetic pixels and labels */
#define SYNTH_MAX 4096          /* synthetic training samples at most (more: epochs wrap) */
#define MIB (1024.0 * 1024.0)
#define SWEEP_TARGET_S 0.05     /* per timed trial of one message size */

static int g_rank, g_size;

enum { SWEEP_FIXED128, SWEEP_FLOAT, SWEEP_BYTE, SWEEP_NTYPES };
static const char *const sweep_names[] = {"fixed128", "float", "byte"};
static const char *const reduction_names[] = {"exact", "fast"};

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
} Options;

typedef struct { double fwd, dw, dx; } Flops;   /* GEMM FLOPs per image */

typedef struct {
    enum CBLAS_TRANSPOSE ta, tb;
    int M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C;
    float beta;
} Gemm;

/* SGEMM references, GFLOP/s per rank: sum and minimum over ranks. */
typedef struct {
    Gemm big;               /* the largest forward GEMM                       */
    int big_layer, ngemms, per_rank;
    int skipped;            /* not run: the engine is not openblas            */
    double big_sum, big_min, seq_sum, seq_min, whole_sum, whole_min;
} GemmRef;

/* The floor of a rank's memory, MiB. */
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
    size_t nparams;
    long nsamples;
    char layer_params[512]; /* parametric layers' sizes, in the order the step reduces them */
    double step;            /* slowest rank's wall time                       */
    double wall;            /* mean over ranks                                */
    double t[L_NTYPES][2];  /* per layer type, forward / backward, mean over ranks */
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
    double msg_bytes;
    double loss;
    long nonfinite;
    double rss, hwm, base;
    int hwm_ok;
    Floor floor;
    Flops flops;
    GemmRef ref;
} Result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t shape_len(Shape s) { return (size_t)s.c * s.h * s.w; }

/* ---- options ---------------------------------------------------------------------*/

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mpirun -np N inna-bench [options]\n"
        "       inna-bench [options]                 (one rank)\n"
        "       mpirun -np N inna-bench --allreduce-sweep [--sweep-type LIST] [--sweep-max BYTES]\n\n"
        "Times the training step (train_step, as the trainer runs it) of each config's\n"
        "network at each global batch size and reduction on a synthetic data set:\n"
        "B_k cut into chunks of dist.chunk samples (exact; fast: one chunk per rank),\n"
        "forward (dropout on), softmax cross-entropy, backward, one non-blocking\n"
        "allreduce per parametric layer, the optimizer update.  Prints images/s,\n"
        "GFLOP/s, the share of each layer type, compute vs exposed communication vs a\n"
        "blocking MPI_Allreduce of the same data (the share of communication hidden),\n"
        "the fixed-point conversion, the SGEMM GFLOP/s of the network's GEMM shapes\n"
        "measured on all ranks at once, resident memory against its floor, the ratio\n"
        "of exact to fast step time, and one 'BENCH key=value ...' line per run.\n"
        "Threads per rank: run.threads (--threads), as in training.\n\n"
        "options:\n"
        "  -c, --config FILE     network and optimizer of FILE (repeatable; default\n"
        "                        configs/nin-fashion-mnist.ini and configs/nin-cifar10.ini)\n"
        "  -b, --batch LIST      global batch sizes, comma-separated (repeatable; default 32,128)\n"
        "  -r, --reduction LIST  exact, fast or exact,fast (default exact,fast); overrides\n"
        "                        dist.reduction\n"
        "      --set KEY=VALUE   config override, e.g. --set dist.chunk=16 (repeatable)\n"
        "  -t, --threads T       run.threads for every run: threads per rank, as the\n"
        "                        trainer uses them (exact: T OpenMP workers on whole\n"
        "                        chunks, one BLAS thread each; fast: T BLAS threads);\n"
        "                        0 = auto, the rank's share of the node's cores\n"
        "                        (default: the config's run.threads)\n"
        "  -s, --steps N         timed steps per run (default 10)\n"
        "  -w, --warmup N        untimed steps before them (default 2)\n"
        "      --rounds N        run every (config, batch) N times, the reductions\n"
        "                        alternating, and report each reduction's fastest round\n"
        "                        (default 1; more makes the exact/fast ratio robust to load)\n"
        "      --reps N          repetitions of the blocking MPI_Allreduce (default 5)\n"
        "      --allreduce-sweep only time MPI_Allreduce alone at 8 B .. --sweep-max\n"
        "                        (powers of 2): 'ALLREDUCE np= type= bytes= s=' lines, and\n"
        "                        the local operation: 'REDUCE_LOCAL type= bytes= s=' lines\n"
        "      --sweep-type LIST fixed128 (the exact reduction's 16-byte integers and\n"
        "                        user-defined sum), float (MPI_SUM), byte (uint8 MPI_SUM);\n"
        "                        comma-separated (default fixed128)\n"
        "      --sweep-max BYTES largest message (default 67108864 = 64 MiB)\n"
        "  -h, --help            this help\n\n"
        "exit status: 0 done, 2 bad input, 1 other failure\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* A numeric option: parse_long, or err "OPT: 'ARG' is not WHAT". */
static int long_option(const char *opt, const char *arg, long lo, long hi, const char *what,
                       long *out, char *err, size_t errlen)
{
    if (parse_long(arg, lo, hi, out) == 0) return 0;
    snprintf(err, errlen, "%s: '%s' is not %s", opt, arg, what);
    return -1;
}

static int add_batches(Options *o, const char *list, char *err, size_t errlen)
{
    char buf[256], *save = NULL;
    int before = o->nbatches;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (parse_long(tok, 1, 1L << 20, &v) != 0) {
            snprintf(err, errlen, "--batch: '%s' is not a batch size (an integer >= 1)", tok);
            return -1;
        }
        if (o->nbatches == MAX_LIST) {
            snprintf(err, errlen, "--batch: at most %d batch sizes", MAX_LIST);
            return -1;
        }
        o->batches[o->nbatches++] = (int)v;
    }
    if (o->nbatches == before) {
        snprintf(err, errlen, "--batch: no batch size in '%s'", list);
        return -1;
    }
    return 0;
}

/* A comma-separated list of distinct words of names[0..n) into out; count in *nout. */
static int parse_words(const char *opt, const char *list, const char *const *names, int n,
                       int *out, int *nout, char *err, size_t errlen)
{
    char buf[256], *save = NULL;
    *nout = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < n && strcmp(tok, names[k]) != 0) k++;
        if (k == n) {
            snprintf(err, errlen, "%s: '%s' is not one of %s%s%s%s%s", opt, tok, names[0],
                     n > 1 ? ", " : "", n > 1 ? names[1] : "", n > 2 ? ", " : "", n > 2 ? names[2] : "");
            return -1;
        }
        for (int j = 0; j < *nout; j++)
            if (out[j] == k) { snprintf(err, errlen, "%s: '%s' given twice", opt, tok); return -1; }
        out[(*nout)++] = k;
    }
    if (*nout == 0) { snprintf(err, errlen, "%s: nothing in '%s'", opt, list); return -1; }
    return 0;
}

/* configs/FILE from the working directory, else next to the build folder. */
static const char *default_config(const char *file, char *buf, size_t len)
{
    char exe[4096];
    snprintf(buf, len, "configs/%s", file);
    if (access(buf, R_OK) == 0) return buf;
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = k > 0 ? (exe[k] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        snprintf(buf, len, "%s/../configs/%s", exe, file);
        if (access(buf, R_OK) == 0) return buf;
    }
    snprintf(buf, len, "configs/%s", file);   /* config_load_file names it */
    return buf;
}

static void set_defaults(Options *o)
{
    static char paths[2][4096];
    if (o->nconfigs == 0) {
        o->configs[o->nconfigs++] = default_config("nin-fashion-mnist.ini", paths[0], sizeof paths[0]);
        o->configs[o->nconfigs++] = default_config("nin-cifar10.ini", paths[1], sizeof paths[1]);
    }
    if (o->nbatches == 0) {
        o->batches[o->nbatches++] = 32;
        o->batches[o->nbatches++] = 128;
    }
    if (o->nreductions == 0) {
        o->reductions[o->nreductions++] = REDUCE_EXACT;
        o->reductions[o->nreductions++] = REDUCE_FAST;
    }
    if (o->nsweep_types == 0) o->sweep_types[o->nsweep_types++] = SWEEP_FIXED128;
}

enum { OPT_SET = 1000, OPT_ROUNDS, OPT_REPS, OPT_SWEEP, OPT_SWEEP_TYPE, OPT_SWEEP_MAX };

static int parse_one(Options *o, int opt, const char *arg, char *err, size_t errlen)
{
    switch (opt) {
    case 'c':
        if (o->nconfigs == MAX_LIST) { snprintf(err, errlen, "--config: at most %d files", MAX_LIST); return -1; }
        o->configs[o->nconfigs++] = arg;
        return 0;
    case 'b':
        return add_batches(o, arg, err, errlen);
    case 'r':
        return parse_words("--reduction", arg, reduction_names, 2, o->reductions, &o->nreductions,
                           err, errlen);
    case OPT_SET:
        if (o->nsets == MAX_SETS) { snprintf(err, errlen, "--set: at most %d", MAX_SETS); return -1; }
        o->sets[o->nsets++] = arg;
        return 0;
    case 's':
        return long_option("--steps", arg, 1, 1000000, "a step count (an integer >= 1)",
                           &o->steps, err, errlen);
    case 'w':
        return long_option("--warmup", arg, 0, 1000000, "a step count (an integer >= 0)",
                           &o->warmup, err, errlen);
    case OPT_ROUNDS:
        return long_option("--rounds", arg, 1, MAX_ROUNDS, "a count from 1 to " STRINGIFY(MAX_ROUNDS),
                           &o->rounds, err, errlen);
    case OPT_REPS:
        return long_option("--reps", arg, 1, 1000, "a count from 1 to 1000", &o->reps, err, errlen);
    case 't':
        return long_option("--threads", arg, 0, 1024, "a thread count from 0 to 1024", &o->threads,
                           err, errlen);
    case OPT_SWEEP:
        o->sweep = 1;
        return 0;
    case OPT_SWEEP_TYPE:
        return parse_words("--sweep-type", arg, sweep_names, SWEEP_NTYPES, o->sweep_types,
                           &o->nsweep_types, err, errlen);
    case OPT_SWEEP_MAX:
        return long_option("--sweep-max", arg, 16, 1L << 30, "a byte count from 16 to 2^30",
                           &o->sweep_max, err, errlen);
    default:
        snprintf(err, errlen, "unknown option");
        return -1;
    }
}

/* 0 run, 1 help, -1 usage error with err set. */
static int parse_options(Options *o, int argc, char **argv, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"batch", required_argument, 0, 'b'},
        {"reduction", required_argument, 0, 'r'}, {"set", required_argument, 0, OPT_SET},
        {"steps", required_argument, 0, 's'}, {"warmup", required_argument, 0, 'w'},
        {"threads", required_argument, 0, 't'}, {"rounds", required_argument, 0, OPT_ROUNDS}, {"reps", required_argument, 0, OPT_REPS},
        {"allreduce-sweep", no_argument, 0, OPT_SWEEP},
        {"sweep-type", required_argument, 0, OPT_SWEEP_TYPE},
        {"sweep-max", required_argument, 0, OPT_SWEEP_MAX},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->steps = 10;
    o->warmup = 2;
    o->rounds = 1;
    o->reps = 5;
    o->threads = -1;
    o->sweep_max = 64L << 20;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":c:b:r:t:s:w:h", opts, NULL)) != -1) {
        if (opt == 'h') return 1;
        if (opt == ':' || opt == '?') {
            snprintf(err, errlen, "%s: %s (see inna-bench --help)", argv[optind - 1],
                     opt == ':' ? "needs a value" : "unknown option");
            return -1;
        }
        if (parse_one(o, opt, optarg, err, errlen) != 0) return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see inna-bench --help)", argv[optind]);
        return -1;
    }
    set_defaults(o);
    return 0;
}

/* ---- MPI helpers --------------------------------------------------------------------*/

/* The worst status over ranks; the lowest failing rank prints its message. */
static int agree(int rc, const char *msg)
{
    int worst = 0, first_bad = g_size, mine = rc ? g_rank : g_size;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc && g_rank == first_bad) {
        if (g_rank == 0) fprintf(stderr, "inna-bench: %s\n", msg);
        else fprintf(stderr, "inna-bench: rank %d: %s\n", g_rank, msg);
    }
    return worst;
}

static double reduce_d(double v, MPI_Op op)
{
    double r = 0.0;
    MPI_Reduce(&v, &r, 1, MPI_DOUBLE, op, 0, MPI_COMM_WORLD);
    return r;
}

static double allreduce_d(double v, MPI_Op op)
{
    double r = 0.0;
    MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, op, MPI_COMM_WORLD);
    return r;
}

static int g_local_ranks, g_cores;  /* ranks on this node, its online cores */
static int g_share;                 /* this rank's share of the cores (auto)   */

static void count_node(void)
{
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &g_local_ranks);
    MPI_Comm_free(&node);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    g_cores = online > 0 ? (int)online : 1;
}

/* Collective: on some node, its ranks x `threads` threads each exceed its cores. */
static int oversubscribed(int threads)
{
    int mine = g_local_ranks * threads > g_cores, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- memory ---------------------------------------------------------------------*/

/* VmRSS and VmHWM of this process, MiB. */
static void read_mem(double *rss, double *hwm)
{
    char line[256];
    long kb;
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *hwm = 0.0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) *rss = kb / 1024.0;
        if (sscanf(line, "VmHWM: %ld", &kb) == 1) *hwm = kb / 1024.0;
    }
    fclose(f);
}

/* Restarts VmHWM from the current RSS (Linux >= 4.0); 0 when it worked. */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Parameters and optimizer state; per worker (thread of the rank): gradients
 * (+ metric slots), what the engine holds for one chunk (Net.engine_bytes),
 * the chunk's input and the exact reduction's accumulator (16 bytes x (P + 4):
 * the step's sum, 2 metric and 2 flag slots); and the synthetic data sets
 * (bytes, labels, shuffle permutation). */
static Floor memory_floor(const Trainer *t)
{
    const Net *net = &t->net;
    const double W = t->nworkers;   /* every worker has its own buffers and sum */
    Floor f;
    f.params = 4.0 * net->nparams / MIB;
    f.grads = W * 4.0 * (net->nparams + NET_METRICS) / MIB;
    f.state = 4.0 * optim_nstate(&t->cfg->optim) * net->nparams / MIB;
    f.engine = W * (double)net->engine_bytes / MIB;
    f.input = W * 4.0 * shape_len(net->input) * net->max_n / MIB;
    f.acc = t->cfg->reduction == REDUCE_EXACT ? W * 16.0 * (net->nparams + NET_METRICS + 2) / MIB : 0.0;
    const double sample = (double)t->train.c * t->train.h * t->train.w + 1.0;
    f.data = (sample * (double)(t->train.n + t->test.n)
              + (t->cfg->sampling == SAMPLE_SHUFFLE ? 8.0 * t->train.n : 0.0)) / MIB;
    f.total = f.params + f.grads + f.state + f.engine + f.input + f.acc + f.data;
    return f;
}

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

/* ---- FLOPs and the SGEMM references -----------------------------------------------*/

/* 2 M N K per GEMM of conv_forward / conv_backward, per image; the first
 * layer's backward computes no dX (net_backward passes dx = NULL). */
static Flops count_flops(const Net *net)
{
    Flops f = {0, 0, 0};
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        if (l->spec.type != L_CONV) continue;
        const double M = l->out.c, N = (double)l->out.h * l->out.w;
        const double K = (double)l->in.c * l->spec.size * l->spec.size;
        f.fwd += 2.0 * M * N * K;
        f.dw += 2.0 * M * N * K;
        if (i > 0) f.dx += 2.0 * M * N * K;
    }
    return f;
}

static int is_pointwise(const Layer *l)
{
    return l->spec.size == 1 && l->spec.stride == 1 && l->spec.pad == 0;
}

static Gemm make_gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                      const float *A, const float *B, float *C, float beta)
{
    Gemm g = {ta, tb, M, N, K, ta == CblasNoTrans ? K : M, tb == CblasNoTrans ? N : K, N,
              A, B, C, beta};
    return g;
}

/* The GEMMs of one conv layer's step, as conv.c calls them, for one chunk
 * (net->max_n samples), on a worker's own buffers (no memory beyond them). */
static int layer_gemms(Net *net, const float *x, int i, Gemm *g)
{
    Layer *l = &net->layers[i];
    const int M = l->out.c, K = l->in.c * l->spec.size * l->spec.size;
    const int N = net->max_n * l->out.h * l->out.w;
    const int pw = is_pointwise(l);
    const float *col = pw ? (i ? net->layers[i - 1].y : x) : net->ws.col;
    int c = 0;
    g[c++] = make_gemm(CblasNoTrans, CblasNoTrans, M, N, K, l->w, col, l->y, 0.0f);
    g[c++] = make_gemm(CblasNoTrans, CblasTrans, M, K, N, l->y, col, l->dw, 1.0f);
    if (i > 0)
        g[c++] = make_gemm(CblasTrans, CblasNoTrans, K, N, M, l->w, l->y,
                           pw ? net->dbuf[0] : net->ws.col, 0.0f);
    return c;
}

static double gemm_flops(const Gemm *g) { return 2.0 * g->M * g->N * g->K; }

/* One GEMM, its K cut into blocks of GEMM_K_BLOCK as conv.c does (kblock),
 * or in one call. */
static void gemm_run(const Gemm *g, int kblock)
{
    const int kb_max = kblock ? GEMM_K_BLOCK : g->K;
    for (int k0 = 0; k0 < g->K; k0 += kb_max) {
        const int kb = g->K - k0 < kb_max ? g->K - k0 : kb_max;
        const float *a = g->ta == CblasNoTrans ? g->A + k0 : g->A + (size_t)k0 * g->lda;
        const float *b = g->tb == CblasNoTrans ? g->B + (size_t)k0 * g->ldb : g->B + k0;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->M, g->N, kb, 1.0f, a, g->lda, b, g->ldb,
                    k0 ? 1.0f : g->beta, g->C, g->ldc);
    }
}

/* All ranks and all their workers at once (worker j runs GEMMs [first,
 * first + count) of its list g + j * MAX_GEMMS): one untimed pass, then reps
 * passes; GFLOP/s of this rank. */
static double time_gemms(const Gemm *g, int first, int count, int workers, int kblock)
{
    double flops = 0.0;
    for (int i = first; i < first + count; i++) flops += gemm_flops(&g[i]);
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
static int gemm_reference(Trainer *t, GemmRef *r)
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
            if (j == 0 && gemm_flops(&g[first]) > big_flops) {
                big_flops = gemm_flops(&g[first]);
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

/* ---- after the timed steps ----------------------------------------------------------*/

/* What the step reduces, as one buffer: exact P + 4 fixed128 (t->acc), fast
 * P + 2 floats (net->grads); returns the bytes. */
static double reduce_buffer(Trainer *t, void **buf, int *count, MPI_Datatype *type, MPI_Op *op)
{
    const size_t P = t->net.nparams;
    if (t->cfg->reduction == REDUCE_EXACT) {
        *buf = t->acc;
        *count = (int)(P + NET_METRICS + 2);
        *type = fixed_mpi_type();
        *op = fixed_mpi_sum();
        return 16.0 * *count;
    }
    *buf = t->net.grads;
    *count = (int)(P + NET_METRICS);
    *type = MPI_FLOAT;
    *op = MPI_SUM;
    return 4.0 * *count;
}

/* One blocking MPI_Allreduce of the step's data with nothing else running,
 * after a barrier, reps times: the slowest rank's time of each; median, min,
 * max.  (The buffer's contents are spent: the timed steps are over.) */
static void blocking_allreduce(Trainer *t, long reps, Result *r)
{
    void *buf;
    int count;
    MPI_Datatype type;
    MPI_Op op;
    r->msg_bytes = reduce_buffer(t, &buf, &count, &type, &op);
    double s[1000];
    MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);   /* untimed */
    for (long i = 0; i < reps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = now();
        MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);
        s[i] = allreduce_d(now() - t0, MPI_MAX);
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
 * worker 0 (what chunk_backward does layer by layer: fixed_set on the first
 * chunk, fixed_add on the others; the same work per element), for
 * min(steps, 5) steps; seconds per step.  0 for fast. */
static double replay_convert(Trainer *t, const Options *o)
{
    if (t->cfg->reduction != REDUCE_EXACT) return 0.0;
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
    for (int i = t->net.nlayers - 1; i >= 0; i--)   /* the order the step starts them */
        if (t->net.layers[i].nparams && used + 24 < sizeof r->layer_params)
            used += (size_t)snprintf(r->layer_params + used, sizeof r->layer_params - used, "%s%zu",
                                     used ? "," : "", t->net.layers[i].nparams);
}

/* The timed steps: per-rank sums of the StepStats parts, and each step's wait. */
typedef struct { double wall, compute, wait, update, loss; long nonfinite; double *waits; } Loop;

static void timed_steps(Trainer *t, const Options *o, Loop *L)
{
    StepStats st;
    for (long k = 0; k < o->warmup; k++) train_step(t, k, &st);
    memset(t->layer_s, 0, sizeof(double) * 2 * (size_t)t->net.nlayers);
    L->compute = L->wait = L->update = 0.0;
    L->nonfinite = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
    for (long k = o->warmup; k < o->warmup + o->steps; k++) {
        train_step(t, k, &st);
        L->compute += st.compute_s;
        L->wait += st.comm_s;
        L->update += st.update_s;
        L->nonfinite += st.nonfinite;
        L->waits[k - o->warmup] = st.comm_s;
        L->loss = st.loss;
    }
    L->wall = now() - t0;
}

/* Per step, mean over ranks (to rank 0) of this rank's layer timers by type. */
static void layer_types(const Trainer *t, long steps, Result *r)
{
    double mine[L_NTYPES][2], all[L_NTYPES][2];
    memset(mine, 0, sizeof mine);
    for (int i = 0; i < t->net.nlayers; i++)
        for (int d = 0; d < 2; d++) mine[t->net.layers[i].spec.type][d] += t->layer_s[2 * i + d];
    MPI_Reduce(mine, all, 2 * L_NTYPES, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
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

/* ---- printing (rank 0) ------------------------------------------------------------*/

static int g_oversub;   /* the sweep's ranks, one thread each */
static long g_reps;

static const char *coretype_env(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    return v && *v ? v : NULL;
}

/* Collective: every rank reports the cores its affinity mask allows. */
static void print_header(const Options *o)
{
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0, least = 0;
    MPI_Reduce(&cores, &least, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    const int threads = o->sweep ? 1 : o->threads > 0 ? (int)o->threads : g_share;
    g_oversub = oversubscribed(threads);
    if (g_rank != 0) return;
    printf("inna-bench %s: %d rank(s), %d core(s) per rank (affinity of the most confined rank); "
           "%d rank(s) on a node of %d core(s)\n", INNA_VERSION, g_size, least, g_local_ranks,
           g_cores);
    if (o->sweep)
        printf("threads: the sweep calls MPI from one thread per rank\n");
    else if (o->threads > 0)
        printf("threads: %d per rank (run.threads): exact = %d OpenMP workers on whole chunks with "
               "one BLAS thread each; fast = one worker with %d BLAS threads\n", threads, threads,
               threads);
    else
        printf("threads: auto (%s): the rank's share of the cores, %d: exact = that many workers "
               "(at most the rank's chunks), one BLAS thread each; fast = one worker with that "
               "many BLAS threads\n", o->threads == 0 ? "--threads 0" : "the configs' run.threads",
               threads);
    char blas[512];
    blaskernel_report(blas, sizeof blas);
    printf("%s(%s)\n", blas, openblas_get_config());
    if (threads > least && least > 0)
        printf("warning: %d threads share %d core(s) per rank\n", threads, least);
    if (g_oversub)
        printf("warning: OVERSUBSCRIBED: %d rank(s) x %d thread(s) on a node with %d core(s): "
               "the ranks time-share the cores, so times measure that sharing, not scaling "
               "(the records say oversubscribed=1)\n", g_local_ranks, threads, g_cores);
}

static void print_config(const Result *r, const Options *o)
{
    static const char *const opt_names[] = {"inna", "sgd", "adam", "adagrad"};
    static const char *const sampling_names[] = {"shuffle", "iid", "sequential"};
    const Config *c = &r->cfg;
    printf("\n== %s (%s): input %dx%dx%d, %d classes, %zu parameters, optimizer %s\n", r->name,
           r->path, c->input.c, c->input.h, c->input.w, r->classes, r->nparams,
           opt_names[c->optim.kind]);
    printf("   global batch %d over %d rank(s), reduction %s: %d chunk(s) of %d sample(s) "
           "(%s), %d..%d chunk(s) = %d..%d images per rank\n", c->batch, g_size,
           reduction_names[c->reduction], r->nchunks, r->chunk,
           c->reduction == REDUCE_EXACT ? "dist.chunk; 128-bit fixed-point sums"
                                        : "one chunk per rank; float MPI_SUM",
           r->chunks_min, r->chunks_max, r->n_min, r->n_max);
    printf("   engine: %s\n", r->engine);
    printf("   synthetic set of %ld samples, sampling %s%s; %ld warm-up + %ld timed steps\n",
           r->nsamples, sampling_names[c->sampling], c->augment ? ", augmentation on" : "",
           o->warmup, o->steps);
}

static void print_throughput(const Result *r)
{
    const Flops *f = &r->flops;
    const double per_image = (f->fwd + f->dw + f->dx) / 1e9;
    const int batch = r->cfg.batch;
    printf("step %.2f ms (slowest rank): %.1f images/s, %.1f GFLOP/s\n", 1e3 * r->step,
           batch / r->step, per_image * batch / r->step);
    printf("   FLOP count: 2*M*N*K per SGEMM of the convolutions = %.4f GFLOP per image "
           "(forward %.4f + dW %.4f + dX %.4f, no dX for the first layer; im2col, bias and "
           "element-wise layers not counted)\n", per_image, f->fwd / 1e9, f->dw / 1e9, f->dx / 1e9);
}

static void print_sgemm(const GemmRef *r, double achieved)
{
    if (r->big_layer < 0) {
        printf("SGEMM: %s\n", !r->skipped ? "the network has no convolution"
                                  : "no reference (it times the openblas engine's GEMMs)");
        return;
    }
    printf("SGEMM on all %d rank(s) at once, shapes for one chunk of %d images, K cut in blocks "
           "of %d as conv.c does:\n", g_size, r->per_rank, GEMM_K_BLOCK);
    printf("   largest conv forward (layer %d, M=%d N=%d K=%d): %d x %.1f (slowest %.1f) = "
           "%.1f GFLOP/s; the step reaches %.2f of it\n", r->big_layer + 1, r->big.M, r->big.N,
           r->big.K, g_size, r->big_sum / g_size, r->big_min, r->big_sum, achieved / r->big_sum);
    printf("   the step's %d GEMMs back to back: %d x %.1f (slowest %.1f) = %.1f GFLOP/s; the "
           "step reaches %.2f of it\n", r->ngemms, g_size, r->seq_sum / g_size, r->seq_min,
           r->seq_sum, achieved / r->seq_sum);
    printf("   the same GEMMs with whole K (one call each, as conv.c did before it cut K for "
           "bits independent of the BLAS threads): %.1f GFLOP/s (K-blocked / whole K = %.2f)\n",
           r->whole_sum, r->seq_sum / r->whole_sum);
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
    if (exact) print_row("  fixed-point (replay)", r->convert, 0, 0, w);
    print_row("MPI_Waitall (exposed)", r->wait, 0, 0, w);
    print_row("update", r->update, 0, 0, w);
    print_row("other", w - r->compute - r->wait - r->update, 0, 0, w);
    printf("   (mean over ranks of %.2f ms per step%s. data+loss: sampler, data_make_batch and "
           "softmax_xent of those chunks, replayed after the timed steps.  rest of "
           "compute = compute - layers - data+loss: %s zeroing, and the MPI_Iallreduce starts "
           "and MPI_Testall progress calls (in which Open MPI moves the data and applies the "
           "sum of the reductions already started: their CPU time is here, not in MPI_Waitall)%s.  MPI_Waitall includes waiting for a slower rank.  "
           "update: %sthe optimizer.  other: timers and loop)\n", 1e3 * w,
           r->workers > 1 ? "; layers and data+loss are worker 0's chunks, the timeline of "
                            "Trainer.layer_s (the other workers run alongside)" : "",
           exact ? "the fixed-point conversion of each chunk's gradient (fixed_set/fixed_add),"
                 : "no fixed-point conversion (fast),",
           exact ? "; the fixed-point line is the conversion alone, replayed over the same chunks" : "",
           exact ? "fixed-point to float and " : "");
}

static void print_split(const Result *r)
{
    printf("compute %.2f ms per step (StepStats.compute_s, mean over ranks; ranks %.2f..%.2f), "
           "update %.2f ms\n", 1e3 * r->compute, 1e3 * r->compute_min, 1e3 * r->compute_max,
           1e3 * r->update);
    if (g_size == 1) {
        printf("communication: one rank, nothing to send (MPI_Waitall %.3f ms; a blocking "
               "MPI_Allreduce of the same %.1f MB: %.3f ms)\n", 1e3 * r->wait, r->msg_bytes / 1e6,
               1e3 * r->blocking);
        return;
    }
    printf("communication: exposed %.2f ms per step (MPI_Waitall of the rank that waited least, "
           "mean over steps; mean over ranks %.2f ms, largest %.2f ms, which includes waiting "
           "for a slower rank)\n", 1e3 * r->exposed, 1e3 * r->wait, 1e3 * r->wait_max);
    printf("   a blocking MPI_Allreduce of the same %.2f MB (%s) alone: %.2f ms (median of "
           "%ld; %.2f..%.2f) -> %.0f%% of the communication hidden behind the backward pass (not "
           "waited for; the CPU work of the hidden part is in compute)\n",
           r->msg_bytes / 1e6, r->cfg.reduction == REDUCE_EXACT ? "P + 4 fixed128" : "P + 2 floats",
           1e3 * r->blocking, g_reps, 1e3 * r->blocking_min, 1e3 * r->blocking_max,
           100.0 * r->hidden);
}

static void print_memory(const Result *r)
{
    const Floor *f = &r->floor;
    printf("memory per rank (largest over ranks): VmRSS %.1f MiB, VmHWM %.1f MiB (%s); "
           "%.1f MiB before the trainer was built\n", r->rss, r->hwm,
           r->hwm_ok ? "peak of this run" : "peak of the process: could not reset it", r->base);
    printf("   floor %.1f MiB = parameters %.2f + optimizer state %.2f (%d vector(s)) + synthetic "
           "data set %.2f + for each of %d worker(s): gradients, what the engine holds for one "
           "chunk (Net.engine_bytes: layer outputs, their gradients, im2col, max-pool argmax, "
           "dropout masks, dlogits), input chunk, exact accumulator (16 B x (P + 4)): "
           "%.2f + %.2f + %.2f + %.2f in all\n", f->total, f->params, f->state,
           optim_nstate(&r->cfg.optim), f->data, r->workers, f->grads, f->engine, f->input,
           f->acc);
    printf("   VmRSS / floor = %.3f, VmHWM / floor = %.3f; without what the process held before "
           "(MPI, libraries): %.3f\n", r->rss / f->total, r->hwm / f->total,
           (r->rss - r->base) / f->total);
    if (g_size > 1)
        printf("   beyond the floor and what was held before: %.1f MiB = %.2f x the %.1f MiB the step "
               "reduces (not in the floor: Open MPI's buffers for the in-flight non-blocking "
               "reductions take about one message's size)\n", r->rss - r->base - f->total,
               (r->rss - r->base - f->total) / (r->msg_bytes / MIB), r->msg_bytes / MIB);
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
           r->nchunks, r->chunks_max, reduction_names[c->reduction], o->steps, o->warmup,
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

static void report(const Result *r, const Options *o, const double *round_steps, int nrounds)
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
    print_split(r);
    print_memory(r);
    if (!isfinite(r->loss) || r->nonfinite)
        printf("warning: the loss is %g after the timed steps (%ld non-finite steps): timings "
               "may be off\n", r->loss, r->nonfinite);
    print_bench_line(r, o);
    fflush(stdout);
}

/* exact against fast for one (config, batch): the ratio of step times and
 * where the difference is. */
static void report_compare(const Result *e, const Result *f, const double *ratios, int nrounds)
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
        printf("; median %.3f (the figure above is fastest exact / fastest fast; the median of "
               "the rounds' ratios pairs runs made close in time, so it is less sensitive to "
               "other load)\n", median);
    }
    printf("   exact = %d chunks of %d samples (%d..%d per rank; %d worker(s) x %d BLAS thread(s)), "
           "each chunk's gradient converted "
           "to 128-bit fixed point, %.2f MB reduced with a user-defined sum; fast = one chunk of "
           "%d..%d samples per rank (%d BLAS thread(s)), %.2f MB of floats with MPI_SUM; both start one "
           "MPI_Iallreduce per parametric layer during the last chunk's backward.  So the "
           "difference is chunking (smaller GEMMs, more passes) + conversion + 4x the bytes, not "
           "the conversion alone:\n", e->nchunks, e->chunk, e->chunks_min, e->chunks_max, e->workers,
           e->blas, e->msg_bytes / 1e6, f->n_min, f->n_max, f->blas, f->msg_bytes / 1e6);
    printf("   per step, exact - fast: layers %+.2f ms, data+loss %+.2f ms, rest of compute "
           "%+.2f ms (fixed-point conversion alone, replayed: %.2f ms), exposed communication "
           "%+.2f ms (MPI_Waitall mean over ranks %+.2f ms), update %+.2f ms\n",
           1e3 * ((e->fwd + e->bwd) - (f->fwd + f->bwd)), 1e3 * (e->data - f->data),
           1e3 * (e->rest - f->rest), 1e3 * e->convert, 1e3 * (e->exposed - f->exposed),
           1e3 * (e->wait - f->wait), 1e3 * (e->update - f->update));
    /* What exactness itself costs, without the layers (whose time differs only
     * by chunk shapes and noise): conversion, MPI progress work, to-float. */
    const double extra = (e->data + e->rest + e->exposed + e->update)
                         - (f->data + f->rest + f->exposed + f->update);
    printf("   without the layers: exact costs %+.2f ms per step = %+.1f%% of the fast step "
           "(data+loss, rest of compute, exposed communication, update)\n", 1e3 * extra,
           100.0 * extra / f->step);
    printf("COMPARE config=%s batch=%d np=%d threads=%d oversubscribed=%d exact_step_s=%.6f "
           "fast_step_s=%.6f ratio=%.4f ratio_median=%.4f rounds=%d exact_extra_s=%.6f "
           "exact_extra_frac=%.4f exact_chunk=%d fast_chunk=%d\n", e->name, e->cfg.batch, g_size,
           e->workers * e->blas, e->oversub || f->oversub, e->step, f->step, ratio, median, nrounds,
           extra, extra / f->step, e->chunk, f->chunk);
    fflush(stdout);
}

/* ---- main --------------------------------------------------------------------------*/

/* One (config, batch): every reduction, o->rounds times, alternating. */
static int run_config(const char *path, int batch, const Options *o)
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
static int check_configs(const Options *o)
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

/* ---- --allreduce-sweep ---------------------------------------------------------------*/

static void sweep_type(int kind, size_t *elem, MPI_Datatype *type, MPI_Op *op)
{
    switch (kind) {
    case SWEEP_FIXED128: *elem = 16; *type = fixed_mpi_type(); *op = fixed_mpi_sum(); break;
    case SWEEP_FLOAT:    *elem = 4;  *type = MPI_FLOAT;        *op = MPI_SUM; break;
    default:             *elem = 1;  *type = MPI_UINT8_T;      *op = MPI_SUM; break;
    }
}

/* Seconds per call of `count` elements: all ranks agree on the repetitions;
 * the slowest rank's mean over them, best of 3 trials. */
static double time_allreduce(void *buf, int count, MPI_Datatype type, MPI_Op op, long *reps_out)
{
    MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);   /* untimed */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    for (int r = 0; r < 3; r++) MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);
    const double once = allreduce_d((now() - t0) / 3.0, MPI_MAX);
    long reps = once > 0 ? (long)ceil(SWEEP_TARGET_S / once) : 1000;
    reps = reps < 3 ? 3 : reps > 1000 ? 1000 : reps;
    double best = INFINITY;
    for (int trial = 0; trial < 3; trial++) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = now();
        for (long r = 0; r < reps; r++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);
        best = fmin(best, allreduce_d((now() - t0) / (double)reps, MPI_MAX));
    }
    *reps_out = reps;
    return best;
}

/* The operation alone (MPI_Reduce_local on this rank): the arithmetic of a
 * reduction, without moving data between ranks; rank 0's best of 3. */
static double time_local(const void *in, void *inout, int count, MPI_Datatype type, MPI_Op op,
                         long reps)
{
    double best = INFINITY;
    MPI_Reduce_local(in, inout, count, type, op);
    for (int trial = 0; trial < 3; trial++) {
        const double t0 = now();
        for (long r = 0; r < reps; r++) MPI_Reduce_local(in, inout, count, type, op);
        best = fmin(best, (now() - t0) / (double)reps);
    }
    return best;
}

static int run_sweep(const Options *o)
{
    const size_t max = (size_t)o->sweep_max;
    unsigned char *buf = calloc(max, 1), *in = calloc(max, 1);
    int rc = agree(buf && in ? 0 : 1, "out of memory for the sweep's buffers");
    if (rc) { free(buf); free(in); return rc; }
    if (g_rank == 0)
        printf("MPI_Allreduce alone (in place, after a barrier): the slowest rank's mean time "
               "per call, best of 3 trials; MPI_Reduce_local: the operation's arithmetic on "
               "rank 0\n");
    for (int i = 0; i < o->nsweep_types; i++) {
        size_t elem;
        MPI_Datatype type;
        MPI_Op op;
        sweep_type(o->sweep_types[i], &elem, &type, &op);
        for (size_t bytes = 8; bytes <= max; bytes *= 2) {
            if (bytes < elem) continue;
            const int count = (int)(bytes / elem);
            long reps;
            const double s = time_allreduce(buf, count, type, op, &reps);
            const double local = time_local(in, buf, count, type, op, reps);
            if (g_rank == 0) {
                printf("ALLREDUCE np=%d oversubscribed=%d type=%s bytes=%zu count=%d reps=%ld "
                       "s=%.9f GBps=%.3f\n", g_size, g_oversub, sweep_names[o->sweep_types[i]],
                       bytes, count, reps, s, bytes / s / 1e9);
                printf("REDUCE_LOCAL type=%s bytes=%zu s=%.9f\n", sweep_names[o->sweep_types[i]],
                       bytes, local);
                fflush(stdout);
            }
        }
    }
    free(buf);
    free(in);
    return 0;
}

static int finish(int status)
{
    fixed_mpi_free();
    MPI_Finalize();
    return status;
}

int main(int argc, char **argv)
{
    blaskernel_choose(argv);   /* before anything else: may run the program again */
    int provided;   /* worker threads compute; only the master thread calls MPI */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    count_node();
    g_share = placement_cores(MPI_COMM_WORLD);
    Options o;
    char err[1024] = "";
    int rc = parse_options(&o, argc, argv, err, sizeof err);
    if (rc == 1) {
        if (g_rank == 0) usage(stdout);
        return finish(0);
    }
    if (rc < 0) {
        if (g_rank == 0) fprintf(stderr, "inna-bench: %s\n", err);
        return finish(EXIT_INPUT);
    }
    g_reps = o.reps;
    if (!o.sweep && (rc = check_configs(&o))) return finish(rc);
    print_header(&o);
    if (o.sweep) return finish(run_sweep(&o));
    for (int i = 0; i < o.nconfigs && !rc; i++)
        for (int j = 0; j < o.nbatches && !rc; j++)
            rc = run_config(o.configs[i], o.batches[j], &o);
    return finish(rc);
}
