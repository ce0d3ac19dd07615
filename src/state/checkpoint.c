/* Checkpoints (layout in include/checkpoint.h).  Saving reuses the model
 * file's machinery (h5util.h): the HDF5 file is built in memory, our text
 * header goes into its 512-byte user block, and the bytes are published
 * atomically.  Loading trusts nothing: the whole file is read with read(2)
 * and its length and CRC-32 checked before HDF5, which is not hardened
 * against malformed files, sees a byte; HDF5 then parses exactly those bytes
 * from memory.  Everything read goes to temporary buffers, copied into the
 * network and optimizer only when every check has passed. */
#define _POSIX_C_SOURCE 200809L
#include "checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "h5util.h"
#include "runfolder.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

#define MAGIC "INNA-CKPT\n"
#define UB CHECKPOINT_USERBLOCK
#define LATEST RUN_LATEST

/* ---- names ---- */

/* How many state vectors kind may have (SGD without momentum has none). */
static int state_count(OptimKind kind)
{
    return optim_state_name(kind, 1) ? 2 : 1;
}

/* "<dir>/<name>", without doubling a trailing slash of dir; malloc'd. */
static char *path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), len = dl + strlen(name) + 2;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    return p;
}

static void ckpt_name(char *buf, size_t len, long step)
{
    snprintf(buf, len, "ckpt-%09ld.h5", step);
}

/* 1 when name is exactly what ckpt_name makes of some step (then *step). */
static int ckpt_step(const char *name, long *step)
{
    char *end, again[64];
    if (strncmp(name, "ckpt-", 5) != 0 || !isdigit((unsigned char)name[5])) return 0;
    errno = 0;
    long s = strtol(name + 5, &end, 10);
    if (errno || strcmp(end, ".h5") != 0) return 0;
    ckpt_name(again, sizeof again, s);
    *step = s;
    return strcmp(again, name) == 0;
}

/* ---- hashes and the header ---- */

/* CRC-32 in the high half, Adler-32 in the low half, of the same bytes. */
static uint64_t buf_hash(const float *x, size_t n)
{
    uLong c = crc32_z(0L, Z_NULL, 0), a = adler32_z(0L, Z_NULL, 0);
    if (n) {   /* a NULL buffer would reset them */
        c = crc32_z(c, (const Bytef *)x, n * sizeof *x);
        a = adler32_z(a, (const Bytef *)x, n * sizeof *x);
    }
    return (uint64_t)(c & 0xffffffffu) << 32 | (uint64_t)(a & 0xffffffffu);
}

static unsigned long body_crc(const unsigned char *buf, size_t len)
{
    return crc32_z(crc32_z(0L, Z_NULL, 0), buf + UB, len - UB) & 0xffffffffu;
}

/* Writes the text header into the (zeroed) user block of image. */
static void header_fill(unsigned char *image, size_t len)
{
    char head[UB];
    memset(head, 0, sizeof head);
    snprintf(head, sizeof head, MAGIC "length %016zu\ncrc32 %08lx\n", len, body_crc(image, len));
    memcpy(image, head, UB);
}

/* Parses the header's NUL-terminated text strictly: any deviation is -1. */
static int header_parse(const char *h, unsigned long long *len, unsigned long *crc)
{
    const char *p = h + strlen(MAGIC);
    char *end;
    if (strncmp(p, "length ", 7) != 0 || !isdigit((unsigned char)p[7])) return -1;
    errno = 0;
    *len = strtoull(p + 7, &end, 10);
    if (errno || *end != '\n') return -1;
    p = end + 1;
    if (strncmp(p, "crc32 ", 6) != 0 || !isxdigit((unsigned char)p[6])) return -1;
    *crc = strtoul(p + 6, &end, 16);
    return errno || end != p + 14 || *end != '\n' ? -1 : 0;
}

static int not_ours(H5Out *o, const unsigned char *buf, size_t len)
{
    if (len >= 8 && memcmp(buf, "\211HDF\r\n\032\n", 8) == 0)
        return h5u_fail(o, "not an inna checkpoint (an HDF5 file without the checkpoint "
                           "header, e.g. a model file)");
    return h5u_fail(o, "not an inna checkpoint");
}

/* The file is ours, whole, and intact: before HDF5 sees any of it. */
static int header_check(H5Out *o, const unsigned char *buf, size_t len)
{
    char head[UB + 1];
    size_t n = len < UB ? len : UB;
    unsigned long long want;
    unsigned long crc;
    if (n < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0)
        return not_ours(o, buf, len);
    memcpy(head, buf, n);
    head[n] = '\0';
    if (header_parse(head, &want, &crc) < 0)
        return len < UB ? h5u_fail(o, "truncated (%zu of at least %d bytes)", len, UB)
                        : h5u_fail(o, "damaged checkpoint header (file corrupt)");
    if (len < want)
        return h5u_fail(o, "truncated (%zu of %llu bytes)", len, want);
    if (len > want || want <= UB)
        return h5u_fail(o, "is %zu bytes but its header says %llu (file corrupt)", len, want);
    if (body_crc(buf, len) != crc)
        return h5u_fail(o, "checksum mismatch (file corrupt)");
    return 0;
}

/* ---- the run's network and optimizer ---- */

/* What save and load assume of net and opt; returns the number of
 * parametric layers. */
static int run_check(H5Out *o, const Net *net, const Optimizer *opt)
{
    size_t covered = 0;
    int nconv;
    if (!net || !opt || !net->params)
        return h5u_fail(o, "no network or no optimizer");
    if ((unsigned)opt->cfg.kind >= OPT_NKINDS)
        return h5u_fail(o, "unknown optimizer kind %d", (int)opt->cfg.kind);
    if (opt->nstate < 0 || opt->nstate > state_count(opt->cfg.kind) ||
        (opt->nstate > 0 && !opt->state))
        return h5u_fail(o, "optimizer %s has %d state vector(s)", optim_name(opt->cfg.kind),
                        opt->nstate);
    if (opt->n != net->nparams)
        return h5u_fail(o, "the optimizer has %zu parameters but the network %zu", opt->n,
                        net->nparams);
    if ((nconv = h5u_conv_layers(o, net, &covered)) < 0)
        return -1;
    /* the hashes cover whole buffers: the layers must fill them */
    if (covered != net->nparams)
        return h5u_fail(o, "the network's parametric layers hold %zu of its %zu parameters",
                        covered, net->nparams);
    return nconv;
}

/* ---- saving ---- */

typedef struct {
    const Net *net;
    const Optimizer *opt;
    const CheckpointMeta *m;
    const char *config_ini;
} Ckpt;

static int meta_write(H5Out *o, hid_t file, const Ckpt *c)
{
    int64_t step = c->m->step;
    uint64_t seed = c->m->seed, ph = buf_hash(c->net->params, c->net->nparams);
    uint64_t sh = buf_hash(c->opt->state, (size_t)c->opt->nstate * c->opt->n);
    if (h5u_attr_write(o, file, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, &step, "") < 0 ||
        h5u_attr_int(o, file, "", "nranks", c->m->nranks) < 0 ||
        h5u_attr_int(o, file, "", "reduce_exp", c->m->reduce_exp) < 0 ||
        h5u_attr_write(o, file, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed, "") < 0 ||
        h5u_attr_write(o, file, "params_hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, &ph, "") < 0 ||
        h5u_attr_write(o, file, "state_hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, &sh, "") < 0 ||
        (c->m->engine[0] && h5u_attr_str(o, file, "engine", c->m->engine) < 0))
        return -1;
    return 0;
}

/* Group `name` under parent holding one state vector as parameter groups. */
static int state_write(H5Out *o, hid_t parent, const char *name, const Net *net,
                       const float *buf)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5u_h5_fail(o, "cannot create group optimizer/%s", name);
    int rc = h5u_layers_write(o, g, net, buf);
    if (h5u_close(o, g, H5Gclose, name) < 0) rc = -1;
    return rc;
}

static int optimizer_write(H5Out *o, hid_t file, const Ckpt *c)
{
    const Optimizer *opt = c->opt;
    hid_t g = H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5u_h5_fail(o, "cannot create group optimizer");
    int rc = h5u_attr_str(o, g, "name", optim_name(opt->cfg.kind)) == 0 &&
             h5u_attr_int(o, g, "optimizer/", "nstate", opt->nstate) == 0 &&
             h5u_attr_int(o, g, "optimizer/", "initialized", opt->initialized != 0) == 0 ? 0 : -1;
    for (int j = 0; rc == 0 && j < opt->nstate; j++)
        rc = state_write(o, g, optim_state_name(opt->cfg.kind, j), c->net, opt->state + j * opt->n);
    if (h5u_close(o, g, H5Gclose, "optimizer") < 0) rc = -1;
    return rc;
}

static int ckpt_fill(H5Out *o, hid_t file, const void *ctx)
{
    const Ckpt *c = ctx;
    if (h5u_model_write(o, file, c->net, c->config_ini, CHECKPOINT_FORMAT) < 0 ||
        meta_write(o, file, c) < 0)
        return -1;
    return optimizer_write(o, file, c);
}

/* <dir>/latest.h5 -> base: a relative symlink made under a temporary name and
 * renamed over the old one, so latest.h5 is never missing or dangling. */
static int latest_point(H5Out *o, const char *dir, const char *base)
{
    char tname[64];
    runfolder_tmp_name(tname, sizeof tname, LATEST);
    char *tmp = path_join(dir, tname), *latest = path_join(dir, LATEST);
    int rc = -1;
    if (!tmp || !latest)
        h5u_os_fail(o, ENOMEM, "saved, but cannot point " LATEST " at it");
    else if (symlink(base, tmp) < 0)
        h5u_os_fail(o, errno, "saved, but cannot create the link %s", tname);
    else if (rename(tmp, latest) < 0) {
        h5u_os_fail(o, errno, "saved, but cannot rename %s onto " LATEST, tname);
        unlink(tmp);
    } else
        rc = h5u_dir_sync(o, dir);
    free(tmp);
    free(latest);
    return rc;
}

static int step_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Steps of the ckpt-*.h5 files in dir other than `except` (malloc'd *steps). */
static int ckpt_list(H5Out *o, const char *dir, long except, long **steps, size_t *n)
{
    DIR *d = opendir(dir);
    size_t cap = 0;
    *steps = NULL;
    *n = 0;
    if (!d) return h5u_os_fail(o, errno, "saved, but cannot list folder %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        long s, *grown;
        if (!ckpt_step(e->d_name, &s) || s == except) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            if (!(grown = realloc(*steps, cap * sizeof *grown))) {
                closedir(d);
                return h5u_os_fail(o, ENOMEM, "saved, but cannot list folder %s", dir);
            }
            *steps = grown;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    return 0;
}

/* Deletes all but the keep - 1 highest steps other than the one just written
 * (which latest.h5 names, so it is never deleted). */
static int prune(H5Out *o, const char *dir, int keep, long newest)
{
    long *steps;
    size_t n;
    int rc = ckpt_list(o, dir, newest, &steps, &n);
    if (rc == 0 && n > 0) qsort(steps, n, sizeof *steps, step_desc);
    for (size_t i = (size_t)keep - 1; rc == 0 && i < n; i++) {
        char name[64], *path;
        ckpt_name(name, sizeof name, steps[i]);
        if (!(path = path_join(dir, name)))
            rc = h5u_os_fail(o, ENOMEM, "saved, but cannot remove old checkpoints");
        else if (unlink(path) < 0 && errno != ENOENT)
            rc = h5u_os_fail(o, errno, "saved, but cannot remove old checkpoint %s", name);
        free(path);
    }
    free(steps);
    return rc;
}

/* Publishes the file (*published then: it is whole on disk), points
 * latest.h5 at it, prunes. */
static int save(H5Out *o, const char *dir, const char *base, const Ckpt *c, int keep,
                int *published)
{
    void *image = NULL;
    size_t len = 0;
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = h5u_image(o, o->path, UB, ckpt_fill, c, &image, &len);
    h5u_quiet_end(&q);
    if (rc == 0) {
        header_fill(image, len);
        rc = h5u_publish(o, o->path, image, len);
        *published = rc == 0;
    }
    free(image);
    if (rc == 0) rc = latest_point(o, dir, base);
    if (rc == 0) rc = prune(o, dir, keep, c->m->step);
    return rc;
}

static int save_check(H5Out *o, const char *dir, const CheckpointMeta *m, int keep,
                      size_t wlen_needed, size_t wlen)
{
    if (!dir || !*dir || !m)
        return h5u_fail(o, "no folder or no step to save");
    if (m->step < 0 || keep < 1)
        return h5u_fail(o, "cannot save step %ld keeping %d checkpoints", m->step, keep);
    if (wlen_needed >= wlen)
        return h5u_fail(o, "the name does not fit in %zu bytes", wlen);
    return 0;
}

int checkpoint_save(const char *dir, const Net *net, const Optimizer *opt, const CheckpointMeta *m,
                    const char *config_ini, int keep, char *written, size_t wlen, char *err, size_t errlen)
{
    char base[64] = "";
    if (m) ckpt_name(base, sizeof base, m->step);
    char *path = dir ? path_join(dir, base) : NULL;
    H5Out o = { path ? path : dir ? dir : "(null)", err, errlen, 0 };
    const Ckpt c = { net, opt, m, config_ini };
    int rc = -1, published = 0;
    if (err && errlen) err[0] = '\0';
    if (written && wlen) written[0] = '\0';
    if (dir && !path)
        h5u_os_fail(&o, ENOMEM, "cannot save");
    else if (save_check(&o, dir, m, keep, written && path ? strlen(path) : 0,
                        written ? wlen : SIZE_MAX) == 0 &&
             run_check(&o, net, opt) >= 0)
        rc = save(&o, dir, base, &c, keep, &published);
    if (written && published) snprintf(written, wlen, "%s", path);
    free(path);
    return rc;
}

/* ---- finding a checkpoint ---- */

static int put_out(H5Out *o, const char *path, char *out, size_t outlen)
{
    if (!out || strlen(path) >= outlen)
        return h5u_fail(o, "the path %s does not fit in %zu bytes", path, outlen);
    memcpy(out, path, strlen(path) + 1);
    return 0;
}

/* <dir>/latest.h5 as the file it names (a plain file there is used as is). */
static char *latest_target(H5Out *o, const char *dir)
{
    char *latest = path_join(dir, LATEST), target[PATH_MAX];
    ssize_t n = latest ? readlink(latest, target, sizeof target - 1) : -1;
    if (n < 0 && latest && errno == EINVAL) return latest;   /* not a symlink */
    if (n < 0 && latest && errno == ENOENT)
        h5u_fail(o, "no checkpoint in this folder (no " LATEST ")");
    else if (n < 0)
        h5u_os_fail(o, latest ? errno : ENOMEM, "cannot read " LATEST);
    free(latest);
    if (n < 0) return NULL;
    target[n] = '\0';
    char *path = target[0] == '/' ? strdup(target) : path_join(dir, target);
    if (!path) h5u_os_fail(o, ENOMEM, "cannot read " LATEST);
    return path;
}

int checkpoint_resolve(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    struct stat st;
    if (err && errlen) err[0] = '\0';
    if (!path || !*path) return h5u_fail(&o, "no checkpoint named");
    if (stat(path, &st) < 0) return h5u_os_fail(&o, errno, "cannot open");
    if (!S_ISDIR(st.st_mode)) return put_out(&o, path, out, outlen);
    char *file = latest_target(&o, path);
    int rc = -1;
    if (!file)
        ;   /* reported */
    else if (stat(file, &st) < 0)
        h5u_os_fail(&o, errno, LATEST " names %s", file);
    else
        rc = put_out(&o, file, out, outlen);
    free(file);
    return rc;
}

/* ---- reading ---- */

/* The whole file into malloc'd *buf, with plain read(2): its size is not
 * trusted (it may be a pipe or /proc file), the buffer grows as needed. */
static int file_read(H5Out *o, const char *path, unsigned char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *len = 0;
    if (fd < 0) return h5u_os_fail(o, errno, "cannot open");
    size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    unsigned char *b = malloc(cap), *grown;
    while (b) {
        if (*len == cap) {
            if (!(grown = realloc(b, 2 * cap))) break;
            b = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, b + *len, cap - *len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) h5u_os_fail(o, errno, "cannot read");
        if (n <= 0) break;
        *len += (size_t)n;
    }
    if (!o->failed && (!b || *len == cap)) h5u_os_fail(o, ENOMEM, "cannot read");
    close(fd);
    if (!o->failed) {
        *buf = b;
        return 0;
    }
    free(b);
    *buf = NULL;
    return -1;
}

/* HDF5 parses the checked bytes from memory (its copy of them).  With a file
 * image the core driver refuses a name that exists as a file, so the name is
 * one no file can have. */
static hid_t image_open(H5Out *o, const void *buf, size_t len)
{
    hid_t fapl = h5u_fapl_core(o), file = -1;
    if (fapl < 0) return -1;
    if (H5Pset_file_image(fapl, (void *)buf, len) < 0)
        h5u_h5_fail(o, "cannot hand the file image to HDF5");
    else if ((file = H5Fopen("/dev/null/inna-checkpoint", H5F_ACC_RDONLY, fapl)) < 0)
        h5u_h5_fail(o, "not an inna checkpoint (HDF5 cannot open it)");
    if (h5u_close(o, fapl, H5Pclose, "file access properties") < 0 && file >= 0) {
        H5Fclose(file);
        file = -1;
    }
    return file;
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

/* A string attribute as a malloc'd string, or NULL (reported). */
static char *attr_read_str(H5Out *o, hid_t obj, const char *owner, const char *name)
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

/* An integer attribute converted to mtype into *value. */
static int attr_read_int(H5Out *o, hid_t obj, const char *owner, const char *name, hid_t mtype,
                         void *value)
{
    hid_t a = attr_open(o, obj, owner, name, H5T_INTEGER);
    int rc = a < 0 ? -1 : 0;
    if (a >= 0 && H5Aread(a, mtype, value) < 0)
        rc = h5u_h5_fail(o, "cannot read attribute %s%s", owner, name);
    if (h5u_close(o, a, H5Aclose, name) < 0) rc = -1;
    return rc;
}

static int format_check(H5Out *o, hid_t file)
{
    if (H5Aexists(file, "format") <= 0)
        return h5u_fail(o, "not an inna checkpoint (no format attribute)");
    char *format = attr_read_str(o, file, "", "format");
    int rc = format ? 0 : -1;
    if (format && strcmp(format, CHECKPOINT_FORMAT) != 0)
        rc = h5u_fail(o, "not an inna checkpoint (format \"%.40s\", expected \"%s\")", format,
                      CHECKPOINT_FORMAT);
    free(format);
    return rc;
}

/* ---- loading ---- */

typedef struct {
    H5Out o;
    const Net *net;
    const Optimizer *opt;
    int nconv;
    float *params, *state;   /* what the file holds, committed at the end */
    CheckpointMeta meta;
    int initialized;
    uint64_t params_hash, state_hash;
} Load;

static int meta_read(Load *L, hid_t file)
{
    H5Out *o = &L->o;
    int64_t step;
    if (attr_read_int(o, file, "", "step", H5T_NATIVE_INT64, &step) < 0 ||
        attr_read_int(o, file, "", "nranks", H5T_NATIVE_INT, &L->meta.nranks) < 0 ||
        attr_read_int(o, file, "", "reduce_exp", H5T_NATIVE_INT, &L->meta.reduce_exp) < 0 ||
        attr_read_int(o, file, "", "seed", H5T_NATIVE_UINT64, &L->meta.seed) < 0 ||
        attr_read_int(o, file, "", "params_hash", H5T_NATIVE_UINT64, &L->params_hash) < 0 ||
        attr_read_int(o, file, "", "state_hash", H5T_NATIVE_UINT64, &L->state_hash) < 0)
        return -1;
    if (step < 0 || step > LONG_MAX)
        return h5u_fail(o, "step %lld is out of range", (long long)step);
    L->meta.step = (long)step;
    /* Checkpoints written before engines existed do not say: "". */
    if (H5Aexists(file, "engine") > 0) {
        char *engine = attr_read_str(o, file, "", "engine");
        if (!engine) return -1;
        snprintf(L->meta.engine, sizeof L->meta.engine, "%s", engine);
        free(engine);
    }
    return 0;
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

/* The parameter groups under parent (prefix names it in messages) into buf,
 * laid out like net->params. */
static int layers_read(Load *L, hid_t parent, const char *prefix, float *buf)
{
    const Net *net = L->net;
    int k = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        char gname[32], full[96];
        if (l->spec.type != L_CONV) continue;
        h5u_conv_name(gname, sizeof gname, ++k, L->nconv);
        snprintf(full, sizeof full, "%s%s", prefix, gname);
        hsize_t wd[4] = { (hsize_t)l->out.c, (hsize_t)l->in.c, (hsize_t)l->spec.size,
                          (hsize_t)l->spec.size };
        hsize_t bd[1] = { (hsize_t)l->out.c };
        hid_t g = H5Gopen2(parent, gname, H5P_DEFAULT);
        if (g < 0)
            return h5u_fail(&L->o, "no group %s (the network has %d parametric layers)", full,
                            L->nconv);
        int rc = member_read(&L->o, g, full, "weight", 4, wd, buf + h5u_w_off(net, l)) == 0 &&
                 member_read(&L->o, g, full, "bias", 1, bd, buf + h5u_b_off(net, l)) == 0 ? 0 : -1;
        if (h5u_close(&L->o, g, H5Gclose, full) < 0 || rc < 0) return -1;
    }
    return 0;
}

static herr_t count_layer(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    if (strncmp(name, "layer", 5) == 0) ++*(int *)data;
    return 0;
}

/* As many layer groups as the network has parametric layers. */
static int layer_count_check(Load *L, hid_t file)
{
    int n = 0;
    if (H5Literate(file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_layer, &n) < 0)
        return h5u_h5_fail(&L->o, "cannot list the root group");
    if (n != L->nconv)
        return h5u_fail(&L->o, "holds %d parametric layers but the network has %d", n, L->nconv);
    return 0;
}

static int optimizer_match(Load *L, const char *name, int nstate, int init)
{
    const Optimizer *opt = L->opt;
    const char *want = optim_name(opt->cfg.kind);
    if (strcmp(name, want) != 0)
        return h5u_fail(&L->o, "the optimizer is %.40s but the run's is %s", name, want);
    if (nstate != opt->nstate)
        return h5u_fail(&L->o, "optimizer %s has %d state vector(s) but the run's has %d", want,
                        nstate, opt->nstate);
    if (init != 0 && init != 1)
        return h5u_fail(&L->o, "optimizer/initialized is %d, not 0 or 1", init);
    L->initialized = init;
    return 0;
}

static int states_read(Load *L, hid_t og)
{
    const Optimizer *opt = L->opt;
    for (int j = 0; j < opt->nstate; j++) {
        const char *name = optim_state_name(opt->cfg.kind, j);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "optimizer/%s/", name);
        hid_t g = H5Gopen2(og, name, H5P_DEFAULT);
        if (g < 0) return h5u_fail(&L->o, "no group optimizer/%s", name);
        int rc = layers_read(L, g, prefix, L->state + (size_t)j * opt->n);
        if (h5u_close(&L->o, g, H5Gclose, name) < 0 || rc < 0) return -1;
    }
    return 0;
}

static int optimizer_read(Load *L, hid_t file)
{
    H5Out *o = &L->o;
    hid_t g = H5Gopen2(file, "optimizer", H5P_DEFAULT);
    if (g < 0) return h5u_fail(o, "no group optimizer");
    char *name = attr_read_str(o, g, "optimizer/", "name");
    int nstate = -1, init = -1, rc = -1;
    if (name && attr_read_int(o, g, "optimizer/", "nstate", H5T_NATIVE_INT, &nstate) == 0 &&
        attr_read_int(o, g, "optimizer/", "initialized", H5T_NATIVE_INT, &init) == 0 &&
        optimizer_match(L, name, nstate, init) == 0)
        rc = states_read(L, g);
    free(name);
    if (h5u_close(o, g, H5Gclose, "optimizer") < 0) rc = -1;
    return rc;
}

static int hashes_check(Load *L)
{
    if (buf_hash(L->params, L->net->nparams) != L->params_hash)
        return h5u_fail(&L->o, "params_hash does not match the parameters read (file corrupt)");
    if (buf_hash(L->state, (size_t)L->opt->nstate * L->opt->n) != L->state_hash)
        return h5u_fail(&L->o, "state_hash does not match the optimizer state read "
                               "(file corrupt)");
    return 0;
}

static int load_file(Load *L, const void *buf, size_t len)
{
    hid_t file = image_open(&L->o, buf, len);
    if (file < 0) return -1;
    int rc = format_check(&L->o, file) == 0 && meta_read(L, file) == 0 &&
             layer_count_check(L, file) == 0 && layers_read(L, file, "", L->params) == 0 &&
             optimizer_read(L, file) == 0 && hashes_check(L) == 0 ? 0 : -1;
    if (h5u_close(&L->o, file, H5Fclose, "the HDF5 file") < 0) rc = -1;
    return rc;
}

static int load_alloc(Load *L)
{
    size_t ns = (size_t)L->opt->nstate * L->opt->n;
    L->params = malloc(L->net->nparams * sizeof(float));
    L->state = ns ? malloc(ns * sizeof(float)) : NULL;
    if (L->params && (L->state || !ns)) return 0;
    return h5u_os_fail(&L->o, ENOMEM, "cannot hold the checkpoint's %zu floats",
                       L->net->nparams + ns);
}

int checkpoint_load_image(const void *buf, size_t len, const char *name, Net *net, Optimizer *opt,
                          CheckpointMeta *m, char *err, size_t errlen)
{
    Load L = { .o = { name ? name : "(checkpoint)", err, errlen, 0 }, .net = net, .opt = opt };
    int rc = -1;
    if (err && errlen) err[0] = '\0';
    if (!buf || !m) return h5u_fail(&L.o, "no checkpoint bytes or no metadata to load into");
    if ((L.nconv = run_check(&L.o, net, opt)) < 0 || header_check(&L.o, buf, len) < 0 ||
        load_alloc(&L) < 0) {
        /* reported */
    } else {
        H5Quiet q;
        h5u_quiet_begin(&q);
        rc = load_file(&L, buf, len);
        h5u_quiet_end(&q);
    }
    if (rc == 0) {   /* every check passed: only now is the run touched */
        memcpy(net->params, L.params, net->nparams * sizeof(float));
        if (opt->nstate) memcpy(opt->state, L.state, (size_t)opt->nstate * opt->n * sizeof(float));
        opt->initialized = L.initialized;
        *m = L.meta;
    }
    free(L.params);
    free(L.state);
    return rc;
}

int checkpoint_load(const char *path, Net *net, Optimizer *opt, CheckpointMeta *m, char *err,
                    size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    unsigned char *buf;
    size_t len;
    if (err && errlen) err[0] = '\0';
    if (!path || !*path) return h5u_fail(&o, "no checkpoint named");
    if (file_read(&o, path, &buf, &len) < 0) return -1;
    int rc = checkpoint_load_image(buf, len, path, net, opt, m, err, errlen);
    free(buf);
    return rc;
}

int checkpoint_read_config(const char *path, char **config_ini, char *err, size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    unsigned char *buf = NULL;
    size_t len;
    if (err && errlen) err[0] = '\0';
    if (!config_ini) return h5u_fail(&o, "nowhere to put the config");
    *config_ini = NULL;
    if (!path || !*path) return h5u_fail(&o, "no checkpoint named");
    if (file_read(&o, path, &buf, &len) == 0 && header_check(&o, buf, len) == 0) {
        H5Quiet q;
        h5u_quiet_begin(&q);
        hid_t file = image_open(&o, buf, len);
        if (file >= 0 && format_check(&o, file) == 0)
            *config_ini = attr_read_str(&o, file, "", "config");
        if (h5u_close(&o, file, H5Fclose, "the HDF5 file") < 0) {
            free(*config_ini);
            *config_ini = NULL;
        }
        h5u_quiet_end(&q);
    }
    free(buf);
    return *config_ini ? 0 : -1;
}
