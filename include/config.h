/* The run configuration: INI files (parsed by inih) plus --set overrides,
 * every key described once in a table in src/config/config.c. */
#ifndef INNA_CONFIG_H
#define INNA_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include "engine.h"
#include "layers.h"
#include "optim.h"

#define CONFIG_MAX_LAYERS 64
#define CONFIG_PATH_MAX 1024

typedef enum { SAMPLE_SHUFFLE, SAMPLE_IID, SAMPLE_SEQUENTIAL } Sampling;
typedef enum { DATA_IDX, DATA_CIFAR10, DATA_CIFAR100 } DataFormat;
typedef enum { REDUCE_EXACT, REDUCE_FAST } Reduction;
/* Names in enum order, NULL-ended (train.sampling's and dist.reduction's
 * words); the lookups give "?" out of range. */
extern const char *const config_sampling_names[];
extern const char *const config_reduction_names[];
const char *sampling_name(Sampling s);
const char *reduction_name(Reduction r);

typedef struct {
    /* [run] */
    uint64_t seed;                  /* seed = 1                           */
    char out[CONFIG_PATH_MAX];      /* out = runs/default (run folder)    */
    int threads;                    /* threads = auto (0): workers (exact) or BLAS threads (fast) per rank */
    long check_every;               /* check_every = 100 (steps between rank-agreement checks; 0 = never) */
    double log_every;               /* log_every = 60 (seconds between progress lines in a log; 0 = never) */
    EngineKind engine;              /* engine = auto | onednn | openblas  */
    /* [dist] */
    Reduction reduction;            /* reduction = exact | fast           */
    int chunk;                      /* chunk = 16 (samples per unit of work, exact) */
    int gather;                     /* gather = 8 (exact: gather chunk gradients up to this many chunks) */
    /* [checkpoint] */
    long ckpt_every;                /* every = 500 (steps; 0 = off)       */
    int ckpt_epoch;                 /* epoch = true                       */
    int ckpt_initial;               /* initial = false (also at step 0)   */
    int ckpt_keep;                  /* keep = 3                           */
    /* [train] */
    int batch;                      /* batch = 32 (global minibatch, >= 1) */
    long epochs;                    /* epochs = 1 (>= 0)                  */
    long steps;                     /* steps = -1 (>= 0 overrides epochs; -1 = use epochs) */
    Sampling sampling;              /* sampling = shuffle | iid | sequential */
    /* [optim] */
    OptimConfig optim;              /* name, lr, q, weight_decay, alpha, beta, psi0, momentum, nesterov, beta1, beta2, eps */
    /* [data] */
    DataFormat format;              /* format = idx | cifar10 | cifar100  */
    char dir[CONFIG_PATH_MAX];      /* dir: folder of the CIFAR .bin files */
    char train_images[CONFIG_PATH_MAX], train_labels[CONFIG_PATH_MAX];
    char test_images[CONFIG_PATH_MAX], test_labels[CONFIG_PATH_MAX];
    int classes;                    /* classes = 10 (idx only)            */
    int coarse;                     /* labels = fine | coarse (cifar100)  */
    int standardize;                /* standardize = true                 */
    int augment;                    /* augment = false (crop + flip)      */
    int crop_pad;                   /* crop_pad = 4                       */
    long train_limit, test_limit;   /* 0 = all samples                    */
    /* [net] */
    Shape input;                    /* input = 1x28x28 (CxHxW)            */
    float dropout;                  /* dropout = 0.5 (rate of layers that give none) */
    int nlayers;                    /* layer = <type> key=value ... (repeated, in order) */
    LayerSpec layers[CONFIG_MAX_LAYERS];
} Config;

void config_defaults(Config *c);
/* Each returns 0, or -1 with err = one line naming the file/key and the
 * problem, e.g. "optim.beta: must be > 0 (got -1)". */
int config_load_file(Config *c, const char *path, char *err, size_t errlen);
int config_set(Config *c, const char *assignment, char *err, size_t errlen); /* "optim.beta=0.2" */
/* config_load_file on INI text held in memory (a checkpoint's stored config). */
int config_load_text(Config *c, const char *text, const char *name, char *err, size_t errlen);
/* Refuses a resumed run whose config differs from the checkpoint's in a key
 * the key table does not mark "may change on resume" (the step budget,
 * logging, checkpoint settings, run.out and data file paths); err names the
 * first such key and both values. */
int config_resume_check(const Config *saved, const Config *now, const char *name, char *err,
                        size_t errlen);
int config_validate(const Config *c, char *err, size_t errlen);
/* Dropout layers without a rate of their own take net.dropout. */
void config_resolve_dropout(Config *c);
/* The resolved configuration as INI text that config_load_file reads back
 * to the same Config.  Returns a malloc'd string. */
char *config_to_ini(const Config *c);
/* Prints every key with its default and meaning (for --help). */
void config_print_keys(void *stream);
#endif
