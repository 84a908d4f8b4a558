// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
// A stream is keyed by (seed, step, purpose, stream id); element i of a stream
// is a pure function of those and i, so dropout masks, ProbSparse samples and
// shuffles come out bit-identical on CPU, GPU, any rank count and after resume.
#ifndef ASTROMM_RNG_H
#define ASTROMM_RNG_H

#include <stdint.h>

// What the numbers are for; part of the counter so purposes never collide.
enum {
    RNG_INIT = 1,        // parameter initialisation (stream = parameter index)
    RNG_DROPOUT = 2,     // dropout masks (stream = layer id)
    RNG_PROBSPARSE = 3,  // Informer key sampling (stream = layer id)
    RNG_SHUFFLE = 4,     // epoch shuffles (step = epoch)
    RNG_CROP = 5,        // light-curve crop offsets
    RNG_SYNTH = 6,       // generated smoke/benchmark tensors
    RNG_ACTIVE = 7,      // active learning: the random seed labels of astromm anomalies
};

typedef struct {
    uint32_t key[2];   // the seed
    uint32_t ctr[3];   // step, purpose, stream; counter word 0 is the block index
} AmRng;

AmRng am_rng(uint64_t seed, uint64_t step, uint32_t purpose, uint32_t stream);

// One Philox4x32-10 block.
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

// Element i of the stream (i < 2^34).
uint32_t am_rng_u32(const AmRng *r, uint64_t i);
// Uniform in [0, 1) with 24 random bits (exactly representable in float).
float am_rng_uniform(const AmRng *r, uint64_t i);
// Standard normal via Box-Muller on elements 2i and 2i+1.
float am_rng_normal(const AmRng *r, uint64_t i);
// Integer in [0, n) (multiply-shift; bias < n / 2^32).
uint32_t am_rng_below(const AmRng *r, uint64_t i, uint32_t n);
// Fill out[0..n) with the stream's elements offset, offset+1, ...
void am_rng_fill_uniform(const AmRng *r, uint64_t offset, float *out, uint64_t n);

#endif
