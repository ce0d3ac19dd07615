/* Internal to src/state/: the HDF5 helpers of the model file, the
 * checkpoints and the metrics, reading beside writing.
 * Errors: the first failure becomes the one-line err
 * "<path>: <what failed>[: <reason>]"; later ones are dropped, so callers can
 * keep closing ids after a failure without overwriting the message.
 * Files are built in memory by HDF5 (core driver, no backing store) and
 * written by us (h5u_publish: publish.h), so HDF5 never does disk I/O. */
#ifndef INNA_STATE_H5UTIL_H
#define INNA_STATE_H5UTIL_H
#include <hdf5.h>
#include <stddef.h>

#include "net.h"

#ifndef INNA_VERSION
#define INNA_VERSION "unknown"
#endif

/* Where the first failure is reported. */
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} H5Out;

/* Each returns -1.  fail: no further reason; os_fail: the reason is errno e;
 * h5_fail: the reason comes from HDF5's error stack. */
int h5u_fail(H5Out *o, const char *fmt, ...);
int h5u_os_fail(H5Out *o, int e, const char *fmt, ...);
int h5u_h5_fail(H5Out *o, const char *fmt, ...);
/* Closes id (when open) with close_fn; a failure is reported unless an earlier
 * one was.  Returns -1 on failure. */
int h5u_close(H5Out *o, hid_t id, herr_t (*close_fn)(hid_t), const char *what);

/* HDF5's automatic error printing off between begin and end (restored). */
typedef struct {
    H5E_auto2_t func;
    void *data;
    int restore;
} H5Quiet;
void h5u_quiet_begin(H5Quiet *q);
void h5u_quiet_end(const H5Quiet *q);

/* A scalar attribute of file type ftype from value (memory type mtype);
 * owner ("layer01_conv/" or "") only names it in messages. */
int h5u_attr_write(H5Out *o, hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                   const void *value, const char *owner);
/* A variable-length UTF-8 string attribute (h5py reads it as str). */
int h5u_attr_str(H5Out *o, hid_t obj, const char *name, const char *value);
int h5u_attr_int(H5Out *o, hid_t obj, const char *owner, const char *name, int value);
/* Attribute name of obj read back: a scalar variable-length string as a
 * malloc'd string (NULL when it is not one: reported), an integer converted
 * to mtype into *value. */
char *h5u_attr_read_str(H5Out *o, hid_t obj, const char *owner, const char *name);
int h5u_attr_read_int(H5Out *o, hid_t obj, const char *owner, const char *name, hid_t mtype,
                      void *value);

/* Checks the parametric (conv) layers of net: views and counts agree with
 * their shapes and lie in net->params.  Returns how many there are, or -1
 * (reported); *nparams (if not NULL) gets their parameter total. */
int h5u_conv_layers(H5Out *o, const Net *net, size_t *nparams);
/* Group name of the k-th (1-based) of nconv parametric layers:
 * "layer01_conv", zero padded so that names sort in network order. */
void h5u_conv_name(char *buf, size_t len, int k, int nconv);
/* Offsets of layer l's weights and biases in net->params, and so in any
 * buffer laid out like it (the optimizer's state vectors are). */
size_t h5u_w_off(const Net *net, const Layer *l);
size_t h5u_b_off(const Net *net, const Layer *l);

/* One group per parametric layer under parent, in network order, each with
 * weight float32 [out, in, kh, kw] and bias [out] taken from buf (laid out
 * like net->params), Fletcher32 on each dataset. */
int h5u_layers_write(H5Out *o, hid_t parent, const Net *net, const float *buf);
/* The same groups under parent read back into buf (laid out like
 * net->params; nconv = h5u_conv_layers), each dataset checked for its type,
 * shape, storage and Fletcher32; prefix ("optimizer/psi/" or "") names them
 * in messages. */
int h5u_layers_read(H5Out *o, hid_t parent, const char *prefix, const Net *net, int nconv,
                    float *buf);
/* parent holds as many "layer*" groups as the network has parametric layers. */
int h5u_layers_count_check(H5Out *o, hid_t parent, int nconv);
/* Root attributes config, inna_version and format, then the parameters as
 * h5u_layers_write: the model file, and the start of a checkpoint. */
int h5u_model_write(H5Out *o, hid_t file, const Net *net, const char *config_ini,
                    const char *format);

/* File access: core driver without backing store, close degree SEMI. */
hid_t h5u_fapl_core(H5Out *o);
/* Builds an HDF5 file in memory with a user block of `userblock` bytes (0 or
 * a power of two >= 512), has fill(o, file, ctx) write its contents, and
 * returns the whole file as *len bytes in malloc'd *image, the user block
 * zeroed at its start for the caller to fill. */
typedef int (*H5Fill)(H5Out *o, hid_t file, const void *ctx);
int h5u_image(H5Out *o, const char *name, size_t userblock, H5Fill fill, const void *ctx,
              void **image, size_t *len);

/* Opens the file whose bytes are buf[0, len) read-only from memory (HDF5
 * parses its own copy); kind ("an inna checkpoint") says what a file HDF5
 * cannot open is not. */
hid_t h5u_image_open(H5Out *o, const void *buf, size_t len, const char *kind);

/* publish_file (publish.h) of the image as path (= o->path), a failure
 * reported in o. */
int h5u_publish(H5Out *o, const char *path, const void *image, size_t len);
#endif
