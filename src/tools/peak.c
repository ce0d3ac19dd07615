#define _GNU_SOURCE /* sched_getaffinity */
/* inna-peak: the machine's single-precision FMA peak in GFLOP/s, the ceiling
 * against which inna-bench's GFLOP/s are read (launch/peer.sh).
 *
 * For each instruction set the CPU has (__builtin_cpu_supports): AVX-512
 * (zmm, 16 floats) and AVX2 + FMA (ymm, 8 floats), every thread runs a loop
 * of independent chains of fused multiply-adds on registers, no memory
 * traffic: 16 (zmm) or 12 (ymm) chains, more than FMA latency (4 cycles)
 * times 2 FMA ports.  One thread per CPU of the affinity mask by
 * default (pinned to it), all started together behind a barrier; the figure
 * is the FLOPs of all threads over the wall time of the slowest.  An FMA
 * counts 2 FLOPs per lane.  The accumulators are summed and printed as a
 * checksum, so the loops cannot be optimised away.
 *
 * Exit status: 0 done, 2 bad usage, 1 anything else. */
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Independent FMA chains: enough to keep 2 FMA ports busy through a latency
 * of 4 cycles (8 in flight), with room to spare, and few enough to stay in
 * registers with the two constants: 32 zmm, but only 16 ymm without
 * AVX-512VL. */
#define CHAINS512 16
#define CHAINS256 12
#define INNER 1024 /* FMA rounds per chain between clock reads */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs INNER rounds of one FMA per chain at a time until `seconds` have passed;
 * returns the FMA instructions executed and adds the accumulators to *sum.
 * x * 1 + 0 keeps every value finite whatever the count: the multiplier is
 * slightly below 1 and the addend small, so the chains settle near a fixed
 * point instead of overflowing. */
__attribute__((target("avx512f"))) static long long loop_avx512(double seconds, float seed,
                                                                 double *sum)
{
    __m512 acc[CHAINS512];
    for (int i = 0; i < CHAINS512; i++) acc[i] = _mm512_set1_ps(seed + (float)i);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    long long calls = 0;
    const double end = now() + seconds;
    do {
        for (int r = 0; r < INNER; r++) {
#pragma GCC unroll 16
            for (int i = 0; i < CHAINS512; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
        calls++;
    } while (now() < end);
    __m512 t = acc[0];
    for (int i = 1; i < CHAINS512; i++) t = _mm512_add_ps(t, acc[i]);
    *sum += (double)_mm512_reduce_add_ps(t);
    return calls * INNER * CHAINS512;
}

__attribute__((target("avx2,fma"))) static long long loop_avx2(double seconds, float seed,
                                                               double *sum)
{
    __m256 acc[CHAINS256];
    for (int i = 0; i < CHAINS256; i++) acc[i] = _mm256_set1_ps(seed + (float)i);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    long long calls = 0;
    const double end = now() + seconds;
    do {
        for (int r = 0; r < INNER; r++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS256; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        }
        calls++;
    } while (now() < end);
    __m256 t = acc[0];
    for (int i = 1; i < CHAINS256; i++) t = _mm256_add_ps(t, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, t);
    for (int i = 0; i < 8; i++) *sum += (double)lanes[i];
    return calls * INNER * CHAINS256;
}

typedef struct {
    const char *name; /* as printed: avx512, avx2 */
    const char *cpu;  /* __builtin_cpu_supports' feature */
    int lanes;        /* floats per register */
    long long (*loop)(double, float, double *);
} Isa;

#define MAX_REPEAT 100
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
    const Isa *isa;
    int cpu;              /* CPU to pin to, -1 none */
    int repeat;           /* timed runs, each behind a barrier */
    double seconds;       /* per run */
    pthread_barrier_t *go;
    long long fmas[MAX_REPEAT];
    double sum, t0[MAX_REPEAT], t1[MAX_REPEAT];
} Work;

static void *worker(void *p)
{
    Work *w = p;
    if (w->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    }
    double warm = 0.0; /* a short untimed run: clocks up, pages in */
    w->isa->loop(0.05, 1.0f, &warm);
    for (int r = 0; r < w->repeat; r++) {
        pthread_barrier_wait(w->go);
        w->t0[r] = now();
        w->fmas[r] = w->isa->loop(w->seconds, 1.0f + (float)w->cpu, &w->sum);
        w->t1[r] = now();
    }
    w->sum += 0.0 * warm;
    return NULL;
}

/* GFLOP/s of `threads` threads running isa's loop together, the best of
 * `repeat` runs of `seconds` each (other load on the machine only lowers a
 * run's figure); *check the sum of the accumulators.  0 on failure. */
static double measure(const Isa *isa, int threads, const int *cpus, int repeat, double seconds,
                      double *check)
{
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    Work *w = calloc((size_t)threads, sizeof *w);
    pthread_barrier_t go;
    if (!tid || !w || pthread_barrier_init(&go, NULL, (unsigned)threads) != 0) {
        free(tid);
        free(w);
        return 0.0;
    }
    for (int i = 0; i < threads; i++) {
        w[i] = (Work){.isa = isa, .cpu = cpus ? cpus[i] : -1, .repeat = repeat,
                      .seconds = seconds, .go = &go};
        const int rc = pthread_create(&tid[i], NULL, worker, &w[i]);
        if (rc != 0) {
            fprintf(stderr, "inna-peak: cannot start thread %d of %d: %s\n", i + 1, threads,
                    strerror(rc));
            exit(1); /* the others wait at the barrier for ever */
        }
    }
    *check = 0.0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        *check += w[i].sum;
    }
    double best = 0.0;
    for (int r = 0; r < repeat; r++) {   /* all threads' FLOPs over the run's wall time */
        double t0 = w[0].t0[r], t1 = w[0].t1[r], flops = 0.0;
        for (int i = 0; i < threads; i++) {
            if (w[i].t0[r] < t0) t0 = w[i].t0[r];
            if (w[i].t1[r] > t1) t1 = w[i].t1[r];
            flops += 2.0 * isa->lanes * (double)w[i].fmas[r];
        }
        if (t1 > t0 && flops / (t1 - t0) / 1e9 > best) best = flops / (t1 - t0) / 1e9;
    }
    pthread_barrier_destroy(&go);
    free(tid);
    free(w);
    return best;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: inna-peak [options]\n\n"
        "Measures this machine's single-precision FMA peak: for AVX-512 (zmm) and AVX2\n"
        "(ymm), whichever the CPU has, one thread per core runs %d (zmm) or %d (ymm)\n"
        "independent chains of fused multiply-adds on registers; an FMA counts 2 FLOPs\n"
        "per lane (16 lanes for AVX-512, 8 for AVX2).  Prints one line per instruction\n"
        "set:\n"
        "  fma peak avx512: 325.1 GFLOP/s on 2 threads (162.6 per thread)\n\n"
        "options:\n"
        "  -t, --threads N   threads (default: the CPUs of the affinity mask, one\n"
        "                    pinned to each)\n"
        "  -s, --seconds S   timed seconds per instruction set (default 1), cut into\n"
        "                    --repeat runs\n"
        "  -r, --repeat N    runs per instruction set, all threads together behind a\n"
        "                    barrier; the fastest is reported (default 5: other load\n"
        "                    only slows a run down)\n"
        "      --isa LIST    avx512, avx2 or avx512,avx2 (default: every one the CPU\n"
        "                    has; one it lacks is an error)\n"
        "      --csv         machine-readable lines instead: the header\n"
        "                    isa,threads,seconds,repeat,gflops,gflops_per_thread\n"
        "                    and one row per instruction set\n"
        "  -h, --help        this help\n\n"
        "exit status: 0 done, 2 bad usage, 1 other failure\n", CHAINS512, CHAINS256);
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "inna-peak: %s%s%s (inna-peak --help)\n", msg, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

int main(int argc, char **argv)
{
    static const Isa isas[] = {
        {"avx512", "avx512f", 16, loop_avx512},
        {"avx2", "avx2", 8, loop_avx2},
    };
    enum { NISA = sizeof isas / sizeof isas[0] };
    long threads = 0, repeat = 5;
    double seconds = 1.0;
    int csv = 0, want[NISA] = {0}, chosen = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char *end;
        /* options with a value: "--opt V", "--opt=V", "-t V" */
        const char *names[][2] = {{"--threads", "-t"}, {"--seconds", "-s"}, {"--isa", NULL},
                                  {"--repeat", "-r"}};
        int which = -1;
        for (int k = 0; k < 4 && which < 0; k++) {
            size_t n = strlen(names[k][0]);
            if (strcmp(a, names[k][0]) == 0 || (names[k][1] && strcmp(a, names[k][1]) == 0)) {
                if (i + 1 >= argc) return bad("missing value after", a);
                v = argv[++i];
                which = k;
            } else if (strncmp(a, names[k][0], n) == 0 && a[n] == '=') {
                v = a + n + 1;
                which = k;
            }
        }
        if (which == 0) {
            errno = 0;
            threads = strtol(v, &end, 10);
            if (errno || end == v || *end || threads < 1 || threads > 4096)
                return bad("--threads wants a count from 1 to 4096, not", v);
        } else if (which == 1) {
            errno = 0;
            seconds = strtod(v, &end);
            if (errno || end == v || *end || !(seconds >= 0.01 && seconds <= 3600.0))
                return bad("--seconds wants a duration from 0.01 to 3600, not", v);
        } else if (which == 3) {
            errno = 0;
            repeat = strtol(v, &end, 10);
            if (errno || end == v || *end || repeat < 1 || repeat > MAX_REPEAT)
                return bad("--repeat wants a count from 1 to " STR(MAX_REPEAT) ", not", v);
        } else if (which == 2) {
            char buf[64];
            if (strlen(v) >= sizeof buf) return bad("--isa wants avx512, avx2 or both, not", v);
            strcpy(buf, v);
            memset(want, 0, sizeof want);
            chosen = 1;
            for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
                int k = 0;
                while (k < NISA && strcmp(s, isas[k].name) != 0) k++;
                if (k == NISA) return bad("--isa wants avx512, avx2 or both, not", v);
                want[k] = 1;
            }
            if (!want[0] && !want[1]) return bad("--isa wants avx512, avx2 or both, not", v);
        } else if (strcmp(a, "--csv") == 0) {
            csv = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            return bad(a[0] == '-' ? "unknown option" : "unexpected argument", a);
        }
    }

    __builtin_cpu_init();
    int has[NISA];
    for (int k = 0; k < NISA; k++) {
        has[k] = k == 0 ? __builtin_cpu_supports("avx512f")
                        : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        if (chosen && want[k] && !has[k]) {
            fprintf(stderr, "inna-peak: this CPU has no %s\n", isas[k].name);
            return 2;
        }
        if (!chosen) want[k] = has[k];
    }
    if (!want[0] && !want[1]) {
        fprintf(stderr, "inna-peak: this CPU has neither AVX-512 nor AVX2 with FMA\n");
        return 1;
    }

    /* One thread per CPU of the affinity mask, pinned to it (round robin
     * when more threads are asked for). */
    cpu_set_t set;
    int mask[CPU_SETSIZE], ncpu = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) mask[ncpu++] = c;
    if (threads == 0) threads = ncpu > 0 ? ncpu : 1;
    int *cpus = NULL;
    if (ncpu > 0) {
        cpus = malloc(sizeof *cpus * (size_t)threads);
        if (!cpus) return 1;
        for (long i = 0; i < threads; i++) cpus[i] = mask[i % ncpu];
    }

    if (csv) printf("isa,threads,seconds,repeat,gflops,gflops_per_thread\n");
    int rc = 0;
    double checks = 0.0;
    for (int k = 0; k < NISA; k++) {
        if (!want[k]) continue;
        double check = 0.0;
        const double g = measure(&isas[k], (int)threads, cpus, (int)repeat, seconds / (double)repeat,
                                 &check);
        checks += check;
        if (!(g > 0.0)) {
            fprintf(stderr, "inna-peak: the %s measurement failed\n", isas[k].name);
            rc = 1;
            continue;
        }
        if (csv)
            printf("%s,%ld,%.3f,%ld,%.2f,%.2f\n", isas[k].name, threads, seconds, repeat, g,
                   g / (double)threads);
        else
            printf("fma peak %s: %.1f GFLOP/s on %ld thread%s (%.1f per thread)\n", isas[k].name,
                   g, threads, threads == 1 ? "" : "s", g / (double)threads);
        fflush(stdout);
    }
    /* The accumulators' sum goes to a volatile, so the loops cannot be dropped. */
    volatile double sink = checks;
    (void)sink;
    free(cpus);
    return rc;
}
