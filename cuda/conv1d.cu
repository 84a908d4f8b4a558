// Conv1d (channels first, stride 1, zeros or circular padding) on cuBLAS over an
// im2col of the whole batch, the same layout as src/cpu/conv1d.c:
//   col [C_in*K, B*L_out]: row (ci, k), column (b, t) holds x[b, ci, t + k - pad]
//   forward   out_b [C_out, L_out] = W [C_out, C_in*K] · col[:, b*L_out ...]
//             (one strided-batched GEMM straight into [B, C_out, L_out], bias
//             rows written first and accumulated onto with beta = 1)
//   backward  dY [C_out, B*L_out] = dout permuted (one streaming pass), then
//             dW  += dY · colᵀ            (one GEMM, k = B*L_out)
//             dcol = Wᵀ · dY              (one GEMM), gathered onto din (col2im)
//             db  += per-channel sums of dout (fixed chunks, fixed tree: no atomics)
// Row-major X = A·B is issued to column-major cuBLAS as Xᵀ = Bᵀ·Aᵀ (see linear.cu).
// Scratch: slot 0 col, slot 1 dY, slot 2 dcol, slot 3 db partials.
#include <limits.h>

#include "cuda/common.cuh"

#define CONV_THREADS 256

static void check_shape(int B, int C_in, int L, int C_out, int K, int pad, PadMode mode) {
    CHECK(B >= 0 && C_in > 0 && L > 0 && C_out > 0 && K > 0 && pad >= 0,
          "conv1d: bad shape B %d C_in %d L %d C_out %d K %d pad %d", B, C_in, L, C_out, K, pad);
    CHECK(conv1d_out_len(L, K, pad) > 0, "conv1d: kernel %d longer than padded input %d + 2*%d",
          K, L, pad);
    CHECK(mode == PAD_ZEROS || (mode == PAD_CIRCULAR && pad <= L),
          "conv1d: circular padding %d needs pad <= L (%d)", pad, L);
    CHECK((size_t)B * (size_t)conv1d_out_len(L, K, pad) <= (size_t)INT_MAX &&
              (size_t)C_in * (size_t)K <= (size_t)INT_MAX,
          "conv1d: B*L_out or C_in*K exceeds the cuBLAS int range");
}

// Position p of a row of length L under the padding: index into the row, or -1
// for a zero. Circular: p is in [-L, 2L) (pad <= L), wrapped once.
static __device__ __forceinline__ int pad_index(int p, int L, int circular) {
    if (p >= 0 && p < L) return p;
    if (!circular) return -1;
    p %= L;
    return p < 0 ? p + L : p;
}

// Element-wise kernels index with I = unsigned when the element count is at
// most INT_MAX (32-bit division is much cheaper than 64-bit on the GPU, and
// i + grid stride cannot wrap), size_t otherwise.
static inline int fits32(size_t total) { return total <= (size_t)INT_MAX; }

// col[(ci*K + k), (b*Lo + t)] = x[b, ci, pad_index(t + k - pad)] (0 where padded with zeros).
template <typename I>
static __global__ void im2col_kernel(float *col, const float *in, int B, int C_in, int L, int K,
                                     int pad, int circular, int Lo) {
    const I NL = (I)B * (I)Lo;
    const I total = (I)C_in * (I)K * NL;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x) {
        const I row = i / NL, j = i - row * NL;
        const int ci = (int)(row / (I)K), k = (int)(row - (I)ci * (I)K);
        const int b = (int)(j / (I)Lo), t = (int)(j - (I)b * (I)Lo);
        const int p = pad_index(t + k - pad, L, circular);
        col[i] = p < 0 ? 0.0f : in[((size_t)b * C_in + ci) * L + p];
    }
}

// din[b, ci, p] += sum over taps k (ascending) and, within a tap, output
// positions t (ascending) with pad_index(t + k - pad) == p, of
// dcol[(ci*K + k), (b*Lo + t)]. One thread per input element gathers its own
// contributions: no atomics, a fixed order. Zeros: the single t = p - (k - pad)
// when it is in [0, Lo). Circular: every t in [0, Lo) congruent to p - (k - pad)
// modulo L (Lo may exceed L, so one tap can wrap onto p more than once).
template <typename I>
static __global__ void col2im_kernel(float *din, const float *dcol, int B, int C_in, int L, int K,
                                     int pad, int circular, int Lo) {
    const size_t NL = (size_t)B * (size_t)Lo;
    const I total = (I)B * (I)C_in * (I)L;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x) {
        const I bc = i / (I)L;
        const int p = (int)(i - bc * (I)L);
        const int b = (int)(bc / (I)C_in), ci = (int)(bc - (I)b * (I)C_in);
        const float *src = dcol + (size_t)ci * K * NL + (size_t)b * Lo;
        float s = 0.0f;
        for (int k = 0; k < K; k++, src += NL) {
            int t = p - (k - pad);  // the t with t + (k - pad) == p; in [-(K-1), L-1+pad]
            if (!circular) {
                if (t >= 0 && t < Lo) s += src[t];
            } else {
                t %= L;
                if (t < 0) t += L;
                for (; t < Lo; t += L) s += src[t];
            }
        }
        din[i] += s;
    }
}

// out[b, co, t] = bias[co]; the strided-batched GEMM then accumulates (beta = 1).
template <typename I>
static __global__ void bias_fill_kernel(float *out, const float *bias, I total, int C_out, int Lo) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x)
        out[i] = bias[(i / (I)Lo) % (I)C_out];
}

// g[co, b*Lo + t] = dout[b, co, t]: [B, C_out, Lo] -> [C_out, B*Lo].
template <typename I>
static __global__ void permute_dy_kernel(float *g, const float *dout, int B, int C_out, int Lo) {
    const I NL = (I)B * (I)Lo;
    const I total = (I)C_out * NL;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x) {
        const I co = i / NL, j = i - co * NL;
        const I b = j / (I)Lo, t = j - b * (I)Lo;
        g[i] = dout[((size_t)b * (size_t)C_out + (size_t)co) * (size_t)Lo + (size_t)t];
    }
}

// db partials: part[c, co] = sum of dout[b, co, t] over the samples b of chunk c
// ([c*bper, (c+1)*bper) ∩ [0, B)) and all t, in double. Each thread sums a
// fixed strided subset in order; the block then combines them by a fixed tree.
// Grid: x strides over channels, y = chunk.
#define DB_THREADS 256
#define DB_MIN_ELEMS 4096
#define DB_MAX_CHUNKS 64

static __global__ void bias_grad_partial_kernel(double *part, const float *dout, int B, int C_out,
                                                int Lo, int bper) {
    __shared__ double sh[DB_THREADS];
    const int c = blockIdx.y;
    const int b0 = c * bper;
    const int b1 = b0 + bper < B ? b0 + bper : B;
    const int cnt = (b1 - b0) * Lo;  // <= B*Lo <= INT_MAX (check_shape)
    for (int co = blockIdx.x; co < C_out; co += gridDim.x) {  // uniform per block
        double s = 0.0;
        for (int e = threadIdx.x; e < cnt; e += DB_THREADS) {
            const int bi = e / Lo, t = e - bi * Lo;
            s += (double)dout[((size_t)(b0 + bi) * (size_t)C_out + (size_t)co) * (size_t)Lo + t];
        }
        sh[threadIdx.x] = s;
        __syncthreads();
        for (int h = DB_THREADS / 2; h > 0; h >>= 1) {
            if ((int)threadIdx.x < h) sh[threadIdx.x] += sh[threadIdx.x + h];
            __syncthreads();
        }
        if (threadIdx.x == 0) part[(size_t)c * C_out + co] = sh[0];
        __syncthreads();  // sh is rewritten for the next channel
    }
}

// db[co] += sum over chunks c (in order) of part[c, co].
static __global__ void bias_grad_finish_kernel(float *db, const double *part, int nchunks,
                                               int C_out) {
    for (int co = blockIdx.x * blockDim.x + threadIdx.x; co < C_out;
         co += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int c = 0; c < nchunks; c++) s += part[(size_t)c * C_out + co];
        db[co] += (float)s;
    }
}

static void bias_grad_acc(float *db, const float *dout, int B, int C_out, int Lo) {
    // Samples per chunk: enough for DB_MIN_ELEMS elements, at most DB_MAX_CHUNKS
    // chunks. Depends only on the shape, so the summation order is fixed.
    int bper = (DB_MIN_ELEMS + Lo - 1) / Lo;
    if (bper < 1) bper = 1;
    if (bper > B) bper = B;
    int nchunks = (B + bper - 1) / bper;
    if (nchunks > DB_MAX_CHUNKS) {
        bper = (B + DB_MAX_CHUNKS - 1) / DB_MAX_CHUNKS;
        nchunks = (B + bper - 1) / bper;
    }
    double *part = (double *)cuda_ops_scratch(3, 2 * (size_t)nchunks * (size_t)C_out);
    dim3 grid((unsigned)(C_out < 65535 ? C_out : 65535), (unsigned)nchunks);
    bias_grad_partial_kernel<<<grid, DB_THREADS, 0, cuda_stream()>>>(part, dout, B, C_out, Lo,
                                                                     bper);
    CUDA_LAUNCH_CHECK();
    bias_grad_finish_kernel<<<cuda_blocks((size_t)C_out, CONV_THREADS), CONV_THREADS, 0,
                              cuda_stream()>>>(db, part, nchunks, C_out);
    CUDA_LAUNCH_CHECK();
}

static void im2col(float *col, const float *in, int B, int C_in, int L, int K, int pad,
                   PadMode mode, int Lo) {
    const size_t total = (size_t)C_in * (size_t)K * (size_t)B * (size_t)Lo;
    const unsigned blocks = cuda_blocks(total, CONV_THREADS);
    if (fits32(total))
        im2col_kernel<unsigned><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(
            col, in, B, C_in, L, K, pad, mode == PAD_CIRCULAR, Lo);
    else
        im2col_kernel<size_t><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(
            col, in, B, C_in, L, K, pad, mode == PAD_CIRCULAR, Lo);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_conv1d_forward(float *out, const float *in, const float *w,
                                       const float *b, int B, int C_in, int L, int C_out, int K,
                                       int pad, PadMode mode) {
    check_shape(B, C_in, L, C_out, K, pad, mode);
    if (B == 0) return;
    const int Lo = conv1d_out_len(L, K, pad), CK = C_in * K;
    const int NL = B * Lo;
    float *col = cuda_ops_scratch(0, (size_t)CK * (size_t)NL);
    im2col(col, in, B, C_in, L, K, pad, mode, Lo);
    float beta = 0.0f;
    if (b) {
        const size_t total = (size_t)B * (size_t)C_out * (size_t)Lo;
        const unsigned blocks = cuda_blocks(total, CONV_THREADS);
        if (fits32(total))
            bias_fill_kernel<unsigned><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(
                out, b, (unsigned)total, C_out, Lo);
        else
            bias_fill_kernel<size_t><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(out, b, total,
                                                                                C_out, Lo);
        CUDA_LAUNCH_CHECK();
        beta = 1.0f;
    }
    // Per sample b, column-major: out_bᵀ [Lo, C_out] (ld Lo) =
    //   col_bᵀ [Lo, CK] (col + b*Lo, ld NL) · Wᵀ [CK, C_out] (w, ld CK).
    const float alpha = 1.0f;
    cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_N, Lo, C_out, CK, alpha, col, NL, (long long)Lo, w, CK, 0LL, beta, out, Lo,
              (long long)C_out * Lo, B);
}

extern "C" void cuda_op_conv1d_backward(float *din, float *dw, float *db, const float *dout,
                                        const float *in, const float *w, int B, int C_in, int L,
                                        int C_out, int K, int pad, PadMode mode) {
    check_shape(B, C_in, L, C_out, K, pad, mode);
    if (B == 0 || (!din && !dw && !db)) return;
    const int Lo = conv1d_out_len(L, K, pad), CK = C_in * K;
    const int NL = B * Lo;

    if (db) bias_grad_acc(db, dout, B, C_out, Lo);
    if (!dw && !din) return;

    float *g = cuda_ops_scratch(1, (size_t)C_out * (size_t)NL);
    {
        const size_t total = (size_t)C_out * (size_t)NL;
        const unsigned blocks = cuda_blocks(total, CONV_THREADS);
        if (fits32(total))
            permute_dy_kernel<unsigned><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(g, dout, B,
                                                                                   C_out, Lo);
        else
            permute_dy_kernel<size_t><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(g, dout, B,
                                                                                 C_out, Lo);
        CUDA_LAUNCH_CHECK();
    }
    const float one = 1.0f, zero = 0.0f;
    if (dw) {
        float *col = cuda_ops_scratch(0, (size_t)CK * (size_t)NL);
        im2col(col, in, B, C_in, L, K, pad, mode, Lo);
        // dWᵀ [CK, C_out] (ld CK) += col (OP_T of its view [NL, CK], ld NL) · dYᵀ [NL, C_out] (ld NL)
        cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, CK, C_out, NL, one, col, NL, 0, g, NL, 0, one, dw, CK, 0, 1);
    }
    if (din) {
        float *dcol = cuda_ops_scratch(2, (size_t)CK * (size_t)NL);
        // dcolᵀ [NL, CK] (ld NL) = dYᵀ [NL, C_out] (ld NL) · W (OP_T of its view [CK, C_out], ld CK)
        cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_T, NL, CK, C_out, one, g, NL, 0, w, CK, 0, zero, dcol, NL, 0, 1);
        const size_t total = (size_t)B * (size_t)C_in * (size_t)L;
        const unsigned blocks = cuda_blocks(total, CONV_THREADS);
        if (fits32(total))
            col2im_kernel<unsigned><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(
                din, dcol, B, C_in, L, K, pad, mode == PAD_CIRCULAR, Lo);
        else
            col2im_kernel<size_t><<<blocks, CONV_THREADS, 0, cuda_stream()>>>(
                din, dcol, B, C_in, L, K, pad, mode == PAD_CIRCULAR, Lo);
        CUDA_LAUNCH_CHECK();
    }
}
