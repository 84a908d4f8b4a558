// Row softmax and mean softmax cross-entropy on the GPU (CUDA twin of
// src/cpu/softmax.c).
//
// One warp per row: each lane handles columns lane, lane+32, ... in order and an
// xor-butterfly of shuffles combines the lanes (same bits in every lane and on
// every run). The cross-entropy loss is kept per row in double (scratch slot 0)
// and the rows are summed by one block in a fixed tree order: no atomics on
// floats, so the loss is bit-reproducible. Invalid labels set a per-row flag;
// the same block finds the first bad row (as the CPU reports) for the host.
#include <limits.h>
#include <math.h>

#include "cuda/common.cuh"

enum { ROW_THREADS = 256, SUM_THREADS = 256, EW_THREADS = 256 };

static unsigned row_blocks(int N) { return cuda_blocks((size_t)N * 32, ROW_THREADS); }

// ---------------------------------------------------------------- softmax

// out == in allowed: every lane reads then writes its own columns.
static __global__ void softmax_forward_kernel(float *out, const float *in, int N, int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *x = in + n * (size_t)C;
        float *y = out + n * (size_t)C;
        float mx = -INFINITY;
        for (int c = lane; c < C; c += 32) mx = x[c] > mx ? x[c] : mx;
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int c = lane; c < C; c += 32) {
            float e = expf(x[c] - mx);
            y[c] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        const float inv = 1.0f / sum;
        for (int c = lane; c < C; c += 32) y[c] *= inv;
    }
}

// din += out * (dout - sum_c dout*out)
static __global__ void softmax_backward_kernel(float *din, const float *dout, const float *out,
                                               int N, int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *y = out + n * (size_t)C, *dy = dout + n * (size_t)C;
        float *dx = din + n * (size_t)C;
        float s = 0.0f;
        for (int c = lane; c < C; c += 32) s = __fadd_rn(s, __fmul_rn(dy[c], y[c]));
        s = warp_sum(s);
        for (int c = lane; c < C; c += 32)
            dx[c] = __fadd_rn(dx[c], __fmul_rn(y[c], __fsub_rn(dy[c], s)));
    }
}

extern "C" void cuda_op_softmax_forward(float *out, const float *in, int N, int C) {
    if (N <= 0 || C <= 0) return;
    softmax_forward_kernel<<<row_blocks(N), ROW_THREADS, 0, cuda_stream()>>>(out, in, N, C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_softmax_backward(float *din, const float *dout, const float *out, int N,
                                         int C) {
    if (!din || N <= 0 || C <= 0) return;
    softmax_backward_kernel<<<row_blocks(N), ROW_THREADS, 0, cuda_stream()>>>(din, dout, out, N,
                                                                              C);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- cross-entropy

// probs = softmax(logits) row-wise; row_loss[n] = log(sum exp(x - max)) + max - x[label]
// in double; bad[n] = 1 when the label is outside [0, C) (row_loss[n] = 0 then,
// probs still written); the host dies on it.
static __global__ void cross_entropy_rows_kernel(float *probs, double *row_loss, int *bad,
                                                 const float *logits, const int32_t *labels,
                                                 int N, int C) {
    const int lane = threadIdx.x & 31;
    const size_t warp0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t n = warp0; n < (size_t)N; n += nwarps) {
        const float *x = logits + n * (size_t)C;
        float *p = probs + n * (size_t)C;
        float mx = -INFINITY;
        for (int c = lane; c < C; c += 32) mx = x[c] > mx ? x[c] : mx;
        mx = warp_max(mx);
        double s = 0.0;
        for (int c = lane; c < C; c += 32) {
            float e = expf(x[c] - mx);
            p[c] = e;
            s += (double)e;
        }
        s = warp_sum_d(s);
        const float inv = (float)(1.0 / s);
        for (int c = lane; c < C; c += 32) p[c] *= inv;
        if (lane == 0) {
            const int32_t lab = labels[n];
            const int ok = lab >= 0 && lab < C;
            row_loss[n] = ok ? log(s) + (double)mx - (double)x[lab] : 0.0;
            bad[n] = !ok;
        }
    }
}

// What the loss kernels hand back to the host in one copy.
struct CeResult {
    double total;  // sum of the row losses
    int bad_row;   // first row with a bad label, INT_MAX when none
    int pad_;
};

// res->total = sum of row_loss[0..N) and res->bad_row = the first n with bad[n]
// (one block of SUM_THREADS threads, fixed tree order: no atomics).
static __global__ void sum_rows_kernel(CeResult *res, const double *row_loss, const int *bad,
                                       int N) {
    __shared__ double sh[SUM_THREADS];
    __shared__ int shb[SUM_THREADS];
    double s = 0.0;
    int first = INT_MAX;
    for (int i = (int)threadIdx.x; i < N; i += SUM_THREADS) {
        s += row_loss[i];
        if (bad[i] && i < first) first = i;
    }
    sh[threadIdx.x] = s;
    shb[threadIdx.x] = first;
    __syncthreads();
    for (unsigned k = SUM_THREADS / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) {
            sh[threadIdx.x] += sh[threadIdx.x + k];
            shb[threadIdx.x] = min(shb[threadIdx.x], shb[threadIdx.x + k]);
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        res->total = sh[0];
        res->bad_row = shb[0];
        res->pad_ = 0;
    }
}

extern "C" float cuda_op_cross_entropy_forward(float *probs, const float *logits,
                                               const int32_t *labels, int N, int C) {
    CHECK(N > 0 && C > 0, "cross entropy: bad shape N %d C %d", N, C);
    // Scratch slot 0 (cudaMalloc'd, 8-byte aligned), in floats: N row losses
    // (doubles, 2N), the CeResult (16 bytes, 4), then N int flags (N).
    double *row_loss = (double *)cuda_ops_scratch(0, 3 * (size_t)N + 4);
    CeResult *res = (CeResult *)(row_loss + N);
    int *bad = (int *)(res + 1);
    cudaStream_t st = cuda_stream();
    cross_entropy_rows_kernel<<<row_blocks(N), ROW_THREADS, 0, st>>>(probs, row_loss, bad, logits,
                                                                     labels, N, C);
    CUDA_LAUNCH_CHECK();
    sum_rows_kernel<<<1, SUM_THREADS, 0, st>>>(res, row_loss, bad, N);
    CUDA_LAUNCH_CHECK();
    CeResult out;
    CUDA_CHECK(cudaMemcpyAsync(&out, res, sizeof out, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
    if (out.bad_row != INT_MAX) {
        int32_t lab = 0;
        CUDA_CHECK(cudaMemcpyAsync(&lab, labels + out.bad_row, sizeof lab, cudaMemcpyDeviceToHost,
                                   st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        DIE("cross entropy: label %d of row %d outside [0, %d)", (int)lab, out.bad_row, C);
    }
    return (float)(out.total / N);
}

// dlogits += s * probs, then dlogits[n, label] -= s, with s = dloss / N (as the CPU:
// the product is added first, the label's s subtracted after).
static __global__ void cross_entropy_backward_kernel(float *dlogits, const float *probs,
                                                     const int32_t *labels, size_t total, int C,
                                                     float s) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / (size_t)C;
        const int c = (int)(i - n * (size_t)C);
        float d = __fadd_rn(dlogits[i], __fmul_rn(s, probs[i]));
        if (c == labels[n]) d = __fsub_rn(d, s);
        dlogits[i] = d;
    }
}

extern "C" void cuda_op_cross_entropy_backward(float *dlogits, const float *probs,
                                               const int32_t *labels, int N, int C, float dloss) {
    if (!dlogits || N <= 0 || C <= 0) return;
    const float s = dloss / (float)N;
    const size_t total = (size_t)N * (size_t)C;
    cross_entropy_backward_kernel<<<cuda_blocks(total, EW_THREADS), EW_THREADS, 0,
                                    cuda_stream()>>>(dlogits, probs, labels, total, C, s);
    CUDA_LAUNCH_CHECK();
}
