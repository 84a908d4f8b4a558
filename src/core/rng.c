#include "core/rng.h"

#include <math.h>

#include "core/philox.h"

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    philox4x32_10_rounds(c, key[0], key[1]);
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

AmRng am_rng(uint64_t seed, uint64_t step, uint32_t purpose, uint32_t stream) {
    AmRng r;
    r.key[0] = (uint32_t)seed;
    r.key[1] = (uint32_t)(seed >> 32);
    // The step's high bits fold into the purpose word: steps beyond 2^32 stay distinct
    // from one another for any realistic run while keeping one counter layout.
    r.ctr[0] = (uint32_t)step;
    r.ctr[1] = purpose ^ ((uint32_t)(step >> 32) << 8);
    r.ctr[2] = stream;
    return r;
}

uint32_t am_rng_u32(const AmRng *r, uint64_t i) {
    uint32_t ctr[4] = {(uint32_t)(i >> 2), r->ctr[0], r->ctr[1], r->ctr[2]};
    uint32_t out[4];
    philox4x32_10(ctr, r->key, out);
    return out[i & 3];
}

float am_rng_uniform(const AmRng *r, uint64_t i) {
    return (float)(am_rng_u32(r, i) >> 8) * (1.0f / 16777216.0f);
}

float am_rng_normal(const AmRng *r, uint64_t i) {
    // u1 in (0, 1] so the log is finite.
    float u1 = ((float)(am_rng_u32(r, 2 * i) >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = am_rng_uniform(r, 2 * i + 1);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

uint32_t am_rng_below(const AmRng *r, uint64_t i, uint32_t n) {
    return (uint32_t)(((uint64_t)am_rng_u32(r, i) * n) >> 32);
}

void am_rng_fill_uniform(const AmRng *r, uint64_t offset, float *out, uint64_t n) {
    // Whole Philox blocks at a time: four outputs per block.
    uint64_t i = 0;
    while (i < n) {
        uint64_t e = offset + i;
        uint32_t ctr[4] = {(uint32_t)(e >> 2), r->ctr[0], r->ctr[1], r->ctr[2]};
        uint32_t blk[4];
        philox4x32_10(ctr, r->key, blk);
        for (unsigned j = (unsigned)(e & 3); j < 4 && i < n; j++, i++)
            out[i] = (float)(blk[j] >> 8) * (1.0f / 16777216.0f);
    }
}
