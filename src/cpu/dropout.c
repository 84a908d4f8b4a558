// Inverted dropout with a counter-based mask: element i is kept when
// am_rng_uniform(rng, offset + i) >= p. Forward can store the mask as bits for
// backward; otherwise backward regenerates it. Philox runs NB blocks (4*NB elements) at
// a time in structure-of-arrays form so the rounds vectorise (with AVX-512, 16
// blocks per register and 32x32->64 multiplies done as even/odd vpmuludq); the
// values are bit-identical to am_rng_u32 (src/core/rng.c), which
// test_ops_forward checks element by element.
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "core/philox.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"


enum { NB = 64, CHUNK = 4096 };  // Philox blocks per batch; elements per task

#if defined(__AVX512F__)
// High and low 32 bits of a[i] * m for 16 uint32 lanes.
static inline void mul_hilo(__m512i a, __m512i m, __m512i *hi, __m512i *lo) {
    __m512i even = _mm512_mul_epu32(a, m);                        // lanes 0, 2, ...
    __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // lanes 1, 3, ...
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// Ten rounds on 4 x 16 blocks held in registers.
static void philox_rounds(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0,
                          uint32_t k1) {
    enum { G = 4 };
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    for (int j = 0; j < NB; j += 16 * G) {
        __m512i x0[G], x1[G], x2[G], x3[G];
        for (int g = 0; g < G; g++) {
            x0[g] = _mm512_loadu_si512(c0 + j + 16 * g);
            x1[g] = _mm512_loadu_si512(c1 + j + 16 * g);
            x2[g] = _mm512_loadu_si512(c2 + j + 16 * g);
            x3[g] = _mm512_loadu_si512(c3 + j + 16 * g);
        }
        uint32_t ka = k0, kb = k1;
        for (int round = 0; round < 10; round++) {
            __m512i vka = _mm512_set1_epi32((int)ka), vkb = _mm512_set1_epi32((int)kb);
            for (int g = 0; g < G; g++) {
                __m512i hi0, lo0, hi1, lo1;
                mul_hilo(x0[g], m0, &hi0, &lo0);
                mul_hilo(x2[g], m1, &hi1, &lo1);
                x0[g] = _mm512_xor_si512(_mm512_xor_si512(hi1, x1[g]), vka);
                x2[g] = _mm512_xor_si512(_mm512_xor_si512(hi0, x3[g]), vkb);
                x1[g] = lo1;
                x3[g] = lo0;
            }
            ka += PHILOX_W0;
            kb += PHILOX_W1;
        }
        for (int g = 0; g < G; g++) {
            _mm512_storeu_si512(c0 + j + 16 * g, x0[g]);
            _mm512_storeu_si512(c1 + j + 16 * g, x1[g]);
            _mm512_storeu_si512(c2 + j + 16 * g, x2[g]);
            _mm512_storeu_si512(c3 + j + 16 * g, x3[g]);
        }
    }
}
#else
static void philox_rounds(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0,
                          uint32_t k1) {
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
}
#endif

// Words of Philox blocks blk0 .. blk0+NB-1 of the stream: out[4*j + w] is word w of block j.
static void philox_batch(const AmRng *r, uint64_t blk0, uint32_t out[4 * NB]) {
    uint32_t c0[NB], c1[NB], c2[NB], c3[NB];
    for (int j = 0; j < NB; j++) {
        c0[j] = (uint32_t)(blk0 + (uint64_t)j);
        c1[j] = r->ctr[0];
        c2[j] = r->ctr[1];
        c3[j] = r->ctr[2];
    }
    philox_rounds(c0, c1, c2, c3, r->key[0], r->key[1]);
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

// Bits of chunk element j: set when m[j] != 0. Chunks start at multiples of
// CHUNK (a multiple of 8), so every chunk owns whole bytes.
static void store_bits(uint8_t *bits, const float *m, size_t cnt) {
    size_t j0 = 0;
#if defined(__AVX512F__)
    for (; j0 + 16 <= cnt; j0 += 16) {
        __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(m + j0), _mm512_setzero_ps(), _CMP_NEQ_UQ);
        uint16_t w = (uint16_t)k;
        memcpy(bits + j0 / 8, &w, sizeof w);  // little-endian: element j0 is bit 0
    }
#endif
    for (size_t j = j0; j < cnt; j += 8) {
        uint8_t byte = 0;
        for (size_t k = 0; k < 8 && j + k < cnt; k++) byte |= (uint8_t)((m[j + k] != 0.0f) << k);
        bits[j / 8] = byte;
    }
}

// din[j] += dout[j] * scale where bit j is set.
static void masked_axpy_bits(float *din, const float *dout, const uint8_t *bits, size_t cnt,
                             float scale) {
    size_t j = 0;
#if defined(__AVX512F__)
    const __m512 s = _mm512_set1_ps(scale);
    for (; j + 16 <= cnt; j += 16) {
        uint16_t w;
        memcpy(&w, bits + j / 8, sizeof w);
        __m512 g = _mm512_maskz_loadu_ps((__mmask16)w, dout + j);
        // mul then add (no fma): bit-identical to the regenerating path
        _mm512_storeu_ps(din + j, _mm512_add_ps(_mm512_loadu_ps(din + j), _mm512_mul_ps(g, s)));
    }
#endif
    for (; j < cnt; j++)
        if ((bits[j >> 3] >> (j & 7)) & 1) din[j] += dout[j] * scale;
}

void cpu_op_dropout_forward(float *out, const float *in, size_t n, float p,
                        const AmRng *rng, uint64_t offset, uint8_t *keep_bits) {
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
        if (keep_bits) store_bits(keep_bits + lo / 8, m, cnt);
#pragma omp simd
        for (size_t j = 0; j < cnt; j++) out[lo + j] = in[lo + j] * m[j];
    }
}

void cpu_op_dropout_backward(float *din, const float *dout, size_t n, float p,
                         const AmRng *rng, uint64_t offset, const uint8_t *keep_bits) {
    check_p(p);
    if (p >= 1.0f) return;
    if (p == 0.0f) {
        cpu_op_axpy(din, 1.0f, dout, n);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        float m[CHUNK];
        size_t lo = c * CHUNK, cnt = n - lo < CHUNK ? n - lo : CHUNK;
        if (keep_bits) {
            masked_axpy_bits(din + lo, dout + lo, keep_bits + lo / 8, cnt, scale);
            continue;
        }
        mask_chunk(m, rng, offset + lo, cnt, p, scale);
#pragma omp simd
        for (size_t j = 0; j < cnt; j++) din[lo + j] += dout[lo + j] * m[j];
    }
}

void cpu_op_dropout_mask_inplace(float *x, size_t n, float p, const AmRng *rng, uint64_t offset,
                             const uint8_t *keep_bits) {
    check_p(p);
    if (!keep_bits || p == 0.0f || p >= 1.0f) {
        cpu_op_dropout_forward(x, x, n, p, rng, offset, NULL);
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, cnt = n - lo < CHUNK ? n - lo : CHUNK, j = 0;
        float *xc = x + lo;
        const uint8_t *bits = keep_bits + lo / 8;
#if defined(__AVX512F__)
        const __m512 s = _mm512_set1_ps(scale);
        for (; j + 16 <= cnt; j += 16) {
            uint16_t w;
            memcpy(&w, bits + j / 8, sizeof w);
            _mm512_storeu_ps(xc + j, _mm512_maskz_mul_ps((__mmask16)w, _mm512_loadu_ps(xc + j), s));
        }
#endif
        for (; j < cnt; j++) xc[j] = (bits[j >> 3] >> (j & 7)) & 1 ? xc[j] * scale : 0.0f;
    }
}

// ---------------------------------------------------------------- drop path
// Whole samples dropped (stochastic depth): sample b's scale, 0 or 1/(1-p).
static float drop_path_scale(const AmRng *rng, uint64_t offset, int b, float p) {
    return am_rng_uniform(rng, offset + (uint64_t)b) >= p ? 1.0f / (1.0f - p) : 0.0f;
}

void cpu_op_drop_path_forward(float *out, const float *in, int B, size_t n_per, float p,
                              const AmRng *rng, uint64_t offset) {
    CHECK(p >= 0.0f && p < 1.0f && B >= 0, "drop_path: p = %g outside [0, 1) or B %d < 0",
          (double)p, B);
    if (p == 0.0f) {
        if (out != in) memmove(out, in, (size_t)B * n_per * sizeof *out);
        return;
    }
    for (int b = 0; b < B; b++) {
        const float s = drop_path_scale(rng, offset, b, p);
        float *y = out + (size_t)b * n_per;
        const float *x = in + (size_t)b * n_per;
#pragma omp parallel for simd schedule(static) if (n_per >= (size_t)CPU_PAR_MIN)
        for (size_t i = 0; i < n_per; i++) y[i] = x[i] * s;
    }
}

void cpu_op_drop_path_backward(float *din, const float *dout, int B, size_t n_per, float p,
                               const AmRng *rng, uint64_t offset) {
    CHECK(p >= 0.0f && p < 1.0f && B >= 0, "drop_path: p = %g outside [0, 1) or B %d < 0",
          (double)p, B);
    for (int b = 0; b < B; b++) {
        const float s = p == 0.0f ? 1.0f : drop_path_scale(rng, offset, b, p);
        if (s != 0.0f) cpu_op_axpy(din + (size_t)b * n_per, s, dout + (size_t)b * n_per, n_per);
    }
}
