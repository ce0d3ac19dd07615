/* model_save_h5: the trained parameters as an HDF5 file that plain h5py reads
 * into a PyTorch-style state_dict.  The file is written next to its final
 * name as "<path>.tmp.<pid>" (the HDF5 file is built in memory, then its
 * bytes written with write(2)), fsync'ed, renamed onto path and the folder
 * fsync'ed, so a reader sees either the old file or the whole new one.
 * HDF5's own error printing is switched off for the duration of the call; the
 * first failure becomes the one-line err "<path>: <what failed>: <reason>".
 * The machinery is shared with the checkpoints: see h5util.h and publish.h. */
#include "state.h"

#include <stdlib.h>

#include "h5util.h"

#define MODEL_FORMAT "inna-model-1"

typedef struct {
    const Net *net;
    const char *config_ini;
} Model;

/* Root attributes, then one group per parametric layer in network order. */
static int model_fill(H5Out *o, hid_t file, const void *ctx)
{
    const Model *m = ctx;
    return h5u_model_write(o, file, m->net, m->config_ini, MODEL_FORMAT);
}

static int save(H5Out *o, const Net *net, const char *path, const char *config_ini)
{
    const Model ctx = { net, config_ini };
    void *image = NULL;
    size_t len = 0;
    int rc = h5u_image(o, path, 0, model_fill, &ctx, &image, &len);
    if (rc == 0) rc = h5u_publish(o, path, image, len);
    free(image);
    return rc;
}

int model_save_h5(const Net *net, const char *path, const char *config_ini,
                  char *err, size_t errlen)
{
    H5Out o = { path ? path : "(null)", err, errlen, 0 };
    if (err && errlen) err[0] = '\0';
    if (!net || !path || !*path)
        return h5u_fail(&o, "no network or no file name to save");
    H5Quiet q;
    h5u_quiet_begin(&q);
    int rc = save(&o, net, path, config_ini);
    h5u_quiet_end(&q);
    return rc;
}
