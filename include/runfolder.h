/* The run folder (run.out): its file names, and its lifecycle.
 *
 *   ckpt-<step, 9 digits>.h5   checkpoints (checkpoint.h), the newest
 *                              checkpoint.keep of them kept
 *   latest.h5                  relative symlink to the newest checkpoint
 *   metrics.h5, model.h5       metrics.h, state.h
 *   inna.lock                  the lock of the job that trains here
 *   <one of those>.tmp.<pid>   a file being written
 *
 * One job at a time trains in a folder: rank 0 holds a lock on RUN_LOCK for
 * the job's whole life (an open-file-description lock, which the kernel drops
 * when the process dies, so a kill -9 never leaves a folder locked).  Files
 * are written under a temporary name (runfolder_tmp_name), fsynced and
 * renamed (src/state/publish.h), so a reader sees the old file or the new
 * one; the temporary files of a job that died are removed by the next job
 * that claims the folder.
 *
 * The functions below that take err write one line to it: the runfolder_claim
 * family starts it with "run.out: "; the checkpoint family (latest, prune)
 * leaves the file to the caller ("cannot list folder x: ..."). */
#ifndef INNA_RUNFOLDER_H
#define INNA_RUNFOLDER_H
#include <stddef.h>

#define RUN_MODEL   "model.h5"
#define RUN_METRICS "metrics.h5"
#define RUN_LATEST  "latest.h5"     /* symlink to the newest ckpt-<step>.h5 */
#define RUN_LOCK    "inna.lock"     /* holds "host <name> pid <n> since <time>" */
/* The error when a path in the run folder would not fit its buffer. */
#define RUN_TOO_LONG "run.out: folder name too long"

typedef struct {
    int fd;          /* the locked RUN_LOCK, -1 when not held */
    int stale;       /* temporary files of an earlier job removed on claim */
} RunFolder;

/* "<dir>/<name>" into buf; -1 when it does not fit. */
int runfolder_path(char *buf, size_t len, const char *dir, const char *name);
/* The folder holding path into buf: "." when path names none, "/" for a file
 * in the root; -1 when it does not fit. */
int runfolder_dir_of(char *buf, size_t len, const char *path);

/* Creates dir (and its parents) when missing, takes the lock, and removes the
 * temporary files a dead job left.  new_run: refuse a folder that already
 * holds a run (RUN_LATEST).  Refused, nothing is written in the folder:
 * returns -1 with err naming the folder and why (another job holds it: its
 * host and PID). */
int runfolder_claim(RunFolder *rf, const char *dir, int new_run, char *err, size_t errlen);
/* Lets the folder go (the process's exit does it too). */
void runfolder_release(RunFolder *rf);

/* The temporary name path is written under: "<path>.tmp.<pid>". */
int runfolder_tmp_name(char *buf, size_t len, const char *path);
/* 1 when name is a temporary name of one of the folder's own files. */
int runfolder_is_tmp_name(const char *name);

/* ---- checkpoints ---- */

/* "<dir>/<name>", malloc'd (NULL when out of memory). */
char *runfolder_join(const char *dir, const char *name);
/* The checkpoint file name of step: "ckpt-<step, 9 digits>.h5". */
void runfolder_ckpt_name(char *buf, size_t len, long step);
/* 1 when name is exactly runfolder_ckpt_name of some step (then *step). */
int runfolder_ckpt_step(const char *name, long *step);
/* Points <dir>/latest.h5 at name (a file in dir): a relative symlink made
 * under a temporary name and renamed over the old one, so latest.h5 is never
 * missing or dangling; then the folder is synced. */
int runfolder_point_latest(const char *dir, const char *name, char *err, size_t errlen);
/* Deletes the checkpoints of dir but the keep - 1 of highest step, not
 * counting the one of step newest (which latest.h5 names: never deleted). */
int runfolder_prune(const char *dir, int keep, long newest, char *err, size_t errlen);
/* The file <dir>/latest.h5 names (a plain file there is taken as is),
 * malloc'd; NULL with err when there is none or it cannot be read. */
char *runfolder_latest(const char *dir, char *err, size_t errlen);
#endif
