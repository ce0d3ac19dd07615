/* The programs' shared pieces (program.h). */
#include <mpi.h>
#include <stdio.h>
#include "blaskernel.h"
#include "fixedsum.h"
#include "program.h"

void program_start(int *argc, char ***argv, int *rank, int *size)
{
    blaskernel_choose(*argv);
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
}

int agree(int rc, const char *msg)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int worst = 0, first_bad = size, mine = rc ? rank : size;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc && rank == first_bad && msg[0]) {
        if (rank == 0) fprintf(stderr, "%s: %s\n", program_name, msg);
        else fprintf(stderr, "%s: rank %d: %s\n", program_name, rank, msg);
    }
    return worst;
}

int finish(int status)
{
    fixed_mpi_free();
    MPI_Finalize();
    return status;
}

void report_blas(void)
{
    char text[512];
    blaskernel_report(text, sizeof text);
    fputs(text, stdout);
}
