/* The global minibatch B_k is a function of (seed, k) alone: any split of its
 * positions over ranks gives the same samples; shuffle visits every sample
 * once per epoch; iid draws with replacement; sequential is file order. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"
#include "sampler.h"

enum { N = 103, B = 10 };

/* B_k assembled from p ranks' shares equals B_k drawn whole. */
static void check_split_invariance(int kind)
{
    Sampler whole, part;
    long a[B], b[B];
    CHECK(sampler_init(&whole, kind, 42, N, B) == 0);
    CHECK(sampler_init(&part, kind, 42, N, B) == 0);
    for (long k = 0; k < 25; k++) {
        sampler_batch(&whole, k, 0, B, a);
        for (int p = 1; p <= 4; p++) {
            for (int r = 0; r < p; r++) {
                int lo = share_begin(B, r, p), hi = share_begin(B, r + 1, p);
                sampler_batch(&part, k, lo, hi, b + lo);
            }
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
    }
    sampler_free(&whole);
    sampler_free(&part);
}

static void check_shuffle_epochs(void)
{
    Sampler s;
    CHECK(sampler_init(&s, SAMPLE_SHUFFLE, 7, N, B) == 0);
    CHECK(s.steps_per_epoch == N / B);
    int seen[N];
    long ids[B];
    for (long e = 0; e < 2; e++) {
        memset(seen, 0, sizeof seen);
        for (long k = e * s.steps_per_epoch; k < (e + 1) * s.steps_per_epoch; k++) {
            sampler_batch(&s, k, 0, B, ids);
            for (int j = 0; j < B; j++) {
                CHECK(ids[j] >= 0 && ids[j] < N);
                seen[ids[j]]++;
            }
        }
        int repeats = 0, covered = 0;
        for (int i = 0; i < N; i++) { repeats += seen[i] > 1; covered += seen[i] > 0; }
        CHECK(repeats == 0);                     /* without replacement within an epoch */
        CHECK(covered == (N / B) * B);           /* the last N mod B samples wait */
    }
    /* Different epochs are different permutations: compare two whole epochs. */
    long e0[B], e1[B];
    sampler_batch(&s, 0, 0, B, e0);
    sampler_batch(&s, s.steps_per_epoch, 0, B, e1);
    CHECK(memcmp(e0, e1, sizeof e0) != 0);
    sampler_free(&s);
}

static void check_iid_and_sequential(void)
{
    Sampler s;
    long ids[B];
    CHECK(sampler_init(&s, SAMPLE_SEQUENTIAL, 7, N, B) == 0);
    sampler_batch(&s, 10, 0, B, ids);          /* positions 100..109 wrap at 103 */
    long want[B] = {100, 101, 102, 0, 1, 2, 3, 4, 5, 6};
    CHECK(memcmp(ids, want, sizeof want) == 0);
    sampler_free(&s);

    /* i.i.d. with replacement: over many draws some sample repeats inside a
     * batch of 60 out of 103 (probability of none ~ 1e-9), and all are in range. */
    CHECK(sampler_init(&s, SAMPLE_IID, 7, N, 60) == 0);
    long big[60];
    int any_repeat = 0;
    for (long k = 0; k < 5; k++) {
        sampler_batch(&s, k, 0, 60, big);
        for (int i = 0; i < 60; i++) {
            CHECK(big[i] >= 0 && big[i] < N);
            for (int j = 0; j < i; j++) any_repeat |= big[i] == big[j];
        }
    }
    CHECK(any_repeat);
    sampler_free(&s);
}

/* Two seeds give different batches; the same seed the same. */
static void check_seed(void)
{
    Sampler a, b, c;
    long x[B], y[B], z[B];
    CHECK(sampler_init(&a, SAMPLE_SHUFFLE, 1, N, B) == 0);
    CHECK(sampler_init(&b, SAMPLE_SHUFFLE, 1, N, B) == 0);
    CHECK(sampler_init(&c, SAMPLE_SHUFFLE, 2, N, B) == 0);
    sampler_batch(&a, 3, 0, B, x);
    sampler_batch(&b, 3, 0, B, y);
    sampler_batch(&c, 3, 0, B, z);
    CHECK(memcmp(x, y, sizeof x) == 0);
    CHECK(memcmp(x, z, sizeof x) != 0);
    sampler_free(&a);
    sampler_free(&b);
    sampler_free(&c);
}

int main(void)
{
    check_split_invariance(SAMPLE_SHUFFLE);
    check_split_invariance(SAMPLE_IID);
    check_split_invariance(SAMPLE_SEQUENTIAL);
    check_shuffle_epochs();
    check_iid_and_sequential();
    check_seed();
    return check_report("test_sampler");
}
