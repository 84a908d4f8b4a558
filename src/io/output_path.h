// Where a file output may go. astromm writes its files (HDF5, PNG,
// safetensors) under a temporary name and renames them over the target when
// complete; a rename over a device or a pipe (/dev/null, a FIFO) would replace
// it with a regular file (as root, /dev/null itself). Writers check first.
#ifndef ASTROMM_OUTPUT_PATH_H
#define ASTROMM_OUTPUT_PATH_H

#include "core/error.h"

// 0 when path does not exist or is a regular file; otherwise an error naming
// it (a directory, a device, a pipe) and returns 1.
int output_path_check(const char *path, AmError *err);

#endif
