/* inna-toy: INNA on the 2-D nonsmooth toy of design note section 5 / paper
 * Figure 1.  J(t1, t2) = 100 (t2 - |t1|)^2 + |1 - t1|, start (-1, 1.5),
 * constant gamma = 1e-4, (alpha, beta) in {(0.5, 0.01), (0.5, 0.1), (1.3, 0.1)}.
 * Writes the recorded iterates as CSV: alpha,beta,iter,theta1,theta2,J.
 * theta and psi are floats (the real optimizer): near (1, 1) the increments
 * gamma*b*v fall below half an ulp of 1, theta1 lands exactly on the kink
 * 1.0f and the run freezes (J ~ 1e-7..1e-9), where double precision keeps
 * oscillating across the kink with J ~ 5e-6. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toy.h"

#define TOY_GAMMA 1e-4

static const double settings[][2] = {{0.5, 0.01}, {0.5, 0.1}, {1.3, 0.1}};
enum { NSETTINGS = sizeof settings / sizeof settings[0] };

typedef struct {
    long iterations, every;
    const char *out;
    Psi0Kind psi0;
} ToyArgs;

typedef struct {
    FILE *f;
    double alpha, beta;
} CsvSink;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: inna-toy [--iterations N] [--every N] [--psi0 zero|paper] [--out FILE]\n"
        "  INNA on J = 100 (t2 - |t1|)^2 + |1 - t1| from (-1, 1.5), gamma = 1e-4,\n"
        "  (alpha, beta) = (0.5, 0.01), (0.5, 0.1), (1.3, 0.1).\n"
        "  --iterations N   INNA steps per setting (default 100000)\n"
        "  --every N        record every Nth iterate, and the last (default 10)\n"
        "  --psi0 KIND      zero: psi0 = (1 - ab) theta0 (default, the figure);\n"
        "                   paper: initial velocity -grad J(theta0)\n"
        "  --out FILE       CSV output (default results/toy/trajectories.csv)\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "inna-toy: %s%s%s (try --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* Parses a positive long; returns 0 on success. */
static int parse_count(const char *s, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x <= 0) return -1;
    *out = x;
    return 0;
}

static int is_option(const char *s)
{
    return !strcmp(s, "--iterations") || !strcmp(s, "--every") || !strcmp(s, "--out") ||
           !strcmp(s, "--psi0");
}

/* Returns -1 to continue, otherwise the exit status. */
static int parse_args(int argc, char **argv, ToyArgs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { usage(stdout); return 0; }
        if (!is_option(opt)) return usage_error("unknown option", opt);
        if (i + 1 >= argc) return usage_error("missing value for", opt);
        const char *val = argv[++i];
        if (!strcmp(opt, "--iterations")) {
            if (parse_count(val, &a->iterations)) return usage_error("bad --iterations", val);
        } else if (!strcmp(opt, "--every")) {
            if (parse_count(val, &a->every)) return usage_error("bad --every", val);
        } else if (!strcmp(opt, "--out")) {
            a->out = val;
        } else if (!strcmp(opt, "--psi0")) {
            int k = PSI0_NKINDS;
            while (--k >= 0 && strcmp(val, psi0_names[k]) != 0) {}
            if (k < 0) return usage_error("--psi0 must be zero or paper", val);
            a->psi0 = (Psi0Kind)k;
        }
    }
    return -1;
}

static void csv_record(void *ctx, long k, const float theta[2], double J)
{
    CsvSink *s = ctx;
    fprintf(s->f, "%g,%g,%ld,%.9g,%.9g,%.9g\n", s->alpha, s->beta, k, theta[0], theta[1], J);
}

int main(int argc, char **argv)
{
    ToyArgs a = {.iterations = 100000, .every = 10,
                 .out = "results/toy/trajectories.csv", .psi0 = PSI0_ZERO};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    CsvSink sink = {.f = fopen(a.out, "w")};
    if (!sink.f) { perror(a.out); return 1; }
    fprintf(sink.f, "alpha,beta,iter,theta1,theta2,J\n");
    printf("psi0 = %s, gamma = %g, %ld iterations\n",
           a.psi0 == PSI0_PAPER ? "paper (velocity -grad J)" : "zero velocity", TOY_GAMMA,
           a.iterations);
    for (int s = 0; s < NSETTINGS; s++) {
        float th[2];
        sink.alpha = settings[s][0];
        sink.beta = settings[s][1];
        double J = toy_run(sink.alpha, sink.beta, a.psi0, TOY_GAMMA, a.iterations, a.every,
                           csv_record, &sink, th);
        printf("alpha=%g beta=%g: theta = (%.7g, %.7g), J = %.4g\n",
               sink.alpha, sink.beta, th[0], th[1], J);
    }
    if (fclose(sink.f)) { perror(a.out); return 1; }
    printf("wrote %s\n", a.out);
    return 0;
}
