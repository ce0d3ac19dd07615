/* The 2-D nonsmooth toy (design note section 5): the objective and its
 * subgradient convention, and INNA (the real optimizer, float theta) on it:
 * convergence with the zero-velocity psi0, the paper psi0 leaving the valley,
 * and agreement with a plain double-precision transcription of eq. (11). */
#include <math.h>

#include "check.h"
#include "toy.h"

#define GAMMA 1e-4

static void test_objective(void)
{
    double g[2];
    /* start (-1, 1.5): r = t2 - |t1| = 0.5, J = 100 * 0.25 + |1 + 1| = 27
     * dJ/dt1 = -200 r sign(t1) - sign(1 - t1) = 100 - 1 = 99, dJ/dt2 = 200 r = 100 */
    CHECK_CLOSE(toy_objective(-1, 1.5), 27, 1e-15);
    toy_subgradient(-1, 1.5, g);
    CHECK_CLOSE(g[0], 99, 1e-15);
    CHECK_CLOSE(g[1], 100, 1e-15);
    /* minimizer (1, 1): J = 0, and |x|'(0) = 0 gives the subgradient 0 */
    CHECK(toy_objective(1, 1) == 0);
    toy_subgradient(1, 1, g);
    CHECK(g[0] == 0 && g[1] == 0);
    /* kink t1 = 0, (0, 0.5): r = 0.5, sign(0) = 0, so g = (0 - 1, 100) */
    toy_subgradient(0, 0.5, g);
    CHECK(g[0] == -1 && g[1] == 100);
    /* (2, 1): r = -1, g = (-200 * -1 * 1 + 1, -200) = (201, -200), J = 100 + 1 */
    toy_subgradient(2, 1, g);
    CHECK(g[0] == 201 && g[1] == -200);
    CHECK_CLOSE(toy_objective(2, 1), 101, 1e-15);
}

typedef struct { long count, last_k; float last[2]; } Rec;

static void count_record(void *ctx, long k, const float th[2], double J)
{
    Rec *r = ctx;
    (void)J;
    r->count++;
    r->last_k = k;
    r->last[0] = th[0];
    r->last[1] = th[1];
}

/* Zero-velocity psi0, 10^5 iterations: (0.5, 0.1) and (1.3, 0.1) reach (1, 1)
 * with J < 1e-5; (1.3, 0.1) ends below (0.5, 0.01) (still oscillating). */
static void test_converges(void)
{
    float th[2];
    Rec r = {0};
    double J_small = toy_run(0.5, 0.01, PSI0_ZERO, GAMMA, 100000, 0, NULL, NULL, th);
    double J_05 = toy_run(0.5, 0.1, PSI0_ZERO, GAMMA, 100000, 1000, count_record, &r, th);
    CHECK(J_05 < 1e-5);
    CHECK(fabs(th[0] - 1) < 1e-2 && fabs(th[1] - 1) < 1e-2);
    CHECK(r.count == 101 && r.last_k == 100000);        /* k = 0, 1000, ..., 100000 */
    CHECK(r.last[0] == th[0] && r.last[1] == th[1]);
    double J_13 = toy_run(1.3, 0.1, PSI0_ZERO, GAMMA, 100000, 0, NULL, NULL, th);
    CHECK(J_13 < 1e-5);
    CHECK(fabs(th[0] - 1) < 1e-2 && fabs(th[1] - 1) < 1e-2);
    CHECK(J_13 < J_small);
    printf("toy J after 1e5: (0.5,0.01) %.3g  (0.5,0.1) %.3g  (1.3,0.1) %.3g\n",
           J_small, J_05, J_13);
}

/* The paper's psi0 gives the initial velocity -grad J(-1, 1.5) = -(99, 100),
 * which throws the point out of the valley: J(theta_1000) ~ 5.5e3 for beta = 0.01. */
static void test_paper_psi0_leaves_valley(void)
{
    float th[2];
    double J = toy_run(0.5, 0.01, PSI0_PAPER, GAMMA, 1000, 0, NULL, NULL, th);
    CHECK(J > 1000);
    /* first step: theta_1 = theta_0 - gamma (99, 100) = (-1.0099, 1.49) */
    toy_run(0.5, 0.01, PSI0_PAPER, GAMMA, 1, 0, NULL, NULL, th);
    CHECK_CLOSE(th[0], -1.0099, 1e-6);
    CHECK_CLOSE(th[1], 1.49, 1e-6);
}

/* Eq. (11) in double precision, zero-velocity psi0, n steps from the start. */
static void inna_double(double a, double b, long n, double th[2])
{
    double psi[2], g[2];
    th[0] = TOY_START_T1;
    th[1] = TOY_START_T2;
    psi[0] = (1 - a * b) * th[0];
    psi[1] = (1 - a * b) * th[1];
    for (long k = 0; k < n; k++) {
        toy_subgradient(th[0], th[1], g);
        for (int i = 0; i < 2; i++) {
            double common = (1 / b - a) * th[i] - psi[i] / b;
            th[i] += GAMMA * (common - b * g[i]);
            psi[i] += GAMMA * common;
        }
    }
}

/* The float run follows the double one closely over the transient. */
static void test_matches_double(void)
{
    float th[2];
    double ref[2];
    toy_run(0.5, 0.1, PSI0_ZERO, GAMMA, 2000, 0, NULL, NULL, th);
    inna_double(0.5, 0.1, 2000, ref);
    CHECK_CLOSE(th[0], ref[0], 1e-5);
    CHECK_CLOSE(th[1], ref[1], 1e-5);
}

int main(void)
{
    test_objective();
    test_converges();
    test_paper_psi0_leaves_valley();
    test_matches_double();
    return check_report("test_toy");
}
