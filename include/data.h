/* Data sets in memory as raw bytes, and the one function that turns a list of
 * global sample indices into a network input batch. */
#ifndef INNA_DATA_H
#define INNA_DATA_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    long n;            /* number of samples                                  */
    int c, h, w;       /* per-sample shape                                   */
    int classes;       /* labels are in [0, classes)                         */
    uint8_t *pixels;   /* n * c * h * w bytes, each sample CHW row-major      */
    uint8_t *labels;   /* n bytes                                            */
} Dataset;

/* How bytes become floats: x = (p/255 - mean[c]) / std[c] when standardize,
 * else p/255.  Augmentation (crop from a zero-padded image, horizontal flip)
 * is keyed by (seed, epoch, global sample index) only. */
typedef struct {
    int standardize;
    float mean[3], std[3];  /* per channel, from the training set            */
    int augment;            /* 0 none, 1 random crop (pad crop_pad) + flip    */
    int crop_pad;
} InputTransform;

/* All loaders return 0 on success; on failure a non-zero value, nothing
 * allocated, and err holds one line naming the file and what is wrong, e.g.
 * "train-images.gz: bad magic 0x00000801, expected 0x00000803". */

/* IDX (MNIST/Fashion-MNIST): images magic 0x00000803, labels 0x00000801;
 * gzip or raw (detected by content, via zlib's gzread).  Labels must be
 * < classes.  Counts of images and labels must agree. */
int idx_load(Dataset *d, const char *images_path, const char *labels_path,
             int classes, char *err, size_t errlen);

/* CIFAR-10 (record: label, 3072 px) or CIFAR-100 (coarse, fine, 3072 px)
 * binary files, concatenated in the order given.  cifar100: 0/1; coarse: use
 * coarse labels (20 classes) instead of fine (100). */
int cifar_load(Dataset *d, const char *const *paths, int npaths, int cifar100,
               int coarse, char *err, size_t errlen);

void dataset_free(Dataset *d);

/* Per-channel mean and standard deviation of p/255 over the whole set. */
void dataset_channel_stats(const Dataset *d, float mean[3], float std[3]);

/* Writes n samples into x in the network's batch layout [c][n][h][w]:
 * x[((ch * n) + i) * h * w + y * w + x].  idx[i] are global sample indices. */
void data_make_batch(const Dataset *d, const long *idx, int n,
                     const InputTransform *t, uint64_t seed, long epoch,
                     float *x, int *labels);
#endif
