/* What the MPI programs (inna, inna-bench; src/tools/program.c) share: their
 * exit statuses, the ranks agreeing on a failure, the end of a run and the
 * BLAS kernel report.  Each program defines program_name, the prefix of its
 * messages. */
#ifndef INNA_PROGRAM_H
#define INNA_PROGRAM_H

/* Exit statuses besides 0 (done) and 1 (anything else, e.g. a file could not
 * be written). */
enum {
    EXIT_INPUT = 2,     /* bad input: usage, config, data, checkpoint, output folder */
    EXIT_DIVERGED = 3,  /* inna: a non-finite loss or subgradient                    */
    EXIT_DISAGREE = 4,  /* inna: the ranks' parameters differ                        */
    EXIT_STOPPED = 5,   /* inna: stopped by a signal after writing a checkpoint      */
};

extern const char program_name[];   /* "inna", "inna-bench" */

/* The start of main: chooses the OpenBLAS kernel (which may run the program
 * again, before anything else), starts MPI with worker threads that compute
 * while only the master thread calls MPI; sets *rank and *size. */
void program_start(int *argc, char ***argv, int *rank, int *size);
/* Collective: the worst status over the ranks.  When rc != 0 the lowest
 * failing rank prints "NAME: msg" (rank 0) or "NAME: rank R: msg" on stderr;
 * an empty msg was already reported. */
int agree(int rc, const char *msg);
/* Frees the exact reduction's MPI type and operation and ends MPI; returns
 * status, for main's return. */
int finish(int status);
/* Prints the OpenBLAS kernel in use, who chose it, and a warning when it is
 * weaker than the CPU's (blaskernel_report). */
void report_blas(void);
#endif
