/* Checkpoints on a small net built by net_build (conv 2->4 k3, relu, maxpool,
 * conv 4->3 k1, relu, gap) with distinct parameter and state values:
 *   1. save + load round trip, bit for bit (params with -0, NaN payload and a
 *      denormal; state; initialized; meta), for INNA, SGD with momentum, Adam
 *      and Adagrad; the file's layout read back with the HDF5 C API;
 *   2. keep = 2 after 4 saves: two ckpt files, latest.h5 a relative symlink to
 *      the newest; a save at an earlier step keeps the file just written;
 *      checkpoint_resolve on the folder and on a file, and on a path too long
 *      for the caller (the error keeps its reason);
 *   3. refusals, each naming the file with the expected words, printing
 *      nothing, leaving net, optimizer and meta untouched: flipped byte,
 *      truncations, extra bytes, a text file, a model file, another
 *      architecture, another optimizer kind, another SGD momentum, a broken
 *      Fletcher32 and a broken params_hash (header CRC recomputed so that the
 *      inner checks are reached), a missing file;
 *   4. failed saves: a folder under a regular file; the temporary name taken;
 *      a file size limit; latest.h5's temporary name taken: the previous
 *      latest.h5 stays valid and nothing partial is left.
 * With an argument, only writes one checkpoint into that folder. */
#define _GNU_SOURCE
#include "check.h"
#include "files.h"
#include "checkpoint.h"
#include "state.h"

#include <ftw.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *CONFIG = "[net]\nbatch = 2\n\n[optim]\nname = inna\n";

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
enum { CRC_CHECKED = 0 };   /* the library does not compare the header's CRC */
#else
enum { CRC_CHECKED = 1 };
#endif

/* ---- a run: net, optimizer, meta ---- */

typedef struct {
    Net net;
    Optimizer opt;
    CheckpointMeta meta;
} Run;

static int run_build(Run *r, int filters1, OptimKind kind, double momentum)
{
    const LayerSpec specs[] = {
        { .type = L_CONV, .filters = filters1, .size = 3, .stride = 1, .pad = 1 },
        { .type = L_RELU },
        { .type = L_MAXPOOL, .size = 2, .stride = 2, .pad = 0 },
        { .type = L_CONV, .filters = 3, .size = 1, .stride = 1, .pad = 0 },
        { .type = L_RELU },
        { .type = L_GAP },
    };
    char err[256] = "";
    memset(r, 0, sizeof *r);
    int rc = net_build(&r->net, specs, 6, (Shape){ 2, 6, 6 }, 2, err, sizeof err);
    if (rc) fprintf(stderr, "net_build: %s\n", err);
    CHECK(rc == 0);
    if (rc) return -1;
    OptimConfig c = { .kind = kind, .lr = 0.1, .alpha = 0.5, .beta = 0.1, .momentum = momentum,
                      .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
    int ns = optim_nstate(&c);
    optim_init(&r->opt, &c, r->net.nparams, ns ? malloc(ns * r->net.nparams * sizeof(float)) : NULL);
    return 0;
}

static void run_free(Run *r)
{
    free(r->opt.state);
    net_free(&r->net);
}

/* Distinct values keyed by salt; params include -0, a NaN with a payload and
 * a denormal, which must come back bit for bit. */
static void run_fill(Run *r, float salt)
{
    for (size_t i = 0; i < r->net.nparams; i++) r->net.params[i] = salt + 0.25f * (float)i;
    uint32_t nan_bits = 0x7fc01234u, denormal_bits = 0x00000005u;
    r->net.params[1] = -0.0f;
    memcpy(&r->net.params[2], &nan_bits, 4);
    memcpy(&r->net.params[3], &denormal_bits, 4);
    for (size_t j = 0; j < (size_t)r->opt.nstate * r->opt.n; j++)
        r->opt.state[j] = -salt - 0.5f * (float)j;
    r->opt.initialized = 1;
    r->meta = (CheckpointMeta){ .step = (long)(salt * 10), .nranks = 3, .reduce_exp = -7,
                                .seed = 0xfedcba9876543210ull + (uint64_t)salt };
}

static int run_same(const Run *a, const Run *b)
{
    size_t ns = (size_t)a->opt.nstate * a->opt.n;
    return a->net.nparams == b->net.nparams && a->opt.nstate == b->opt.nstate &&
           memcmp(a->net.params, b->net.params, a->net.nparams * sizeof(float)) == 0 &&
           (!ns || memcmp(a->opt.state, b->opt.state, ns * sizeof(float)) == 0) &&
           a->opt.initialized == b->opt.initialized && a->meta.step == b->meta.step &&
           a->meta.nranks == b->meta.nranks && a->meta.reduce_exp == b->meta.reduce_exp &&
           a->meta.seed == b->meta.seed;
}

/* A copy of r's buffers and meta (to compare against after a refusal). */
static void run_copy(Run *dst, const Run *src)
{
    run_build(dst, src->net.layers[0].out.c, src->opt.cfg.kind, src->opt.cfg.momentum);
    memcpy(dst->net.params, src->net.params, src->net.nparams * sizeof(float));
    if (src->opt.nstate)
        memcpy(dst->opt.state, src->opt.state,
               (size_t)src->opt.nstate * src->opt.n * sizeof(float));
    dst->opt.initialized = src->opt.initialized;
    dst->meta = src->meta;
}

/* ---- file helpers (the shared ones are in files.h) ---- */

static void spill(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, len, f) == len);
    if (f) fclose(f);
}

/* Recomputes the header's CRC-32 after the bytes past the user block were
 * edited, so that the checks behind it are reached. */
static void fix_crc(unsigned char *buf, size_t len)
{
    char *at = memmem(buf, CHECKPOINT_USERBLOCK, "crc32 ", 6);
    CHECK(at != NULL);
    if (!at) return;
    uLong crc = crc32(0L, buf + CHECKPOINT_USERBLOCK, (uInt)(len - CHECKPOINT_USERBLOCK));
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", crc & 0xffffffffUL);
    memcpy(at + 6, hex, 8);
}

/* ---- failures must print nothing (quiet_begin/quiet_end in files.h) ---- */

/* A call that returned rc and printed `printed` bytes refused: err names
 * `name` first, holds `words`, is one line. */
static void check_refusal(int rc, const char *err, const char *name, const char *words,
                          long printed, const char *what)
{
    CHECK(rc == -1);
    CHECK(strncmp(err, name, strlen(name)) == 0 && err[strlen(name)] == ':');
    CHECK(strstr(err, words) != NULL);
    CHECK(strchr(err, '\n') == NULL);
    CHECK(printed == 0);
    if (rc != -1 || !strstr(err, words)) fprintf(stderr, "  expected \"%s\"\n", words);
    printf("  %s -> %s\n", what, err);
}

/* Caps the size of the files this process writes (RLIMIT_FSIZE stands in
 * for a full disk: write(2) fails with EFBIG); 0 lifts the cap again. */
static void file_size_cap(rlim_t bytes)
{
    static struct rlimit saved;
    static void (*handler)(int);
    if (!bytes) {
        CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
        signal(SIGXFSZ, handler);
        return;
    }
    CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    struct rlimit cap = saved;
    cap.rlim_cur = bytes;
    handler = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &cap) == 0);
}

/* ---- 1. round trip ---- */

static uint64_t read_u64_attr(hid_t obj, const char *name)
{
    uint64_t v = 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0);
    if (a >= 0) H5Aclose(a);
    return v;
}

static int has_str_attr(hid_t obj, const char *name, const char *want)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), mt = H5Tcopy(H5T_C_S1);
    char *s = NULL;
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    int ok = a >= 0 && H5Aread(a, mt, &s) >= 0 && s && strcmp(s, want) == 0;
    if (s) H5free_memory(s);
    H5Tclose(mt);
    if (a >= 0) H5Aclose(a);
    return ok;
}

/* The layout, read with HDF5's own file driver as any reader would. */
static void check_layout(const char *path, const Run *r, const char *const *states)
{
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    CHECK(buf && len > 512 && memcmp(buf, "INNA-CKPT\n", 10) == 0);
    CHECK(buf && memcmp(buf + 512, "\211HDF\r\n\032\n", 8) == 0);
    free(buf);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f < 0) return;
    hid_t fcpl = H5Fget_create_plist(f);
    hsize_t ub = 0;
    CHECK(H5Pget_userblock(fcpl, &ub) >= 0 && ub == 512);
    H5Pclose(fcpl);
    CHECK(has_str_attr(f, "format", "inna-checkpoint-1"));
    CHECK(has_str_attr(f, "config", CONFIG));
    CHECK(H5Lexists(f, "layer01_conv", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f, "layer02_conv", H5P_DEFAULT) > 0);
    hid_t og = H5Gopen2(f, "optimizer", H5P_DEFAULT);
    CHECK(og >= 0);
    const char *names[] = { "inna", "sgd", "adam", "adagrad" };
    CHECK(has_str_attr(og, "name", names[r->opt.cfg.kind]));
    for (int j = 0; j < r->opt.nstate; j++) {
        char p[96];
        snprintf(p, sizeof p, "optimizer/%s/layer02_conv/bias", states[j]);
        CHECK(H5Lexists(f, "optimizer", H5P_DEFAULT) > 0 && H5Oexists_by_name(f, p, H5P_DEFAULT) > 0);
        /* the state vector j at layer02's bias offset */
        float got[3] = { 0 };
        hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
        CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
        const Layer *l2 = &r->net.layers[3];
        CHECK(memcmp(got, r->opt.state + (size_t)j * r->opt.n + (l2->b - r->net.params),
                     sizeof got) == 0);
        H5Dclose(d);
    }
    H5Gclose(og);
    CHECK(read_u64_attr(f, "seed") == r->meta.seed);
    H5Fclose(f);
}

static void test_round_trip(const char *tmp, OptimKind kind, double momentum,
                            const char *const *states)
{
    Run a, b;
    char sub[64], err[512] = "x", written[512] = "";
    snprintf(sub, sizeof sub, "rt-%d", (int)kind);
    char *dir = join(tmp, sub), *want = join(dir, "ckpt-000000012.h5");
    CHECK(mkdir(dir, 0755) == 0);
    run_build(&a, 4, kind, momentum);
    run_build(&b, 4, kind, momentum);
    run_fill(&a, 1.25f);
    CHECK(a.opt.nstate == (kind == OPT_ADAM ? 2 : 1));
    int rc = checkpoint_save(dir, &a.net, &a.opt, &a.meta, CONFIG, 3, written, sizeof written,
                             err, sizeof err);
    if (rc) fprintf(stderr, "save: %s\n", err);
    CHECK(rc == 0 && err[0] == '\0');
    CHECK(strcmp(written, want) == 0);
    check_layout(want, &a, states);
    b.opt.initialized = 0;
    rc = checkpoint_load(want, &b.net, &b.opt, &b.meta, err, sizeof err);
    if (rc) fprintf(stderr, "load: %s\n", err);
    CHECK(rc == 0 && err[0] == '\0');
    CHECK(run_same(&a, &b));
    char *config = NULL;
    CHECK(checkpoint_read_config(want, &config, err, sizeof err) == 0);
    CHECK(config && strcmp(config, CONFIG) == 0);
    free(config);
    /* initialized = 0 comes back as 0, step 0 as 0 */
    a.opt.initialized = 0;
    a.meta.step = 0;
    CHECK(checkpoint_save(dir, &a.net, &a.opt, &a.meta, CONFIG, 3, NULL, 0, err, sizeof err) == 0);
    char *zero = join(dir, "ckpt-000000000.h5");
    CHECK(checkpoint_load(zero, &b.net, &b.opt, &b.meta, err, sizeof err) == 0);
    CHECK(b.opt.initialized == 0 && b.meta.step == 0 && run_same(&a, &b));
    CHECK(count_entries(dir, ".tmp.") == 0);
    printf("  round trip %s: ok\n", states[0]);
    free(zero);
    free(want);
    free(dir);
    run_free(&a);
    run_free(&b);
}

/* ---- 2. keep and resolve ---- */

static void test_keep_and_resolve(const char *tmp)
{
    char *dir = join(tmp, "keep"), *latest = join(dir, "latest.h5"), err[512], out[512];
    char link[256];
    Run r;
    CHECK(mkdir(dir, 0755) == 0);
    run_build(&r, 4, OPT_INNA, 0);
    run_fill(&r, 2.0f);
    CHECK(checkpoint_resolve(dir, out, sizeof out, err, sizeof err) == -1);
    CHECK(strstr(err, "no checkpoint") != NULL);
    printf("  empty folder -> %s\n", err);
    for (long step = 10; step <= 40; step += 10) {
        r.meta.step = step;
        CHECK(checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 2, NULL, 0, err, sizeof err) == 0);
    }
    CHECK(count_entries(dir, "ckpt-") == 2);
    CHECK(count_entries(dir, "ckpt-000000030.h5") == 1 && count_entries(dir, "ckpt-000000040.h5") == 1);
    CHECK(count_entries(dir, ".tmp.") == 0);
    ssize_t n = readlink(latest, link, sizeof link - 1);
    CHECK(n > 0);
    link[n > 0 ? n : 0] = '\0';
    CHECK(strcmp(link, "ckpt-000000040.h5") == 0);   /* relative */
    char *want = join(dir, "ckpt-000000040.h5");
    CHECK(checkpoint_resolve(dir, out, sizeof out, err, sizeof err) == 0 && strcmp(out, want) == 0);
    CHECK(checkpoint_resolve(want, out, sizeof out, err, sizeof err) == 0 && strcmp(out, want) == 0);
    CHECK(checkpoint_resolve(dir, out, 8, err, sizeof err) == -1);   /* does not fit */
    /* the run went back to an earlier step: the file just written is kept */
    r.meta.step = 35;
    CHECK(checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 2, NULL, 0, err, sizeof err) == 0);
    CHECK(count_entries(dir, "ckpt-") == 2 && count_entries(dir, "ckpt-000000035.h5") == 1 &&
          count_entries(dir, "ckpt-000000040.h5") == 1);
    char *want35 = join(dir, "ckpt-000000035.h5");
    CHECK(checkpoint_resolve(dir, out, sizeof out, err, sizeof err) == 0 && strcmp(out, want35) == 0);
    Run b;
    run_build(&b, 4, OPT_INNA, 0);
    CHECK(checkpoint_load(out, &b.net, &b.opt, &b.meta, err, sizeof err) == 0 && run_same(&r, &b));
    run_free(&b);
    free(want35);
    free(want);
    free(latest);
    free(dir);
    run_free(&r);
}

/* A path longer than the caller's buffer: the error keeps its reason (the
 * path loses its middle when the error would not hold both). */
static void test_long_path(const char *tmp)
{
    char name[241], err[200], out[64], reason[80];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char *dir = join(tmp, name);
    Run r;
    CHECK(mkdir(dir, 0755) == 0);
    run_build(&r, 4, OPT_INNA, 0);
    r.meta.step = 3;
    CHECK(checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 2, NULL, 0, err, sizeof err) == 0);
    char *file = join(dir, "ckpt-000000003.h5");
    CHECK(checkpoint_resolve(dir, out, sizeof out, err, sizeof err) == -1);
    snprintf(reason, sizeof reason, ": path too long (%zu characters, at most %zu)", strlen(file),
             sizeof out - 1);
    const size_t n = strlen(err), m = strlen(reason);
    CHECK(n == sizeof err - 1 && strncmp(err, dir, 48) == 0 && strncmp(err + 48, "...", 3) == 0);
    CHECK(n > m && strcmp(err + n - m, reason) == 0);
    CHECK(strncmp(err + 51, dir + strlen(dir) - (n - m - 51), n - m - 51) == 0);   /* the path's end */
    printf("  long path -> %s\n", err);
    free(file);
    free(dir);
    run_free(&r);
}

/* ---- 3. refusals ---- */

/* Loading path into r fails naming path with `words`, prints nothing and
 * leaves r as it was. */
static void expect_refusal(const char *tmp, const char *path, Run *r, const char *words,
                           const char *what)
{
    Run before;
    char err[512] = "";
    run_copy(&before, r);
    quiet_begin(tmp);
    int rc = checkpoint_load(path, &r->net, &r->opt, &r->meta, err, sizeof err);
    long printed = quiet_end();
    check_refusal(rc, err, path, words, printed, what);
    CHECK(run_same(r, &before));
    run_free(&before);
}

/* A checkpoint written by another run (architecture, optimizer) into dir. */
static char *foreign(const char *tmp, const char *name, int filters1, OptimKind kind,
                     double momentum)
{
    char *dir = join(tmp, name), written[512], err[512];
    Run o;
    CHECK(mkdir(dir, 0755) == 0);
    run_build(&o, filters1, kind, momentum);
    run_fill(&o, 3.0f);
    CHECK(checkpoint_save(dir, &o.net, &o.opt, &o.meta, CONFIG, 1, written, sizeof written,
                          err, sizeof err) == 0);
    run_free(&o);
    free(dir);
    return strdup(written);
}

/* good's bytes edited by edit, written to tmp/name. */
static char *variant(const char *tmp, const char *name, const unsigned char *good, size_t len,
                     size_t newlen, void (*edit)(unsigned char *, size_t, const Run *),
                     const Run *r)
{
    char *path = join(tmp, name);
    unsigned char *buf = calloc(1, newlen > len ? newlen : len);
    memcpy(buf, good, len);
    if (edit) edit(buf, newlen, r);
    spill(path, buf, newlen);
    free(buf);
    return path;
}

static void flip_middle(unsigned char *b, size_t len, const Run *r) { b[len / 2] ^= 0x40; }

/* One bit of layer01_conv/weight's data, CRC fixed: Fletcher32 must see it. */
static void flip_weight(unsigned char *b, size_t len, const Run *r)
{
    unsigned char *at = memmem(b + CHECKPOINT_USERBLOCK, len - CHECKPOINT_USERBLOCK,
                               r->net.params + 4, 4 * sizeof(float));
    CHECK(at != NULL);
    if (at) at[1] ^= 0x01;
    fix_crc(b, len);
}

/* One bit of the stored params_hash, CRC fixed. */
static uint64_t stored_hash;
static void flip_hash(unsigned char *b, size_t len, const Run *r)
{
    unsigned char *at = memmem(b + CHECKPOINT_USERBLOCK, len - CHECKPOINT_USERBLOCK,
                               &stored_hash, sizeof stored_hash);
    CHECK(at != NULL);
    if (at) at[0] ^= 0x01;
    fix_crc(b, len);
}

static void test_refusals(const char *tmp)
{
    char *dir = join(tmp, "good"), written[512], err[512], msg[128];
    Run src, r;
    CHECK(mkdir(dir, 0755) == 0);
    run_build(&src, 4, OPT_INNA, 0);
    run_fill(&src, 5.0f);
    CHECK(checkpoint_save(dir, &src.net, &src.opt, &src.meta, CONFIG, 1, written, sizeof written,
                          err, sizeof err) == 0);
    size_t len = 0;
    unsigned char *good = slurp(written, &len);
    run_build(&r, 4, OPT_INNA, 0);
    run_fill(&r, 9.0f);   /* what must stay */

    char *p = variant(tmp, "flip.h5", good, len, len, flip_middle, &src);
    if (CRC_CHECKED) expect_refusal(tmp, p, &r, "checksum mismatch (file corrupt)", "flipped byte");
    free(p);
    p = variant(tmp, "short.h5", good, len, len - 100, NULL, &src);
    snprintf(msg, sizeof msg, "truncated (%zu of %zu bytes)", len - 100, len);
    expect_refusal(tmp, p, &r, msg, "truncated");
    free(p);
    p = variant(tmp, "header-only.h5", good, len, 300, NULL, &src);
    snprintf(msg, sizeof msg, "truncated (300 of %zu bytes)", len);
    expect_refusal(tmp, p, &r, msg, "truncated in the header");
    free(p);
    p = variant(tmp, "long.h5", good, len, len + 7, NULL, &src);
    expect_refusal(tmp, p, &r, "but its header says", "extra bytes");
    free(p);
    p = join(tmp, "text.h5");
    spill(p, "[net]\nbatch = 2\n", 16);
    expect_refusal(tmp, p, &r, "not an inna checkpoint", "text file");
    spill(p, "", 0);
    expect_refusal(tmp, p, &r, "not an inna checkpoint", "empty file");
    CHECK(model_save_h5(&src.net, p, CONFIG, err, sizeof err) == 0);
    expect_refusal(tmp, p, &r, "not an inna checkpoint", "model file");
    free(p);

    p = foreign(tmp, "arch", 5, OPT_INNA, 0);
    expect_refusal(tmp, p, &r, "layer01_conv/weight is [5,2,3,3] but the network has [4,2,3,3]",
                   "other architecture");
    free(p);
    p = foreign(tmp, "adam", 4, OPT_ADAM, 0);
    expect_refusal(tmp, p, &r, "the optimizer is adam but the run's is inna", "other optimizer");
    free(p);
    Run sgd;
    run_build(&sgd, 4, OPT_SGD, 0.0);   /* plain SGD: no state */
    run_fill(&sgd, 9.0f);
    p = foreign(tmp, "sgd-momentum", 4, OPT_SGD, 0.9);
    expect_refusal(tmp, p, &sgd, "optimizer sgd has 1 state vector(s) but the run's has 0",
                   "other momentum");
    free(p);
    run_free(&sgd);

    p = variant(tmp, "fletcher.h5", good, len, len, flip_weight, &src);
    expect_refusal(tmp, p, &r, "checksum mismatch in layer01_conv/weight (file corrupt)",
                   "Fletcher32");
    free(p);
    hid_t f = H5Fopen(written, H5F_ACC_RDONLY, H5P_DEFAULT);
    stored_hash = read_u64_attr(f, "params_hash");
    H5Fclose(f);
    p = variant(tmp, "hash.h5", good, len, len, flip_hash, &src);
    expect_refusal(tmp, p, &r, "params_hash does not match", "params_hash");
    free(p);
    p = join(tmp, "missing.h5");
    expect_refusal(tmp, p, &r, "cannot open: No such file", "missing file");
    free(p);

    /* the same bytes through checkpoint_load_image, then the good file loads */
    Run before;
    run_copy(&before, &r);
    good[len / 3] ^= 1;
    if (CRC_CHECKED) {
        CHECK(checkpoint_load_image(good, len, "mem", &r.net, &r.opt, &r.meta, err, sizeof err) == -1);
        CHECK(strcmp(err, "mem: checksum mismatch (file corrupt)") == 0 && run_same(&r, &before));
    }
    good[len / 3] ^= 1;
    CHECK(checkpoint_load_image(good, len, "mem", &r.net, &r.opt, &r.meta, err, sizeof err) == 0);
    CHECK(run_same(&r, &src));
    run_free(&before);
    free(good);
    run_free(&r);
    run_free(&src);
    free(dir);
}

/* ---- 4. failed saves ---- */

/* A failed save returns -1 naming the new file with `words` and prints
 * nothing; *written says whether it reported a file as written. */
static void expect_save_failure(const char *tmp, const char *dir, Run *r, const char *words,
                                const char *what, int *written_set)
{
    char err[512] = "", written[512] = "x", want[512];
    snprintf(want, sizeof want, "%s/ckpt-%09ld.h5", dir, r->meta.step);
    quiet_begin(tmp);
    int rc = checkpoint_save(dir, &r->net, &r->opt, &r->meta, CONFIG, 2, written, sizeof written,
                             err, sizeof err);
    long printed = quiet_end();
    check_refusal(rc, err, want, words, printed, what);
    *written_set = strcmp(written, want) == 0;
    CHECK(*written_set || written[0] == '\0');
}

/* latest.h5 in dir names a file that loads as `want`. */
static void check_latest(const char *dir, const Run *want)
{
    Run b;
    char err[512] = "", out[512] = "";
    run_build(&b, 4, OPT_INNA, 0);
    CHECK(checkpoint_resolve(dir, out, sizeof out, err, sizeof err) == 0);
    int rc = checkpoint_load(out, &b.net, &b.opt, &b.meta, err, sizeof err);
    if (rc) fprintf(stderr, "  latest: %s\n", err);
    CHECK(rc == 0 && run_same(&b, want));
    run_free(&b);
}

/* The temporary name of the checkpoint at step, or of latest.h5 (step < 0),
 * taken by a folder: nothing can be created there. */
static char *block(const char *dir, long step)
{
    char name[128];
    if (step >= 0)
        snprintf(name, sizeof name, "ckpt-%09ld.h5.tmp.%ld", step, (long)getpid());
    else
        snprintf(name, sizeof name, "latest.h5.tmp.%ld", (long)getpid());
    char *path = join(dir, name);
    CHECK(mkdir(path, 0755) == 0);
    return path;
}

static void test_failed_saves(const char *tmp)
{
    char *afile = join(tmp, "afile"), *under = join(afile, "run"), *dir = join(tmp, "fail");
    char err[512];
    int written;
    Run r, old;
    spill(afile, "not a folder\n", 13);
    run_build(&r, 4, OPT_INNA, 0);
    run_fill(&r, 6.0f);
    expect_save_failure(tmp, under, &r, "Not a directory", "folder under a file", &written);
    CHECK(!written);

    CHECK(mkdir(dir, 0755) == 0);
    r.meta.step = 10;
    CHECK(checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 2, NULL, 0, err, sizeof err) == 0);
    run_copy(&old, &r);
    run_fill(&r, 7.0f);   /* step 70 */

    char *blocker = block(dir, r.meta.step);
    expect_save_failure(tmp, dir, &r, "cannot create temporary file", "temporary name taken",
                        &written);
    CHECK(!written && rmdir(blocker) == 0);
    free(blocker);
    CHECK(count_entries(dir, "ckpt-") == 1 && count_entries(dir, ".tmp.") == 0);
    check_latest(dir, &old);

    file_size_cap(1024);
    expect_save_failure(tmp, dir, &r, "cannot write", "file size limit", &written);
    file_size_cap(0);
    CHECK(!written && count_entries(dir, "ckpt-") == 1 && count_entries(dir, ".tmp.") == 0);
    check_latest(dir, &old);

    /* latest.h5 cannot be switched: the new file is whole and named, latest.h5
     * still names the old one; the next save switches it */
    blocker = block(dir, -1);
    expect_save_failure(tmp, dir, &r, "saved, but cannot create the link", "link name taken",
                        &written);
    CHECK(written && count_entries(dir, "ckpt-") == 2);
    check_latest(dir, &old);
    CHECK(rmdir(blocker) == 0);
    free(blocker);
    CHECK(checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 2, NULL, 0, err, sizeof err) == 0);
    check_latest(dir, &r);
    CHECK(count_entries(dir, ".tmp.") == 0);

    free(afile);
    free(under);
    free(dir);
    run_free(&r);
    run_free(&old);
}

/* Writes an INNA checkpoint of the small net into dir (for looking at it
 * with h5py or h5dump) and prints its name. */
static int write_one(const char *dir)
{
    Run r;
    char err[512], written[512];
    if (run_build(&r, 4, OPT_INNA, 0) < 0) return 1;
    run_fill(&r, 1.0f);
    int rc = checkpoint_save(dir, &r.net, &r.opt, &r.meta, CONFIG, 1, written, sizeof written,
                             err, sizeof err);
    if (rc) fprintf(stderr, "test_checkpoint: %s\n", err);
    else printf("%s\n", written);
    run_free(&r);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) return write_one(argv[1]);
    const char *base = getenv("TMPDIR");
    char *tmpl = join(base && *base ? base : "/tmp", "test_checkpoint.XXXXXX");
    if (!mkdtemp(tmpl)) {
        perror(tmpl);
        return 1;
    }
    const char *inna[] = { "psi" }, *sgd[] = { "momentum" }, *adam[] = { "m", "v" },
               *adagrad[] = { "sum" };
    test_round_trip(tmpl, OPT_INNA, 0, inna);
    test_round_trip(tmpl, OPT_SGD, 0.9, sgd);
    test_round_trip(tmpl, OPT_ADAM, 0, adam);
    test_round_trip(tmpl, OPT_ADAGRAD, 0, adagrad);
    test_keep_and_resolve(tmpl);
    test_long_path(tmpl);
    test_refusals(tmpl);
    test_failed_saves(tmpl);
    nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmpl);
    return check_report("test_checkpoint");
}
