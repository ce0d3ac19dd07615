/* Data readers and the batch builder.  Every file is generated here, in the
 * real formats, with known pixels and labels; then broken variants of them
 * must fail with an error naming the file and the problem. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "data.h"
#include "rng.h"

static char tmpdir[256];

/* ---- file helpers ------------------------------------------------------ */

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", tmpdir, name);
    return buf;
}

static void write_raw(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len) { perror(path); exit(2); }
    fclose(f);
}

static void write_gz(const char *path, const uint8_t *p, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (g == NULL || gzwrite(g, p, (unsigned)len) != (int)len) { perror(path); exit(2); }
    gzclose(g);
}

static uint8_t *read_raw(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *p = malloc(*len);
    if (p == NULL || fread(p, 1, *len, f) != *len) { perror(path); exit(2); }
    fclose(f);
    return p;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void remove_tmpdir(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    char buf[512];
    if (dir == NULL) return;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(tpath(buf, e->d_name));
    closedir(dir);
    rmdir(tmpdir);
}

/* ---- known contents ---------------------------------------------------- */

/* Distinct-ish, position-dependent pixel values, so a misplaced byte shows. */
static uint8_t pix(long i, int ch, int y, int x)
{
    return (uint8_t)(i * 37 + ch * 101 + y * 11 + x * 3 + 5);
}

/* An IDX images file: header then count*rows*cols pixels; *len set. */
static uint8_t *idx_images(uint32_t count, uint32_t rows, uint32_t cols, size_t *len)
{
    *len = 16 + (size_t)count * rows * cols;
    uint8_t *p = malloc(*len);
    put_be32(p, 0x803), put_be32(p + 4, count), put_be32(p + 8, rows), put_be32(p + 12, cols);
    for (uint32_t i = 0; i < count; i++)
        for (uint32_t y = 0; y < rows; y++)
            for (uint32_t x = 0; x < cols; x++)
                p[16 + ((size_t)i * rows + y) * cols + x] = pix(i, 0, (int)y, (int)x);
    return p;
}

static uint8_t *idx_labels(uint32_t count, size_t *len)
{
    *len = 8 + count;
    uint8_t *p = malloc(*len);
    put_be32(p, 0x801), put_be32(p + 4, count);
    for (uint32_t i = 0; i < count; i++) p[8 + i] = (uint8_t)((i * 3) % 10);
    return p;
}

/* CIFAR records for samples first..first+count-1; label bytes from the index. */
static uint8_t *cifar_records(long first, long count, int cifar100, size_t *len)
{
    size_t rec = (cifar100 ? 2 : 1) + 3072;
    *len = rec * (size_t)count;
    uint8_t *p = malloc(*len);
    for (long r = 0; r < count; r++) {
        long i = first + r;
        uint8_t *q = p + rec * (size_t)r;
        if (cifar100) q[0] = (uint8_t)(i % 20), q[1] = (uint8_t)((i * 7) % 100);
        else q[0] = (uint8_t)((i * 3) % 10);
        q += rec - 3072;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) q[ch * 1024 + y * 32 + x] = pix(i, ch, y, x);
    }
    return p;
}

/* Every pixel and label of d matches pix() and the label rule. */
static int pixels_match(const Dataset *d, int (*label)(long))
{
    for (long i = 0; i < d->n; i++) {
        if (d->labels[i] != label(i)) return 0;
        for (int ch = 0; ch < d->c; ch++)
            for (int y = 0; y < d->h; y++)
                for (int x = 0; x < d->w; x++)
                    if (d->pixels[((i * d->c + ch) * d->h + y) * d->w + x] != pix(i, ch, y, x))
                        return 0;
    }
    return 1;
}

static int idx_label(long i) { return (int)((i * 3) % 10); }
static int c100_fine(long i) { return (int)((i * 7) % 100); }
static int c100_coarse(long i) { return (int)(i % 20); }

/* ---- well-formed files ------------------------------------------------- */

static void test_idx_good(void)
{
    char ip[512], lp[512], igz[512], lgz[512], err[512] = "";
    size_t ilen, llen;
    uint8_t *im = idx_images(7, 5, 4, &ilen), *lb = idx_labels(7, &llen);
    write_raw(tpath(ip, "img.idx"), im, ilen);
    write_raw(tpath(lp, "lab.idx"), lb, llen);
    write_gz(tpath(igz, "img.idx.gz"), im, ilen);
    write_gz(tpath(lgz, "lab.idx.gz"), lb, llen);

    const char *pairs[3][2] = { {ip, lp}, {igz, lgz}, {igz, lp} };   /* raw, gz, mixed */
    for (int k = 0; k < 3; k++) {
        Dataset d;
        int rc = idx_load(&d, pairs[k][0], pairs[k][1], 10, err, sizeof err);
        CHECK(rc == 0);
        if (rc) { fprintf(stderr, "%s\n", err); continue; }
        CHECK(d.n == 7 && d.c == 1 && d.h == 5 && d.w == 4 && d.classes == 10);
        CHECK(pixels_match(&d, idx_label));
        dataset_free(&d);
        CHECK(d.pixels == NULL && d.labels == NULL && d.n == 0);
    }
    free(im), free(lb);
}

static void test_cifar_good(void)
{
    char p1[512], p2[512], err[512] = "";
    size_t l1, l2;
    Dataset d;

    /* CIFAR-10 split over two files: samples 0-2 and 3-4. */
    uint8_t *a = cifar_records(0, 3, 0, &l1), *b = cifar_records(3, 2, 0, &l2);
    write_raw(tpath(p1, "c10_1.bin"), a, l1);
    write_raw(tpath(p2, "c10_2.bin"), b, l2);
    const char *paths10[2] = { p1, p2 };
    int rc = cifar_load(&d, paths10, 2, 0, 0, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(d.n == 5 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10);
        CHECK(pixels_match(&d, idx_label));
        dataset_free(&d);
    } else fprintf(stderr, "%s\n", err);
    free(a), free(b);

    /* CIFAR-100, fine then coarse labels, 25 records so coarse covers 0..19. */
    a = cifar_records(0, 25, 1, &l1);
    write_raw(tpath(p1, "c100.bin"), a, l1);
    const char *paths100[1] = { p1 };
    for (int coarse = 0; coarse <= 1; coarse++) {
        rc = cifar_load(&d, paths100, 1, 1, coarse, err, sizeof err);
        CHECK(rc == 0);
        if (rc) { fprintf(stderr, "%s\n", err); continue; }
        CHECK(d.n == 25 && d.c == 3 && d.h == 32 && d.w == 32);
        CHECK(d.classes == (coarse ? 20 : 100));
        CHECK(pixels_match(&d, coarse ? c100_coarse : c100_fine));
        dataset_free(&d);
    }
    free(a);
}

/* ---- broken files ------------------------------------------------------ */

/* A load must fail, leave d empty, and name the file and the problem. */
static void expect_fail(int rc, const Dataset *d, const char *err, const char *path,
                        const char *word, int line)
{
    int ok = rc != 0 && d->pixels == NULL && d->labels == NULL && d->n == 0 &&
             strstr(err, path) != NULL && strstr(err, word) != NULL &&
             strchr(err, '\n') == NULL;
    if (!ok) {
        fprintf(stderr, "%s:%d: expected failure naming '%s' and '%s'; rc=%d err='%s'\n",
                __FILE__, line, path, word, rc, err);
        check_failed_count++;
    }
}

#define IDX_FAIL(img, lab, classes, path, word) do { Dataset _d; char _e[512] = ""; \
    int _rc = idx_load(&_d, img, lab, classes, _e, sizeof _e); \
    expect_fail(_rc, &_d, _e, path, word, __LINE__); \
    if (_rc == 0) dataset_free(&_d); } while (0)

#define CIFAR_FAIL(paths, np, c100, coarse, path, word) do { Dataset _d; char _e[512] = ""; \
    int _rc = cifar_load(&_d, paths, np, c100, coarse, _e, sizeof _e); \
    expect_fail(_rc, &_d, _e, path, word, __LINE__); \
    if (_rc == 0) dataset_free(&_d); } while (0)

static void test_idx_broken(void)
{
    char ip[512], lp[512], bp[512], bp2[512], err[512] = "";
    size_t ilen, llen;
    uint8_t *im = idx_images(7, 5, 4, &ilen), *lb = idx_labels(7, &llen);
    write_raw(tpath(ip, "good_img"), im, ilen);
    write_raw(tpath(lp, "good_lab"), lb, llen);

    /* Truncated pixels, raw and gzip: the exact byte counts are reported. */
    write_raw(tpath(bp, "short_img"), im, ilen - 10);
    IDX_FAIL(bp, lp, 10, bp, "truncated: expected 140 bytes of pixels, got 130");
    write_gz(tpath(bp, "short_img.gz"), im, ilen - 10);
    IDX_FAIL(bp, lp, 10, bp, "truncated: expected 140 bytes of pixels, got 130");
    write_raw(tpath(bp, "short_lab"), lb, llen - 1);
    IDX_FAIL(ip, bp, 10, bp, "truncated: expected 7 bytes of labels, got 6");
    write_raw(tpath(bp, "short_hdr"), im, 10);
    IDX_FAIL(bp, lp, 10, bp, "truncated header");
    write_raw(tpath(bp, "empty"), im, 0);
    IDX_FAIL(bp, lp, 10, bp, "truncated header");

    /* A gzip file cut in the middle of its compressed stream. */
    write_gz(tpath(bp, "cut.gz"), im, ilen);
    size_t glen;
    uint8_t *gz = read_raw(bp, &glen);
    write_raw(tpath(bp2, "cut2.gz"), gz, glen / 2);
    IDX_FAIL(bp2, lp, 10, bp2, "truncated");
    /* ... and cut inside its 8-byte trailer: all data present, CRC missing. */
    write_raw(tpath(bp2, "cut3.gz"), gz, glen - 3);
    IDX_FAIL(bp2, lp, 10, bp2, "truncated");
    /* A flipped CRC: the data decode fine but fail the check. */
    gz[glen - 8] ^= 0x55;
    write_raw(tpath(bp2, "badcrc.gz"), gz, glen);
    IDX_FAIL(bp2, lp, 10, bp2, "corrupt");
    free(gz);

    /* Corrupted deflate body of a bigger, less regular file. */
    size_t blen;
    uint8_t *big = idx_images(300, 28, 28, &blen);
    for (size_t k = 16; k < blen; k++) big[k] = (uint8_t)(rng_u64(42, k) % 7 * 30);
    write_gz(tpath(bp, "body.gz"), big, blen);
    gz = read_raw(bp, &glen);
    for (size_t k = glen / 2; k < glen / 2 + 16; k++) gz[k] ^= 0xA5;
    write_raw(tpath(bp2, "body_bad.gz"), gz, glen);
    IDX_FAIL(bp2, lp, 10, bp2, "corrupt");
    free(gz), free(big);

    /* Wrong kind of file: the labels file given as images and vice versa. */
    IDX_FAIL(lp, lp, 10, lp, "bad magic 0x00000801, expected 0x00000803");
    IDX_FAIL(ip, ip, 10, ip, "bad magic 0x00000803, expected 0x00000801");

    /* Label out of range: 12 at index 5. */
    lb[8 + 5] = 12;
    write_raw(tpath(bp, "lab12"), lb, llen);
    IDX_FAIL(ip, bp, 10, bp, "label 12 at index 5 out of range [0, 10)");
    lb[8 + 5] = 5;
    /* ... while 12 classes accept it: the limit really is the argument. */
    {
        Dataset d;
        lb[8 + 5] = 11;
        write_raw(tpath(bp, "lab11"), lb, llen);
        int rc = idx_load(&d, ip, bp, 12, err, sizeof err);
        CHECK(rc == 0 && d.classes == 12 && d.labels[5] == 11);
        if (rc == 0) dataset_free(&d);
        lb[8 + 5] = 5;
    }

    /* Count mismatch: 6 labels for 7 images. */
    size_t l6len;
    uint8_t *l6 = idx_labels(6, &l6len);
    write_raw(tpath(bp, "lab6"), l6, l6len);
    IDX_FAIL(ip, bp, 10, ip, "count mismatch");
    free(l6);

    /* Extra data after what the header declares. */
    uint8_t *longer = malloc(ilen + 3);
    memcpy(longer, im, ilen), memset(longer + ilen, 0, 3);
    write_raw(tpath(bp, "long_img"), longer, ilen + 3);
    IDX_FAIL(bp, lp, 10, bp, "trailing");
    free(longer);

    /* Zero images and absurd dimensions. */
    size_t zlen, z0len;
    uint8_t *z = idx_images(0, 5, 4, &zlen), *l0 = idx_labels(0, &z0len);
    write_raw(tpath(bp, "zero_img"), z, zlen);
    write_raw(tpath(bp2, "zero_lab"), l0, z0len);
    IDX_FAIL(bp, bp2, 10, bp, "no images");
    free(z), free(l0);
    put_be32(im + 8, 0);
    write_raw(tpath(bp, "rows0"), im, ilen);
    IDX_FAIL(bp, lp, 10, bp, "dimensions");
    put_be32(im + 8, 5000);
    write_raw(tpath(bp, "rows5000"), im, ilen);
    IDX_FAIL(bp, lp, 10, bp, "dimensions");

    /* Missing files, either one. */
    tpath(bp, "no_such_file");
    IDX_FAIL(bp, lp, 10, bp, "No such file");
    IDX_FAIL(ip, bp, 10, bp, "No such file");
    free(im), free(lb);
}

static void test_cifar_broken(void)
{
    char p1[512], p2[512];
    size_t len;

    uint8_t *a = cifar_records(0, 4, 0, &len);
    write_raw(tpath(p1, "c10_ok.bin"), a, len);
    /* Size not a multiple of the record, in the second file. */
    write_raw(tpath(p2, "c10_short.bin"), a, len - 100);
    const char *two[2] = { p1, p2 };
    CIFAR_FAIL(two, 2, 0, 0, p2, "size 12192 is not a positive multiple of the record size 3073");
    write_raw(tpath(p2, "c10_empty.bin"), a, 0);
    CIFAR_FAIL(two, 2, 0, 0, p2, "record size");
    /* A CIFAR-10 file read as CIFAR-100: 4 * 3073 is not a multiple of 3074. */
    const char *one[1] = { p1 };
    CIFAR_FAIL(one, 1, 1, 0, p1, "multiple");
    /* Label 10 in the third record. */
    a[2 * 3073] = 10;
    write_raw(tpath(p2, "c10_lab10.bin"), a, len);
    CIFAR_FAIL(two, 2, 0, 0, p2, "label 10 at index 2 out of range [0, 10)");
    free(a);

    a = cifar_records(0, 3, 1, &len);
    a[1 * 3074 + 1] = 100;   /* fine label of record 1 */
    write_raw(tpath(p1, "c100_fine.bin"), a, len);
    CIFAR_FAIL(one, 1, 1, 0, p1, "fine label 100 at index 1 out of range [0, 100)");
    a[1 * 3074 + 1] = 99;
    a[2 * 3074] = 20;        /* coarse label of record 2 */
    write_raw(tpath(p1, "c100_coarse.bin"), a, len);
    CIFAR_FAIL(one, 1, 1, 1, p1, "coarse label 20 at index 2 out of range [0, 20)");
    free(a);

    tpath(p1, "c10_ok.bin");   /* still on disk */
    tpath(p2, "no_such.bin");
    CIFAR_FAIL(two, 2, 0, 0, p2, "No such file");
}

/* ---- batches ----------------------------------------------------------- */

/* An in-memory data set of n samples, c x h x w, pixels from pix(). */
static Dataset make_set(long n, int c, int h, int w)
{
    Dataset d = { n, c, h, w, 10, malloc((size_t)n * c * h * w), malloc((size_t)n) };
    for (long i = 0; i < n; i++) {
        d.labels[i] = (uint8_t)(i % 10);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    d.pixels[((i * c + ch) * h + y) * w + x] = pix(i, ch, y, x);
    }
    return d;
}

static void test_batch_layout(void)
{
    Dataset d = make_set(5, 3, 2, 3);
    long idx[3] = { 4, 0, 2 };
    float x[3 * 3 * 6];
    int labels[3];
    InputTransform plain = {0};
    InputTransform stdz = { 1, { 0.5f, 0.25f, 0.1f }, { 0.5f, 2.0f, 0.25f }, 0, 0 };

    data_make_batch(&d, idx, 3, &plain, 1, 0, x, labels);
    for (int i = 0; i < 3; i++) {
        CHECK(labels[i] == (int)(idx[i] % 10));
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 2; y++)
                for (int xc = 0; xc < 3; xc++)
                    CHECK(x[((ch * 3) + i) * 6 + y * 3 + xc] ==
                          (float)pix(idx[i], ch, y, xc) / 255.0f);
    }
    /* NULL transform means no transform. */
    float y[3 * 3 * 6];
    data_make_batch(&d, idx, 3, NULL, 1, 0, y, labels);
    CHECK(memcmp(x, y, sizeof x) == 0);

    data_make_batch(&d, idx, 3, &stdz, 1, 0, x, labels);
    for (int i = 0; i < 3; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 6; k++) {
                double p = pix(idx[i], ch, k / 3, k % 3) / 255.0;
                CHECK_CLOSE(x[((ch * 3) + i) * 6 + k], (p - stdz.mean[ch]) / stdz.std[ch], 1e-6);
            }
    dataset_free(&d);
}

static void test_channel_stats(void)
{
    /* Two samples, 3 channels of 1x2 pixels.
     *   ch0: 0, 255, 255, 255      -> mean 0.75, var 0.1875
     *   ch1: 51, 102, 153, 204     -> 0.2..0.8: mean 0.5, var 0.05
     *   ch2: 10 everywhere         -> mean 10/255, std 0 */
    uint8_t px[12] = { 0, 255, 51, 102, 10, 10,   255, 255, 153, 204, 10, 10 };
    uint8_t lb[2] = { 0, 1 };
    Dataset d = { 2, 3, 1, 2, 10, px, lb };
    float mean[3], std[3];
    dataset_channel_stats(&d, mean, std);
    CHECK_CLOSE(mean[0], 0.75, 1e-6);
    CHECK_CLOSE(std[0], sqrt(0.1875), 1e-6);
    CHECK_CLOSE(mean[1], 0.5, 1e-6);
    CHECK_CLOSE(std[1], sqrt(0.05), 1e-6);
    CHECK_CLOSE(mean[2], 10.0 / 255.0, 1e-6);
    CHECK(std[2] == 0.0f);

    /* One channel: the unused ones are neutral. */
    uint8_t g[4] = { 0, 255, 0, 255 };
    Dataset m = { 1, 1, 2, 2, 10, g, lb };
    dataset_channel_stats(&m, mean, std);
    CHECK_CLOSE(mean[0], 0.5, 1e-6);
    CHECK_CLOSE(std[0], 0.5, 1e-6);
    CHECK(mean[1] == 0.0f && std[1] == 1.0f && mean[2] == 0.0f && std[2] == 1.0f);
}

/* The planes of sample i of an n-sample batch, copied into out[c][h*w]. */
static void sample_planes(const float *x, int n, int i, int c, int plane, float *out)
{
    for (int ch = 0; ch < c; ch++)
        memcpy(out + (size_t)ch * plane, x + ((size_t)ch * n + i) * plane, plane * sizeof *out);
}

enum { AN = 24, AC = 3, AH = 8, AW = 8, APL = AH * AW };

static void test_augment_deterministic(void)
{
    Dataset d = make_set(AN, AC, AH, AW);
    InputTransform t = { 1, { 0.4f, 0.5f, 0.6f }, { 0.2f, 0.3f, 0.25f }, 1, 2 };
    long all[AN], few[3] = { 17, 3, 17 };
    static float xa[AC * AN * APL], xb[AC * 3 * APL], xe[AC * AN * APL], xs[AC * AN * APL];
    float pa[AC * APL], pb[AC * APL];
    int la[AN], lb[3];
    for (int i = 0; i < AN; i++) all[i] = AN - 1 - i;   /* reversed order */

    data_make_batch(&d, all, AN, &t, 7, 3, xa, la);
    data_make_batch(&d, few, 3, &t, 7, 3, xb, lb);
    /* (a) same (seed, epoch, index) -> same sample, wherever it sits. */
    for (int j = 0; j < 3; j++) {
        sample_planes(xa, AN, (int)(AN - 1 - few[j]), AC, APL, pa);
        sample_planes(xb, 3, j, AC, APL, pb);
        CHECK(memcmp(pa, pb, sizeof pa) == 0);
        CHECK(lb[j] == (int)(few[j] % 10));
    }
    /* (b) another epoch or another seed crops differently for some samples. */
    data_make_batch(&d, all, AN, &t, 7, 4, xe, la);
    data_make_batch(&d, all, AN, &t, 8, 3, xs, la);
    int diff_epoch = 0, diff_seed = 0;
    for (int i = 0; i < AN; i++) {
        sample_planes(xa, AN, i, AC, APL, pa);
        sample_planes(xe, AN, i, AC, APL, pb);
        diff_epoch += memcmp(pa, pb, sizeof pa) != 0;
        sample_planes(xs, AN, i, AC, APL, pb);
        diff_seed += memcmp(pa, pb, sizeof pa) != 0;
    }
    CHECK(diff_epoch > 0);
    CHECK(diff_seed > 0);
    dataset_free(&d);
}

/* Reference crop: build the zero-padded image explicitly, cut the window at
 * (dy, dx), mirror if flip, then transform like the plain path. */
static void reference_sample(const Dataset *d, long s, const InputTransform *t,
                             int dy, int dx, int flip, float *out)
{
    int p = t->crop_pad, pw = d->w + 2 * p;
    uint8_t padded[(AH + 8) * (AW + 8)];
    for (int ch = 0; ch < d->c; ch++) {
        memset(padded, 0, sizeof padded);
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++)
                padded[(y + p) * pw + x + p] = d->pixels[((s * d->c + ch) * d->h + y) * d->w + x];
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++) {
                int cx = flip ? d->w - 1 - x : x;
                float v = (float)padded[(y + dy) * pw + cx + dx] / 255.0f;
                if (t->standardize) v = (v - t->mean[ch]) / t->std[ch];
                out[(ch * d->h + y) * d->w + x] = v;
            }
    }
}

static void test_augment_crop_flip(void)
{
    Dataset d = make_set(AN, AC, AH, AW);
    InputTransform t = { 1, { 0.4f, 0.5f, 0.6f }, { 0.2f, 0.3f, 0.25f }, 1, 3 };
    long all[AN];
    static float x[AC * AN * APL];
    float got[AC * APL], want[AC * APL];
    int labels[AN], flips = 0, shifted = 0;
    for (int i = 0; i < AN; i++) all[i] = i;

    /* Crop + flip against the reference, with the draws recomputed here. */
    data_make_batch(&d, all, AN, &t, 99, 5, x, labels);
    for (int i = 0; i < AN; i++) {
        uint64_t key = rng_key(99, RNG_AUGMENT, 5, (uint64_t)i);
        int dy = (int)rng_below(key, 0, 7), dx = (int)rng_below(key, 1, 7);
        int flip = rng_uniform(key, 2) < 0.5f;
        flips += flip, shifted += dy != 3 || dx != 3;
        reference_sample(&d, i, &t, dy, dx, flip, want);
        sample_planes(x, AN, i, AC, APL, got);
        for (int k = 0; k < AC * APL; k++) CHECK_CLOSE(got[k], want[k], 1e-6);
    }
    CHECK(flips > 0 && flips < AN && shifted > 0);   /* the cases were exercised */

    /* (c) crop_pad 0: a sample whose flip draw is set is the mirror image. */
    t.crop_pad = 0, t.standardize = 0;
    long fl = -1, nf = -1;
    for (long i = 0; i < AN && (fl < 0 || nf < 0); i++) {
        int flip = rng_uniform(rng_key(99, RNG_AUGMENT, 5, (uint64_t)i), 2) < 0.5f;
        if (flip && fl < 0) fl = i;
        if (!flip && nf < 0) nf = i;
    }
    CHECK(fl >= 0 && nf >= 0);
    if (fl >= 0 && nf >= 0) {
        long two[2] = { fl, nf };
        float y[AC * 2 * APL];
        data_make_batch(&d, two, 2, &t, 99, 5, y, labels);
        for (int ch = 0; ch < AC; ch++)
            for (int r = 0; r < AH; r++)
                for (int c = 0; c < AW; c++) {
                    CHECK(y[((ch * 2) + 0) * APL + r * AW + c] ==
                          (float)pix(fl, ch, r, AW - 1 - c) / 255.0f);
                    CHECK(y[((ch * 2) + 1) * APL + r * AW + c] ==
                          (float)pix(nf, ch, r, c) / 255.0f);
                }
    }
    dataset_free(&d);
}

/* ---- the real data, when installed ------------------------------------- */

/* Returns 0 when checked, 77 (CTest's skipped) when the files are missing. */
static int test_fashion_mnist(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    const char *sets[2][2] = { { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz" },
                               { "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" } };
    long sizes[2] = { 60000, 10000 };
    char ip[512], lp[512], err[512] = "";
    for (int k = 0; k < 2; k++) {
        snprintf(ip, sizeof ip, "%s/%s", dir, sets[k][0]);
        snprintf(lp, sizeof lp, "%s/%s", dir, sets[k][1]);
        if (access(ip, R_OK) != 0 || access(lp, R_OK) != 0) {
            printf("skipped: %s is not there (Debian's dataset-fashion-mnist)\n", ip);
            return 77;
        }
        Dataset d;
        int rc = idx_load(&d, ip, lp, 10, err, sizeof err);
        CHECK(rc == 0);
        if (rc) { fprintf(stderr, "%s\n", err); continue; }
        CHECK(d.n == sizes[k] && d.c == 1 && d.h == 28 && d.w == 28 && d.classes == 10);
        int bad = 0, seen[10] = {0};
        for (long i = 0; i < d.n; i++) {
            bad += d.labels[i] >= 10;
            if (d.labels[i] < 10) seen[d.labels[i]]++;
        }
        CHECK(bad == 0);
        for (int c = 0; c < 10; c++) CHECK(seen[c] == sizes[k] / 10);   /* balanced */
        if (k == 0) {   /* the widely quoted training-set statistics */
            float mean[3], std[3];
            dataset_channel_stats(&d, mean, std);
            CHECK_CLOSE(mean[0], 0.2860, 1e-3);
            CHECK_CLOSE(std[0], 0.3530, 1e-3);
        }
        dataset_free(&d);
    }
    return 0;
}

/* test_data fashion-mnist: only the real data set's check (its own CTest
 * test, skipped where the data set is not installed). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fashion-mnist") == 0) {
        const int rc = test_fashion_mnist();
        return rc ? rc : check_report("test_data fashion-mnist");
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/inna-test-data-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) { perror("mkdtemp"); return 2; }
    test_idx_good();
    test_cifar_good();
    test_idx_broken();
    test_cifar_broken();
    remove_tmpdir();
    test_batch_layout();
    test_channel_stats();
    test_augment_deterministic();
    test_augment_crop_flip();
    return check_report("test_data");
}
