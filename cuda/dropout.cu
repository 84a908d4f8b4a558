// Inverted dropout on the GPU (CUDA twin of src/cpu/dropout.c).
//
// Element i is kept when am_rng_uniform(rng, offset + i) >= p. The Philox4x32-10
// below is bit-identical to src/core/rng.c: stream element e lives in word e & 3
// of the block with counter {e >> 2, ctr[0], ctr[1], ctr[2]} and key rng->key.
//
// Every kernel works on groups of 8 elements (one keep_bits byte) per thread:
// the forward writes whole bytes with no races, and one group needs at most
// three Philox blocks. Products and sums use __fmul_rn / __fadd_rn (never
// contracted into an FMA) so the results equal the CPU's bit for bit.
#include "cuda/philox.cuh"


enum { DO_THREADS = 256 };

// am_rng_uniform(word) >= p as a bit: uniform = (word >> 8) * 2^-24 (exact in float).
static __device__ __forceinline__ uint32_t keep_bit(uint32_t word, float p) {
    return (float)(word >> 8) * (1.0f / 16777216.0f) >= p ? 1u : 0u;
}

// 4 keep bits of one Philox block (bit j = word j).
static __device__ __forceinline__ uint32_t keep_bits4(uint4 w, float p) {
    return keep_bit(w.x, p) | (keep_bit(w.y, p) << 1) | (keep_bit(w.z, p) << 2) |
           (keep_bit(w.w, p) << 3);
}

// Keep mask of elements 8g .. 8g+7 (bit j = element 8g+j), stream elements
// offset + 8g + j; bits at or beyond n are cleared, as the CPU stores them.
static __device__ __forceinline__ uint32_t group_mask(const AmRng r, uint64_t offset, size_t g,
                                                      size_t n, float p) {
    uint64_t e0 = offset + 8 * (uint64_t)g;
    uint64_t b0 = e0 >> 2;
    uint32_t sh = (uint32_t)(e0 & 3);
    // Words of blocks b0, b0+1 (and b0+2 when e0 is not block-aligned) as a 12-bit mask.
    uint32_t m = keep_bits4(philox_block(r, b0), p) | (keep_bits4(philox_block(r, b0 + 1), p) << 4);
    if (sh != 0) m |= keep_bits4(philox_block(r, b0 + 2), p) << 8;
    m = (m >> sh) & 0xFFu;
    size_t left = n - 8 * g;
    if (left < 8) m &= (1u << left) - 1u;
    return m;
}

// Eight consecutive floats of one group: two 16-byte accesses when the group is
// whole and the pointer 16-byte aligned (every group then is: 8 floats = 32
// bytes), else element by element. One warp then moves 1 KiB contiguously per
// pair of accesses instead of 32 scattered words per access (the element loop
// made every store a partial-sector write: 0.55 TB/s measured on an H200).
struct F8 {
    float v[8];
};
static __device__ __forceinline__ F8 load8(const float *p, size_t base, size_t n, bool vec) {
    F8 r;
    if (vec && base + 8 <= n) {
        const float4 a = *(const float4 *)(p + base), b = *(const float4 *)(p + base + 4);
        r.v[0] = a.x, r.v[1] = a.y, r.v[2] = a.z, r.v[3] = a.w;
        r.v[4] = b.x, r.v[5] = b.y, r.v[6] = b.z, r.v[7] = b.w;
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++) r.v[j] = base + (size_t)j < n ? p[base + (size_t)j] : 0.0f;
    }
    return r;
}
static __device__ __forceinline__ void store8(float *p, size_t base, size_t n, bool vec, const F8 &r) {
    if (vec && base + 8 <= n) {
        *(float4 *)(p + base) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
        *(float4 *)(p + base + 4) = make_float4(r.v[4], r.v[5], r.v[6], r.v[7]);
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++)
            if (base + (size_t)j < n) p[base + (size_t)j] = r.v[j];
    }
}
static bool aligned16(const void *a, const void *b) {
    return (((uintptr_t)a | (uintptr_t)b) & 15u) == 0;
}

// out = in * (keep ? scale : 0); keep_bits written when given. out == in allowed.
static __global__ void dropout_forward_kernel(float *out, const float *in, size_t n, float p,
                                              float scale, AmRng r, uint64_t offset,
                                              uint8_t *keep_bits, bool vec) {
    size_t ngroups = (n + 7) / 8;
    for (size_t g = (size_t)blockIdx.x * blockDim.x + threadIdx.x; g < ngroups;
         g += (size_t)gridDim.x * blockDim.x) {
        uint32_t m = group_mask(r, offset, g, n, p);
        if (keep_bits) keep_bits[g] = (uint8_t)m;
        size_t base = 8 * g;
        F8 x = load8(in, base, n, vec);
#pragma unroll
        for (int j = 0; j < 8; j++) x.v[j] = __fmul_rn(x.v[j], (m >> j) & 1u ? scale : 0.0f);
        store8(out, base, n, vec, x);
    }
}

// din += dout * (keep ? scale : 0), the mask read from keep_bits when given.
static __global__ void dropout_backward_kernel(float *din, const float *dout, size_t n, float p,
                                               float scale, AmRng r, uint64_t offset,
                                               const uint8_t *keep_bits, bool vec) {
    size_t ngroups = (n + 7) / 8;
    for (size_t g = (size_t)blockIdx.x * blockDim.x + threadIdx.x; g < ngroups;
         g += (size_t)gridDim.x * blockDim.x) {
        uint32_t m = keep_bits ? (uint32_t)keep_bits[g] : group_mask(r, offset, g, n, p);
        size_t base = 8 * g;
        F8 a = load8(din, base, n, vec);
        const F8 d = load8(dout, base, n, vec);
#pragma unroll
        for (int j = 0; j < 8; j++) a.v[j] = __fadd_rn(a.v[j], __fmul_rn(d.v[j], (m >> j) & 1u ? scale : 0.0f));
        store8(din, base, n, vec, a);
    }
}

// x = keep ? x * scale : 0, the mask from keep_bits (as the CPU's bits path).
static __global__ void dropout_mask_bits_kernel(float *x, size_t n, float scale,
                                                const uint8_t *keep_bits, bool vec) {
    size_t ngroups = (n + 7) / 8;
    for (size_t g = (size_t)blockIdx.x * blockDim.x + threadIdx.x; g < ngroups;
         g += (size_t)gridDim.x * blockDim.x) {
        uint32_t m = keep_bits[g];
        size_t base = 8 * g;
        F8 v = load8(x, base, n, vec);
#pragma unroll
        for (int j = 0; j < 8; j++) v.v[j] = (m >> j) & 1u ? __fmul_rn(v.v[j], scale) : 0.0f;
        store8(x, base, n, vec, v);
    }
}

static void check_p(float p) {
    CHECK(p >= 0.0f && p <= 1.0f, "dropout: p = %g outside [0, 1]", (double)p);
}

extern "C" void cuda_op_dropout_forward(float *out, const float *in, size_t n, float p,
                                        const AmRng *rng, uint64_t offset, uint8_t *keep_bits) {
    check_p(p);
    if (n == 0) return;
    cudaStream_t st = cuda_stream();
    if (p == 0.0f) {
        if (out != in)
            CUDA_CHECK(cudaMemcpyAsync(out, in, n * sizeof *out, cudaMemcpyDeviceToDevice, st));
        return;
    }
    if (p >= 1.0f) {
        CUDA_CHECK(cudaMemsetAsync(out, 0, n * sizeof *out, st));
        return;
    }
    CHECK(rng != NULL, "dropout: NULL rng");
    float scale = 1.0f / (1.0f - p);
    size_t ngroups = (n + 7) / 8;
    dropout_forward_kernel<<<cuda_blocks(ngroups, DO_THREADS), DO_THREADS, 0, st>>>(
        out, in, n, p, scale, *rng, offset, keep_bits, aligned16(out, in));
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_dropout_backward(float *din, const float *dout, size_t n, float p,
                                         const AmRng *rng, uint64_t offset,
                                         const uint8_t *keep_bits) {
    check_p(p);
    if (n == 0 || !din || p >= 1.0f) return;
    if (p == 0.0f) {
        cuda_op_axpy(din, 1.0f, dout, n);
        return;
    }
    AmRng r = {};
    if (!keep_bits) {
        CHECK(rng != NULL, "dropout backward: NULL rng and no keep bits");
        r = *rng;
    }
    float scale = 1.0f / (1.0f - p);
    size_t ngroups = (n + 7) / 8;
    dropout_backward_kernel<<<cuda_blocks(ngroups, DO_THREADS), DO_THREADS, 0, cuda_stream()>>>(
        din, dout, n, p, scale, r, offset, keep_bits, aligned16(din, dout));
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_dropout_mask_inplace(float *x, size_t n, float p, const AmRng *rng,
                                             uint64_t offset, const uint8_t *keep_bits) {
    check_p(p);
    if (!keep_bits || p == 0.0f || p >= 1.0f) {
        cuda_op_dropout_forward(x, x, n, p, rng, offset, NULL);
        return;
    }
    if (n == 0) return;
    float scale = 1.0f / (1.0f - p);
    size_t ngroups = (n + 7) / 8;
    dropout_mask_bits_kernel<<<cuda_blocks(ngroups, DO_THREADS), DO_THREADS, 0, cuda_stream()>>>(
        x, n, scale, keep_bits, aligned16(x, x));
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- drop path
// Sample b is kept when am_rng_uniform(rng, offset + b) >= p (the same Philox
// word as the CPU), then scaled by 1/(1-p); accumulate selects backward (+=).
static __global__ void drop_path_kernel(float *out, const float *in, int B, size_t n_per, float p,
                                        const AmRng r, uint64_t offset, int accumulate) {
    const size_t total = (size_t)B * n_per;
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const uint64_t b = i / n_per;
        const float s = p == 0.0f ? 1.0f : (keep_bit(philox_u32(r, offset + b), p) ? scale : 0.0f);
        const float v = __fmul_rn(in[i], s);
        out[i] = accumulate ? __fadd_rn(out[i], v) : v;
    }
}

extern "C" void cuda_op_drop_path_forward(float *out, const float *in, int B, size_t n_per, float p,
                                          const AmRng *rng, uint64_t offset) {
    CHECK(p >= 0.0f && p < 1.0f && B >= 0, "drop_path: p = %g outside [0, 1) or B %d < 0", (double)p, B);
    const size_t total = (size_t)B * n_per;
    if (total == 0) return;
    drop_path_kernel<<<cuda_blocks(total, DO_THREADS), DO_THREADS, 0, cuda_stream()>>>(out, in, B, n_per, p,
                                                                                       *rng, offset, 0);
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_drop_path_backward(float *din, const float *dout, int B, size_t n_per, float p,
                                           const AmRng *rng, uint64_t offset) {
    CHECK(p >= 0.0f && p < 1.0f && B >= 0, "drop_path: p = %g outside [0, 1) or B %d < 0", (double)p, B);
    const size_t total = (size_t)B * n_per;
    if (total == 0) return;
    drop_path_kernel<<<cuda_blocks(total, DO_THREADS), DO_THREADS, 0, cuda_stream()>>>(din, dout, B, n_per,
                                                                                       p, *rng, offset, 1);
    CUDA_LAUNCH_CHECK();
}
