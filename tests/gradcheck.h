/* Helpers for the finite-difference tests: deterministic random fills keyed
 * like everything else (rng.h), a tolerance check of the form
 * |got - want| <= atol + rtol * |want| that counts into check.h's failures and
 * prints only the first few misses of a group, and a summary line per group. */
#ifndef INNA_GRADCHECK_H
#define INNA_GRADCHECK_H
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "rng.h"

/* Test-only stream for random inputs, away from the library's streams. */
enum { GC_STREAM = 97 };

static inline void gc_fill_uniform(float *a, size_t n, uint64_t seed, uint64_t tag,
                                   float lo, float hi)
{
    const uint64_t key = rng_key(seed, GC_STREAM, tag, 0);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng_uniform(key, i);
}

/* Values with |v| in [gap, 1], random sign: no ReLU kink within gap. */
static inline void gc_fill_away_from_zero(float *a, size_t n, uint64_t seed, uint64_t tag, float gap)
{
    const uint64_t key = rng_key(seed, GC_STREAM, tag, 1);
    for (size_t i = 0; i < n; i++) {
        float m = gap + (1.0f - gap) * rng_uniform(key, 2 * i);
        a[i] = (rng_u64(key, 2 * i + 1) & 1) ? m : -m;
    }
}

/* A random permutation of the grid {-1 + spacing*k}: any two entries differ
 * by at least `spacing`, so no max-pool window has a near-tie. */
static inline void gc_fill_distinct(float *a, size_t n, uint64_t seed, uint64_t tag, float spacing)
{
    const uint64_t key = rng_key(seed, GC_STREAM, tag, 2);
    for (size_t i = 0; i < n; i++) a[i] = -1.0f + spacing * (float)i;
    for (size_t i = n; i > 1; i--) {       /* Fisher-Yates */
        size_t j = (size_t)rng_below(key, i, i);
        float t = a[i - 1]; a[i - 1] = a[j]; a[j] = t;
    }
}

/* One group of comparisons (e.g. "conv k5: dW"). */
typedef struct {
    const char *what;
    int checked, failed;
    double max_abs;     /* worst |got - want| */
    double max_use;     /* worst |got - want| / (atol + rtol |want|): the share of the tolerance used */
} GcGroup;

static inline GcGroup gc_group(const char *what)
{
    GcGroup g = {what, 0, 0, 0.0, 0.0};
    return g;
}

static inline void gc_close(GcGroup *g, size_t index, double got, double want, double atol, double rtol)
{
    double err = fabs(got - want);
    g->checked++;
    if (err > g->max_abs) g->max_abs = err;
    double tol = atol + rtol * fabs(want), use = tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
    if (use > g->max_use) g->max_use = use;
    if (!(err <= atol + rtol * fabs(want))) {   /* also catches NaN */
        if (g->failed < 5)
            fprintf(stderr, "%s[%zu]: got %.9g, expected %.9g (|diff| %.3g > %.3g + %.3g*|expected|)\n",
                    g->what, index, got, want, err, atol, rtol);
        g->failed++;
        check_failed_count++;
    }
}

static inline void gc_report(const GcGroup *g)
{
    printf("  %-40s %4d checked, %3d failed, max |diff| %.1e = %.2g of tol\n",
           g->what, g->checked, g->failed, g->max_abs, g->max_use);
    if (g->failed > 5) fprintf(stderr, "%s: %d more failures not shown\n", g->what, g->failed - 5);
}
#endif
