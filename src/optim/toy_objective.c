/* The 2-D nonsmooth toy of design note section 5 (see include/toy.h). */
#include <math.h>

#include "toy.h"

static double sign0(double x) { return (x > 0) - (x < 0); }   /* sign(0) = 0 */

double toy_objective(double t1, double t2)
{
    double r = t2 - fabs(t1);
    return 100.0 * r * r + fabs(1.0 - t1);
}

/* dJ/dt1 = -200 (t2 - |t1|) sign(t1) - sign(1 - t1),  dJ/dt2 = 200 (t2 - |t1|) */
void toy_subgradient(double t1, double t2, double g[2])
{
    double r = t2 - fabs(t1);
    g[0] = -200.0 * r * sign0(t1) - sign0(1.0 - t1);
    g[1] = 200.0 * r;
}

static int toy_recorded(long k, long every, long iterations)
{
    return every > 0 && (k % every == 0 || k == iterations);
}

double toy_run(double alpha, double beta, Psi0Kind psi0, double gamma, long iterations,
               long every, ToyRecord record, void *ctx, float theta_out[2])
{
    OptimConfig c = {.kind = OPT_INNA, .lr = gamma, .q = 0.0, .alpha = alpha,
                     .beta = beta, .psi0 = psi0};
    float theta[2] = {(float)TOY_START_T1, (float)TOY_START_T2}, psi[2], v[2];
    double g[2];
    Optimizer o;
    optim_init(&o, &c, 2, psi);
    for (long k = 0;; k++) {
        if (record && toy_recorded(k, every, iterations))
            record(ctx, k, theta, toy_objective(theta[0], theta[1]));
        if (k == iterations) break;
        toy_subgradient(theta[0], theta[1], g);
        v[0] = (float)g[0];
        v[1] = (float)g[1];
        optim_step(&o, theta, v, k);
    }
    theta_out[0] = theta[0];
    theta_out[1] = theta[1];
    return toy_objective(theta[0], theta[1]);
}
