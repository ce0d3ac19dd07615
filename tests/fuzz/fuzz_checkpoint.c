/* libFuzzer harness for checkpoint_load_image (include/checkpoint.h): a
 * checkpoint read from an in-memory image into a small net and optimizer.
 *
 * Input: byte 0 picks the optimizer (inna, sgd with momentum, adam, adagrad:
 * their state sizes differ, so a checkpoint of one must not load into
 * another); the rest is the image.  The net and optimizer are built afresh
 * every iteration and freed after, so that LeakSanitizer sees anything the
 * loader forgets.
 *
 * INNA_FUZZ_WRITE_SEEDS=DIR fuzz_checkpoint writes real checkpoints of this
 * net (one per optimizer, made by checkpoint_save) into DIR as seeds and
 * exits: launch/fuzz.sh uses it, so no binary seed is committed.
 *
 * By default the loader is fuzzed as it runs in production: a mutated file
 * fails the header's CRC-32 before HDF5 parses a byte, so this covers our
 * header and length checks.  INNA_FUZZ_FORGE_CRC=1 rewrites the CRC of each
 * input to match, so the bytes reach HDF5's parser: libhdf5 1.10 is not
 * hardened against hostile files and crashes there (its bugs, not ours); that
 * mode is for looking, not for CI. */
#include "fuzz_common.h"
#include "checkpoint.h"
#include "net.h"
#include "optim.h"

#include <sys/stat.h>
#include <zlib.h>

static int g_forge;   /* INNA_FUZZ_FORGE_CRC: reach HDF5 past the header CRC */

/* conv 2->4 k3 pad 1, relu, maxpool 2, conv 4->3 k1, gap: 3 classes, 2x6x6 input. */
static const LayerSpec specs[] = {
    { .type = L_CONV, .filters = 4, .size = 3, .stride = 1, .pad = 1 },
    { .type = L_RELU },
    { .type = L_MAXPOOL, .size = 2, .stride = 2 },
    { .type = L_CONV, .filters = 3, .size = 1, .stride = 1 },
    { .type = L_GAP },
};

static void build(Net *net, Optimizer *opt, float **state, OptimKind kind)
{
    char err[512] = "";
    if (net_build(net, specs, (int)(sizeof specs / sizeof specs[0]), (Shape){ 2, 6, 6 }, 4,
                  err, sizeof err) != 0) {
        fprintf(stderr, "net_build: %s\n", err);
        abort();
    }
    net_init_params(net, 1);
    OptimConfig oc = { .kind = kind, .lr = 0.01, .alpha = 0.5, .beta = 0.1, .momentum = 0.9,
                       .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
    size_t nstate = (size_t)optim_nstate(&oc) * net->nparams;
    *state = malloc((nstate ? nstate : 1) * sizeof(float));
    if (!*state) abort();
    optim_init(opt, &oc, net->nparams, *state);
    for (size_t i = 0; i < nstate; i++) (*state)[i] = (float)i * 0.25f;   /* not all zero */
    opt->initialized = nstate > 0;
}

/* One checkpoint per optimizer kind, as "<kind byte><file bytes>". */
static void write_seeds(const char *dir)
{
    char save_dir[1024], written[1024], err[512], seed[1100];
    snprintf(save_dir, sizeof save_dir, "%s/.save", dir);
    mkdir(save_dir, 0777);   /* checkpoint_save writes into an existing folder */
    for (int kind = 0; kind < 4; kind++) {
        Net net;
        Optimizer opt;
        float *state;
        build(&net, &opt, &state, (OptimKind)kind);
        CheckpointMeta m = { .step = 12 + kind, .nranks = 2, .reduce_exp = 3, .seed = 7 };
        if (checkpoint_save(save_dir, &net, &opt, &m, "[run]\nseed = 7\n", 1, written,
                            sizeof written, err, sizeof err) != 0) {
            fprintf(stderr, "checkpoint_save: %s\n", err);
            exit(1);
        }
        FILE *in = fopen(written, "rb");
        snprintf(seed, sizeof seed, "%s/ckpt_kind%d", dir, kind);
        FILE *out = fopen(seed, "wb");
        if (!in || !out) { perror(seed); exit(1); }
        fputc(kind, out);
        for (int ch; (ch = getc(in)) != EOF;) fputc(ch, out);
        fclose(in);
        if (fclose(out) != 0) { perror(seed); exit(1); }
        unlink(written);
        free(state);
        net_free(&net);
    }
    /* What checkpoint_save leaves besides the file: the latest.h5 link. */
    snprintf(written, sizeof written, "%s/latest.h5", save_dir);
    unlink(written);
    rmdir(save_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("INNA_FUZZ_WRITE_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    g_forge = getenv("INNA_FUZZ_FORGE_CRC") && atoi(getenv("INNA_FUZZ_FORGE_CRC"));
    return 0;
}

/* Writes the CRC-32 of the bytes after the 512-byte header into the header's
 * "crc32 XXXXXXXX" field, if the image has one. */
static void forge_crc(uint8_t *img, size_t len)
{
    if (len <= CHECKPOINT_USERBLOCK) return;
    uint8_t *field = memmem(img, CHECKPOINT_USERBLOCK, "crc32 ", 6);
    if (!field || field + 14 > img + CHECKPOINT_USERBLOCK) return;
    unsigned long crc = crc32_z(0L, img + CHECKPOINT_USERBLOCK, len - CHECKPOINT_USERBLOCK);
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", crc);
    memcpy(field + 6, hex, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t *copy = NULL;
    if (g_forge) {
        copy = malloc(size);
        memcpy(copy, data, size);
        forge_crc(copy + 1, size - 1);
        data = copy;
    }
    Net net;
    Optimizer opt;
    float *state;
    build(&net, &opt, &state, (OptimKind)(data[0] % 4));
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    char err[512] = "";
    if (checkpoint_load_image(data + 1, size - 1, "fuzz.ckpt", &net, &opt, &meta, err,
                              sizeof err) != 0 && !err[0])
        abort();   /* a failure always says why */
    free(copy);
    free(state);
    net_free(&net);
    return 0;
}
