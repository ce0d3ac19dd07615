/* libFuzzer harness for idx_load (src/data/idx.c).
 *
 * Input: 3 header bytes, then the payload.
 *   byte 0, bits 0-1: 0 = payload is the images file, labels made to match
 *                         its header's count (so the fuzzer gets past the
 *                         count check without having to guess it);
 *                     1 = payload is the labels file, images made to match;
 *                     2, 3 = payload split into images | labels at the
 *                         big-endian offset in bytes 1-2 (mod length + 1).
 *           bit 2 / bit 3: the harness gzips the images / labels file, so
 *                         the gzip path sees the same structure as the raw
 *                         one (a payload that is itself gzip covers corrupt
 *                         streams);
 *           bits 4-5: bytes cut off the end of each gzipped file: 0, 1, 4, 8
 *                         (trailer cut: the "truncated gzip stream" paths);
 *           bits 6-7: classes 10, 256, 1, or an invalid 0. */
#include "fuzz_common.h"
#include "data.h"

static MemFile images_file, labels_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* A valid IDX file whose count is the one the other file's header gives
 * (capped: the partner only has to be plausible, not huge). */
static uint8_t *make_partner(const uint8_t *other, size_t olen, int images, int classes,
                             size_t *len)
{
    uint32_t count = olen >= 8 ? be32(other + 4) : 1;
    if (count > 4096) count = 4096;
    size_t hlen = images ? 16 : 8, item = images ? 4 : 1;   /* 2x2 images */
    *len = hlen + count * item;
    uint8_t *p = malloc(*len);
    if (!p) abort();
    put_be32(p, images ? 0x803 : 0x801);
    put_be32(p + 4, count);
    if (images) put_be32(p + 8, 2), put_be32(p + 12, 2);
    for (size_t i = 0; i < count * item; i++)
        p[hlen + i] = (uint8_t)(images ? i * 37 : i % (size_t)(classes > 0 ? classes : 1));
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int classes_of[4] = { 10, 256, 1, 0 };
    static const size_t cut_of[4] = { 0, 1, 4, 8 };
    if (size < 3) return 0;
    const uint8_t flags = data[0];
    const uint8_t *payload = data + 3;
    const size_t plen = size - 3;
    const int mode = flags & 3, classes = classes_of[flags >> 6];
    const size_t cut = cut_of[(flags >> 4) & 3];

    const uint8_t *im = payload, *lb = payload;
    size_t imlen = plen, lblen = plen;
    uint8_t *made = NULL, *gz_im = NULL, *gz_lb = NULL;
    if (mode == 0) {
        lb = made = make_partner(payload, plen, 0, classes, &lblen);
    } else if (mode == 1) {
        im = made = make_partner(payload, plen, 1, classes, &imlen);
    } else {
        size_t split = ((size_t)data[1] << 8 | data[2]) % (plen + 1);
        imlen = split, lb = payload + split, lblen = plen - split;
    }
    if (flags & 4) im = gz_im = gzip_bytes(im, imlen, cut, &imlen);
    if (flags & 8) lb = gz_lb = gzip_bytes(lb, lblen, cut, &lblen);

    const char *im_path = memfile_put(&images_file, im, imlen);
    const char *lb_path = memfile_put(&labels_file, lb, lblen);
    Dataset d;
    char err[512] = "";
    if (idx_load(&d, im_path, lb_path, classes, err, sizeof err) == 0) {
        /* Success must describe the bytes it kept: touch every one. */
        size_t npix = (size_t)d.n * (size_t)d.c * (size_t)d.h * (size_t)d.w;
        unsigned sum = 0;
        for (size_t i = 0; i < npix; i++) sum += d.pixels[i];
        for (long i = 0; i < d.n; i++)
            if (d.labels[i] >= d.classes) abort();   /* the reader promised < classes */
        (void)sum;
        dataset_free(&d);
    } else if (err[0] == '\0') {
        abort();   /* every failure names the file and the problem */
    }
    free(made);
    free(gz_im);
    free(gz_lb);
    return 0;
}
