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

/* gamma_k = gamma_0 * (k + 1)^(-q),  k = 0, 1, ...  (the paper's schedule),
 * times (k + 1) / warmup during an optional linear warm-up: the first steps of
 * a freshly initialised NiN have the largest gradients, and a step size that
 * is safe later can push a class's last ReLU below zero for every input then
 * (that class is dead for good: its logit stays 0). */
double optim_step_size(const OptimConfig *c, long k)
{
    double gamma = c->q == 0.0 ? c->lr : c->lr * pow((double)k + 1.0, -c->q);
    if (k + 1 < c->warmup) gamma *= (double)(k + 1) / (double)c->warmup;
    return gamma;
}

static void update(Optimizer *o, float *theta, const float *v, double gamma, long k, size_t i0, size_t i1)
{
    switch (o->cfg.kind) {
    case OPT_INNA:    inna_step(o, theta, v, gamma, i0, i1); break;
    case OPT_SGD:     sgd_step(o, theta, v, gamma, i0, i1); break;
    case OPT_ADAM:    adam_step(o, theta, v, gamma, k, i0, i1); break;
    case OPT_ADAGRAD: adagrad_step(o, theta, v, gamma, i0, i1); break;
    }
}

/* After the first update the state vectors hold it (plain SGD has none, and
 * stays uninitialised as it always was: the checkpoint records the flag). */
static void mark_initialized(Optimizer *o)
{
    if (o->nstate > 0) o->initialized = 1;
}

void optim_step(Optimizer *o, float *theta, const float *v, long k)
{
    update(o, theta, v, optim_step_size(&o->cfg, k), k, 0, o->n);
    mark_initialized(o);
}

void optim_step_fill(Optimizer *o, float *theta, float *v, long k, OptimFill fill, void *ctx)
{
    const double gamma = optim_step_size(&o->cfg, k);
    for (size_t i = 0; i < o->n; i += OPTIM_BLOCK) {
        const size_t n = o->n - i < OPTIM_BLOCK ? o->n - i : OPTIM_BLOCK;
        fill(ctx, v, i, n);
        update(o, theta, v, gamma, k, i, i + n);
    }
    mark_initialized(o);
}
