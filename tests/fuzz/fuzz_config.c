/* libFuzzer harness for the config reader (src/config/config.c).
 *
 * Input: INI text, optionally followed by a NUL byte and --set assignments,
 * one per line.  On top of the defaults, the text is loaded as a file, then
 * each assignment is applied with config_set; if all of that succeeds the
 * result goes through config_validate and config_to_ini, and the INI text
 * must load back (from the defaults) to a byte-identical Config -- the
 * property config.h promises and run folders rely on.  A violation aborts,
 * which libFuzzer records as a crash. */
#include "fuzz_common.h"
#include "config.h"

static MemFile ini_file, round_file;

/* Names the first line where the written INI and its reload differ. */
static void print_first_difference(const char *a, const char *b)
{
    int line = 1;
    while (*a && *a == *b) {
        if (*a == '\n') line++;
        a++, b++;
    }
    while (line > 1 && a[-1] != '\n') a--, b--;
    fprintf(stderr, "config_to_ini output loads back to a different Config: key '%.*s' (line %d): "
            "written '%.*s', reloaded '%.*s'\n", (int)strcspn(a, " =\n"), a, line,
            (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

static void roundtrip(const Config *c)
{
    char err[1024] = "";
    char *ini = config_to_ini(c);
    if (!ini) return;   /* out of memory: nothing to check */
    Config *back = malloc(sizeof *back);
    if (!back) abort();
    config_defaults(back);
    const char *path = memfile_put(&round_file, ini, strlen(ini));
    if (config_load_file(back, path, err, sizeof err) != 0) {
        fprintf(stderr, "config_to_ini output does not load back: %s\n--- INI ---\n%s--- end ---\n",
                err, ini);
        abort();
    }
    if (memcmp(back, c, sizeof *c) != 0) {
        char *again = config_to_ini(back);
        print_first_difference(ini, again ? again : "");
        abort();
    }
    free(back);
    free(ini);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t ini_len = nul ? (size_t)(nul - data) : size;
    char err[1024] = "";
    Config *c = malloc(sizeof *c);
    char *sets = malloc(size + 1);
    if (!c || !sets) abort();
    config_defaults(c);

    int ok = config_load_file(c, memfile_put(&ini_file, data, ini_len), err, sizeof err) == 0;
    if (!ok && !err[0]) abort();   /* a failure always says why */
    if (ok && nul) {
        /* The assignments, as separate C strings (NULs inside end a line). */
        size_t n = size - ini_len - 1;
        memcpy(sets, nul + 1, n);
        sets[n] = '\0';
        for (char *line = sets, *next; ok && line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            err[0] = '\0';
            ok = config_set(c, line, err, sizeof err) == 0;
            if (!ok && !err[0]) abort();
        }
    }
    if (ok) {
        err[0] = '\0';
        if (config_validate(c, err, sizeof err) != 0 && !err[0]) abort();
        roundtrip(c);
    }
    free(sets);
    free(c);
    return 0;
}
