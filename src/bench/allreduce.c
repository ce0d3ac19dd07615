/* --allreduce-sweep: MPI_Allreduce alone at message sizes of 8 B .. --sweep-max
 * (powers of 2), for each element type, and the local reduction operation
 * (MPI_Reduce_local) at the same sizes: the data of the latency/bandwidth
 * fit of results/scaling.py ("ALLREDUCE ..." and "REDUCE_LOCAL ..." lines). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"
#include "fixedsum.h"
#include "program.h"

#define SWEEP_TARGET_S 0.05     /* per timed trial of one message size */

static void sweep_type(int kind, size_t *elem, MPI_Datatype *type, MPI_Op *op)
{
    switch (kind) {
    case SWEEP_FIXED128: *elem = 16; *type = fixed_mpi_type(); *op = fixed_mpi_sum(); break;
    case SWEEP_FLOAT:    *elem = 4;  *type = MPI_FLOAT;        *op = MPI_SUM; break;
    default:             *elem = 1;  *type = MPI_UINT8_T;      *op = MPI_SUM; break;
    }
}

/* Seconds per call of `count` elements: all ranks agree on the repetitions;
 * the slowest rank's mean over them, best of 3 trials. */
static double time_allreduce(void *buf, int count, MPI_Datatype type, MPI_Op op, long *reps_out)
{
    MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);   /* untimed */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    for (int r = 0; r < 3; r++) MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);
    const double once = allreduce_d((now() - t0) / 3.0, MPI_MAX);
    long reps = once > 0 ? (long)ceil(SWEEP_TARGET_S / once) : 1000;
    reps = reps < 3 ? 3 : reps > 1000 ? 1000 : reps;
    double best = INFINITY;
    for (int trial = 0; trial < 3; trial++) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = now();
        for (long r = 0; r < reps; r++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, type, op, MPI_COMM_WORLD);
        best = fmin(best, allreduce_d((now() - t0) / (double)reps, MPI_MAX));
    }
    *reps_out = reps;
    return best;
}

/* The operation alone (MPI_Reduce_local on this rank): the arithmetic of a
 * reduction, without moving data between ranks; rank 0's best of 3. */
static double time_local(const void *in, void *inout, int count, MPI_Datatype type, MPI_Op op,
                         long reps)
{
    double best = INFINITY;
    MPI_Reduce_local(in, inout, count, type, op);
    for (int trial = 0; trial < 3; trial++) {
        const double t0 = now();
        for (long r = 0; r < reps; r++) MPI_Reduce_local(in, inout, count, type, op);
        best = fmin(best, (now() - t0) / (double)reps);
    }
    return best;
}

int run_sweep(const Options *o, int oversub)
{
    const size_t max = (size_t)o->sweep_max;
    unsigned char *buf = calloc(max, 1), *in = calloc(max, 1);
    int rc = agree(buf && in ? 0 : 1, "out of memory for the sweep's buffers");
    if (rc) { free(buf); free(in); return rc; }
    for (int i = 0; i < o->nsweep_types; i++) {
        size_t elem;
        MPI_Datatype type;
        MPI_Op op;
        sweep_type(o->sweep_types[i], &elem, &type, &op);
        for (size_t bytes = 8; bytes <= max; bytes *= 2) {
            if (bytes < elem) continue;
            const int count = (int)(bytes / elem);
            long reps;
            const double s = time_allreduce(buf, count, type, op, &reps);
            const double local = time_local(in, buf, count, type, op, reps);
            if (g_rank == 0) {
                printf("ALLREDUCE np=%d oversubscribed=%d type=%s bytes=%zu count=%d reps=%ld "
                       "s=%.9f GBps=%.3f\n", g_size, oversub, sweep_names[o->sweep_types[i]],
                       bytes, count, reps, s, bytes / s / 1e9);
                printf("REDUCE_LOCAL type=%s bytes=%zu s=%.9f\n", sweep_names[o->sweep_types[i]],
                       bytes, local);
                fflush(stdout);
            }
        }
    }
    free(buf);
    free(in);
    return 0;
}
