// Deterministic test tensors shared by the op tests: every call draws a fresh
// Philox stream, so tests are reproducible and independent of call order
// within one file.
#ifndef ASTROMM_TESTDATA_H
#define ASTROMM_TESTDATA_H

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static uint32_t td_stream = 0;

static inline float *randn(size_t n, float scale) {
    AmRng r = am_rng(20240611, 0, RNG_SYNTH, td_stream++);
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * am_rng_normal(&r, i);
    return x;
}

static inline float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static inline float *copy_of(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

#endif
