// Wall-clock seconds from a monotonic clock, for timings and rates (never for
// anything that must be reproducible).
#ifndef ASTROMM_CLOCK_H
#define ASTROMM_CLOCK_H

#include <time.h>

static inline double am_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
