// ProbSparse index bookkeeping on the device (CUDA twins of
// cpu_probsparse_sample_keys in src/cpu/runtime.c and
// cpu_op_probsparse_row_tables in src/cpu/layout.c): the key samples and the
// row tables are built where the attention runs, so a training step never
// waits for a host copy of them (they were 3 synchronous round trips per layer).
#include "cuda/philox.cuh"
#include "nn/probsparse_tables.h"

// sample_idx[i] = am_rng_below(rng, i, L_K) = (u32 * L_K) >> 32.
static __global__ void sample_keys_kernel(int32_t *sample_idx, size_t n, uint32_t L_K, AmRng r) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        sample_idx[i] = (int32_t)(((uint64_t)philox_u32(r, i) * L_K) >> 32);
}

extern "C" void cuda_probsparse_sample_keys(int32_t *sample_idx, int L_Q, int L_K, int n_sample,
                                            const AmRng *rng) {
    CHECK(L_K > 0, "probsparse_sample_keys: L_K %d must be positive", L_K);
    const size_t n = (size_t)L_Q * (size_t)n_sample;
    if (n == 0) return;
    sample_keys_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(sample_idx, n, (uint32_t)L_K, *rng);
    CUDA_LAUNCH_CHECK();
}

// One block per sample: the threads mark the selected rows in shared memory,
// then thread 0 builds the tables with the CPU's code (nn/probsparse_tables.h).
// (Thread-parallel alternatives were not needed: a block walks L = 200 rows in
// microseconds.)
static __global__ void row_tables_kernel(int32_t *tab_rows, int32_t *row_map, int32_t *q_rows,
                                         const int32_t *top_idx, int L, int H, int u, int S, int Q) {
    extern __shared__ int32_t flag[];  // [L]
    const int b = blockIdx.x;
    for (int i = threadIdx.x; i < L; i += blockDim.x) flag[i] = -1;
    __syncthreads();
    const int32_t *top = top_idx + (size_t)b * H * u;
    for (int k = threadIdx.x; k < H * u; k += blockDim.x) flag[top[k]] = PST_SELECTED;  // same value: no race
    __syncthreads();
    if (threadIdx.x == 0)
        probsparse_sample_tables(tab_rows ? tab_rows + (size_t)b * S : NULL, row_map ? row_map + (size_t)b * L : NULL,
                                 q_rows ? q_rows + (size_t)b * Q : NULL, flag, b, L, S, Q);
}

extern "C" void cuda_op_probsparse_row_tables(int32_t *tab_rows, int32_t *row_map, int32_t *q_rows,
                                              const int32_t *top_idx, int B, int L, int H, int u) {
    CHECK(B >= 0 && L > 0 && H > 0 && u > 0, "probsparse_row_tables: bad shape B %d L %d H %d u %d", B, L, H, u);
    if (B == 0 || (!tab_rows && !row_map && !q_rows)) return;
    const size_t shmem = (size_t)L * sizeof(int32_t);
    CHECK(shmem <= 48 * 1024, "probsparse_row_tables: seq_len %d needs %zu bytes of shared memory (max 48 KiB)", L, shmem);
    row_tables_kernel<<<(unsigned)B, 128, shmem, cuda_stream()>>>(tab_rows, row_map, q_rows, top_idx, L, H, u,
                                                                 probsparse_table_stride(L, H, u),
                                                                 probsparse_query_stride(L, H, u));
    CUDA_LAUNCH_CHECK();
}
