/* Atomic publication of a file (see publish.h). */
#define _POSIX_C_SOURCE 200809L
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runfolder.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

/* "<what>: <strerror(e)>" into err; returns -1. */
static int os_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Test hook: INNA_TEST_KILL_WRITING=NAME[:N] makes the process kill itself
 * with SIGKILL half-way through writing the temporary file of NAME (a base
 * name, e.g. ckpt-000000004.h5) for the Nth time (default 1), so the tests
 * can see what a kill mid-write leaves. */
static void test_kill_writing(int fd, const char *tmp_base, const void *bytes, size_t len)
{
    static int seen;
    const char *spec = getenv("INNA_TEST_KILL_WRITING");
    if (!spec) return;
    const size_t n = strcspn(spec, ":");
    const int nth = spec[n] == ':' ? atoi(spec + n + 1) : 1;
    if (strncmp(tmp_base, spec, n) != 0 || strncmp(tmp_base + n, ".tmp.", 5) != 0 || ++seen != nth)
        return;
    if (write_all(fd, bytes, len / 2) == 0) fsync(fd);
    raise(SIGKILL);
}

/* Creates tmp (O_EXCL: never someone else's file), writes the bytes, fsyncs
 * and closes it; on failure removes it again.  base names it in messages. */
static int tmp_write(const char *tmp, const char *base, const void *bytes, size_t len, char *err,
                     size_t errlen)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666), rc = 0;
    if (fd < 0) return os_fail(err, errlen, errno, "cannot create temporary file %s", base);
    test_kill_writing(fd, base, bytes, len);
    if (write_all(fd, bytes, len) < 0)
        rc = os_fail(err, errlen, errno, "cannot write %s", base);
    else if (fsync(fd) < 0)
        rc = os_fail(err, errlen, errno, "cannot sync %s", base);
    if (close(fd) < 0 && rc == 0) rc = os_fail(err, errlen, errno, "cannot close %s", base);
    if (rc < 0) unlink(tmp);
    return rc;
}

int publish_dir_sync(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_fail(err, errlen, errno, "cannot open folder %s to sync it", dir);
    int rc = fsync(fd), e = errno;
    close(fd);
    /* some file systems cannot sync a folder: the rename stands regardless */
    if (rc < 0 && e != EINVAL && e != ENOTSUP)
        return os_fail(err, errlen, e, "cannot sync folder %s", dir);
    return 0;
}

int publish_file(const char *path, const void *bytes, size_t len, char *err, size_t errlen)
{
    const size_t tlen = strlen(path) + 32, dlen = strlen(path) + 2;
    char *tmp = malloc(tlen), *dir = malloc(dlen);
    int rc = -1;
    if (!tmp || !dir) {
        os_fail(err, errlen, ENOMEM, "cannot save");
    } else {
        runfolder_tmp_name(tmp, tlen, path);
        runfolder_dir_of(dir, dlen, path);
        const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;   /* for messages */
        if (tmp_write(tmp, base, bytes, len, err, errlen) < 0) {
            /* reported; nothing left behind */
        } else if (rename(tmp, path) < 0) {
            os_fail(err, errlen, errno, "cannot rename %s onto it", base);
            unlink(tmp);
        } else if (publish_dir_sync(dir, err, errlen) < 0) {
            char why[1024];   /* the file is in place: only its durability is in doubt */
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "saved, but %s", why);
        } else {
            rc = 0;
        }
    }
    free(tmp);
    free(dir);
    return rc;
}
