/* Fixed-point exact sums; see include/fixedsum.h for the grid and its limits.
 * The conversions work on the float's bits, so they are exact and the same on
 * every machine: m * 2^(e-150) is shifted onto the grid with one rounding. */
#include "fixedsum.h"
#include "clones.h"

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

/* The AVX-512 and AVX2 loops below compute, 8 or 4 entries at a time,
 * exactly the integers of to_fixed and the floats of to_float_1 (the scalar
 * loops are the reference and the path on other CPUs; test_fixedsum compares
 * all three):
 * the integer is built as two 64-bit halves with per-lane shifts (a shift
 * count of 64 or more gives 0, which covers the grid's whole range without
 * branches), and a 128-bit sum is two 64-bit lane sums plus the low lane's
 * carry.  The build targets any x86-64, so the CPU is asked at run time. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FIXED_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))
#define FIXED_AVX2 __attribute__((target("avx2")))
#define FIXED_X86_SIMD 1
#else
#define FIXED_X86_SIMD 0
#endif

static FixedSimd g_limit = FIXED_SIMD_BEST;

void fixed_limit_simd(FixedSimd limit) { g_limit = limit; }

static int use_avx512(void)
{
#if FIXED_X86_SIMD
    return g_limit == FIXED_SIMD_BEST && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

static int use_avx2(void)
{
#if FIXED_X86_SIMD
    return g_limit != FIXED_SIMD_NONE && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Adds the counts of the scalar conversion: non-finite floats, and those too
 * large for the grid (non-finite on the widest grid, overflow otherwise). */
static void count_bad(FixedGrid *g, int nonfinite, int big)
{
    g->nonfinite += nonfinite;
    if (g->T >= FIXED_T_MAX) g->nonfinite += big;
    else g->overflow += big;
}

#if FIXED_X86_SIMD
/* to_fixed of x[0..7]: the low and high 64-bit halves, one entry per lane. */
FIXED_AVX512 static inline void to_fixed8(FixedGrid *g, const float *x, __m512i *lo, __m512i *hi)
{
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
    const __m512i u = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)x));
    const __m512i e = _mm512_and_si512(_mm512_srli_epi64(u, 23), _mm512_set1_epi64(0xff));
    const __m512i frac = _mm512_and_si512(u, _mm512_set1_epi64(0x7fffff));
    const __mmask8 nonfinite = _mm512_cmpeq_epi64_mask(e, _mm512_set1_epi64(0xff));
    const __mmask8 big = _mm512_cmpgt_epi64_mask(e, _mm512_set1_epi64(126 + g->T - g->guard)) & ~nonfinite;
    const __mmask8 normal = _mm512_cmpneq_epi64_mask(e, zero);
    const __m512i m = _mm512_mask_or_epi64(frac, normal, frac, _mm512_set1_epi64(0x800000));
    const __m512i sh = _mm512_add_epi64(_mm512_max_epi64(e, one), _mm512_set1_epi64(g->F - 150));
    /* sh >= 0: m << sh across the two halves (sh < 128 on the grid). */
    __m512i l = _mm512_sllv_epi64(m, sh);
    __m512i h = _mm512_or_si512(_mm512_sllv_epi64(m, _mm512_sub_epi64(sh, _mm512_set1_epi64(64))),
                                _mm512_srlv_epi64(m, _mm512_sub_epi64(_mm512_set1_epi64(64), sh)));
    /* sh < 0: (m + 2^(s-1)) >> s with s = -sh (h is already 0: both counts
     * are beyond 63); for s > 25 this is 0, as in to_fixed. */
    const __mmask8 below = _mm512_cmplt_epi64_mask(sh, zero);
    const __m512i s = _mm512_sub_epi64(zero, sh);
    const __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
    l = _mm512_mask_mov_epi64(l, below, _mm512_srlv_epi64(_mm512_add_epi64(m, half), s));
    const __mmask8 ok = (__mmask8)~(nonfinite | big);
    l = _mm512_maskz_mov_epi64(ok, l);
    h = _mm512_maskz_mov_epi64(ok, h);
    /* Negative floats: the two's complement of (h, l). */
    const __mmask8 neg = _mm512_test_epi64_mask(u, _mm512_set1_epi64(0x80000000));
    const __mmask8 borrow = neg & _mm512_test_epi64_mask(l, l);
    const __m512i nh = _mm512_sub_epi64(zero, h);
    *hi = _mm512_mask_sub_epi64(_mm512_mask_mov_epi64(h, neg, nh), borrow, nh, one);
    *lo = _mm512_mask_sub_epi64(l, neg, zero, l);
    if (nonfinite | big)
        count_bad(g, __builtin_popcount(nonfinite), __builtin_popcount(big));
}

/* 4 fixed128 in memory order (lo, hi, lo, hi, ...) of lanes 0-3 or 4-7. */
FIXED_AVX512 static inline __m512i interleave(__m512i lo, __m512i hi, int upper)
{
    const __m512i idx = upper ? _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4)
                              : _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    return _mm512_permutex2var_epi64(lo, idx, hi);
}

/* a + b for 4 interleaved fixed128: lane sums, then each low lane's carry
 * into the high lane above it. */
FIXED_AVX512 static inline __m512i add4(__m512i a, __m512i b)
{
    const __m512i s = _mm512_add_epi64(a, b);
    const __mmask8 carry = _mm512_cmplt_epu64_mask(s, a) & 0x55;
    return _mm512_mask_add_epi64(s, (__mmask8)(carry << 1), s, _mm512_set1_epi64(1));
}

FIXED_AVX512 static size_t convert_avx512(FixedGrid *g, fixed128 *acc, const float *x, size_t n, int add)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i lo, hi;
        to_fixed8(g, x + i, &lo, &hi);
        __m512i a = interleave(lo, hi, 0), b = interleave(lo, hi, 1);
        long long *p = (long long *)(acc + i);
        if (add) {
            a = add4(_mm512_loadu_si512(p), a);
            b = add4(_mm512_loadu_si512(p + 8), b);
        }
        _mm512_storeu_si512(p, a);
        _mm512_storeu_si512(p + 8, b);
    }
    return i;
}

FIXED_AVX512 static size_t sum_avx512(unsigned char *acc, const unsigned char *a, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m512i *p = (__m512i *)(acc + 16 * i);
        _mm512_storeu_si512(p, add4(_mm512_loadu_si512(p), _mm512_loadu_si512(a + 16 * i)));
    }
    return i;
}

/* 8 fixed128 given as their low and high halves, one entry per lane, to
 * float (to_float_1's arithmetic). */
FIXED_AVX512 static inline __m256 lanes_to_float8(__m512i lo, __m512i hi, __m512d scale)
{
    const __m512d two64 = _mm512_set1_pd(18446744073709551616.0);
    const __m512d ulo = _mm512_cvtepu64_pd(lo);
    /* (double)hi * 2^64 is exact: adding (double)lo is the one rounding,
     * whether or not the compiler fuses the two. */
    __m512d d = _mm512_add_pd(_mm512_mul_pd(_mm512_cvtepi64_pd(hi), two64), ulo);
    d = _mm512_mask_mov_pd(d, _mm512_cmpeq_epi64_mask(hi, _mm512_setzero_si512()), ulo);
    const __mmask8 small_neg = _mm512_cmpeq_epi64_mask(hi, _mm512_set1_epi64(-1)) &
                               _mm512_cmplt_epi64_mask(lo, _mm512_setzero_si512());
    d = _mm512_mask_mov_pd(d, small_neg, _mm512_cvtepi64_pd(lo));
    return _mm512_cvtpd_ps(_mm512_mul_pd(d, scale));
}

FIXED_AVX512 static size_t to_float_avx512(const FixedGrid *g, const fixed128 *acc, float *out, size_t n)
{
    const __m512d scale = _mm512_set1_pd(ldexp(1.0, -g->F));
    const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const long long *p = (const long long *)(acc + i);
        const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 8);
        const __m512i lo = _mm512_permutex2var_epi64(a, even, b), hi = _mm512_permutex2var_epi64(a, odd, b);
        _mm256_storeu_ps(out + i, lanes_to_float8(lo, hi, scale));
    }
    return i;
}

/* The shortcut of sum_to_float_avx512: when every term of the 8 lanes is
 * zero or a float the grid holds exactly (its last mantissa bit at or
 * above 2^-F: exponent field >= 150 - F) and not too large, and their sum
 * in double is exact (each addition's TwoSum error is 0), the integer sum
 * has at most 53 significant bits, so to_float_1's double is that sum
 * exactly and its float is the double sum's rounded once: the same bits
 * (a zero sum is +0, as the integer gives: the sum starts from +0, and
 * +0 + -0 = +0).  Returns 0 (nothing stored) when a lane does not qualify. */
FIXED_AVX512 static inline int sum_to_float8_exact(const FixedGrid *g, const float *const *x, int nx,
                                                    size_t i, float *out)
{
    const __m256i lowest = _mm256_set1_epi32(150 - g->F), highest = _mm256_set1_epi32(126 + g->T - g->guard);
    __m512d s = _mm512_setzero_pd();
    __mmask8 ok = 0xff;
    for (int k = 0; k < nx; k++) {
        const __m256 v = _mm256_loadu_ps(x[k] + i);
        const __m256i u = _mm256_castps_si256(v);
        const __m256i e = _mm256_and_si256(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(0xff));
        const __mmask8 zero = _mm256_cmpeq_epi32_mask(_mm256_slli_epi32(u, 1), _mm256_setzero_si256());
        ok &= zero | (_mm256_cmpge_epi32_mask(e, lowest) & _mm256_cmple_epi32_mask(e, highest));
        const __m512d t = _mm512_cvtps_pd(v);
        const __m512d sum = _mm512_add_pd(s, t);
        const __m512d bv = _mm512_sub_pd(sum, s), av = _mm512_sub_pd(sum, bv);
        const __m512d err = _mm512_add_pd(_mm512_sub_pd(s, av), _mm512_sub_pd(t, bv));
        ok &= _mm512_cmp_pd_mask(err, _mm512_setzero_pd(), _CMP_EQ_OQ);
        s = sum;
    }
    if (ok != 0xff) return 0;
    _mm256_storeu_ps(out + i, _mm512_cvtpd_ps(s));
    return 1;
}

/* fixed_sum_to_float, 8 entries at a time: the terms' integers are added in
 * registers (low halves, the carry into the high halves), never stored. */
FIXED_AVX512 static size_t sum_to_float_avx512(FixedGrid *g, const float *const *x, int nx, float *out, size_t n)
{
    const __m512d scale = _mm512_set1_pd(ldexp(1.0, -g->F));
    const __m512i one = _mm512_set1_epi64(1);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (sum_to_float8_exact(g, x, nx, i, out)) continue;
        __m512i lo, hi;
        to_fixed8(g, x[0] + i, &lo, &hi);
        for (int k = 1; k < nx; k++) {
            __m512i l, h;
            to_fixed8(g, x[k] + i, &l, &h);
            const __m512i s = _mm512_add_epi64(lo, l);
            hi = _mm512_add_epi64(hi, h);
            hi = _mm512_mask_add_epi64(hi, _mm512_cmplt_epu64_mask(s, lo), hi, one);
            lo = s;
        }
        _mm256_storeu_ps(out + i, lanes_to_float8(lo, hi, scale));
    }
    return i;
}

/* The same on AVX2, 4 entries at a time.  AVX2 lacks 64-bit max, arithmetic
 * shift, unsigned compare and int64 -> double: each is built from what it
 * has, with the same results (an int64 becomes hi32 * 2^32 + lo32, both
 * exact in double, so the one rounding is the sum's, as in cvtsi2sd). */
FIXED_AVX2 static inline void to_fixed4(FixedGrid *g, const float *x, __m256i *lo, __m256i *hi)
{
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1);
    const __m256i u = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)x));
    const __m256i e = _mm256_and_si256(_mm256_srli_epi64(u, 23), _mm256_set1_epi64x(0xff));
    const __m256i frac = _mm256_and_si256(u, _mm256_set1_epi64x(0x7fffff));
    const __m256i nonfinite = _mm256_cmpeq_epi64(e, _mm256_set1_epi64x(0xff));
    const __m256i big = _mm256_andnot_si256(
        nonfinite, _mm256_cmpgt_epi64(e, _mm256_set1_epi64x(126 + g->T - g->guard)));
    const __m256i subnormal = _mm256_cmpeq_epi64(e, zero);
    const __m256i m = _mm256_or_si256(frac, _mm256_andnot_si256(subnormal, _mm256_set1_epi64x(0x800000)));
    const __m256i sh = _mm256_add_epi64(_mm256_sub_epi64(e, subnormal), _mm256_set1_epi64x(g->F - 150));
    __m256i l = _mm256_sllv_epi64(m, sh);
    __m256i h = _mm256_or_si256(_mm256_sllv_epi64(m, _mm256_sub_epi64(sh, _mm256_set1_epi64x(64))),
                                _mm256_srlv_epi64(m, _mm256_sub_epi64(_mm256_set1_epi64x(64), sh)));
    const __m256i below = _mm256_cmpgt_epi64(zero, sh);
    const __m256i s = _mm256_sub_epi64(zero, sh);
    const __m256i half = _mm256_sllv_epi64(one, _mm256_sub_epi64(s, one));
    l = _mm256_blendv_epi8(l, _mm256_srlv_epi64(_mm256_add_epi64(m, half), s), below);
    const __m256i bad = _mm256_or_si256(nonfinite, big);
    l = _mm256_andnot_si256(bad, l);
    h = _mm256_andnot_si256(bad, h);
    /* Negative floats (neg = -1): -l, and ~h + 1 only where l is 0. */
    const __m256i neg = _mm256_sub_epi64(zero, _mm256_srli_epi64(u, 31));
    *lo = _mm256_sub_epi64(_mm256_xor_si256(l, neg), neg);
    *hi = _mm256_sub_epi64(_mm256_xor_si256(h, neg), _mm256_and_si256(neg, _mm256_cmpeq_epi64(l, zero)));
    const int nf = _mm256_movemask_pd(_mm256_castsi256_pd(nonfinite));
    const int bg = _mm256_movemask_pd(_mm256_castsi256_pd(big));
    if (nf | bg) count_bad(g, __builtin_popcount((unsigned)nf), __builtin_popcount((unsigned)bg));
}

/* a + b for 2 interleaved fixed128: the low lanes' carries (unsigned s < a,
 * by the signed compare of both with the sign bit flipped) move up a lane. */
FIXED_AVX2 static inline __m256i add2(__m256i a, __m256i b)
{
    const __m256i s = _mm256_add_epi64(a, b), flip = _mm256_set1_epi64x((long long)(1ULL << 63));
    const __m256i carry = _mm256_cmpgt_epi64(_mm256_xor_si256(a, flip), _mm256_xor_si256(s, flip));
    return _mm256_sub_epi64(s, _mm256_slli_si256(carry, 8));
}

FIXED_AVX2 static size_t convert_avx2(FixedGrid *g, fixed128 *acc, const float *x, size_t n, int add)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i lo, hi;
        to_fixed4(g, x + i, &lo, &hi);
        const __m256i t0 = _mm256_unpacklo_epi64(lo, hi), t1 = _mm256_unpackhi_epi64(lo, hi);
        __m256i a = _mm256_permute2x128_si256(t0, t1, 0x20), b = _mm256_permute2x128_si256(t0, t1, 0x31);
        __m256i *p = (__m256i *)(acc + i);
        if (add) {
            a = add2(_mm256_loadu_si256(p), a);
            b = add2(_mm256_loadu_si256(p + 1), b);
        }
        _mm256_storeu_si256(p, a);
        _mm256_storeu_si256(p + 1, b);
    }
    return i;
}

FIXED_AVX2 static size_t sum_avx2(unsigned char *acc, const unsigned char *a, size_t n)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        __m256i *p = (__m256i *)(acc + 16 * i);
        _mm256_storeu_si256(p, add2(_mm256_loadu_si256(p), _mm256_loadu_si256((const __m256i *)(a + 16 * i))));
    }
    return i;
}

/* hi32 * 2^32 of each lane in double, exactly: unsigned, or signed. */
FIXED_AVX2 static inline __m256d upper_pd(__m256i v, int is_signed)
{
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);   /* 2^52 */
    __m256d d = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(v, 32), magic)),
                              _mm256_set1_pd(4503599627370496.0));
    if (is_signed)   /* hi32 >= 2^31 stands for hi32 - 2^32 */
        d = _mm256_sub_pd(d, _mm256_and_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), v)),
                                           _mm256_set1_pd(4294967296.0)));
    return _mm256_mul_pd(d, _mm256_set1_pd(4294967296.0));
}

FIXED_AVX2 static inline __m256d int64_pd(__m256i v, int is_signed)
{
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
    const __m256d low = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi64x(0xffffffffLL)), magic)),
        _mm256_set1_pd(4503599627370496.0));
    return _mm256_add_pd(upper_pd(v, is_signed), low);
}

FIXED_AVX2 static size_t to_float_avx2(const FixedGrid *g, const fixed128 *acc, float *out, size_t n)
{
    const __m256d scale = _mm256_set1_pd(ldexp(1.0, -g->F)), two64 = _mm256_set1_pd(18446744073709551616.0);
    const __m256i zero = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i *p = (const __m256i *)(acc + i);
        const __m256i a = _mm256_loadu_si256(p), b = _mm256_loadu_si256(p + 1);
        /* unpack gives entries 0, 2, 1, 3; the permute puts them in order */
        const __m256i lo = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), 0xd8);
        const __m256i hi = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), 0xd8);
        const __m256d ulo = int64_pd(lo, 0);
        __m256d d = _mm256_add_pd(_mm256_mul_pd(int64_pd(hi, 1), two64), ulo);
        d = _mm256_blendv_pd(d, ulo, _mm256_castsi256_pd(_mm256_cmpeq_epi64(hi, zero)));
        const __m256i small_neg = _mm256_and_si256(_mm256_cmpeq_epi64(hi, _mm256_set1_epi64x(-1)),
                                                   _mm256_cmpgt_epi64(zero, lo));
        d = _mm256_blendv_pd(d, int64_pd(lo, 1), _mm256_castsi256_pd(small_neg));
        _mm_storeu_ps(out + i, _mm256_cvtpd_ps(_mm256_mul_pd(d, scale)));
    }
    return i;
}
#endif

void fixed_add(FixedGrid *g, fixed128 *acc, const float *x, size_t n)
{
    size_t i = 0;
#if FIXED_X86_SIMD
    if (use_avx512()) i = convert_avx512(g, acc, x, n, 1);
    else if (use_avx2()) i = convert_avx2(g, acc, x, n, 1);
#endif
    for (; i < n; i++) acc[i] += to_fixed(g, x[i]);
}

void fixed_set(FixedGrid *g, fixed128 *acc, const float *x, size_t n)
{
    size_t i = 0;
#if FIXED_X86_SIMD
    if (use_avx512()) i = convert_avx512(g, acc, x, n, 0);
    else if (use_avx2()) i = convert_avx2(g, acc, x, n, 0);
#endif
    for (; i < n; i++) acc[i] = to_fixed(g, x[i]);
}

fixed128 fixed_from_float(FixedGrid *g, float x) { return to_fixed(g, x); }

/* The exponent field of x's bits, in place (0x7f800000: an inf or NaN). */
static inline uint32_t exponent_bits(uint32_t u) { return u & 0x7f800000u; }

INNA_CLONES unsigned fixed_exponent(const float *x, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        m = exponent_bits(u) > m ? exponent_bits(u) : m;
    }
    return m >> 23;
}

INNA_CLONES unsigned fixed_copy_exponent(float *dst, const float *src, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        memcpy(&dst[i], &u, sizeof u);
        m = exponent_bits(u) > m ? exponent_bits(u) : m;
    }
    return m >> 23;
}

int fixed_exponent_fits(const FixedGrid *g, unsigned e)
{
    return e != 0xff && (int)e - 126 <= g->T - g->guard;
}

void fixed_scan(FixedGrid *g, const float *x, size_t n)
{
    if (fixed_exponent_fits(g, fixed_exponent(x, n))) return;   /* nothing to count */
    for (size_t i = 0; i < n; i++) (void)to_fixed(g, x[i]);
}

/* hi * 2^64 + lo in double (two roundings, both deterministic), then scaled
 * by 2^-F (exact) and rounded to float: the result is within one float ulp
 * of the exact sum, and the same bits everywhere. */
static inline float to_float_1(double scale, fixed128 v)
{
    const double two64 = 18446744073709551616.0;
    const int64_t hi = (int64_t)(v >> 64);
    const uint64_t lo = (uint64_t)v;
    const double d = hi == 0 ? (double)lo
                   : hi == -1 && lo >= (1ULL << 63) ? (double)(int64_t)lo
                   : (double)hi * two64 + (double)lo;
    return (float)(d * scale);
}

void fixed_to_float(const FixedGrid *g, const fixed128 *acc, float *out, size_t n)
{
    const double scale = ldexp(1.0, -g->F);
    size_t i = 0;
#if FIXED_X86_SIMD
    if (use_avx512()) i = to_float_avx512(g, acc, out, n);
    else if (use_avx2()) i = to_float_avx2(g, acc, out, n);
#endif
    for (; i < n; i++) out[i] = to_float_1(scale, acc[i]);
}

void fixed_sum_to_float(FixedGrid *g, const float *const *x, int nx, float *out, size_t n)
{
    enum { PIECE = 256 };
    fixed128 acc[PIECE];
    size_t i = 0;
#if FIXED_X86_SIMD
    if (use_avx512()) i = sum_to_float_avx512(g, x, nx, out, n);
#endif
    for (; i < n; i += PIECE) {   /* elsewhere, and the tail: the three steps */
        const size_t m = n - i < PIECE ? n - i : PIECE;
        fixed_set(g, acc, x[0] + i, m);
        for (int k = 1; k < nx; k++) fixed_add(g, acc, x[k] + i, m);
        fixed_to_float(g, acc, out + i, m);
    }
}

/* Unsigned arithmetic, so the addition is defined even if it wrapped (it
 * cannot: the grid's guard bits leave room for every term).  Byte pointers:
 * Open MPI may hand the operation unaligned buffers, so the scalar loop moves
 * through memcpy. */
static void sum_bytes(unsigned char *acc, const unsigned char *a, size_t n)
{
    size_t i = 0;
#if FIXED_X86_SIMD
    if (use_avx512()) i = sum_avx512(acc, a, n);
    else if (use_avx2()) i = sum_avx2(acc, a, n);
#endif
    for (; i < n; i++) {
        unsigned __int128 x, y;
        memcpy(&x, a + 16 * i, 16);
        memcpy(&y, acc + 16 * i, 16);
        y += x;
        memcpy(acc + 16 * i, &y, 16);
    }
}

void fixed_sum_into(fixed128 *acc, const fixed128 *a, size_t n)
{
    sum_bytes((unsigned char *)acc, (const unsigned char *)a, n);
}

static void sum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    sum_bytes(inout, in, (size_t)*len);
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
