/* The run configuration.
 *
 * Every key is described once, in keys[] below: its section, name, type,
 * where it lives in Config, its allowed range, its default, a line of help
 * and whether a resumed run may change it.  Defaults, parsing, range checks,
 * --help, the INI writer and the resume check are all driven by that table,
 * so adding a key means adding one line there.
 *
 * Values come from two places, applied in order by the caller:
 *   config_defaults()   then  config_load_file() for each file,
 *   then config_set() for each --set "section.key=value" (last wins).
 * Within one file a key may appear only once (net.layer excepted).
 * Range checks happen as each value is set, so an error names the key and,
 * for files, file:line.  config_validate() only does cross-field checks.
 *
 * Paths (data.dir, data.*_images, data.*_labels) are stored absolute:
 * a relative path in a file is joined to the folder of that file, and a
 * relative path given to config_set is joined to the working directory
 * (which is what it is relative to anyway).  Storing them resolved is what
 * lets config_to_ini() write them verbatim and have the result load back to
 * the identical Config from whatever folder it is saved in.  run.out is not
 * resolved: the run folder is relative to where inna runs, wherever the
 * config file lives. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum {
    K_INT, K_LONG, K_U64, K_DOUBLE, K_FLOAT, K_BOOL,
    K_STRING,   /* taken verbatim                                         */
    K_PATH,     /* a string resolved against the config file's folder     */
    K_ENUM,     /* one of words[], stored as an int: the word's index     */
    K_SHAPE,    /* "CxHxW"                                                */
    K_LAYER     /* net.layer: repeated, appends to c->layers              */
} KeyType;

/* Range flags: which bounds apply and whether they are strict. */
enum { R_LO = 1, R_HI = 2, R_LO_OPEN = 4, R_HI_OPEN = 8 };
#define GE(a)     .range = R_LO, .lo = (a)
#define GT(a)     .range = R_LO | R_LO_OPEN, .lo = (a)
#define IN(a, b)  .range = R_LO | R_HI, .lo = (a), .hi = (b)
#define INO(a, b) .range = R_LO | R_HI | R_HI_OPEN, .lo = (a), .hi = (b) /* [a, b) */

typedef struct {
    const char *section, *name;
    KeyType type;
    size_t off, size;           /* where the value lives in Config       */
    const char *const *words;   /* K_ENUM: words in enum order, NULL-ended;
                                   K_INT: a word that means 0               */
    unsigned range;
    double lo, hi;
    const char *def;            /* default, parsed like any other value  */
    const char *help;
    int resume;                 /* a resumed run may change it: the step budget, logging,
                                   checkpoints, where it writes, where the (same) data files
                                   now live; any other key would make "N steps + resume + M
                                   steps" differ from N + M steps */
} Key;

#define M(m) offsetof(Config, m), sizeof(((Config *)0)->m)
/* The "may change on resume" column (config_resume_check). */
#define MAY_CHANGE_ON_RESUME .resume = 1

/* Word lists are indexed by the enum value.  The optimizers', layers' and
 * engines' are their modules' name tables; Sampling and Reduction are
 * declared in config.h, so their tables are these (see config.h). */
const char *const config_sampling_names[] = { "shuffle", "iid", "sequential", NULL };
const char *const config_reduction_names[] = { "exact", "fast", NULL };
static const char *const format_words[] = { "idx", "cifar10", "cifar100", NULL };
static const char *const labels_words[] = { "fine", "coarse", NULL };
/* K_INT with words: the word stands for 0 (run.threads = auto). */
static const char *const auto_words[] = { "auto", NULL };
_Static_assert(SAMPLE_SEQUENTIAL == 2 && DATA_CIFAR100 == 2 && REDUCE_FAST == 1,
               "word lists follow the enum order");
_Static_assert(sizeof(Sampling) == sizeof(int) && sizeof(OptimKind) == sizeof(int) &&
               sizeof(Psi0Kind) == sizeof(int) && sizeof(DataFormat) == sizeof(int) &&
               sizeof(Reduction) == sizeof(int) && sizeof(EngineKind) == sizeof(int),
               "enums are stored through an int pointer");

const char *sampling_name(Sampling s)
{
    return s >= 0 && s <= SAMPLE_SEQUENTIAL ? config_sampling_names[s] : "?";
}

const char *reduction_name(Reduction r)
{
    return r >= 0 && r <= REDUCE_FAST ? config_reduction_names[r] : "?";
}

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static const Key keys[] = {
    { "run", "seed", K_U64, M(seed), .def = "1",
      .help = "seed of every random choice (weights, batches, dropout, augmentation)" },
    { "run", "out", K_STRING, M(out), MAY_CHANGE_ON_RESUME, .def = "runs/default",
      .help = "run folder, relative to the working directory" },
    { "run", "threads", K_INT, M(threads), auto_words, GE(0), MAY_CHANGE_ON_RESUME, .def = "auto",
      .help = "threads per rank (auto = its share of the node's cores): exact = workers on "
              "whole chunks, 1 BLAS thread each (auto: at most the rank's chunks); fast = BLAS threads" },
    { "run", "log_every", K_DOUBLE, M(log_every), GE(0), MAY_CHANGE_ON_RESUME, .def = "60",
      .help = "seconds between progress lines when stdout is a log, not a terminal (0 = none)" },
    { "run", "engine", K_ENUM, M(engine), engine_names, MAY_CHANGE_ON_RESUME, .def = "auto",
      .help = "compute engine: onednn (its JIT kernels) | openblas (im2col + SGEMM) | auto "
              "(onednn when built with it)" },
    { "run", "check_every", K_LONG, M(check_every), GE(0), MAY_CHANGE_ON_RESUME, .def = "100",
      .help = "compare a hash of the parameters across ranks every N steps (0 = never)" },

    { "dist", "reduction", K_ENUM, M(reduction), config_reduction_names, .def = "exact",
      .help = "exact (fixed-point sum: bitwise the same for any ranks/threads) | fast (float sum)" },
    { "dist", "chunk", K_INT, M(chunk), IN(1, 4096), .def = "16",
      .help = "exact: samples per chunk of B_k, the unit of work (part of the trajectory's "
              "definition; batch/chunk chunks keep that many ranks x threads busy)" },
    { "dist", "gather", K_INT, M(gather), IN(0, 256), MAY_CHANGE_ON_RESUME, .def = "8",
      .help = "exact, B_k of at most this many chunks: the ranks gather the chunks' float "
              "gradients (4 bytes a chunk) and each sums them on the grid, instead of reducing "
              "16-byte sums (about 32 bytes moved per parameter); the same bits either way "
              "(0 = always the sums)" },

    { "checkpoint", "every", K_LONG, M(ckpt_every), GE(0), MAY_CHANGE_ON_RESUME, .def = "500",
      .help = "write a checkpoint every N steps (0 = only at epoch ends and at the end)" },
    { "checkpoint", "epoch", K_BOOL, M(ckpt_epoch), MAY_CHANGE_ON_RESUME, .def = "true",
      .help = "write a checkpoint at the end of every epoch" },
    { "checkpoint", "initial", K_BOOL, M(ckpt_initial), MAY_CHANGE_ON_RESUME, .def = "false",
      .help = "also write the state at step 0, before the first update" },
    { "checkpoint", "keep", K_INT, M(ckpt_keep), IN(1, 1000000), MAY_CHANGE_ON_RESUME, .def = "3",
      .help = "checkpoints kept in the run folder (older ones are deleted)" },

    { "train", "batch", K_INT, M(batch), GE(1), .def = "32",
      .help = "global minibatch size, split over the ranks" },
    { "train", "epochs", K_LONG, M(epochs), GE(0), MAY_CHANGE_ON_RESUME, .def = "1",
      .help = "passes over the training set" },
    { "train", "steps", K_LONG, M(steps), GE(-1), MAY_CHANGE_ON_RESUME, .def = "-1",
      .help = "number of steps; >= 0 overrides epochs, -1 = use epochs" },
    { "train", "sampling", K_ENUM, M(sampling), config_sampling_names, .def = "shuffle",
      .help = "shuffle (a permutation per epoch) | iid (with replacement) | sequential" },

    { "optim", "name", K_ENUM, M(optim.kind), optim_names, .def = "inna",
      .help = "optimizer" },
    { "optim", "lr", K_DOUBLE, M(optim.lr), GT(0), .def = "0.05",
      .help = "initial step size gamma_0" },
    { "optim", "q", K_DOUBLE, M(optim.q), IN(0, 1), .def = "0",
      .help = "step-size decay: gamma_k = lr (k+1)^-q" },
    { "optim", "warmup", K_LONG, M(optim.warmup), GE(0), .def = "0",
      .help = "linear warm-up: gamma_k times (k+1)/warmup for the first steps (0 = none, the paper's schedule)" },
    { "optim", "weight_decay", K_DOUBLE, M(optim.weight_decay), GE(0), .def = "0",
      .help = "L2 weight decay, added to the gradient" },
    { "optim", "alpha", K_DOUBLE, M(optim.alpha), GE(0), .def = "0.5",
      .help = "INNA viscous damping (friction)" },
    { "optim", "beta", K_DOUBLE, M(optim.beta), GT(0), .def = "0.1",
      .help = "INNA Newton (Hessian) damping" },
    { "optim", "psi0", K_ENUM, M(optim.psi0), psi0_names, .def = "paper",
      .help = "INNA initial psi: paper (velocity -v0) | zero (zero velocity)" },
    { "optim", "momentum", K_DOUBLE, M(optim.momentum), INO(0, 1), .def = "0",
      .help = "SGD heavy-ball momentum (0 = plain SGD)" },
    { "optim", "nesterov", K_BOOL, M(optim.nesterov), .def = "false",
      .help = "SGD: Nesterov momentum" },
    { "optim", "beta1", K_DOUBLE, M(optim.beta1), INO(0, 1), .def = "0.9",
      .help = "Adam first-moment decay" },
    { "optim", "beta2", K_DOUBLE, M(optim.beta2), INO(0, 1), .def = "0.999",
      .help = "Adam second-moment decay" },
    { "optim", "eps", K_DOUBLE, M(optim.eps), GT(0), .def = "1e-8",
      .help = "Adam and Adagrad denominator guard" },

    { "data", "format", K_ENUM, M(format), format_words, .def = "idx",
      .help = "idx (MNIST, Fashion-MNIST) | cifar10 | cifar100 (binary versions)" },
    { "data", "dir", K_PATH, M(dir), MAY_CHANGE_ON_RESUME, .def = "",
      .help = "folder of the CIFAR .bin files" },
    { "data", "train_images", K_PATH, M(train_images), MAY_CHANGE_ON_RESUME,
      .def = FMNIST "train-images-idx3-ubyte.gz", .help = "IDX training images (gzip allowed)" },
    { "data", "train_labels", K_PATH, M(train_labels), MAY_CHANGE_ON_RESUME,
      .def = FMNIST "train-labels-idx1-ubyte.gz", .help = "IDX training labels" },
    { "data", "test_images", K_PATH, M(test_images), MAY_CHANGE_ON_RESUME,
      .def = FMNIST "t10k-images-idx3-ubyte.gz", .help = "IDX test images" },
    { "data", "test_labels", K_PATH, M(test_labels), MAY_CHANGE_ON_RESUME,
      .def = FMNIST "t10k-labels-idx1-ubyte.gz", .help = "IDX test labels" },
    { "data", "classes", K_INT, M(classes), IN(2, 65536), .def = "10",
      .help = "number of classes (idx only)" },
    { "data", "labels", K_ENUM, M(coarse), labels_words, .def = "fine",
      .help = "CIFAR-100 labels: fine (100 classes) | coarse (20)" },
    { "data", "standardize", K_BOOL, M(standardize), .def = "true",
      .help = "standardize pixels per channel" },
    { "data", "augment", K_BOOL, M(augment), .def = "false",
      .help = "random crop and horizontal flip of training images" },
    { "data", "crop_pad", K_INT, M(crop_pad), IN(0, 16), .def = "4",
      .help = "zero padding around the image before the random crop" },
    { "data", "train_limit", K_LONG, M(train_limit), GE(0), .def = "0",
      .help = "use only the first N training samples (0 = all)" },
    { "data", "test_limit", K_LONG, M(test_limit), GE(0), .def = "0",
      .help = "use only the first N test samples (0 = all)" },

    { "net", "input", K_SHAPE, M(input), .def = "1x28x28",
      .help = "input shape CxHxW (each 1..4096)" },
    { "net", "dropout", K_FLOAT, M(dropout), INO(0, 1), .def = "0.5",
      .help = "rate of the dropout layers that give none" },
    { "net", "layer", K_LAYER, M(layers), .def = "",
      .help = "one layer, repeated in order (see below)" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* ---- layers ---------------------------------------------------------------
 * A net.layer value is "<type> key=value ...", the type one of
 * layer_type_names (src/layers/layer.c).  Each type lists the keys it takes
 * and the ones it requires; the rest get the defaults set in
 * layer_defaults(). */
enum { LK_FILTERS = 1, LK_SIZE = 2, LK_STRIDE = 4, LK_PAD = 8, LK_RATE = 16 };

static const struct {
    unsigned keys, required;
} layer_types[L_NTYPES] = {
    [L_CONV]    = { LK_FILTERS | LK_SIZE | LK_STRIDE | LK_PAD, LK_FILTERS | LK_SIZE },
    [L_RELU]    = { 0, 0 },
    [L_MAXPOOL] = { LK_SIZE | LK_STRIDE | LK_PAD, LK_SIZE },
    [L_AVGPOOL] = { LK_SIZE | LK_STRIDE | LK_PAD, LK_SIZE },
    [L_GAP]     = { 0, 0 },
    [L_DROPOUT] = { LK_RATE, 0 },
};

/* Bounds beyond "filters >= 1, size >= 1" only keep later size arithmetic
 * (im2col lengths, parameter counts) far from overflow. */
static const struct {
    const char *name;
    unsigned bit;
    size_t off;
    int is_float;
    unsigned range;
    double lo, hi;
} layer_keys[] = {
    { "filters", LK_FILTERS, offsetof(LayerSpec, filters), 0, IN(1, 65536) },
    { "size",    LK_SIZE,    offsetof(LayerSpec, size),    0, IN(1, 4096) },
    { "stride",  LK_STRIDE,  offsetof(LayerSpec, stride),  0, IN(1, 4096) },
    { "pad",     LK_PAD,     offsetof(LayerSpec, pad),     0, IN(0, 4095) },
    { "rate",    LK_RATE,    offsetof(LayerSpec, rate),    1, INO(0, 1) },
};
#define NLAYERKEYS (sizeof layer_keys / sizeof layer_keys[0])

/* ---- where a value comes from ----------------------------------------------
 * One Source per config_load_file() or config_set() call.  It carries what
 * error messages and path resolution need. */
typedef struct {
    Config *c;
    const char *file;           /* NULL for config_set                   */
    int line;                   /* physical line, counted by read_line() */
    char base[CONFIG_PATH_MAX]; /* absolute folder relative paths join to */
    int layers_seen;            /* this file has given a net.layer line  */
    int set_at[NKEYS];          /* line that gave keys[i] in this file, 0 = none */
    FILE *f;
    char *err;
    size_t errlen;
    int err_line;               /* line of the first error, 0 = none     */
} Source;

/* Records the first error only: later ones are usually consequences. */
static int fail(Source *s, const char *fmt, ...)
{
    if (s->err_line) return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->file) snprintf(s->err, s->errlen, "%s:%d: %s", s->file, s->line, msg);
    else snprintf(s->err, s->errlen, "%s", msg);
    s->err_line = s->file ? s->line : 1;
    return -1;
}

static void *field(const Config *c, const Key *k) { return (char *)c + k->off; }

/* "must be > 0", "must be in [0, 1)" ... or NULL if v is in range. */
static const char *range_text(unsigned range, double lo, double hi, double v, char *buf, size_t len)
{
    int below = (range & R_LO) && (v < lo || ((range & R_LO_OPEN) && v == lo));
    int above = (range & R_HI) && (v > hi || ((range & R_HI_OPEN) && v == hi));
    if (!below && !above) return NULL;
    if ((range & R_LO) && (range & R_HI))
        snprintf(buf, len, "must be in %c%g, %g%c", range & R_LO_OPEN ? '(' : '[', lo, hi,
                 range & R_HI_OPEN ? ')' : ']');
    else if (range & R_LO) snprintf(buf, len, "must be %s %g", range & R_LO_OPEN ? ">" : ">=", lo);
    else snprintf(buf, len, "must be %s %g", range & R_HI_OPEN ? "<" : "<=", hi);
    return buf;
}

/* Whole-string conversions: trailing garbage ("1.5x") is an error. */
static int parse_ll(const char *v, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(v, &end, 10);
    return end != v && *end == '\0' && errno == 0 ? 0 : -1;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    /* ERANGE on underflow still gives a usable tiny value; overflow or
     * nan/inf would poison every later computation. */
    return end != v && *end == '\0' && isfinite(*out) ? 0 : -1;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v, no[i])) return *out = 0, 0;
    }
    return -1;
}

static int parse_enum(const char *const *words, const char *v, int *out)
{
    for (int i = 0; words[i]; i++)
        if (!strcasecmp(v, words[i])) return *out = i, 0;
    return -1;
}

static void join_words(const char *const *words, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; words[i] && n < len; i++)
        n += snprintf(buf + n, len - n, "%s%s", i ? "|" : "", words[i]);
}

static int parse_shape(const char *v, Shape *out)
{
    int d[3];
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*p < '0' || *p > '9') return -1;   /* no sign, no blanks */
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || x < 1 || x > 4096) return -1;
        d[i] = (int)x;
        if (*end != (i < 2 ? 'x' : '\0')) return -1;
        p = end + 1;
    }
    out->c = d[0], out->h = d[1], out->w = d[2];
    return 0;
}

/* Copies into a char[size] field, zero-filling the rest so that two equal
 * Configs are also memcmp-equal. */
/* The resolved config is stored in every model and checkpoint and read back
 * on --resume, so a string must survive config_to_ini and inih: no ';' (a
 * comment to inih), no control characters (inih trims them), no leading '#',
 * and its "name = value" line within inih's INI_MAX_LINE. */
static int storable(Source *s, const Key *k, const char *v, size_t n)
{
    const size_t line_max = INI_MAX_LINE - 3, line = strlen(k->name) + 3 + n;
    if (line > line_max)
        return fail(s, "%s.%s: too long (%zu characters; the config line must fit in %zu)",
                    k->section, k->name, n, line_max);
    if (v[0] == '#') return fail(s, "%s.%s: must not start with '#'", k->section, k->name);
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c == ';' || *c < 0x20 || *c == 0x7f)
            return fail(s, "%s.%s: must not contain %s", k->section, k->name,
                        *c == ';' ? "';' (it starts a comment)" : "control characters");
    return 0;
}

static int store_string(Source *s, const Key *k, const char *v)
{
    size_t n = strlen(v);
    if (n >= k->size)
        return fail(s, "%s.%s: too long (%zu characters, at most %zu)", k->section, k->name, n, k->size - 1);
    if (storable(s, k, v, n)) return -1;
    memset(field(s->c, k), 0, k->size);
    memcpy(field(s->c, k), v, n);
    return 0;
}

/* The folder relative paths of this source are relative to: the config
 * file's, or the working directory's for config_set.  Made absolute with
 * the working directory so that it survives a later chdir. */
static int set_base(Source *s)
{
    const char *dir = s->file ? s->file : "";
    const char *slash = strrchr(dir, '/');
    size_t dlen = slash ? (size_t)(slash - dir) : 0;
    char cwd[CONFIG_PATH_MAX];
    int n;
    if (slash && dlen == 0) dlen = 1;               /* "/x.ini": the root */
    if (dir[0] == '/') {
        n = snprintf(s->base, sizeof s->base, "%.*s", (int)dlen, dir);
    } else {
        while (dlen >= 2 && dir[0] == '.' && dir[1] == '/') dir += 2, dlen -= 2;
        if (dlen == 1 && dir[0] == '.') dlen = 0;   /* "./x.ini" */
        if (!getcwd(cwd, sizeof cwd))
            return fail(s, "cannot determine the working directory: %s", strerror(errno));
        n = snprintf(s->base, sizeof s->base, "%s%s%.*s", cwd, dlen ? "/" : "", (int)dlen, dir);
    }
    if (n < 0 || (size_t)n >= sizeof s->base) return fail(s, "%s: folder name too long", s->file);
    return 0;
}

/* Relative paths become s->base + "/" + path; empty means "not set". */
static int store_path(Source *s, const Key *k, const char *v)
{
    if (v[0] == '\0' || v[0] == '/') return store_string(s, k, v);
    if (!s->base[0] && set_base(s)) return -1;
    while (v[0] == '.' && v[1] == '/') v += 2;
    char buf[2 * CONFIG_PATH_MAX];
    snprintf(buf, sizeof buf, "%s%s%s", s->base, strcmp(s->base, "/") ? "/" : "", v);
    return store_string(s, k, buf);
}

/* ---- net.layer -------------------------------------------------------------*/

static void layer_defaults(LayerSpec *l, LayerType t)
{
    memset(l, 0, sizeof *l);
    l->type = t;
    if (t == L_CONV || t == L_MAXPOOL || t == L_AVGPOOL) l->stride = 1;
    if (t == L_DROPOUT) l->rate = -1;   /* use net.dropout */
}

/* Next blank-separated token of *p, or 0 at the end. */
static size_t next_token(const char **p, const char **tok)
{
    while (**p == ' ' || **p == '\t') (*p)++;
    *tok = *p;
    while (**p && **p != ' ' && **p != '\t') (*p)++;
    return (size_t)(*p - *tok);
}

static int set_layer_key(Source *s, LayerSpec *l, unsigned *seen, const char *tok, size_t len)
{
    const char *tname = layer_type_name(l->type);
    const char *eq = memchr(tok, '=', len);
    if (!eq) return fail(s, "net.layer: %s: expected key=value, got '%.*s'", tname, (int)len, tok);
    size_t klen = (size_t)(eq - tok);
    for (size_t i = 0; i < NLAYERKEYS; i++) {
        if (strlen(layer_keys[i].name) != klen || strncmp(layer_keys[i].name, tok, klen)) continue;
        if (!(layer_types[l->type].keys & layer_keys[i].bit)) break;
        if (*seen & layer_keys[i].bit)
            return fail(s, "net.layer: %s: %s given twice", tname, layer_keys[i].name);
        *seen |= layer_keys[i].bit;
        char val[64], rbuf[64];
        int vlen = (int)(len - klen - 1);
        if ((size_t)vlen >= sizeof val)
            return fail(s, "net.layer: %s: %s: value too long", tname, layer_keys[i].name);
        snprintf(val, sizeof val, "%.*s", vlen, eq + 1);
        double d;
        long long ll;
        if (layer_keys[i].is_float ? parse_double(val, &d) : parse_ll(val, &ll))
            return fail(s, "net.layer: %s: %s: expected %s, got '%.*s'", tname, layer_keys[i].name,
                        layer_keys[i].is_float ? "a number" : "an integer", vlen, eq + 1);
        if (!layer_keys[i].is_float) d = (double)ll;
        if (range_text(layer_keys[i].range, layer_keys[i].lo, layer_keys[i].hi, d, rbuf, sizeof rbuf))
            return fail(s, "net.layer: %s: %s %s (got %s)", tname, layer_keys[i].name, rbuf, val);
        if (layer_keys[i].is_float) *(float *)((char *)l + layer_keys[i].off) = (float)d;
        else *(int *)((char *)l + layer_keys[i].off) = (int)ll;
        return 0;
    }
    char allowed[64] = "";
    for (size_t i = 0, n = 0; i < NLAYERKEYS; i++)
        if (layer_types[l->type].keys & layer_keys[i].bit)
            n += snprintf(allowed + n, sizeof allowed - n, " %s", layer_keys[i].name);
    return fail(s, "net.layer: %s: unknown key '%.*s' (allowed:%s)", tname, (int)klen, tok,
                allowed[0] ? allowed : " none");
}

static int parse_layer(Source *s, const char *v, LayerSpec *l)
{
    const char *p = v, *tok;
    size_t len = next_token(&p, &tok);
    char name[32], names[128];
    LayerType t;
    snprintf(name, sizeof name, "%.*s", (int)len, tok);
    if (len >= sizeof name || layer_type_parse(name, &t) != 0) {
        join_words(layer_type_names, names, sizeof names);
        return fail(s, "net.layer: unknown layer type '%.*s' (expected %s)", (int)len, tok, names);
    }
    layer_defaults(l, t);
    unsigned seen = 0;
    while ((len = next_token(&p, &tok)) > 0)
        if (set_layer_key(s, l, &seen, tok, len)) return -1;
    for (size_t i = 0; i < NLAYERKEYS; i++)
        if (layer_types[t].required & layer_keys[i].bit & ~seen)
            return fail(s, "net.layer: %s: missing %s=", layer_type_name(t), layer_keys[i].name);
    /* The keys' ranges hold size, stride >= 1 and pad >= 0: what layer.c's
     * rule can still refuse here is pad >= size. */
    if (!layer_window_ok(l))
        return fail(s, "net.layer: %s: pad must be < size (got pad=%d size=%d)",
                    layer_type_name(t), l->pad, l->size);
    return 0;
}

/* The first layer line of a file starts the network afresh: a file that
 * describes a network describes all of it. */
static int add_layer(Source *s, const char *v)
{
    Config *c = s->c;
    LayerSpec l;
    if (parse_layer(s, v, &l)) return -1;
    if (!s->layers_seen) {
        c->nlayers = 0;
        memset(c->layers, 0, sizeof c->layers);
        s->layers_seen = 1;
    }
    if (c->nlayers >= CONFIG_MAX_LAYERS)
        return fail(s, "net.layer: more than %d layers", CONFIG_MAX_LAYERS);
    c->layers[c->nlayers++] = l;
    return 0;
}

/* ---- one key = value --------------------------------------------------------*/

static int set_value(Source *s, const Key *k, const char *v)
{
    void *p = field(s->c, k);
    char rbuf[64], wbuf[128];
    long long ll = 0;
    double d = 0;
    int i;

    switch (k->type) {
    case K_INT:
    case K_LONG:
        if (k->words && !strcasecmp(v, k->words[0])) {
            *(int *)p = 0;
            return 0;
        }
        if (parse_ll(v, &ll) && errno != ERANGE)
            return fail(s, "%s.%s: expected %s, got '%s'", k->section, k->name,
                        k->words ? "auto or an integer" : "an integer", v);
        if (errno == ERANGE || ll < (k->type == K_INT ? INT_MIN : LONG_MIN) ||
            ll > (k->type == K_INT ? INT_MAX : LONG_MAX))
            return fail(s, "%s.%s: integer out of range (got %s)", k->section, k->name, v);
        d = (double)ll;
        break;
    case K_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        /* strtoull quietly wraps "-1"; a seed is never meant negative. */
        if (v[0] < '0' || v[0] > '9' || *end || errno)
            return fail(s, "%s.%s: expected a non-negative integer, got '%s'", k->section, k->name, v);
        *(uint64_t *)p = u;
        return 0;
    }
    case K_DOUBLE:
    case K_FLOAT:
        if (parse_double(v, &d))
            return fail(s, "%s.%s: expected a number, got '%s'", k->section, k->name, v);
        break;
    case K_BOOL:
        if (parse_bool(v, &i))
            return fail(s, "%s.%s: expected true/false/yes/no/on/off/1/0, got '%s'", k->section, k->name, v);
        *(int *)p = i;
        return 0;
    case K_ENUM:
        if (parse_enum(k->words, v, &i)) {
            join_words(k->words, wbuf, sizeof wbuf);
            return fail(s, "%s.%s: expected one of %s, got '%s'", k->section, k->name, wbuf, v);
        }
        *(int *)p = i;
        return 0;
    case K_SHAPE:
        if (parse_shape(v, p))
            return fail(s, "%s.%s: expected CxHxW with each in 1..4096, got '%s'", k->section, k->name, v);
        return 0;
    case K_STRING: return store_string(s, k, v);
    case K_PATH: return store_path(s, k, v);
    case K_LAYER:
        if (!s->file)
            return fail(s, "net.layer: layers are set in the config file, not with --set");
        return add_layer(s, v);
    }
    if (range_text(k->range, k->lo, k->hi, d, rbuf, sizeof rbuf))
        return fail(s, "%s.%s: %s (got %s)", k->section, k->name, rbuf, v);
    if (k->type == K_INT) *(int *)p = (int)ll;
    else if (k->type == K_LONG) *(long *)p = (long)ll;
    else if (k->type == K_DOUBLE) *(double *)p = d;
    else *(float *)p = (float)d;
    return 0;
}

/* Finds section.name (lengths given: config_set's are not terminated).
 * Returns the key, or NULL with *section_known telling which was wrong. */
static const Key *find_key(const char *sec, size_t slen, const char *name, size_t nlen, int *section_known)
{
    *section_known = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strlen(keys[i].section) != slen || strncmp(keys[i].section, sec, slen)) continue;
        *section_known = 1;
        if (strlen(keys[i].name) == nlen && !strncmp(keys[i].name, name, nlen)) return &keys[i];
    }
    return NULL;
}

/* Within one file a key is given once: a second line is more likely an
 * edit that missed the first than an override, and which one wins would be
 * invisible.  Later files and --set are the overrides; net.layer repeats by
 * design. */
static int given_once(Source *s, const Key *k)
{
    int *at = &s->set_at[k - keys];
    if (!s->file || k->type == K_LAYER) return 0;
    if (*at) return fail(s, "%s.%s given twice (first at line %d)", k->section, k->name, *at);
    *at = s->line;
    return 0;
}

static int set_named(Source *s, const char *sec, size_t slen, const char *name, size_t nlen, const char *v)
{
    int section_known;
    const Key *k = find_key(sec, slen, name, nlen, &section_known);
    if (k) return given_once(s, k) ? -1 : set_value(s, k, v);
    if (slen == 0) return fail(s, "key '%.*s' is outside any [section]", (int)nlen, name);
    if (!section_known) return fail(s, "unknown section [%.*s]", (int)slen, sec);
    return fail(s, "unknown key '%.*s.%.*s'", (int)slen, sec, (int)nlen, name);
}

/* ---- public interface ---------------------------------------------------------*/

void config_defaults(Config *c)
{
    Source s = { .c = c };
    char err[256];
    s.err = err, s.errlen = sizeof err;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        size_t want = k->type == K_LONG ? sizeof(long) : k->type == K_U64 ? sizeof(uint64_t)
                    : k->type == K_DOUBLE ? sizeof(double) : k->type == K_FLOAT ? sizeof(float)
                    : sizeof(int);
        /* A table entry whose type does not match its field would write out
         * of bounds; catch it on the first run rather than in a debugger. */
        if ((k->type <= K_BOOL || k->type == K_ENUM) && k->size != want) {
            fprintf(stderr, "config: %s.%s: table type does not match the field\n", k->section, k->name);
            abort();
        }
        if (k->type == K_LAYER) continue;   /* the default network is empty */
        if (set_value(&s, k, k->def)) {
            fprintf(stderr, "config: bad default: %s\n", err);
            abort();
        }
    }
}

/* inih's reader hook: counts lines for error messages, refuses a NUL byte
 * and lines longer than inih's buffer (inih would silently split them and
 * parse the tail as a line of its own) and stops the parse at the first
 * error.  A getc loop rather than fgets, which cannot say how many bytes it
 * read: after a NUL, inih would see only the head of the line. */
static char *read_line(char *str, int num, void *stream)
{
    Source *s = stream;
    int n = 0, ch = EOF, nul = 0;
    if (s->err_line) return NULL;
    while (n < num - 1 && (ch = getc(s->f)) != EOF) {
        str[n++] = (char)ch;
        nul |= ch == '\0';
        if (ch == '\n') break;
    }
    if (n == 0) return NULL;
    str[n] = '\0';
    s->line++;
    if (nul) {
        fail(s, "NUL byte in the line (the file is not text)");
        return NULL;
    }
    /* A full buffer without the newline is a whole line only at the end of the file. */
    if (ch != '\n' && n == num - 1 && getc(s->f) != EOF) {
        fail(s, "line too long (at most %d characters)", num - 3);
        return NULL;
    }
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    Source *s = user;
    if (s->err_line) return 0;
    return set_named(s, section, strlen(section), name, strlen(name), value) == 0;
}

/* Applies the stream's keys on top of *c; name is what messages call it. */
static int load_stream(Config *c, FILE *f, const char *name, char *err, size_t errlen)
{
    Source s = { .c = c, .file = name, .err = err, .errlen = errlen, .f = f };
    int rc = ini_parse_stream(read_line, &s, on_pair, &s);
    int read_failed = ferror(s.f);
    int saved = errno;
    fclose(s.f);
    /* inih reports the first bad line; it is a syntax error unless it is
     * the line our handler already failed on. */
    if (rc > 0 && (!s.err_line || rc < s.err_line)) {
        snprintf(err, errlen, "%s:%d: syntax error: expected [section] or key = value", name, rc);
        return -1;
    }
    if (s.err_line) return -1;
    if (read_failed) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(saved));
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

/* Applies the file's keys on top of *c.  On error *c holds the keys before
 * the bad line: callers report and exit rather than run with it. */
int config_load_file(Config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    return load_stream(c, f, path, err, errlen);
}

int config_load_text(Config *c, const char *text, const char *name, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the stored config: %s", name, strerror(errno));
        return -1;
    }
    return load_stream(c, f, name, err, errlen);
}

static size_t trimmed(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t')) (*p)++;
    while (end > *p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    return (size_t)(end - *p);
}

int config_set(Config *c, const char *assignment, char *err, size_t errlen)
{
    Source s = { .c = c, .err = err, .errlen = errlen };
    const char *eq = strchr(assignment, '=');
    const char *dot = memchr(assignment, '.', eq ? (size_t)(eq - assignment) : 0);
    if (!eq || !dot) {
        snprintf(err, errlen, "'%s': expected section.key=value", assignment);
        return -1;
    }
    const char *sec = assignment, *name = dot + 1, *v = eq + 1;
    size_t slen = trimmed(&sec, dot), nlen = trimmed(&name, eq);
    char val[2 * CONFIG_PATH_MAX];
    size_t vlen = trimmed(&v, v + strlen(v));
    if (vlen >= sizeof val) {
        snprintf(err, errlen, "%.*s.%.*s: value too long", (int)slen, sec, (int)nlen, name);
        return -1;
    }
    memcpy(val, v, vlen);
    val[vlen] = '\0';
    return set_named(&s, sec, slen, name, nlen, val);
}

void config_resolve_dropout(Config *c)
{
    for (int i = 0; i < c->nlayers; i++)
        if (c->layers[i].type == L_DROPOUT && c->layers[i].rate < 0) c->layers[i].rate = c->dropout;
}

int config_validate(const Config *c, char *err, size_t errlen)
{
    const char *fmt = format_words[c->format];
    if (!engine_available(c->engine)) {
        snprintf(err, errlen, "run.engine: %s: this build has no oneDNN (install libdnnl-dev and "
                 "rebuild, or choose openblas)", engine_name(c->engine));
        return -1;
    }
    if (c->nlayers < 1) {
        snprintf(err, errlen, "net.layer: the network has no layers");
        return -1;
    }
    if (c->format == DATA_IDX) {
        static const char *const names[] = { "train_images", "train_labels", "test_images", "test_labels" };
        const char *paths[] = { c->train_images, c->train_labels, c->test_images, c->test_labels };
        for (int i = 0; i < 4; i++)
            if (!paths[i][0]) {
                snprintf(err, errlen, "data.%s: empty, but data.format = idx needs it", names[i]);
                return -1;
            }
    } else if (!c->dir[0]) {
        snprintf(err, errlen, "data.dir: empty, but data.format = %s needs it", fmt);
        return -1;
    }
    if (c->coarse && c->format != DATA_CIFAR100) {
        snprintf(err, errlen, "data.labels: coarse labels exist only with data.format = cifar100 (got %s)", fmt);
        return -1;
    }
    /* The chunk is part of the trajectory's definition (exact mode; fast
     * has no chunks): a larger one would be run as one batch, which is not
     * what the config says. */
    if (c->reduction == REDUCE_EXACT && c->chunk > c->batch) {
        snprintf(err, errlen, "dist.chunk: %d is larger than train.batch = %d (a chunk is at most "
                 "one batch); set dist.chunk <= %d", c->chunk, c->batch, c->batch);
        return -1;
    }
    return 0;
}

/* ---- writing --------------------------------------------------------------------*/

typedef struct { char *p; size_t len, cap; int oom; } Buf;

static void put(Buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0) { b->oom = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = 2 * b->cap + (size_t)n;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q, b->cap = cap;
    }
}

/* The shortest %g form that reads back to the same bits: 0.1 rather than
 * 0.10000000000000001, yet exact (17 digits always are for doubles, 9 for
 * floats). */
static void put_number(Buf *b, double v, int is_float)
{
    char s[32];
    for (int digits = is_float ? 6 : 15; ; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, v);
        double back = strtod(s, NULL);
        if (digits >= (is_float ? 9 : 17) || (is_float ? (float)back == (float)v : back == v)) break;
    }
    put(b, "%s", s);
}

static void put_layer(Buf *b, const LayerSpec *l)
{
    put(b, "layer = %s", layer_type_name(l->type));
    for (size_t i = 0; i < NLAYERKEYS; i++) {
        if (!(layer_types[l->type].keys & layer_keys[i].bit)) continue;
        const void *f = (const char *)l + layer_keys[i].off;
        if (layer_keys[i].is_float) {
            /* rate < 0 means "use net.dropout": written as a bare dropout. */
            if (*(const float *)f >= 0) {
                put(b, " %s=", layer_keys[i].name);
                put_number(b, *(const float *)f, 1);
            }
        } else {
            put(b, " %s=%d", layer_keys[i].name, *(const int *)f);
        }
    }
    put(b, "\n");
}

/* One value in the form set_value() parses back to the same bits. */
static void put_value(Buf *b, const Config *c, const Key *k)
{
    const void *p = field(c, k);
    switch (k->type) {
    case K_INT:
        if (k->words && *(const int *)p == 0) put(b, "%s", k->words[0]);
        else put(b, "%d", *(const int *)p);
        break;
    case K_LONG: put(b, "%ld", *(const long *)p); break;
    case K_U64: put(b, "%" PRIu64, *(const uint64_t *)p); break;
    case K_DOUBLE: put_number(b, *(const double *)p, 0); break;
    case K_FLOAT: put_number(b, *(const float *)p, 1); break;
    case K_BOOL: put(b, "%s", *(const int *)p ? "true" : "false"); break;
    case K_ENUM: put(b, "%s", k->words[*(const int *)p]); break;
    case K_SHAPE: put(b, "%dx%dx%d", c->input.c, c->input.h, c->input.w); break;
    case K_STRING:
    case K_PATH: put(b, "%s", (const char *)p); break;
    case K_LAYER: break;
    }
}

/* Key k's line of the INI text ("name = value\n"; net.layer: one line per layer). */
static void put_key(Buf *b, const Config *c, const Key *k)
{
    if (k->type == K_LAYER) {
        for (int j = 0; j < c->nlayers; j++) put_layer(b, &c->layers[j]);
        return;
    }
    put(b, "%s = ", k->name);
    put_value(b, c, k);
    put(b, "\n");
}

char *config_to_ini(const Config *c)
{
    Buf b = { malloc(4096), 0, 4096, 0 };
    if (!b.p) return NULL;
    put(&b, "; inna configuration, every key resolved (paths are absolute or as given)\n");
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        if (strcmp(section, k->section)) put(&b, "%s[%s]\n", i ? "\n" : "", section = k->section);
        put_key(&b, c, k);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Key by key in table order, each value as config_to_ini writes it (what the
 * checkpoint stores and a resumed run loads back), so two values differ
 * exactly when their stored form does. */
int config_resume_check(const Config *saved, const Config *now, const char *name, char *err,
                        size_t errlen)
{
    Buf a = { malloc(256), 0, 256, 0 }, b = { malloc(256), 0, 256, 0 };
    int rc = 0;
    for (size_t i = 0; i < NKEYS && a.p && b.p && !a.oom && !b.oom; i++) {
        const Key *k = &keys[i];
        if (k->resume) continue;
        a.len = b.len = 0;
        put_key(&a, saved, k);
        put_key(&b, now, k);
        if (a.oom || b.oom || (a.len == b.len && !memcmp(a.p, b.p, a.len))) continue;
        if (!strcmp(k->section, "net"))
            snprintf(err, errlen, "%s: net.%s: the network differs from the checkpoint's; "
                     "a run resumes only with the network it was started with", name, k->name);
        else   /* one line each: the newline dropped */
            snprintf(err, errlen, "%s: %s.%s: the checkpoint has \"%.*s\", the resumed run "
                     "\"%.*s\"; only the step budget, logging, checkpoint settings, run.out "
                     "and data file paths may change on resume", name, k->section, k->name,
                     (int)a.len - 1, a.p, (int)b.len - 1, b.p);
        rc = -1;
        break;
    }
    if (!a.p || !b.p || a.oom || b.oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    free(a.p);
    free(b.p);
    return rc;
}

void config_print_keys(void *stream)
{
    FILE *f = stream;
    char head[128];
    for (size_t i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        const char *def = k->type == K_LAYER ? "(none)" : k->def[0] ? k->def : "\"\"";
        snprintf(head, sizeof head, "%s.%s = %s", k->section, k->name, def);
        /* Long defaults (the Fashion-MNIST paths) push the help to its own line. */
        if (strlen(head) > 34) fprintf(f, "  %s\n  %-34s   %s\n", head, "", k->help);
        else fprintf(f, "  %-34s   %s\n", head, k->help);
    }
    /* The resume column, for people and for tools (src/python/inna_study.py reads it). */
    fprintf(f, "\n  keys a resume may change:");
    int col = 28;
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].resume) continue;
        const int len = (int)(strlen(keys[i].section) + strlen(keys[i].name) + 2);
        if (col + len > 78) { fprintf(f, "\n   "); col = 3; }
        fprintf(f, " %s.%s", keys[i].section, keys[i].name);
        col += len;
    }
    fprintf(f, "\n");
    fprintf(f,
        "\n  net.layer = <type> key=value ...   (in the config file only; the first layer\n"
        "  line of a file replaces the inherited network, later lines append)\n"
        "    conv filters=N size=K [stride=1] [pad=0]\n"
        "    maxpool size=K [stride=1] [pad=0]     avgpool size=K [stride=1] [pad=0]\n"
        "    relu   gap   dropout [rate=R]   (no rate: net.dropout)\n"
        "  pad < size; filters, size, stride >= 1; rate in [0, 1).\n"
        "  Relative data paths in a file are relative to that file's folder.\n");
}
