/* model_save_h5 on a hand-built net (conv 3->4 k3, relu, conv 4->2 k1 with
 * parameter i = i * 0.5): group names, shapes, every value, the attributes and
 * the Fletcher32 filter read back with the HDF5 C API; failures leave no
 * temporary file, keep an existing model byte-identical and print nothing.
 * With an argument, only writes that model there (for tests/load_model.py). */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "files.h"
#include "state.h"

#include <ftw.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef INNA_VERSION
#define INNA_VERSION "unknown"
#endif

static const char *CONFIG = "[net]\nbatch = 8\n\n[conv]\nfilters = 4\nsize = 3\n";

typedef struct {
    Net net;
    Layer layers[3];
} TinyNet;

static void conv_layer(Layer *l, int index, Shape in, int filters, int size, float *params,
                       size_t *off)
{
    memset(l, 0, sizeof *l);
    l->spec.type = L_CONV;
    l->spec.filters = filters;
    l->spec.size = size;
    l->spec.stride = 1;
    l->index = index;
    l->in = in;
    l->out = (Shape){ filters, in.h - size + 1, in.w - size + 1 };
    l->nparams = (size_t)filters * in.c * size * size + filters;
    l->param_off = *off;
    l->w = params + *off;
    l->b = l->w + (size_t)filters * in.c * size * size;
    *off += l->nparams;
}

/* conv 3->4 k3 (112 params), relu, conv 4->2 k1 (10 params). */
static void tiny_build(TinyNet *t)
{
    memset(t, 0, sizeof *t);
    t->net.nparams = 112 + 10;
    t->net.params = malloc(t->net.nparams * sizeof(float));
    for (size_t i = 0; i < t->net.nparams; i++) t->net.params[i] = (float)i * 0.5f;
    size_t off = 0;
    conv_layer(&t->layers[0], 0, (Shape){ 3, 6, 6 }, 4, 3, t->net.params, &off);
    t->layers[1].spec.type = L_RELU;
    t->layers[1].index = 1;
    t->layers[1].in = t->layers[1].out = t->layers[0].out;
    conv_layer(&t->layers[2], 2, t->layers[1].out, 2, 1, t->net.params, &off);
    t->net.nlayers = 3;
    t->net.layers = t->layers;
    t->net.input = (Shape){ 3, 6, 6 };
    t->net.classes = 2;
}

/* Runs model_save_h5 with stderr sent to a file; returns its result and sets
 * *printed to how many bytes it wrote there. */
static int save_quiet(const Net *net, const char *dir, const char *path, const char *config,
                      char *err, size_t errlen, long *printed)
{
    quiet_begin(dir);
    int rc = model_save_h5(net, path, config, err, errlen);
    *printed = quiet_end();
    return rc;
}

/* ---- reading back ---- */

static char *read_str_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    CHECK(H5Tget_class(ft) == H5T_STRING);
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) >= 0 && s) {
            out = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        out = calloc(n + 1, 1);
        H5Aread(a, ft, out);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int read_int_attr(hid_t obj, const char *name)
{
    int v = -12345;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return v;
    CHECK(H5Aread(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    return v;
}

/* Checks dataset gname/name: float32, dims, one whole chunk, Fletcher32 and
 * the values want[0..]. */
static void check_dataset(hid_t file, const char *gname, const char *name, int rank,
                          const hsize_t *dims, const float *want)
{
    char full[64];
    snprintf(full, sizeof full, "%s/%s", gname, name);
    hid_t d = H5Dopen2(file, full, H5P_DEFAULT);
    CHECK(d >= 0);
    if (d < 0) {
        fprintf(stderr, "  missing dataset %s\n", full);
        return;
    }
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    CHECK(H5Tget_class(t) == H5T_FLOAT);
    CHECK(H5Tget_size(t) == 4);
    CHECK(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    hsize_t got[8] = { 0 };
    CHECK(H5Sget_simple_extent_ndims(s) == rank);
    H5Sget_simple_extent_dims(s, got, NULL);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        CHECK(got[i] == dims[i]);
        n *= dims[i];
    }
    CHECK(H5Pget_layout(p) == H5D_CHUNKED);
    hsize_t chunk[8] = { 0 };
    CHECK(H5Pget_chunk(p, 8, chunk) == rank);
    for (int i = 0; i < rank; i++) CHECK(chunk[i] == dims[i]);
    int nf = H5Pget_nfilters(p), fletcher = 0;
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, cd[4];
        size_t ncd = 4;
        char fname[64];
        if (H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL) ==
            H5Z_FILTER_FLETCHER32)
            fletcher = 1;
    }
    CHECK(fletcher);
    float *buf = calloc(n, sizeof(float));
    CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != want[i];
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "  %s: %zu of %zu values differ\n", full, bad, n);
    free(buf);
    H5Pclose(p);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
}

static void check_conv_group(hid_t file, const char *gname, const Layer *l)
{
    CHECK(H5Lexists(file, gname, H5P_DEFAULT) > 0);
    hsize_t wd[4] = { (hsize_t)l->out.c, (hsize_t)l->in.c, (hsize_t)l->spec.size,
                      (hsize_t)l->spec.size };
    hsize_t bd[1] = { (hsize_t)l->out.c };
    check_dataset(file, gname, "weight", 4, wd, l->w);
    check_dataset(file, gname, "bias", 1, bd, l->b);
    hid_t g = H5Gopen2(file, gname, H5P_DEFAULT);
    CHECK(g >= 0);
    if (g < 0) return;
    CHECK(read_int_attr(g, "in_channels") == l->in.c);
    CHECK(read_int_attr(g, "out_channels") == l->out.c);
    CHECK(read_int_attr(g, "kernel") == l->spec.size);
    H5Gclose(g);
}

static void check_str_attr(hid_t file, const char *name, const char *want)
{
    char *s = read_str_attr(file, name);
    CHECK(s != NULL);
    CHECK(s && strcmp(s, want) == 0);
    free(s);
}

/* The whole file written from the tiny net. */
static void check_tiny_file(const char *path, const TinyNet *t, const char *config)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    if (file < 0) return;
    H5G_info_t info;
    CHECK(H5Gget_info(file, &info) >= 0);
    CHECK(info.nlinks == 2);
    char name[64] = "";
    H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, 0, name, sizeof name, H5P_DEFAULT);
    CHECK(strcmp(name, "layer01_conv") == 0);
    H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, 1, name, sizeof name, H5P_DEFAULT);
    CHECK(strcmp(name, "layer02_conv") == 0);
    check_conv_group(file, "layer01_conv", &t->layers[0]);
    check_conv_group(file, "layer02_conv", &t->layers[2]);
    check_str_attr(file, "config", config);
    check_str_attr(file, "inna_version", INNA_VERSION);
    check_str_attr(file, "format", "inna-model-1");
    H5Fclose(file);
}

/* ---- the tests ---- */

static void test_save_and_read(const char *dir, const TinyNet *t)
{
    char *path = join(dir, "model.h5"), err[256] = "x";
    long printed = -1;
    H5E_auto2_t func0 = NULL, func1 = NULL;
    void *data0 = NULL, *data1 = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func0, &data0);
    CHECK(save_quiet(&t->net, dir, path, CONFIG, err, sizeof err, &printed) == 0);
    CHECK(err[0] == '\0');
    CHECK(printed == 0);
    H5Eget_auto2(H5E_DEFAULT, &func1, &data1);   /* HDF5 error printing restored */
    CHECK(func1 == func0 && data1 == data0);
    check_tiny_file(path, t, CONFIG);
    CHECK(count_entries(dir, ".tmp.") == 0);
    /* saving again replaces it */
    CHECK(model_save_h5(&t->net, path, "[net]\n", err, sizeof err) == 0);
    check_tiny_file(path, t, "[net]\n");
    CHECK(count_entries(dir, ".tmp.") == 0);
    free(path);
}

/* A failed save returns -1, names path first on one line, prints nothing and
 * leaves no temporary file in folder. */
static void expect_failure(const Net *net, const char *dir, const char *folder, const char *path,
                           const char *what)
{
    char err[512] = "";
    long printed = -1;
    int rc = save_quiet(net, dir, path, CONFIG, err, sizeof err, &printed);
    CHECK(rc == -1);
    CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
    CHECK(strchr(err, '\n') == NULL);
    CHECK(strlen(err) > strlen(path) + 4);
    CHECK(printed == 0);
    if (folder) CHECK(count_entries(folder, ".tmp.") == 0);
    printf("  %s -> %s\n", what, err);
}

static void test_failures(const char *dir, const TinyNet *t)
{
    char *afile = join(dir, "afile"), *under_file = join(afile, "model.h5");
    char *missing = join(dir, "no/such/dir/model.h5");
    char *adir = join(dir, "adir");
    FILE *f = fopen(afile, "w");
    fputs("not a folder\n", f);
    fclose(f);
    expect_failure(&t->net, dir, NULL, under_file, "parent is a file");
    expect_failure(&t->net, dir, NULL, missing, "parent missing");
    /* the temporary file is written, then rename onto a folder fails */
    CHECK(mkdir(adir, 0755) == 0);
    expect_failure(&t->net, dir, dir, adir, "path is a folder");
    struct stat st;
    CHECK(stat(adir, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(count_entries(dir, ".tmp.") == 0);
    CHECK(H5Fis_hdf5(afile) <= 0);
    expect_failure(NULL, dir, dir, adir, "no network");
    rmdir(adir);
    free(afile);
    free(under_file);
    free(missing);
    free(adir);
}

/* An existing model stays byte-identical when a later save fails: the
 * temporary name is taken, writing it fails, or a layer is inconsistent. */
static void test_keeps_old_file(const char *dir, TinyNet *t)
{
    char *path = join(dir, "keep.h5"), err[256];
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, "keep.h5.tmp.%ld", (long)getpid());
    char *blocker = join(dir, tmpname);
    CHECK(model_save_h5(&t->net, path, CONFIG, err, sizeof err) == 0);
    size_t len0 = 0, len1 = 0;
    char *before = slurp(path, &len0);
    CHECK(before != NULL && len0 > 0);

    /* the temporary name is taken (by a folder): nothing can be created */
    CHECK(mkdir(blocker, 0755) == 0);
    long printed = -1;
    CHECK(save_quiet(&t->net, dir, path, "[changed]\n", err, sizeof err, &printed) == -1);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(printed == 0);
    printf("  temporary name taken -> %s\n", err);
    char *after = slurp(path, &len1);
    CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0);
    free(after);
    struct stat st;
    CHECK(stat(blocker, &st) == 0 && S_ISDIR(st.st_mode));   /* not ours: left alone */
    CHECK(rmdir(blocker) == 0);

    /* the disk fills up while the temporary file is written (RLIMIT_FSIZE
     * stands in for a full disk: write(2) fails with EFBIG) */
    struct rlimit old, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 512;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    int rc = save_quiet(&t->net, dir, path, "[changed]\n", err, sizeof err, &printed);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);
    CHECK(rc == -1);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "cannot write"));
    CHECK(printed == 0);
    printf("  file size limit -> %s\n", err);
    after = slurp(path, &len1);
    CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0);
    free(after);
    CHECK(count_entries(dir, ".tmp.") == 0);

    /* a layer that does not add up: fails while the HDF5 file is built */
    size_t saved = t->layers[2].nparams;
    t->layers[2].nparams = saved + 1;
    CHECK(save_quiet(&t->net, dir, path, "[changed]\n", err, sizeof err, &printed) == -1);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "layer02_conv"));
    CHECK(printed == 0);
    printf("  bad layer -> %s\n", err);
    t->layers[2].nparams = saved;
    after = slurp(path, &len1);
    CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0);
    free(after);
    CHECK(count_entries(dir, ".tmp.") == 0);
    check_tiny_file(path, t, CONFIG);

    free(before);
    free(blocker);
    free(path);
}

/* >= 100 parametric layers: three-digit names, still in network order. */
static void test_many_layers(const char *dir)
{
    enum { N = 101 };
    Layer *ls = calloc(N, sizeof *ls);
    float *params = malloc(2 * N * sizeof(float));
    for (int i = 0; i < 2 * N; i++) params[i] = (float)i;
    size_t off = 0;
    for (int i = 0; i < N; i++) conv_layer(&ls[i], i, (Shape){ 1, 2, 2 }, 1, 1, params, &off);
    Net net = { .nlayers = N, .layers = ls, .nparams = 2 * N, .params = params };
    char *path = join(dir, "many.h5"), err[256];
    CHECK(model_save_h5(&net, path, "", err, sizeof err) == 0);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    CHECK(H5Lexists(file, "layer001_conv", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "layer101_conv", H5P_DEFAULT) > 0);
    char name[64] = "";
    H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, 99, name, sizeof name, H5P_DEFAULT);
    CHECK(strcmp(name, "layer100_conv") == 0);
    float w = -1;
    hid_t d = H5Dopen2(file, "layer100_conv/weight", H5P_DEFAULT);
    CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &w) >= 0);
    CHECK(w == 198.0f);   /* layer index 99: weight at offset 2 * 99 */
    H5Dclose(d);
    check_str_attr(file, "config", "");
    H5Fclose(file);
    free(path);
    free(params);
    free(ls);
}

int main(int argc, char **argv)
{
    TinyNet t;
    tiny_build(&t);
    if (argc > 1) {   /* write the model for tests/load_model.py */
        char err[512];
        int rc = model_save_h5(&t.net, argv[1], CONFIG, err, sizeof err);
        if (rc) fprintf(stderr, "test_model_h5: %s\n", err);
        free(t.net.params);
        return rc ? 1 : 0;
    }
    const char *base = getenv("TMPDIR");
    char *tmpl = join(base && *base ? base : "/tmp", "test_model_h5.XXXXXX");
    if (!mkdtemp(tmpl)) {
        perror(tmpl);
        return 1;
    }
    test_save_and_read(tmpl, &t);
    test_failures(tmpl, &t);
    test_keeps_old_file(tmpl, &t);
    test_many_layers(tmpl);
    nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmpl);
    free(t.net.params);
    return check_report("test_model_h5");
}
