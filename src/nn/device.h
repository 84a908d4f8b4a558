// Which accelerators this build can use, for `astromm devices` and logs.
#ifndef ASTROMM_DEVICE_H
#define ASTROMM_DEVICE_H

#include <stdio.h>

// Prints the CPU and, in CUDA builds, every visible GPU. Returns the GPU count.
int device_report(FILE *out);

#endif
