/* The OpenBLAS kernel: the right one for the CPU, by itself.
 *
 * OpenBLAS picks its kernel from the CPU model as the library loads; on a
 * model it does not know it falls back to its slowest kernel (Prescott, SSE3)
 * without a word, even on an AVX-512 CPU.  blaskernel_choose(), called first
 * thing in main (before MPI_Init), sees that, sets OPENBLAS_CORETYPE to the
 * kernel of the CPU's instruction set and executes the program again, so the
 * library loads with it -- under mpirun, SLURM or a plain start alike.  An
 * OPENBLAS_CORETYPE the user set is honoured; blaskernel_report() warns when
 * it is weaker than the CPU allows. */
#ifndef INNA_BLASKERNEL_H
#define INNA_BLASKERNEL_H
#include <stddef.h>

/* May not return (re-executes argv[0]'s program with the same arguments). */
void blaskernel_choose(char **argv);
/* The kernel in use, who chose it, and a warning line when it is weaker than
 * the CPU's: one or two lines, each ending in '\n'. */
void blaskernel_report(char *buf, size_t len);
/* The kernel for an instruction set: "SkylakeX" (AVX-512 F/BW/DQ/VL),
 * "Haswell" (AVX2 + FMA), "Sandybridge" (AVX), or NULL. */
const char *blaskernel_for_cpu(void);
/* 0 generic (Prescott, Core2, ...), 1 AVX, 2 AVX2, 3 AVX-512: what a kernel uses. */
int blaskernel_level(const char *kernel);
#endif
