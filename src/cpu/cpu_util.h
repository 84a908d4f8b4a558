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

#include "nn/ops_cpu.h"

// Loops touching fewer elements than this run on one thread: below it the
// fork/join costs more than the work.
#define CPU_PAR_MIN 32768

// exp(x) in float, branch-free so loops vectorise (the compiler cannot vectorise
// calls to libm's expf without -ffast-math). Cody-Waite reduction by ln 2 and a
// degree-7 Taylor polynomial on |r| <= ln2/2; max relative error ~8e-8 (about
// 1 ulp) on [-87, 0], measured against exp() in double. Underflows to 0 below
// -87.3 (-Inf gives 0); arguments above 88 are clamped to 88, +Inf included
// (softmax and GELU only pass x <= 0). NaN gives NaN, as the CUDA port does.
static inline float cpu_expf(float x) {
    const float log2e = 1.44269504088896341f;
    const float shifter = 12582912.0f;  // 1.5 * 2^23: rounds to the nearest integer
    // Written so NaN fails the first comparison and is clamped too: an unclamped
    // NaN would reach the int conversion below (undefined, then a left shift of
    // a negative value). Same result as before for every other x.
    float xc = x > -87.5f ? x : -87.5f;
    xc = xc < 88.0f ? xc : 88.0f;
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
    return x < -87.3f ? 0.0f : (isnan(x) ? x : p * s);
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

// 16-float GCC vector (one zmm with AVX-512, two ymm otherwise). Loads and
// stores go through memcpy: unaligned, and free of aliasing trouble.
typedef float cpu_v16 __attribute__((vector_size(64)));
typedef float cpu_v8 __attribute__((vector_size(32)));
typedef float cpu_v4 __attribute__((vector_size(16)));

static inline cpu_v16 cpu_ld16(const float *p) {
    cpu_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void cpu_st16(float *p, cpu_v16 v) { memcpy(p, &v, sizeof v); }

// Horizontal sums by halving (shuffles, never through memory: taking the
// address of an accumulator would pin it to the stack inside the loop).
static inline float cpu_hsum16(cpu_v16 v) {
    cpu_v8 s8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    cpu_v4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) +
                __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

static inline float cpu_dot(const float *a, const float *b, int n) {
    int i = 0;
    float s = 0.0f;
    if (n >= 16) {
        cpu_v16 acc = cpu_ld16(a) * cpu_ld16(b);
        for (i = 16; i + 16 <= n; i += 16) acc += cpu_ld16(a + i) * cpu_ld16(b + i);
        s = cpu_hsum16(acc);
    }
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

// Products of floats are exact in double, so this is the dot product up to the
// (reordered) double summation: stable enough to rank ProbSparse queries.
typedef double cpu_v8d __attribute__((vector_size(64)));
typedef double cpu_v4d __attribute__((vector_size(32)));

static inline double cpu_dot_d(const float *a, const float *b, int n) {
    int i = 0;
    double s = 0.0;
    if (n >= 8) {
        cpu_v8d acc = {0};
        for (; i + 8 <= n; i += 8) {
            cpu_v8 x, y;
            memcpy(&x, a + i, sizeof x);
            memcpy(&y, b + i, sizeof y);
            acc += __builtin_convertvector(x, cpu_v8d) * __builtin_convertvector(y, cpu_v8d);
        }
        cpu_v4d s4 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3) +
                     __builtin_shufflevector(acc, acc, 4, 5, 6, 7);
        s = (s4[0] + s4[2]) + (s4[1] + s4[3]);
    }
    for (; i < n; i++) s += (double)a[i] * (double)b[i];
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

// Row-major C = alpha op(A) op(B) + beta C (ta/tb: 1 = transposed), threaded
// over the OpenMP team when OpenBLAS is single-threaded (src/cpu/gemm.c).
void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

// Per-thread slices of scratch slot `slot`: each of ops_num_threads() threads
// gets `per_thread` floats (rounded up to a 64-byte multiple) at
// base + omp_get_thread_num() * (*stride).
static inline float *cpu_thread_scratch(int slot, size_t per_thread, size_t *stride) {
    size_t s = (per_thread + 15) / 16 * 16;
    int nt = omp_get_max_threads();
    *stride = s;
    return cpu_ops_scratch(slot, s * (size_t)(nt > 0 ? nt : 1));
}

#endif
