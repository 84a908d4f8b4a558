// LAMOST low-resolution spectra: FITS reader and AstroM3 preprocessing.
//
// Reading (spec_read_lamost, cfitsio). Two layouts are accepted:
//  (a) the primary HDU is a 2-D image of shape (rows >= 2, npix) whose row 0 is
//      flux and row 1 the inverse variance (LAMOST DR1: 5 rows, flux, ivar,
//      subcontinuum, andmask, ormask); the wavelength is
//      wave[i] = 10^(COEFF0 + i * COEFF1), i = 0 .. npix-1 (keys required).
//  (b) otherwise the first binary-table HDU holds columns FLUX, IVAR and a
//      wavelength column, found by name case-insensitively: flux "FLUX";
//      inverse variance "IVAR", "INVERSE", "INV_VAR" or "IVARIANCE"; wavelength
//      "WAVELENGTH", "WAVE" or "LOGLAM" (then wave = 10^loglam). Columns may be
//      vector columns in one row or scalar columns over many rows (all rows are
//      concatenated); the three must hold the same number of values.
// Every failure (not FITS, missing keys or columns, wrong shapes, non-finite
// wavelength/flux/ivar, no data) returns non-zero and fills AmError with the
// file name and, for cfitsio failures, cfitsio's status text.
//
// Preprocessing (spec_preprocess), following AstroM3's preprocess_spectra:
//  1. sort the points by wavelength (stable; ties keep file order);
//  2. grid x_k = SPEC_WAVE_MIN + SPEC_WAVE_STEP * k, k = 0 .. SPEC_LEN-1, i.e.
//     np.arange(3850, 9000, 2) = 3850 .. 8998 Å;
//  3. flux_k = np.interp(x_k, wave, flux) and err_k = np.interp(x_k, wave, ivar):
//     linear, clamped to the first/last value outside the data range. "err" is
//     literally the interpolated second FITS column (LAMOST inverse variance),
//     as in the reference; it is NOT converted to a standard deviation;
//  4. mean = mean of all SPEC_LEN interpolated fluxes (zeros included);
//     mad = median(|f - median(f)|) over the interpolated fluxes f != 0 only
//     (scipy.stats.median_abs_deviation, scale 1);
//  5. out[0][k] = (flux_k - mean) / mad, out[1][k] = err_k / mad,
//     out[2][k] = log10(mad) (constant).
// mad == 0 (or not finite) and "no non-zero flux" are errors. Computed in double,
// stored as float; out is [3][SPEC_LEN] row-major.
#ifndef ASTROMM_SPECTRUM_H
#define ASTROMM_SPECTRUM_H

#include "core/error.h"

#define SPEC_LEN 2575
#define SPEC_WAVE_MIN 3850
#define SPEC_WAVE_STEP 2

typedef struct {
    double *wave, *flux, *ivar;  // n values each, in file order (wave in Å)
    int n;
} Spectrum;

// Frees the arrays and zeroes the struct (safe on a zeroed struct).
void spec_free(Spectrum *s);

// 0 on success (*out filled; free with spec_free); non-zero with err set on
// failure (*out is then zeroed).
int spec_read_lamost(const char *path, Spectrum *out, AmError *err);

// 0 on success; non-zero with err set (out is then unspecified).
int spec_preprocess(const Spectrum *s, float out[3 * SPEC_LEN], AmError *err);

#endif
