/* Checkpoints: everything needed to continue a run (parameters, optimizer
 * state, step, seed, the distributed reduction's state, the resolved config)
 * in one HDF5 file that is also a valid model file for h5py.
 *
 * Layout of <dir>/ckpt-<step, 9 digits>.h5:
 *   bytes 0..511  HDF5 user block holding a text header, NUL padded:
 *                   "INNA-CKPT\n" "length <file bytes, 16 digits>\n"
 *                   "crc32 <8 hex digits>\n"
 *                 the CRC-32 (zlib) covers every byte after the user block;
 *                 it is checked before HDF5 parses anything.
 *   root attrs    format "inna-checkpoint-1", inna_version, config (INI text),
 *                 step int64, nranks int32, reduce_exp int32, seed uint64,
 *                 params_hash, state_hash uint64 (see below), engine (the
 *                 compute engine, its version and instruction set; optional)
 *   layer01_conv/weight [out,in,kh,kw], bias [out] float32 ... as in model.h5
 *   optimizer     attrs name (inna|sgd|adam|adagrad), nstate, initialized;
 *                 one subgroup per state vector (inna: psi; sgd with momentum:
 *                 momentum; adam: m, v; adagrad: sum), each holding
 *                 layer01_conv/weight, bias ... laid out as the parameters.
 * Every dataset has the Fletcher32 filter.  The hashes are of the float
 * buffers as held in memory (net->params: nparams floats; opt->state:
 * nstate * n floats): CRC-32 in the high 32 bits, Adler-32 in the low 32 (both
 * zlib, over the same bytes), so a load that assembled the buffers wrongly is
 * caught even when each dataset is intact.
 *
 * All functions return 0, or -1 with a one-line err naming the file. */
#ifndef INNA_CHECKPOINT_H
#define INNA_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "optim.h"

#define CHECKPOINT_FORMAT "inna-checkpoint-1"
#define CHECKPOINT_USERBLOCK 512

typedef struct {
    long step;          /* updates applied so far; the run continues with step k = step */
    int nranks;         /* ranks of the run that wrote it (informational) */
    int reduce_exp;     /* state of the distributed reduction (an int the caller owns) */
    uint64_t seed;
    char engine[160];   /* what computed it: engine name (library, version, ISA); "" if not recorded */
} CheckpointMeta;

/* Writes <dir>/ckpt-<step, 9 digits>.h5 atomically, then points <dir>/latest.h5 at it
   and prunes (runfolder.h)
   (a relative symlink created under a temporary name and renamed over, so it is never missing
   or dangling), then deletes the oldest ckpt-*.h5 beyond `keep` (keep >= 1; the file just
   written always counts as the newest, the others are ranked by step). The new file's
   name goes to written (if not NULL). Returns 0 or -1 with a one-line err.  A failure before
   latest.h5 is switched leaves latest.h5 and the older checkpoints untouched; one after
   (folder sync, pruning) says "saved, but ...". */
int checkpoint_save(const char *dir, const Net *net, const Optimizer *opt, const CheckpointMeta *m,
                    const char *config_ini, int keep, char *written, size_t wlen, char *err, size_t errlen);
/* path may be a checkpoint file or a run folder (then <dir>/latest.h5 is used, resolved to
   the ckpt-*.h5 it points at). Writes the file's path to out. */
int checkpoint_resolve(const char *path, char *out, size_t outlen, char *err, size_t errlen);
/* The resolved-config INI text stored in the checkpoint (malloc'd, caller frees). */
int checkpoint_read_config(const char *path, char **config_ini, char *err, size_t errlen);
/* Loads into an already built net and initialized optimizer of the same architecture and
   optimizer kind: checks format, layer names and shapes, optimizer kind/nstate, every
   dataset's Fletcher32, and the stored hashes of the parameter and state buffers; only if all
   holds are net->params, opt->state, opt->initialized and *m overwritten (load into temporary
   buffers first). Errors: one line naming the file and what is wrong, e.g.
   "x.h5: layer03_conv/weight is [96,160,1,1] but the network has [96,192,1,1]" or
   "x.h5: checksum mismatch in layer01_conv/weight (file corrupt)". */
int checkpoint_load(const char *path, Net *net, Optimizer *opt, CheckpointMeta *m, char *err, size_t errlen);
/* checkpoint_load on the file's bytes buf[0, len); name is used in messages only (the
   fuzz harness calls this; to reach the HDF5 parsing it forges the header's CRC). */
int checkpoint_load_image(const void *buf, size_t len, const char *name, Net *net, Optimizer *opt,
                          CheckpointMeta *m, char *err, size_t errlen);
#endif
