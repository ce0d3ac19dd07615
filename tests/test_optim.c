/* Optimizers against values worked out by hand (arithmetic in the comments;
 * cross-checked with an independent python one-liner, never with this code).
 * theta and the state are floats, so the tolerance is 1e-6 relative. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "optim.h"

#define TOL 1e-6
#define MAXN 4

/* Runs `steps` optim_step calls (k = 0, 1, ...) with the gradients grads[k][.]. */
static void run(const OptimConfig *c, float *theta, size_t n, float grads[][MAXN], int steps)
{
    static float state[2 * MAXN];
    Optimizer o;
    optim_init(&o, c, n, optim_nstate(c) ? state : NULL);
    for (int k = 0; k < steps; k++) {
        float v[MAXN];
        memcpy(v, grads[k], sizeof v);
        optim_step(&o, theta, v, k);
        CHECK(memcmp(v, grads[k], sizeof v) == 0);   /* v is never modified */
    }
}

static void check_vec(const float *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++) CHECK_CLOSE(got[i], want[i], TOL);
}

static OptimConfig inna_cfg(Psi0Kind psi0)
{
    return (OptimConfig){.kind = OPT_INNA, .lr = 0.01, .alpha = 0.5, .beta = 0.1, .psi0 = psi0};
}

/* Common INNA setting: a = 0.5, b = 0.1, so 1/b = 10, 1/b - a = 9.5,
 * 1 - ab = 0.95, b^2 - b = -0.09; theta_0 = (1, -2), gamma = 0.01;
 * v_0 = (0.5, 3), v_1 = (-1, 2), v_2 = (2, -1).  A_k = 9.5 th_k - 10 psi_k. */
static float inna_grads[3][MAXN] = {{0.5f, 3}, {-1, 2}, {2, -1}};

static void test_inna_paper(void)
{
    OptimConfig c = inna_cfg(PSI0_PAPER);
    float th[MAXN] = {1, -2};
    /* psi0 = 0.95 th0 + 0.09 v0 = (0.95 + 0.045, -1.9 + 0.27) = (0.995, -1.63)
     * k=0: A = (9.5 - 9.95, -19 + 16.3) = (-0.45, -2.7)
     *      th1 = th0 + 0.01 (A - 0.1 v0) = (1 - 0.005, -2 - 0.03) = (0.995, -2.03)
     *      psi1 = psi0 + 0.01 A = (0.9905, -1.657)
     * k=1: A = (9.4525 - 9.905, -19.285 + 16.57) = (-0.4525, -2.715)
     *      th2 = (0.995 + 0.01 (-0.4525 + 0.1), -2.03 + 0.01 (-2.715 - 0.2))
     *          = (0.991475, -2.05915);  psi2 = (0.985975, -1.68415)
     * k=2: A = (9.4190125 - 9.85975, -19.561925 + 16.8415) = (-0.4407375, -2.720425)
     *      th3 = (0.991475 + 0.01 (-0.4407375 - 0.2), -2.05915 + 0.01 (-2.720425 + 0.1))
     *          = (0.985067625, -2.08535425) */
    run(&c, th, 2, inna_grads, 1);
    check_vec(th, (double[]){0.995, -2.03}, 2);
    th[0] = 1; th[1] = -2;
    run(&c, th, 2, inna_grads, 3);
    check_vec(th, (double[]){0.985067625, -2.08535425}, 2);
}

static void test_inna_zero(void)
{
    OptimConfig c = inna_cfg(PSI0_ZERO);
    float th[MAXN] = {1, -2};
    /* psi0 = 0.95 th0 = (0.95, -1.9), so A_0 = 9.5 th0 - 10 psi0 = 0:
     * k=0: th1 = th0 - 0.01 * 0.1 v0 = (0.9995, -2.003);  psi1 = psi0
     * k=1: A = (9.49525 - 9.5, -19.0285 + 19) = (-0.00475, -0.0285)
     *      th2 = (0.9995 + 0.01 (-0.00475 + 0.1), -2.003 + 0.01 (-0.0285 - 0.2))
     *          = (1.0004525, -2.005285) */
    run(&c, th, 2, inna_grads, 2);
    check_vec(th, (double[]){1.0004525, -2.005285}, 2);
}

static void test_inna_decay(void)
{
    OptimConfig c = inna_cfg(PSI0_ZERO);
    c.q = 0.5;
    float th[MAXN] = {1, -2};
    /* gamma_0 = 0.01, gamma_1 = 0.01 / sqrt(2) = 0.00707106781186547
     * k=0 as in test_inna_zero: th1 = (0.9995, -2.003), psi1 = (0.95, -1.9)
     * k=1: A = (-0.00475, -0.0285)
     *      th2 = (0.9995 + 0.00707106781 * 0.09525, -2.003 + 0.00707106781 * (-0.2285))
     *          = (0.9995 + 0.000673519209, -2.003 - 0.001615738995)
     *          = (1.000173519209, -2.004615738995) */
    run(&c, th, 2, inna_grads, 2);
    check_vec(th, (double[]){1.000173519209, -2.004615738995}, 2);
}

static void test_inna_weight_decay(void)
{
    OptimConfig c = inna_cfg(PSI0_PAPER);
    c.weight_decay = 0.1;
    float th[MAXN] = {2};
    float g[2][MAXN] = {{1}, {1}};
    /* v' = v + 0.1 th.  k=0: v'0 = 1 + 0.2 = 1.2
     *   psi0 = 0.95 * 2 + 0.09 * 1.2 = 2.008;  A = 19 - 20.08 = -1.08
     *   th1 = 2 + 0.01 (-1.08 - 0.12) = 1.988 (velocity -v'0);  psi1 = 2.008 - 0.0108 = 1.9972
     * k=1: v'1 = 1 + 0.1988 = 1.1988;  A = 9.5 * 1.988 - 19.972 = 18.886 - 19.972 = -1.086
     *   th2 = 1.988 + 0.01 (-1.086 - 0.11988) = 1.988 - 0.0120588 = 1.9759412 */
    run(&c, th, 1, g, 2);
    CHECK_CLOSE(th[0], 1.9759412, TOL);
}

/* With the paper's psi0 the first step is theta_1 = theta_0 - gamma_0 v_0:
 * (1/b - a) th0 - (1/b) [(1 - ab) th0 - (b^2 - b) v0] - b v0
 *   = (1/b - a - 1/b + a) th0 + (b - 1) v0 - b v0 = -v0.
 * a = 0.5, b = 0.1; dyadic data make every float exact, so equality holds;
 * generic data: equal up to the rounding of theta_1 to float. */
static void test_inna_initial_velocity(void)
{
    OptimConfig c = inna_cfg(PSI0_PAPER);
    c.lr = 0.125;
    float th0[3] = {0.5f, -1.25f, 3}, th[MAXN];
    float g[1][MAXN] = {{0.25f, 2, -0.5f}};
    memcpy(th, th0, sizeof th0);
    run(&c, th, 3, g, 1);
    for (int i = 0; i < 3; i++) CHECK(((double)th[i] - th0[i]) / 0.125 == -(double)g[0][i]);

    float th1[3] = {0.3f, -1.7f, 2.2f};
    float g1[1][MAXN] = {{0.9f, -0.4f, 1.3f}};
    c.lr = 0.01;
    memcpy(th, th1, sizeof th1);
    run(&c, th, 3, g1, 1);
    for (int i = 0; i < 3; i++) {
        double half_ulp = 0.5 * (nextafterf(fabsf(th[i]), INFINITY) - fabsf(th[i]));
        double vel = ((double)th[i] - th1[i]) / 0.01;
        CHECK(fabs(vel + g1[0][i]) <= (half_ulp + 1e-15) / 0.01);
    }
}

/* SGD: lr = 0.1, theta_0 = (1, -1), g = (0.5, -2), (1, 1), (-3, 0.5). */
static float sgd_grads[3][MAXN] = {{0.5f, -2}, {1, 1}, {-3, 0.5f}};

static void test_sgd(void)
{
    OptimConfig c = {.kind = OPT_SGD, .lr = 0.1};
    float th[MAXN] = {1, -1};
    /* plain: th1 = (1 - 0.05, -1 + 0.2) = (0.95, -0.8); th2 = (0.85, -0.9);
     *        th3 = (0.85 + 0.3, -0.9 - 0.05) = (1.15, -0.95) */
    run(&c, th, 2, sgd_grads, 3);
    check_vec(th, (double[]){1.15, -0.95}, 2);
    CHECK(optim_nstate(&c) == 0);

    /* heavy ball mu = 0.9: buf0 = g0, th1 = (0.95, -0.8)
     *   buf1 = 0.9 (0.5, -2) + (1, 1) = (1.45, -0.8);  th2 = (0.95 - 0.145, -0.8 + 0.08) = (0.805, -0.72)
     *   buf2 = 0.9 (1.45, -0.8) + (-3, 0.5) = (-1.695, -0.22);  th3 = (0.805 + 0.1695, -0.72 + 0.022)
     *        = (0.9745, -0.698) */
    c.momentum = 0.9;
    th[0] = 1; th[1] = -1;
    run(&c, th, 2, sgd_grads, 3);
    check_vec(th, (double[]){0.9745, -0.698}, 2);

    /* Nesterov: d = g + 0.9 buf
     *   d0 = 1.9 g0 = (0.95, -3.8);  th1 = (0.905, -0.62)
     *   d1 = (1, 1) + 0.9 (1.45, -0.8) = (2.305, 0.28);  th2 = (0.6745, -0.648)
     *   d2 = (-3, 0.5) + 0.9 (-1.695, -0.22) = (-4.5255, 0.302);  th3 = (1.12705, -0.6782) */
    c.nesterov = 1;
    th[0] = 1; th[1] = -1;
    run(&c, th, 2, sgd_grads, 3);
    check_vec(th, (double[]){1.12705, -0.6782}, 2);
}

static void test_sgd_weight_decay(void)
{
    OptimConfig c = {.kind = OPT_SGD, .lr = 0.1, .weight_decay = 0.1};
    float th[MAXN] = {1};
    float g[1][MAXN] = {{0.5f}};
    /* th1 = 1 - 0.1 (0.5 + 0.1 * 1) = 0.94 */
    run(&c, th, 1, g, 1);
    CHECK_CLOSE(th[0], 0.94, TOL);
}

static void test_adam(void)
{
    OptimConfig c = {.kind = OPT_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    float th[MAXN] = {1, -1, 0.5f};
    float g[2][MAXN] = {{0.5f, -2, 0}, {1, 1, 0}};
    /* k=0: m = 0.1 g = (0.05, -0.2, 0), s = 0.001 g^2 = (0.00025, 0.004, 0)
     *   mhat = m / 0.1 = g, shat = s / 0.001 = g^2: step = 0.01 g / (|g| + 1e-8)
     *   th1 = (1 - 0.0099999998, -1 + 0.00999999995, 0.5) = (0.9900000002, -0.99000000005, 0.5)
     *   (the first Adam step is -gamma sign(g); a zero gradient leaves theta alone) */
    run(&c, th, 3, g, 1);
    check_vec(th, (double[]){0.9900000002, -0.99000000005, 0.5}, 3);
    /* k=1: m = 0.9 m + 0.1 g = (0.145, -0.08), s = 0.999 s + 0.001 g^2 = (0.00124975, 0.004996)
     *   mhat = m / (1 - 0.81) = (0.763157894737, -0.421052631579)
     *   shat = s / (1 - 0.998001) = (0.625187593797, 2.499249624812)
     *   sqrt(shat) = (0.790688051183, 1.580901459550)
     *   th2 = (0.99 - 0.01 * 0.965181936, -0.99 + 0.01 * 0.266337033)
     *       = (0.980348180639, -0.987336629670, 0.5) */
    th[0] = 1; th[1] = -1; th[2] = 0.5f;
    run(&c, th, 3, g, 2);
    check_vec(th, (double[]){0.980348180639, -0.987336629670, 0.5}, 3);
}

static void test_adagrad(void)
{
    OptimConfig c = {.kind = OPT_ADAGRAD, .lr = 0.1, .eps = 1e-10};
    float th[MAXN] = {1, -1};
    float g[2][MAXN] = {{0.5f, -2}, {1, 1}};
    /* k=0: G = (0.25, 4); th1 = (1 - 0.1 * 0.5 / 0.5, -1 + 0.1 * 2 / 2) = (0.9, -0.9)
     * k=1: G = (1.25, 5); th2 = (0.9 - 0.1 / sqrt(1.25), -0.9 - 0.1 / sqrt(5))
     *                         = (0.9 - 0.0894427191, -0.9 - 0.0447213595)
     *                         = (0.8105572809, -0.9447213595) */
    run(&c, th, 2, g, 2);
    check_vec(th, (double[]){0.8105572809, -0.9447213595}, 2);
}

static void test_step_size(void)
{
    OptimConfig c = {.kind = OPT_SGD, .lr = 0.1};
    CHECK_CLOSE(optim_step_size(&c, 0), 0.1, 1e-15);
    CHECK_CLOSE(optim_step_size(&c, 1000), 0.1, 1e-15);     /* q = 0: constant */
    c.q = 0.5;
    CHECK_CLOSE(optim_step_size(&c, 0), 0.1, 1e-15);
    CHECK_CLOSE(optim_step_size(&c, 3), 0.05, 1e-15);        /* 0.1 * 4^-1/2 */
    CHECK_CLOSE(optim_step_size(&c, 8), 0.1 / 3, 1e-15);     /* 0.1 * 9^-1/2 */
    c.q = 0.25;
    CHECK_CLOSE(optim_step_size(&c, 15), 0.05, 1e-15);       /* 0.1 * 16^-1/4 */
    c.q = 1;
    CHECK_CLOSE(optim_step_size(&c, 9), 0.01, 1e-15);        /* 0.1 / 10 */
    /* Linear warm-up over 4 steps: gamma_k times (k+1)/4 while k + 1 < 4. */
    c.q = 0;
    c.warmup = 4;
    CHECK_CLOSE(optim_step_size(&c, 0), 0.025, 1e-15);
    CHECK_CLOSE(optim_step_size(&c, 2), 0.075, 1e-15);
    CHECK_CLOSE(optim_step_size(&c, 3), 0.1, 1e-15);
    CHECK_CLOSE(optim_step_size(&c, 50), 0.1, 1e-15);
    c.q = 0.5;
    CHECK_CLOSE(optim_step_size(&c, 1), 0.1 / sqrt(2.0) * 0.5, 1e-15);  /* 0.1 * 2^-1/2 * 2/4 */
    CHECK_CLOSE(optim_step_size(&c, 8), 0.1 / 3, 1e-15);               /* past the warm-up */
}

static void test_init(void)
{
    OptimConfig c = {.kind = OPT_ADAM};
    float state[2 * MAXN];
    Optimizer o;
    memset(state, 0xff, sizeof state);
    optim_init(&o, &c, MAXN, state);
    CHECK(o.nstate == 2 && o.n == MAXN && o.initialized == 0 && o.state == state);
    for (int i = 0; i < 2 * MAXN; i++) CHECK(state[i] == 0.0f);
    c.kind = OPT_INNA;    CHECK(optim_nstate(&c) == 1);
    c.kind = OPT_ADAGRAD; CHECK(optim_nstate(&c) == 1);
    c.kind = OPT_SGD;     CHECK(optim_nstate(&c) == 0);
    c.momentum = 0.9;     CHECK(optim_nstate(&c) == 1);
}

/* optim_step_fill (the exact mode's update, v written block by block) gives
 * optim_step's bits for every kind, over several blocks and a short last
 * one, on the first step (psi_0, the SGD buffer) and after it. */
static const float *fill_src;

static void fill_copy(void *ctx, float *v, size_t off, size_t n)
{
    (void)ctx;
    memcpy(v + off, fill_src + off, n * sizeof *v);
}

static void test_step_fill(void)
{
    enum { N = 5003, STEPS = 3 };
    static float th_a[N], th_b[N], st_a[2 * N], st_b[2 * N], v[STEPS][N], w[N];
    const OptimConfig cfgs[] = {
        {.kind = OPT_INNA, .lr = 0.05, .alpha = 0.5, .beta = 0.7, .weight_decay = 1e-3},
        {.kind = OPT_INNA, .lr = 0.05, .alpha = 0.5, .beta = 0.7, .psi0 = PSI0_ZERO},
        {.kind = OPT_SGD, .lr = 0.05, .momentum = 0.9, .nesterov = 1, .weight_decay = 1e-3},
        {.kind = OPT_SGD, .lr = 0.05},
        {.kind = OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
        {.kind = OPT_ADAGRAD, .lr = 0.01, .eps = 1e-10},
    };
    for (size_t i = 0; i < N; i++) {
        th_a[i] = sinf((float)i);
        for (int k = 0; k < STEPS; k++) v[k][i] = cosf((float)(i * (k + 2))) * 1e-2f;
    }
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        Optimizer a, b;
        optim_init(&a, &cfgs[c], N, st_a);
        optim_init(&b, &cfgs[c], N, st_b);
        float *ta = th_a, *tb = th_b;
        memcpy(tb, ta, sizeof th_a);
        for (int k = 0; k < STEPS; k++) {
            optim_step(&a, ta, v[k], k);
            fill_src = v[k];
            optim_step_fill(&b, tb, w, k, fill_copy, NULL);
        }
        CHECK(memcmp(ta, tb, sizeof th_a) == 0);
        CHECK(memcmp(st_a, st_b, sizeof st_a) == 0);
        CHECK(memcmp(w, v[STEPS - 1], sizeof w) == 0);
        CHECK(a.initialized == b.initialized);
    }
}

int main(void)
{
    test_step_fill();
    test_init();
    test_step_size();
    test_inna_paper();
    test_inna_zero();
    test_inna_decay();
    test_inna_weight_decay();
    test_inna_initial_velocity();
    test_sgd();
    test_sgd_weight_decay();
    test_adam();
    test_adagrad();
    return check_report("test_optim");
}
