// Philox4x32-10 and the keyed streams built on it: the published Random123
// known answers, element addressing (any offset, any order), independence of
// streams that differ in one key field, and the derived distributions.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "testutil.h"

static void test_known_answers(void) {
    static const uint32_t kat[3][10] = {
        // ctr[4], key[2], expected[4]  (Random123 kat_vectors, philox4x32 10 rounds)
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        philox4x32_10(kat[k], kat[k] + 4, out);
        for (int w = 0; w < 4; w++)
            EXPECT(out[w] == kat[k][6 + w], "KAT %d word %d: %08x, want %08x", k, w, out[w], kat[k][6 + w]);
    }
}

static void test_addressing(void) {
    AmRng r = am_rng(0xDEADBEEFCAFEull, 12345, RNG_DROPOUT, 7);
    enum { N = 1003 };
    float a[N], b[N];
    am_rng_fill_uniform(&r, 5, a, N);  // unaligned start
    int bad = 0;
    for (int i = N - 1; i >= 0; i--) {  // any order gives the same element
        b[i] = am_rng_uniform(&r, 5 + (uint64_t)i);
        bad += a[i] != b[i];
    }
    EXPECT(bad == 0, "fill_uniform differs from element-wise uniform in %d places", bad);
    // Large indices address distinct blocks.
    EXPECT(am_rng_u32(&r, (1ull << 33) + 1) != am_rng_u32(&r, 1), "index 2^33+1 aliases index 1");
}

static void test_independence(void) {
    const AmRng base = am_rng(42, 3, RNG_DROPOUT, 1);
    const AmRng other[] = {am_rng(43, 3, RNG_DROPOUT, 1), am_rng(42, 4, RNG_DROPOUT, 1),
                           am_rng(42, 3, RNG_PROBSPARSE, 1), am_rng(42, 3, RNG_DROPOUT, 2),
                           am_rng(42, 3 + (1ull << 32), RNG_DROPOUT, 1)};
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        int same = 0;
        for (uint64_t i = 0; i < 4096; i++) same += am_rng_u32(&base, i) == am_rng_u32(&other[k], i);
        EXPECT(same < 4, "stream %zu agrees with the base stream in %d of 4096 words", k, same);
    }
}

static void test_distributions(void) {
    AmRng r = am_rng(7, 0, RNG_SYNTH, 0);
    enum { N = 200000 };
    double s = 0, s2 = 0, ns = 0, ns2 = 0;
    int out_of_range = 0, below_bad = 0;
    int hist[10] = {0};
    for (uint64_t i = 0; i < N; i++) {
        const float u = am_rng_uniform(&r, i);
        out_of_range += !(u >= 0.0f && u < 1.0f);
        s += u;
        s2 += (double)u * u;
        const float z = am_rng_normal(&r, i);
        ns += z;
        ns2 += (double)z * z;
        const uint32_t k = am_rng_below(&r, i, 10);
        below_bad += k >= 10;
        if (k < 10) hist[k]++;
    }
    EXPECT(out_of_range == 0, "%d uniforms outside [0, 1)", out_of_range);
    EXPECT(fabs(s / N - 0.5) < 0.005 && fabs(s2 / N - 1.0 / 3.0) < 0.005, "uniform mean %.4f, E[u^2] %.4f",
           s / N, s2 / N);
    EXPECT(fabs(ns / N) < 0.01 && fabs(ns2 / N - 1.0) < 0.02, "normal mean %.4f, var %.4f", ns / N, ns2 / N);
    EXPECT(below_bad == 0, "am_rng_below returned values >= n");
    for (int k = 0; k < 10; k++)
        EXPECT(abs(hist[k] - N / 10) < N / 100, "am_rng_below bin %d has %d of %d", k, hist[k], N);
}

int main(void) {
    test_known_answers();
    test_addressing();
    test_independence();
    test_distributions();
    return tu_finish("test_rng");
}
