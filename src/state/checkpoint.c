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

/* ---- the optimizer ---- */

/* How many state vectors kind may have (SGD without momentum has none). */
static int state_count(OptimKind kind)
{
    return optim_state_name(kind, 1) ? 2 : 1;
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
    char why[1024];   /* the checkpoint is whole on disk: what failed after it */
    if (rc == 0 && runfolder_point_latest(dir, base, why, sizeof why) != 0)
        rc = h5u_fail(o, "saved, but %s", why);
    if (rc == 0 && runfolder_prune(dir, keep, c->m->step, why, sizeof why) != 0)
        rc = h5u_fail(o, "saved, but %s", why);
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
    if (m) runfolder_ckpt_name(base, sizeof base, m->step);
    char *path = dir ? runfolder_join(dir, base) : NULL;
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
        return h5u_fail(o, "path too long (%zu characters, at most %zu)", strlen(path), outlen - 1);
    memcpy(out, path, strlen(path) + 1);
    return 0;
}

int checkpoint_resolve(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    struct stat st;
    if (err && errlen) err[0] = '\0';
    if (!path || !*path) return h5u_fail(&o, "no checkpoint named");
    if (stat(path, &st) < 0) return h5u_os_fail(&o, errno, "cannot open");
    if (!S_ISDIR(st.st_mode)) return put_out(&o, path, out, outlen);
    char why[1024], *file = runfolder_latest(path, why, sizeof why);
    int rc = -1;
    if (!file)
        h5u_fail(&o, "%s", why);
    else if (stat(file, &st) < 0)
        h5u_os_fail(&o, errno, RUN_LATEST " names %s", file);
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

static int format_check(H5Out *o, hid_t file)
{
    if (H5Aexists(file, "format") <= 0)
        return h5u_fail(o, "not an inna checkpoint (no format attribute)");
    char *format = h5u_attr_read_str(o, file, "", "format");
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
    if (h5u_attr_read_int(o, file, "", "step", H5T_NATIVE_INT64, &step) < 0 ||
        h5u_attr_read_int(o, file, "", "nranks", H5T_NATIVE_INT, &L->meta.nranks) < 0 ||
        h5u_attr_read_int(o, file, "", "reduce_exp", H5T_NATIVE_INT, &L->meta.reduce_exp) < 0 ||
        h5u_attr_read_int(o, file, "", "seed", H5T_NATIVE_UINT64, &L->meta.seed) < 0 ||
        h5u_attr_read_int(o, file, "", "params_hash", H5T_NATIVE_UINT64, &L->params_hash) < 0 ||
        h5u_attr_read_int(o, file, "", "state_hash", H5T_NATIVE_UINT64, &L->state_hash) < 0)
        return -1;
    if (step < 0 || step > LONG_MAX)
        return h5u_fail(o, "step %lld is out of range", (long long)step);
    L->meta.step = (long)step;
    /* Checkpoints written before engines existed do not say: "". */
    if (H5Aexists(file, "engine") > 0) {
        char *engine = h5u_attr_read_str(o, file, "", "engine");
        if (!engine) return -1;
        snprintf(L->meta.engine, sizeof L->meta.engine, "%s", engine);
        free(engine);
    }
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
        int rc = h5u_layers_read(&L->o, g, prefix, L->net, L->nconv, L->state + (size_t)j * opt->n);
        if (h5u_close(&L->o, g, H5Gclose, name) < 0 || rc < 0) return -1;
    }
    return 0;
}

static int optimizer_read(Load *L, hid_t file)
{
    H5Out *o = &L->o;
    hid_t g = H5Gopen2(file, "optimizer", H5P_DEFAULT);
    if (g < 0) return h5u_fail(o, "no group optimizer");
    char *name = h5u_attr_read_str(o, g, "optimizer/", "name");
    int nstate = -1, init = -1, rc = -1;
    if (name && h5u_attr_read_int(o, g, "optimizer/", "nstate", H5T_NATIVE_INT, &nstate) == 0 &&
        h5u_attr_read_int(o, g, "optimizer/", "initialized", H5T_NATIVE_INT, &init) == 0 &&
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
    hid_t file = h5u_image_open(&L->o, buf, len, "an inna checkpoint");
    if (file < 0) return -1;
    int rc = format_check(&L->o, file) == 0 && meta_read(L, file) == 0 &&
             h5u_layers_count_check(&L->o, file, L->nconv) == 0 &&
             h5u_layers_read(&L->o, file, "", L->net, L->nconv, L->params) == 0 &&
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
        hid_t file = h5u_image_open(&o, buf, len, "an inna checkpoint");
        if (file >= 0 && format_check(&o, file) == 0)
            *config_ini = h5u_attr_read_str(&o, file, "", "config");
        if (h5u_close(&o, file, H5Fclose, "the HDF5 file") < 0) {
            free(*config_ini);
            *config_ini = NULL;
        }
        h5u_quiet_end(&q);
    }
    free(buf);
    return *config_ini ? 0 : -1;
}
