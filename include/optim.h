/* Optimizers: element-wise updates on the flat parameter vector, one file
 * each under src/optim/.  State lives in one buffer of nstate*P floats. */
#ifndef INNA_OPTIM_H
#define INNA_OPTIM_H
#include <stddef.h>

#include "clones.h"

typedef enum { OPT_INNA, OPT_SGD, OPT_ADAM, OPT_ADAGRAD } OptimKind;
typedef enum { PSI0_PAPER, PSI0_ZERO } Psi0Kind;
/* Outside the enums, so that a switch over all kinds needs no default. */
enum { OPT_NKINDS = OPT_ADAGRAD + 1, PSI0_NKINDS = PSI0_ZERO + 1 };

/* Names in enum order, NULL-ended (optim.name's and optim.psi0's words; the
 * checkpoints' optimizer/name); src/optim/names.c. */
extern const char *const optim_names[OPT_NKINDS + 1];
extern const char *const psi0_names[PSI0_NKINDS + 1];
const char *optim_name(OptimKind k);      /* "?" when out of range */
const char *psi0_name(Psi0Kind p);
/* Name of kind k's state vector j (0-based, as laid out in Optimizer.state),
 * or NULL when k has fewer: "psi"; "momentum"; "m", "v"; "sum". */
const char *optim_state_name(OptimKind k, int j);

typedef struct {
    OptimKind kind;
    double lr;          /* gamma_0                                          */
    double q;           /* gamma_k = gamma_0 (k+1)^-q                        */
    long warmup;        /* times min(1, (k+1)/warmup) for k < warmup; 0 = none */
    double weight_decay;/* adds wd * theta to the gradient (not to psi)      */
    double alpha, beta; /* INNA                                             */
    Psi0Kind psi0;      /* INNA: paper psi_0 = (1-ab)th0 - (b^2-b) v0, or zero velocity */
    double momentum;    /* SGD heavy ball (PyTorch convention), 0 = plain     */
    int nesterov;
    double beta1, beta2, eps; /* Adam; eps also Adagrad                     */
} OptimConfig;

typedef struct {
    OptimConfig cfg;
    size_t n;           /* P                                                */
    int nstate;         /* state vectors: INNA 1 (psi), SGD 1 if momentum, Adam 2, Adagrad 1 */
    float *state;       /* nstate * P floats, zeroed                         */
    int initialized;    /* INNA psi / SGD buffer set from the first gradient */
} Optimizer;

int optim_nstate(const OptimConfig *c);
/* state must hold optim_nstate(c) * n floats; it is zeroed here. */
void optim_init(Optimizer *o, const OptimConfig *c, size_t n, float *state);
double optim_step_size(const OptimConfig *c, long k);
/* One update at step k (0-based) with the averaged subgradient v. */
void optim_step(Optimizer *o, float *theta, const float *v, long k);
/* The same update, with v written block by block just before the update
 * reads that block: fill(ctx, v, off, n) writes v[off, off + n).  The
 * producer of v (the exact sum's conversion back to float) and the update
 * then share one walk, and the block is read back from cache. */
typedef void (*OptimFill)(void *ctx, float *v, size_t off, size_t n);
/* The largest n a fill is asked for: v's block (8 KiB) stays in L1 between
 * its fill and the update. */
enum { OPTIM_BLOCK = 2048 };
void optim_step_fill(Optimizer *o, float *theta, float *v, long k, OptimFill fill, void *ctx);

/* Each kind's element loop over [i0, i1) (INNA_CLONES: vectorised where the
 * CPU allows, the same bits); optim_step sets o->initialized after the last
 * block. */
void inna_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1);
void sgd_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1);
void adam_step(Optimizer *o, float *theta, const float *v, double gamma, long k, size_t i0, size_t i1);
void adagrad_step(Optimizer *o, float *theta, const float *v, double gamma, size_t i0, size_t i1);
#endif
