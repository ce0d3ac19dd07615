/* The run folder's names and lifecycle (see runfolder.h). */
#define _GNU_SOURCE   /* F_OFD_SETLK */
#include "runfolder.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "publish.h"

#define TMP_MARK ".tmp."
#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".h5"

int runfolder_path(char *buf, size_t len, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int n = snprintf(buf, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

int runfolder_dir_of(char *buf, size_t len, const char *path)
{
    const char *slash = strrchr(path, '/');
    const int n = !slash ? snprintf(buf, len, ".")
                : snprintf(buf, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

int runfolder_tmp_name(char *buf, size_t len, const char *path)
{
    int n = snprintf(buf, len, "%s" TMP_MARK "%ld", path, (long)getpid());
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

char *runfolder_join(const char *dir, const char *name)
{
    const size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p) runfolder_path(p, len, dir, name);
    return p;
}

void runfolder_ckpt_name(char *buf, size_t len, long step)
{
    snprintf(buf, len, CKPT_PREFIX "%09ld" CKPT_SUFFIX, step);
}

int runfolder_ckpt_step(const char *name, long *step)
{
    char *end, again[64];
    const size_t plen = strlen(CKPT_PREFIX);
    if (strncmp(name, CKPT_PREFIX, plen) != 0 || !isdigit((unsigned char)name[plen])) return 0;
    errno = 0;
    long s = strtol(name + plen, &end, 10);
    if (errno || strcmp(end, CKPT_SUFFIX) != 0) return 0;
    runfolder_ckpt_name(again, sizeof again, s);
    *step = s;
    return strcmp(again, name) == 0;
}

int runfolder_is_tmp_name(const char *name)
{
    static const char *const own[] = { RUN_MODEL, RUN_METRICS, RUN_LATEST };
    const char *mark = strstr(name, TMP_MARK);
    char base[64];
    long step;
    if (!mark || !mark[strlen(TMP_MARK)]) return 0;
    for (const char *p = mark + strlen(TMP_MARK); *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    const size_t len = (size_t)(mark - name);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strlen(own[i]) == len && !strncmp(name, own[i], len)) return 1;
    if (len >= sizeof base) return 0;
    snprintf(base, sizeof base, "%.*s", (int)len, name);
    return runfolder_ckpt_step(base, &step);
}

/* mkdir -p. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, RUN_TOO_LONG);
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        const char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "run.out: cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        *p = saved;
        if (!saved) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "run.out: %s is not a folder", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "run.out: %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A new run must not mix its checkpoints with those of an earlier run (whose
 * work would be pruned away): continuing it is --resume, starting over is
 * another run.out. */
static int refuse_earlier_run(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    if (runfolder_path(path, sizeof path, dir, RUN_LATEST) != 0 || lstat(path, &st) != 0) return 0;
    snprintf(err, errlen, "run.out: %s already holds a run (" RUN_LATEST "); continue it with "
             "--resume %s, or choose another run.out", dir, dir);
    return -1;
}

/* Who holds the lock, as it wrote in the file ("" when not yet written). */
static void read_holder(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* An open-file-description lock (Linux >= 3.15): tied to this open file, not
 * to the process's other descriptors of it; a classic POSIX lock elsewhere. */
static int try_lock(int fd)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
#ifdef F_OFD_SETLK
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINVAL) return -1;
#endif
    return fcntl(fd, F_SETLK, &fl);
}

static void write_holder(int fd)
{
    char host[256] = "?", when[64] = "", line[512];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    const time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    const int n = snprintf(line, sizeof line, "host %s pid %ld since %s\n", host, (long)getpid(), when);
    if (ftruncate(fd, 0) == 0 && n > 0) {
        ssize_t w = pwrite(fd, line, (size_t)n, 0);
        (void)w;   /* the holder's name is for messages only */
    }
}

/* Removes the temporary files of the folder's own names; returns how many. */
static int remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (runfolder_is_tmp_name(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0) n++;
    closedir(d);
    return n;
}

int runfolder_claim(RunFolder *rf, const char *dir, int new_run, char *err, size_t errlen)
{
    char path[4096];
    rf->fd = -1;
    rf->stale = 0;
    if (make_dirs(dir, err, errlen) != 0) return -1;
    if (runfolder_path(path, sizeof path, dir, RUN_LOCK) != 0) {
        snprintf(err, errlen, RUN_TOO_LONG);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (new_run && refuse_earlier_run(dir, err, errlen) != 0) return -1;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    }
    if (fd < 0) {
        snprintf(err, errlen, "run.out: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (try_lock(fd) != 0) {
        const int e = errno;
        char holder[256];
        read_holder(fd, holder, sizeof holder);
        close(fd);
        if (e == EAGAIN || e == EACCES)
            snprintf(err, errlen, "run.out: %s is in use by another job (%s); wait for it to end "
                     "or stop it, or choose another run.out", dir,
                     holder[0] ? holder : "it has not written its name yet");
        else
            snprintf(err, errlen, "run.out: cannot lock %s: %s (the folder must be on a file "
                     "system with POSIX locks)", path, strerror(e));
        return -1;
    }
    if (new_run && refuse_earlier_run(dir, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    write_holder(fd);
    rf->fd = fd;
    rf->stale = remove_stale(dir);
    return 0;
}

void runfolder_release(RunFolder *rf)
{
    if (rf->fd >= 0) close(rf->fd);
    rf->fd = -1;
}

/* ---- checkpoints: latest.h5 and pruning ---- */

int runfolder_point_latest(const char *dir, const char *name, char *err, size_t errlen)
{
    char tname[64];
    runfolder_tmp_name(tname, sizeof tname, RUN_LATEST);
    char *tmp = runfolder_join(dir, tname), *latest = runfolder_join(dir, RUN_LATEST);
    int rc = -1;
    if (!tmp || !latest)
        snprintf(err, errlen, "cannot point " RUN_LATEST " at it: %s", strerror(ENOMEM));
    else if (symlink(name, tmp) < 0)
        snprintf(err, errlen, "cannot create the link %s: %s", tname, strerror(errno));
    else if (rename(tmp, latest) < 0) {
        snprintf(err, errlen, "cannot rename %s onto " RUN_LATEST ": %s", tname, strerror(errno));
        unlink(tmp);
    } else
        rc = publish_dir_sync(dir, err, errlen);
    free(tmp);
    free(latest);
    return rc;
}

static int step_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Steps of the checkpoints in dir other than `except` (malloc'd *steps). */
static int ckpt_list(const char *dir, long except, long **steps, size_t *n, char *err,
                     size_t errlen)
{
    DIR *d = opendir(dir);
    size_t cap = 0;
    *steps = NULL;
    *n = 0;
    if (!d) {
        snprintf(err, errlen, "cannot list folder %s: %s", dir, strerror(errno));
        return -1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        long s, *grown;
        if (!runfolder_ckpt_step(e->d_name, &s) || s == except) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            if (!(grown = realloc(*steps, cap * sizeof *grown))) {
                closedir(d);
                snprintf(err, errlen, "cannot list folder %s: %s", dir, strerror(ENOMEM));
                return -1;
            }
            *steps = grown;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    return 0;
}

int runfolder_prune(const char *dir, int keep, long newest, char *err, size_t errlen)
{
    long *steps;
    size_t n;
    int rc = ckpt_list(dir, newest, &steps, &n, err, errlen);
    if (rc == 0 && n > 0) qsort(steps, n, sizeof *steps, step_desc);
    for (size_t i = (size_t)keep - 1; rc == 0 && i < n; i++) {
        char name[64], *path;
        runfolder_ckpt_name(name, sizeof name, steps[i]);
        if (!(path = runfolder_join(dir, name))) {
            snprintf(err, errlen, "cannot remove old checkpoints: %s", strerror(ENOMEM));
            rc = -1;
        } else if (unlink(path) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove old checkpoint %s: %s", name, strerror(errno));
            rc = -1;
        }
        free(path);
    }
    free(steps);
    return rc;
}

char *runfolder_latest(const char *dir, char *err, size_t errlen)
{
    char *latest = runfolder_join(dir, RUN_LATEST), target[PATH_MAX];
    ssize_t n = latest ? readlink(latest, target, sizeof target - 1) : -1;
    if (n < 0 && latest && errno == EINVAL) return latest;   /* not a symlink */
    if (n < 0 && latest && errno == ENOENT)
        snprintf(err, errlen, "no checkpoint in this folder (no " RUN_LATEST ")");
    else if (n < 0)
        snprintf(err, errlen, "cannot read " RUN_LATEST ": %s", strerror(latest ? errno : ENOMEM));
    free(latest);
    if (n < 0) return NULL;
    target[n] = '\0';
    char *path = target[0] == '/' ? strdup(target) : runfolder_join(dir, target);
    if (!path) snprintf(err, errlen, "cannot read " RUN_LATEST ": %s", strerror(ENOMEM));
    return path;
}
