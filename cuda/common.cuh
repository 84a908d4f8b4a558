// Shared by the CUDA implementation of the op interface (cuda/*.cu only).
#ifndef ASTROMM_CUDA_COMMON_CUH
#define ASTROMM_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "core/error.h"
#include "core/rng.h"
}
#include "cuda/ops_cuda.h"

// Every CUDA / cuBLAS call is checked; failures die with file:line, the call
// and the library's own message (am_die aborts all MPI ranks).
#define CUDA_CHECK(call)                                                                    \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess)                                                              \
            am_die(__FILE__, __LINE__, "CUDA %s: %s (in %s)", cudaGetErrorName(e_),         \
                   cudaGetErrorString(e_), #call);                                          \
    } while (0)

#define CUBLAS_CHECK(call)                                                                  \
    do {                                                                                    \
        cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                    \
            am_die(__FILE__, __LINE__, "cuBLAS status %d (in %s)", (int)s_, #call);         \
    } while (0)

// Check a kernel launch (configuration errors surface here, faults at the next sync).
#define CUDA_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

// The compute stream and cuBLAS handle of the current device (cuda/runtime.cu).
cudaStream_t cuda_stream(void);
cublasHandle_t cuda_cublas(void);

// C = alpha op(A) op(B) + beta C (column-major, cuBLAS conventions; batch > 1:
// strided batched) at the ops precision (cuda/gemm.cu): every GEMM goes here.
void cuda_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *A,
               int lda, long long stride_a, const float *B, int ldb, long long stride_b, float beta, float *C,
               int ldc, long long stride_c, int batch);

// out[c] += sum_k part[k * C + c] over nchunks double partials, chunks combined
// in a fixed order (cuda/reduce.cu): the finishing pass of deterministic column sums.
void cuda_sum_chunks_acc(float *out, const double *part, int nchunks, int C);

// The OpsPrecision ops_set_precision chose (cuda/gemm.cu).
int cuda_precision(void);

// db[j] += sum_i x[i, j] for x [n, m] (n, m > 0) in fixed row chunks (scratch
// slot 0; cuda/linear.cu): the deterministic bias gradient of row-major outputs.
void cuda_colsum_acc(float *db, const float *x, int n, int m);

// Grid size for n elements at `threads` per block, capped (kernels use grid-stride loops).
static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535u * 16u) b = 65535u * 16u;
    return (unsigned)b;
}

// Butterfly reductions over a warp: every lane ends with the bit-identical result.
static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;  // as the CPU: NaN never wins a comparison
    }
    return v;
}

#endif
