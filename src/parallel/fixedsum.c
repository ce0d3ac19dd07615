/* Fixed-point exact sums; see include/fixedsum.h for the grid and its limits.
 * The conversions work on the float's bits, so they are exact and the same on
 * every machine: m * 2^(e-150) is shifted onto the grid with one rounding. */
#include "fixedsum.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static int ceil_log2(long n)
{
    int b = 0;
    while (b < 62 && (1L << b) < n) b++;
    return b;
}

void fixed_grid(FixedGrid *g, int T, long terms)
{
    g->T = T;
    g->F = 126 - T;
    g->guard = ceil_log2(terms < 1 ? 1 : terms);
    g->overflow = 0;
    g->nonfinite = 0;
}

static inline fixed128 to_fixed(FixedGrid *g, float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const int e = (int)((u >> 23) & 0xff);
    const uint32_t frac = u & 0x7fffff;
    if ((u << 1) == 0) return 0;               /* +0 and -0: most ReLU-killed entries */
    if (e == 0xff) { g->nonfinite++; return 0; }
    if (e - 126 > g->T - g->guard) {           /* |x| may reach 2^(T - guard) */
        if (g->T >= FIXED_T_MAX) g->nonfinite++; else g->overflow++;
        return 0;
    }
    /* |x| = m * 2^(e' - 150) with e' = max(e, 1) (subnormals have e = 0). */
    const uint32_t m = e ? (frac | 0x800000u) : frac;
    const int shift = (e ? e : 1) - 150 + g->F;
    fixed128 v;
    if (shift >= 0) {
        v = (fixed128)m << shift;
    } else {
        const int s = -shift;                  /* round half away from zero */
        v = s > 25 ? 0 : (fixed128)((m + (1u << (s - 1))) >> s);
    }
    return (u >> 31) ? -v : v;
}

void fixed_add(FixedGrid *g, fixed128 *acc, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) acc[i] += to_fixed(g, x[i]);
}

void fixed_set(FixedGrid *g, fixed128 *acc, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) acc[i] = to_fixed(g, x[i]);
}

fixed128 fixed_from_float(FixedGrid *g, float x) { return to_fixed(g, x); }

/* hi * 2^64 + lo in double (two roundings, both deterministic), then scaled
 * by 2^-F (exact) and rounded to float: the result is within one float ulp
 * of the exact sum, and the same bits everywhere. */
void fixed_to_float(const FixedGrid *g, const fixed128 *acc, float *out, size_t n)
{
    const double scale = ldexp(1.0, -g->F), two64 = 18446744073709551616.0;
    for (size_t i = 0; i < n; i++) {
        const fixed128 v = acc[i];
        const int64_t hi = (int64_t)(v >> 64);
        const uint64_t lo = (uint64_t)v;
        const double d = hi == 0 ? (double)lo
                       : hi == -1 && lo >= (1ULL << 63) ? (double)(int64_t)lo
                       : (double)hi * two64 + (double)lo;
        out[i] = (float)(d * scale);
    }
}

/* Open MPI may hand the operation unaligned buffers: move through memcpy.
 * Unsigned arithmetic, so the addition is defined even if it wrapped (it
 * cannot: the grid's guard bits leave room for every term). */
static void sum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const unsigned char *a = in;
    unsigned char *b = inout;
    for (int i = 0; i < *len; i++) {
        unsigned __int128 x, y;
        memcpy(&x, a + 16 * (size_t)i, 16);
        memcpy(&y, b + 16 * (size_t)i, 16);
        y += x;
        memcpy(b + 16 * (size_t)i, &y, 16);
    }
}

static MPI_Datatype g_type = MPI_DATATYPE_NULL;
static MPI_Op g_op = MPI_OP_NULL;

MPI_Datatype fixed_mpi_type(void)
{
    if (g_type == MPI_DATATYPE_NULL) {
        MPI_Type_contiguous(16, MPI_BYTE, &g_type);
        MPI_Type_commit(&g_type);
    }
    return g_type;
}

MPI_Op fixed_mpi_sum(void)
{
    if (g_op == MPI_OP_NULL) MPI_Op_create(sum_op, 1, &g_op);
    return g_op;
}

void fixed_mpi_free(void)
{
    if (g_type != MPI_DATATYPE_NULL) MPI_Type_free(&g_type);
    if (g_op != MPI_OP_NULL) MPI_Op_free(&g_op);
}
