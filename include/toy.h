/* The 2-D nonsmooth toy problem of the paper (section 5.1, Figure 1):
 *   J(t1, t2) = 100 (t2 - |t1|)^2 + |1 - t1|,   unique minimizer (1, 1), J = 0,
 * minimised by INNA (the real optimizer, float theta) from (-1, 1.5). */
#ifndef INNA_TOY_H
#define INNA_TOY_H
#include "optim.h"

#define TOY_START_T1 (-1.0)
#define TOY_START_T2 1.5

double toy_objective(double t1, double t2);
/* A subgradient with the convention |x|'(0) = 0 (sign(0) = 0). */
void toy_subgradient(double t1, double t2, double g[2]);

/* Called for every recorded iterate theta_k (k = 0 .. iterations). */
typedef void (*ToyRecord)(void *ctx, long k, const float theta[2], double J);

/* Runs `iterations` INNA steps with step size gamma (q = 0) from the start
 * point; records theta_k when k % every == 0 and the last iterate (every <= 0:
 * no recording).  Stores the final iterate in theta_out, returns its J. */
double toy_run(double alpha, double beta, Psi0Kind psi0, double gamma, long iterations,
               long every, ToyRecord record, void *ctx, float theta_out[2]);
#endif
