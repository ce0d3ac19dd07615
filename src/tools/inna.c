/* inna: train a network described in a config file with INNA (or SGD, Adam,
 * Adagrad), data-parallel over MPI.  Rank 0 alone prints and writes files.
 *
 * Exit status: 0 done; 2 bad input (usage, config, data, checkpoint, output
 * folder); 3 diverged (non-finite loss or subgradient); 4 ranks disagree on
 * the parameters; 5 stopped by SIGTERM/SIGINT after writing a checkpoint
 * (resume with --resume); 1 anything else (e.g. a file could not be written). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checkpoint.h"
#include "config.h"
#include "metrics.h"
#include "placement.h"
#include "program.h"
#include "runfolder.h"
#include "state.h"
#include "trainer.h"

const char program_name[] = "inna";
static int g_rank, g_size;
/* What computes this run: "onednn (oneDNN 2.6.3, avx512_core)"; printed,
 * stored in checkpoints, compared across ranks and with a resumed checkpoint. */
static char g_engine[160];

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mpirun -np N inna [options] CONFIG.ini\n"
        "       mpirun -np N inna --resume RUN_FOLDER|CHECKPOINT.h5 [options] [CONFIG.ini]\n"
        "       inna [options] CONFIG.ini            (one rank)\n\n"
        "Trains the network of CONFIG with the optimizer it names; every config\n"
        "key can be overridden on the command line.  The run folder (run.out) gets\n"
        "checkpoints ckpt-<step>.h5 with " RUN_LATEST " pointing at the newest, " RUN_METRICS "\n"
        "(per step and per epoch) and " RUN_MODEL " at the end.\n\n"
        "options:\n"
        "  -s, --set SECTION.KEY=VALUE   override one config key (repeatable)\n"
        "  -r, --resume PATH             continue from a checkpoint, or from the newest one\n"
        "                                in a run folder, bit for bit as if never stopped\n"
        "                                (any number of ranks); the config is the stored one\n"
        "                                unless CONFIG is given; only the step budget,\n"
        "                                logging, checkpoint keys, run.out and data file\n"
        "                                paths may change\n"
        "  -p, --progress                a progress bar per epoch (default: when stdout is a\n"
        "                                terminal and not under mpirun, which always gives one)\n"
        "  -P, --no-progress             one line per epoch only, as in a log\n"
        "  -c, --check                   read and check the config (and --set) only: print\n"
        "                                the resolved config, exit 0, or the error, exit 2\n"
        "  -h, --help                    this help, with every config key\n"
        "  -V, --version                 print the version\n\n"
        "exit status: 0 done, 2 bad input, 3 diverged, 4 ranks disagree, 5 stopped by\n"
        "SIGTERM/SIGINT with a checkpoint written (resume it), 1 other failure (e.g. a\n"
        "file could not be written: earlier checkpoints stay valid)\n\n"
        "config keys (defaults):\n");
    config_print_keys(f);
}

/* Ranks that compute with another engine, library version or instruction
 * set give other bits for the same chunk (a mixed cluster): exact mode
 * refuses to start, naming them; fast mode, whose bits depend on the ranks
 * anyway, warns.  Returns 0 or EXIT_INPUT (reported). */
static int check_same_engine(const Config *c)
{
    enum { LEN = sizeof g_engine };
    char *all = g_rank == 0 ? malloc((size_t)g_size * LEN) : NULL;
    int rc = g_rank == 0 && !all;
    if ((rc = agree(rc, "out of memory"))) return rc;
    MPI_Gather(g_engine, LEN, MPI_CHAR, all, LEN, MPI_CHAR, 0, MPI_COMM_WORLD);
    char msg[1024] = "", ranks[256] = "";
    const char *other = NULL;   /* the first description unlike rank 0's, and its ranks */
    for (int r = 1; g_rank == 0 && r < g_size; r++) {
        const char *e = all + (size_t)r * LEN;
        if (strcmp(e, g_engine) == 0 || (other && strcmp(e, other) != 0)) continue;
        other = e;
        const size_t at = strlen(ranks);
        snprintf(ranks + at, sizeof ranks - at, "%s%d", at ? ", " : "", r);
    }
    if (other)
        snprintf(msg, sizeof msg, "run.engine: rank 0 computes with %s but rank(s) %s with %s: "
                 "a chunk's bits would depend on where it runs (cap the instruction set with "
                 "ONEDNN_MAX_CPU_ISA or OPENBLAS_CORETYPE on every node)", g_engine, ranks, other);
    free(all);
    if (msg[0] && c->reduction == REDUCE_FAST) {
        printf("warning: %s\n", msg + strlen("run.engine: "));
        msg[0] = '\0';
    }
    return agree(msg[0] ? EXIT_INPUT : 0, msg);
}

static void report_start(const Trainer *t)
{
    const Config *c = t->cfg;
    const Net *net = &t->net;
    printf("inna %s: %d rank(s), global batch %d in %d chunk(s) of %d, %d..%d chunk(s) per rank\n",
           INNA_VERSION, g_size, c->batch, t->nchunks, t->chunk, t->nchunks / g_size,
           (t->nchunks + g_size - 1) / g_size);
    printf("reduction: %s%s\n", c->reduction == REDUCE_EXACT
           ? "exact (128-bit fixed-point sum: the same bits for any ranks and threads)"
           : "fast (float sum: bits depend on the number of ranks)",
           t->gather ? "; the chunks' floats gathered (dist.gather), summed by every rank" : "");
    if (c->reduction == REDUCE_EXACT)
        printf("threads: %d worker(s) per rank on whole chunks (%s), 1 thread per layer call: the "
               "bits do not depend on ranks, threads or the environment\n", t->nworkers,
               c->threads > 0 ? "run.threads" : "auto: the rank's cores, at most its chunks");
    else
        printf("threads: %d thread(s) per layer call (%s)\n", t->blas_threads,
               c->threads > 0 ? "run.threads" : "auto: the rank's cores");
    char impl[512];
    net_describe_impl(net, impl, sizeof impl);
    printf("engine: %s%s; %s\n", g_engine, c->engine == ENGINE_AUTO ? " (auto)" : "", impl);
    if (net->engine == ENGINE_OPENBLAS) report_blas();
    printf("network: %d layers, input %dx%dx%d, %d classes, %zu parameters\n", net->nlayers,
           net->input.c, net->input.h, net->input.w, net->classes, net->nparams);
    printf("data: %ld training, %ld test samples; %ld steps per epoch, %ld steps in all\n",
           t->train.n, t->test.n, t->sampler.steps_per_epoch, trainer_total_steps(t));
    const OptimConfig *o = &c->optim;
    printf("optimizer: %s, gamma_k = %g (k+1)^-%g", optim_name(o->kind), o->lr, o->q);
    if (o->warmup > 0) printf(" x min(1, (k+1)/%ld)", o->warmup);
    if (o->kind == OPT_INNA)
        printf(", alpha %g, beta %g, psi0 %s", o->alpha, o->beta, psi0_name(o->psi0));
    printf("\n");
    if (o->kind == OPT_INNA && o->alpha == 0)
        printf("warning: optim.alpha = 0: the paper's convergence results assume alpha > 0 "
               "(no viscous damping here)\n");
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

/* Where a log (stdout not a terminal: mpirun, SLURM, nohup) shows progress
 * between epochs: every run.log_every seconds, the step, the epoch's mean
 * loss so far, the step size, the speed since the last line and the time
 * left in the epoch and in the run at that speed (evaluations not counted). */
typedef struct {
    double at;              /* when the last line was printed (or the start) */
    long step;              /* the steps done then                            */
} LogMark;

static void log_line(const Trainer *t, long done, double loss, LogMark *mark)
{
    const Config *c = t->cfg;
    const long total = trainer_total_steps(t), per_epoch = t->sampler.steps_per_epoch;
    const double now = MPI_Wtime(), step_s = (now - mark->at) / (double)(done - mark->step);
    const long left_epoch = (per_epoch - done % per_epoch) % per_epoch;
    char epoch_eta[32], run_eta[32];
    format_time(step_s * (double)left_epoch, epoch_eta, sizeof epoch_eta);
    format_time(step_s * (double)(total - done), run_eta, sizeof run_eta);
    printf("step %ld/%ld epoch %ld: loss %.4f (epoch mean) lr %.4g | %.0f img/s | epoch ends in %s, "
           "run in %s\n", done, total, (done - 1) / per_epoch + 1, loss,
           optim_step_size(&c->optim, done - 1), c->batch / step_s, epoch_eta, run_eta);
    fflush(stdout);
    *mark = (LogMark){ now, done };
}

/* Every rank applies the same update to the same v_k, so the parameter
 * buffers must stay identical; train_step compares a CRC-32 of each across
 * ranks every run.check_every steps (trainer_params_agree).  After a
 * mismatch rank 0 names the step and a rank that differs from it. */
static int report_disagreement(long step, unsigned long crc)
{
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
 * STEP (train_step does it, before its agreement check), so the tests can see
 * the check catch it. */
static void set_test_perturb(Trainer *t)
{
    const char *spec = getenv("INNA_TEST_PERTURB");
    int rank;
    long at;
    if (spec && sscanf(spec, "%d:%ld", &rank, &at) == 2 && rank == g_rank && at > 0)
        t->test_perturb_after = at;
}

typedef struct {
    double loss_sum, acc_sum;
    long steps;
    double start;
} EpochTally;

/* What the run writes besides the model: checkpoints and metrics (rank 0). */
typedef struct {
    const char *config_ini;
    Metrics *metrics;
    long start;             /* the first step this process runs            */
    long ckpt_n;            /* checkpoints written, and the seconds they took */
    double ckpt_s;
} RunFiles;

/* SIGTERM (what SLURM sends before the kill), SIGINT and SIGUSR1 (which
 * mpirun forwards at once, and SLURM's --signal can send ahead of time) only
 * raise a flag; the ranks agree on it after the step, checkpoint and stop.
 * A file-size limit must give a write error we report, not a silent death. */
static volatile sig_atomic_t g_signal;
static void on_signal(int sig) { g_signal = sig; }

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

static int save_model(Trainer *t, const char *config_ini, char *err, size_t errlen)
{
    char path[CONFIG_PATH_MAX + 16];
    runfolder_path(path, sizeof path, t->cfg->out, RUN_MODEL);
    return model_save_h5(&t->net, path, config_ini, err, errlen);
}

/* Rank 0 writes the metrics so far, then the checkpoint of `done` steps; the
 * ranks agree on the outcome.  Returns 0 or 1 (reported). */
static int save_checkpoint(Trainer *t, RunFiles *f, long done)
{
    char err[1024] = "";
    int rc = 0;
    const double t0 = MPI_Wtime();
    if (g_rank == 0) {
        CheckpointMeta m = { .step = done, .nranks = g_size, .reduce_exp = 0, .seed = t->cfg->seed };
        snprintf(m.engine, sizeof m.engine, "%s", g_engine);
        if (f->metrics && metrics_flush(f->metrics, err, sizeof err) != 0) rc = 1;
        else if (checkpoint_save(t->cfg->out, &t->net, &t->opt, &m, f->config_ini,
                                 t->cfg->ckpt_keep, NULL, 0, err, sizeof err) != 0) rc = 1;
    }
    rc = agree(rc, err);
    f->ckpt_n++;
    f->ckpt_s += MPI_Wtime() - t0;
    return rc;
}

static int checkpoint_due(const Config *c, long done, long total, int epoch_end, int stop)
{
    return (c->ckpt_every > 0 && done % c->ckpt_every == 0) || (c->ckpt_epoch && epoch_end)
           || done == total || stop;
}

static int record_step(RunFiles *f, const Trainer *t, long k, const StepStats *st, double step_s)
{
    char err[1024] = "";
    int rc = 0;
    if (g_rank == 0 && f->metrics) {
        StepRow r = { .step = k, .epoch = sampler_epoch(&t->sampler, k), .loss = st->loss,
                      .accuracy = st->accuracy, .lr = optim_step_size(&t->cfg->optim, k),
                      .step_s = step_s, .compute_s = st->compute_s, .comm_s = st->comm_s,
                      .images_s = t->cfg->batch / step_s };
        if (metrics_add_step(f->metrics, &r, err, sizeof err) != 0) {
            fprintf(stderr, "inna: %s\n", err);
            rc = 1;
        }
    }
    return rc;
}

/* Test evaluation and the epoch's line; a whole epoch also gets its metrics
 * row (a run that ends mid-epoch prints the line only, so that an epoch has
 * one row even when the run is resumed there). */
static int end_epoch(Trainer *t, RunFiles *f, long k, const EpochTally *ep, double t_start,
                     int progress, int whole)
{
    double test_loss, test_acc;
    char err[1024] = "";
    int rc = 0;
    evaluate(t, &t->test, &test_loss, &test_acc);
    if (g_rank == 0) {
        const long epoch = sampler_epoch(&t->sampler, k);
        const double now = MPI_Wtime(), elapsed = now - ep->start;
        char tbuf[32];
        format_time(now - t_start, tbuf, sizeof tbuf);
        if (progress) printf("\r\033[K");
        printf("epoch %ld step %ld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% "
               "| %.0f img/s | %s\n", epoch + 1, k + 1, ep->loss_sum / ep->steps,
               100.0 * ep->acc_sum / ep->steps, test_loss, 100.0 * test_acc,
               ep->steps * t->cfg->batch / elapsed, tbuf);
        fflush(stdout);
        EpochRow r = { .epoch = epoch, .step = k + 1, .train_loss = ep->loss_sum / ep->steps,
                       .train_acc = ep->acc_sum / ep->steps, .test_loss = test_loss,
                       .test_acc = test_acc, .elapsed_s = now - t_start };
        if (whole && f->metrics && metrics_add_epoch(f->metrics, &r, err, sizeof err) != 0) rc = 1;
    }
    return agree(rc, err);
}

static void report_divergence(const Trainer *t, long k)
{
    const OptimConfig *o = &t->cfg->optim;
    if (g_rank == 0)
        fprintf(stderr, "inna: diverged at step %ld: the loss or a subgradient is not finite "
                "(optim %s, lr %g, q %g, alpha %g, beta %g, momentum %g); the last good "
                "checkpoint is kept; lower optim.lr\n", k, optim_name(o->kind), o->lr, o->q, o->alpha,
                o->beta, o->momentum);
}

/* The training loop from step f->start.  Returns an exit status. */
static int run(Trainer *t, RunFiles *f, int progress)
{
    const Config *c = t->cfg;
    const long total = trainer_total_steps(t), per_epoch = t->sampler.steps_per_epoch;
    const double t_start = MPI_Wtime();
    EpochTally ep = {0, 0, 0, t_start};
    LogMark mark = { t_start, f->start };
    if (c->ckpt_initial && f->start == 0 && save_checkpoint(t, f, 0) != 0) return 1;
    for (long k = f->start; k < total; k++) {
        StepStats st;
        const double t0 = MPI_Wtime();
        train_step(t, k, g_signal != 0, &st);
        if (!isfinite(st.loss)) {
            report_divergence(t, k);
            return EXIT_DIVERGED;
        }
        if (st.params_differ) return report_disagreement(k + 1, st.params_crc);
        const int stop = st.stop;
        if (record_step(f, t, k, &st, MPI_Wtime() - t0) != 0) return 1;
        ep.loss_sum += st.loss;
        ep.acc_sum += st.accuracy;
        ep.steps++;
        const long in_epoch = k % per_epoch + 1;
        const double elapsed = MPI_Wtime() - ep.start;
        if (progress && g_rank == 0 && (in_epoch % 10 == 0 || in_epoch == per_epoch))
            progress_bar(k / per_epoch, in_epoch, per_epoch, ep.loss_sum / ep.steps,
                         ep.steps * c->batch / elapsed, elapsed / ep.steps * (per_epoch - in_epoch));
        const int epoch_end = in_epoch == per_epoch;
        if (!progress && g_rank == 0 && c->log_every > 0 && !epoch_end && k < total - 1
            && MPI_Wtime() - mark.at >= c->log_every)
            log_line(t, k + 1, ep.loss_sum / ep.steps, &mark);
        if (epoch_end || k == total - 1) {
            if (end_epoch(t, f, k, &ep, t_start, progress, epoch_end) != 0) return 1;
            ep = (EpochTally){0, 0, 0, MPI_Wtime()};
            mark = (LogMark){ ep.start, k + 1 };   /* the evaluation is not a step */
        }
        if (checkpoint_due(c, k + 1, total, epoch_end, stop) && save_checkpoint(t, f, k + 1) != 0)
            return 1;
        if (stop) {
            if (g_rank == 0)
                fprintf(stderr, "inna: stopped by a signal after step %ld; checkpoint written: "
                        "continue with  inna --resume %s\n", k + 1, c->out);
            return EXIT_STOPPED;
        }
    }
    /* The model written must be every rank's model. */
    unsigned long crc;
    if (total > 0 && c->check_every > 0 && !trainer_params_agree(t, &crc))
        return report_disagreement(total, crc);
    if (g_rank == 0) {  /* for comparing runs: the same seed and config give the same hash */
        const double run_s = MPI_Wtime() - t_start;
        printf("checkpoints: %ld written in %.2f s, %.2f%% of the run's %.0f s\n", f->ckpt_n,
               f->ckpt_s, run_s > 0 ? 100.0 * f->ckpt_s / run_s : 0.0, run_s);
        if (f->start > total)
            printf("the checkpoint is at step %ld, past the budget of %ld steps: nothing to train\n",
                   f->start, total);
        printf("parameters: crc32 %08lx after %ld steps\n", trainer_params_crc(t),
               f->start > total ? f->start : total);
    }
    return 0;
}

/* ---- resuming ------------------------------------------------------------------- */

/* Rank 0 finds the checkpoint and reads its config; every rank gets both.
 * Returns 0 or EXIT_INPUT (err set on rank 0). */
static int read_resume_config(const char *path, char *ckpt, size_t clen, char **text,
                              char *err, size_t errlen)
{
    int rc = 0;
    long len = 0;
    *text = NULL;
    if (g_rank == 0) {
        if (checkpoint_resolve(path, ckpt, clen, err, errlen) != 0
            || checkpoint_read_config(ckpt, text, err, errlen) != 0)
            rc = EXIT_INPUT;
        else
            len = (long)strlen(*text) + 1;
    }
    if ((rc = agree(rc, err))) return rc;
    MPI_Bcast(ckpt, (int)clen, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(&len, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    if (g_rank != 0 && !(*text = malloc((size_t)len))) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(*text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    return 0;
}

/* The resumed run's config: the stored one, or CONFIG if given, then --set;
 * refused if it changes more than the budget, logging or paths.  Without a
 * run.out of its own (from CONFIG or --set) the run continues in the
 * checkpoint's folder: that is the stored config's run.out here, before the
 * --set options are applied. */
static int resume_config(Config *cfg, const char *ckpt, const char *text, const char *file,
                         const char *const *sets, int nsets, char *err, size_t errlen)
{
    static Config saved;
    char name[CONFIG_PATH_MAX + 16];
    snprintf(name, sizeof name, "%s [config]", ckpt);
    config_defaults(&saved);
    if (config_load_text(&saved, text, name, err, errlen) != 0) return EXIT_INPUT;
    /* Runs from before dist.chunk <= train.batch was checked used one chunk
     * of the whole batch: the same trajectory as chunk = batch. */
    if (saved.reduction == REDUCE_EXACT && saved.chunk > saved.batch) saved.chunk = saved.batch;
    *cfg = saved;
    if (file) {
        config_defaults(cfg);
        if (config_load_file(cfg, file, err, errlen) != 0) return EXIT_INPUT;
    } else if (runfolder_dir_of(cfg->out, sizeof cfg->out, ckpt) != 0) {
        snprintf(err, errlen, RUN_TOO_LONG);
        return EXIT_INPUT;
    }
    for (int i = 0; i < nsets; i++)
        if (config_set(cfg, sets[i], err, errlen) != 0) return EXIT_INPUT;
    if (config_validate(cfg, err, errlen) != 0) return EXIT_INPUT;
    config_resolve_dropout(cfg);   /* as the stored config was */
    return config_resume_check(&saved, cfg, ckpt, err, errlen) != 0 ? EXIT_INPUT : 0;
}

/* Rank 0 loads the checkpoint into its trainer; every rank gets the same
 * parameters, optimizer state and step. */
static int load_resume_state(Trainer *t, const char *ckpt, long *start, char *err, size_t errlen)
{
    CheckpointMeta m = {0};
    int rc = 0;
    if (g_rank == 0 && checkpoint_load(ckpt, &t->net, &t->opt, &m, err, errlen) != 0) rc = EXIT_INPUT;
    if ((rc = agree(rc, err))) return rc;
    const size_t nstate = (size_t)t->opt.nstate * t->net.nparams;
    MPI_Bcast(t->net.params, (int)t->net.nparams, MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (nstate) MPI_Bcast(t->opt.state, (int)nstate, MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Bcast(&t->opt.initialized, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(&m.step, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    *start = m.step;
    if (g_rank == 0)
        printf("resumed from %s at step %ld (written by %d rank(s))\n", ckpt, m.step, m.nranks);
    if (g_rank == 0 && m.engine[0] && strcmp(m.engine, g_engine) != 0)
        printf("warning: the checkpoint was computed with %s, this run computes with %s: from here "
               "on the bits differ from a run that stayed there\n", m.engine, g_engine);
    return 0;
}

/* On resume the earlier metrics are read back: a file that cannot be read is
 * bad input (exit 2), like a bad checkpoint; failing to write is not. */
static int open_metrics(RunFiles *f, const Config *cfg, int resumed, char *err, size_t errlen)
{
    char path[CONFIG_PATH_MAX + 16];
    if (g_rank != 0) return 0;
    runfolder_path(path, sizeof path, cfg->out, RUN_METRICS);
    const int rc = metrics_open(&f->metrics, path, resumed ? f->start : -1, 1024, err, errlen);
    if (rc != METRICS_BAD_FILE) return rc == 0 ? 0 : 1;
    const size_t n = strlen(err);
    if (resumed) snprintf(err + n, errlen - n, " (move it away to resume without the earlier metrics)");
    return EXIT_INPUT;
}

/* Rank 0 takes the run folder for this job (see runfolder.h). */
static int claim_out_dir(RunFolder *rf, const Config *cfg, int new_run, char *err, size_t errlen)
{
    rf->fd = -1;
    if (g_rank != 0) return 0;
    if (runfolder_claim(rf, cfg->out, new_run, err, errlen) != 0) return EXIT_INPUT;
    if (rf->stale)
        printf("%s: removed %d temporary file(s) left by a job that was killed\n", cfg->out, rf->stale);
    return 0;
}

int main(int argc, char **argv)
{
    program_start(&argc, &argv, &g_rank, &g_size);
    catch_signals();

    static Config cfg;
    char err[1024] = "";
    /* Open MPI hands every rank a pseudo-terminal, so under mpirun isatty says
     * nothing about where the output goes: the launcher must ask with -p. */
    int rc = 0, progress = isatty(STDOUT_FILENO) && !getenv("OMPI_COMM_WORLD_SIZE");
    int progress_on = 0, progress_off = 0, check_only = 0;
    const char *resume = NULL;
    config_defaults(&cfg);
    static const struct option opts[] = {
        {"set", required_argument, 0, 's'}, {"resume", required_argument, 0, 'r'},
        {"progress", no_argument, 0, 'p'}, {"no-progress", no_argument, 0, 'P'},
        {"check", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    /* Overrides are applied after the file, in order: collect them first. */
    const char *sets[256];
    int nsets = 0, opt;
    while ((opt = getopt_long(argc, argv, "s:r:pPchV", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (nsets == 256) { snprintf(err, sizeof err, "too many --set options"); rc = EXIT_INPUT; }
            else sets[nsets++] = optarg;
            break;
        case 'r': resume = optarg; break;
        case 'p': progress = progress_on = 1; break;
        case 'P': progress = 0, progress_off = 1; break;
        case 'c': check_only = 1; break;
        case 'h': if (g_rank == 0) usage(stdout); return finish(0);
        case 'V': if (g_rank == 0) printf("inna %s\n", INNA_VERSION); return finish(0);
        default:  if (g_rank == 0) fprintf(stderr, "inna: see inna --help\n"); return finish(EXIT_INPUT);
        }
    }
    const char *file = optind < argc ? argv[optind] : NULL;
    if (!rc && (optind < argc - 1 || (!file && !resume))) {
        snprintf(err, sizeof err, "%s (see inna --help)", file ? "one config file expected" : "no config file given");
        rc = EXIT_INPUT;
    }
    if (!rc && progress_on && progress_off) {
        snprintf(err, sizeof err, "--progress and --no-progress contradict each other (see inna --help)");
        rc = EXIT_INPUT;
    }
    char ckpt[CONFIG_PATH_MAX + 64] = "";
    char *stored = NULL;
    if (!rc && resume) {
        if ((rc = read_resume_config(resume, ckpt, sizeof ckpt, &stored, err, sizeof err)))
            return finish(rc);
        rc = resume_config(&cfg, ckpt, stored, file, sets, nsets, err, sizeof err);
    } else if (!rc) {
        if (config_load_file(&cfg, file, err, sizeof err) != 0) rc = EXIT_INPUT;
        for (int i = 0; !rc && i < nsets; i++)
            if (config_set(&cfg, sets[i], err, sizeof err) != 0) rc = EXIT_INPUT;
        if (!rc && config_validate(&cfg, err, sizeof err) != 0) rc = EXIT_INPUT;
        config_resolve_dropout(&cfg);
    }
    free(stored);
    if ((rc = agree(rc, err))) return finish(rc);
    if (check_only) {   /* what a study or a script checks before it starts anything */
        char *ini = g_rank == 0 ? config_to_ini(&cfg) : NULL;
        if (ini) fputs(ini, stdout);
        free(ini);
        return finish(0);
    }

    static Trainer t;
    const int cores = placement_cores(MPI_COMM_WORLD);
    rc = trainer_setup(&t, &cfg, g_rank, g_size, cores, err, sizeof err);
    if ((rc = agree(rc, err))) return finish(rc);
    set_test_perturb(&t);
    net_describe_engine(&t.net, g_engine, sizeof g_engine);
    if ((rc = check_same_engine(&cfg))) return finish(rc);
    RunFolder folder;   /* held until the process ends */
    if ((rc = agree(claim_out_dir(&folder, &cfg, !resume, err, sizeof err), err))) return finish(rc);
    RunFiles files = { .config_ini = config_to_ini(&cfg) };
    if (!files.config_ini) rc = 1;
    if ((rc = agree(rc, "out of memory")) == 0 && resume)
        rc = load_resume_state(&t, ckpt, &files.start, err, sizeof err);
    if (rc == 0) rc = agree(open_metrics(&files, &cfg, resume != NULL, err, sizeof err), err);
    if (rc == 0) {
        if (g_rank == 0) report_start(&t);
        rc = run(&t, &files, progress);
    }
    /* Failures so far were reported where they happened; after one, a
     * failing close adds nothing worth a second line. */
    char scratch[1024];
    if (rc) err[0] = '\0';
    if (metrics_close(files.metrics, rc ? scratch : err, sizeof err) != 0 && rc == 0) rc = 1;
    if (rc == 0 && g_rank == 0 && save_model(&t, files.config_ini, err, sizeof err) != 0) rc = 1;
    if ((rc = agree(rc, err)) == 0 && g_rank == 0) printf("model: %s/" RUN_MODEL "\n", cfg.out);
    free((char *)files.config_ini);
    trainer_free(&t);
    runfolder_release(&folder);
    return finish(rc);
}
