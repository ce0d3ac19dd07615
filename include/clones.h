/* INNA_CLONES: a hot element-wise loop compiled three times, for x86-64-v4
 * (AVX-512), x86-64-v3 (AVX2) and the x86-64 baseline, the one for this CPU
 * chosen when the program loads: the build runs on any x86-64 and still uses
 * the vector units it finds.  The build passes -ffp-contract=off, so no clone
 * fuses a multiply and an add: every clone gives the baseline's bits. */
#ifndef INNA_CLONES_H
#define INNA_CLONES_H
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define INNA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define INNA_CLONES
#endif
#endif
