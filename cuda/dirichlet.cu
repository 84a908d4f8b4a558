// Zoobot's vote head and loss on the GPU (CUDA twin of src/cpu/dirichlet.c):
// one thread per element (concentrations) or per sample (likelihood), in
// double, with the shared digamma (core/special.h). Counts are validated on
// the host side of the CPU path only; here a negative or non-finite count
// gives a NaN loss, which the trainer's non-finite check reports.
#include "cuda/common.cuh"
#include "core/special.h"

static __global__ void concentration_kernel(float *alpha, const float *logits, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        alpha[i] = (float)(1.0 + 100.0 / (1.0 + exp(-(double)logits[i])));
}

static __global__ void concentration_backward_kernel(float *dlogits, const float *dalpha, const float *logits,
                                                     size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const double s = 1.0 / (1.0 + exp(-(double)logits[i]));
        dlogits[i] += (float)((double)dalpha[i] * 100.0 * s * (1.0 - s));
    }
}

extern "C" void cuda_op_dirichlet_concentration_forward(float *alpha, const float *logits, size_t n) {
    if (n == 0) return;
    concentration_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(alpha, logits, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_dirichlet_concentration_backward(float *dlogits, const float *dalpha,
                                                         const float *logits, size_t n) {
    if (n == 0) return;
    concentration_backward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dlogits, dalpha, logits, n);
    CUDA_LAUNCH_CHECK();
}

// first/last live on the device (ops.h: index arrays are device pointers).
static __global__ void dm_kernel(float *nll, float *dalpha, const float *alpha, const float *counts,
                                 const int32_t *first, const int32_t *last, int B, int A, int Q, float dloss) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < B; b += gridDim.x * blockDim.x) {
        const float *al = alpha + (size_t)b * A, *k = counts + (size_t)b * A;
        double loss = 0.0;
        for (int q = 0; q < Q; q++) {
            double N = 0.0, a0 = 0.0;
            for (int a = first[q]; a <= last[q]; a++) {
                N += k[a];
                a0 += al[a];
            }
            if (N == 0.0) continue;
            if (nll) {
                double t = lgamma(N + 1.0) + lgamma(a0) - lgamma(N + a0);
                for (int a = first[q]; a <= last[q]; a++)
                    t += lgamma((double)k[a] + al[a]) - lgamma((double)al[a]) - lgamma((double)k[a] + 1.0);
                loss -= t;
            }
            if (dalpha) {
                const double common = am_digamma(N + a0) - am_digamma(a0);
                for (int a = first[q]; a <= last[q]; a++)
                    dalpha[(size_t)b * A + a] +=
                        (float)((double)dloss * (common - am_digamma((double)k[a] + al[a]) + am_digamma((double)al[a])));
            }
        }
        if (nll) nll[b] = (float)loss;
    }
}

static void check_shape(int B, int A, int Q) {
    CHECK(B >= 0 && A > 0 && Q > 0, "dirichlet_multinomial: bad shape B %d A %d Q %d", B, A, Q);
}

extern "C" void cuda_op_dirichlet_multinomial_forward(float *nll, const float *alpha, const float *counts,
                                                      const int32_t *first, const int32_t *last, int B, int A,
                                                      int Q) {
    check_shape(B, A, Q);
    if (B == 0) return;
    dm_kernel<<<cuda_blocks((size_t)B, 128), 128, 0, cuda_stream()>>>(nll, NULL, alpha, counts, first, last, B, A,
                                                                     Q, 0.0f);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_dirichlet_multinomial_backward(float *dalpha, const float *alpha, const float *counts,
                                                       const int32_t *first, const int32_t *last, int B, int A,
                                                       int Q, float dloss) {
    check_shape(B, A, Q);
    if (B == 0) return;
    dm_kernel<<<cuda_blocks((size_t)B, 128), 128, 0, cuda_stream()>>>(NULL, dalpha, alpha, counts, first, last, B,
                                                                     A, Q, dloss);
    CUDA_LAUNCH_CHECK();
}
