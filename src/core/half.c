// binary16 conversions: see half.h.
#include "core/half.h"

#include <string.h>

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t half_from_float(float f) {
    const uint32_t u = bits_of(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t e = (u >> 23) & 0xffu, m = u & 0x7fffffu;
    if (e == 0xffu) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0));  // inf, NaN (quiet)
    const int exp = (int)e - 127 + 15;  // the binary16 biased exponent
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);  // overflow: infinity
    if (exp <= 0) {                                    // a binary16 subnormal (or zero)
        if (exp < -10) return sign;                    // below half the smallest subnormal: +-0
        const uint32_t mm = m | 0x800000u;             // the implicit 1
        const int shift = 14 - exp;                    // 14..24
        uint32_t h = mm >> shift;
        const uint32_t rest = mm & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1u))) h++;  // may carry into the smallest normal: right
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (m >> 13);
    const uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;  // a carry moves to the exponent (or to inf)
    return (uint16_t)(sign | h);
}

float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) return float_of(sign | 0x7f800000u | (m << 13));  // inf, NaN
    if (e == 0) {
        if (!m) return float_of(sign);
        // subnormal: m * 2^-24, exact in float32
        float f = (float)m * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    return float_of(sign | ((e - 15 + 127) << 23) | (m << 13));
}

void half_from_floats(const float *x, size_t n, uint16_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = half_from_float(x[i]);
}

void half_to_floats(const uint16_t *h, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = half_to_float(h[i]);
}
