// Lomb–Scargle period finder (src/data/ingest/periodogram.c) and light-curve features
// (src/data/ingest/lc_features.c), without ../shared/data:
//  - the Press–Rybicki power against the direct sums over a whole ASAS-sized grid;
//  - exact power and Baluev FAP against astropy (tests/reference/fixtures/periodogram_ref.h,
//    tests/reference/make_periodogram_reference.py);
//  - period recovery and peak refinement on synthetic curves, features of a known
//    sinusoid, and every refusal (message checked).
// The real-curve comparison with astropy is tests/test_periodogram_asas.c.
#define _XOPEN_SOURCE 700  // M_PI, M_LN10
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ingest/lc_features.h"
#include "data/ingest/periodogram.h"
#include "testutil.h"

#include "reference/fixtures/periodogram_ref.h"

// The series of make_periodogram_reference.py, same expressions in double.
static void ref_series(int n, double *t, double *y, double *dy) {
    for (int k = 0; k < n; k++) {
        double i = k;
        t[k] = 2450000.0 + 4.9 * i + 0.37 * sin(1.3 * i) + 0.11 * cos(0.7 * i * i);
        double ph = 2 * M_PI * t[k] / 0.61377;
        y[k] = 11.0 + 0.31 * sin(ph) + 0.12 * cos(2 * ph + 0.4) + 0.05 * sin(12.9898 * i + 78.233 * sin(i));
        dy[k] = 0.02 + 0.01 * (1 + sin(0.37 * i));
    }
}

// ASAS-like: ~2700 d, nightly with gaps, n points; period P, amplitude a, noise s.
static void asas_like(int n, double P, double a, double s, double *t, double *y, double *dy) {
    for (int k = 0; k < n; k++) {
        double u = sin(12.9898 * k + 78.233) * 43758.5453;
        u -= floor(u);  // deterministic pseudo-uniform
        double g = k * 0.6180339887498949;  // quasi-random times: no strict cadence, few aliases
        t[k] = 2451868.5 + 2700.0 * (g - floor(g)) + 0.3 * u;
        double ph = 2 * M_PI * t[k] / P;
        double v = sin(7.13 * k) * 24634.6345;
        v = 2 * (v - floor(v)) - 1;
        y[k] = 12.0 + a * sin(ph) + 0.3 * a * sin(2 * ph + 1.1) + s * v;
        dy[k] = 0.02 + 0.02 * u;
    }
}

static void test_power_vs_astropy(void) {
    double t[REF_N], y[REF_N], dy[REF_N];
    ref_series(REF_N, t, y, dy);
    LsData d;
    AmError e;
    REQUIRE(ls_data_init(&d, t, y, dy, REF_N, &e) == 0, "%s", e.msg);
    double worst = 0;
    for (int k = 0; k < (int)(sizeof ref_freq / sizeof *ref_freq); k++) {
        double p = ls_power_at(&d, ref_freq[k]);
        worst = fmax(worst, fabs(p - ref_power[k]));
    }
    EXPECT(worst < 1e-10, "exact power vs astropy (cython, direct sums): max |diff| %.3g", worst);
    for (int k = 0; k < (int)(sizeof ref_fap_z / sizeof *ref_fap_z); k++) {
        double l = ls_log10_fap(ref_fap_z[k], REF_N, 20.0, d.var_t);
        double want = log10(ref_fap[k]);
        EXPECT(fabs(l - want) < 1e-9 * fmax(1, fabs(want)), "FAP z=%g: log10 %.12g, astropy %.12g", ref_fap_z[k], l,
               want);
    }
    // A perfect fit stays finite (astropy's own formula underflows to 0 there).
    EXPECT(isfinite(ls_log10_fap(1.0, REF_N, 20.0, d.var_t)), "FAP of power 1 is finite");
    EXPECT(ls_log10_fap(0.0, REF_N, 20.0, d.var_t) == 0, "FAP of power 0 is 1");
    ls_data_free(&d);
}

static void test_fast_vs_naive(void) {
    enum { N = 437 };
    double t[N], y[N], dy[N];
    asas_like(N, 0.3712, 0.2, 0.05, t, y, dy);
    LsOptions o = ls_default_options();
    LsGrid g;
    LsData d;
    AmError e;
    REQUIRE(ls_grid(t, N, &o, &g, &e) == 0, "%s", e.msg);
    REQUIRE(ls_data_init(&d, t, y, dy, N, &e) == 0, "%s", e.msg);
    int64_t nf = g.k_hi - g.k_lo + 1;
    EXPECT(nf > 200000, "ASAS-sized grid: %lld frequencies", (long long)nf);
    double *pf = malloc((size_t)nf * sizeof *pf), *pn = malloc((size_t)nf * sizeof *pn);
    LsWork *w = ls_work_new();
    REQUIRE(ls_power_fast(&d, &g, &o, w, pf, &e) == 0, "%s", e.msg);
    ls_power_naive(&d, &g, pn);
    double worst = 0, pmax = 0;
    int64_t at = 0;
    for (int64_t k = 0; k < nf; k++) {
        double diff = fabs(pf[k] - pn[k]);
        if (diff > worst) worst = diff, at = k;
        pmax = fmax(pmax, pn[k]);
    }
    // Measured 4.7e-5 with the defaults (oversampling 4, 16 points); astropy's own
    // defaults (5, 4) give 2.9e-3 here, (4, 8) 1.1e-3, (2, 8) 3e-2.
    EXPECT(worst < 1e-4, "fast vs naive power: max |diff| %.3g at f=%g (peak power %.3f)", worst,
           (double)(g.k_lo + at) * g.df, pmax);
    // Astropy's defaults through our code: coarser, still a fair approximation.
    LsOptions oa = o;
    oa.oversampling = 5;
    oa.extirp_points = 4;
    REQUIRE(ls_power_fast(&d, &g, &oa, w, pf, &e) == 0, "%s", e.msg);
    double worst_a = 0;
    for (int64_t k = 0; k < nf; k++) worst_a = fmax(worst_a, fabs(pf[k] - pn[k]));
    EXPECT(worst_a < 5e-3 && worst_a > worst, "astropy-default accuracy %.3g (ours %.3g)", worst_a, worst);
    free(pf);
    free(pn);
    ls_work_free(w);
    ls_data_free(&d);
}

static void test_best_period(void) {
    enum { N = 300 };
    double t[N], y[N], dy[N];
    LsOptions o = ls_default_options();
    LsWork *w = ls_work_new();
    AmError e;
    const double periods[] = {0.0731, 0.3712, 0.5531, 3.217, 41.7, 310.0};
    for (int j = 0; j < 6; j++) {
        asas_like(N, periods[j], 0.3, 0.01, t, y, dy);
        LsResult r;
        REQUIRE(ls_best(t, y, dy, N, &o, w, &r, &e) == 0, "P=%g: %s", periods[j], e.msg);
        double df = 1.0 / (5 * (t[N - 1] - t[0]));
        EXPECT(fabs(r.freq - 1 / periods[j]) < 0.2 * df, "P=%g: found f=%.9g, true %.9g (df %.3g)", periods[j],
               r.freq, 1 / periods[j], df);
        EXPECT(r.power > 0.9 && r.power <= 1, "P=%g: power %g", periods[j], r.power);
        EXPECT(r.log10_fap < -50, "P=%g: log10 FAP %g", periods[j], r.log10_fap);
        LsData d;
        REQUIRE(ls_data_init(&d, t, y, dy, N, &e) == 0, "%s", e.msg);
        EXPECT(r.power >= ls_power_at(&d, r.grid_freq), "refined peak %.12g below its grid point", r.power);
        ls_data_free(&d);
    }
    // Pure noise: no significant peak.
    for (int k = 0; k < N; k++) {
        double v = sin(3.7 * k + 0.2) * 91234.567;
        y[k] = v - floor(v);
        t[k] = 100.0 + 7.3 * k + (sin(k * 1.7) + 1);
        dy[k] = 0.1;
    }
    LsResult r;
    REQUIRE(ls_best(t, y, dy, N, &o, w, &r, &e) == 0, "noise: %s", e.msg);
    EXPECT(r.log10_fap > -2, "noise: log10 FAP %g should not be significant", r.log10_fap);
    ls_work_free(w);
}

static void test_refusals(void) {
    double t[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {1, 2, 1, 2, 1, 3, 1, 2}, dy[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    LsOptions o = ls_default_options();
    LsWork *w = ls_work_new();
    LsResult r;
    AmError e;
    EXPECT(ls_best(t, y, dy, 4, &o, w, &r, &e) != 0 && strstr(e.msg, "need at least 5"), "n=4: %s", e.msg);
    double t0[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    EXPECT(ls_best(t0, y, dy, 8, &o, w, &r, &e) != 0 && strstr(e.msg, "time span"), "span 0: %s", e.msg);
    double dz[8] = {1, 1, 0, 1, 1, 1, 1, 1};
    EXPECT(ls_best(t, y, dz, 8, &o, w, &r, &e) != 0 && strstr(e.msg, "observation 2 has error 0"), "dy=0: %s",
           e.msg);
    double yc[8] = {3, 3, 3, 3, 3, 3, 3, 3};
    EXPECT(ls_best(t, yc, dy, 8, &o, w, &r, &e) != 0 && strstr(e.msg, "constant"), "constant: %s", e.msg);
    double tb[8] = {1, 2, 3, 4, 5, 6, 7, 8e9};  // seconds taken for days
    EXPECT(ls_best(tb, y, dy, 8, &o, w, &r, &e) == 0 || strstr(e.msg, "max_freqs"), "huge span: %s", e.msg);
    LsOptions bad = o;
    bad.f_max = 0;
    EXPECT(ls_best(t, y, dy, 8, &bad, w, &r, &e) != 0 && strstr(e.msg, "bad options"), "f_max 0: %s", e.msg);
    bad = o;
    bad.max_freqs = 10;
    EXPECT(ls_best(t, y, dy, 8, &bad, w, &r, &e) != 0 && strstr(e.msg, "days"), "grid limit: %s", e.msg);
    ls_work_free(w);
}

static void test_features(void) {
    enum { N = 400 };
    double t[N], y[N], dy[N];
    const double P = 0.5531, A = 0.4;
    for (int k = 0; k < N; k++) {
        double u = sin(12.9898 * k + 78.233) * 43758.5453;
        u -= floor(u);
        double g = k * 0.6180339887498949;
        t[k] = 1000.0 + 2000.0 * (g - floor(g)) + 0.3 * u;
        double ph = 2 * M_PI * (t[k] - 1000.0) / P;
        // A cos(x) + (A/2) cos(2x + 1) + (A/4) cos(3x + 2): phi21 = 1, phi31 = 2
        y[k] = 12.0 + A * cos(ph) + 0.5 * A * cos(2 * ph + 1.0) + 0.25 * A * cos(3 * ph + 2.0);
        dy[k] = 0.01;
    }
    LightCurve flux = {0};
    flux.n = N;
    flux.t = t;
    double f[N], fe[N];
    for (int k = 0; k < N; k++) f[k] = pow(10, -0.4 * (y[k] - 20)), fe[k] = 0.4 * M_LN10 * f[k] * dy[k];
    flux.flux = f;
    flux.err = fe;
    LightCurve mag;
    AmError e;
    REQUIRE(lcf_magnitudes(&flux, &mag, &e) == 0, "%s", e.msg);
    EXPECT(fabs(mag.flux[0] - (y[0] - 20)) < 1e-9 && fabs(mag.err[0] - dy[0]) < 1e-12, "magnitudes %g %g",
           mag.flux[0], mag.err[0]);
    double out[LCF_N];
    LsOptions o = ls_default_options();
    LsWork *w = ls_work_new();
    REQUIRE(lcf_compute(&mag, &o, w, out, &e) == 0, "%s", e.msg);
    EXPECT(fabs(out[LCF_PERIOD] - P) < 1e-5, "period %.10g (true %g)", out[LCF_PERIOD], P);
    // At the found period (7e-7 d off: the peak of a one-sinusoid fit to a
    // three-harmonic curve) the decomposition is close; at the true one, exact.
    EXPECT(fabs(out[LCF_FOURIER_A1] - A) < 1e-3 * A, "A1 %.8g", out[LCF_FOURIER_A1]);
    EXPECT(fabs(out[LCF_FOURIER_R21] - 0.5) < 5e-3 && fabs(out[LCF_FOURIER_R31] - 0.25) < 5e-3, "R21 %g R31 %g",
           out[LCF_FOURIER_R21], out[LCF_FOURIER_R31]);
    EXPECT(fabs(atan2(out[LCF_FOURIER_PHI21_SIN], out[LCF_FOURIER_PHI21_COS]) - 1.0) < 0.02 &&
               fabs(atan2(out[LCF_FOURIER_PHI31_SIN], out[LCF_FOURIER_PHI31_COS]) - 2.0) < 0.02,
           "phi21 %g phi31 %g", atan2(out[LCF_FOURIER_PHI21_SIN], out[LCF_FOURIER_PHI21_COS]),
           atan2(out[LCF_FOURIER_PHI31_SIN], out[LCF_FOURIER_PHI31_COS]));
    double amp[LCF_HARMONICS], phi[LCF_HARMONICS];
    REQUIRE(lcf_fourier(&mag, 1 / P, amp, phi, &e) == 0, "%s", e.msg);
    // t_0 = the first time; the curve's phase origin is t = 1000: shift phi_h by h*(t_0-1000)*2pi/P.
    double sh = 2 * M_PI * (mag.t[0] - 1000.0) / P;
    const double want_amp[3] = {A, 0.5 * A, 0.25 * A}, want_phi[3] = {0, 1, 2};
    for (int h = 0; h < 3; h++) {
        double dphi = remainder(phi[h] - (want_phi[h] + (h + 1) * sh), 2 * M_PI);
        EXPECT(fabs(amp[h] - want_amp[h]) < 1e-9 && fabs(dphi) < 1e-8, "harmonic %d: A %.12g phi off by %.3g", h + 1,
               amp[h], dphi);
    }
    // Folded at the true period the string is smooth: short against the scatter.
    EXPECT(out[LCF_LKSL] < 0.01, "Lafler-Kinman %g", out[LCF_LKSL]);
    EXPECT(out[LCF_AMPLITUDE] > 1.2 * A && out[LCF_AMPLITUDE] < 3 * A, "amplitude %g", out[LCF_AMPLITUDE]);
    EXPECT(out[LCF_LS_LOG10_FAP] < -100, "log10 FAP %g", out[LCF_LS_LOG10_FAP]);
    EXPECT(out[LCF_BEYOND1STD] > 0.1 && out[LCF_BEYOND1STD] < 0.6, "beyond1std %g", out[LCF_BEYOND1STD]);
    EXPECT(out[LCF_ETA] > 0.5, "eta %g (a period far below the sampling looks like noise in time order)",
           out[LCF_ETA]);
    for (int k = 0; k < LCF_N; k++) EXPECT(isfinite(out[k]), "%s finite", LCF_NAMES[k]);
    lc_free(&mag);
    // Too few positive fluxes.
    for (int k = 0; k < N; k++) f[k] = k < 10 ? 1.0 + k : -1.0;
    EXPECT(lcf_magnitudes(&flux, &mag, &e) != 0 && strstr(e.msg, "10 observations with flux > 0"), "%s", e.msg);
    ls_work_free(w);
}

// Moments against closed forms on a tiny sample (scipy bias=False conventions).
static void test_moments(void) {
    double t[12], m[12], e[12];
    const double v[12] = {1, 2, 2, 3, 3, 3, 4, 4, 5, 9, 0.5, 2.5};
    for (int k = 0; k < 12; k++) t[k] = 0.37 * k * k + k, m[k] = v[k], e[k] = 0.1;
    LightCurve c = {t, m, e, 12};
    double out[LCF_N];
    LsOptions o = ls_default_options();
    LsWork *w = ls_work_new();
    AmError err;
    REQUIRE(lcf_compute(&c, &o, w, out, &err) == 0, "%s", err.msg);
    // From Debian's python3-scipy 1.10 / numpy 1.24: scipy.stats.skew(v, bias=False),
    // scipy.stats.kurtosis(v, bias=False), numpy.std(v, ddof=1), the fraction beyond.
    EXPECT(fabs(out[LCF_SKEW] - 1.6134323206275574) < 1e-12, "skew %.16g", out[LCF_SKEW]);
    EXPECT(fabs(out[LCF_KURTOSIS] - 3.827928610059491) < 1e-12, "kurtosis %.16g", out[LCF_KURTOSIS]);
    EXPECT(fabs(out[LCF_STD] - 2.210512075597787) < 1e-12, "std %.16g", out[LCF_STD]);
    EXPECT(fabs(out[LCF_BEYOND1STD] - 0.25) < 1e-12, "beyond1std %g", out[LCF_BEYOND1STD]);
    // numpy.percentile(v, 95) - numpy.percentile(v, 5) = 6.8 - 0.775
    EXPECT(fabs(out[LCF_AMPLITUDE] - (6.8 - 0.775)) < 1e-12, "amplitude %.12g", out[LCF_AMPLITUDE]);
    ls_work_free(w);
}

int main(void) {
    test_power_vs_astropy();
    test_fast_vs_naive();
    test_best_period();
    test_refusals();
    test_features();
    test_moments();
    return tu_finish("test_periodogram");
}
