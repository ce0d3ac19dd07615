/* A rank's share of the cores (see placement.h). */
#define _GNU_SOURCE   /* sched_getaffinity, CPU_* */
#include "placement.h"

#include <cblas.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* This process's affinity mask; all online CPUs if the kernel will not say. */
static void own_mask(cpu_set_t *set)
{
    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof *set, set) == 0 && CPU_COUNT(set) > 0) return;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < (online > 0 ? online : 1) && c < CPU_SETSIZE; c++) CPU_SET((int)c, set);
}

int placement_cores(MPI_Comm comm)
{
    MPI_Comm node;
    int local, me;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    MPI_Comm_rank(node, &me);
    cpu_set_t *masks = malloc(sizeof(cpu_set_t) * (size_t)local);
    if (!masks) MPI_Abort(comm, 1);   /* a few hundred bytes per local rank */
    own_mask(&masks[me]);
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, masks, (int)sizeof(cpu_set_t), MPI_BYTE, node);
    MPI_Comm_free(&node);
    /* Each of my CPUs counts 1/m, m = the local ranks whose mask holds it. */
    double share = 0.0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &masks[me])) continue;
        int m = 0;
        for (int r = 0; r < local; r++) m += CPU_ISSET(cpu, &masks[r]) != 0;
        share += 1.0 / m;
    }
    free(masks);
    const int cores = (int)(share + 1e-9);
    return cores > 0 ? cores : 1;
}

int placement_set_blas_threads(int n)
{
    openblas_set_num_threads(n);
    return openblas_get_num_threads();
}
