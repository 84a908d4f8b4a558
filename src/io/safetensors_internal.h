// Shared by the safetensors reader and writer (src/io/ only).
#ifndef ASTROMM_SAFETENSORS_INTERNAL_H
#define ASTROMM_SAFETENSORS_INTERNAL_H

#include <stdint.h>

#include "core/error.h"

// Names in messages are cut to this many bytes so the path still fits.
#define NM "'%.120s'"

// numel of a shape with overflow checking; -1 on overflow or a negative dim.
int64_t st_checked_numel(const int64_t *shape, int ndim);
// Fills err with "safetensors '<path>': <message>" and returns 1.
int st_fail(AmError *err, const char *path, const char *fmt, ...) AM_PRINTF(3, 4);

#endif
