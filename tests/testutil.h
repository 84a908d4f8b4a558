// Tiny assertion helpers for astromm tests: every failure prints file:line and
// the values, counts, and the test exits non-zero at the end (or at once for
// REQUIRE). A test that only prints is a defect.
#ifndef ASTROMM_TESTUTIL_H
#define ASTROMM_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int tu_failures = 0;
static int tu_checks = 0;

#define TU_REPORT(cond, ...)                                           \
    do {                                                               \
        tu_failures++;                                                 \
        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__);                                  \
        fputc('\n', stderr);                                           \
    } while (0)

#define EXPECT(cond, ...)                              \
    do {                                               \
        tu_checks++;                                   \
        if (!(cond)) TU_REPORT(cond, __VA_ARGS__);     \
    } while (0)

// Evaluates cond once (it may have side effects) and exits on failure.
#define REQUIRE(cond, ...)                             \
    do {                                               \
        tu_checks++;                                   \
        if (!(cond)) {                                 \
            TU_REPORT(cond, __VA_ARGS__);              \
            exit(1);                                   \
        }                                              \
    } while (0)

// Max relative error of a against b, where "relative" is |a-b| / max(|b|_inf, floor):
// normalising by the tensor's largest magnitude keeps near-zero entries meaningful.
static inline double tu_max_rel_err(const float *a, const float *b, size_t n, double floor_) {
    double amax = floor_, err = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > err) err = d;
    }
    return err / amax;
}

// Print the summary line ctest readers expect and return the exit status.
static inline int tu_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

#endif
