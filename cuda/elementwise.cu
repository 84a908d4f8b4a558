// Elementwise ops on the GPU: GELU, ReLU, row masks and the BLAS-1 style
// helpers (CUDA twin of src/cpu/elementwise.c).
//
// The CPU build is ISO C (-std=c17), so GCC never contracts a*b+c into an FMA;
// nvcc does by default. Where the CPU result is a plain product then sum, the
// kernels spell it with __fmul_rn / __fadd_rn (never contracted) so the two
// devices give the same bits. GELU uses the CUDA erff/expf, the CPU its own
// polynomial ones: those agree to a few ulp, not bitwise.
//
// sumsq/dot: double partial sums per block in a fixed grid (a function of n
// only), then one block adds the partials in a fixed tree order. No atomics, so
// the result is the same bits on every run.
#include "cuda/common.cuh"

#define GELU_ALPHA 0.70710678118654752440f  // M_SQRT1_2
#define GELU_BETA 0.39894228040143267794f   // 1/sqrt(2 pi)

enum { EW_THREADS = 256, RED_THREADS = 256, RED_MAX_BLOCKS = 1024 };

// ---------------------------------------------------------------- GELU

static __global__ void gelu_forward_kernel(float *out, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        out[i] = __fmul_rn(__fmul_rn(x, 0.5f), __fadd_rn(1.0f, erff(__fmul_rn(x, GELU_ALPHA))));
    }
}

// d/dx = Phi(x) + x phi(x)
static __global__ void gelu_backward_kernel(float *din, const float *dout, const float *in,
                                            size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        float cdf = __fmul_rn(0.5f, __fadd_rn(1.0f, erff(__fmul_rn(x, GELU_ALPHA))));
        float pdf = __fmul_rn(GELU_BETA, expf(__fmul_rn(__fmul_rn(x, x), -0.5f)));
        float d = __fadd_rn(cdf, __fmul_rn(x, pdf));
        din[i] = __fadd_rn(din[i], __fmul_rn(dout[i], d));
    }
}

static __global__ void gelu_backward_inplace_kernel(float *g, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        float cdf = __fmul_rn(0.5f, __fadd_rn(1.0f, erff(__fmul_rn(x, GELU_ALPHA))));
        float pdf = __fmul_rn(GELU_BETA, expf(__fmul_rn(__fmul_rn(x, x), -0.5f)));
        g[i] = __fmul_rn(g[i], __fadd_rn(cdf, __fmul_rn(x, pdf)));
    }
}

extern "C" void cuda_op_gelu_backward_inplace(float *g, const float *in, size_t n) {
    if (n == 0) return;
    gelu_backward_inplace_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(g, in, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_gelu_forward(float *out, const float *in, size_t n) {
    if (n == 0) return;
    gelu_forward_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(out, in, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_gelu_backward(float *din, const float *dout, const float *in, size_t n) {
    if (n == 0 || !din) return;
    gelu_backward_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(din, dout,
                                                                                         in, n);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- ReLU

static __global__ void relu_forward_kernel(float *out, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        out[i] = x < 0.0f ? 0.0f : x;  // NaN propagates, as torch.relu
    }
}

static __global__ void relu_backward_kernel(float *din, const float *dout, const float *in,
                                            size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        din[i] = __fadd_rn(din[i], in[i] > 0.0f ? dout[i] : 0.0f);
}

static __global__ void relu_mask_inplace_kernel(float *g, const float *a, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        g[i] = a[i] > 0.0f ? g[i] : 0.0f;
}

extern "C" void cuda_op_relu_forward(float *out, const float *in, size_t n) {
    if (n == 0) return;
    relu_forward_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(out, in, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_relu_backward(float *din, const float *dout, const float *in, size_t n) {
    if (n == 0 || !din) return;
    relu_backward_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(din, dout,
                                                                                         in, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_relu_mask_inplace(float *g, const float *a, size_t n) {
    if (n == 0) return;
    relu_mask_inplace_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(g, a, n);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- row masks

// x [rows, C] flat; element i belongs to row i / C.
static __global__ void mask_rows_forward_kernel(float *out, const float *in, const float *mask,
                                                size_t total, size_t C) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __fmul_rn(in[i], mask[i / C]);
}

static __global__ void mask_rows_backward_kernel(float *din, const float *dout, const float *mask,
                                                 size_t total, size_t C) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        din[i] = __fadd_rn(din[i], __fmul_rn(dout[i], mask[i / C]));
}

extern "C" void cuda_op_mask_rows_forward(float *out, const float *in, const float *mask, int B,
                                          int L, int C) {
    if (B <= 0 || L <= 0 || C <= 0) return;
    size_t total = (size_t)B * (size_t)L * (size_t)C;
    mask_rows_forward_kernel<<<cuda_blocks(total, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(
        out, in, mask, total, (size_t)C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_mask_rows_backward(float *din, const float *dout, const float *mask, int B,
                                           int L, int C) {
    if (!din || B <= 0 || L <= 0 || C <= 0) return;
    size_t total = (size_t)B * (size_t)L * (size_t)C;
    mask_rows_backward_kernel<<<cuda_blocks(total, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(
        din, dout, mask, total, (size_t)C);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- BLAS-1

static __global__ void axpy_kernel(float *y, float alpha, const float *x, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}

static __global__ void add_kernel(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(a[i], b[i]);
}

static __global__ void scale_kernel(float *x, float alpha, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = __fmul_rn(x[i], alpha);
}

extern "C" void cuda_op_axpy(float *y, float alpha, const float *x, size_t n) {
    if (n == 0) return;
    axpy_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(y, alpha, x, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_add(float *y, const float *a, const float *b, size_t n) {
    if (n == 0) return;
    add_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(y, a, b, n);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_copy(float *y, const float *x, size_t n) {
    if (n == 0 || y == x) return;
    CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof *y, cudaMemcpyDeviceToDevice, cuda_stream()));
}

extern "C" void cuda_op_scale(float *x, float alpha, size_t n) {
    if (n == 0) return;
    scale_kernel<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, cuda_stream()>>>(x, alpha, n);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- sumsq / dot

// Tree sum of RED_THREADS doubles in shared memory, fixed order; thread 0 gets the total.
static __device__ double block_sum_double(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = RED_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

// part[block] = sum over this block's grid-stride elements of a[i]*b[i] in double.
// Launched with exactly RED_THREADS threads per block.
static __global__ void dot_partial_kernel(double *part, const float *a, const float *b, size_t n) {
    __shared__ double sh[RED_THREADS];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * RED_THREADS + threadIdx.x; i < n;
         i += (size_t)gridDim.x * RED_THREADS)
        s += (double)a[i] * (double)b[i];
    double t = block_sum_double(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = t;
}

// *out = sum of part[0..nparts) (one block of RED_THREADS threads).
static __global__ void sum_partials_kernel(double *out, const double *part, unsigned nparts) {
    __shared__ double sh[RED_THREADS];
    double s = 0.0;
    for (unsigned i = threadIdx.x; i < nparts; i += RED_THREADS) s += part[i];
    double t = block_sum_double(s, sh);
    if (threadIdx.x == 0) *out = t;
}

static double device_dot(const float *a, const float *b, size_t n) {
    if (n == 0) return 0.0;
    // The grid depends on n only (never on the GPU), so the summation order is fixed.
    size_t nb = (n + 4 * (size_t)RED_THREADS - 1) / (4 * (size_t)RED_THREADS);
    unsigned nblocks = (unsigned)(nb < (size_t)RED_MAX_BLOCKS ? nb : (size_t)RED_MAX_BLOCKS);
    // nblocks partials + 1 total, in doubles (2 floats each); cudaMalloc'd, so 8-byte aligned.
    double *part = (double *)cuda_ops_scratch(0, 2 * ((size_t)nblocks + 1));
    double *total = part + nblocks;
    cudaStream_t st = cuda_stream();
    dot_partial_kernel<<<nblocks, RED_THREADS, 0, st>>>(part, a, b, n);
    CUDA_LAUNCH_CHECK();
    sum_partials_kernel<<<1, RED_THREADS, 0, st>>>(total, part, nblocks);
    CUDA_LAUNCH_CHECK();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpyAsync(&result, total, sizeof result, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
    return result;
}

extern "C" double cuda_op_sumsq(const float *x, size_t n) { return device_dot(x, x, n); }

extern "C" double cuda_op_dot(const float *a, const float *b, size_t n) {
    return device_dot(a, b, n);
}

// ---------------------------------------------------------------- layer scale

static __global__ void channel_scale_kernel(float *out, const float *in, const float *g, size_t total,
                                            int C, int accumulate) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const float v = __fmul_rn(in[i], g[i % (size_t)C]);
        out[i] = accumulate ? __fadd_rn(out[i], v) : v;
    }
}

// part[k, c] = sum over rows n of chunk k (fixed 256-row chunks) of dout[n, c] in[n, c], in double.
static __global__ void channel_scale_grad_kernel(double *part, const float *dout, const float *in, int N,
                                                 int C, int rows) {
    const int nchunks = (N + rows - 1) / rows;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)nchunks * C;
         i += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(i / (size_t)C), c = (int)(i % (size_t)C);
        const int n1 = (k + 1) * rows < N ? (k + 1) * rows : N;
        double s = 0.0;
        for (int n = k * rows; n < n1; n++) s += (double)__fmul_rn(dout[(size_t)n * C + c], in[(size_t)n * C + c]);
        part[i] = s;
    }
}

extern "C" void cuda_op_channel_scale_forward(float *out, const float *in, const float *g, int N, int C) {
    CHECK(N >= 0 && C > 0, "channel_scale: bad shape N %d C %d", N, C);
    const size_t total = (size_t)N * C;
    if (total == 0) return;
    channel_scale_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(out, in, g, total, C, 0);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_channel_scale_backward(float *din, float *dg, const float *dout, const float *in,
                                               const float *g, int N, int C) {
    CHECK(N >= 0 && C > 0, "channel_scale: bad shape N %d C %d", N, C);
    const size_t total = (size_t)N * C;
    if (total == 0) return;
    if (din) {
        channel_scale_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(din, dout, g, total, C, 1);
        CUDA_LAUNCH_CHECK();
    }
    if (dg) {
        const int rows = 256, nchunks = (N + rows - 1) / rows;
        double *part = (double *)cuda_ops_scratch(0, 2 * (size_t)nchunks * (size_t)C);
        channel_scale_grad_kernel<<<cuda_blocks((size_t)nchunks * C, 256), 256, 0, cuda_stream()>>>(
            part, dout, in, N, C, rows);
        CUDA_LAUNCH_CHECK();
        cuda_sum_chunks_acc(dg, part, nchunks, C);
    }
}
