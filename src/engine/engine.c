/* The compute engines: their names (run.engine's words), which this build
 * has, the one-line description the programs print and checkpoints keep,
 * and the threads each engine call may use. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include "engine.h"
#include "placement.h"
#ifdef INNA_HAVE_ONEDNN
#include <dnnl.h>
#endif

const char *const engine_names[ENGINE_NKINDS + 1] = {
    [ENGINE_AUTO] = "auto", [ENGINE_OPENBLAS] = "openblas", [ENGINE_ONEDNN] = "onednn", NULL,
};

const char *engine_name(EngineKind k)
{
    return k >= 0 && k < ENGINE_NKINDS ? engine_names[k] : "?";
}

int engine_available(EngineKind k)
{
    switch (k) {
    case ENGINE_AUTO:
    case ENGINE_OPENBLAS: return 1;
#ifdef INNA_HAVE_ONEDNN
    case ENGINE_ONEDNN: return 1;
#endif
    default: return 0;
    }
}

EngineKind engine_resolve(EngineKind k)
{
    if (k != ENGINE_AUTO) return k;
    return engine_available(ENGINE_ONEDNN) ? ENGINE_ONEDNN : ENGINE_OPENBLAS;
}

#ifdef INNA_HAVE_ONEDNN
/* The instruction set oneDNN's JIT kernels run (its effective ISA). */
static const char *onednn_isa_name(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "no JIT ISA";
    }
}
#endif

/* "OpenBLAS 0.3.21, SkylakeX kernel": the version is the second word of
 * openblas_get_config() ("OpenBLAS 0.3.21 DYNAMIC_ARCH ..."). */
static void describe_openblas(char *buf, size_t len)
{
    const char *cfg = openblas_get_config(), *v = strchr(cfg, ' ');
    int vlen = 0;
    if (v) {
        v++;
        vlen = (int)strcspn(v, " ");
    }
    snprintf(buf, len, "OpenBLAS %.*s, %s kernel", vlen, v ? v : "", openblas_get_corename());
}

void engine_describe(EngineKind k, char *buf, size_t len)
{
    k = engine_resolve(k);
#ifdef INNA_HAVE_ONEDNN
    if (k == ENGINE_ONEDNN) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, len, "oneDNN %d.%d.%d, %s", v->major, v->minor, v->patch, onednn_isa_name());
        return;
    }
#endif
    if (k == ENGINE_OPENBLAS) describe_openblas(buf, len);
    else snprintf(buf, len, "%s: not in this build", engine_name(k));
}

/* oneDNN (Debian's build uses the OpenMP runtime) runs a primitive on
 * omp_get_max_threads() threads, read when the primitive is created and
 * when it runs; one active level keeps a primitive called from a worker
 * thread on that thread alone.  OpenBLAS takes its own count. */
void engine_set_threads(EngineKind k, int threads)
{
    if (threads < 1) threads = 1;
    if (engine_resolve(k) == ENGINE_ONEDNN) {
        omp_set_max_active_levels(1);
        omp_set_num_threads(threads);
        return;
    }
    placement_set_blas_threads(threads);
}
