/* File helpers shared by the unit tests that write into a temporary folder
 * (test_metrics, test_model_h5, test_checkpoint).  The including file defines
 * _XOPEN_SOURCE 700 or _GNU_SOURCE before its first #include, for nftw. */
#ifndef INNA_FILES_H
#define INNA_FILES_H
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* dir/name, malloc'd: the tests build every path under their mkdtemp folder. */
static inline char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* The whole file, malloc'd, *len bytes; NULL when it cannot be opened.  To
 * compare a file before and after a failed write, or to edit its bytes;
 * void * so that callers take it as char or unsigned char. */
static inline void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/* Entries of dir whose name contains part, or -1: e.g. ".tmp." counts the
 * temporary files a failed or finished save must not leave behind. */
static inline int count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* nftw callback: with FTW_DEPTH | FTW_PHYS, removes the temporary folder and
 * all the tests left in it. */
static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* ---- stderr capture: failures must print nothing ---- */

static int quiet_saved_fd = -1;
static FILE *quiet_capture;

/* Sends stderr to an unlinked file in dir until quiet_end (not nested). */
static inline void quiet_begin(const char *dir)
{
    char *log = join(dir, "stderr.log");
    fflush(stderr);
    quiet_saved_fd = dup(2);
    quiet_capture = fopen(log, "w+");
    dup2(fileno(quiet_capture), 2);
    remove(log);
    free(log);
}

/* Restores stderr; returns how many bytes were written to it meanwhile. */
static inline long quiet_end(void)
{
    struct stat st;
    fflush(stderr);
    dup2(quiet_saved_fd, 2);
    close(quiet_saved_fd);
    long printed = fstat(fileno(quiet_capture), &st) == 0 ? (long)st.st_size : -1;
    fclose(quiet_capture);
    return printed;
}
#endif
