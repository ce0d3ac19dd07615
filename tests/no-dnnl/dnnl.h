/* Stands in for a machine without libdnnl-dev (tests/no_onednn.sh): a build
 * configured without oneDNN must not include oneDNN's header anywhere. */
#error "dnnl.h included by a build without oneDNN"
