/* Adagrad (Duchi, Hazan & Singer), g = v + wd*theta:
 *   G += g^2        theta -= gamma g / (sqrt(G) + eps) */
#include <math.h>

#include "optim.h"

INNA_CLONES void adagrad_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1)
{
    const double eps = o->cfg.eps, wd = o->cfg.weight_decay;
    float *G = o->state;
    for (size_t i = i0; i < i1; i++) {
        double th = theta[i];
        double g = v[i] + wd * th;
        double acc = G[i] + g * g;
        G[i] = (float)acc;
        theta[i] = (float)(th - gamma * g / (sqrt(acc) + eps));
    }
}
