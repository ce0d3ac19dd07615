/* Adagrad (Duchi, Hazan & Singer), g = v + wd*theta:
 *   G += g^2        theta -= gamma g / (sqrt(G) + eps) */
#include <math.h>

#include "optim.h"

void adagrad_step(Optimizer *o, float *theta, const float *v, double gamma)
{
    const double eps = o->cfg.eps, wd = o->cfg.weight_decay;
    float *G = o->state;
    for (size_t i = 0; i < o->n; i++) {
        double th = theta[i];
        double g = v[i] + wd * th;
        double acc = G[i] + g * g;
        G[i] = (float)acc;
        theta[i] = (float)(th - gamma * g / (sqrt(acc) + eps));
    }
    o->initialized = 1;
}
