// Private helpers of the CPU op implementation (src/cpu/ only; not part of the
// op interface): vectorisable exp/erf, row kernels shared by several ops, and
// the per-thread slicing of a scratch slot.
#ifndef ASTROMM_CPU_UTIL_H
#define ASTROMM_CPU_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <omp.h>

#include "nn/ops.h"

// Loops touching fewer elements than this run on one thread: below it the
// fork/join costs more than the work.
#define CPU_PAR_MIN 32768

// exp(x) in float, branch-free so loops vectorise (the compiler cannot vectorise
// calls to libm's expf without -ffast-math). Cody-Waite reduction by ln 2 and a
// degree-7 Taylor polynomial on |r| <= ln2/2; max relative error ~8e-8 (about
// 1 ulp) on [-87, 0], measured against exp() in double. Underflows to 0 below
// -87.3; arguments above 88 are clamped to 88 (softmax and GELU only pass x <= 0).
static inline float cpu_expf(float x) {
    const float log2e = 1.44269504088896341f;
    const float shifter = 12582912.0f;  // 1.5 * 2^23: rounds to the nearest integer
    float xc = x < -87.5f ? -87.5f : (x > 88.0f ? 88.0f : x);
    float n = fmaf(xc, log2e, shifter) - shifter;
    float r = fmaf(n, -0.693145751953125f, xc);  // ln 2, high part (exact product)
    r = fmaf(n, -1.428606765330187045e-06f, r);  // ln 2, low part
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return x < -87.3f ? 0.0f : p * s;
}

// erf(x) in float, branch-free (both halves computed, one selected). Minimax
// fits after N. Juffa: |x| <= 0.9277 as x * poly(x^2), beyond as
// 1 - exp(poly(|x|)). Max absolute difference from glibc erff over every float
// in [-10, 10]: 6.0e-8 (half an ulp of 1).
static inline float cpu_erff(float a) {
    float t = fabsf(a), s = a * a;
    float r = fmaf(-1.72853470e-5f, t, 3.83197126e-4f);
    float u = fmaf(-3.88396438e-3f, t, 2.42546219e-2f);
    r = fmaf(r, s, u);
    r = fmaf(r, t, -1.06777877e-1f);
    r = fmaf(r, t, -6.34846687e-1f);
    r = fmaf(r, t, -1.28717512e-1f);
    r = fmaf(r, t, -t);
    float big = copysignf(1.0f - cpu_expf(r), a);
    float q = -5.96761703e-4f;
    q = fmaf(q, s, 4.99119423e-3f);
    q = fmaf(q, s, -2.67681349e-2f);
    q = fmaf(q, s, 1.12819925e-1f);
    q = fmaf(q, s, -3.76125336e-1f);
    q = fmaf(q, s, 1.28379166e-1f);
    q = fmaf(q, a, a);
    return t > 0.927734375f ? big : q;
}

static inline float cpu_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// Products of floats are exact in double, so this is the dot product up to the
// (reordered) double summation: stable enough to rank ProbSparse queries.
static inline double cpu_dot_d(const float *a, const float *b, int n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

// In-place softmax of one row of n floats (max-subtracted).
static inline void cpu_softmax_row(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        float e = cpu_expf(x[i] - mx);
        x[i] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int i = 0; i < n; i++) x[i] *= inv;
}

// Per-thread slices of scratch slot `slot`: each of ops_num_threads() threads
// gets `per_thread` floats (rounded up to a 64-byte multiple) at
// base + omp_get_thread_num() * (*stride).
static inline float *cpu_thread_scratch(int slot, size_t per_thread, size_t *stride) {
    size_t s = (per_thread + 15) / 16 * 16;
    int nt = omp_get_max_threads();
    *stride = s;
    return ops_scratch(slot, s * (size_t)(nt > 0 ? nt : 1));
}

#endif
