/* inna: train a network described in a config file with INNA (or SGD, Adam,
 * Adagrad), data-parallel over MPI.  Rank 0 alone prints and writes files.
 *
 * Exit status: 0 done; 2 bad input (usage, config, data, output folder);
 * 3 diverged (non-finite loss); 4 ranks disagree on the parameters;
 * 1 anything else. */
#define _GNU_SOURCE /* strcasestr */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "state.h"
#include "trainer.h"
#include <zlib.h>

#define EXIT_INPUT 2
#define EXIT_DIVERGED 3
#define EXIT_DISAGREE 4

static int g_rank, g_size;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mpirun -np N inna [options] CONFIG.ini\n"
        "       inna [options] CONFIG.ini            (one rank)\n\n"
        "Trains the network of CONFIG with the optimizer it names; every config\n"
        "key can be overridden on the command line.\n\n"
        "options:\n"
        "  -s, --set SECTION.KEY=VALUE   override one config key (repeatable)\n"
        "  -p, --progress                a progress bar per epoch (default: when stdout is a\n"
        "                                terminal and not under mpirun, which always gives one)\n"
        "  -P, --no-progress             one line per epoch only, as in a log\n"
        "  -h, --help                    this help, with every config key\n"
        "  -V, --version                 print the version\n\n"
        "exit status: 0 done, 2 bad input, 3 diverged, 4 ranks disagree, 1 other failure\n\n"
        "config keys (defaults):\n");
    config_print_keys(f);
}

/* Rank 0 prints; a failure seen only by other ranks is printed by the lowest of them. */
static int agree(int rc, const char *msg)
{
    int worst = 0, first_bad = g_size, mine = rc ? g_rank : g_size;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc && g_rank == first_bad && msg[0]) {  /* empty: already reported */
        if (g_rank == 0) fprintf(stderr, "inna: %s\n", msg);
        else fprintf(stderr, "inna: rank %d: %s\n", g_rank, msg);
    }
    return worst;
}

static int finish(int status)
{
    MPI_Finalize();
    return status;
}

/* mkdir -p, then a probe file: an unwritable folder is found before training. */
static int prepare_out_dir(const char *dir, char *err, size_t errlen)
{
    char path[CONFIG_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "run.out: cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        *p = saved;
        if (!saved) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "run.out: %s is not a folder", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/.inna-write-probe", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "run.out: %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    fclose(f);
    unlink(path);
    return 0;
}

/* OPENBLAS_CORETYPE can force a kernel weaker than the CPU's (e.g. Haswell's
 * AVX2 on an AVX-512 CPU): say so, since it halves GEMM speed. */
static void report_blas(void)
{
    const char *core = openblas_get_corename();
    const char *forced = getenv("OPENBLAS_CORETYPE");
    printf("BLAS: OpenBLAS %s kernel, %d thread(s) per rank\n", core, openblas_get_num_threads());
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    int weak = strcasestr(core, "skylakex") == NULL && strcasestr(core, "cooperlake") == NULL
               && strcasestr(core, "sapphire") == NULL;
    if (forced && avx512 && weak)
        printf("warning: OPENBLAS_CORETYPE=%s selects the %s kernel, but this CPU has AVX-512 "
               "(SkylakeX kernel); GEMM runs at about half speed. Unset it for full speed.\n",
               forced, core);
}

static void report_start(const Trainer *t)
{
    const Config *c = t->cfg;
    const Net *net = &t->net;
    printf("inna %s: %d rank(s), global batch %d in %d chunk(s) of %d; this rank: chunks %d..%d\n",
           INNA_VERSION, g_size, c->batch, t->nchunks, t->chunk, t->chunk_first, t->chunk_last - 1);
    printf("reduction: %s\n", c->reduction == REDUCE_EXACT
           ? "exact (128-bit fixed-point sum: the same bits for any ranks and threads)"
           : "fast (float sum: bits depend on the number of ranks)");
    report_blas();
    printf("network: %d layers, input %dx%dx%d, %d classes, %zu parameters\n", net->nlayers,
           net->input.c, net->input.h, net->input.w, net->classes, net->nparams);
    printf("data: %ld training, %ld test samples; %ld steps per epoch, %ld steps in all\n",
           t->train.n, t->test.n, t->sampler.steps_per_epoch, trainer_total_steps(t));
    static const char *names[] = {"inna", "sgd", "adam", "adagrad"};
    const OptimConfig *o = &c->optim;
    printf("optimizer: %s, gamma_k = %g (k+1)^-%g", names[o->kind], o->lr, o->q);
    if (o->kind == OPT_INNA)
        printf(", alpha %g, beta %g, psi0 %s", o->alpha, o->beta, o->psi0 == PSI0_PAPER ? "paper" : "zero");
    printf("\n");
    if (o->kind == OPT_INNA && o->lr > o->beta)
        printf("warning: optim.lr = %g > optim.beta = %g: the psi update contracts by "
               "(1 - gamma/beta) and will overshoot\n", o->lr, o->beta);
    fflush(stdout);
}

static void format_time(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress_bar(long epoch, long done, long per_epoch, double loss, double ips, double eta)
{
    char bar[31], etabuf[32];
    int fill = (int)(30 * done / (per_epoch ? per_epoch : 1));
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = '\0';
    format_time(eta, etabuf, sizeof etabuf);
    printf("\repoch %ld [%s] %ld/%ld loss %.4f %.0f img/s ETA %s ", epoch + 1, bar, done,
           per_epoch, loss, ips, etabuf);
    fflush(stdout);
}

/* Every rank applies the same update to the same v_k, so the parameter
 * buffers must stay identical; a CRC-32 of each (zlib) compared across ranks
 * catches a rank that went astray (bad memory, a bug, a perturbed node).
 * Returns 0 when all agree; otherwise rank 0 names the step and the ranks. */
static unsigned long params_crc(const Net *net)
{
    return crc32_z(0L, (const Bytef *)net->params, net->nparams * sizeof(float));
}

static int check_agreement(const Trainer *t, long step)
{
    unsigned long crc = params_crc(&t->net);
    unsigned long lo = crc, hi = crc;
    MPI_Allreduce(&crc, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&crc, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (lo == hi) return 0;
    unsigned long *all = g_rank == 0 ? malloc(sizeof *all * (size_t)g_size) : NULL;
    MPI_Gather(&crc, 1, MPI_UNSIGNED_LONG, all, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
    if (g_rank == 0) {
        int odd = 1;  /* name a rank that differs from rank 0 */
        while (odd < g_size && all && all[odd] == all[0]) odd++;
        fprintf(stderr, "inna: ranks disagree after step %ld: parameter hash %08lx on rank 0, "
                "%08lx on rank %d\n", step, all ? all[0] : crc, all && odd < g_size ? all[odd] : 0UL,
                odd);
        free(all);
    }
    return EXIT_DISAGREE;
}

/* Test hook: INNA_TEST_PERTURB="RANK:STEP" changes one parameter on RANK after
 * STEP, so the tests can see check_agreement catch it. */
static void test_perturb(Trainer *t, long step)
{
    const char *spec = getenv("INNA_TEST_PERTURB");
    int rank;
    long at;
    if (spec && sscanf(spec, "%d:%ld", &rank, &at) == 2 && rank == g_rank && at == step)
        t->net.params[0] += 1e-3f;
}

typedef struct {
    double loss_sum, acc_sum;
    long steps;
    double start;
} EpochTally;

static int save_model(Trainer *t, const char *config_ini, char *err, size_t errlen)
{
    char path[CONFIG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/model.h5", t->cfg->out);
    return model_save_h5(&t->net, path, config_ini, err, errlen);
}

/* The training loop.  Returns an exit status. */
static int run(Trainer *t, int progress)
{
    const long total = trainer_total_steps(t), per_epoch = t->sampler.steps_per_epoch;
    const double t_start = MPI_Wtime();
    EpochTally ep = {0, 0, 0, t_start};
    for (long k = 0; k < total; k++) {
        StepStats st;
        train_step(t, k, &st);
        if (!isfinite(st.loss)) {
            if (g_rank == 0)
                fprintf(stderr, "inna: diverged at step %ld: loss is %g (optim.lr %g, q %g, "
                        "alpha %g, beta %g); lower optim.lr\n", k, st.loss, t->cfg->optim.lr,
                        t->cfg->optim.q, t->cfg->optim.alpha, t->cfg->optim.beta);
            return EXIT_DIVERGED;
        }
        test_perturb(t, k + 1);
        if (t->cfg->check_every > 0 && (k + 1) % t->cfg->check_every == 0
            && check_agreement(t, k + 1) != 0)
            return EXIT_DISAGREE;
        ep.loss_sum += st.loss;
        ep.acc_sum += st.accuracy;
        ep.steps++;
        const long epoch = k / per_epoch, in_epoch = k % per_epoch + 1;
        const double elapsed = MPI_Wtime() - ep.start;
        if (progress && g_rank == 0 && (in_epoch % 10 == 0 || in_epoch == per_epoch))
            progress_bar(epoch, in_epoch, per_epoch, ep.loss_sum / ep.steps,
                         ep.steps * t->cfg->batch / elapsed,
                         elapsed / ep.steps * (per_epoch - in_epoch));
        if (in_epoch == per_epoch || k == total - 1) {
            double test_loss, test_acc;
            evaluate(t, &t->test, &test_loss, &test_acc);
            if (g_rank == 0) {
                char tbuf[32];
                format_time(MPI_Wtime() - t_start, tbuf, sizeof tbuf);
                if (progress) printf("\r\033[K");
                printf("epoch %ld step %ld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% "
                       "| %.0f img/s | %s\n", epoch + 1, k + 1, ep.loss_sum / ep.steps,
                       100.0 * ep.acc_sum / ep.steps, test_loss, 100.0 * test_acc,
                       ep.steps * t->cfg->batch / elapsed, tbuf);
                fflush(stdout);
            }
            ep = (EpochTally){0, 0, 0, MPI_Wtime()};
        }
    }
    /* The model written must be every rank's model. */
    if (total > 0 && t->cfg->check_every > 0 && check_agreement(t, total) != 0) return EXIT_DISAGREE;
    if (g_rank == 0)   /* for comparing runs: the same seed and config give the same hash */
        printf("parameters: crc32 %08lx after %ld steps\n", params_crc(&t->net), total);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);

    static Config cfg;
    char err[1024] = "";
    /* Open MPI hands every rank a pseudo-terminal, so under mpirun isatty says
     * nothing about where the output goes: the launcher must ask with -p. */
    int rc = 0, progress = isatty(STDOUT_FILENO) && !getenv("OMPI_COMM_WORLD_SIZE");
    config_defaults(&cfg);
    static const struct option opts[] = {
        {"set", required_argument, 0, 's'}, {"progress", no_argument, 0, 'p'},
        {"no-progress", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    /* Overrides are applied after the file, in order: collect them first. */
    const char *sets[256];
    int nsets = 0, opt;
    while ((opt = getopt_long(argc, argv, "s:pPhV", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (nsets == 256) { snprintf(err, sizeof err, "too many --set options"); rc = EXIT_INPUT; }
            else sets[nsets++] = optarg;
            break;
        case 'p': progress = 1; break;
        case 'P': progress = 0; break;
        case 'h': if (g_rank == 0) usage(stdout); return finish(0);
        case 'V': if (g_rank == 0) printf("inna %s\n", INNA_VERSION); return finish(0);
        default:  if (g_rank == 0) fprintf(stderr, "inna: see inna --help\n"); return finish(EXIT_INPUT);
        }
    }
    if (!rc && optind != argc - 1) {
        snprintf(err, sizeof err, "%s (see inna --help)", optind < argc ? "one config file expected" : "no config file given");
        rc = EXIT_INPUT;
    }
    if (!rc && config_load_file(&cfg, argv[optind], err, sizeof err) != 0) rc = EXIT_INPUT;
    for (int i = 0; !rc && i < nsets; i++)
        if (config_set(&cfg, sets[i], err, sizeof err) != 0) rc = EXIT_INPUT;
    if (!rc && config_validate(&cfg, err, sizeof err) != 0) rc = EXIT_INPUT;
    if ((rc = agree(rc, err))) return finish(rc);

    for (int i = 0; i < cfg.nlayers; i++)
        if (cfg.layers[i].type == L_DROPOUT && cfg.layers[i].rate < 0) cfg.layers[i].rate = cfg.dropout;
    if (cfg.threads > 0) openblas_set_num_threads(cfg.threads);

    static Trainer t;
    rc = trainer_setup(&t, &cfg, g_rank, g_size, err, sizeof err);
    if ((rc = agree(rc, err))) return finish(rc);
    if (g_rank == 0 && prepare_out_dir(cfg.out, err, sizeof err) != 0) rc = EXIT_INPUT;
    if ((rc = agree(rc, err))) return finish(rc);

    char *config_ini = config_to_ini(&cfg);
    if (g_rank == 0) report_start(&t);
    rc = run(&t, progress);
    if (rc == 0 && g_rank == 0 && save_model(&t, config_ini, err, sizeof err) != 0) rc = 1;
    if ((rc = agree(rc, err)) == 0 && g_rank == 0) printf("model: %s/model.h5\n", cfg.out);
    free(config_ini);
    trainer_free(&t);
    return finish(rc);
}
