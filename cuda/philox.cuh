// Philox4x32-10 blocks of an AmRng stream on the GPU, bit-identical to
// src/core/rng.c: stream element e is word e & 3 of the block with counter
// {e >> 2, ctr[0], ctr[1], ctr[2]} under key rng->key (the rounds: core/philox.h).
#ifndef ASTROMM_CUDA_PHILOX_CUH
#define ASTROMM_CUDA_PHILOX_CUH

#include "core/philox.h"
#include "cuda/common.cuh"

static __device__ __forceinline__ uint4 philox_block(const AmRng r, uint64_t blk) {
    uint32_t c[4] = {(uint32_t)blk, r.ctr[0], r.ctr[1], r.ctr[2]};
    philox4x32_10_rounds(c, r.key[0], r.key[1]);
    return make_uint4(c[0], c[1], c[2], c[3]);
}

// am_rng_u32(r, e): element e of the stream.
static __device__ __forceinline__ uint32_t philox_u32(const AmRng r, uint64_t e) {
    const uint4 w = philox_block(r, e >> 2);
    const uint32_t k = (uint32_t)(e & 3);
    return k == 0 ? w.x : k == 1 ? w.y : k == 2 ? w.z : w.w;
}

#endif
