/* INNA, the Inertial Newton Algorithm (design note section 3, paper eq. (11)):
 *
 *   theta' = theta + g * ( (1/b - a) theta - (1/b) psi - b v )
 *   psi'   = psi   + g * ( (1/b - a) theta - (1/b) psi )
 *
 * both right-hand sides use the old theta and psi; v is the effective gradient
 * v + wd*theta (weight decay enters theta's update, never psi's directly).
 *
 * psi_0 is set on the first call, from theta_0 and v_0:
 *   PSI0_PAPER: psi_0 = (1 - a b) theta_0 - (b^2 - b) v_0
 *     then theta_1 - theta_0 = g ((1/b - a) th - (1/b - a) th + (b - 1) v - b v)
 *                            = -g v_0   (initial velocity -v_0);
 *   PSI0_ZERO:  psi_0 = (1 - a b) theta_0
 *     then theta_1 - theta_0 = -g b v_0 (the authors' PyTorch code). */
#include "optim.h"

/* psi_0 for one element (see above). */
static double inna_psi0(Psi0Kind kind, double a, double b, double th, double v)
{
    double psi = (1.0 - a * b) * th;
    if (kind == PSI0_PAPER) psi -= (b * b - b) * v;
    return psi;
}

INNA_CLONES void inna_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1)
{
    const double a = o->cfg.alpha, b = o->cfg.beta, wd = o->cfg.weight_decay;
    const double ib = 1.0 / b, c = ib - a;
    const int first = !o->initialized;
    float *psi = o->state;
    for (size_t i = i0; i < i1; i++) {
        double th = theta[i];
        double g = v[i] + wd * th;
        double p = first ? inna_psi0(o->cfg.psi0, a, b, th, g) : psi[i];
        double common = c * th - ib * p;          /* (1/b - a) theta - psi/b */
        theta[i] = (float)(th + gamma * (common - b * g));
        psi[i] = (float)(p + gamma * common);
    }
}
