/* Shared by the model file and the checkpoints (see h5util.h): error
 * reporting, attributes and datasets, the parameter groups, the in-memory
 * HDF5 file and its atomic publication. */
#define _POSIX_C_SOURCE 200809L
#include "h5util.h"
#include "runfolder.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

/* ---- errors ---- */

static void report(H5Out *o, const char *reason, const char *fmt, va_list ap)
{
    if (o->failed) return;
    o->failed = 1;
    if (!o->err || !o->errlen) return;
    char what[256];
    vsnprintf(what, sizeof what, fmt, ap);
    snprintf(o->err, o->errlen, "%s: %s%s%s", o->path, what, reason && *reason ? ": " : "",
             reason ? reason : "");
    for (char *c = o->err; *c; c++)   /* one line, whatever HDF5 said */
        if (*c == '\n' || *c == '\r') *c = ' ';
}

int h5u_fail(H5Out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(o, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int h5u_os_fail(H5Out *o, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(o, strerror(e), fmt, ap);
    va_end(ap);
    return -1;
}

/* Reason of an HDF5 failure from its error stack: the errno of the innermost
 * system call that failed if HDF5 recorded one, else the innermost message. */
typedef struct { int errnum; char desc[160]; } H5Reason;

static herr_t reason_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    H5Reason *r = data;
    const char *desc = e && e->desc ? e->desc : "";
    const char *at = strstr(desc, "errno = ");
    if (!r->errnum && at) r->errnum = atoi(at + 8);
    if (n == 0) {
        size_t len = strcspn(desc, ",");   /* drop "name = ..., flags = ..." details */
        if (len >= sizeof r->desc) len = sizeof r->desc - 1;
        memcpy(r->desc, desc, len);
        r->desc[len] = '\0';
    }
    return 0;
}

int h5u_h5_fail(H5Out *o, const char *fmt, ...)
{
    H5Reason r = { 0, "" };
    if (!o->failed) H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_walk, &r);
    va_list ap;
    va_start(ap, fmt);
    report(o, r.errnum > 0 ? strerror(r.errnum) : r.desc, fmt, ap);
    va_end(ap);
    return -1;
}

int h5u_close(H5Out *o, hid_t id, herr_t (*close_fn)(hid_t), const char *what)
{
    if (id < 0 || close_fn(id) >= 0) return 0;
    return h5u_h5_fail(o, "cannot close %s", what);
}

void h5u_quiet_begin(H5Quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    q->restore = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5u_quiet_end(const H5Quiet *q)
{
    if (q->restore) H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* ---- attributes and datasets ---- */

int h5u_attr_write(H5Out *o, hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                   const void *value, const char *owner)
{
    hid_t space = -1, attr = -1;
    int rc = -1;
    if ((space = H5Screate(H5S_SCALAR)) < 0)
        h5u_h5_fail(o, "cannot create dataspace for attribute %s%s", owner, name);
    else if ((attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        h5u_h5_fail(o, "cannot create attribute %s%s", owner, name);
    else if (H5Awrite(attr, mtype, value) < 0)
        h5u_h5_fail(o, "cannot write attribute %s%s", owner, name);
    else
        rc = 0;
    if (h5u_close(o, attr, H5Aclose, name) < 0) rc = -1;
    if (h5u_close(o, space, H5Sclose, "dataspace") < 0) rc = -1;
    return rc;
}

int h5u_attr_str(H5Out *o, hid_t obj, const char *name, const char *value)
{
    hid_t type = -1;
    int rc = -1;
    if ((type = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        h5u_h5_fail(o, "cannot make string type for attribute %s", name);
    else
        rc = h5u_attr_write(o, obj, name, type, type, &value, "");
    if (h5u_close(o, type, H5Tclose, "string type") < 0) rc = -1;
    return rc;
}

int h5u_attr_int(H5Out *o, hid_t obj, const char *owner, const char *name, int value)
{
    return h5u_attr_write(o, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, &value, owner);
}

/* float32 dataset, one chunk holding all of it (the Fletcher32 checksum
 * filter needs chunked layout). */
static int dataset_write(H5Out *o, hid_t group, const char *gname, const char *name, int rank,
                         const hsize_t *dims, const float *data)
{
    hid_t space = -1, dcpl = -1, dset = -1;
    int rc = -1;
    if ((space = H5Screate_simple(rank, dims, NULL)) < 0)
        h5u_h5_fail(o, "cannot create dataspace for %s/%s", gname, name);
    else if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, rank, dims) < 0 ||
             H5Pset_fletcher32(dcpl) < 0)
        h5u_h5_fail(o, "cannot set chunking and Fletcher32 for %s/%s", gname, name);
    else if ((dset = H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                                H5P_DEFAULT)) < 0)
        h5u_h5_fail(o, "cannot create dataset %s/%s", gname, name);
    else if (H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        h5u_h5_fail(o, "cannot write dataset %s/%s", gname, name);
    else
        rc = 0;
    if (h5u_close(o, dset, H5Dclose, name) < 0) rc = -1;
    if (h5u_close(o, dcpl, H5Pclose, "dataset creation properties") < 0) rc = -1;
    if (h5u_close(o, space, H5Sclose, "dataspace") < 0) rc = -1;
    return rc;
}

/* ---- the parameter groups ---- */

void h5u_conv_name(char *buf, size_t len, int k, int nconv)
{
    int width = nconv >= 100 ? (nconv >= 1000 ? 4 : 3) : 2;
    snprintf(buf, len, "layer%0*d_conv", width, k);
}

size_t h5u_w_off(const Net *net, const Layer *l) { return (size_t)(l->w - net->params); }
size_t h5u_b_off(const Net *net, const Layer *l) { return (size_t)(l->b - net->params); }

/* Checks that a conv layer's views and counts agree with its shapes and lie
 * in the parameter buffer (other buffers are addressed by the same offsets). */
static int layer_check(H5Out *o, const Net *net, const Layer *l, const char *gname)
{
    size_t nw = (size_t)l->out.c * (size_t)l->in.c * (size_t)l->spec.size * (size_t)l->spec.size;
    if (l->out.c <= 0 || l->in.c <= 0 || l->spec.size <= 0 || !l->w || !l->b)
        return h5u_fail(o, "%s (network layer %d) has no parameters to save", gname, l->index);
    if (l->nparams != nw + (size_t)l->out.c)
        return h5u_fail(o, "%s (network layer %d) has %zu parameters, expected %zu", gname,
                        l->index, l->nparams, nw + (size_t)l->out.c);
    if (!net->params || l->w < net->params || l->b != l->w + nw ||
        h5u_w_off(net, l) + l->nparams > net->nparams)
        return h5u_fail(o, "%s (network layer %d) is not in the parameter buffer", gname,
                        l->index);
    if (nw * sizeof(float) > 0xffffffffu)   /* HDF5 chunks are < 4 GiB */
        return h5u_fail(o, "%s weights do not fit one HDF5 chunk (4 GiB)", gname);
    return 0;
}

int h5u_conv_layers(H5Out *o, const Net *net, size_t *nparams)
{
    int nconv = 0, k = 0;
    size_t total = 0;
    for (int i = 0; i < net->nlayers; i++)
        nconv += net->layers[i].spec.type == L_CONV;
    if (nconv >= 10000)
        return h5u_fail(o, "%d parametric layers: too many to name", nconv);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        char gname[32];
        if (l->spec.type != L_CONV) continue;
        h5u_conv_name(gname, sizeof gname, ++k, nconv);
        if (layer_check(o, net, l, gname) < 0) return -1;
        total += l->nparams;
    }
    if (nparams) *nparams = total;
    return nconv;
}

static int layer_write(H5Out *o, hid_t parent, const Net *net, const Layer *l,
                       const char *gname, const float *buf)
{
    hsize_t wdims[4] = { (hsize_t)l->out.c, (hsize_t)l->in.c, (hsize_t)l->spec.size,
                         (hsize_t)l->spec.size };
    hsize_t bdims[1] = { (hsize_t)l->out.c };
    char owner[64];
    hid_t group = -1;
    int rc = -1;
    snprintf(owner, sizeof owner, "%s/", gname);
    if ((group = H5Gcreate2(parent, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        h5u_h5_fail(o, "cannot create group %s", gname);
    else if (dataset_write(o, group, gname, "weight", 4, wdims, buf + h5u_w_off(net, l)) == 0 &&
             dataset_write(o, group, gname, "bias", 1, bdims, buf + h5u_b_off(net, l)) == 0 &&
             h5u_attr_int(o, group, owner, "in_channels", l->in.c) == 0 &&
             h5u_attr_int(o, group, owner, "out_channels", l->out.c) == 0 &&
             h5u_attr_int(o, group, owner, "kernel", l->spec.size) == 0)
        rc = 0;
    if (h5u_close(o, group, H5Gclose, gname) < 0) rc = -1;
    return rc;
}

int h5u_layers_write(H5Out *o, hid_t parent, const Net *net, const float *buf)
{
    int nconv = h5u_conv_layers(o, net, NULL), k = 0;
    if (nconv < 0) return -1;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        char gname[32];
        if (l->spec.type != L_CONV) continue;
        h5u_conv_name(gname, sizeof gname, ++k, nconv);
        if (layer_write(o, parent, net, l, gname, buf) < 0) return -1;
    }
    return 0;
}

int h5u_model_write(H5Out *o, hid_t file, const Net *net, const char *config_ini,
                    const char *format)
{
    if (h5u_attr_str(o, file, "config", config_ini ? config_ini : "") < 0 ||
        h5u_attr_str(o, file, "inna_version", INNA_VERSION) < 0 ||
        h5u_attr_str(o, file, "format", format) < 0)
        return -1;
    return h5u_layers_write(o, file, net, net->params);
}

/* ---- the file in memory ---- */

/* HDF5 never does disk I/O, so a full disk is a plain errno from write(2)
 * rather than a failed H5Dclose/H5Fclose, after which HDF5 1.10 keeps the
 * file half-open and crashes at exit.  Close degree SEMI: closing fails while
 * objects are open, so no id leaks silently. */
hid_t h5u_fapl_core(H5Out *o)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 &&
        H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) >= 0)
        return fapl;
    h5u_h5_fail(o, "cannot set up HDF5 file access properties");
    if (fapl >= 0) H5Pclose(fapl);
    return -1;
}

static hid_t fcpl_make(H5Out *o, size_t userblock)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && (!userblock || H5Pset_userblock(fcpl, (hsize_t)userblock) >= 0))
        return fcpl;
    h5u_h5_fail(o, "cannot set up HDF5 file creation properties");
    if (fcpl >= 0) H5Pclose(fcpl);
    return -1;
}

/* Copies the flushed file's bytes into a malloc'd *image of *len bytes, after
 * `userblock` zero bytes: HDF5 (1.10) leaves the user block out of the image,
 * its addresses are relative to the end of it. */
static int image_get(H5Out *o, hid_t file, size_t userblock, void **image, size_t *len)
{
    static const char sig[8] = "\211HDF\r\n\032\n";
    ssize_t n;
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(file, NULL, 0)) <= 0)
        return h5u_h5_fail(o, "cannot get the HDF5 file image");
    char *buf = calloc(1, userblock + (size_t)n);
    if (!buf)
        return h5u_os_fail(o, ENOMEM, "cannot hold the %zd-byte file image", n);
    if (H5Fget_file_image(file, buf + userblock, (size_t)n) != n) {
        free(buf);
        return h5u_h5_fail(o, "cannot get the HDF5 file image");
    }
    if (n < 8 || memcmp(buf + userblock, sig, 8) != 0) {   /* some other HDF5 version */
        free(buf);
        return h5u_fail(o, "the HDF5 file image does not start with its superblock");
    }
    *image = buf;
    *len = userblock + (size_t)n;
    return 0;
}

int h5u_image(H5Out *o, const char *name, size_t userblock, H5Fill fill, const void *ctx,
              void **image, size_t *len)
{
    hid_t fapl = h5u_fapl_core(o), fcpl = fapl < 0 ? -1 : fcpl_make(o, userblock), file = -1;
    int rc = -1;
    *image = NULL;
    if (fapl >= 0 && fcpl >= 0) {
        if ((file = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl)) < 0)
            h5u_h5_fail(o, "cannot create the HDF5 file in memory");
        else if (fill(o, file, ctx) == 0)
            rc = image_get(o, file, userblock, image, len);
    }
    if (h5u_close(o, file, H5Fclose, "the HDF5 file") < 0) rc = -1;
    if (h5u_close(o, fcpl, H5Pclose, "file creation properties") < 0) rc = -1;
    if (h5u_close(o, fapl, H5Pclose, "file access properties") < 0) rc = -1;
    if (rc < 0) {
        free(*image);
        *image = NULL;
    }
    return rc;
}

/* ---- publication ---- */

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
static void test_kill_writing(int fd, const char *tmp_base, const void *image, size_t len)
{
    static int seen;
    const char *spec = getenv("INNA_TEST_KILL_WRITING");
    if (!spec) return;
    const size_t n = strcspn(spec, ":");
    const int nth = spec[n] == ':' ? atoi(spec + n + 1) : 1;
    if (strncmp(tmp_base, spec, n) != 0 || strncmp(tmp_base + n, ".tmp.", 5) != 0 || ++seen != nth)
        return;
    if (write_all(fd, image, len / 2) == 0) fsync(fd);
    raise(SIGKILL);
}

/* Creates tmp (O_EXCL: never someone else's file), writes the image, fsyncs
 * and closes it; on failure removes it again. */
static int tmp_write(H5Out *o, const char *tmp, const char *base, const void *image, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return h5u_os_fail(o, errno, "cannot create temporary file %s", base);
    test_kill_writing(fd, base, image, len);
    if (write_all(fd, image, len) < 0)
        h5u_os_fail(o, errno, "cannot write %s", base);
    else if (fsync(fd) < 0)
        h5u_os_fail(o, errno, "cannot sync %s", base);
    if (close(fd) < 0) h5u_os_fail(o, errno, "cannot close %s", base);
    if (!o->failed) return 0;
    unlink(tmp);
    return -1;
}

int h5u_dir_sync(H5Out *o, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return h5u_os_fail(o, errno, "saved, but cannot open folder %s to sync it", dir);
    int rc = fsync(fd), e = errno;
    close(fd);
    /* some file systems cannot sync a folder: the rename stands regardless */
    if (rc < 0 && e != EINVAL && e != ENOTSUP)
        return h5u_os_fail(o, e, "saved, but cannot sync folder %s", dir);
    return 0;
}

char *h5u_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(len + 1);
    if (dir) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return dir;
}

int h5u_publish(H5Out *o, const char *path, const void *image, size_t len)
{
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen), *dir = h5u_dir_of(path);
    int rc = -1;
    if (!tmp || !dir) {
        h5u_os_fail(o, ENOMEM, "cannot save");
    } else {
        runfolder_tmp_name(tmp, tlen, path);
        const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;   /* for messages */
        if (tmp_write(o, tmp, base, image, len) < 0) {
            /* reported; nothing left behind */
        } else if (rename(tmp, path) < 0) {
            h5u_os_fail(o, errno, "cannot rename %s onto it", base);
            unlink(tmp);
        } else {
            rc = h5u_dir_sync(o, dir);
        }
    }
    free(tmp);
    free(dir);
    return rc;
}
