// cpu_expf (src/cpu/cpu_util.h) at the edges: NaN in gives NaN out (it used to
// reach an int conversion of NaN and a left shift of a negative value, which
// UBSan reports: this test runs in the sanitizer build of scripts/test.sh),
// -Inf gives 0, +Inf the documented clamp exp(88); and every finite input gives
// the same bits as the formula before the NaN fix (the bitwise CPU/GPU and
// reference tests rely on them), in scalar calls and in a vectorised loop.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu_util.h"
#include "testutil.h"

// FNV-1a (64-bit) of the result bits over the sweep below, from the formula
// before the NaN fix (recorded with it, commit d52ebda; finite inputs must
// keep these bits).
#define SWEEP_HASH_BEFORE 0xe6a48af2deae2fc5ULL

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Not inlined into the loop below, so the scalar code path is what is compared.
__attribute__((noinline)) static float expf_scalar(float x) { return cpu_expf(x); }

enum { N = 4096 };

int main(void) {
    // volatile: the values must reach cpu_expf at run time, where UBSan checks.
    volatile float qnan = NAN, inf = INFINITY;
    const float nans[4] = {qnan, -qnan, from_bits(0x7fc12345u), from_bits(0x7f800001u)};  // quiet, negative, payload, signalling
    for (int i = 0; i < 4; i++) EXPECT(isnan(cpu_expf(nans[i])), "cpu_expf(NaN #%d) = %g", i, (double)cpu_expf(nans[i]));
    EXPECT(bits_of(cpu_expf(-inf)) == 0, "cpu_expf(-Inf) = %g, want +0", (double)cpu_expf(-inf));
    EXPECT(bits_of(cpu_expf(inf)) == bits_of(cpu_expf(88.0f)) && isfinite(cpu_expf(inf)),
           "cpu_expf(+Inf) = %g, want the clamp exp(88) = %g", (double)cpu_expf(inf), (double)cpu_expf(88.0f));

    // Every finite float in [-100, 100] with a stride of 97 bit patterns (both
    // signs; covers the clamps, the underflow cut and the subnormals): same bits
    // as before the fix, compared through their hash.
    long compared = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t u = 0; u <= 0x42c80000u; u += 97) {  // 0x42c80000 = 100.0f
            const float x = from_bits(u | (sign ? 0x80000000u : 0));
            h = (h ^ bits_of(expf_scalar(x))) * 0x100000001b3ULL;
            compared++;
        }
    EXPECT(h == SWEEP_HASH_BEFORE && compared > 20000000, "hash of %ld finite results %#llx, before the fix %#llx",
           compared, (unsigned long long)h, (unsigned long long)SWEEP_HASH_BEFORE);

    // The vectorised loop (as in softmax) gives the scalar bits, NaN lanes included.
    static float in[N], out[N];
    for (int i = 0; i < N; i++) in[i] = (float)(i % 200) - 150.0f + (float)i / N;
    in[5] = qnan;
    in[N - 3] = -inf;
    in[N - 2] = inf;
#pragma omp simd
    for (int i = 0; i < N; i++) out[i] = cpu_expf(in[i]);
    int lanes_differ = 0;
    for (int i = 0; i < N; i++) lanes_differ += bits_of(out[i]) != bits_of(expf_scalar(in[i])) && !(isnan(out[i]) && isnan(in[i]));
    EXPECT(lanes_differ == 0 && isnan(out[5]), "vector loop differs from scalar in %d lanes (NaN lane %g)", lanes_differ,
           (double)out[5]);

    // A NaN logit makes the whole softmax row NaN rather than garbage.
    float row[8] = {0.5f, -1.0f, 2.0f, qnan, 0.0f, 1.0f, -3.0f, 0.25f};
    cpu_softmax_row(row, 8);
    int nan_out = 0;
    for (int i = 0; i < 8; i++) nan_out += isnan(row[i]);
    EXPECT(nan_out == 8, "softmax row with a NaN: %d of 8 outputs NaN", nan_out);
    return tu_finish("test_cpu_expf");
}
