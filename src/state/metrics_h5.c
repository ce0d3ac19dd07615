/* Run metrics in HDF5 (include/metrics.h), written by rank 0 as it trains.
 *
 * The file lives in memory (HDF5's core driver, no backing store) and every
 * flush publishes all of it: bytes to "<path>.tmp.<pid>", fsync, rename onto
 * path (h5u_publish, as the model file).  So a reader that opens path while
 * the run writes -- h5py plain or with swmr=True, h5dump -- always finds a
 * whole, closed-looking file with every row up to the last flush, and the
 * file on disk after a crash is the last flush.  What was tried first, and
 * why not:
 *  - SWMR (H5F_ACC_SWMR_WRITE, superblock v3, HDF5 1.10.8): h5py with
 *    swmr=True reads, but plain h5py.File(p, "r") and h5dump fail with "file
 *    is already open for write", and so would the resume after a crash until
 *    someone runs h5clear.
 *  - a file on disk with superblock v0, no file lock and H5Fflush after every
 *    write: readable both ways, but a reader opening it during a flush can
 *    find it half written, and when a write fails (disk full) HDF5 1.10 can
 *    neither flush nor close the file again and crashes at exit (seen with
 *    RLIMIT_FSIZE).  In memory, a full disk is a plain errno from write(2);
 *    the next flush tries again with the whole file.
 * The price: each flush writes the whole file, 72 bytes per step row (7 MB
 * for 100,000 steps), so the step buffer should hold minutes of steps.
 *
 * HDF5's own error printing is off during our calls; the first failure
 * becomes the one-line err "<path>: <what failed>: <reason>" (h5util.h). */
#define _POSIX_C_SOURCE 200809L
#include "metrics.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5util.h"

#ifndef INNA_VERSION
#define INNA_VERSION "unknown"
#endif
#define METRICS_FORMAT "inna-metrics-1"
#define STEP_CHUNK 1024    /* rows per chunk: 8 KiB per column */
#define EPOCH_CHUNK 64
#define MAX_COLS 9

/* ---- the tables ---- */

/* A column: a field of the row struct, long (int64 in the file) or double. */
typedef struct {
    const char *name;
    size_t off;
    int is_int;
} Column;

#define SCOL(f, i) { #f, offsetof(StepRow, f), i }
#define ECOL(f, i) { #f, offsetof(EpochRow, f), i }
static const Column step_cols[] = {
    SCOL(step, 1), SCOL(epoch, 1), SCOL(loss, 0), SCOL(accuracy, 0), SCOL(lr, 0),
    SCOL(step_s, 0), SCOL(compute_s, 0), SCOL(comm_s, 0), SCOL(images_s, 0),
};
static const Column epoch_cols[] = {
    ECOL(epoch, 1), ECOL(step, 1), ECOL(train_loss, 0), ECOL(train_acc, 0),
    ECOL(test_loss, 0), ECOL(test_acc, 0), ECOL(elapsed_s, 0),
};
#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))
_Static_assert(NCOLS(step_cols) <= MAX_COLS && NCOLS(epoch_cols) <= MAX_COLS, "MAX_COLS");

/* One group: its columns, open datasets and the rows every column holds. */
typedef struct {
    const char *name;
    const Column *cols;
    int ncols, key;         /* key: index of the "step" column */
    size_t rowsize;
    hsize_t chunk, rows;
    hid_t group, dsets[MAX_COLS];
} Table;

struct Metrics {
    char *path;
    hid_t file;
    Table steps, epochs;
    StepRow *buf;           /* capacity rows not yet written */
    int nbuf, capacity;
    void *column;           /* capacity values of one column, 8 bytes each */
    void *image;            /* the file's bytes at the last flush */
    size_t image_size;
};

static hid_t mem_type(const Column *c) { return c->is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE; }
static hid_t file_type(const Column *c) { return c->is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE; }

static void table_init(Table *t, const char *name, const Column *cols, int ncols, size_t rowsize,
                       hsize_t chunk)
{
    *t = (Table){ name, cols, ncols, 0, rowsize, chunk, 0, -1, { 0 } };
    for (int i = 0; i < ncols; i++) {
        t->dsets[i] = -1;
        if (!strcmp(cols[i].name, "step")) t->key = i;
    }
}

static int table_close(H5Out *o, Table *t)
{
    int rc = 0;
    for (int i = 0; i < t->ncols; i++) {
        if (h5u_close(o, t->dsets[i], H5Dclose, t->cols[i].name) < 0) rc = -1;
        t->dsets[i] = -1;
    }
    if (h5u_close(o, t->group, H5Gclose, t->name) < 0) rc = -1;
    t->group = -1;
    return rc;
}

/* An empty 1-D dataset that can grow without limit. */
static hid_t column_create(H5Out *o, const Table *t, const Column *c)
{
    hsize_t zero = 0, unlimited = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &zero, &unlimited), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &t->chunk) < 0)
        h5u_h5_fail(o, "cannot set up dataset %s/%s", t->name, c->name);
    else if ((d = H5Dcreate2(t->group, c->name, file_type(c), space, H5P_DEFAULT, dcpl,
                             H5P_DEFAULT)) < 0)
        h5u_h5_fail(o, "cannot create dataset %s/%s", t->name, c->name);
    h5u_close(o, dcpl, H5Pclose, "dataset creation properties");
    h5u_close(o, space, H5Sclose, "dataspace");
    if (!o->failed) return d;
    if (d >= 0) H5Dclose(d);
    return -1;
}

static int table_create(H5Out *o, hid_t file, Table *t)
{
    if ((t->group = H5Gcreate2(file, t->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return h5u_h5_fail(o, "cannot create group %s", t->name);
    for (int i = 0; i < t->ncols; i++)
        if ((t->dsets[i] = column_create(o, t, &t->cols[i])) < 0) return -1;
    return 0;
}

/* Opens column c and checks it: 1-D, integer or float of 8 bytes.  *rows =
 * its length. */
static hid_t column_open(H5Out *o, const Table *t, const Column *c, hsize_t *rows)
{
    hid_t d = H5Dopen2(t->group, c->name, H5P_DEFAULT), type = -1, space = -1;
    if (d < 0) {
        h5u_h5_fail(o, "not a complete metrics file: cannot open dataset %s/%s", t->name, c->name);
        return -1;
    }
    type = H5Dget_type(d);
    space = H5Dget_space(d);
    if (type < 0 || space < 0 || H5Sget_simple_extent_ndims(space) != 1 ||
        H5Tget_class(type) != (c->is_int ? H5T_INTEGER : H5T_FLOAT) || H5Tget_size(type) != 8)
        h5u_fail(o, "not a metrics file: dataset %s/%s is not a column of %s", t->name,
                 c->name, c->is_int ? "int64" : "float64");
    else
        H5Sget_simple_extent_dims(space, rows, NULL);
    h5u_close(o, type, H5Tclose, "datatype");
    h5u_close(o, space, H5Sclose, "dataspace");
    if (!o->failed) return d;
    H5Dclose(d);
    return -1;
}

/* Opens the group's columns; t->rows = the shortest.  We always publish
 * columns of equal length; another writer might not: cut, do not refuse. */
static int table_open(H5Out *o, hid_t file, Table *t)
{
    if ((t->group = H5Gopen2(file, t->name, H5P_DEFAULT)) < 0)
        return h5u_h5_fail(o, "not a complete metrics file: cannot open group %s", t->name);
    for (int i = 0; i < t->ncols; i++) {
        hsize_t n = 0;
        if ((t->dsets[i] = column_open(o, t, &t->cols[i], &n)) < 0) return -1;
        if (i == 0 || n < t->rows) t->rows = n;
    }
    return 0;
}

/* Writes n values (memory type of c) at rows [start, start + n) of d. */
static int column_write(H5Out *o, const Table *t, int i, hsize_t start, hsize_t n,
                        const void *values)
{
    hsize_t end = start + n;
    hid_t d = t->dsets[i], fspace = -1, mspace = -1;
    if (H5Dset_extent(d, &end) < 0 || (fspace = H5Dget_space(d)) < 0 ||
        (mspace = H5Screate_simple(1, &n, NULL)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
        H5Dwrite(d, mem_type(&t->cols[i]), mspace, fspace, H5P_DEFAULT, values) < 0)
        h5u_h5_fail(o, "cannot write %s/%s", t->name, t->cols[i].name);
    h5u_close(o, mspace, H5Sclose, "dataspace");
    h5u_close(o, fspace, H5Sclose, "dataspace");
    return o->failed ? -1 : 0;
}

/* The first t->rows values of column i (it may be longer, see table_open). */
static int column_read(H5Out *o, const Table *t, int i, void *values)
{
    hsize_t start = 0, n = t->rows;
    hid_t fspace = -1, mspace = -1;
    if (n == 0) return 0;
    if ((fspace = H5Dget_space(t->dsets[i])) < 0 ||
        (mspace = H5Screate_simple(1, &n, NULL)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
        H5Dread(t->dsets[i], mem_type(&t->cols[i]), mspace, fspace, H5P_DEFAULT, values) < 0)
        h5u_h5_fail(o, "cannot read %s/%s", t->name, t->cols[i].name);
    h5u_close(o, mspace, H5Sclose, "dataspace");
    h5u_close(o, fspace, H5Sclose, "dataspace");
    return o->failed ? -1 : 0;
}

/* Field c of n rows (rowsize bytes apart) into out as int64 or double. */
static void gather(const Column *c, const void *rows, size_t rowsize, size_t n, void *out)
{
    const char *p = (const char *)rows + c->off;
    for (size_t r = 0; r < n; r++, p += rowsize) {
        if (c->is_int) ((int64_t *)out)[r] = *(const long *)(const void *)p;
        else ((double *)out)[r] = *(const double *)(const void *)p;
    }
}

/* Appends n rows, column by column through scratch (n values).  The row
 * count moves only when every column has them, so a retry after a failure
 * rewrites the same rows rather than leaving a gap. */
static int table_append(H5Out *o, Table *t, const void *rows, size_t n, void *scratch)
{
    for (int i = 0; i < t->ncols; i++) {
        gather(&t->cols[i], rows, t->rowsize, n, scratch);
        if (column_write(o, t, i, t->rows, n, scratch) < 0) return -1;
    }
    t->rows += n;
    return 0;
}

/* ---- resuming: drop the rows at or after the resume point ---- */

/* keep[r] = the row's step < limit; returns how many are kept. */
static hsize_t keep_mask(const int64_t *step, hsize_t n, long limit, unsigned char *keep)
{
    hsize_t kept = 0;
    for (hsize_t r = 0; r < n; r++) kept += keep[r] = step[r] < limit;
    return kept;
}

/* Rewrites column i with only the kept rows, in order. */
static int column_compact(H5Out *o, const Table *t, int i, const unsigned char *keep,
                          void *values)
{
    uint64_t *v = values;   /* 8-byte values moved as bits: int64 or double alike */
    hsize_t kept = 0;
    if (column_read(o, t, i, v) < 0) return -1;
    for (hsize_t r = 0; r < t->rows; r++)
        if (keep[r]) v[kept++] = v[r];
    return kept ? column_write(o, t, i, 0, kept, v) : 0;
}

/* Drops every row whose step is >= limit, then cuts all columns to the rows
 * kept.  When those are a prefix (the usual case: rows go in step order)
 * only the length changes. */
static int table_trim(H5Out *o, Table *t, long limit)
{
    size_t n = (size_t)t->rows;
    void *values = malloc(n ? n * 8 : 1);
    unsigned char *keep = malloc(n ? n : 1);
    int rc = -1;
    if (!values || !keep) {
        h5u_os_fail(o, ENOMEM, "cannot read %s for resuming", t->name);
    } else if (column_read(o, t, t->key, values) == 0) {
        hsize_t kept = keep_mask(values, t->rows, limit, keep), prefix = 0;
        while (prefix < t->rows && keep[prefix]) prefix++;
        rc = 0;
        for (int i = 0; i < t->ncols && rc == 0 && prefix != kept; i++)
            rc = column_compact(o, t, i, keep, values);
        for (int i = 0; i < t->ncols && rc == 0; i++)
            if (H5Dset_extent(t->dsets[i], &kept) < 0)
                rc = h5u_h5_fail(o, "cannot shorten %s/%s", t->name, t->cols[i].name);
        if (rc == 0) t->rows = kept;
    }
    free(values);
    free(keep);
    return rc;
}

/* ---- the file ---- */

/* In memory (h5u_fapl_core), oldest file format: the image of a file with a
 * v3 superblock (HDF5 1.10's "latest"), taken while it is open, marks it open
 * for write and h5py refuses it (tried: "incorrect metadata checksum").  No
 * file lock: reading the old file on resume must not fail because a
 * plotting script has it open. */
static hid_t fapl_make(H5Out *o)
{
    hid_t fapl = h5u_fapl_core(o);
    if (fapl < 0) return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18) >= 0
#if H5_VERSION_GE(1, 12, 1) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
        && H5Pset_file_locking(fapl, 0, 1) >= 0
#endif
    )
        return fapl;
    h5u_h5_fail(o, "cannot set up HDF5 file access properties");
    H5Pclose(fapl);
    return -1;
}

/* What is at path: 0 nothing, 1 a metrics file, -1 (reported) anything else,
 * which we must not touch.  Looked at read-only, with HDF5's defaults. */
static int existing_kind(H5Out *o, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0   /* publishing will say why */
                                                   : h5u_os_fail(o, errno, "cannot look at it");
    if (!S_ISREG(st.st_mode)) return h5u_fail(o, "exists and is not a file");
    if (H5Fis_hdf5(path) <= 0)
        return h5u_fail(o, "exists and is not an HDF5 file; left as it is");
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return h5u_h5_fail(o, "cannot open the existing file");
    /* anything but our string, present, is "not a metrics file": said below */
    H5Out quiet = { o->path, NULL, 0, 0 };
    char *format = H5Aexists(file, "format") > 0 ? h5u_attr_read_str(&quiet, file, "", "format")
                                                  : NULL;
    const int ours = format && !strcmp(format, METRICS_FORMAT);
    free(format);
    H5Fclose(file);
    if (!ours)
        return h5u_fail(o, "exists and is not a metrics file (no root attribute format = "
                        "\"%s\"); left as it is", METRICS_FORMAT);
    return 1;
}

/* The whole file as bytes, in m->image (grown, never shrunk), then to disk. */
static int publish(H5Out *o, Metrics *m)
{
    ssize_t n;
    if (H5Fflush(m->file, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(m->file, NULL, 0)) <= 0)
        return h5u_h5_fail(o, "cannot get the HDF5 file image");
    if ((size_t)n > m->image_size) {
        size_t size = (size_t)n + (size_t)n / 2;   /* room for the next few flushes */
        void *image = realloc(m->image, size);
        if (!image) return h5u_os_fail(o, ENOMEM, "cannot hold the %zd-byte file image", n);
        m->image = image;
        m->image_size = size;
    }
    if (H5Fget_file_image(m->file, m->image, m->image_size) != n)
        return h5u_h5_fail(o, "cannot get the HDF5 file image");
    return h5u_publish(o, m->path, m->image, (size_t)n);
}

static int file_create(H5Out *o, Metrics *m, hid_t fapl)
{
    if ((m->file = H5Fcreate(m->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        return h5u_h5_fail(o, "cannot create the HDF5 file in memory");
    if (h5u_attr_str(o, m->file, "format", METRICS_FORMAT) < 0 ||
        h5u_attr_str(o, m->file, "inna_version", INNA_VERSION) < 0 ||
        table_create(o, m->file, &m->steps) < 0 || table_create(o, m->file, &m->epochs) < 0)
        return -1;
    return publish(o, m);
}

/* METRICS_BAD_FILE while reading the existing file, -1 when publishing. */
static int file_resume(H5Out *o, Metrics *m, hid_t fapl, long resume_step)
{
    if ((m->file = H5Fopen(m->path, H5F_ACC_RDWR, fapl)) < 0) {   /* read into memory */
        h5u_h5_fail(o, "cannot read it for appending");
        return METRICS_BAD_FILE;
    }
    /* epoch rows at step == resume_step describe an epoch the run finished */
    if (table_open(o, m->file, &m->steps) < 0 || table_open(o, m->file, &m->epochs) < 0 ||
        table_trim(o, &m->steps, resume_step) < 0 ||
        table_trim(o, &m->epochs, resume_step == LONG_MAX ? resume_step : resume_step + 1) < 0)
        return METRICS_BAD_FILE;
    return publish(o, m);
}

/* Resume a metrics file, or start a new one: an old metrics file is replaced
 * (by the rename: readers see the old one until then). */
static int file_open(H5Out *o, Metrics *m, long resume_step)
{
    int kind = existing_kind(o, m->path), rc = kind < 0 ? METRICS_BAD_FILE : 0;
    hid_t fapl = kind < 0 ? -1 : fapl_make(o);
    if (fapl >= 0 && kind == 1 && resume_step >= 0)
        rc = file_resume(o, m, fapl, resume_step);
    else if (fapl >= 0)
        file_create(o, m, fapl);
    h5u_close(o, fapl, H5Pclose, "file access properties");
    return !o->failed ? 0 : rc < 0 ? rc : -1;
}

/* Closes everything and frees m; the first failure is reported. */
static int metrics_free(H5Out *o, Metrics *m)
{
    int rc = 0;
    if (table_close(o, &m->steps) < 0) rc = -1;
    if (table_close(o, &m->epochs) < 0) rc = -1;
    if (h5u_close(o, m->file, H5Fclose, "the file") < 0) rc = -1;
    free(m->buf);
    free(m->column);
    free(m->image);
    free(m->path);
    free(m);
    return rc;
}

static Metrics *metrics_alloc(const char *path, int capacity)
{
    Metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->file = -1;
    m->capacity = capacity;
    table_init(&m->steps, "steps", step_cols, NCOLS(step_cols), sizeof(StepRow), STEP_CHUNK);
    table_init(&m->epochs, "epochs", epoch_cols, NCOLS(epoch_cols), sizeof(EpochRow),
               EPOCH_CHUNK);
    m->path = strdup(path);
    m->buf = malloc((size_t)capacity * sizeof *m->buf);
    m->column = malloc((size_t)capacity * 8);
    if (m->path && m->buf && m->column) return m;
    free(m->path);
    free(m->buf);
    free(m->column);
    free(m);
    return NULL;
}

/* ---- the API ---- */

int metrics_open(Metrics **mp, const char *path, long resume_step, int capacity, char *err,
                 size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    if (err && errlen) err[0] = '\0';
    if (!mp) return h5u_fail(&o, "nowhere to return the metrics handle");
    *mp = NULL;
    if (!path || !*path) return h5u_fail(&o, "no file name for the metrics");
    if (capacity < 1) return h5u_fail(&o, "step row buffer of %d rows: need at least 1", capacity);
    Metrics *m = metrics_alloc(path, capacity);
    if (!m) return h5u_os_fail(&o, ENOMEM, "cannot allocate %d buffered step rows", capacity);
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = file_open(&o, m, resume_step);
    if (rc < 0) metrics_free(&o, m);   /* o already holds the first failure */
    h5u_quiet_end(&q);
    if (rc == 0) *mp = m;
    return rc;
}

/* Buffered step rows into the file, then the file to disk. */
static int flush(H5Out *o, Metrics *m)
{
    if (m->nbuf > 0 && table_append(o, &m->steps, m->buf, (size_t)m->nbuf, m->column) < 0)
        return -1;
    m->nbuf = 0;   /* in the in-memory file now: a failed publish loses none */
    return publish(o, m);
}

int metrics_flush(Metrics *m, char *err, size_t errlen)
{
    H5Out o = { m ? m->path : "(null)", err, errlen, 0 };
    if (err && errlen) err[0] = '\0';
    if (!m) return h5u_fail(&o, "no metrics file open");
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = flush(&o, m);
    h5u_quiet_end(&q);
    return rc;
}

int metrics_add_step(Metrics *m, const StepRow *r, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!m || !r) {
        H5Out o = { m ? m->path : "(null)", err, errlen, 0 };
        return h5u_fail(&o, "no metrics file or no row");
    }
    /* still full: the flush that should have emptied it failed; try again */
    if (m->nbuf == m->capacity && metrics_flush(m, err, errlen) < 0) return -1;
    m->buf[m->nbuf++] = *r;
    return m->nbuf == m->capacity ? metrics_flush(m, err, errlen) : 0;
}

int metrics_add_epoch(Metrics *m, const EpochRow *r, char *err, size_t errlen)
{
    H5Out o = { m ? m->path : "(null)", err, errlen, 0 };
    if (err && errlen) err[0] = '\0';
    if (!m || !r) return h5u_fail(&o, "no metrics file or no row");
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = table_append(&o, &m->epochs, r, 1, m->column);
    if (rc == 0) rc = flush(&o, m);
    h5u_quiet_end(&q);
    return rc;
}

int metrics_close(Metrics *m, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!m) return 0;
    H5Out o = { m->path, err, errlen, 0 };
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = flush(&o, m);
    if (metrics_free(&o, m) < 0) rc = -1;   /* o.path is m->path: not used after this */
    h5u_quiet_end(&q);
    return rc;
}
