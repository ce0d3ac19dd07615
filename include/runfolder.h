/* The run folder (run.out): its file names, and its lifecycle.
 *
 * One job at a time trains in a folder: rank 0 holds a lock on RUN_LOCK for
 * the job's whole life (an open-file-description lock, which the kernel drops
 * when the process dies, so a kill -9 never leaves a folder locked).  Files
 * are written under a temporary name (runfolder_tmp_name), fsynced and
 * renamed, so a reader sees the old file or the new one; the temporary files
 * of a job that died are removed by the next job that claims the folder. */
#ifndef INNA_RUNFOLDER_H
#define INNA_RUNFOLDER_H
#include <stddef.h>

#define RUN_MODEL   "model.h5"
#define RUN_METRICS "metrics.h5"
#define RUN_LATEST  "latest.h5"     /* symlink to the newest ckpt-<step>.h5 */
#define RUN_LOCK    "inna.lock"     /* holds "host <name> pid <n> since <time>" */

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
#endif
