/* Tests of the configuration: defaults, files, --set, round trip through
 * config_to_ini, relative paths, layer specs and every kind of error. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];    /* absolute, symlinks resolved (via getcwd) */
static char err[512];

/* Writes text to tmpdir/name and returns the absolute path (static buffer
 * per call site is not needed: callers copy or use it at once). */
static const char *write_file(const char *name, const char *text)
{
    static char path[2][512];
    static int which;
    char *p = path[which ^= 1];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (!f) { perror(p); exit(2); }
    fputs(text, f);
    fclose(f);
    return p;
}

/* write_file for text with NUL bytes in it. */
static const char *write_bytes(const char *name, const char *bytes, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f)) { perror(path); exit(2); }
    return path;
}

static int contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", hay, needle);
        return 0;
    }
    return 1;
}

/* Loads text as a file on top of the defaults; returns config_load_file's result. */
static int load_text(Config *c, const char *text)
{
    config_defaults(c);
    err[0] = '\0';
    return config_load_file(c, write_file("t.ini", text), err, sizeof err);
}

static const char *NIN =
    "[net]\n"
    "input = 3x32x32\n"
    "layer = conv filters=192 size=5 stride=1 pad=2\n"
    "layer = relu\n"
    "layer = maxpool size=3 stride=2 pad=1\n"
    "layer = dropout\n"
    "layer = avgpool size=3 stride=2 pad=1\n"
    "layer = dropout rate=0.3\n"
    "layer = conv filters=10 size=1\n"
    "layer = gap\n";

static void test_defaults(void)
{
    Config c;
    config_defaults(&c);
    CHECK(c.seed == 1);
    CHECK(!strcmp(c.out, "runs/default"));
    CHECK(c.threads == 0);
    CHECK(c.batch == 32 && c.epochs == 1 && c.steps == -1);
    CHECK(c.sampling == SAMPLE_SHUFFLE);
    CHECK(c.optim.kind == OPT_INNA);
    CHECK(c.optim.lr == 0.05 && c.optim.q == 0 && c.optim.weight_decay == 0);
    CHECK(c.optim.alpha == 0.5 && c.optim.beta == 0.1);
    CHECK(c.optim.psi0 == PSI0_PAPER);
    CHECK(c.optim.momentum == 0 && c.optim.nesterov == 0);
    CHECK(c.optim.beta1 == 0.9 && c.optim.beta2 == 0.999 && c.optim.eps == 1e-8);
    CHECK(c.format == DATA_IDX && c.dir[0] == '\0');
    CHECK(!strcmp(c.train_images, "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"));
    CHECK(!strcmp(c.train_labels, "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"));
    CHECK(!strcmp(c.test_images, "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"));
    CHECK(!strcmp(c.test_labels, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"));
    CHECK(c.classes == 10 && c.coarse == 0 && c.standardize == 1 && c.augment == 0);
    CHECK(c.crop_pad == 4 && c.train_limit == 0 && c.test_limit == 0);
    CHECK(c.input.c == 1 && c.input.h == 28 && c.input.w == 28);
    CHECK(c.dropout == 0.5f);
    CHECK(c.nlayers == 0);
    /* The default network is empty on purpose: a run must say what it trains. */
    CHECK(config_validate(&c, err, sizeof err) != 0);
    CHECK(contains(err, "net.layer") && contains(err, "no layers"));
}

static void test_full_file(void)
{
    Config c;
    char text[2048];
    snprintf(text, sizeof text,
        "; every section\n"
        "[run]\nseed = 18446744073709551615\nout = runs/x\nthreads = 2\n"
        "[train]\nbatch = 128\nepochs = 15\nsteps = 1000\nsampling = iid\n"
        "[optim]\nname = sgd\nlr = 0.1\nq = 0.25\nweight_decay = 5e-4\nalpha = 1.3\n"
        "beta = 0.01\npsi0 = zero\nmomentum = 0.9\nnesterov = yes\nbeta1 = 0.8\n"
        "beta2 = 0.99\neps = 1e-6\n"
        "[data]\nformat = cifar100\ndir = /data/cifar\nclasses = 100\nlabels = coarse\n"
        "standardize = off\naugment = on\ncrop_pad = 2\ntrain_limit = 500\ntest_limit = 100\n"
        "%s", NIN);
    CHECK(load_text(&c, text) == 0);
    CHECK(err[0] == '\0');
    CHECK(c.seed == UINT64_MAX);
    CHECK(!strcmp(c.out, "runs/x"));     /* run.out is not resolved */
    CHECK(c.threads == 2);
    CHECK(c.batch == 128 && c.epochs == 15 && c.steps == 1000 && c.sampling == SAMPLE_IID);
    CHECK(c.optim.kind == OPT_SGD && c.optim.lr == 0.1 && c.optim.q == 0.25);
    CHECK(c.optim.weight_decay == 5e-4 && c.optim.alpha == 1.3 && c.optim.beta == 0.01);
    CHECK(c.optim.psi0 == PSI0_ZERO && c.optim.momentum == 0.9 && c.optim.nesterov == 1);
    CHECK(c.optim.beta1 == 0.8 && c.optim.beta2 == 0.99 && c.optim.eps == 1e-6);
    CHECK(c.format == DATA_CIFAR100 && !strcmp(c.dir, "/data/cifar"));
    CHECK(c.classes == 100 && c.coarse == 1 && c.standardize == 0 && c.augment == 1);
    CHECK(c.crop_pad == 2 && c.train_limit == 500 && c.test_limit == 100);
    CHECK(c.input.c == 3 && c.input.h == 32 && c.input.w == 32);
    CHECK(c.nlayers == 8);
    CHECK(config_validate(&c, err, sizeof err) == 0);

    /* Every bool spelling; enums by every word. */
    const char *yes[] = { "true", "yes", "on", "1", "TRUE" }, *no[] = { "false", "no", "off", "0", "Off" };
    for (int i = 0; i < 5; i++) {
        char a[64];
        snprintf(a, sizeof a, "data.augment=%s", yes[i]);
        CHECK(config_set(&c, a, err, sizeof err) == 0 && c.augment == 1);
        snprintf(a, sizeof a, "data.augment=%s", no[i]);
        CHECK(config_set(&c, a, err, sizeof err) == 0 && c.augment == 0);
    }
    CHECK(config_set(&c, "optim.name=adam", err, sizeof err) == 0 && c.optim.kind == OPT_ADAM);
    CHECK(config_set(&c, "optim.name=adagrad", err, sizeof err) == 0 && c.optim.kind == OPT_ADAGRAD);
    CHECK(config_set(&c, "optim.name=inna", err, sizeof err) == 0 && c.optim.kind == OPT_INNA);
    CHECK(config_set(&c, "train.sampling=sequential", err, sizeof err) == 0 && c.sampling == SAMPLE_SEQUENTIAL);
    CHECK(config_set(&c, "data.format=cifar10", err, sizeof err) == 0 && c.format == DATA_CIFAR10);
    CHECK(config_set(&c, "data.labels=fine", err, sizeof err) == 0 && c.coarse == 0);
    /* Boundary values that are allowed. */
    CHECK(config_set(&c, "optim.q=1", err, sizeof err) == 0 && c.optim.q == 1);
    CHECK(config_set(&c, "optim.alpha=0", err, sizeof err) == 0 && c.optim.alpha == 0);
    CHECK(config_set(&c, "train.steps=-1", err, sizeof err) == 0 && c.steps == -1);
    CHECK(config_set(&c, "data.crop_pad=16", err, sizeof err) == 0 && c.crop_pad == 16);
    CHECK(config_set(&c, "net.dropout=0", err, sizeof err) == 0 && c.dropout == 0);
}

static void test_set_after_file(void)
{
    Config c;
    CHECK(load_text(&c, "[optim]\nbeta = 0.5\nlr = 0.2\n[train]\nbatch = 64\n") == 0);
    /* A later file overrides an earlier one's keys: not "given twice". */
    CHECK(config_load_file(&c, write_file("u.ini", "[train]\nbatch = 16\n"), err, sizeof err) == 0);
    CHECK(config_load_file(&c, write_file("u.ini", "[optim]\nbeta = 0.4\n[train]\nbatch = 16\n"),
                           err, sizeof err) == 0);
    CHECK(c.batch == 16);
    CHECK(c.optim.beta == 0.4);
    CHECK(config_set(&c, "optim.beta=0.5", err, sizeof err) == 0);
    CHECK(config_set(&c, "optim.beta=0.5", err, sizeof err) == 0);      /* --set twice: last wins */
    CHECK(c.optim.beta == 0.5);
    CHECK(config_set(&c, "optim.beta=0.2", err, sizeof err) == 0);
    CHECK(config_set(&c, " optim.beta = 0.3 ", err, sizeof err) == 0);   /* blanks trimmed */
    CHECK(c.optim.beta == 0.3);
    CHECK(c.optim.lr == 0.2);             /* untouched by the overrides */
    CHECK(config_set(&c, "net.input=3x32x32", err, sizeof err) == 0);
    CHECK(c.input.c == 3 && c.input.h == 32 && c.input.w == 32);
}

/* Field-by-field comparison, so that a failure says which field. */
static void check_same(const Config *a, const Config *b)
{
    CHECK(a->seed == b->seed && !strcmp(a->out, b->out) && a->threads == b->threads);
    CHECK(a->batch == b->batch && a->epochs == b->epochs && a->steps == b->steps);
    CHECK(a->sampling == b->sampling);
    CHECK(a->optim.kind == b->optim.kind && a->optim.lr == b->optim.lr && a->optim.q == b->optim.q);
    CHECK(a->optim.weight_decay == b->optim.weight_decay);
    CHECK(a->optim.alpha == b->optim.alpha && a->optim.beta == b->optim.beta);
    CHECK(a->optim.psi0 == b->optim.psi0 && a->optim.momentum == b->optim.momentum);
    CHECK(a->optim.nesterov == b->optim.nesterov && a->optim.beta1 == b->optim.beta1);
    CHECK(a->optim.beta2 == b->optim.beta2 && a->optim.eps == b->optim.eps);
    CHECK(a->format == b->format && !strcmp(a->dir, b->dir));
    CHECK(!strcmp(a->train_images, b->train_images) && !strcmp(a->train_labels, b->train_labels));
    CHECK(!strcmp(a->test_images, b->test_images) && !strcmp(a->test_labels, b->test_labels));
    CHECK(a->classes == b->classes && a->coarse == b->coarse);
    CHECK(a->standardize == b->standardize && a->augment == b->augment && a->crop_pad == b->crop_pad);
    CHECK(a->train_limit == b->train_limit && a->test_limit == b->test_limit);
    CHECK(a->input.c == b->input.c && a->input.h == b->input.h && a->input.w == b->input.w);
    CHECK(a->dropout == b->dropout && a->nlayers == b->nlayers);
    for (int i = 0; i < a->nlayers && i < b->nlayers; i++)
        CHECK(!memcmp(&a->layers[i], &b->layers[i], sizeof a->layers[i]));
    /* Strings are zero-filled, so the whole struct compares too. */
    CHECK(!memcmp(a, b, sizeof *a));
}

/* tmpdir/elsewhere and tmpdir/sub, created once. */
static int mkdir_p_sub(void)
{
    static const char *const subs[] = { "elsewhere", "sub", "sub/deeper" };
    char path[600];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, subs[i]);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return 0;
    }
    return 1;
}

static void test_round_trip(void)
{
    Config a, b;
    CHECK(load_text(&a, NIN) == 0);
    /* Values whose shortest decimal form is not what %g would print. */
    CHECK(config_set(&a, "optim.lr=0.1", err, sizeof err) == 0);
    CHECK(config_set(&a, "optim.beta=0.30000000000000004", err, sizeof err) == 0);
    CHECK(config_set(&a, "optim.q=0.333333333333333314829616256247", err, sizeof err) == 0);
    CHECK(config_set(&a, "net.dropout=0.1", err, sizeof err) == 0);
    CHECK(config_set(&a, "run.seed=12345678901234567890", err, sizeof err) == 0);
    CHECK(config_set(&a, "train.steps=0", err, sizeof err) == 0);
    CHECK(config_set(&a, "optim.nesterov=true", err, sizeof err) == 0);
    CHECK(config_set(&a, "data.format=cifar100", err, sizeof err) == 0);
    CHECK(config_set(&a, "data.labels=coarse", err, sizeof err) == 0);
    CHECK(config_set(&a, "optim.psi0=zero", err, sizeof err) == 0);
    CHECK(config_set(&a, "train.sampling=iid", err, sizeof err) == 0);
    CHECK(config_set(&a, "data.dir=relative/cifar", err, sizeof err) == 0);  /* relative, via --set */

    char *text = config_to_ini(&a);
    CHECK(text != NULL);
    if (!text) return;
    CHECK(contains(text, "[optim]") && contains(text, "beta = 0.30000000000000004"));
    CHECK(contains(text, "lr = 0.1\n") && contains(text, "dropout = 0.1\n"));   /* shortest exact form */
    CHECK(contains(text, "layer = conv filters=192 size=5 stride=1 pad=2"));
    CHECK(contains(text, "layer = dropout\n") && contains(text, "layer = dropout rate=0.3\n"));

    /* Load it back from a different folder and from a relative path: the
     * stored paths are absolute, so neither may change anything. */
    CHECK(mkdir_p_sub());
    config_defaults(&b);
    CHECK(config_load_file(&b, write_file("elsewhere/rt.ini", text), err, sizeof err) == 0);
    check_same(&a, &b);
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpdir) == 0);
    config_defaults(&b);
    CHECK(config_load_file(&b, "elsewhere/rt.ini", err, sizeof err) == 0);
    CHECK(chdir(cwd) == 0);
    check_same(&a, &b);

    char *again = config_to_ini(&b);
    CHECK(again && !strcmp(text, again));
    free(again);
    free(text);

    /* The defaults round-trip too (no layer lines: nlayers stays 0). */
    config_defaults(&a);
    text = config_to_ini(&a);
    config_defaults(&b);
    CHECK(text && config_load_file(&b, write_file("d.ini", text), err, sizeof err) == 0);
    check_same(&a, &b);
    free(text);
}

static void test_relative_paths(void)
{
    Config c;
    char want[1024], cwd[512];
    CHECK(mkdir_p_sub());
    const char *text = "[data]\ntrain_images = data/a.gz\ntrain_labels = ./b.gz\n"
                       "test_images = /abs/c.gz\ntest_labels = ../d.gz\ndir = cifar\n";
    /* Loaded by absolute path: joined to the file's folder. */
    config_defaults(&c);
    CHECK(config_load_file(&c, write_file("sub/p.ini", text), err, sizeof err) == 0);
    snprintf(want, sizeof want, "%s/sub/data/a.gz", tmpdir);
    CHECK(!strcmp(c.train_images, want));
    snprintf(want, sizeof want, "%s/sub/b.gz", tmpdir);
    CHECK(!strcmp(c.train_labels, want));
    CHECK(!strcmp(c.test_images, "/abs/c.gz"));
    snprintf(want, sizeof want, "%s/sub/../d.gz", tmpdir);
    CHECK(!strcmp(c.test_labels, want));
    snprintf(want, sizeof want, "%s/sub/cifar", tmpdir);
    CHECK(!strcmp(c.dir, want));

    /* Loaded by a relative path: still the file's folder, made absolute. */
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpdir) == 0);
    config_defaults(&c);
    CHECK(config_load_file(&c, "sub/p.ini", err, sizeof err) == 0);
    snprintf(want, sizeof want, "%s/sub/data/a.gz", tmpdir);
    CHECK(!strcmp(c.train_images, want));
    CHECK(chdir("sub") == 0);
    config_defaults(&c);
    CHECK(config_load_file(&c, "./p.ini", err, sizeof err) == 0);
    CHECK(!strcmp(c.train_images, want));
    /* --set paths are relative to the working directory (here tmpdir/sub). */
    CHECK(config_set(&c, "data.train_images=mine.gz", err, sizeof err) == 0);
    snprintf(want, sizeof want, "%s/sub/mine.gz", tmpdir);
    CHECK(!strcmp(c.train_images, want));
    CHECK(config_set(&c, "data.dir=", err, sizeof err) == 0 && c.dir[0] == '\0');  /* empty stays empty */
    CHECK(chdir(cwd) == 0);
}

static void test_layers(void)
{
    Config c;
    CHECK(load_text(&c, NIN) == 0);
    CHECK(c.nlayers == 8);
    const LayerSpec *l = c.layers;
    CHECK(l[0].type == L_CONV && l[0].filters == 192 && l[0].size == 5 && l[0].stride == 1 && l[0].pad == 2);
    CHECK(l[1].type == L_RELU);
    CHECK(l[2].type == L_MAXPOOL && l[2].size == 3 && l[2].stride == 2 && l[2].pad == 1);
    CHECK(l[3].type == L_DROPOUT && l[3].rate == -1.0f);   /* bare: use net.dropout */
    CHECK(l[4].type == L_AVGPOOL && l[4].size == 3 && l[4].stride == 2 && l[4].pad == 1);
    CHECK(l[5].type == L_DROPOUT && l[5].rate == 0.3f);
    CHECK(l[6].type == L_CONV && l[6].filters == 10 && l[6].size == 1 && l[6].stride == 1 && l[6].pad == 0);
    CHECK(l[7].type == L_GAP);

    /* Pool defaults; blanks and tabs between tokens. */
    CHECK(load_text(&c, "[net]\nlayer =  maxpool\tsize=2 \nlayer = avgpool size=4 pad=3\n") == 0);
    CHECK(c.nlayers == 2 && c.layers[0].size == 2 && c.layers[0].stride == 1 && c.layers[0].pad == 0);
    CHECK(c.layers[1].stride == 1 && c.layers[1].pad == 3);

    /* A later file's first layer line replaces the network; a file without
     * layer lines keeps it. */
    CHECK(load_text(&c, NIN) == 0 && c.nlayers == 8);
    CHECK(config_load_file(&c, write_file("u.ini", "[train]\nbatch = 8\n"), err, sizeof err) == 0);
    CHECK(c.nlayers == 8);
    CHECK(config_load_file(&c, write_file("u.ini", "[net]\nlayer = relu\nlayer = gap\n"), err, sizeof err) == 0);
    CHECK(c.nlayers == 2 && c.layers[0].type == L_RELU && c.layers[1].type == L_GAP);

    /* Exactly CONFIG_MAX_LAYERS is fine, one more is not. */
    char text[4096] = "[net]\n";
    for (int i = 0; i < CONFIG_MAX_LAYERS; i++) strcat(text, "layer = relu\n");
    CHECK(load_text(&c, text) == 0 && c.nlayers == CONFIG_MAX_LAYERS);
    strcat(text, "layer = relu\n");
    CHECK(load_text(&c, text) != 0);
    CHECK(contains(err, "net.layer") && contains(err, "t.ini:66:"));
}

/* Each error case: non-zero return, the key named, and the file:line for files. */
static void expect_set_error(const char *assignment, const char *key, const char *what)
{
    Config c;
    config_defaults(&c);
    err[0] = '\0';
    int rc = config_set(&c, assignment, err, sizeof err);
    if (rc == 0) fprintf(stderr, "  config_set(\"%s\") succeeded\n", assignment);
    CHECK(rc != 0);
    CHECK(contains(err, key));
    if (what) CHECK(contains(err, what));
    CHECK(strchr(err, '\n') == NULL);
}

static void expect_file_error(const char *text, const char *where, const char *key)
{
    Config c;
    int rc = load_text(&c, text);
    if (rc == 0) fprintf(stderr, "  loading \"%s\" succeeded\n", text);
    CHECK(rc != 0);
    CHECK(contains(err, where));
    CHECK(contains(err, key));
    CHECK(strchr(err, '\n') == NULL);
}

static void test_errors(void)
{
    /* Unknown names. */
    expect_file_error("[optim]\nlr = 0.1\nbetta = 2\n", "t.ini:3:", "unknown key 'optim.betta'");
    expect_file_error("[optm]\nlr = 0.1\n", "t.ini:2:", "unknown section [optm]");
    expect_file_error("seed = 3\n", "t.ini:1:", "seed");
    expect_set_error("optim.betta=1", "optim.betta", "unknown key");
    expect_set_error("optm.lr=1", "optm", "unknown section");

    /* Wrong types. */
    expect_set_error("train.batch=abc", "train.batch", "'abc'");
    expect_set_error("train.batch=", "train.batch", "integer");
    expect_set_error("train.batch=1.5", "train.batch", "integer");
    expect_set_error("train.epochs=99999999999999999999", "train.epochs", "out of range");
    expect_set_error("run.threads=3000000000", "run.threads", "out of range");
    expect_set_error("run.threads=-3000000000", "run.threads", "out of range");
    expect_set_error("run.seed=-1", "run.seed", "'-1'");
    char longset[1200];
    snprintf(longset, sizeof longset, "run.out=%01100d", 0);
    expect_set_error(longset, "run.out", "too long");
    /* Strings must survive config_to_ini and inih (found by fuzz_config). */
    expect_set_error("run.out=a ;b", "run.out", "';'");
    expect_set_error("run.out=x\r", "run.out", "control characters");
    expect_set_error("run.out=#x", "run.out", "'#'");
    char deep[300] = "data.dir=/";
    memset(deep + 10, 'd', 200);
    expect_set_error(deep, "data.dir", "config line must fit");
    expect_set_error("optim.lr=1.5x", "optim.lr", "'1.5x'");
    expect_set_error("optim.lr=nan", "optim.lr", "number");
    expect_set_error("optim.lr=inf", "optim.lr", "number");
    expect_set_error("data.augment=maybe", "data.augment", "'maybe'");
    expect_set_error("optim.name=rmsprop", "optim.name", "inna|sgd|adam|adagrad");
    expect_set_error("data.labels=medium", "data.labels", "fine|coarse");
    expect_set_error("net.input=3x32", "net.input", "CxHxW");
    expect_set_error("net.input=0x32x32", "net.input", "'0x32x32'");
    expect_set_error("net.input=3x32x5000", "net.input", "4096");
    expect_set_error("net.input=3x32x32x", "net.input", "CxHxW");
    expect_file_error("[train]\nbatch = 12abc\n", "t.ini:2:", "train.batch");

    /* Out of range, at set time, naming the key. */
    expect_set_error("optim.beta=0", "optim.beta", "must be > 0 (got 0)");
    expect_set_error("optim.beta=-1", "optim.beta", "must be > 0 (got -1)");
    expect_set_error("optim.alpha=-0.1", "optim.alpha", "must be >= 0");
    expect_set_error("optim.lr=0", "optim.lr", "must be > 0");
    expect_set_error("optim.q=1.5", "optim.q", "[0, 1]");
    expect_set_error("optim.q=-0.1", "optim.q", "[0, 1]");
    expect_set_error("optim.warmup=-5", "optim.warmup", ">= 0");
    expect_set_error("optim.warmup=0.5", "optim.warmup", "integer");
    expect_set_error("optim.momentum=1", "optim.momentum", "[0, 1)");
    expect_set_error("optim.eps=0", "optim.eps", "> 0");
    expect_set_error("train.batch=0", "train.batch", "must be >= 1");
    expect_set_error("train.steps=-2", "train.steps", ">= -1");
    expect_set_error("net.dropout=1", "net.dropout", "[0, 1)");
    expect_set_error("data.crop_pad=-1", "data.crop_pad", "[0, 16]");
    expect_set_error("data.classes=1", "data.classes", "[2, 65536]");
    expect_file_error("[optim]\n\nbeta = -1\n", "t.ini:3:", "optim.beta: must be > 0 (got -1)");

    /* Bad layer specs. */
    expect_file_error("[net]\nlayer = relu\nlayer = cnv filters=3 size=3\n", "t.ini:3:", "unknown layer type 'cnv'");
    expect_file_error("[net]\nlayer = maxpool size=3 filters=2\n", "t.ini:2:", "unknown key 'filters'");
    expect_file_error("[net]\nlayer = relu rate=0.5\n", "t.ini:2:", "unknown key 'rate'");
    expect_file_error("[net]\nlayer = conv size=3\n", "t.ini:2:", "missing filters");
    expect_file_error("[net]\nlayer = avgpool stride=2\n", "t.ini:2:", "missing size");
    expect_file_error("[net]\nlayer = conv filters=8 size=3 pad=3\n", "t.ini:2:", "pad must be < size");
    expect_file_error("[net]\nlayer = conv filters=0 size=3\n", "t.ini:2:", "filters");
    expect_file_error("[net]\nlayer = conv filters=8 size=3 stride=0\n", "t.ini:2:", "stride");
    expect_file_error("[net]\nlayer = conv filters=x8 size=3\n", "t.ini:2:", "'x8'");
    expect_file_error("[net]\nlayer = conv filters=8 size=3 size=5\n", "t.ini:2:", "twice");
    expect_file_error("[net]\nlayer = conv filters=8 size\n", "t.ini:2:", "key=value");
    expect_file_error("[net]\nlayer = dropout rate=1\n", "t.ini:2:", "rate");
    expect_file_error("[net]\nlayer = dropout rate=-1\n", "t.ini:2:", "rate");
    expect_file_error("[net]\nlayer =\n", "t.ini:2:", "net.layer");

    /* Syntax errors (reported by inih) and lines inih would split. */
    expect_file_error("[run]\nseed = 2\nthis is not a pair\n", "t.ini:3:", "syntax error");
    expect_file_error("[run\nseed = 2\n", "t.ini:1:", "syntax error");
    char longline[400];
    snprintf(longline, sizeof longline, "[data]\ndir = /%0300d\n", 0);
    expect_file_error(longline, "t.ini:2:", "too long");

    /* The file itself. */
    Config c;
    config_defaults(&c);
    CHECK(config_load_file(&c, "nope-does-not-exist.ini", err, sizeof err) != 0);
    CHECK(contains(err, "nope-does-not-exist.ini") && contains(err, "cannot open"));

    /* --set syntax, and layers only from files. */
    expect_set_error("optim.beta", "optim.beta", "section.key=value");
    expect_set_error("beta=0.2", "beta=0.2", "section.key=value");
    expect_set_error("net.layer=relu", "net.layer", "config file");

    /* Cross-field checks. */
    CHECK(load_text(&c, NIN) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);
    CHECK(config_set(&c, "data.test_labels=", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) != 0 && contains(err, "data.test_labels"));
    CHECK(load_text(&c, NIN) == 0);
    CHECK(config_set(&c, "data.format=cifar10", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) != 0 && contains(err, "data.dir"));
    CHECK(config_set(&c, "data.dir=/x", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);
    CHECK(config_set(&c, "data.labels=coarse", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) != 0 && contains(err, "data.labels"));
    CHECK(config_set(&c, "data.format=cifar100", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);
}

/* Loads len bytes (NULs allowed) as a file on top of the defaults. */
static int load_bytes(Config *c, const char *bytes, size_t len)
{
    config_defaults(c);
    err[0] = '\0';
    return config_load_file(c, write_bytes("b.ini", bytes, len), err, sizeof err);
}

/* The reader hands inih whole lines or refuses: a NUL byte (fgets used to end
 * the line there, so inih parsed its head and dropped the rest), a line
 * longer than inih's buffer (inih would parse its tail as a line of its own). */
static void test_line_reader(void)
{
    Config c;
    /* The last line: fgets took "seed = 2" and loaded it. */
    static const char last[] = "[run]\nseed = 2\0junk\n";
    CHECK(load_bytes(&c, last, sizeof last - 1) != 0);
    CHECK(contains(err, "b.ini:2: NUL byte in the line (the file is not text)"));
    /* A short line inside a longer file: fgets said "line too long". */
    static const char mid[] = "; comment\n[optim]\nlr = 0.1\0\nbeta = 1\n\n[train]\nbatch = 4\n";
    CHECK(load_bytes(&c, mid, sizeof mid - 1) != 0);
    CHECK(contains(err, "b.ini:3: NUL byte") && !strstr(err, "too long"));
    CHECK(strchr(err, '\n') == NULL);
    static const char first[] = "\0";
    CHECK(load_bytes(&c, first, 1) != 0 && contains(err, "b.ini:1: NUL byte"));

    /* inih's buffer holds INI_MAX_LINE - 1 bytes with the newline: 198
     * characters.  The ';' lines are comments, so only the reader judges them. */
    char text[600], line[260];
    memset(line, 'x', sizeof line);
    line[0] = ';';
    snprintf(text, sizeof text, "[run]\n%.198s\nseed = 3\n", line);
    CHECK(load_text(&c, text) == 0 && c.seed == 3);
    snprintf(text, sizeof text, "[run]\n%.199s\nseed = 3\n", line);
    CHECK(load_text(&c, text) != 0 && contains(err, "t.ini:2: line too long"));
    snprintf(text, sizeof text, "[run]\nseed = 3\n%.199s", line);   /* no newline at the end: fits */
    CHECK(load_text(&c, text) == 0 && c.seed == 3);
    snprintf(text, sizeof text, "[run]\nseed = 3\n%.200s", line);
    CHECK(load_text(&c, text) != 0 && contains(err, "t.ini:3: line too long"));
    /* CRLF line ends count the '\r' like any character. */
    snprintf(text, sizeof text, "[run]\r\n%.197s\r\nseed = 3\r\n", line);
    CHECK(load_text(&c, text) == 0 && c.seed == 3);
    /* A NUL past the buffer: the line is too long first. */
    char big[300];
    snprintf(big, sizeof big, "[run]\n%.250s", line);
    big[6 + 220] = '\0';
    CHECK(load_bytes(&c, big, 6 + 250) != 0 && contains(err, "b.ini:2: line too long"));
}

static void test_given_twice(void)
{
    Config c;
    expect_file_error("[optim]\nlr = 0.1\nbeta = 1\nlr = 0.2\n", "t.ini:4:",
                      "optim.lr given twice (first at line 2)");
    /* The same section opened again. */
    expect_file_error("[train]\nbatch = 8\n\n[optim]\nlr = 0.1\n\n[train]\nsteps = 3\nbatch = 16\n",
                      "t.ini:9:", "train.batch given twice (first at line 2)");
    /* Even with the same value, and for every kind of key. */
    expect_file_error("[run]\nseed = 1\nseed = 1\n", "t.ini:3:", "run.seed given twice (first at line 2)");
    expect_file_error("[net]\ninput = 1x28x28\nlayer = relu\ninput = 1x28x28\n", "t.ini:4:",
                      "net.input given twice");
    expect_file_error("[data]\ndir = a\ndir = b\n", "t.ini:3:", "data.dir given twice");
    /* net.layer repeats by design. */
    CHECK(load_text(&c, "[net]\nlayer = relu\nlayer = relu\n\n[net]\nlayer = gap\n") == 0);
    CHECK(c.nlayers == 3);
    /* A checkpoint's stored config is read the same way. */
    config_defaults(&c);
    CHECK(config_load_text(&c, "[optim]\nlr = 0.1\n[optim]\nlr = 0.2\n", "ckpt.h5 [config]", err,
                           sizeof err) != 0);
    CHECK(contains(err, "ckpt.h5 [config]:4: optim.lr given twice (first at line 2)"));
}

static void test_chunk_vs_batch(void)
{
    Config c;
    CHECK(load_text(&c, NIN) == 0);
    CHECK(config_set(&c, "train.batch=8", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) != 0);    /* the default chunk, 16 */
    CHECK(contains(err, "dist.chunk: 16 is larger than train.batch = 8 (a chunk is at most one batch); "
                        "set dist.chunk <= 8"));
    CHECK(strchr(err, '\n') == NULL);
    CHECK(config_set(&c, "dist.chunk=8", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);    /* one chunk per batch */
    CHECK(config_set(&c, "dist.chunk=9", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) != 0 && contains(err, "dist.chunk: 9"));
    /* fast mode has no chunks. */
    CHECK(config_set(&c, "dist.reduction=fast", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);
    CHECK(config_set(&c, "train.batch=1", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == 0);
}

static void test_print_keys(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    config_print_keys(f);
    long n = ftell(f);
    rewind(f);
    char *text = calloc((size_t)n + 1, 1);
    CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    CHECK(contains(text, "  optim.beta = 0.1 "));
    CHECK(contains(text, "  train.batch = 32 "));
    CHECK(contains(text, "net.layer"));
    CHECK(contains(text, "conv filters=N size=K"));
    CHECK(contains(text, "data.train_images = /usr/share/datasets/fashion-mnist/"));
    free(text);
}

/* The resume rule: the keys a resumed run may change pass, any other
 * difference is refused naming the first differing key in table order, with
 * both values as the config writes them (or, for the network, its key). */
static void expect_resume(const Config *saved, const Config *now, const char *want)
{
    err[0] = '\0';
    int rc = config_resume_check(saved, now, "ck.h5", err, sizeof err);
    CHECK(rc == (want ? -1 : 0));
    if (want && strcmp(err, want) != 0) {
        fprintf(stderr, "  resume message \"%s\"\n  expected       \"%s\"\n", err, want);
        CHECK(!"the resume message");
    }
}

static void test_resume_rule(void)
{
    static Config saved, now;
    CHECK(load_text(&saved, NIN) == 0);
    config_resolve_dropout(&saved);
    now = saved;
    expect_resume(&saved, &now, NULL);

    /* Every key that may change on resume, changed at once. */
    static const char *const may[] = {
        "train.epochs=7", "train.steps=99", "run.out=elsewhere", "run.threads=3",
        "run.engine=openblas", "run.log_every=5", "run.check_every=7", "checkpoint.every=9",
        "checkpoint.epoch=false", "checkpoint.initial=true", "checkpoint.keep=8",
        "data.dir=/d", "data.train_images=/a", "data.train_labels=/b",
        "data.test_images=/c", "data.test_labels=/e" };
    for (size_t i = 0; i < sizeof may / sizeof may[0]; i++)
        CHECK(config_set(&now, may[i], err, sizeof err) == 0);
    expect_resume(&saved, &now, NULL);

    static const char *const tail = "; only the step budget, logging, checkpoint settings, "
                                    "run.out and data file paths may change on resume";
    static const char *const net = ": the network differs from the checkpoint's; a run resumes "
                                   "only with the network it was started with";
    char want[512];
    now = saved;
    CHECK(config_set(&now, "optim.lr=0.5", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: optim.lr: the checkpoint has \"lr = 0.05\", the resumed "
             "run \"lr = 0.5\"%s", tail);
    expect_resume(&saved, &now, want);
    /* The first differing key in the table's order is the one named. */
    CHECK(config_set(&now, "run.seed=2", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: run.seed: the checkpoint has \"seed = 1\", the resumed "
             "run \"seed = 2\"%s", tail);
    expect_resume(&saved, &now, want);
    now = saved;
    CHECK(config_set(&now, "data.format=cifar10", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: data.format: the checkpoint has \"format = idx\", the "
             "resumed run \"format = cifar10\"%s", tail);
    expect_resume(&saved, &now, want);
    now = saved;
    CHECK(config_set(&now, "optim.nesterov=true", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: optim.nesterov: the checkpoint has \"nesterov = false\", "
             "the resumed run \"nesterov = true\"%s", tail);
    expect_resume(&saved, &now, want);

    /* The network: its keys, a layer changed, a layer more or fewer. */
    now = saved;
    CHECK(config_set(&now, "net.dropout=0.1", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: net.dropout%s", net);
    expect_resume(&saved, &now, want);
    now = saved;
    CHECK(config_set(&now, "net.input=3x32x31", err, sizeof err) == 0);
    snprintf(want, sizeof want, "ck.h5: net.input%s", net);
    expect_resume(&saved, &now, want);
    snprintf(want, sizeof want, "ck.h5: net.layer%s", net);
    now = saved;
    now.layers[6].filters = 12;
    expect_resume(&saved, &now, want);
    now = saved;
    now.layers[5].rate = 0.25f;
    expect_resume(&saved, &now, want);
    now = saved;
    now.nlayers--;
    expect_resume(&saved, &now, want);
    expect_resume(&now, &saved, want);
}

int main(void)
{
    char templ[] = "/tmp/test_config.XXXXXX", cwd[256];
    if (!mkdtemp(templ) || !getcwd(cwd, sizeof cwd) || chdir(templ) || !getcwd(tmpdir, sizeof tmpdir) ||
        chdir(cwd)) {
        perror("temp folder");
        return 2;
    }
    test_defaults();
    test_full_file();
    test_set_after_file();
    test_round_trip();
    test_relative_paths();
    test_layers();
    test_errors();
    test_line_reader();
    test_given_twice();
    test_chunk_vs_batch();
    test_print_keys();
    test_resume_rule();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_config");
}
