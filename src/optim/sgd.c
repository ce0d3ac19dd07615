/* SGD, optionally with momentum in the PyTorch convention (g = v + wd*theta):
 *   buf_0 = g_0,  buf_k = mu buf_{k-1} + g_k
 *   d = g + mu buf (Nesterov)  or  d = buf (heavy ball)
 *   theta -= gamma d
 * momentum == 0: theta -= gamma g, no state. */
#include "optim.h"

static void sgd_plain(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1)
{
    const double wd = o->cfg.weight_decay;
    for (size_t i = i0; i < i1; i++) {
        double th = theta[i];
        theta[i] = (float)(th - gamma * (v[i] + wd * th));
    }
}

INNA_CLONES void sgd_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1)
{
    const double mu = o->cfg.momentum, wd = o->cfg.weight_decay;
    const int first = !o->initialized, nest = o->cfg.nesterov;
    float *buf = o->state;
    if (mu == 0.0) { sgd_plain(o, theta, v, gamma, i0, i1); return; }
    for (size_t i = i0; i < i1; i++) {
        double th = theta[i];
        double g = v[i] + wd * th;
        double m = first ? g : mu * buf[i] + g;
        double d = nest ? g + mu * m : m;
        buf[i] = (float)m;
        theta[i] = (float)(th - gamma * d);
    }
}
