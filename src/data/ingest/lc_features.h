// Light-curve features computed at ingest: the classic variable-star features
// (period, amplitude, shape, Fourier decomposition, moments) for surveys whose
// catalogues give none. docs/data-format.md "Computed light-curve features"
// lists them for users.
//
// Input: a light curve in magnitudes (lcf_magnitudes converts astromm's fluxes:
// m = -2.5 log10(flux) + const, dm = (2.5 / ln 10) dflux / flux; observations
// with flux <= 0 are left out). Everything below is on magnitudes, weights
// 1 / dm^2 where a weight is used.
//   period          1 / f of the Lomb–Scargle best peak (periodogram.h), days
//   amplitude       m_95 - m_5: the 5–95 percentile range (linear interpolation
//                   between order statistics, numpy's default), mag
//   lksl_statistic  Lafler–Kinman string length at the period, normalised as
//                   in ASAS-SN (Clarke 2002): sum over the phase-sorted curve,
//                   wrapping, of (m_{i+1} - m_i)^2 / sum (m_i - mean)^2 * (N-1)/(2N)
//   ls_power        peak power ("standard" normalisation, 0..1)
//   ls_log10_fap    log10 Baluev false-alarm probability of that peak
//   fourier_a1      amplitude of the first harmonic of a 3-harmonic weighted
//                   least-squares fit m = c + sum_h A_h cos(2 pi h f t + phi_h)
//                   (LAPACK dgels on rows scaled by 1 / dm), mag
//   fourier_r21, fourier_r31   A_2 / A_1, A_3 / A_1
//   fourier_phi21_cos, _sin    cos, sin of phi_2 - 2 phi_1 (an angle: no 0/2pi seam)
//   fourier_phi31_cos, _sin    cos, sin of phi_3 - 3 phi_1
//   std             unweighted standard deviation (ddof 1), mag
//   skew            sample skewness (adjusted Fisher–Pearson, as scipy bias=False)
//   kurtosis        sample excess kurtosis (scipy bias=False)
//   beyond1std      fraction of observations more than 1 std from the mean
//   stetson_k       Stetson K: mean |delta| / sqrt(mean delta^2),
//                   delta_i = sqrt(N/(N-1)) (m_i - weighted mean) / dm_i
//   eta             von Neumann ratio: sum (m_{i+1} - m_i)^2 / ((N-1) var), time order
// The first three fill AstroM3's photo columns amplitude, period and
// lksl_statistic (photo column rfr_score, an ASAS-SN classifier output, has no
// light-curve equivalent). All of them, those three included, are the metadata
// columns (LCF_META_NAMES, through lcf_meta_values): the metadata view is then
// the whole classic feature set, as a random forest gets it, and a metadata
// head needs no photometry to see the period.
#ifndef ASTROMM_DATA_LC_FEATURES_H
#define ASTROMM_DATA_LC_FEATURES_H

#include "core/error.h"
#include "data/preprocess/lightcurve.h"
#include "data/ingest/periodogram.h"

enum {
    LCF_PERIOD,
    LCF_AMPLITUDE,
    LCF_LKSL,
    LCF_LS_POWER,
    LCF_LS_LOG10_FAP,
    LCF_FOURIER_A1,
    LCF_FOURIER_R21,
    LCF_FOURIER_R31,
    LCF_FOURIER_PHI21_COS,
    LCF_FOURIER_PHI21_SIN,
    LCF_FOURIER_PHI31_COS,
    LCF_FOURIER_PHI31_SIN,
    LCF_STD,
    LCF_SKEW,
    LCF_KURTOSIS,
    LCF_BEYOND1STD,
    LCF_STETSON_K,
    LCF_ETA,
    LCF_N
};
extern const char *const LCF_NAMES[LCF_N];

// The metadata columns made from features LCF_PERIOD .. LCF_ETA, in that
// order, each transformed so a z-score suits it (heavy tails compressed, an
// MLP sees comparable scales; docs/data-format.md lists them):
//   lc_log10_period             log10(period), as the photo column
//   lc_log10_amplitude          log10(max(amplitude, 1e-3))
//   lc_lksl_statistic           as it is
//   lc_ls_power                 ls_power
//   lc_log10_significance       log10(1 - ls_log10_fap): 0 for FAP 1, ~2.9 at 1e-800
//   lc_log10_fourier_a1/_r21/_r31   log10(max(x, 1e-4))
//   lc_fourier_phi21_cos .. phi31_sin   as they are (already in -1 .. 1)
//   lc_log10_std                log10(std)
//   lc_asinh_skew, lc_asinh_kurtosis   asinh(x)
//   lc_beyond1std, lc_stetson_k  as they are
//   lc_log10_eta                log10(eta)
#define LCF_META_FIRST LCF_PERIOD
#define LCF_META_N (LCF_N - LCF_META_FIRST)
extern const char *const LCF_META_NAMES[LCF_META_N];
// out[LCF_META_N] from the features v[LCF_N] of lcf_compute (all finite). 0, or
// non-zero with err set when a transformed value is not finite.
int lcf_meta_values(const double v[LCF_N], double out[LCF_META_N], AmError *err);

// Fewest observations (with flux > 0) features are computed from.
#define LCF_MIN_POINTS 12

// Magnitudes of the observations with flux > 0 (new arrays in *mag, time order
// kept). 0, or non-zero with err set when fewer than LCF_MIN_POINTS remain.
int lcf_magnitudes(const LightCurve *flux, LightCurve *mag, AmError *err);

// The weighted least-squares fit m = c + sum_h A_h cos(2 pi h freq (t - t_0) + phi_h),
// h = 1 .. LCF_HARMONICS, t_0 the first time (LAPACK dgels).
#define LCF_HARMONICS 3
int lcf_fourier(const LightCurve *mag, double freq, double amp[LCF_HARMONICS], double phi[LCF_HARMONICS],
                AmError *err);

// out[LCF_N] from a curve in magnitudes; w: this thread's periodogram buffers.
// 0, or non-zero with err set (too few points, constant curve, bad times).
int lcf_compute(const LightCurve *mag, const LsOptions *o, LsWork *w, double out[LCF_N], AmError *err);

#endif
