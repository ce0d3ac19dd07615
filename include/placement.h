/* Where a rank runs and how many threads it may use.
 *
 * run.threads = auto gives a rank as many workers as it has cores: the CPUs
 * of its affinity mask, each counted as 1/m when m ranks of the node may run
 * on it.  Ranks that mpirun or SLURM bound to their own cores get exactly
 * those; unbound ranks (a plain start, mpirun --bind-to none, oversubscribed
 * ranks) share the node's cores instead of each taking all of them. */
#ifndef INNA_PLACEMENT_H
#define INNA_PLACEMENT_H
#include <mpi.h>

/* Collective over comm: this rank's share of its node's cores, at least 1. */
int placement_cores(MPI_Comm comm);

/* The threads OpenBLAS uses per call from now on, and what it reports after
 * being told (a library that ignores the request shows here). */
int placement_set_blas_threads(int n);
#endif
