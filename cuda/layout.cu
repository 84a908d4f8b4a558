// CUDA layout ops (reference: src/cpu/layout.c, pool.c, position.c): batched
// transpose, row gather / scatter-add / zeroing, MaxPool1d(k) with stride k and
// the sinusoidal position addition. Everything is deterministic: no float
// atomics anywhere; scatter-add sums repeated destination rows in row order r
// (bit-identical to the CPU) via a stable radix sort of the row indices.
#include <stdint.h>

#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"

enum { THREADS = 256, TILE = 32, TILE_ROWS = 8 };

static unsigned blocks_for(size_t n) { return cuda_blocks(n, THREADS); }

// ---------------------------------------------------------------- transpose

// dst [B, C, R] (=, or += with ACC) from src [B, R, C], one 32x32 tile per
// block iteration through a padded shared tile (coalesced reads and writes).
// Blocks are TILE x TILE_ROWS threads and stride over all B * tiles tiles.
template <bool ACC>
static __global__ void transpose_kernel(float *__restrict__ dst, const float *__restrict__ src,
                                        int B, int R, int C, size_t tiles_r, size_t tiles_c) {
    __shared__ float tile[TILE][TILE + 1];
    const size_t per_b = tiles_r * tiles_c, total = per_b * (size_t)B;
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (size_t t = blockIdx.x; t < total; t += gridDim.x) {
        const size_t b = t / per_b, rem = t - b * per_b;
        const int r0 = (int)(rem / tiles_c) * TILE, c0 = (int)(rem % tiles_c) * TILE;
        const float *s = src + b * (size_t)R * C;
        float *d = dst + b * (size_t)R * C;
        for (int y = ty; y < TILE; y += TILE_ROWS) {
            const int r = r0 + y, c = c0 + tx;
            if (r < R && c < C) tile[y][tx] = s[(size_t)r * C + c];
        }
        __syncthreads();
        for (int y = ty; y < TILE; y += TILE_ROWS) {
            const int c = c0 + y, r = r0 + tx;  // dst[c][r] = src[r][c] = tile[tx][y]
            if (c < C && r < R) {
                const size_t o = (size_t)c * R + r;
                if (ACC)
                    d[o] += tile[tx][y];
                else
                    d[o] = tile[tx][y];
            }
        }
        __syncthreads();  // the tile is refilled by the next iteration
    }
}

template <bool ACC>
static void launch_transpose(float *dst, const float *src, int B, int R, int C) {
    if (B <= 0 || R <= 0 || C <= 0) return;
    const size_t tr = ((size_t)R + TILE - 1) / TILE, tc = ((size_t)C + TILE - 1) / TILE;
    size_t total = tr * tc * (size_t)B;
    const unsigned grid = (unsigned)(total < (1u << 20) ? total : (1u << 20));
    transpose_kernel<ACC><<<grid, dim3(TILE, TILE_ROWS), 0, cuda_stream()>>>(dst, src, B, R, C, tr,
                                                                             tc);
    CUDA_LAUNCH_CHECK();
}

// out[b, j, i] = in[b, i, j] for in [B, M, N]
extern "C" void cuda_op_transpose_forward(float *out, const float *in, int B, int M, int N) {
    launch_transpose<false>(out, in, B, M, N);
}

// din[b, i, j] += dout[b, j, i]: dout [B, N, M] transposed into din [B, M, N].
extern "C" void cuda_op_transpose_backward(float *din, const float *dout, int B, int M, int N) {
    if (!din) return;
    launch_transpose<true>(din, dout, B, N, M);
}

// ---------------------------------------------------------------- rows

static __global__ void gather_rows_kernel(float *__restrict__ out, const float *__restrict__ in,
                                          const int32_t *__restrict__ rows, int n_rows, int C) {
    const size_t n = (size_t)n_rows * C;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t r = e / (size_t)C, c = e - r * (size_t)C;
        out[e] = in[(size_t)rows[r] * C + c];
    }
}

extern "C" void cuda_op_gather_rows(float *out, const float *in, const int32_t *rows, int n_rows,
                                    int C) {
    if (n_rows <= 0 || C <= 0) return;
    const size_t n = (size_t)n_rows * C;
    gather_rows_kernel<<<blocks_for(n), THREADS, 0, cuda_stream()>>>(out, in, rows, n_rows, C);
    CUDA_LAUNCH_CHECK();
}

static __global__ void zero_rows_kernel(float *__restrict__ x, const int32_t *__restrict__ rows,
                                        int n_rows, int C) {
    const size_t n = (size_t)n_rows * C;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t r = e / (size_t)C, c = e - r * (size_t)C;
        x[(size_t)rows[r] * C + c] = 0.0f;
    }
}

extern "C" void cuda_op_zero_rows(float *x, const int32_t *rows, int n_rows, int C) {
    if (n_rows <= 0 || C <= 0) return;
    const size_t n = (size_t)n_rows * C;
    zero_rows_kernel<<<blocks_for(n), THREADS, 0, cuda_stream()>>>(x, rows, n_rows, C);
    CUDA_LAUNCH_CHECK();
}

static __global__ void iota_kernel(int32_t *__restrict__ x, int n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = (int32_t)i;
}

// keys [n] sorted (stably) with src [n] the source row of each entry. One warp
// per sorted position p; the warp at the head of a run of equal keys adds the
// run's source rows into out[key, :] in order (lanes own columns, 4 per lane per
// pass), which is the CPU's sequential r-order sum bit for bit.
static __global__ void segment_add_kernel(float *__restrict__ out, const float *__restrict__ in,
                                          const int32_t *__restrict__ keys,
                                          const int32_t *__restrict__ src, int n, int C) {
    const int lane = threadIdx.x & 31;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t p = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; p < (size_t)n;
         p += nwarps) {
        const int32_t key = keys[p];
        if (p > 0 && keys[p - 1] == key) continue;  // warp-uniform: not a run head
        // End of the run: first position after p whose key differs (ballot per 32).
        size_t end = p + 1;
        for (;;) {
            const size_t qq = end + lane;
            const bool differs = qq >= (size_t)n || keys[qq] != key;
            const unsigned m = __ballot_sync(0xffffffffu, differs);
            if (m) {
                end += (size_t)(__ffs((int)m) - 1);
                break;
            }
            end += 32;
        }
        float *dst = out + (size_t)key * C;
        for (int c0 = 0; c0 < C; c0 += 128) {
            float a[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int c = c0 + 32 * u + lane;
                a[u] = c < C ? dst[c] : 0.0f;
            }
            for (size_t r = p; r < end; r++) {
                const float *row = in + (size_t)src[r] * C;
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const int c = c0 + 32 * u + lane;
                    if (c < C) a[u] += row[c];
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int c = c0 + 32 * u + lane;
                if (c < C) dst[c] = a[u];
            }
        }
    }
}

// out[rows[r], :] += in[r, :], repeated rows summed in r order. Scratch slot 0
// holds [src_in | keys_out | src_out] (n int32 each) and the sort's temp storage.
extern "C" void cuda_op_scatter_add_rows(float *out, const float *in, const int32_t *rows,
                                         int n_rows, int C) {
    if (n_rows <= 0 || C <= 0) return;
    cudaStream_t st = cuda_stream();
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, rows, (int32_t *)nullptr,
                                               (const int32_t *)nullptr, (int32_t *)nullptr,
                                               n_rows, 0, 32, st));
    const size_t n = (size_t)n_rows;
    const size_t ints = (3 * n + 63) / 64 * 64;  // temp storage 256-byte aligned
    float *ws = cuda_ops_scratch(0, ints + (temp_bytes + sizeof(float) - 1) / sizeof(float) + 64);
    int32_t *src_in = (int32_t *)ws, *keys_out = src_in + n, *src_out = keys_out + n;
    void *temp = (void *)(ws + ints);
    iota_kernel<<<blocks_for(n), THREADS, 0, st>>>(src_in, n_rows);
    CUDA_LAUNCH_CHECK();
    // LSD radix sort is stable: equal keys keep increasing r.
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, rows, keys_out, src_in, src_out,
                                               n_rows, 0, 32, st));
    segment_add_kernel<<<cuda_blocks(n * 32, THREADS), THREADS, 0, st>>>(out, in, keys_out,
                                                                         src_out, n_rows, C);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- max pooling

// Thread per output (r, o): window in[r, o*k .. o*k+k), first maximum, NaN wins
// (take v when v > max or v is NaN, as PyTorch / the CPU).
static __global__ void maxpool_fwd_kernel(float *__restrict__ out, int32_t *__restrict__ argmax,
                                          const float *__restrict__ in, int R, int L, int k,
                                          int Lo) {
    const size_t n = (size_t)R * Lo;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t r = e / (size_t)Lo;
        const int o = (int)(e - r * (size_t)Lo), s = o * k;
        const float *x = in + r * (size_t)L + s;
        float y = x[0];
        int am = s;
        for (int j = 1; j < k; j++) {
            const float v = x[j];
            if (v > y || v != v) {
                y = v;
                am = s + j;
            }
        }
        out[e] = y;
        argmax[e] = am;
    }
}

// din[r, argmax[r, o]] += dout[r, o]; windows do not overlap, so no two threads
// touch the same element.
static __global__ void maxpool_bwd_kernel(float *__restrict__ din, const float *__restrict__ dout,
                                          const int32_t *__restrict__ argmax, int R, int L,
                                          int Lo) {
    const size_t n = (size_t)R * Lo;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t r = e / (size_t)Lo;
        din[r * (size_t)L + argmax[e]] += dout[e];
    }
}

extern "C" void cuda_op_maxpool1d_forward(float *out, int32_t *argmax, const float *in, int R,
                                          int L, int k) {
    CHECK(k > 0 && L >= 0 && R >= 0, "maxpool1d: bad shape R %d L %d k %d", R, L, k);
    const int Lo = L / k;
    const size_t n = (size_t)R * Lo;
    if (n == 0) return;
    maxpool_fwd_kernel<<<blocks_for(n), THREADS, 0, cuda_stream()>>>(out, argmax, in, R, L, k, Lo);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_maxpool1d_backward(float *din, const float *dout, const int32_t *argmax,
                                           int R, int L, int k) {
    CHECK(k > 0 && L >= 0 && R >= 0, "maxpool1d: bad shape R %d L %d k %d", R, L, k);
    const int Lo = L / k;
    const size_t n = (size_t)R * Lo;
    if (n == 0 || !din) return;
    maxpool_bwd_kernel<<<blocks_for(n), THREADS, 0, cuda_stream()>>>(din, dout, argmax, R, L, Lo);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- position

// x[b, l, c] += pe[l, c]: element e of x pairs with pe[e mod (L*C)].
static __global__ void add_position_kernel(float *__restrict__ x, const float *__restrict__ pe,
                                           size_t n, size_t LC) {
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x)
        x[e] += pe[e % LC];
}

extern "C" void cuda_op_add_position(float *x, const float *pe, int B, int L, int C) {
    if (B <= 0 || L <= 0 || C <= 0) return;
    const size_t LC = (size_t)L * C, n = (size_t)B * LC;
    add_position_kernel<<<blocks_for(n), THREADS, 0, cuda_stream()>>>(x, pe, n, LC);
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- global average pooling
// One thread per (b, c): the L values summed in order in double, as the CPU.

static __global__ void mean_pool_kernel(float *out, const float *in, int B, int L, int C) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B * C;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t b = i / (size_t)C, c = i % (size_t)C;
        const float *x = in + b * (size_t)L * C + c;
        double s = 0.0;
        for (int l = 0; l < L; l++) s += x[(size_t)l * C];
        out[i] = (float)(s / L);
    }
}

static __global__ void mean_pool_backward_kernel(float *din, const float *dout, int B, int L, int C,
                                                 float inv) {
    const size_t total = (size_t)B * L * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t b = i / ((size_t)L * C), c = i % (size_t)C;
        din[i] = __fadd_rn(din[i], __fmul_rn(dout[b * C + c], inv));
    }
}

extern "C" void cuda_op_mean_pool_forward(float *out, const float *in, int B, int L, int C) {
    CHECK(B >= 0 && L > 0 && C > 0, "mean_pool: bad shape B %d L %d C %d", B, L, C);
    if (B == 0) return;
    mean_pool_kernel<<<cuda_blocks((size_t)B * C, 256), 256, 0, cuda_stream()>>>(out, in, B, L, C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_mean_pool_backward(float *din, const float *dout, int B, int L, int C) {
    CHECK(B >= 0 && L > 0 && C > 0, "mean_pool: bad shape B %d L %d C %d", B, L, C);
    if (B == 0) return;
    mean_pool_backward_kernel<<<cuda_blocks((size_t)B * L * C, 256), 256, 0, cuda_stream()>>>(
        din, dout, B, L, C, 1.0f / (float)L);
    CUDA_LAUNCH_CHECK();
}
