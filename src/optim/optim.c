/* Optimizer front end: state sizes, initialisation, step-size schedule and
 * dispatch.  Weight decay is not applied here: each kind's element loop uses
 * the effective gradient  v'_i = v_i + weight_decay * theta_i  computed on the
 * fly (v itself is never modified, no extra buffer). */
#include <math.h>
#include <string.h>

#include "optim.h"

int optim_nstate(const OptimConfig *c)
{
    switch (c->kind) {
    case OPT_INNA:    return 1;                      /* psi            */
    case OPT_SGD:     return c->momentum != 0.0;     /* momentum buffer */
    case OPT_ADAM:    return 2;                      /* m, s           */
    case OPT_ADAGRAD: return 1;                      /* G = sum g^2    */
    }
    return 0;
}

void optim_init(Optimizer *o, const OptimConfig *c, size_t n, float *state)
{
    o->cfg = *c;
    o->n = n;
    o->nstate = optim_nstate(c);
    o->state = state;
    o->initialized = 0;
    if (state && o->nstate > 0)
        memset(state, 0, (size_t)o->nstate * n * sizeof *state);
}

/* gamma_k = gamma_0 * (k + 1)^(-q),  k = 0, 1, ... */
double optim_step_size(const OptimConfig *c, long k)
{
    if (c->q == 0.0) return c->lr;
    return c->lr * pow((double)k + 1.0, -c->q);
}

void optim_step(Optimizer *o, float *theta, const float *v, long k)
{
    double gamma = optim_step_size(&o->cfg, k);
    switch (o->cfg.kind) {
    case OPT_INNA:    inna_step(o, theta, v, gamma); break;
    case OPT_SGD:     sgd_step(o, theta, v, gamma); break;
    case OPT_ADAM:    adam_step(o, theta, v, gamma, k); break;
    case OPT_ADAGRAD: adagrad_step(o, theta, v, gamma); break;
    }
}
