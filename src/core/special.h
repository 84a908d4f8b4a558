// Special functions shared by the host and the CUDA kernels (the same code on
// both, so the CPU and GPU Dirichlet losses agree): digamma in double. lgamma
// comes from libm on the host and from CUDA's math library on the device.
#ifndef ASTROMM_SPECIAL_H
#define ASTROMM_SPECIAL_H

#include <math.h>

#ifdef __CUDACC__
#define SPECIAL_FN static __host__ __device__ __forceinline__
#else
#define SPECIAL_FN static inline
#endif

// psi(x) for x > 0: the recurrence psi(x) = psi(x+1) - 1/x up to x >= 6, then
// the asymptotic series (terms to x^-10); absolute error below 1e-13 for every
// x > 0 (the first omitted term is 691/(32760 x^12) < 1e-10 at x = 6, and the
// series alternates). The Dirichlet losses call it for x in (1, 1e4 + 101].
SPECIAL_FN double am_digamma(double x) {
    double r = 0.0;
    while (x < 6.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    const double f = 1.0 / (x * x);
    const double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132)))));
    return r + log(x) - 0.5 / x + t;
}

#endif
