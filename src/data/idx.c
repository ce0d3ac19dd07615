/* IDX reader (MNIST, Fashion-MNIST).  Everything goes through zlib's gz*
 * functions: gzread passes raw files through untouched, so one code path
 * serves both "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz".
 *
 * Both headers are read before any data, so a count mismatch is reported
 * without first inflating 47 MB of pixels.  The data buffer grows as bytes
 * arrive instead of trusting the header's count up front: a corrupt count of
 * four billion then yields "truncated", not a failed 3 TB allocation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data.h"
#include "data_err.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_DIM 4096u
#define IDX_CHUNK (1u << 24)          /* bytes per gzread call             */
#define IDX_FIRST_ALLOC (16u << 20)   /* initial buffer before it doubles;
                                          small enough that Fashion-MNIST
                                          (47 MB) exercises the growth    */

/* One open IDX file and what its header said. */
typedef struct {
    const char *path;
    gzFile gz;
    uint32_t count, rows, cols;   /* rows = cols = 1 for a labels file */
} IdxFile;


static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* zlib's messages already start with "path: "; drop it so the path is not
 * printed twice in our one-line error. */
static const char *gz_message(gzFile gz, const char *path, int *errnum)
{
    const char *msg = gzerror(gz, errnum);
    size_t len = strlen(path);
    if (msg && strncmp(msg, path, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
        msg += len + 2;
    return msg ? msg : "unknown zlib error";
}

/* Reads up to len bytes in big chunks.  Returns the bytes read (short only at
 * end of input) or -1 when zlib reports an error other than a stream that
 * simply ended early, which we let the caller call "truncated". */
static long gz_read_full(gzFile gz, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got < IDX_CHUNK ? len - got : IDX_CHUNK;
        int r = gzread(gz, buf + got, (unsigned)want);
        if (r < 0) return -1;
        got += (size_t)r;
        if ((size_t)r < want) {
            int errnum;
            gzerror(gz, &errnum);
            /* Z_BUF_ERROR: the gzip stream ended mid-way, i.e. truncation. */
            if (errnum != Z_OK && errnum != Z_BUF_ERROR) return -1;
            break;
        }
    }
    return (long)got;
}

static void report_gz_error(IdxFile *f, char *err, size_t errlen)
{
    int errnum;
    const char *msg = gz_message(f->gz, f->path, &errnum);
    if (errnum == Z_ERRNO)
        data_set_err(err, errlen, "%s: read error: %s", f->path, strerror(errno));
    else
        data_set_err(err, errlen, "%s: corrupt gzip stream: %s", f->path, msg);
}

static int idx_open(IdxFile *f, const char *path, char *err, size_t errlen)
{
    f->path = path;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (f->gz == NULL) {
        data_set_err(err, errlen, "%s: cannot open: %s", path,
                errno ? strerror(errno) : "out of memory");
        return -1;
    }
    gzbuffer(f->gz, 1u << 20);   /* fewer, larger reads of the raw file */
    return 0;
}

/* Reads and checks the header.  The magic is read on its own so that a file
 * of the wrong kind is reported as such even when it is shorter than the
 * header we expected. */
static int idx_header(IdxFile *f, uint32_t magic, char *err, size_t errlen)
{
    unsigned char h[16];
    size_t hlen = magic == IDX_IMAGES_MAGIC ? 16 : 8;
    long got = gz_read_full(f->gz, h, 4);
    if (got < 0) { report_gz_error(f, err, errlen); return -1; }
    if (got < 4) {
        data_set_err(err, errlen, "%s: truncated header: expected %zu bytes, got %ld",
                f->path, hlen, got);
        return -1;
    }
    if (be32(h) != magic) {
        data_set_err(err, errlen, "%s: bad magic 0x%08x, expected 0x%08x",
                f->path, (unsigned)be32(h), (unsigned)magic);
        return -1;
    }
    got = gz_read_full(f->gz, h + 4, hlen - 4);
    if (got < 0) { report_gz_error(f, err, errlen); return -1; }
    if ((size_t)got < hlen - 4) {
        data_set_err(err, errlen, "%s: truncated header: expected %zu bytes, got %ld",
                f->path, hlen, got + 4);
        return -1;
    }
    f->count = be32(h + 4);
    f->rows = hlen == 16 ? be32(h + 8) : 1;
    f->cols = hlen == 16 ? be32(h + 12) : 1;
    return 0;
}

/* Reads exactly len bytes of data into a fresh buffer, then one byte more:
 * that last read both detects trailing data (a wrong count in the header) and
 * makes zlib reach the end of the gzip stream, where it checks the CRC. */
static int idx_data(IdxFile *f, size_t len, const char *what, uint8_t **out,
                    char *err, size_t errlen)
{
    size_t cap = len < IDX_FIRST_ALLOC ? len : IDX_FIRST_ALLOC, got = 0;
    unsigned char extra;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (buf == NULL) goto oom;
    while (got < len) {
        if (got == cap) {
            size_t ncap = cap > len / 2 ? len : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) goto oom;
            buf = nbuf, cap = ncap;
        }
        size_t want = cap - got;
        long r = gz_read_full(f->gz, buf + got, want);
        if (r < 0) { report_gz_error(f, err, errlen); goto fail; }
        got += (size_t)r;
        if ((size_t)r < want) break;   /* end of input */
    }
    if (got < len) {
        data_set_err(err, errlen, "%s: truncated: expected %zu bytes of %s, got %zu",
                f->path, len, what, got);
        goto fail;
    }
    long r = gz_read_full(f->gz, &extra, 1);
    if (r < 0) { report_gz_error(f, err, errlen); goto fail; }
    int errnum;
    gzerror(f->gz, &errnum);
    if (r == 0 && errnum == Z_BUF_ERROR) {   /* data complete, gzip trailer cut */
        data_set_err(err, errlen, "%s: truncated gzip stream after %zu bytes of %s",
                f->path, len, what);
        goto fail;
    }
    if (r > 0) {
        data_set_err(err, errlen, "%s: trailing data after %zu bytes of %s "
                "(wrong count in header?)", f->path, len, what);
        goto fail;
    }
    *out = buf;
    return 0;
oom:
    data_set_err(err, errlen, "%s: out of memory for %zu bytes of %s", f->path, len, what);
fail:
    free(buf);
    return -1;
}

static int idx_check_shape(const IdxFile *im, const IdxFile *lb, char *err, size_t errlen)
{
    if (im->count == 0) {
        data_set_err(err, errlen, "%s: no images (count 0)", im->path);
        return -1;
    }
    if (im->rows == 0 || im->cols == 0 || im->rows > IDX_MAX_DIM || im->cols > IDX_MAX_DIM) {
        data_set_err(err, errlen, "%s: absurd dimensions %ux%u (each must be in [1, %u])",
                im->path, (unsigned)im->rows, (unsigned)im->cols, IDX_MAX_DIM);
        return -1;
    }
    if (im->count != lb->count) {
        data_set_err(err, errlen, "%s: count mismatch: %u images but %s has %u labels",
                im->path, (unsigned)im->count, lb->path, (unsigned)lb->count);
        return -1;
    }
    return 0;
}

static int idx_check_labels(const IdxFile *lb, const uint8_t *labels, long n,
                            int classes, char *err, size_t errlen)
{
    for (long i = 0; i < n; i++) {
        if (labels[i] >= classes) {
            data_set_err(err, errlen, "%s: label %d at index %ld out of range [0, %d)",
                    lb->path, labels[i], i, classes);
            return -1;
        }
    }
    return 0;
}

int idx_load(Dataset *d, const char *images_path, const char *labels_path,
             int classes, char *err, size_t errlen)
{
    IdxFile im = {0}, lb = {0};
    uint8_t *pixels = NULL, *labels = NULL;
    int rc = -1;

    memset(d, 0, sizeof *d);
    if (classes < 1 || classes > 256) {
        data_set_err(err, errlen, "%s: classes %d out of range [1, 256]", labels_path, classes);
        return -1;
    }
    if (idx_open(&im, images_path, err, errlen)) goto done;
    if (idx_open(&lb, labels_path, err, errlen)) goto done;
    if (idx_header(&im, IDX_IMAGES_MAGIC, err, errlen)) goto done;
    if (idx_header(&lb, IDX_LABELS_MAGIC, err, errlen)) goto done;
    if (idx_check_shape(&im, &lb, err, errlen)) goto done;

    /* At most 2^32 * 2^12 * 2^12 = 2^56 bytes: fits a 64-bit size_t. */
    size_t n = im.count, npix = n * im.rows * im.cols;
    if (npix / im.rows / im.cols != n) {
        data_set_err(err, errlen, "%s: %zu images of %ux%u do not fit in memory",
                im.path, n, (unsigned)im.rows, (unsigned)im.cols);
        goto done;
    }
    if (idx_data(&im, npix, "pixels", &pixels, err, errlen)) goto done;
    if (idx_data(&lb, n, "labels", &labels, err, errlen)) goto done;
    if (idx_check_labels(&lb, labels, (long)n, classes, err, errlen)) goto done;

    d->n = (long)n;
    d->c = 1, d->h = (int)im.rows, d->w = (int)im.cols;
    d->classes = classes;
    d->pixels = pixels, d->labels = labels;
    pixels = labels = NULL;
    rc = 0;
done:
    if (im.gz) gzclose(im.gz);
    if (lb.gz) gzclose(lb.gz);
    free(pixels);
    free(labels);
    return rc;
}
