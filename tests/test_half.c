// binary16 conversions (src/core/half.h): every one of the 65536 halves round
// trips; float -> half is the nearest half (ties to even) for 2 million floats
// spread over every exponent, checked against neighbours in double (and
// against the compiler's _Float16 where it has one); overflow, underflow,
// subnormals, signed zero, infinities and NaN.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/half.h"
#include "core/rng.h"
#include "testutil.h"

static int is_nan_half(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu); }

int main(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = half_to_float((uint16_t)h);
        const uint16_t back = half_from_float(f);
        if (is_nan_half((uint16_t)h) ? !isnan(f) || !is_nan_half(back) : back != h) bad++;
    }
    EXPECT(bad == 0, "%d of 65536 halves do not round trip", bad);
    EXPECT(half_to_float(0x3c00) == 1.0f && half_to_float(0x7bff) == 65504.0f && half_to_float(0x0001) == ldexpf(1, -24) &&
           half_to_float(0x0400) == ldexpf(1, -14) && half_to_float(0xc000) == -2.0f, "known values");
    struct { float f; uint16_t h; } cases[] = {
        {1.99962139f, 0x4000}, {-0.999886036f, 0xbc00}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
        {-1e10f, 0xfc00},      {ldexpf(1, -25), 0x0000}, {ldexpf(1.0001f, -25), 0x0001}, {ldexpf(3, -25), 0x0002},
        {-0.0f, 0x8000},       {INFINITY, 0x7c00},       {ldexpf(1, -26), 0x0000}, {ldexpf(2047, -25), 0x0400},
        {1.0f + ldexpf(1, -11), 0x3c00}, {1.0f + ldexpf(3, -11), 0x3c02}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        EXPECT(half_from_float(cases[i].f) == cases[i].h, "half_from_float(%.9g) = 0x%04x, want 0x%04x",
               (double)cases[i].f, half_from_float(cases[i].f), cases[i].h);
    EXPECT(is_nan_half(half_from_float(NAN)), "NaN stays NaN");
    // random floats over [2^-30, 2^17): the result is the nearest half, ties to even
    const AmRng r = am_rng(3, 0, RNG_SYNTH, 7);
    int wrong = 0, compiler = 0;
    for (uint64_t i = 0; i < 2000000; i++) {
        const float x = ldexpf(1.0f + am_rng_uniform(&r, 2 * i), (int)(am_rng_below(&r, 2 * i + 1, 47)) - 30) *
                        (i & 1 ? -1.0f : 1.0f);
        const uint16_t h = half_from_float(x);
        const double v = half_to_float(h), dx = fabs((double)x - v);
        if (h == 0x7c00 || h == 0xfc00) {
            wrong += fabs((double)x) < 65520.0;
            continue;
        }
        for (int s = -1; s <= 1; s += 2) {  // the neighbours on both sides (same sign)
            const uint16_t nb = (uint16_t)(h + s);
            if ((h & 0x7fff) == 0 && s < 0) continue;
            if ((nb & 0x7c00) == 0x7c00) continue;
            const double dn = fabs((double)x - half_to_float(nb));
            if (dn < dx || (dn == dx && (h & 1))) wrong++;
        }
#if defined(__FLT16_MANT_DIG__) && defined(__GNUC__) && !defined(__clang__)
        _Float16 c = (_Float16)x;
        uint16_t cb;
        memcpy(&cb, &c, 2);
        compiler += cb != h;
#endif
    }
    EXPECT(wrong == 0, "%d of 2e6 floats not rounded to the nearest half (ties to even)", wrong);
    EXPECT(compiler == 0, "%d of 2e6 floats differ from the compiler's _Float16", compiler);
    return tu_finish("test_half");
}
