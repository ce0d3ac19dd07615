/* HDF5 files of the run: the final model (checkpoints: checkpoint.h). */
#ifndef INNA_STATE_H
#define INNA_STATE_H
#include <stddef.h>
#include "net.h"

/* Writes path atomically (temporary file in the same folder, fsync, rename):
 * one group per parametric layer in network order, named "layer01_conv",
 * "layer02_conv", ... (zero padded so they sort in order), each with datasets
 * "weight" float32 [out, in, kh, kw] and "bias" float32 [out]; root string
 * attributes "config" (resolved INI text) and "inna_version".
 * Returns 0, or -1 with err naming the file and what failed. */
int model_save_h5(const Net *net, const char *path, const char *config_ini,
                  char *err, size_t errlen);
#endif
