#define _GNU_SOURCE /* sched_getaffinity */
/* inna-bench: times the real training step (train_step of src/parallel/step.c)
 * of the networks of config files (by default NiN for 1x28x28 and 3x32x32
 * input) at several global batch sizes, with reduction = exact and = fast, on
 * synthetic data sets built in memory (step.c), and measures beside it what
 * the step is compared with: a blocking allreduce of the same data, SGEMM on
 * the network's own GEMM shapes (gemmref.c), the memory floor (floor.c).
 * Rank 0 prints; one "BENCH key=value ..." line per (config, batch,
 * reduction) and one "COMPARE ..." line per (config, batch) are meant for
 * scripts (launch/scaling.sh, launch/peer.sh, results/scaling.py).
 *
 * --allreduce-sweep instead times MPI_Allreduce alone at message sizes of
 * 8 B ... 64 MiB ("ALLREDUCE ..." lines) and the local reduction operation
 * MPI_Reduce_local ("REDUCE_LOCAL ..." lines), for the latency/bandwidth fit
 * (allreduce.c).
 *
 * This file: the options, the header, main.  Exit status: 0 done, 2 bad
 * input (usage, config file), 1 anything else. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "placement.h"
#include "program.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

const char program_name[] = "inna-bench";
const char *const sweep_names[SWEEP_NTYPES] = {"fixed128", "float", "byte"};
int g_rank, g_size, g_local_ranks, g_cores, g_share;

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
        "the step's reductions as blocking calls (the share hidden),\n"
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
        "      --reps N          repetitions of the blocking reductions (default 5)\n"
        "      --layers          also the table per layer: output shape, forward and\n"
        "                        backward ms, and a convolution's GEMM GFLOP/s\n"
        "      --allreduce-sweep only time MPI_Allreduce alone at 8 B .. --sweep-max\n"
        "                        (powers of 2): 'ALLREDUCE np= type= bytes= s=' lines, and\n"
        "                        the local operation: 'REDUCE_LOCAL type= bytes= s=' lines\n"
        "      --sweep-type LIST fixed128 (the exact reduction's 16-byte integers and\n"
        "                        user-defined sum), float (MPI_SUM), byte (uint8 MPI_SUM);\n"
        "                        comma-separated (default fixed128)\n"
        "      --sweep-max BYTES largest message (default 67108864 = 64 MiB)\n"
        "  -h, --help            this help\n\n"
        "reading the output (times are per step):\n"
        "  step: the slowest rank's wall time.  GEMM FLOPs: 2*M*N*K per SGEMM of the\n"
        "    convolutions (conv_gemm_shapes), per image: forward + dW + dX, no dX for\n"
        "    the first layer; im2col, bias and element-wise layers not counted.\n"
        "  SGEMM (openblas engine only): the same GEMM shapes for one chunk, run on all\n"
        "    ranks and workers at once with K cut in blocks as conv.c does: the largest\n"
        "    forward GEMM alone, the step's GEMMs back to back, and those with whole K\n"
        "    (one call each, as before K was cut for bits independent of the BLAS\n"
        "    threads); 'step/it' is the step's GFLOP/s over that rate.\n"
        "  --layers: per layer, as the table (worker 0's chunks); GFLOP/s = the\n"
        "    layer's GEMM FLOPs for those images over its time: one thread's rate.\n"
        "  the table: mean over ranks; with several workers, the layers and data+loss\n"
        "    are worker 0's chunks (Trainer.layer_s; the others run alongside).\n"
        "    data+loss: sampler, data_make_batch and softmax_xent of those chunks,\n"
        "    replayed after the timed steps.  rest of compute = compute - layers -\n"
        "    data+loss: zeroing, the fixed-point conversion of each chunk's gradient\n"
        "    (exact summed; its own row is the conversion alone, replayed; gathered:\n"
        "    a copy of it), and the reductions' starts and MPI_Testall progress calls,\n"
        "    in which Open MPI moves the data and sums the reductions already started.\n"
        "    MPI_Waitall includes waiting for a slower rank.  update: exact, the sum\n"
        "    to float (gathered: every chunk's floats onto the grid, summed, back to\n"
        "    float), and the optimizer.  other: timers and loop.\n"
        "  compute: StepStats.compute_s.  exposed communication: in each step, the\n"
        "    MPI_Waitall of the rank that waited least (the last to finish computing),\n"
        "    mean over steps.  hidden: 1 - exposed / the step's reductions as blocking\n"
        "    calls alone, one after the other (the same data: exact summed P + 4\n"
        "    fixed128 by MPI_Allreduce, gathered nchunks x (P + 3) floats by\n"
        "    MPI_Allgatherv, fast P + 2 floats): the share of the communication\n"
        "    behind the backward pass; its CPU work is in compute.\n"
        "  memory: VmRSS and VmHWM, largest over ranks; 'base': held before the trainer\n"
        "    was built (MPI, libraries).  floor = parameters + optimizer state +\n"
        "    synthetic data set + for every worker: gradients, the engine's buffers for\n"
        "    one chunk (Net.engine_bytes: layer outputs and their gradients, im2col,\n"
        "    max-pool argmax, dropout masks, dlogits; oneDNN: all it allocated), the\n"
        "    input chunk, and (exact) the 128-bit sum the step reduces per worker\n"
        "    (gathered: the chunks' floats).  Beyond the floor and the base: Open\n"
        "    MPI's buffers for the in-flight non-blocking reductions (about one\n"
        "    message's size for the summed allreduces).\n"
        "  exact vs fast: exact computes B_k in chunks of dist.chunk, converts each\n"
        "    chunk's gradient to 128-bit fixed point and reduces 4x the bytes with a\n"
        "    user-defined sum (or, B_k of at most dist.gather chunks, gathers the\n"
        "    chunks' floats and sums them in the update); fast computes one chunk per\n"
        "    rank and reduces floats with MPI_SUM; both start one reduction per\n"
        "    parametric layer during the last chunk's backward.  The ratio is\n"
        "    fastest exact / fastest fast; with --rounds, the median of the rounds'\n"
        "    ratios pairs runs close in time.\n"
        "    'without the layers': data+loss, rest of compute, exposed communication\n"
        "    and update, what exactness costs beyond chunk shapes.\n"
        "  --allreduce-sweep: MPI_Allreduce in place after a barrier, the slowest\n"
        "    rank's mean time per call, best of 3 trials; REDUCE_LOCAL: the operation's\n"
        "    arithmetic alone (MPI_Reduce_local) on rank 0.\n\n"
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

enum { OPT_SET = 1000, OPT_ROUNDS, OPT_REPS, OPT_SWEEP, OPT_SWEEP_TYPE, OPT_SWEEP_MAX, OPT_LAYERS };

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
        return parse_words("--reduction", arg, config_reduction_names, REDUCE_FAST + 1,
                           o->reductions, &o->nreductions, err, errlen);
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
    case OPT_LAYERS:
        o->layers = 1;
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
        {"allreduce-sweep", no_argument, 0, OPT_SWEEP}, {"layers", no_argument, 0, OPT_LAYERS},
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

double reduce_d(double v, MPI_Op op)
{
    double r = 0.0;
    MPI_Reduce(&v, &r, 1, MPI_DOUBLE, op, 0, MPI_COMM_WORLD);
    return r;
}

double allreduce_d(double v, MPI_Op op)
{
    double r = 0.0;
    MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, op, MPI_COMM_WORLD);
    return r;
}


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
int oversubscribed(int threads)
{
    int mine = g_local_ranks * threads > g_cores, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

/* ---- the header and main -----------------------------------------------------------*/

/* Collective: every rank reports the cores its affinity mask allows.
 * Returns whether a node is oversubscribed (on every rank). */
static int print_header(const Options *o)
{
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0, least = 0;
    MPI_Reduce(&cores, &least, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    const int threads = o->sweep ? 1 : o->threads > 0 ? (int)o->threads : g_share;
    const int oversub = oversubscribed(threads);
    if (g_rank != 0) return oversub;
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
    report_blas();
    printf("(%s)\n", openblas_get_config());
    if (threads > least && least > 0)
        printf("warning: %d threads share %d core(s) per rank\n", threads, least);
    if (oversub)
        printf("warning: OVERSUBSCRIBED: %d rank(s) x %d thread(s) on a node with %d core(s): "
               "the ranks time-share the cores, so times measure that sharing, not scaling "
               "(the records say oversubscribed=1)\n", g_local_ranks, threads, g_cores);
    return oversub;
}

int main(int argc, char **argv)
{
    program_start(&argc, &argv, &g_rank, &g_size);
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
        if (g_rank == 0) fprintf(stderr, "%s: %s\n", program_name, err);
        return finish(EXIT_INPUT);
    }
    if (!o.sweep && (rc = check_configs(&o))) return finish(rc);
    const int oversub = print_header(&o);
    if (o.sweep) return finish(run_sweep(&o, oversub));
    for (int i = 0; i < o.nconfigs && !rc; i++)
        for (int j = 0; j < o.nbatches && !rc; j++)
            rc = run_config(o.configs[i], o.batches[j], &o);
    return finish(rc);
}
