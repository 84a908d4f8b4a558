// Linear layer (torch.nn.Linear layout, w [out, in]) on cuBLAS SGEMM.
//
// cuBLAS is column-major: a row-major [R, C] matrix with leading dimension C is,
// to cuBLAS, its transpose [C, R] with the same leading dimension. So the
// row-major product X = A·B is computed as the column-major Xᵀ = Bᵀ·Aᵀ:
//   forward   outᵀ [out, n]  = w   (OP_T of w's view [in, out]) · inᵀ [in, n]
//   din       dinᵀ [in, n]  += wᵀ  (w's view, OP_N)               · doutᵀ [out, n]
//   dw        dwᵀ  [in, out]+= inᵀ [in, n] · dout (OP_T of doutᵀ [out, n])
// db is a column sum of dout in fixed-size row chunks (double partials in
// scratch slot 0, then combined in a fixed order by cuda_sum_chunks_acc): no
// atomics, bit-reproducible.
#include <limits.h>

#include "cuda/common.cuh"

#define LIN_THREADS 256

// out[r, c] = b[c] for out [n, m]; the GEMM then accumulates with beta = 1.
// I = unsigned when total <= INT_MAX (cheap division, and i + grid stride cannot
// wrap), size_t otherwise.
template <typename I>
static __global__ void bias_rows_kernel(float *out, const float *b, I total, int m) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x)
        out[i] = b[i % (I)m];
}

// Column-sum tiles: 32 columns (one warp reads 128 contiguous bytes of a row)
// by 8 row lanes.
#define CS_TX 32
#define CS_TY 8
#define CS_MIN_ROWS 256
#define CS_MAX_CHUNKS 1024

// part[c, j] = sum of x[i, j] over rows i of chunk c ([c*rows, (c+1)*rows) ∩ [0, n)),
// in double. Lane ty sums rows ty, ty+8, ... in order; the 8 lanes are then
// combined by a fixed tree. Grid: x strides over column tiles, y = chunk.
static __global__ void colsum_partial_kernel(double *part, const float *x, int n, int m,
                                             int rows) {
    __shared__ double sh[CS_TY][CS_TX];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.y;
    const int i0 = c * rows;
    const int i1 = i0 + rows < n ? i0 + rows : n;
    const int ntiles = (m + CS_TX - 1) / CS_TX;
    for (int tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {  // uniform per block
        const int j = tile * CS_TX + tx;
        double s = 0.0;
        if (j < m)
            for (int i = i0 + ty; i < i1; i += CS_TY) s += (double)x[(size_t)i * m + j];
        sh[ty][tx] = s;
        __syncthreads();
        for (int h = CS_TY / 2; h > 0; h >>= 1) {
            if (ty < h) sh[ty][tx] += sh[ty + h][tx];
            __syncthreads();
        }
        if (ty == 0 && j < m) part[(size_t)c * m + j] = sh[0][tx];
        __syncthreads();  // sh is rewritten by the next tile
    }
}

// db[j] += sum_i x[i, j] for x [n, m] (n, m > 0). The chunking depends only on
// n, so the summation order (hence the result) is fixed for a shape.
void cuda_colsum_acc(float *db, const float *x, int n, int m) {
    int rows = CS_MIN_ROWS;
    int nchunks = (n + rows - 1) / rows;
    if (nchunks > CS_MAX_CHUNKS) {
        rows = (n + CS_MAX_CHUNKS - 1) / CS_MAX_CHUNKS;
        nchunks = (n + rows - 1) / rows;
    }
    double *part = (double *)cuda_ops_scratch(0, 2 * (size_t)nchunks * (size_t)m);
    const int ntiles = (m + CS_TX - 1) / CS_TX;
    dim3 block(CS_TX, CS_TY);
    dim3 grid((unsigned)(ntiles < 65535 ? ntiles : 65535), (unsigned)nchunks);
    colsum_partial_kernel<<<grid, block, 0, cuda_stream()>>>(part, x, n, m, rows);
    CUDA_LAUNCH_CHECK();
    cuda_sum_chunks_acc(db, part, nchunks, m);
}

extern "C" void cuda_op_linear_forward(float *out, const float *in, const float *w,
                                       const float *b, int n, int in_dim, int out_dim) {
    CHECK(n >= 0 && in_dim >= 0 && out_dim >= 0, "linear: bad shape n %d in %d out %d", n,
          in_dim, out_dim);
    if (n == 0 || out_dim == 0) return;
    const size_t total = (size_t)n * (size_t)out_dim;
    float beta = 0.0f;
    if (b) {
        const unsigned blocks = cuda_blocks(total, LIN_THREADS);
        if (total <= (size_t)INT_MAX)
            bias_rows_kernel<unsigned><<<blocks, LIN_THREADS, 0, cuda_stream()>>>(
                out, b, (unsigned)total, out_dim);
        else
            bias_rows_kernel<size_t><<<blocks, LIN_THREADS, 0, cuda_stream()>>>(out, b, total,
                                                                                out_dim);
        CUDA_LAUNCH_CHECK();
        beta = 1.0f;
    }
    if (in_dim == 0) {
        if (!b) CUDA_CHECK(cudaMemsetAsync(out, 0, total * sizeof *out, cuda_stream()));
        return;
    }
    const float alpha = 1.0f;
    cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, out_dim, n, in_dim, alpha, w, in_dim, 0, in, in_dim, 0, beta, out, out_dim,
              0, 1);
}

extern "C" void cuda_op_linear_backward(float *din, float *dw, float *db, const float *dout,
                                        const float *in, const float *w, int n, int in_dim,
                                        int out_dim) {
    CHECK(n >= 0 && in_dim >= 0 && out_dim >= 0, "linear: bad shape n %d in %d out %d", n,
          in_dim, out_dim);
    if (n == 0 || out_dim == 0) return;
    const float one = 1.0f;
    if (din && in_dim > 0)
        cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_N, in_dim, n, out_dim, one, w, in_dim, 0, dout, out_dim, 0, one, din, in_dim,
                  0, 1);
    if (dw && in_dim > 0)
        cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_T, in_dim, out_dim, n, one, in, in_dim, 0, dout, out_dim, 0, one, dw, in_dim,
                  0, 1);
    if (db) cuda_colsum_acc(db, dout, n, out_dim);
}
