/* libFuzzer harness for cifar_load (src/data/cifar.c).
 *
 * Input: 4 header bytes, then the payload.
 *   byte 0, bit 0: CIFAR-100 (2 label bytes per record) instead of CIFAR-10;
 *           bit 1: coarse labels;  bits 2-3: number of files - 1 (1..4);
 *           bit 4: compact payload (below) instead of raw file bytes;
 *           bit 5: the last path is replaced by a bad one, chosen by
 *                  bits 6-7: missing file, /dev/null (not regular), a
 *                  folder, an empty path.
 *   bytes 1-3: raw mode: the payload is cut into the files at these
 *              fractions (/255) of its length, sorted.
 *   compact payload, per file: k (records, mod 17), k label units, then e:
 *              the file gets e * 97 extra bytes (a wrong size unless 0).
 *              Pixels are filled in by the harness: a 3073-byte record is
 *              far more than the fuzzer should have to write. */
#include "fuzz_common.h"
#include "data.h"

enum { PIXELS = 3072, MAXFILES = 4 };
static MemFile files[MAXFILES];

/* Expands one compact file description from *p; returns it malloc'd. */
static uint8_t *expand(const uint8_t **p, const uint8_t *end, size_t lab, size_t *len)
{
    size_t k = *p < end ? *(*p)++ % 17 : 0;
    size_t rec = lab + PIXELS;
    uint8_t labels[16 * 2];
    size_t nl = 0;
    while (nl < k * lab && *p < end) labels[nl++] = *(*p)++;
    k = nl / lab;                       /* a partial record at the end is dropped */
    size_t extra = *p < end ? (size_t)*(*p)++ * 97 : 0;
    *len = k * rec + extra;
    uint8_t *f = malloc(*len ? *len : 1);
    if (!f) abort();
    for (size_t i = 0; i < *len; i++) f[i] = (uint8_t)(i * 131 >> 3);
    for (size_t r = 0; r < k; r++) memcpy(f + r * rec, labels + r * lab, lab);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const bad_paths[4] = { "/nonexistent/inna-fuzz.bin", "/dev/null", "/", "" };
    if (size < 4) return 0;
    const uint8_t flags = data[0];
    const int cifar100 = flags & 1, coarse = (flags >> 1) & 1, nfiles = 1 + ((flags >> 2) & 3);
    const size_t lab = cifar100 ? 2 : 1;
    const uint8_t *payload = data + 4, *end = data + size;
    const size_t plen = size - 4;

    uint8_t *bufs[MAXFILES] = { 0 };
    const char *paths[MAXFILES];
    size_t cuts[MAXFILES + 1] = { 0 };
    if (!(flags & 16)) {
        /* Raw: cut points from bytes 1-3, sorted by insertion. */
        for (int i = 1; i < nfiles; i++) {
            size_t c = plen * data[i] / 255, j = (size_t)i;
            while (j > 1 && cuts[j - 1] > c) cuts[j] = cuts[j - 1], j--;
            cuts[j] = c;
        }
        cuts[nfiles] = plen;
    }
    for (int i = 0; i < nfiles; i++) {
        if (flags & 16) {
            size_t len;
            bufs[i] = expand(&payload, end, lab, &len);
            paths[i] = memfile_put(&files[i], bufs[i], len);
        } else {
            paths[i] = memfile_put(&files[i], payload + cuts[i], cuts[i + 1] - cuts[i]);
        }
    }
    if (flags & 32) paths[nfiles - 1] = bad_paths[flags >> 6];

    Dataset d;
    char err[512] = "";
    if (cifar_load(&d, paths, nfiles, cifar100, coarse, err, sizeof err) == 0) {
        if (d.c != 3 || d.h != 32 || d.w != 32 || d.n < 1) abort();
        for (long i = 0; i < d.n; i++)
            if (d.labels[i] >= d.classes) abort();   /* the reader promised < classes */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)d.n * PIXELS; i++) sum += d.pixels[i];
        (void)sum;
        dataset_free(&d);
    } else if (err[0] == '\0') {
        abort();   /* every failure names the file and the problem */
    }
    for (int i = 0; i < MAXFILES; i++) free(bufs[i]);
    return 0;
}
