/* Exact sums of float vectors over chunks and ranks: the D-critical sum that
 * is the same bits whatever the number of ranks or threads.
 *
 * Each chunk's float subgradient is converted to a 128-bit fixed-point number
 * on one grid: value = integer * 2^-F with F = 126 - T, so |sum| < 2^T.  Integer
 * addition is associative, so adding the chunks' integers in any order, on
 * any rank, in any reduction tree gives the same integer; it is converted back
 * to float once.  The conversion of each float rounds to the grid (half away
 * from zero), an error of at most 2^-(F+1) per chunk: with T = 32 that is
 * 2^-95, far below float rounding of any gradient entry above ~1e-21.
 *
 * A float whose magnitude could make the sum of `terms` chunk values reach
 * 2^T is counted as an overflow; the caller then redoes the step on the
 * widest grid (T = FIXED_T_MAX), where only values beyond ~1e36 do not fit
 * (and count as non-finite: the run has diverged). */
#ifndef INNA_FIXEDSUM_H
#define INNA_FIXEDSUM_H
#include <mpi.h>
#include <stddef.h>

typedef __int128 fixed128;

enum {
    FIXED_T_DEFAULT = 32,   /* |sum| < 2^32: gradients of a sane step      */
    /* int128 holds |sum| < 2^127, so the widest grid is T = 126; a float
     * that does not fit even there (>= 2^(126 - guard), about 1e36) is not
     * a gradient of a run that still converges: it counts as non-finite. */
    FIXED_T_MAX = 126,
};

typedef struct {
    int T;          /* range exponent: |sum| < 2^T                          */
    int F;          /* fraction bits: 126 - T                               */
    int guard;      /* ceil(log2(terms)): headroom for adding terms values  */
    long overflow;  /* floats at or above 2^(T - guard) seen by fixed_add   */
    long nonfinite; /* inf or NaN seen by fixed_add                         */
} FixedGrid;

/* The grid for range exponent T and up to `terms` added values. */
void fixed_grid(FixedGrid *g, int T, long terms);
/* acc[i] += x[i] on the grid, for n entries (counts overflow, non-finite). */
void fixed_add(FixedGrid *g, fixed128 *acc, const float *x, size_t n);
/* acc[i] = x[i] on the grid (the first term of a sum). */
void fixed_set(FixedGrid *g, fixed128 *acc, const float *x, size_t n);
/* Counts x[i]'s overflow and non-finite entries as fixed_add would, without
 * converting (the gathered chunks' grid is chosen before they are summed). */
void fixed_scan(FixedGrid *g, const float *x, size_t n);
/* The largest exponent field (0..255) of x[0..n): of the floats copied to
 * dst by the first, of x by the second.  fixed_exponent_fits: whether floats
 * whose largest field is e all fit on g (fixed_add would count nothing). */
unsigned fixed_copy_exponent(float *dst, const float *src, size_t n);
unsigned fixed_exponent(const float *x, size_t n);
int fixed_exponent_fits(const FixedGrid *g, unsigned e);
/* One float on the grid (for loss-like scalars). */
fixed128 fixed_from_float(FixedGrid *g, float x);
/* out[i] = acc[i] * 2^-F, rounded to float. */
void fixed_to_float(const FixedGrid *g, const fixed128 *acc, float *out, size_t n);
/* out[i] = x[0][i] + ... + x[nx-1][i] summed on the grid, back to float:
 * fixed_set, fixed_add and fixed_to_float in one pass (the same floats and
 * counts), the sums never stored; nx >= 1. */
void fixed_sum_to_float(FixedGrid *g, const float *const *x, int nx, float *out, size_t n);
/* acc[i] += a[i] (the threads' sums of a step, and the MPI operation). */
void fixed_sum_into(fixed128 *acc, const fixed128 *a, size_t n);
/* Tests: the widest vector loops used (the CPU's best by default); every
 * choice gives the same integers, counts and floats. */
typedef enum { FIXED_SIMD_BEST, FIXED_SIMD_AVX2, FIXED_SIMD_NONE } FixedSimd;
void fixed_limit_simd(FixedSimd limit);
/* The MPI datatype (16 bytes) and SUM operation for fixed128, created once. */
MPI_Datatype fixed_mpi_type(void);
MPI_Op fixed_mpi_sum(void);
void fixed_mpi_free(void);
#endif
