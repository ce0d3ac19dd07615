/* The memory account: a rank's resident memory (VmRSS, VmHWM) against the
 * floor of what it must hold for the step. */
#include <stdio.h>
#include "bench.h"

/* VmRSS and VmHWM of this process, MiB. */
void read_mem(double *rss, double *hwm)
{
    char line[256];
    long kb;
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *hwm = 0.0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) *rss = kb / 1024.0;
        if (sscanf(line, "VmHWM: %ld", &kb) == 1) *hwm = kb / 1024.0;
    }
    fclose(f);
}

/* Restarts VmHWM from the current RSS (Linux >= 4.0); 0 when it worked. */
int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Parameters and optimizer state; per worker (thread of the rank): gradients
 * (+ metric slots), what the engine holds for one chunk (Net.engine_bytes),
 * the chunk's input; the exact reduction's sums (trainer_sum_bytes: a 16-byte
 * sum per worker, or the gathered chunks' floats); and the synthetic data
 * sets (bytes, labels, shuffle permutation). */
Floor memory_floor(const Trainer *t)
{
    const Net *net = &t->net;
    const double W = t->nworkers;   /* every worker has its own buffers and sum */
    Floor f;
    f.params = 4.0 * net->nparams / MIB;
    f.grads = W * 4.0 * (net->nparams + NET_METRICS) / MIB;
    f.state = 4.0 * optim_nstate(&t->cfg->optim) * net->nparams / MIB;
    f.engine = W * (double)net->engine_bytes / MIB;
    f.input = W * 4.0 * shape_len(net->input) * net->max_n / MIB;
    f.acc = (double)trainer_sum_bytes(t) / MIB;
    const double sample = (double)t->train.c * t->train.h * t->train.w + 1.0;
    f.data = (sample * (double)(t->train.n + t->test.n)
              + (t->cfg->sampling == SAMPLE_SHUFFLE ? 8.0 * t->train.n : 0.0)) / MIB;
    f.total = f.params + f.grads + f.state + f.engine + f.input + f.acc + f.data;
    return f;
}

void print_memory(const Result *r)
{
    const Floor *f = &r->floor;
    printf("memory per rank (largest over ranks): VmRSS %.1f MiB, VmHWM %.1f MiB (%s); "
           "base %.1f MiB\n", r->rss, r->hwm,
           r->hwm_ok ? "peak of this run" : "peak of the process: could not reset it", r->base);
    printf("   floor %.1f MiB = parameters %.2f + optimizer state %.2f (%d vector(s)) + synthetic "
           "data %.2f + %d worker(s): gradients %.2f + engine %.2f + input %.2f + exact sum %.2f\n",
           f->total, f->params, f->state, optim_nstate(&r->cfg.optim), f->data, r->workers,
           f->grads, f->engine, f->input, f->acc);
    printf("   VmRSS / floor = %.3f, VmHWM / floor = %.3f, (VmRSS - base) / floor = %.3f\n",
           r->rss / f->total, r->hwm / f->total, (r->rss - r->base) / f->total);
    if (g_size > 1)
        printf("   beyond the floor and the base: %.1f MiB = %.2f x the %.1f MiB the step "
               "reduces\n", r->rss - r->base - f->total,
               (r->rss - r->base - f->total) / (r->msg_bytes / MIB), r->msg_bytes / MIB);
}
