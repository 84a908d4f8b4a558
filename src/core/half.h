// IEEE 754 binary16 ("float16") <-> float32, round to nearest, ties to even;
// infinities, NaNs (quiet, sign and top payload kept) and subnormals handled.
// Used for the float16 storage of embeddings files: HDF5 1.10's own float
// conversion rounds wrongly when rounding carries into the exponent (1.9996 ->
// 1.0), so astromm converts itself and lets HDF5 move the bits only.
#ifndef ASTROMM_HALF_H
#define ASTROMM_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t half_from_float(float f);
float half_to_float(uint16_t h);
void half_from_floats(const float *x, size_t n, uint16_t *out);
void half_to_floats(const uint16_t *h, size_t n, float *out);

#endif
