/* CIFAR-10 / CIFAR-100 binary reader.  A record is the label byte(s) followed
 * by 3072 pixel bytes already in CHW order (1024 R, 1024 G, 1024 B), so a
 * sample's pixels are copied as one block.  All files are opened and sized
 * first: the data set is allocated once, and a file of the wrong size is
 * reported before anything is read. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "data_err.h"

#define CIFAR_PIXELS 3072          /* 3 x 32 x 32                        */
#define CIFAR_CHUNK_RECORDS 2048   /* records per fread (~6 MB)          */

/* What distinguishes the two formats. */
typedef struct {
    int cifar100, coarse;
    size_t record;                 /* label bytes + CIFAR_PIXELS         */
} CifarFormat;


/* Opens path and returns its record count through *records. */
static FILE *cifar_open(const char *path, const CifarFormat *fmt, long *records,
                        char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        data_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0) {
        data_set_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        data_set_err(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (st.st_size <= 0 || (size_t)st.st_size % fmt->record != 0) {
        data_set_err(err, errlen, "%s: truncated or wrong format: size %lld is not a "
                "positive multiple of the record size %zu",
                path, (long long)st.st_size, fmt->record);
        fclose(f);
        return NULL;
    }
    *records = (long)((size_t)st.st_size / fmt->record);
    return f;
}

/* Checks the label byte(s) of one record and returns the label we keep. */
static int cifar_label(const uint8_t *rec, const CifarFormat *fmt, const char *path,
                       long index, char *err, size_t errlen)
{
    if (!fmt->cifar100) {
        if (rec[0] >= 10) {
            data_set_err(err, errlen, "%s: label %d at index %ld out of range [0, 10)",
                    path, rec[0], index);
            return -1;
        }
        return rec[0];
    }
    /* Both labels are checked whichever is kept: a bad one means a bad file. */
    if (rec[0] >= 20) {
        data_set_err(err, errlen, "%s: coarse label %d at index %ld out of range [0, 20)",
                path, rec[0], index);
        return -1;
    }
    if (rec[1] >= 100) {
        data_set_err(err, errlen, "%s: fine label %d at index %ld out of range [0, 100)",
                path, rec[1], index);
        return -1;
    }
    return fmt->coarse ? rec[0] : rec[1];
}

/* Reads the records of one file into d from sample `first` on, through the
 * staging buffer buf (CIFAR_CHUNK_RECORDS records). */
static int cifar_read(FILE *f, const char *path, long records, long first,
                      const CifarFormat *fmt, uint8_t *buf, Dataset *d,
                      char *err, size_t errlen)
{
    size_t lab = fmt->record - CIFAR_PIXELS;
    for (long done = 0; done < records;) {
        long want = records - done < CIFAR_CHUNK_RECORDS ? records - done : CIFAR_CHUNK_RECORDS;
        size_t got = fread(buf, fmt->record, (size_t)want, f);
        if (got < (size_t)want) {
            /* The size was checked at open: a short read is an I/O error or
             * the file shrinking under us. */
            if (ferror(f))
                data_set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
            else
                data_set_err(err, errlen, "%s: truncated: expected %ld records, got %ld",
                        path, records, done + (long)got);
            return -1;
        }
        for (long r = 0; r < want; r++) {
            const uint8_t *rec = buf + (size_t)r * fmt->record;
            long s = first + done + r;
            int label = cifar_label(rec, fmt, path, done + r, err, errlen);
            if (label < 0) return -1;
            d->labels[s] = (uint8_t)label;
            memcpy(d->pixels + (size_t)s * CIFAR_PIXELS, rec + lab, CIFAR_PIXELS);
        }
        done += want;
    }
    return 0;
}

int cifar_load(Dataset *d, const char *const *paths, int npaths, int cifar100,
               int coarse, char *err, size_t errlen)
{
    CifarFormat fmt = { cifar100 != 0, coarse != 0, (cifar100 ? 2 : 1) + CIFAR_PIXELS };
    FILE **files = NULL;
    long *records = NULL, total = 0;
    uint8_t *buf = NULL;
    int rc = -1, nopen = 0;
    Dataset out = {0};

    memset(d, 0, sizeof *d);
    if (npaths < 1 || paths == NULL) {
        data_set_err(err, errlen, "cifar_load: no files given");
        return -1;
    }
    files = calloc((size_t)npaths, sizeof *files);
    records = calloc((size_t)npaths, sizeof *records);
    if (files == NULL || records == NULL) {
        data_set_err(err, errlen, "%s: out of memory", paths[0]);
        goto done;
    }
    for (; nopen < npaths; nopen++) {
        files[nopen] = cifar_open(paths[nopen], &fmt, &records[nopen], err, errlen);
        if (files[nopen] == NULL) goto done;
        total += records[nopen];
    }

    out.n = total;
    out.c = 3, out.h = 32, out.w = 32;
    out.classes = !cifar100 ? 10 : coarse ? 20 : 100;
    out.pixels = malloc((size_t)total * CIFAR_PIXELS);
    out.labels = malloc((size_t)total);
    buf = malloc(CIFAR_CHUNK_RECORDS * fmt.record);
    if (out.pixels == NULL || out.labels == NULL || buf == NULL) {
        data_set_err(err, errlen, "%s: out of memory for %ld records", paths[0], total);
        goto done;
    }
    for (long i = 0, first = 0; i < npaths; first += records[i], i++)
        if (cifar_read(files[i], paths[i], records[i], first, &fmt, buf, &out, err, errlen))
            goto done;

    *d = out;
    memset(&out, 0, sizeof out);
    rc = 0;
done:
    for (int i = 0; i < nopen; i++) fclose(files[i]);
    free(files);
    free(records);
    free(buf);
    dataset_free(&out);
    return rc;
}
