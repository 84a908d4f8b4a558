// Inverted dropout with a counter-based mask: element i is kept when
// am_rng_uniform(rng, offset + i) >= p. Nothing is stored between forward and
// backward; the mask is regenerated. Philox runs 16 blocks (64 elements) at a
// time in structure-of-arrays form so the rounds vectorise; the values are
// bit-identical to am_rng_u32 (src/core/rng.c).
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

enum { NB = 16, CHUNK = 4096 };  // Philox blocks per batch; elements per task

// Words of Philox blocks blk0 .. blk0+NB-1 of the stream: out[4*j + w] is word w of block j.
static void philox_batch(const AmRng *r, uint64_t blk0, uint32_t out[4 * NB]) {
    uint32_t c0[NB], c1[NB], c2[NB], c3[NB];
    for (int j = 0; j < NB; j++) {
        c0[j] = (uint32_t)(blk0 + (uint64_t)j);
        c1[j] = r->ctr[0];
        c2[j] = r->ctr[1];
        c3[j] = r->ctr[2];
    }
    uint32_t k0 = r->key[0], k1 = r->key[1];
    for (int round = 0; round < 10; round++) {
#pragma omp simd
        for (int j = 0; j < NB; j++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c1[j] = (uint32_t)p1;
            c3[j] = (uint32_t)p0;
            c0[j] = n0;
            c2[j] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int j = 0; j < NB; j++) {
        out[4 * j + 0] = c0[j];
        out[4 * j + 1] = c1[j];
        out[4 * j + 2] = c2[j];
        out[4 * j + 3] = c3[j];
    }
}

// m[i] = scale when element e0 + i is kept, else 0, for i < cnt (cnt <= CHUNK).
static void mask_chunk(float *m, const AmRng *r, uint64_t e0, size_t cnt, float p, float scale) {
    uint32_t words[4 * NB];
    uint64_t blk = e0 >> 2;
    size_t skip = (size_t)(e0 & 3), i = 0;
    while (i < cnt) {
        philox_batch(r, blk, words);
        size_t avail = 4 * NB - skip, take = cnt - i < avail ? cnt - i : avail;
        const uint32_t *wp = words + skip;
#pragma omp simd
        for (size_t j = 0; j < take; j++) {
            float u = (float)(wp[j] >> 8) * (1.0f / 16777216.0f);
            m[i + j] = u >= p ? scale : 0.0f;
        }
        i += take;
        blk += NB;
        skip = 0;
    }
}

static void check_p(float p) {
    CHECK(p >= 0.0f && p <= 1.0f, "dropout: p = %g outside [0, 1]", (double)p);
}

void op_dropout_forward(float *out, const float *in, size_t n, float p,
                        const AmRng *rng, uint64_t offset) {
    check_p(p);
    if (p == 0.0f) {
        if (out != in) memmove(out, in, n * sizeof *out);
        return;
    }
    if (p >= 1.0f) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        float m[CHUNK];
        size_t lo = c * CHUNK, cnt = n - lo < CHUNK ? n - lo : CHUNK;
        mask_chunk(m, rng, offset + lo, cnt, p, scale);
#pragma omp simd
        for (size_t j = 0; j < cnt; j++) out[lo + j] = in[lo + j] * m[j];
    }
}

void op_dropout_backward(float *din, const float *dout, size_t n, float p,
                         const AmRng *rng, uint64_t offset) {
    check_p(p);
    if (p >= 1.0f) return;
    if (p == 0.0f) {
        op_axpy(din, 1.0f, dout, n);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        float m[CHUNK];
        size_t lo = c * CHUNK, cnt = n - lo < CHUNK ? n - lo : CHUNK;
        mask_chunk(m, rng, offset + lo, cnt, p, scale);
#pragma omp simd
        for (size_t j = 0; j < cnt; j++) din[lo + j] += dout[lo + j] * m[j];
    }
}
