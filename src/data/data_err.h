/* Shared by the readers: the one-line error message of a failed load. */
#ifndef INNA_DATA_ERR_H
#define INNA_DATA_ERR_H
#include <stddef.h>

/* printf into err (when err is not NULL), truncating to errlen. */
void data_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif
