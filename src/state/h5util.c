/* The HDF5 helpers of src/state/ (see h5util.h), reading beside writing:
 * error reporting, attributes, datasets, the parameter groups, the file in
 * memory.  Publishing the bytes is publish.c's. */
#define _POSIX_C_SOURCE 200809L
#include "h5util.h"
#include "publish.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

static void report(H5Out *o, const char *reason, const char *fmt, va_list ap)
{
    if (o->failed) return;
    o->failed = 1;
    if (!o->err || !o->errlen) return;
    char what[1024], tail[1280];
    vsnprintf(what, sizeof what, fmt, ap);
    snprintf(tail, sizeof tail, ": %s%s%s", what, reason && *reason ? ": " : "", reason ? reason : "");
    /* A path too long for err loses its middle, not the reason after it. */
    const size_t plen = strlen(o->path), tlen = strlen(tail), head = 48;
    if (plen + tlen < o->errlen || o->errlen < tlen + 2 * head + 4)
        snprintf(o->err, o->errlen, "%s%s", o->path, tail);
    else
        snprintf(o->err, o->errlen, "%.*s...%s%s", (int)head, o->path,
                 o->path + plen - (o->errlen - tlen - head - 4), tail);
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

/* Attribute name of obj if it is one value of class cls, else -1 (reported). */
static hid_t attr_open(H5Out *o, hid_t obj, const char *owner, const char *name, H5T_class_t cls)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = -1, s = -1;
    if (a < 0) {
        h5u_fail(o, "no attribute %s%s", owner, name);
        return -1;
    }
    int ok = (t = H5Aget_type(a)) >= 0 && H5Tget_class(t) == cls &&
             (cls != H5T_STRING || H5Tis_variable_str(t) > 0) &&
             (s = H5Aget_space(a)) >= 0 && H5Sget_simple_extent_npoints(s) == 1;
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (ok) return a;
    H5Aclose(a);
    h5u_fail(o, "attribute %s%s is not one %s", owner, name,
             cls == H5T_STRING ? "variable-length string" : "integer");
    return -1;
}

char *h5u_attr_read_str(H5Out *o, hid_t obj, const char *owner, const char *name)
{
    hid_t a = attr_open(o, obj, owner, name, H5T_STRING), ft = -1, mt = -1;
    char *s = NULL, *out = NULL;
    if (a < 0) return NULL;
    if ((ft = H5Aget_type(a)) < 0 || (mt = H5Tcopy(H5T_C_S1)) < 0 ||
        H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0 ||
        H5Aread(a, mt, &s) < 0)
        h5u_h5_fail(o, "cannot read attribute %s%s", owner, name);
    else if (!(out = strdup(s ? s : "")))
        h5u_os_fail(o, ENOMEM, "cannot read attribute %s%s", owner, name);
    if (s) H5free_memory(s);
    if (h5u_close(o, mt, H5Tclose, "string type") < 0 ||
        h5u_close(o, ft, H5Tclose, "string type") < 0 || h5u_close(o, a, H5Aclose, name) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

int h5u_attr_read_int(H5Out *o, hid_t obj, const char *owner, const char *name, hid_t mtype,
                      void *value)
{
    hid_t a = attr_open(o, obj, owner, name, H5T_INTEGER);
    int rc = a < 0 ? -1 : 0;
    if (a >= 0 && H5Aread(a, mtype, value) < 0)
        rc = h5u_h5_fail(o, "cannot read attribute %s%s", owner, name);
    if (h5u_close(o, a, H5Aclose, name) < 0) rc = -1;
    return rc;
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

static void dims_str(char *buf, size_t len, const hsize_t *d, int rank)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%llu", i ? "," : "",
                               (unsigned long long)d[i]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

static int shape_check(H5Out *o, hid_t space, const char *what, int rank, const hsize_t *want)
{
    hsize_t got[H5S_MAX_RANK];
    char a[160], b[160];
    int n = H5Sget_simple_extent_ndims(space);
    if (n < 0 || n > H5S_MAX_RANK || H5Sget_simple_extent_dims(space, got, NULL) != n)
        return h5u_h5_fail(o, "cannot read the shape of %s", what);
    if (n == rank && memcmp(got, want, (size_t)n * sizeof *got) == 0) return 0;
    dims_str(a, sizeof a, got, n);
    dims_str(b, sizeof b, want, rank);
    return h5u_fail(o, "%s is %s but the network has %s", what, a, b);
}

static herr_t fletcher_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    if (e && e->desc && strstr(e->desc, "Fletcher32")) *(int *)data = 1;
    return 0;
}

/* Stored as we store it: one chunk of the whole dataset, Fletcher32 on it.
 * Anything else is refused before any data is read, so that a damaged file
 * cannot lead HDF5 into its readers of other layouts. */
static int storage_check(H5Out *o, hid_t dcpl, const char *what, int rank, const hsize_t *dims)
{
    hsize_t chunk[H5S_MAX_RANK];
    unsigned flags = 0;
    size_t ncd = 0;
    if (H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) != rank ||
        memcmp(chunk, dims, (size_t)rank * sizeof *chunk) != 0)
        return h5u_fail(o, "%s is not stored as one chunk", what);
    if (H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &ncd, NULL, 0, NULL, NULL) < 0)
        return h5u_fail(o, "%s has no Fletcher32 checksum", what);
    return 0;
}

/* float32 dataset `what` of exactly dims, stored as storage_check wants
 * (HDF5 verifies Fletcher32 on reading), into dst.  Only little-endian IEEE
 * float32 is accepted, so the bytes are copied, never converted. */
static int dataset_read(H5Out *o, hid_t d, const char *what, int rank, const hsize_t *dims,
                        float *dst)
{
    hid_t t = -1, s = -1, p = -1;
    int rc = -1, fletcher = 0;
    if ((t = H5Dget_type(d)) < 0 || H5Tequal(t, H5T_IEEE_F32LE) <= 0)
        h5u_fail(o, "%s is not float32", what);
    else if ((s = H5Dget_space(d)) < 0)
        h5u_h5_fail(o, "cannot read the shape of %s", what);
    else if (shape_check(o, s, what, rank, dims) < 0)
        ;   /* reported */
    else if ((p = H5Dget_create_plist(d)) < 0)
        h5u_h5_fail(o, "cannot read the storage properties of %s", what);
    else if (storage_check(o, p, what, rank, dims) < 0)
        ;   /* reported */
    else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) >= 0)
        rc = 0;
    else if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, fletcher_walk, &fletcher), fletcher)
        h5u_fail(o, "checksum mismatch in %s (file corrupt)", what);
    else
        h5u_h5_fail(o, "cannot read %s", what);
    if (h5u_close(o, p, H5Pclose, "dataset creation properties") < 0) rc = -1;
    if (h5u_close(o, s, H5Sclose, "dataspace") < 0) rc = -1;
    if (h5u_close(o, t, H5Tclose, "datatype") < 0) rc = -1;
    return rc;
}

/* Dataset name of group g (called gname in messages) into dst. */
static int member_read(H5Out *o, hid_t g, const char *gname, const char *name, int rank,
                       const hsize_t *dims, float *dst)
{
    char what[128];
    snprintf(what, sizeof what, "%s/%s", gname, name);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return h5u_fail(o, "no dataset %s", what);
    int rc = dataset_read(o, d, what, rank, dims, dst);
    if (h5u_close(o, d, H5Dclose, what) < 0) rc = -1;
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

int h5u_layers_read(H5Out *o, hid_t parent, const char *prefix, const Net *net, int nconv,
                    float *buf)
{
    int k = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        char gname[32], full[96];
        if (l->spec.type != L_CONV) continue;
        h5u_conv_name(gname, sizeof gname, ++k, nconv);
        snprintf(full, sizeof full, "%s%s", prefix, gname);
        hsize_t wd[4] = { (hsize_t)l->out.c, (hsize_t)l->in.c, (hsize_t)l->spec.size,
                          (hsize_t)l->spec.size };
        hsize_t bd[1] = { (hsize_t)l->out.c };
        hid_t g = H5Gopen2(parent, gname, H5P_DEFAULT);
        if (g < 0)
            return h5u_fail(o, "no group %s (the network has %d parametric layers)", full, nconv);
        int rc = member_read(o, g, full, "weight", 4, wd, buf + h5u_w_off(net, l)) == 0 &&
                 member_read(o, g, full, "bias", 1, bd, buf + h5u_b_off(net, l)) == 0 ? 0 : -1;
        if (h5u_close(o, g, H5Gclose, full) < 0 || rc < 0) return -1;
    }
    return 0;
}

static herr_t count_layer(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    if (strncmp(name, "layer", 5) == 0) ++*(int *)data;
    return 0;
}

int h5u_layers_count_check(H5Out *o, hid_t parent, int nconv)
{
    int n = 0;
    if (H5Literate(parent, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_layer, &n) < 0)
        return h5u_h5_fail(o, "cannot list the root group");
    if (n != nconv)
        return h5u_fail(o, "holds %d parametric layers but the network has %d", n, nconv);
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

/* HDF5 parses the checked bytes from memory (its copy of them).  With a file
 * image the core driver refuses a name that exists as a file, so the name is
 * one no file can have. */
hid_t h5u_image_open(H5Out *o, const void *buf, size_t len, const char *kind)
{
    hid_t fapl = h5u_fapl_core(o), file = -1;
    if (fapl < 0) return -1;
    if (H5Pset_file_image(fapl, (void *)buf, len) < 0)
        h5u_h5_fail(o, "cannot hand the file image to HDF5");
    else if ((file = H5Fopen("/dev/null/inna-checkpoint", H5F_ACC_RDONLY, fapl)) < 0)
        h5u_h5_fail(o, "not %s (HDF5 cannot open it)", kind);
    if (h5u_close(o, fapl, H5Pclose, "file access properties") < 0 && file >= 0) {
        H5Fclose(file);
        file = -1;
    }
    return file;
}

/* ---- publication ---- */

int h5u_publish(H5Out *o, const char *path, const void *image, size_t len)
{
    char why[1024];
    return publish_file(path, image, len, why, sizeof why) == 0 ? 0 : h5u_fail(o, "%s", why);
}
