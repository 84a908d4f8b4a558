// LayerNorm over the last dimension and row-wise L2 normalisation on the GPU
// (CUDA twin of src/cpu/norm.c).
//
// Row work is one warp per row: each lane sums its columns (c = lane, lane+32,
// ...) in order, then an xor-butterfly of shuffles combines the lanes, which
// leaves the same bits in every lane and on every run.
//
// LayerNorm's dw/db are sums over rows: rows are cut into fixed chunks (a
// function of N only); one thread per (chunk, column) sums its chunk's rows in
// order in double into scratch slot 0, then one thread per column adds the
// chunk partials in a fixed order (cuda/reduce.cu). No atomics: bit-reproducible.
#include "cuda/common.cuh"

#define L2_EPS 1e-12f

enum { ROW_THREADS = 256, WARPS_PER_BLOCK = ROW_THREADS / 32, COL_THREADS = 256 };

// Blocks for one warp per row.
static unsigned row_blocks(int N) { return cuda_blocks((size_t)N * 32, ROW_THREADS); }

// ---------------------------------------------------------------- LayerNorm

static __global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd,
                                                const float *in, const float *w, const float *b,
                                                int N, int C, float eps) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *x = in + n * (size_t)C;
        float *y = out + n * (size_t)C;
        float s = 0.0f;
        for (int c = lane; c < C; c += 32) s += x[c];
        s = warp_sum(s);
        const float mu = s / (float)C;
        float v = 0.0f;  // two-pass (biased) variance
        for (int c = lane; c < C; c += 32) {
            float d = x[c] - mu;
            v += d * d;
        }
        v = warp_sum(v);
        const float rs = 1.0f / sqrtf(v / (float)C + eps);
        if (lane == 0) {
            mean[n] = mu;
            rstd[n] = rs;
        }
        for (int c = lane; c < C; c += 32) {
            float t = __fmul_rn(__fmul_rn(x[c] - mu, rs), w ? w[c] : 1.0f);
            y[c] = __fadd_rn(t, b ? b[c] : 0.0f);
        }
    }
}

extern "C" void cuda_op_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                                          const float *w, const float *b, int N, int C, float eps) {
    CHECK(N >= 0 && C > 0 && eps > 0.0f, "layernorm: bad shape N %d C %d or eps %g", N, C, (double)eps);
    if (N == 0) return;
    layernorm_forward_kernel<<<row_blocks(N), ROW_THREADS, 0, cuda_stream()>>>(out, mean, rstd, in,
                                                                               w, b, N, C, eps);
    CUDA_LAUNCH_CHECK();
}

// din += rstd (g - mean_c(g) - xhat mean_c(g xhat)),  g = dout * w, xhat = (x - mean) rstd
static __global__ void layernorm_backward_din_kernel(float *din, const float *dout,
                                                     const float *in, const float *mean,
                                                     const float *rstd, const float *w, int N,
                                                     int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *x = in + n * (size_t)C;
        const float *dy = dout + n * (size_t)C;
        float *dx = din + n * (size_t)C;
        const float mu = mean[n], rs = rstd[n];
        float sg = 0.0f, sgx = 0.0f;
        for (int c = lane; c < C; c += 32) {
            float g = __fmul_rn(dy[c], w ? w[c] : 1.0f);
            sg += g;
            sgx += __fmul_rn(__fmul_rn(g, x[c] - mu), rs);
        }
        sg = warp_sum(sg);
        sgx = warp_sum(sgx);
        const float mg = sg / (float)C, mgx = sgx / (float)C;
        for (int c = lane; c < C; c += 32) {
            float g = __fmul_rn(dy[c], w ? w[c] : 1.0f);
            float xh = __fmul_rn(x[c] - mu, rs);
            float d = __fsub_rn(g - mg, __fmul_rn(xh, mgx));
            dx[c] = __fadd_rn(dx[c], __fmul_rn(rs, d));
        }
    }
}

// part_w[k, c] / part_b[k, c] = sum over rows of chunk k (rows k*rpc .. ) of
// dout xhat and dout, in double, rows in order. Thread per (chunk, column).
static __global__ void layernorm_backward_partial_kernel(double *part_w, double *part_b,
                                                         const float *dout, const float *in,
                                                         const float *mean, const float *rstd,
                                                         int N, int C, int rpc, int nchunks) {
    const size_t total = (size_t)nchunks * (size_t)C;
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(t / (size_t)C), c = (int)(t % (size_t)C);
        const int r0 = k * rpc, r1 = r0 + rpc < N ? r0 + rpc : N;
        double sw = 0.0, sb = 0.0;
        for (int r = r0; r < r1; r++) {
            const size_t i = (size_t)r * (size_t)C + (size_t)c;
            const float dy = dout[i];
            sw += (double)__fmul_rn(dy, __fmul_rn(in[i] - mean[r], rstd[r]));
            sb += (double)dy;
        }
        if (part_w) part_w[t] = sw;
        if (part_b) part_b[t] = sb;
    }
}

extern "C" void cuda_op_layernorm_backward(float *din, float *dw, float *db, const float *dout,
                                           const float *in, const float *mean, const float *rstd,
                                           const float *w, int N, int C) {
    if (N <= 0 || C <= 0) return;
    cudaStream_t st = cuda_stream();
    if (din) {
        layernorm_backward_din_kernel<<<row_blocks(N), ROW_THREADS, 0, st>>>(din, dout, in, mean,
                                                                             rstd, w, N, C);
        CUDA_LAUNCH_CHECK();
    }
    if (dw || db) {
        // Rows per chunk: at least 32, and at most ~2048 chunks (one thread per
        // chunk and column: enough threads to fill the GPU). Depends on N only.
        int rpc = (N + 2047) / 2048;
        if (rpc < 32) rpc = 32;
        const int nchunks = (N + rpc - 1) / rpc;
        const size_t per = (size_t)nchunks * (size_t)C;  // doubles per partial array
        // Two arrays of `per` doubles = 4 * per floats (cudaMalloc'd: 8-byte aligned).
        double *part = (double *)cuda_ops_scratch(0, 4 * per);
        double *part_w = dw ? part : NULL;
        double *part_b = db ? part + per : NULL;
        layernorm_backward_partial_kernel<<<cuda_blocks(per, COL_THREADS), COL_THREADS, 0, st>>>(
            part_w, part_b, dout, in, mean, rstd, N, C, rpc, nchunks);
        CUDA_LAUNCH_CHECK();
        if (dw) cuda_sum_chunks_acc(dw, part_w, nchunks, C);
        if (db) cuda_sum_chunks_acc(db, part_b, nchunks, C);
    }
}

// ---------------------------------------------------------------- L2 normalisation

static __global__ void l2norm_forward_kernel(float *out, float *norm, const float *in, int N,
                                             int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *x = in + n * (size_t)C;
        float *y = out + n * (size_t)C;
        float s = 0.0f;
        for (int c = lane; c < C; c += 32) s = __fadd_rn(s, __fmul_rn(x[c], x[c]));
        s = warp_sum(s);
        float nr = sqrtf(s);
        nr = nr > L2_EPS ? nr : L2_EPS;
        if (lane == 0) norm[n] = nr;
        for (int c = lane; c < C; c += 32) y[c] = x[c] / nr;
    }
}

// din += (dout - y (y . dout)) / n; when the norm was clamped to eps, din += dout / eps.
static __global__ void l2norm_backward_kernel(float *din, const float *dout, const float *out,
                                              const float *norm, int N, int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *y = out + n * (size_t)C;
        const float *dy = dout + n * (size_t)C;
        float *dx = din + n * (size_t)C;
        const float nr = norm[n];
        float dot = 0.0f;
        if (nr > L2_EPS) {  // uniform across the warp: nr is one value per row
            for (int c = lane; c < C; c += 32) dot = __fadd_rn(dot, __fmul_rn(y[c], dy[c]));
            dot = warp_sum(dot);
        }
        for (int c = lane; c < C; c += 32)
            dx[c] = __fadd_rn(dx[c], __fsub_rn(dy[c], __fmul_rn(y[c], dot)) / nr);
    }
}

extern "C" void cuda_op_l2norm_forward(float *out, float *norm, const float *in, int N, int C) {
    if (N <= 0 || C <= 0) return;
    l2norm_forward_kernel<<<row_blocks(N), ROW_THREADS, 0, cuda_stream()>>>(out, norm, in, N, C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_l2norm_backward(float *din, const float *dout, const float *out,
                                        const float *norm, int N, int C) {
    if (!din || N <= 0 || C <= 0) return;
    l2norm_backward_kernel<<<row_blocks(N), ROW_THREADS, 0, cuda_stream()>>>(din, dout, out, norm,
                                                                             N, C);
    CUDA_LAUNCH_CHECK();
}
