/* Run metrics as an HDF5 file (rank 0 only): one row per training step and one
 * per epoch, readable by h5py or h5dump while the run is writing it.
 *
 * Layout of <path>: root string attributes format = "inna-metrics-1" and
 * inna_version; groups "steps" and "epochs" with one 1-D extendible chunked
 * dataset per field of StepRow / EpochRow, named like the field (int64 for
 * step and epoch, float64 for the rest), all of one group the same length.
 * Each flush replaces the file whole (written aside, then renamed onto
 * path), so a reader never sees a partial file, whenever it opens it; one
 * that keeps it open keeps that version (reopen for newer rows). */
#ifndef INNA_METRICS_H
#define INNA_METRICS_H
#include <stddef.h>

typedef struct {
    long step, epoch;       /* step k (0-based) and the epoch it belongs to      */
    double loss, accuracy;  /* on the step's minibatch                            */
    double lr;              /* step size gamma_k used                             */
    double step_s, compute_s, comm_s; /* seconds: whole step, compute, waiting on MPI */
    double images_s;        /* training images per second over the step           */
} StepRow;

typedef struct {
    long epoch, step;       /* step = steps done at the end of the epoch          */
    double train_loss, train_acc, test_loss, test_acc;
    double elapsed_s;       /* seconds since the start of the run                 */
} EpochRow;

typedef struct Metrics Metrics;

/* Creates <path> or, when resume_step >= 0 and the file exists, opens it for
 * appending after dropping every step row with step >= resume_step and every
 * epoch row with step > resume_step (so a resumed run never duplicates rows).
 * An existing file that is not a metrics file is refused and left untouched;
 * an existing metrics file with resume_step < 0 is replaced.  capacity = step
 * rows buffered in memory (allocated here, once); the buffer is written when
 * full and at every metrics_flush.  Returns 0, or with *m = NULL and err the
 * one line "<path>: <what failed>: <reason>": METRICS_BAD_FILE when the
 * existing file is not one that can be read (bad input), -1 for any other
 * failure (memory, writing). */
#define METRICS_BAD_FILE (-2)
int metrics_open(Metrics **m, const char *path, long resume_step, int capacity, char *err,
                 size_t errlen);
/* Buffers r, allocating nothing; when that fills the buffer, writes it as
 * metrics_flush does (which allocates: HDF5, the file image as it grows). */
int metrics_add_step(Metrics *m, const StepRow *r, char *err, size_t errlen);
/* Writes r, then flushes as metrics_flush. */
int metrics_add_epoch(Metrics *m, const EpochRow *r, char *err, size_t errlen);
/* Writes the buffered step rows, then H5Fflush and the whole file to disk.
 * A failed write to disk (disk full) loses no row: the rows stay in the
 * in-memory file and the next flush that succeeds writes them all. */
int metrics_flush(Metrics *m, char *err, size_t errlen);
/* Flush and close; frees m even when that fails.  NULL-safe. */
int metrics_close(Metrics *m, char *err, size_t errlen);
#endif
