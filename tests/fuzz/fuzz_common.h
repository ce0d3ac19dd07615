/* Shared by the libFuzzer harnesses: the readers take paths, so each input is
 * written to an in-memory file (memfd) that lives for the whole process and
 * is rewritten every iteration -- nothing on disk, nothing left behind. */
#ifndef INNA_FUZZ_COMMON_H
#define INNA_FUZZ_COMMON_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    int fd;          /* 0 = not created yet (stdin is never a memfd) */
    char path[32];   /* /proc/self/fd/N: a path the readers can open */
} MemFile;

/* Replaces the contents of m with buf[0, len) and returns its path. */
static inline const char *memfile_put(MemFile *m, const void *buf, size_t len)
{
    if (m->fd <= 0) {
        m->fd = memfd_create("inna-fuzz", MFD_CLOEXEC);
        if (m->fd < 0) { perror("memfd_create"); abort(); }
        snprintf(m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
    }
    if (ftruncate(m->fd, 0) != 0) { perror("ftruncate"); abort(); }
    for (size_t off = 0; off < len;) {
        ssize_t w = pwrite(m->fd, (const char *)buf + off, len - off, (off_t)off);
        if (w <= 0) { perror("pwrite"); abort(); }
        off += (size_t)w;
    }
    return m->path;
}

/* gzip of in[0, len) minus its last `cut` bytes (to reach the readers'
 * truncated-stream paths).  Returns a malloc'd buffer, length in *outlen. */
static inline uint8_t *gzip_bytes(const uint8_t *in, size_t len, size_t cut, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)len);
    uint8_t *out = malloc(cap);
    if (!out) abort();
    z.next_in = (Bytef *)in, z.avail_in = (uInt)len;
    z.next_out = out, z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *outlen = z.total_out > cut ? z.total_out - cut : 0;
    deflateEnd(&z);
    return out;
}
#endif
