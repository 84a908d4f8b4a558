// Light-curve loading and AstroM3 photometry preprocessing.
//
// Readers fill a LightCurve (time, flux, flux error; double precision):
//  - lc_read_asassn: ASAS-SN text files, two header rows, then rows
//    "HJD MAG MAG_ERR FLUX FLUX_ERR" (whitespace- or comma-separated). FLUX and
//    FLUX_ERR are used; MAG and MAG_ERR must still parse.
//  - lc_read_asas_csv: the ASAS dev layout (../shared/data/asas/lightcurves.csv.gz):
//    header "id,hjd,mag,mag_err", rows sorted by integer id (strictly increasing
//    from one object to the next); one callback per object, streamed (only one
//    object is in memory). Plain or gzip files (read through zlib).
//    Magnitudes become fluxes with an arbitrary zero point of 20 mag:
//      flux = 10^(-0.4 (mag - 20)),  flux_err = 0.4 ln(10) flux mag_err.
//    The zero point cancels in flux_n and err_n (a common factor of flux, mean
//    and mad), but NOT in log10_mad: changing the zero point from 20 to ZP
//    shifts log10_mad by 0.4 (ZP - 20). ASAS-derived log10_mad values are thus
//    on this fixed, documented scale (ASAS-SN fluxes in mJy correspond to
//    ZP ~ 16.4).
// Every bad row (unparsable number, NaN/Inf, negative error, wrong column
// count, over-long line) is an error naming file:line; an empty curve is an
// error. Readers return 0 on success, non-zero with err filled otherwise.
//
// Preprocessing (../shared/reference/astrom3.md, "Preprocessing -> Light curve"):
//  lc_normalize drops duplicate rows (identical t, flux, err), sorts rows by
//  (t, flux, err) (i.e. by time; ties broken deterministically, the order of
//  np.unique(X, axis=0)), then with mad = median(|flux - median(flux)|)
//  (scale 1): flux_n = (flux - mean(flux)) / mad, err_n = err / mad,
//  dt = (t_max - t_min) / 365, t01 = (t - t_min) / (t_max - t_min) over the
//  whole curve. mad == 0 (a constant curve, or a single point) and a zero time
//  span (every observation at one time) are errors. Arithmetic in double, stored as float.
//  lc_to_tensor builds the [L, 9] encoder input: channels per step
//  [t01, flux_n, err_n, photo_cols[0..3], log10_mad, dt]; n > L crops the
//  steps start .. start+L-1 (random start in training, lc_center_start for
//  evaluation); n <= L copies all steps and zero-pads (x = 0, mask = 0).
#ifndef ASTROMM_LIGHTCURVE_H
#define ASTROMM_LIGHTCURVE_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    double *t, *flux, *err;
    int n;
} LightCurve;

void lc_free(LightCurve *lc);  // frees the arrays and zeroes *lc (NULL-safe)

int lc_read_asassn(const char *path, LightCurve *out, AmError *err);

// Called once per object, in file order; lc is valid only during the call.
// Return 0 to continue, non-zero to stop reading (lc_read_asas_csv then returns 0).
typedef int (*LcCallback)(int64_t id, const LightCurve *lc, void *user);
int lc_read_asas_csv(const char *path, LcCallback cb, void *user, AmError *err);

#define LC_CHANNELS 9
// Optional input layout: the 9 channels, then sin and cos of 2 pi phase at the
// object's period (photo column period), phase = frac((t - t_min) / P) with
// t - t_min = t01 * dt * 365 days; 0 on padded steps and without a period.
#define LC_CHANNELS_PHASE 11

typedef struct {
    float *t01, *flux_n, *err_n;
    int n;
    float log10_mad, dt;
} LcNorm;

int lc_normalize(const LightCurve *lc, LcNorm *out, AmError *err);
void lc_norm_free(LcNorm *nm);  // NULL-safe, zeroes *nm

// (n - L) / 2 when n > L, else 0.
int lc_center_start(int n, int L);

// x: [L, 9] row-major, mask: [L]. Returns 0, or -1 (nothing written) when
// L <= 0 or, for n > L, start is outside 0 .. n - L.
int lc_to_tensor(const LcNorm *nm, const float photo_cols[4], int L, int start, float *x, float *mask);

#endif
