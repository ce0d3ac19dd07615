/* Everything one rank holds for a training run, and the data-parallel step. */
#ifndef INNA_TRAINER_H
#define INNA_TRAINER_H
#include "config.h"
#include "data.h"
#include "net.h"
#include "optim.h"
#include "sampler.h"

typedef struct {
    const Config *cfg;
    int rank, size;
    int first, last;        /* this rank's positions [first, last) in every B_k */
    Dataset train, test;
    InputTransform tf;      /* training input: standardize, augment          */
    InputTransform tf_eval; /* test input: same standardization, no augmentation */
    Net net;
    Optimizer opt;
    float *opt_state;
    Sampler sampler;
    long *ids;              /* global indices of the local samples            */
    float *x;               /* local input batch [c][n][h][w]                 */
    int *labels;
} Trainer;

typedef struct {
    double loss;            /* mean loss over B_k                             */
    double accuracy;        /* fraction of B_k classified right               */
    double compute_s, comm_s, update_s;
} StepStats;

/* Loads data, builds the network and optimizer.  Returns 0, or 2 with err set
 * (bad input: files, shapes, classes) or 1 (out of memory). */
int trainer_setup(Trainer *t, const Config *cfg, int rank, int size, char *err, size_t errlen);
void trainer_free(Trainer *t);
long trainer_total_steps(const Trainer *t);
/* One step k: local subgradients, one MPI_Allreduce, the same update everywhere. */
void train_step(Trainer *t, long k, StepStats *st);
/* Mean loss and accuracy over a data set, split across ranks and reduced. */
void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy);
#endif
