/* Adam (Kingma & Ba; PyTorch form), g = v + wd*theta, step k = 0, 1, ...:
 *   m = b1 m + (1 - b1) g           s = b2 s + (1 - b2) g^2
 *   mhat = m / (1 - b1^(k+1))       shat = s / (1 - b2^(k+1))
 *   theta -= gamma mhat / (sqrt(shat) + eps) */
#include <math.h>

#include "optim.h"

INNA_CLONES void adam_step(Optimizer *o, float *theta, const float *v, double gamma, long k, size_t i0,
                            size_t i1)
{
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double wd = o->cfg.weight_decay;
    const double c1 = 1.0 - pow(b1, (double)k + 1.0);
    const double c2 = 1.0 - pow(b2, (double)k + 1.0);
    float *m = o->state, *s = o->state + o->n;
    for (size_t i = i0; i < i1; i++) {
        double th = theta[i];
        double g = v[i] + wd * th;
        double mi = b1 * m[i] + (1.0 - b1) * g;
        double si = b2 * s[i] + (1.0 - b2) * g * g;
        m[i] = (float)mi;
        s[i] = (float)si;
        theta[i] = (float)(th - gamma * (mi / c1) / (sqrt(si / c2) + eps));
    }
}
