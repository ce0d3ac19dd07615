/* Choosing the OpenBLAS kernel (see blaskernel.h). */
#define _GNU_SOURCE   /* strcasestr */
#include "blaskernel.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by the re-executed program: the kernel the library had picked. */
#define CHOSEN_ENV "INNA_BLAS_FALLBACK_WAS"

int blaskernel_level(const char *kernel)
{
    static const struct { const char *name; int level; } known[] = {
        { "skylakex", 3 }, { "cooperlake", 3 }, { "sapphire", 3 },
        { "haswell", 2 }, { "zen", 2 },
        { "sandybridge", 1 }, { "bulldozer", 1 }, { "piledriver", 1 }, { "steamroller", 1 },
        { "excavator", 1 },
    };
    for (size_t i = 0; kernel && i < sizeof known / sizeof known[0]; i++)
        if (strcasestr(kernel, known[i].name)) return known[i].level;
    return 0;
}

const char *blaskernel_for_cpu(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
    return NULL;
}

/* The user's OPENBLAS_CORETYPE, or NULL.  INNA_TEST_FORCE_FALLBACK makes a
 * set one count as the library's own choice, so a test can force the
 * fallback for real (OPENBLAS_CORETYPE=Prescott) and see it corrected. */
static const char *user_coretype(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    if (!v || !*v || getenv(CHOSEN_ENV)) return NULL;
    return getenv("INNA_TEST_FORCE_FALLBACK") ? NULL : v;
}

void blaskernel_choose(char **argv)
{
    const char *core = openblas_get_corename(), *best = blaskernel_for_cpu();
    /* AMD's Zen kernel (AVX2) is the library's deliberate choice on AMD
     * CPUs, not a fallback: on Zen 4, whose AVX-512 runs as two 256-bit
     * halves, it was measured as fast as SkylakeX (README, "Measured here"). */
    if (!best || user_coretype() || getenv(CHOSEN_ENV) || strcasestr(core, "zen")
        || blaskernel_level(core) >= blaskernel_level(best))
        return;
    if (setenv(CHOSEN_ENV, core, 1) != 0 || setenv("OPENBLAS_CORETYPE", best, 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): run with the library's choice; the report says so */
    unsetenv(CHOSEN_ENV);
}

void blaskernel_report(char *buf, size_t len)
{
    const char *core = openblas_get_corename(), *best = blaskernel_for_cpu();
    const char *was = getenv(CHOSEN_ENV), *forced = user_coretype();
    int n = snprintf(buf, len, "BLAS: OpenBLAS %s kernel", core);
    if (n < 0 || (size_t)n >= len) return;
    if (was)
        n += snprintf(buf + n, len - n, " (set by inna: OpenBLAS fell back to its %s kernel on "
                      "this CPU, which has %s)\n", was, blaskernel_level(best) == 3 ? "AVX-512"
                      : blaskernel_level(best) == 2 ? "AVX2" : "AVX");
    else
        n += snprintf(buf + n, len - n, "%s\n", forced ? " (OPENBLAS_CORETYPE)" : "");
    if (n < 0 || (size_t)n >= len || !best || blaskernel_level(core) >= blaskernel_level(best)
        || strcasestr(core, "zen"))
        return;
    snprintf(buf + n, len - n, "warning: the %s kernel is weaker than this CPU's (%s): GEMMs run "
             "slower than they could (inna-bench measures it)%s\n", core, best,
             forced ? "; unset OPENBLAS_CORETYPE to let inna choose" : "");
}
