#define _GNU_SOURCE /* strcasestr, sched_getaffinity, malloc_trim */
/* inna-bench: times the training step of the networks of config files (by
 * default NiN for 1x28x28 and 3x32x32 input) at several global batch sizes,
 * on synthetic input, exactly as src/dist/step.c runs it: forward in train
 * mode (dropout on), softmax cross-entropy, backward, one MPI_Allreduce of the
 * gradients plus the two metric slots, and the optimizer update.  The loop
 * over layers calls net_layer_forward/net_layer_backward (what net_forward and
 * net_backward loop over) with a timer around each, so the step can be broken
 * down by layer type.  In the same run
 * every rank measures SGEMM on the network's own GEMM shapes (all ranks at
 * once, so the figure includes their contention), and the step's GFLOP/s is
 * read as a fraction of it.  Rank 0 prints; one "BENCH key=value ..." line per
 * configuration is meant for scripts.
 *
 * Exit status: 0 done, 2 bad input (usage, config file), 1 anything else. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "net.h"
#include "optim.h"
#include "rng.h"
#include "sampler.h"

#define EXIT_INPUT 2
#define MAX_LIST 16
#define MAX_GEMMS (3 * CONFIG_MAX_LAYERS)
#define GEMM_TARGET_FLOP 2e10   /* per rank and reference: ~0.1-0.4 s here */
#define RNG_BENCH 0x62656e6368ULL /* stream of the synthetic inputs and labels */
#define MIB (1024.0 * 1024.0)

/* Where step time goes: the layer types, then the rest of the step. */
enum { T_LOSS = L_NTYPES, T_ALLREDUCE, T_OPTIM, T_OTHER, T_NCAT };

static int g_rank, g_size;

typedef struct {
    const char *configs[MAX_LIST];
    int nconfigs;
    int batches[MAX_LIST];
    int nbatches;
    long steps, warmup;
} Options;

/* One configuration: a network at one global batch size, on this rank. */
typedef struct {
    Config cfg;
    const char *path;
    char name[128];
    Net net;
    Optimizer opt;
    float *opt_state, *x;
    int *labels;
    long *ids;
    int first, n;           /* this rank's share [first, first + n) of the batch */
} Bench;

/* Seconds summed over the timed steps on this rank: [type][0 forward, 1 backward]. */
typedef struct {
    double t[T_NCAT][2];
    double total;           /* wall time of the timed loop                    */
    double loss;            /* mean loss of the last step                     */
} Timing;

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
    double big_sum, big_min, seq_sum, seq_min;
} GemmRef;

/* The floor of a rank's memory, MiB. */
typedef struct { double params, grads, state, act, aux, input, total; } Floor;

/* What rank 0 prints, reduced over ranks; times per step. */
typedef struct {
    double step;            /* slowest rank's wall time                       */
    double t[T_NCAT][2];    /* mean over ranks                                */
    double total;           /* mean over ranks                                */
    double compute_min, compute_max;
    double rss, hwm, base;  /* MiB, largest over ranks                        */
    double loss;
} Summary;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t shape_len(Shape s) { return (size_t)s.c * s.h * s.w; }

static const char *cat_name(int c)
{
    static const char *const extra[] = {"loss", "allreduce", "optimizer", "other"};
    return c < L_NTYPES ? layer_type_name((LayerType)c) : extra[c - L_NTYPES];
}

/* ---- options ---------------------------------------------------------------------*/

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mpirun -np N inna-bench [options]\n"
        "       inna-bench [options]                 (one rank)\n\n"
        "Times the training step of each config's network at each global batch size on\n"
        "synthetic input, as the trainer runs it: forward (dropout on), softmax\n"
        "cross-entropy, backward, one MPI_Allreduce of the gradients, the optimizer\n"
        "update; the batch is split over the ranks as in training.  Prints images/s,\n"
        "GFLOP/s, the share of each layer type, compute vs communication, the SGEMM\n"
        "GFLOP/s of the network's GEMM shapes measured on all ranks at once, resident\n"
        "memory against its floor, and one 'BENCH key=value ...' line per configuration.\n"
        "BLAS threads per rank come from OPENBLAS_NUM_THREADS (run.threads is ignored).\n\n"
        "options:\n"
        "  -c, --config FILE   network and optimizer of FILE (repeatable; default\n"
        "                      configs/nin-fashion-mnist.ini and configs/nin-cifar10.ini)\n"
        "  -b, --batch LIST    global batch sizes, comma-separated (repeatable; default 32,128)\n"
        "  -s, --steps N       timed steps per configuration (default 10)\n"
        "  -w, --warmup N      untimed steps before them (default 2)\n"
        "  -h, --help          this help\n\n"
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
}

static int parse_one(Options *o, int opt, const char *arg, char *err, size_t errlen)
{
    switch (opt) {
    case 'c':
        if (o->nconfigs == MAX_LIST) { snprintf(err, errlen, "--config: at most %d files", MAX_LIST); return -1; }
        o->configs[o->nconfigs++] = arg;
        return 0;
    case 'b':
        return add_batches(o, arg, err, errlen);
    case 's':
        if (parse_long(arg, 1, 1000000, &o->steps) == 0) return 0;
        snprintf(err, errlen, "--steps: '%s' is not a step count (an integer >= 1)", arg);
        return -1;
    case 'w':
        if (parse_long(arg, 0, 1000000, &o->warmup) == 0) return 0;
        snprintf(err, errlen, "--warmup: '%s' is not a step count (an integer >= 0)", arg);
        return -1;
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
        {"steps", required_argument, 0, 's'}, {"warmup", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->steps = 10;
    o->warmup = 2;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":c:b:s:w:h", opts, NULL)) != -1) {
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

/* Parameters, gradients, optimizer state, one batch of activations (what the
 * net holds: net->activation_floats, plus max-pool argmax and dropout masks)
 * and the input batch. */
static Floor memory_floor(const Bench *b)
{
    const Net *net = &b->net;
    Floor f;
    f.params = 4.0 * net->nparams / MIB;
    f.grads = 4.0 * (net->nparams + NET_METRICS) / MIB;
    f.state = 4.0 * optim_nstate(&b->cfg.optim) * net->nparams / MIB;
    f.act = 4.0 * net->activation_floats / MIB;
    f.aux = 0.0;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        double len = (double)shape_len(l->out) * net->max_n;
        if (l->spec.type == L_MAXPOOL) f.aux += 4.0 * len / MIB;
        if (l->spec.type == L_DROPOUT) f.aux += len / MIB;
    }
    f.input = 4.0 * shape_len(net->input) * net->max_n / MIB;
    f.total = f.params + f.grads + f.state + f.act + f.aux + f.input;
    return f;
}

/* ---- set-up ---------------------------------------------------------------------*/

static int load_config(Bench *b, const char *path, int batch, char *err, size_t errlen)
{
    Config *c = &b->cfg;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(b->name, sizeof b->name, "%s", base);
    char *dot = strrchr(b->name, '.');
    if (dot && strcmp(dot, ".ini") == 0) *dot = '\0';
    b->path = path;
    config_defaults(c);
    if (config_load_file(c, path, err, errlen) != 0) return -1;
    c->batch = batch;
    if (config_validate(c, err, errlen) != 0) return -1;
    for (int i = 0; i < c->nlayers; i++)
        if (c->layers[i].type == L_DROPOUT && c->layers[i].rate < 0) c->layers[i].rate = c->dropout;
    return 0;
}

/* Inputs ~ N(0, 1) (standardized images) and uniform labels, keyed by the
 * global sample index: the same batch whatever the number of ranks. */
static void fill_input(Bench *b)
{
    const size_t hw = (size_t)b->cfg.input.h * b->cfg.input.w;
    for (int j = 0; j < b->n; j++) {
        const uint64_t g = (uint64_t)(b->first + j);
        const uint64_t key = rng_key(b->cfg.seed, RNG_BENCH, g, 0);
        for (int c = 0; c < b->cfg.input.c; c++) {
            float *dst = b->x + ((size_t)c * b->n + j) * hw;
            for (size_t p = 0; p < hw; p++) dst[p] = (float)rng_normal(key, c * hw + p);
        }
        b->labels[j] = (int)rng_below(rng_key(b->cfg.seed, RNG_BENCH, g, 1), 0, (uint64_t)b->net.classes);
    }
}

/* 0, 2 (the network does not fit its input) or 1 (out of memory), err set. */
static int bench_setup(Bench *b, char *err, size_t errlen)
{
    const Config *c = &b->cfg;
    const int max_n = (c->batch + g_size - 1) / g_size;
    b->first = share_begin(c->batch, g_rank, g_size);
    b->n = share_begin(c->batch, g_rank + 1, g_size) - b->first;
    if (net_build(&b->net, c->layers, c->nlayers, c->input, max_n, err, errlen) != 0) return 2;
    const size_t nstate = (size_t)optim_nstate(&c->optim);
    const size_t xbytes = shape_len(c->input) * max_n * sizeof(float);
    b->opt_state = calloc(nstate * b->net.nparams + 1, sizeof(float));
    b->x = aligned_alloc(64, (xbytes + 63) / 64 * 64);
    b->labels = malloc(sizeof(int) * max_n);
    b->ids = malloc(sizeof(long) * max_n);
    if (!b->opt_state || !b->x || !b->labels || !b->ids) {
        snprintf(err, errlen, "out of memory for batch %d", c->batch);
        return 1;
    }
    net_init_params(&b->net, c->seed);
    optim_init(&b->opt, &c->optim, b->net.nparams, b->opt_state);
    fill_input(b);
    return 0;
}

static void bench_free(Bench *b)
{
    net_free(&b->net);
    free(b->opt_state);
    free(b->x);
    free(b->labels);
    free(b->ids);
    b->opt_state = b->x = NULL;
    b->labels = NULL;
    b->ids = NULL;
}

/* ---- the timed step -----------------------------------------------------------------*/

/* net_forward with a timer around each layer. */
static const float *forward_timed(Bench *b, long k, Timing *t)
{
    Net *net = &b->net;
    const float *in = b->x;
    for (int i = 0; i < net->nlayers; i++) {
        const double t0 = now();
        net_layer_forward(net, i, in, b->n, 1, b->cfg.seed, k, b->ids);
        t->t[net->layers[i].spec.type][0] += now() - t0;
        in = net->layers[i].y;
    }
    return in;
}

/* net_backward with a timer around each layer. */
static void backward_timed(Bench *b, Timing *t)
{
    Net *net = &b->net;
    const float *dy = net->dlogits;
    for (int i = net->nlayers - 1; i >= 0 && dy; i--) {
        const double t0 = now();
        dy = net_layer_backward(net, i, b->x, dy, b->n);
        t->t[net->layers[i].spec.type][1] += now() - t0;
    }
}

/* Step k as train_step does it (the batch is already in place). */
static void bench_step(Bench *b, long k, Timing *t)
{
    Net *net = &b->net;
    const int batch = b->cfg.batch;
    memset(net->grads, 0, sizeof(float) * (net->nparams + NET_METRICS));
    for (int j = 0; j < b->n; j++) b->ids[j] = k * batch + b->first + j;
    if (b->n > 0) {
        const float *logits = forward_timed(b, k, t);
        long correct = 0;
        double t0 = now();
        double loss = softmax_xent(logits, b->labels, net->classes, b->n, 1.0f / (float)batch,
                                   net->dlogits, &correct);
        t->t[T_LOSS][0] += now() - t0;
        backward_timed(b, t);
        net->metrics[NET_METRIC_LOSS] = (float)loss;
        net->metrics[NET_METRIC_CORRECT] = (float)correct;
    }
    double t0 = now();
    MPI_Allreduce(MPI_IN_PLACE, net->grads, (int)(net->nparams + NET_METRICS), MPI_FLOAT,
                  MPI_SUM, MPI_COMM_WORLD);
    double t1 = now();
    optim_step(&b->opt, net->params, net->grads, k);
    t->t[T_ALLREDUCE][0] += t1 - t0;
    t->t[T_OPTIM][0] += now() - t1;
    t->loss = net->metrics[NET_METRIC_LOSS] / batch;
}

static void run_steps(Bench *b, const Options *o, Timing *t)
{
    Timing scratch;
    memset(&scratch, 0, sizeof scratch);
    for (long k = 0; k < o->warmup; k++) bench_step(b, k, &scratch);
    memset(t, 0, sizeof *t);
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
    for (long k = o->warmup; k < o->warmup + o->steps; k++) bench_step(b, k, t);
    t->total = now() - t0;
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

/* The GEMMs of one conv layer's step, as conv.c calls them, for max_n
 * samples, on the network's own buffers (no memory beyond the net's). */
static int layer_gemms(Bench *b, int i, Gemm *g)
{
    Net *net = &b->net;
    Layer *l = &net->layers[i];
    const int M = l->out.c, K = l->in.c * l->spec.size * l->spec.size;
    const int N = net->max_n * l->out.h * l->out.w;
    const int pw = is_pointwise(l);
    const float *col = pw ? (i ? net->layers[i - 1].y : b->x) : net->ws.col;
    int c = 0;
    g[c++] = make_gemm(CblasNoTrans, CblasNoTrans, M, N, K, l->w, col, l->y, 0.0f);
    g[c++] = make_gemm(CblasNoTrans, CblasTrans, M, K, N, l->y, col, l->dw, 1.0f);
    if (i > 0)
        g[c++] = make_gemm(CblasTrans, CblasNoTrans, K, N, M, l->w, l->y,
                           pw ? net->dbuf[0] : net->ws.col, 0.0f);
    return c;
}

static double gemm_flops(const Gemm *g) { return 2.0 * g->M * g->N * g->K; }

static void gemm_run(const Gemm *g)
{
    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B,
                g->ldb, g->beta, g->C, g->ldc);
}

/* All ranks at once: one untimed pass, then reps passes; GFLOP/s of this rank. */
static double time_gemms(const Gemm *g, int count)
{
    double flops = 0.0;
    for (int i = 0; i < count; i++) flops += gemm_flops(&g[i]);
    int reps = (int)ceil(GEMM_TARGET_FLOP / flops);
    reps = reps < 2 ? 2 : reps > 1000 ? 1000 : reps;
    for (int i = 0; i < count; i++) gemm_run(&g[i]);
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < count; i++) gemm_run(&g[i]);
    return reps * flops / (now() - t0) / 1e9;
}

/* The largest conv's forward GEMM alone, and the step's GEMMs back to back. */
static void gemm_reference(Bench *b, GemmRef *r)
{
    static Gemm g[MAX_GEMMS];
    int count = 0, big = -1;
    double big_flops = 0.0;
    memset(r, 0, sizeof *r);
    r->big_layer = -1;
    r->per_rank = b->net.max_n;
    for (int i = 0; i < b->net.nlayers; i++) {
        if (b->net.layers[i].spec.type != L_CONV) continue;
        int first = count;
        count += layer_gemms(b, i, g + count);
        if (gemm_flops(&g[first]) > big_flops) {
            big_flops = gemm_flops(&g[first]);
            big = first;
            r->big_layer = i;
        }
    }
    r->ngemms = count;
    if (big < 0) return;
    r->big = g[big];
    double rate = time_gemms(&g[big], 1);
    r->big_sum = reduce_d(rate, MPI_SUM);
    r->big_min = reduce_d(rate, MPI_MIN);
    rate = time_gemms(g, count);
    r->seq_sum = reduce_d(rate, MPI_SUM);
    r->seq_min = reduce_d(rate, MPI_MIN);
}

/* ---- reduction over ranks -----------------------------------------------------------*/

static void summarize(const Timing *t, long steps, Summary *s)
{
    double sums[2 * T_NCAT + 1];
    memcpy(sums, t->t, sizeof t->t);
    sums[2 * T_NCAT] = t->total;
    double all[2 * T_NCAT + 1];
    MPI_Reduce(sums, all, 2 * T_NCAT + 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    const double per = 1.0 / ((double)steps * g_size);
    for (int c = 0; c < T_NCAT; c++)
        for (int d = 0; d < 2; d++) s->t[c][d] = all[2 * c + d] * per;
    s->total = all[2 * T_NCAT] * per;
    s->step = reduce_d(t->total, MPI_MAX) / steps;
    const double compute = (t->total - t->t[T_ALLREDUCE][0] - t->t[T_OPTIM][0]) / steps;
    s->compute_min = reduce_d(compute, MPI_MIN);
    s->compute_max = reduce_d(compute, MPI_MAX);
    s->loss = t->loss;
    /* What the timers did not see: zeroing the gradients, loop and timer overhead. */
    double seen = 0.0;
    for (int c = 0; c < T_OTHER; c++) seen += s->t[c][0] + s->t[c][1];
    s->t[T_OTHER][0] = s->total - seen;
    s->t[T_OTHER][1] = 0.0;
}

/* ---- printing (rank 0) ------------------------------------------------------------*/

static int weak_kernel(const char *core)
{
    return strcasestr(core, "skylakex") == NULL && strcasestr(core, "cooperlake") == NULL
           && strcasestr(core, "sapphire") == NULL;
}

static const char *coretype_env(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    return v && *v ? v : NULL;
}

/* Collective: every rank reports the cores its affinity mask allows. */
static void print_header(void)
{
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0, least = 0;
    MPI_Reduce(&cores, &least, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    if (g_rank != 0) return;
    const char *core = openblas_get_corename(), *forced = coretype_env();
    const int threads = openblas_get_num_threads();
    __builtin_cpu_init();
    const int avx512 = __builtin_cpu_supports("avx512f");
    printf("inna-bench %s: %d rank(s), %d BLAS thread(s) per rank, %d core(s) per rank "
           "(affinity of the most confined rank)\n", INNA_VERSION, g_size, threads, least);
    printf("BLAS: OpenBLAS %s kernel, OPENBLAS_CORETYPE=%s; CPU has AVX-512: %s (%s)\n", core,
           forced ? forced : "(unset)", avx512 ? "yes" : "no", openblas_get_config());
    if (avx512 && weak_kernel(core))
        printf("warning: the %s kernel does not use AVX-512%s; SGEMM runs at about half the "
               "speed this CPU allows\n", core, forced ? " (forced by OPENBLAS_CORETYPE)" : "");
    if (threads > least && least > 0)
        printf("warning: %d BLAS threads share %d core(s) per rank\n", threads, least);
}

static void print_config(const Bench *b, const Options *o)
{
    static const char *const opt_names[] = {"inna", "sgd", "adam", "adagrad"};
    const Config *c = &b->cfg;
    printf("\n== %s (%s): input %dx%dx%d, %d classes, %zu parameters, optimizer %s\n", b->name,
           b->path, c->input.c, c->input.h, c->input.w, b->net.classes, b->net.nparams,
           opt_names[c->optim.kind]);
    printf("   global batch %d over %d rank(s) (%d..%d images per rank); %ld warm-up + %ld "
           "timed steps\n", c->batch, g_size, c->batch / g_size, b->net.max_n, o->warmup, o->steps);
}

static void print_throughput(const Summary *s, const Flops *f, int batch)
{
    const double per_image = (f->fwd + f->dw + f->dx) / 1e9;
    printf("step %.2f ms (slowest rank): %.1f images/s, %.1f GFLOP/s\n", 1e3 * s->step,
           batch / s->step, per_image * batch / s->step);
    printf("   FLOP count: 2*M*N*K per SGEMM of the convolutions = %.4f GFLOP per image "
           "(forward %.4f + dW %.4f + dX %.4f, no dX for the first layer; im2col, bias and "
           "element-wise layers not counted)\n", per_image, f->fwd / 1e9, f->dw / 1e9, f->dx / 1e9);
}

static void print_sgemm(const GemmRef *r, double achieved)
{
    if (r->big_layer < 0) { printf("SGEMM: the network has no convolution\n"); return; }
    printf("SGEMM on all %d rank(s) at once, shapes for %d images per rank:\n", g_size,
           r->per_rank);
    printf("   largest conv forward (layer %d, M=%d N=%d K=%d): %d x %.1f (slowest %.1f) = "
           "%.1f GFLOP/s; the step reaches %.2f of it\n", r->big_layer + 1, r->big.M, r->big.N,
           r->big.K, g_size, r->big_sum / g_size, r->big_min, r->big_sum, achieved / r->big_sum);
    printf("   the step's %d GEMMs back to back: %d x %.1f (slowest %.1f) = %.1f GFLOP/s; the "
           "step reaches %.2f of it\n", r->ngemms, g_size, r->seq_sum / g_size, r->seq_min,
           r->seq_sum, achieved / r->seq_sum);
}

static void print_table(const Summary *s)
{
    printf("   %-10s %11s %12s %10s %7s\n", "per step", "forward ms", "backward ms", "total ms", "share");
    for (int c = 0; c < T_NCAT; c++) {
        const double tot = s->t[c][0] + s->t[c][1];
        char bwd[32] = "-";
        if (c < L_NTYPES) snprintf(bwd, sizeof bwd, "%.2f", 1e3 * s->t[c][1]);
        printf("   %-10s %11.2f %12s %10.2f %6.1f%%\n", cat_name(c), 1e3 * s->t[c][0], bwd,
               1e3 * tot, 100.0 * tot / s->total);
    }
    printf("   (mean over ranks; other = zeroing the gradients and timer overhead; allreduce "
           "includes waiting for the slowest rank)\n");
}

static void print_split(const Summary *s)
{
    const double comm = s->t[T_ALLREDUCE][0], upd = s->t[T_OPTIM][0];
    const double compute = s->total - comm - upd;
    printf("compute %.2f ms (%.1f%%; ranks %.2f..%.2f), communication %.2f ms (%.1f%%), "
           "optimizer %.2f ms (%.1f%%)\n", 1e3 * compute, 100.0 * compute / s->total,
           1e3 * s->compute_min, 1e3 * s->compute_max, 1e3 * comm, 100.0 * comm / s->total,
           1e3 * upd, 100.0 * upd / s->total);
}

static void print_memory(const Summary *s, const Floor *f, const Bench *b, int hwm_ok)
{
    printf("memory per rank (largest over ranks): VmRSS %.1f MiB, VmHWM %.1f MiB (%s); "
           "%.1f MiB before the network was built\n", s->rss, s->hwm,
           hwm_ok ? "peak of this configuration" : "peak of the process: could not reset it",
           s->base);
    printf("   floor %.1f MiB = parameters %.2f + gradients %.2f + optimizer state %.2f "
           "(%d vector(s)) + activations %.2f (net->activation_floats: layer outputs, 2 "
           "gradient buffers, im2col, dlogits) + max-pool argmax and dropout masks %.2f + "
           "input batch %.2f\n", f->total, f->params, f->grads, f->state,
           optim_nstate(&b->cfg.optim), f->act, f->aux, f->input);
    printf("   VmRSS / floor = %.3f, VmHWM / floor = %.3f; without what the process held before "
           "(MPI, libraries): %.3f\n", s->rss / f->total, s->hwm / f->total,
           (s->rss - s->base) / f->total);
}

static void print_bench_line(const Bench *b, const Options *o, const Summary *s,
                             const GemmRef *r, const Flops *f, const Floor *fl)
{
    const Config *c = &b->cfg;
    const double gflop_img = (f->fwd + f->dw + f->dx) / 1e9;
    const double achieved = gflop_img * c->batch / s->step;
    const char *forced = coretype_env();
    printf("BENCH config=%s input=%dx%dx%d batch=%d ranks=%d per_rank=%d threads=%d core=%s "
           "coretype=%s steps=%ld warmup=%ld step_ms=%.3f img_s=%.2f gflop_img=%.5f gflop_s=%.2f "
           "sgemm_gflop_s=%.2f sgemm_frac=%.3f seq_gflop_s=%.2f seq_frac=%.3f", b->name,
           c->input.c, c->input.h, c->input.w, c->batch, g_size, b->net.max_n,
           openblas_get_num_threads(), openblas_get_corename(), forced ? forced : "unset",
           o->steps, o->warmup, 1e3 * s->step, c->batch / s->step, gflop_img, achieved,
           r->big_sum, r->big_sum > 0 ? achieved / r->big_sum : 0.0, r->seq_sum,
           r->seq_sum > 0 ? achieved / r->seq_sum : 0.0);
    for (int k = 0; k < T_NCAT; k++)
        printf(" %s_pct=%.2f", cat_name(k), 100.0 * (s->t[k][0] + s->t[k][1]) / s->total);
    const double comm = s->t[T_ALLREDUCE][0], upd = s->t[T_OPTIM][0];
    printf(" compute_ms=%.3f comm_ms=%.3f optim_ms=%.3f rss_mib=%.1f hwm_mib=%.1f base_mib=%.1f "
           "floor_mib=%.1f rss_ratio=%.3f hwm_ratio=%.3f net_ratio=%.3f loss=%.4f\n",
           1e3 * (s->total - comm - upd), 1e3 * comm, 1e3 * upd, s->rss, s->hwm, s->base,
           fl->total, s->rss / fl->total, s->hwm / fl->total, (s->rss - s->base) / fl->total,
           s->loss);
}

static void report(const Bench *b, const Options *o, const Summary *s, const GemmRef *r,
                   int hwm_ok)
{
    const Flops f = count_flops(&b->net);
    const Floor fl = memory_floor(b);
    const double achieved = (f.fwd + f.dw + f.dx) / 1e9 * b->cfg.batch / s->step;
    print_config(b, o);
    print_throughput(s, &f, b->cfg.batch);
    print_sgemm(r, achieved);
    print_table(s);
    print_split(s);
    print_memory(s, &fl, b, hwm_ok);
    if (!isfinite(s->loss))
        printf("warning: the loss is %g after the timed steps: timings may be off\n", s->loss);
    print_bench_line(b, o, s, r, &f, &fl);
    fflush(stdout);
}

/* ---- main --------------------------------------------------------------------------*/

/* One network at one batch size; returns an exit status agreed by all ranks. */
static int run_config(const char *path, int batch, const Options *o)
{
    static Bench b;
    char err[1024] = "";
    memset(&b, 0, sizeof b);
    int rc = load_config(&b, path, batch, err, sizeof err) != 0 ? EXIT_INPUT : 0;
    if ((rc = agree(rc, err))) return rc;
    double base, rss, hwm;
    malloc_trim(0);   /* what the previous configuration freed */
    read_mem(&base, &hwm);
    int hwm_ok = reset_hwm() == 0, all_ok = 0;
    rc = bench_setup(&b, err, sizeof err);
    if ((rc = agree(rc, err))) { bench_free(&b); return rc; }
    Timing t;
    run_steps(&b, o, &t);
    read_mem(&rss, &hwm);
    GemmRef ref;
    gemm_reference(&b, &ref);
    Summary s;
    summarize(&t, o->steps, &s);
    s.rss = reduce_d(rss, MPI_MAX);
    s.hwm = reduce_d(hwm, MPI_MAX);
    s.base = reduce_d(base, MPI_MAX);
    MPI_Reduce(&hwm_ok, &all_ok, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    if (g_rank == 0) report(&b, o, &s, &ref, all_ok);
    bench_free(&b);
    return 0;
}

/* Every config file is read before anything runs: a bad one stops the bench at once. */
static int check_configs(const Options *o)
{
    static Bench b;
    char err[1024] = "";
    int rc = 0;
    for (int i = 0; i < o->nconfigs && !rc; i++)
        rc = load_config(&b, o->configs[i], o->batches[0], err, sizeof err) != 0 ? EXIT_INPUT : 0;
    return agree(rc, err);
}

static int finish(int status)
{
    MPI_Finalize();
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
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
    if ((rc = check_configs(&o))) return finish(rc);
    print_header();
    for (int i = 0; i < o.nconfigs && !rc; i++)
        for (int j = 0; j < o.nbatches && !rc; j++)
            rc = run_config(o.configs[i], o.batches[j], &o);
    return finish(rc);
}
