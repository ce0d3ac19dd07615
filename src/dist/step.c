/* The data-parallel step, the shape of the whole program:
 *   1. B_k is drawn from the seed alone; rank r takes positions [first, last);
 *   2. the rank sums the per-sample subgradients of its share (scaled by 1/|B_k|);
 *   3. one MPI_Allreduce (SUM) gives v_k -- the D-critical sum -- on every rank,
 *      with the step's loss and correct count riding in two extra slots;
 *   4. every rank applies the same optimizer update to its copy of theta. */
#include <mpi.h>
#include <string.h>
#include "trainer.h"

static double now(void) { return MPI_Wtime(); }

/* Step 2: forward and backward of the local share, sums into net->grads. */
static void local_subgradient(Trainer *t, long k, int n)
{
    Net *net = &t->net;
    const long epoch = sampler_epoch(&t->sampler, k);
    memset(net->grads, 0, sizeof(float) * (net->nparams + NET_METRICS));
    if (n == 0) return;   /* more ranks than samples: contribute zeros */
    data_make_batch(&t->train, t->ids, n, &t->tf, t->cfg->seed, epoch, t->x, t->labels);
    const float *logits = net_forward(net, t->x, n, 1, t->cfg->seed, k, t->ids);
    long correct = 0;
    double loss = softmax_xent(logits, t->labels, net->classes, n,
                               1.0f / (float)t->cfg->batch, net->dlogits, &correct);
    net_backward(net, t->x, n);
    net->metrics[NET_METRIC_LOSS] = (float)loss;
    net->metrics[NET_METRIC_CORRECT] = (float)correct;
}

void train_step(Trainer *t, long k, StepStats *st)
{
    Net *net = &t->net;
    const int n = t->last - t->first;
    double t0 = now();
    sampler_batch(&t->sampler, k, t->first, t->last, t->ids);
    local_subgradient(t, k, n);
    double t1 = now();
    MPI_Allreduce(MPI_IN_PLACE, net->grads, (int)(net->nparams + NET_METRICS), MPI_FLOAT,
                  MPI_SUM, MPI_COMM_WORLD);
    double t2 = now();
    optim_step(&t->opt, net->params, net->grads, k);
    double t3 = now();
    st->loss = net->metrics[NET_METRIC_LOSS] / t->cfg->batch;
    st->accuracy = net->metrics[NET_METRIC_CORRECT] / t->cfg->batch;
    st->compute_s = t1 - t0;
    st->comm_s = t2 - t1;
    st->update_s = t3 - t2;
}

void evaluate(Trainer *t, const Dataset *d, double *loss, double *accuracy)
{
    Net *net = &t->net;
    const long lo = d->n * t->rank / t->size, hi = d->n * (t->rank + 1) / t->size;
    double sums[2] = {0.0, 0.0};  /* loss, correct */
    for (long i = lo; i < hi; i += net->max_n) {
        int n = (int)(hi - i < net->max_n ? hi - i : net->max_n);
        for (int j = 0; j < n; j++) t->ids[j] = i + j;
        data_make_batch(d, t->ids, n, &t->tf_eval, t->cfg->seed, 0, t->x, t->labels);
        const float *logits = net_forward(net, t->x, n, 0, t->cfg->seed, 0, t->ids);
        long correct = 0;
        sums[0] += softmax_xent(logits, t->labels, net->classes, n, 0.0f, NULL, &correct);
        sums[1] += (double)correct;
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    *loss = sums[0] / (double)d->n;
    *accuracy = sums[1] / (double)d->n;
}
