// The GEMMs of the CUDA ops (linear, conv1d) at the precision ops_set_precision
// chose: FP32 (cublasSgemm), TF32 (same call, tensor-core math mode) or BF16
// (A and B rounded to bfloat16 into grow-only scratch, cublasGemmEx with fp32
// accumulation and fp32 C: "bf16 inputs, fp32 accumulate").
#include <cuda_bf16.h>

#include "cuda/common.cuh"

static int g_precision = OPS_FP32;
static __nv_bfloat16 *g_bf[2];
static size_t g_bf_cap[2];

extern "C" void cuda_ops_set_precision(int precision) {
    g_precision = precision;
    CUBLAS_CHECK(cublasSetMathMode(cuda_cublas(), precision == OPS_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                          : CUBLAS_DEFAULT_MATH));
}

int cuda_precision(void) { return g_precision; }

static __nv_bfloat16 *bf_buffer(int slot, size_t n) {
    if (n > g_bf_cap[slot]) {
        if (g_bf[slot]) {
            CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));  // the old buffer may still be read
            CUDA_CHECK(cudaFree(g_bf[slot]));
        }
        CUDA_CHECK(cudaMalloc(&g_bf[slot], n * sizeof(__nv_bfloat16)));
        g_bf_cap[slot] = n;
    }
    return g_bf[slot];
}

// Four floats per thread-iteration (a 16-byte load, an 8-byte store) when x is
// 16-byte aligned; the element-wise form moved ~4x fewer bytes per instruction.
static __global__ void to_bf16_kernel(__nv_bfloat16 *out, const float *in, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}

static __global__ void to_bf16_vec4_kernel(__nv_bfloat16 *out, const float *in, size_t n4) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
        const float4 v = ((const float4 *)in)[i];
        __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
        ((__nv_bfloat162 *)out)[2 * i] = lo;
        ((__nv_bfloat162 *)out)[2 * i + 1] = hi;
    }
}

static const __nv_bfloat16 *as_bf16(int slot, const float *x, size_t n) {
    __nv_bfloat16 *b = bf_buffer(slot, n);
    size_t done = 0;
    if (((uintptr_t)x & 15u) == 0 && n >= 4) {  // b is cudaMalloc'd: 256-byte aligned
        const size_t n4 = n / 4;
        to_bf16_vec4_kernel<<<cuda_blocks(n4, 256), 256, 0, cuda_stream()>>>(b, x, n4);
        CUDA_LAUNCH_CHECK();
        done = 4 * n4;
    }
    if (done < n) {
        to_bf16_kernel<<<cuda_blocks(n - done, 256), 256, 0, cuda_stream()>>>(b + done, x + done, n - done);
        CUDA_LAUNCH_CHECK();
    }
    return b;
}

// Elements a column-major rows x cols matrix with leading dimension ld spans,
// over `batch` copies `stride` apart (the bf16 copy keeps the same layout).
static size_t span(int rows, int cols, int ld, long long stride, int batch) {
    return (size_t)ld * (size_t)(cols - 1) + (size_t)rows + (batch > 1 ? (size_t)stride * (size_t)(batch - 1) : 0);
}

void cuda_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *A,
               int lda, long long stride_a, const float *B, int ldb, long long stride_b, float beta, float *C,
               int ldc, long long stride_c, int batch) {
    cublasHandle_t h = cuda_cublas();
    if (g_precision != OPS_BF16 || m == 0 || n == 0 || k == 0) {
        if (batch == 1)
            CUBLAS_CHECK(cublasSgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
        else
            CUBLAS_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &alpha, A, lda, stride_a, B, ldb, stride_b,
                                                   &beta, C, ldc, stride_c, batch));
        return;
    }
    const int rows_a = ta == CUBLAS_OP_N ? m : k, cols_a = ta == CUBLAS_OP_N ? k : m;
    const int rows_b = tb == CUBLAS_OP_N ? k : n, cols_b = tb == CUBLAS_OP_N ? n : k;
    const __nv_bfloat16 *a = as_bf16(0, A, span(rows_a, cols_a, lda, stride_a, batch));
    const __nv_bfloat16 *b = as_bf16(1, B, span(rows_b, cols_b, ldb, stride_b, batch));
    if (batch == 1)
        CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &alpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, &beta, C,
                                  CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    else
        CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, &alpha, a, CUDA_R_16BF, lda, stride_a, b,
                                                CUDA_R_16BF, ldb, stride_b, &beta, C, CUDA_R_32F, ldc, stride_c,
                                                batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
