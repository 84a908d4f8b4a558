// Generalised (floating-mean) Lomb–Scargle periodogram with errors as weights
// (Zechmeister & Kürster 2009, A&A 496, 577), the period finder of ingest.
//
// Power ("standard" normalisation, astropy's default): for frequency f,
//   p(f) = (chi2_ref - chi2(f)) / chi2_ref  in [0, 1],
// chi2_ref of the weighted mean, chi2(f) of the best fit y = c + a cos + b sin,
// weights w_i = 1 / dy_i^2. The algebra is astropy's lombscargle_fast (its
// "standard" normalisation, fit_mean=True, center_data=True), so both agree to
// the accuracy of the sums.
//
// Frequency grid (cycles per day when t is in days): f_k = k * df, k = k_lo .. k_hi,
//   df = 1 / (samples_per_peak * baseline), baseline = t_max - t_min,
//   k_lo = max(1, ceil(f_min / df)), k_hi = floor(f_max / df).
// That is astropy's autofrequency spacing on an explicit range; astropy gives the
// same grid with LombScargle.power(f_k).
//
// Two ways to compute the sums over the data:
//  - ls_power_naive: direct sums, O(N * F) sin/cos. The test reference.
//  - ls_power_fast: Press & Rybicki (1989, ApJ 338, 277): the data are
//    extirpolated (Lagrange weights on `extirp_points` neighbours, wrapping
//    circularly) onto a regular grid of M cells and the sums at every f_k come
//    from one FFT (FFTW). M is the smallest 2^a or 3 * 2^a >= oversampling * (k_hi + 1).
//    The w*y and w sums at f share one complex FFT (two real grids as its real
//    and imaginary parts); the w sums at 2f take one real-to-complex FFT.
//    O(N * extirp_points + M log M).
// ls_best: the fast periodogram, then the n_refine highest local maxima are
// each refined by golden-section search on the exact power within ±1 grid step;
// the best refined peak wins. False-alarm probability: Baluev (2008, MNRAS 385,
// 1279) for the highest peak, astropy's fap_baluev with f_max = the grid's
// highest frequency (as LombScargle.false_alarm_probability takes it).
//
// Threads: every function is reentrant; an LsWork holds one thread's buffers and
// FFT plans (FFTW plans are made under a process-wide lock, FFTW_ESTIMATE, so a
// result depends only on the data and the machine's SIMD codelets).
#ifndef ASTROMM_DATA_PERIODOGRAM_H
#define ASTROMM_DATA_PERIODOGRAM_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    double f_min, f_max;      // searched range, cycles per time unit (d^-1)
    double samples_per_peak;  // grid points per peak width 1/baseline
    int oversampling;         // FFT cells per highest-frequency cycle (fast method)
    int extirp_points;        // Lagrange extirpolation neighbours (fast method)
    int n_refine;             // highest grid peaks refined on the exact power
    int max_freqs;            // refuse grids larger than this (a bad time column)
} LsOptions;

// Defaults: f 0.001 .. 20 d^-1 (periods 0.05 .. 1000 d: δ Scuti to Miras),
// 5 samples per peak, oversampling 4 with 16 extirpolation points, 5 refined
// peaks, at most 2^24 frequencies. Measured on an ASAS-sized curve (437 points,
// 270k frequencies), largest |fast - exact| power: 5e-5 (astropy's defaults,
// oversampling 5 with 4 points: 3e-3); tests/test_periodogram.c.
LsOptions ls_default_options(void);

typedef struct {
    double df;        // grid step
    int64_t k_lo, k_hi;
} LsGrid;

typedef struct LsWork LsWork;
LsWork *ls_work_new(void);
void ls_work_free(LsWork *w);  // NULL-safe

// Fills grid from the time span; 0, or non-zero with err set when the options
// are invalid, the span is not positive, or the grid is empty or too large.
int ls_grid(const double *t, int n, const LsOptions *o, LsGrid *grid, AmError *err);

// Prepared data: t - t_min, y - weighted mean, normalised weights, y's
// weighted variance. dy <= 0 or non-finite weights are refused.
typedef struct {
    double *t, *y, *w;  // [n] (owned)
    int n;
    double yy;          // sum w y^2 (weights sum to 1)
    double var_t;       // weighted variance of t (for the FAP)
} LsData;
int ls_data_init(LsData *d, const double *t, const double *y, const double *dy, int n, AmError *err);
void ls_data_free(LsData *d);  // NULL-safe

// power[k - k_lo] for k = k_lo .. k_hi.
void ls_power_naive(const LsData *d, const LsGrid *g, double *power);
int ls_power_fast(const LsData *d, const LsGrid *g, const LsOptions *o, LsWork *w, double *power, AmError *err);

// Exact power at one frequency (direct sums).
double ls_power_at(const LsData *d, double f);

// log10 of Baluev's false-alarm probability of a peak of standard power z among
// frequencies up to f_max (computed in logs: no underflow to 0 for strong peaks).
double ls_log10_fap(double z, int n, double f_max, double var_t);

typedef struct {
    double freq, power;   // refined best peak
    double log10_fap;
    int64_t n_freqs;      // grid size
    double grid_freq;     // best grid frequency before refinement (fast power)
} LsResult;

int ls_best(const double *t, const double *y, const double *dy, int n, const LsOptions *o, LsWork *w, LsResult *out,
            AmError *err);

#endif
