/* The compute engines a network can run on: the layers of src/layers/
 * (im2col + OpenBLAS SGEMM, activations [c][n][h][w]) or oneDNN's primitives
 * (src/engine/onednn/, activations in its blocked layouts).  One table of
 * names (src/engine/engine.c) serves the config, the programs and checkpoints. */
#ifndef INNA_ENGINE_H
#define INNA_ENGINE_H
#include <stddef.h>

typedef enum { ENGINE_AUTO, ENGINE_OPENBLAS, ENGINE_ONEDNN, ENGINE_NKINDS } EngineKind;

/* "auto", "openblas", "onednn" in enum order, NULL-ended (run.engine's words). */
extern const char *const engine_names[ENGINE_NKINDS + 1];
const char *engine_name(EngineKind k);
/* 1 if this build can run k (auto and openblas always; onednn when built with it). */
int engine_available(EngineKind k);
/* auto -> onednn when available, else openblas; others unchanged. */
EngineKind engine_resolve(EngineKind k);
/* One line naming the library, its version and the instruction set it runs,
 * e.g. "oneDNN 2.6.3, avx512_core" or "OpenBLAS 0.3.21, SkylakeX kernel". */
void engine_describe(EngineKind k, char *buf, size_t len);
/* Sets the threads each engine call may use before any network is built:
 * exact mode passes 1 (a chunk computed the same wherever it runs). */
void engine_set_threads(EngineKind k, int threads);
#endif
