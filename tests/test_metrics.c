/* metrics_open/add/flush/close: 2,500 step rows through a 1,000-row buffer
 * and 3 epoch rows, then a resume at step 1200 that keeps exactly the rows
 * before it, then more rows; every value read back exact with the HDF5 C API.
 * Another process (this program again, --read) reads the file while it is
 * open for writing and sees every flushed row.  Refusals (not a metrics
 * file, folder missing or not writable) name the path on one line, print
 * nothing and leave an existing file byte-identical; a full disk fails a
 * flush but loses no row.
 * test_metrics --hold FILE CMD [ARG...] writes 1,500 step rows and epoch rows
 * at steps 800 and 1200 to FILE, runs CMD while the file is still open and
 * returns its status (tests/metrics.cmake: h5py and h5dump as readers);
 * test_metrics --read FILE NSTEPS EPOCHSTEPS (comma separated) checks FILE. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "files.h"
#include "metrics.h"

#include <ftw.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The rows, from their step alone: only +, -, *, / so that
 * tests/read_metrics.py computes the same doubles. */
static StepRow step_row(long i)
{
    return (StepRow){ .step = i, .epoch = i / 1000, .loss = 1.0 / (i + 1),
                      .accuracy = (i % 1000) / 1000.0, .lr = 0.05 / (i + 1),
                      .step_s = 0.001 * i, .compute_s = 0.0007 * i, .comm_s = 0.0003 * i,
                      .images_s = 32.0 / (0.001 * (i + 1)) };
}

static EpochRow epoch_row(long e, long step)
{
    return (EpochRow){ .epoch = e, .step = step, .train_loss = 1.0 / (e + 2),
                       .train_acc = 0.5 + e / 100.0, .test_loss = 1.5 / (e + 2),
                       .test_acc = 0.4 + e / 50.0, .elapsed_s = 10.0 * (e + 1) + step / 1000.0 };
}

/* ---- reading back ---- */

/* Column gname/name: 1-D of type want, its first n values into out (8 bytes
 * each, as memtype); returns its length or -1. */
static long read_column(hid_t file, const char *gname, const char *name, hid_t want,
                        hid_t memtype, void *out, long n)
{
    char full[64];
    snprintf(full, sizeof full, "%s/%s", gname, name);
    hid_t d = H5Dopen2(file, full, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "  missing dataset %s\n", full);
        return -1;
    }
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    hsize_t len = 0;
    CHECK(H5Tequal(t, want) > 0);
    CHECK(H5Sget_simple_extent_ndims(s) == 1);
    H5Sget_simple_extent_dims(s, &len, NULL);
    if ((long)len == n && n > 0)
        CHECK(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return (long)len;
}

#define NSTEP 9
#define NEPOCH 7
static const char *step_names[NSTEP] = { "step", "epoch", "loss", "accuracy", "lr", "step_s",
                                          "compute_s", "comm_s", "images_s" };
static const char *epoch_names[NEPOCH] = { "epoch", "step", "train_loss", "train_acc",
                                           "test_loss", "test_acc", "elapsed_s" };

/* Value of column c of a row as a double (int columns are exact below 2^53). */
static double step_field(const StepRow *r, int c)
{
    const double v[NSTEP] = { (double)r->step, (double)r->epoch, r->loss, r->accuracy, r->lr,
                              r->step_s, r->compute_s, r->comm_s, r->images_s };
    return v[c];
}

static double epoch_field(const EpochRow *r, int c)
{
    const double v[NEPOCH] = { (double)r->epoch, (double)r->step, r->train_loss, r->train_acc,
                               r->test_loss, r->test_acc, r->elapsed_s };
    return v[c];
}

/* One column of n rows against want(row r, column c); counts mismatches. */
static long check_column(hid_t file, const char *gname, const char *name, int is_int, long n,
                         double (*want)(long r, int c, const void *ctx), int c, const void *ctx)
{
    void *buf = calloc(n > 0 ? (size_t)n : 1, 8);
    long len = read_column(file, gname, name, is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE,
                           is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, buf, n), bad = 0;
    if (len != n) {
        fprintf(stderr, "  %s/%s: %ld rows, expected %ld\n", gname, name, len, n);
        free(buf);
        return 1;
    }
    for (long r = 0; r < n; r++) {
        double got = is_int ? (double)((int64_t *)buf)[r] : ((double *)buf)[r];
        bad += got != want(r, c, ctx);   /* exact */
    }
    if (bad) fprintf(stderr, "  %s/%s: %ld of %ld values differ\n", gname, name, bad, n);
    free(buf);
    return bad;
}

/* Expected rows: steps[r] is the step of step row r, estep[r] of epoch row r
 * (epoch row r is epoch_row(r, estep[r])). */
typedef struct { const long *steps; const long *esteps; } Want;

static double want_step(long r, int c, const void *ctx)
{
    const Want *w = ctx;
    StepRow row = step_row(w->steps ? w->steps[r] : r);
    return step_field(&row, c);
}

static double want_epoch(long r, int c, const void *ctx)
{
    const Want *w = ctx;
    EpochRow row = epoch_row(r, w->esteps[r]);
    return epoch_field(&row, c);
}

static char *read_str_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a), mt = H5Tcopy(H5T_C_S1);
    char *s = NULL, *out = NULL;
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0 && H5Aread(a, mt, &s) >= 0 && s) {
        out = strdup(s);
        H5free_memory(s);
    }
    H5Tclose(mt);
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

/* The whole file: format attribute, nsteps step rows (steps[r], or r when
 * steps is NULL) and the epoch rows of esteps.  Returns mismatches. */
static long check_file(const char *path, long nsteps, const long *steps, long nepochs,
                       const long *esteps)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        fprintf(stderr, "  cannot open %s\n", path);
        return 1;
    }
    Want w = { steps, esteps };
    char *format = read_str_attr(file, "format");
    long bad = !(format && !strcmp(format, "inna-metrics-1"));
    free(format);
    for (int c = 0; c < NSTEP; c++)
        bad += check_column(file, "steps", step_names[c], c < 2, nsteps, want_step, c, &w);
    for (int c = 0; c < NEPOCH; c++)
        bad += check_column(file, "epochs", epoch_names[c], c < 2, nepochs, want_epoch, c, &w);
    H5Fclose(file);
    return bad;
}

/* ---- another process reading while we write ---- */

static const char *self_exe = "/proc/self/exe";

/* Runs argv to completion; its exit status, or -1. */
static int run(char *const argv[])
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* This program again, --read: a separate HDF5 library instance, default
 * file access (HDF5's own locking on), reading what is on disk. */
static int read_elsewhere(const char *path, long nsteps, const char *esteps)
{
    char n[32];
    snprintf(n, sizeof n, "%ld", nsteps);
    char *argv[] = { (char *)self_exe, "--read", (char *)path, n, (char *)esteps, NULL };
    return run(argv);
}

/* --read FILE NSTEPS EPOCHSTEPS: exit 0 when the file holds exactly that. */
static int read_main(const char *path, const char *nsteps, const char *esteps)
{
    long es[64], ne = 0;
    for (const char *p = esteps; *p && ne < 64;) {
        char *end;
        es[ne++] = strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    long bad = check_file(path, atol(nsteps), NULL, ne, es);
    if (bad) fprintf(stderr, "test_metrics --read %s: %ld mismatches\n", path, bad);
    return bad != 0;
}

/* ---- the tests ---- */

static int add_steps(Metrics *m, long from, long to)
{
    char err[256];
    for (long i = from; i < to; i++) {
        StepRow r = step_row(i);
        if (metrics_add_step(m, &r, err, sizeof err)) {
            fprintf(stderr, "  add step %ld: %s\n", i, err);
            return -1;
        }
    }
    return 0;
}

static int add_epoch(Metrics *m, long e, long step)
{
    char err[256];
    EpochRow r = epoch_row(e, step);
    int rc = metrics_add_epoch(m, &r, err, sizeof err);
    if (rc) fprintf(stderr, "  add epoch %ld: %s\n", e, err);
    return rc;
}

/* 2,500 rows through 1,000 buffered; a reader sees a full buffer once it is
 * written and buffered rows only after a flush. */
static void test_write(const char *path)
{
    Metrics *m = NULL;
    char err[256] = "x";
    CHECK(metrics_open(&m, path, -1, 1000, err, sizeof err) == 0);
    CHECK(m != NULL && err[0] == '\0');
    if (!m) return;
    CHECK(read_elsewhere(path, 0, "") == 0);            /* empty, but whole */
    CHECK(add_steps(m, 0, 999) == 0);
    CHECK(read_elsewhere(path, 0, "") == 0);            /* all still buffered */
    CHECK(add_steps(m, 999, 1000) == 0);
    CHECK(read_elsewhere(path, 1000, "") == 0);         /* full: written */
    CHECK(add_steps(m, 1000, 1200) == 0);
    CHECK(add_epoch(m, 0, 800) == 0 && add_epoch(m, 1, 1200) == 0);
    CHECK(read_elsewhere(path, 1200, "800,1200") == 0); /* an epoch row flushes */
    CHECK(add_steps(m, 1200, 2500) == 0);
    CHECK(metrics_flush(m, err, sizeof err) == 0);
    CHECK(read_elsewhere(path, 2500, "800,1200") == 0);
    CHECK(add_epoch(m, 2, 2400) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0 && err[0] == '\0');
    const long es[] = { 800, 1200, 2400 };
    CHECK(check_file(path, 2500, NULL, 3, es) == 0);
}

/* Resume at 1200: step rows 0..1199 and epoch rows with step <= 1200 stay. */
static void test_resume(const char *path)
{
    Metrics *m = NULL;
    char err[256];
    CHECK(metrics_open(&m, path, 1200, 1000, err, sizeof err) == 0);
    if (!m) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(read_elsewhere(path, 1200, "800,1200") == 0);
    CHECK(add_steps(m, 1200, 1500) == 0);
    CHECK(add_epoch(m, 2, 1500) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    const long es[] = { 800, 1200, 1500 };
    CHECK(check_file(path, 1500, NULL, 3, es) == 0);
    /* resuming at or past the end drops nothing; at 0 drops every row */
    CHECK(metrics_open(&m, path, 1500, 4, err, sizeof err) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 1500, NULL, 3, es) == 0);
    CHECK(metrics_open(&m, path, 0, 4, err, sizeof err) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 0, NULL, 0, es) == 0);
}

/* Makes column steps/<name> n rows longer, as another writer might leave it. */
static void lengthen(const char *path, const char *name, hsize_t n)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    char full[64];
    snprintf(full, sizeof full, "steps/%s", name);
    hid_t d = H5Dopen2(file, full, H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(s, &len, NULL);
    len += n;
    CHECK(H5Dset_extent(d, &len) >= 0);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(file);
}

/* Rows out of step order are dropped one by one, and columns of unequal
 * length are cut to the shortest. */
static void test_resume_unordered(const char *path)
{
    Metrics *m = NULL;
    char err[256];
    const long order[] = { 0, 1, 5, 2, 3, 4 }, kept[] = { 0, 1, 2 }, es[] = { 2, 9 };
    CHECK(metrics_open(&m, path, -1, 4, err, sizeof err) == 0);
    if (!m) return;
    for (int i = 0; i < 6; i++) CHECK(add_steps(m, order[i], order[i] + 1) == 0);
    CHECK(add_epoch(m, 0, 2) == 0 && add_epoch(m, 1, 9) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 6, order, 2, es) == 0);
    lengthen(path, "loss", 3);
    CHECK(metrics_open(&m, path, 3, 4, err, sizeof err) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 3, kept, 1, es) == 0);   /* the epoch at step 9 goes */
}

/* metrics_open with stderr sent to a file; *printed = bytes written there. */
static int open_quiet(const char *dir, Metrics **m, const char *path, long resume, int cap,
                      char *err, size_t errlen, long *printed)
{
    quiet_begin(dir);
    int rc = metrics_open(m, path, resume, cap, err, errlen);
    *printed = quiet_end();
    return rc;
}

/* A refused open: -1, no handle, one line naming path, nothing printed,
 * HDF5's error printing as it was. */
/* rc: METRICS_BAD_FILE (an existing file that cannot be read: bad input) or
 * -1 (any other failure). */
static void expect_refusal(const char *dir, const char *path, long resume, int cap, int rc,
                           const char *what)
{
    Metrics *m = (Metrics *)&m;
    char err[512] = "";
    long printed = -1;
    H5E_auto2_t func0 = NULL, func1 = NULL;
    void *data0 = NULL, *data1 = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func0, &data0);
    CHECK(open_quiet(dir, &m, path, resume, cap, err, sizeof err, &printed) == rc);
    H5Eget_auto2(H5E_DEFAULT, &func1, &data1);
    CHECK(func1 == func0 && data1 == data0);
    CHECK(m == NULL);
    CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
    CHECK(strchr(err, '\n') == NULL && strlen(err) > strlen(path) + 4);
    CHECK(printed == 0);
    printf("  %s -> %s\n", what, err);
}

/* An existing file that is not ours stays byte-identical, resumed or not. */
static void expect_untouched(const char *dir, const char *path, const char *what)
{
    size_t len0 = 0, len1 = 0;
    char *before = slurp(path, &len0);
    expect_refusal(dir, path, -1, 10, METRICS_BAD_FILE, what);
    expect_refusal(dir, path, 0, 10, METRICS_BAD_FILE, what);
    char *after = slurp(path, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    free(before);
    free(after);
}

static void test_refusals(const char *dir)
{
    char *text = join(dir, "notes.txt"), *model = join(dir, "model.h5");
    char *under_file = join(text, "metrics.h5"), *missing = join(dir, "no/such/metrics.h5");
    FILE *f = fopen(text, "w");
    fputs("not HDF5\n", f);
    fclose(f);
    expect_untouched(dir, text, "a text file");
    /* an HDF5 file of someone else's (no format attribute) */
    hid_t file = H5Fcreate(model, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t three = 3;
    hid_t s = H5Screate_simple(1, &three, NULL);
    H5Dclose(H5Dcreate2(file, "weight", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(s);
    H5Fclose(file);
    expect_untouched(dir, model, "an HDF5 file without format");
    expect_refusal(dir, dir, -1, 10, METRICS_BAD_FILE, "a folder");
    expect_refusal(dir, under_file, -1, 10, -1, "parent is a file");
    expect_refusal(dir, missing, 3, 10, -1, "parent missing");
    if (geteuid() != 0) {   /* root writes anywhere */
        char *ro = join(dir, "ro"), *in_ro = join(ro, "metrics.h5");
        CHECK(mkdir(ro, 0555) == 0);
        expect_refusal(dir, in_ro, -1, 10, -1, "read-only folder");
        CHECK(access(in_ro, F_OK) != 0);
        rmdir(ro);
        free(ro);
        free(in_ro);
    }
    char *fresh = join(dir, "fresh.h5");
    expect_refusal(dir, fresh, -1, 0, -1, "capacity 0");
    CHECK(access(fresh, F_OK) != 0);
    char err[64];
    CHECK(metrics_close(NULL, err, sizeof err) == 0);
    free(fresh);
    free(text);
    free(model);
    free(under_file);
    free(missing);
}

/* A new run (resume_step < 0) replaces an old metrics file. */
static void test_replace(const char *path)
{
    Metrics *m = NULL;
    char err[256];
    CHECK(metrics_open(&m, path, -1, 10, err, sizeof err) == 0);
    CHECK(add_steps(m, 0, 5) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 5, NULL, 0, NULL) == 0);   /* the old epoch row is gone */
}

/* The disk fills up (RLIMIT_FSIZE stands in: write(2) fails with EFBIG):
 * the flush fails naming the file, the last flushed version stays, no
 * temporary file is left, and once there is room again the next flush
 * writes every row.  (A file HDF5 itself writes to would not survive
 * this: HDF5 1.10 cannot close it and crashes at exit.) */
static void test_disk_full(const char *dir)
{
    char *path = join(dir, "full.h5"), err[512] = "";
    Metrics *m = NULL;
    struct stat st;
    CHECK(metrics_open(&m, path, -1, 1000, err, sizeof err) == 0);
    if (!m || stat(path, &st) != 0) return;
    struct rlimit old, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = (rlim_t)st.st_size + 1024;   /* room for the empty file, not 100 rows */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    CHECK(add_steps(m, 0, 100) == 0);
    int rc = metrics_flush(m, err, sizeof err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);
    CHECK(rc == -1);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "cannot write"));
    printf("  disk full -> %s\n", err);
    CHECK(count_entries(dir, ".tmp.") == 0);
    CHECK(check_file(path, 0, NULL, 0, NULL) == 0);     /* the last flush's file */
    CHECK(add_steps(m, 100, 150) == 0);
    CHECK(metrics_close(m, err, sizeof err) == 0);
    CHECK(check_file(path, 150, NULL, 0, NULL) == 0);   /* nothing lost */
    free(path);
}

/* --hold FILE CMD...: the file open for writing while CMD reads it. */
static int hold_main(const char *path, char *const cmd[])
{
    Metrics *m = NULL;
    char err[512];
    remove(path);
    if (metrics_open(&m, path, -1, 1000, err, sizeof err)) {
        fprintf(stderr, "test_metrics: %s\n", err);
        return 1;
    }
    if (add_steps(m, 0, 1200) || add_epoch(m, 0, 800) || add_epoch(m, 1, 1200) ||
        add_steps(m, 1200, 1500) || metrics_flush(m, err, sizeof err)) {
        metrics_close(m, err, sizeof err);
        return 1;
    }
    int rc = run(cmd);
    if (metrics_close(m, err, sizeof err)) {
        fprintf(stderr, "test_metrics: %s\n", err);
        return 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (strchr(argv[0], '/')) self_exe = argv[0];   /* (under valgrind too) */
    if (argc == 5 && !strcmp(argv[1], "--read")) return read_main(argv[2], argv[3], argv[4]);
    if (argc >= 4 && !strcmp(argv[1], "--hold")) return hold_main(argv[2], argv + 3);
    const char *base = getenv("TMPDIR");
    char *tmpl = join(base && *base ? base : "/tmp", "test_metrics.XXXXXX");
    if (!mkdtemp(tmpl)) {
        perror(tmpl);
        return 1;
    }
    char *path = join(tmpl, "metrics.h5"), *small = join(tmpl, "small.h5");
    test_write(path);
    test_resume(path);
    test_resume_unordered(small);
    test_refusals(tmpl);
    test_replace(small);
    test_disk_full(tmpl);
    nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
    free(small);
    free(tmpl);
    return check_report("test_metrics");
}
