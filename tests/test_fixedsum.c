/* The exact reduction's fixed-point sums: order independence, accuracy
 * against a double-precision reference over very different magnitudes, the
 * overflow and non-finite counts, and the MPI operation. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "fixedsum.h"
#include "rng.h"

enum { TERMS = 64, LEN = 512 };

/* Term t, entry i: magnitudes from 1e-20 to 1e6 across entries, signs and
 * mantissas random, some terms cancelling. */
static float term(int t, int i)
{
    const uint64_t key = rng_key(5, RNG_IID, (uint64_t)t, (uint64_t)i);
    const double mag = pow(10.0, -20.0 + 26.0 * (double)(i % 27) / 26.0);
    return (float)((rng_uniform(key, 0) * 2.0 - 1.0) * mag);
}

/* Sum all terms in the given order of t; returns the float results. */
static void fixed_sum(const int *order, float *out, FixedGrid *g)
{
    static fixed128 acc[LEN];
    static float x[LEN];
    memset(acc, 0, sizeof acc);
    fixed_grid(g, FIXED_T_DEFAULT, TERMS);
    for (int j = 0; j < TERMS; j++) {
        for (int i = 0; i < LEN; i++) x[i] = term(order[j], i);
        fixed_add(g, acc, x, LEN);
    }
    fixed_to_float(g, acc, out, LEN);
}

static void check_order_and_accuracy(void)
{
    int order[TERMS];
    static float a[LEN], b[LEN];
    FixedGrid g;
    for (int j = 0; j < TERMS; j++) order[j] = j;
    fixed_sum(order, a, &g);
    CHECK(g.overflow == 0 && g.nonfinite == 0);
    for (int j = TERMS - 1; j > 0; j--) {   /* a shuffled order: the same bits */
        int r = (int)rng_below(rng_key(9, RNG_SHUFFLE, 0, 0), (uint64_t)j, (uint64_t)j + 1);
        int tmp = order[j]; order[j] = order[r]; order[r] = tmp;
    }
    fixed_sum(order, b, &g);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* Within float rounding of the double sum (one ulp of the result, plus
     * the grid's 2^-95 per term, which is far below it here). */
    int bad = 0;
    for (int i = 0; i < LEN; i++) {
        double ref = 0.0, mag = 0.0;
        for (int t = 0; t < TERMS; t++) { ref += term(t, i); mag = fmax(mag, fabs(term(t, i))); }
        double ulp = ldexp(1.0, ilogb(fmax(fabs(ref), 1e-38)) - 23);
        if (fabs((double)a[i] - ref) > ulp + TERMS * ldexp(1.0, -95)) bad++;
        if (bad == 1 && fabs((double)a[i] - ref) > ulp) {
            fprintf(stderr, "entry %d: %.9g vs double %.17g (largest term %g)\n", i, a[i], ref, mag);
            bad++;
        }
    }
    CHECK(bad == 0);
}

/* Entries far apart in magnitude within one chunk: no overflow, each exact. */
static void check_single_terms(void)
{
    const float v[] = { 3.0e9f, -1.5e-20f, 1.0f, 6.1e-5f, -7.25e3f, 1e-30f, 0.0f, -0.0f };
    const int n = (int)(sizeof v / sizeof v[0]);
    fixed128 acc[8] = {0};
    float out[8];
    FixedGrid g;
    fixed_grid(&g, FIXED_T_DEFAULT, 1);
    fixed_add(&g, acc, v, (size_t)n);
    fixed_to_float(&g, acc, out, (size_t)n);
    CHECK(g.overflow == 0 && g.nonfinite == 0);
    for (int i = 0; i < 5; i++) CHECK(out[i] == v[i]);   /* on the grid: exact */
    CHECK(out[5] == 0.0f);                             /* below 2^-95: rounds to 0 */
}

static void check_overflow_and_nonfinite(void)
{
    fixed128 acc[4] = {0};
    FixedGrid g;
    const float big[4] = { 1e10f, 1.0f, INFINITY, NAN };
    fixed_grid(&g, FIXED_T_DEFAULT, 8);            /* 2^(32-3): 1e10 overflows */
    fixed_add(&g, acc, big, 4);
    CHECK(g.overflow == 1);
    CHECK(g.nonfinite == 2);
    fixed_grid(&g, FIXED_T_MAX, 8);             /* the widest grid holds it */
    memset(acc, 0, sizeof acc);
    fixed_add(&g, acc, big, 2);
    float out[2];
    fixed_to_float(&g, acc, out, 2);
    CHECK(g.overflow == 0 && g.nonfinite == 0);
    CHECK(out[0] == 1e10f && out[1] == 1.0f);
    const float huge = 3e38f;                      /* beyond even that grid */
    fixed_add(&g, acc, &huge, 1);
    CHECK(g.nonfinite == 1);
}

/* A float of any class for the comparison below: zeros, subnormals, every
 * exponent (so every shift onto both grids, overflow, inf and NaN), random
 * mantissa and sign. */
static float any_float(uint64_t key, uint64_t i)
{
    const uint64_t r = rng_u64(key, i);
    uint32_t u = (uint32_t)r;
    switch ((r >> 32) % 8) {
    case 0: u &= 0x807fffffu; break;                   /* subnormal or zero */
    case 1: u &= 0x80000000u; break;                   /* +0 or -0          */
    case 2: u |= 0x7f800000u; break;                   /* inf or NaN        */
    default: break;                                    /* any exponent      */
    }
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The vector loops (those the CPU has) against the scalar reference: the
 * same integers, counts and floats, for lengths that leave every tail. */
static void check_vector_matches_scalar(void)
{
    enum { N = 4099, WAYS = 3 };
    static float x[N], y[N], f[WAYS][N];
    static fixed128 acc[WAYS][N], sum[WAYS][N];
    const FixedSimd ways[WAYS] = { FIXED_SIMD_NONE, FIXED_SIMD_AVX2, FIXED_SIMD_BEST };
    const int grids[2] = { FIXED_T_DEFAULT, FIXED_T_MAX };
    int bad = 0;
    for (int k = 0; k < 2; k++)
        for (size_t n = N - 8; n <= N; n++) {
            const uint64_t key = rng_key(11, RNG_IID, (uint64_t)k, (uint64_t)n);
            for (size_t i = 0; i < n; i++) {
                x[i] = any_float(key, 2 * i);
                y[i] = any_float(key, 2 * i + 1);
            }
            FixedGrid g[WAYS];
            for (int w = 0; w < WAYS; w++) {
                fixed_limit_simd(ways[w]);
                fixed_grid(&g[w], grids[k], 2);
                fixed_set(&g[w], acc[w], x, n);
                fixed_add(&g[w], acc[w], y, n);
                for (size_t i = 0; i < n; i++) sum[w][i] = acc[w][i] * (fixed128)(i % 3 == 0 ? -1 : 1);
                fixed_sum_into(sum[w], acc[w], n);       /* 0 or 2 acc: carries both ways */
                fixed_to_float(&g[w], acc[w], f[w], n);
            }
            fixed_limit_simd(FIXED_SIMD_BEST);
            for (int w = 1; w < WAYS; w++) {
                bad += g[w].overflow != g[0].overflow || g[w].nonfinite != g[0].nonfinite;
                bad += memcmp(acc[w], acc[0], n * sizeof acc[0][0]) != 0;
                bad += memcmp(sum[w], sum[0], n * sizeof sum[0][0]) != 0;
                bad += memcmp(f[w], f[0], n * sizeof f[0][0]) != 0;
            }
            if (k == 0) bad += g[0].overflow == 0 || g[0].nonfinite == 0;   /* the inputs reach both */
        }
    CHECK(bad == 0);
}

/* The MPI operation adds 128-bit integers, carries included. */
static void check_mpi_op(void)
{
    fixed128 in[3] = { (fixed128)1 << 64, -((fixed128)1 << 100), (fixed128)0xffffffffffffffffULL };
    fixed128 io[3] = { -1, (fixed128)3 << 99, 1 };
    MPI_Reduce_local(in, io, 3, fixed_mpi_type(), fixed_mpi_sum());
    CHECK(io[0] == ((fixed128)1 << 64) - 1);
    CHECK(io[1] == ((fixed128)1 << 99));
    CHECK(io[2] == ((fixed128)1 << 64));
}

/* fixed_scan counts what fixed_add would, without converting: on floats of
 * every class (some overflow and non-finite), on floats that all fit (no
 * count), and on one float just at / just below the overflow bound. */
static void check_scan_counts_as_add(void)
{
    enum { N = 1031 };
    static float x[N];
    static fixed128 acc[N];
    int bad = 0;
    for (int T = FIXED_T_DEFAULT; T <= FIXED_T_MAX; T += FIXED_T_MAX - FIXED_T_DEFAULT) {
        const uint64_t key = rng_key(12, RNG_IID, (uint64_t)T, 0);
        for (size_t i = 0; i < N; i++) x[i] = any_float(key, i);
        FixedGrid a, s;
        fixed_grid(&a, T, 3);
        fixed_grid(&s, T, 3);
        fixed_add(&a, acc, x, N);
        fixed_scan(&s, x, N);
        bad += a.overflow != s.overflow || a.nonfinite != s.nonfinite || a.nonfinite == 0;
        /* the largest exponent field, with and without a copy */
        static float copy[N];
        unsigned want = 0;
        for (size_t i = 0; i < N; i++) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            if (((u >> 23) & 0xff) > want) want = (u >> 23) & 0xff;
        }
        bad += fixed_copy_exponent(copy, x, N) != want || memcmp(copy, x, sizeof copy) != 0;
        bad += fixed_exponent(x, N) != want || fixed_exponent(x + 1, 0) != 0;
    }
    for (size_t i = 0; i < N; i++) x[i] = (float)i - 500.0f;
    FixedGrid g;
    fixed_grid(&g, FIXED_T_DEFAULT, 3);                 /* guard 2: |x| < 2^30 fits */
    fixed_scan(&g, x, N);
    bad += g.overflow != 0 || g.nonfinite != 0 || !fixed_exponent_fits(&g, fixed_exponent(x, N));
    x[7] = 0x1p30f;                                     /* may reach 2^32 with 3 terms */
    fixed_scan(&g, x, N);
    bad += g.overflow != 1 || fixed_exponent_fits(&g, fixed_exponent(x, N));
    x[7] = 0x1.fffffep29f;                              /* the largest float below: fits */
    fixed_grid(&g, FIXED_T_DEFAULT, 3);
    fixed_scan(&g, x, N);
    bad += g.overflow != 0 || !fixed_exponent_fits(&g, fixed_exponent(x, N));
    bad += fixed_exponent_fits(&g, 0xff);               /* inf or NaN */
    CHECK(bad == 0);
}

/* A gradient-like term: magnitudes 2^-30 .. 2^2 (the sums' shortcut for
 * terms of close exponents is taken and missed), with +0 and -0, values
 * below the grid's resolution, and (k > 0) the negation of term 0. */
static float like_gradient(uint64_t key, int k, size_t i, float term0)
{
    const uint64_t r = rng_u64(key, (uint64_t)k * 1000003u + i);
    switch (r % 32) {
    case 0: return (r >> 8) & 1 ? -0.0f : 0.0f;
    case 1: return ldexpf((float)((r >> 8) & 0xffffff), -24 - 80);       /* below 2^-71 */
    case 2: if (k > 0) return -term0; break;
    default: break;
    }
    const float m = 1.0f + (float)((r >> 8) & 0xffffff) / 16777216.0f;
    const float v = ldexpf(m, -(int)((r >> 40) % 33) + 2);
    return (r >> 63) ? -v : v;
}

/* fixed_sum_to_float against fixed_set, fixed_add and fixed_to_float: the
 * same floats and counts for 1 to 4 terms of any class and gradient-like
 * terms, both grids, every vector width, lengths that leave every tail. */
static void check_sum_to_float(void)
{
    enum { N = 1029, TERMS = 4 };
    static float x[TERMS][N], want[N], got[N];
    static fixed128 acc[N];
    const FixedSimd ways[3] = { FIXED_SIMD_NONE, FIXED_SIMD_AVX2, FIXED_SIMD_BEST };
    int bad = 0;
    for (int family = 0; family < 2; family++)
    for (int T = FIXED_T_DEFAULT; T <= FIXED_T_MAX; T += FIXED_T_MAX - FIXED_T_DEFAULT)
        for (int nx = 1; nx <= TERMS; nx++)
            for (size_t n = N - 8; n <= N; n += 4) {
                const uint64_t key = rng_key(13 + family, RNG_IID, (uint64_t)T, (uint64_t)(nx * N + n));
                const float *xs[TERMS];
                for (int k = 0; k < nx; k++) {
                    xs[k] = x[k];
                    for (size_t i = 0; i < n; i++)
                        x[k][i] = family ? like_gradient(key, k, i, x[0][i]) : any_float(key, (uint64_t)k * N + i);
                }
                for (int w = 0; w < 3; w++) {
                    fixed_limit_simd(ways[w]);
                    FixedGrid a, b;
                    fixed_grid(&a, T, nx);
                    fixed_grid(&b, T, nx);
                    fixed_set(&a, acc, x[0], n);
                    for (int k = 1; k < nx; k++) fixed_add(&a, acc, x[k], n);
                    fixed_to_float(&a, acc, want, n);
                    fixed_sum_to_float(&b, xs, nx, got, n);
                    bad += memcmp(want, got, n * sizeof got[0]) != 0;
                    bad += a.overflow != b.overflow || a.nonfinite != b.nonfinite;
                }
                fixed_limit_simd(FIXED_SIMD_BEST);
            }
    CHECK(bad == 0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    check_order_and_accuracy();
    check_single_terms();
    check_overflow_and_nonfinite();
    check_mpi_op();
    check_vector_matches_scalar();
    check_scan_counts_as_add();
    check_sum_to_float();
    fixed_mpi_free();
    int rc = check_report("test_fixedsum");
    MPI_Finalize();
    return rc;
}
