// Wall-clock seconds from a monotonic clock, for timings and rates (never for
// anything that must be reproducible), and the process's peak memory.
#ifndef ASTROMM_CLOCK_H
#define ASTROMM_CLOCK_H

#include <sys/resource.h>
#include <time.h>

static inline double am_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Peak resident set size of this process so far, MiB (Linux: ru_maxrss in KiB).
static inline double am_peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

#endif
