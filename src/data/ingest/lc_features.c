// Light-curve features at ingest; see lc_features.h.
#define _XOPEN_SOURCE 700  // M_PI, M_LN10
#include "data/ingest/lc_features.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const LCF_NAMES[LCF_N] = {
    "period",          "amplitude",         "lksl_statistic",    "ls_power",          "ls_log10_fap",
    "fourier_a1",      "fourier_r21",       "fourier_r31",       "fourier_phi21_cos", "fourier_phi21_sin",
    "fourier_phi31_cos", "fourier_phi31_sin", "std",             "skew",              "kurtosis",
    "beyond1std",      "stetson_k",         "eta"};

const char *const LCF_META_NAMES[LCF_META_N] = {
    "lc_log10_period",      "lc_log10_amplitude",    "lc_lksl_statistic",
    "lc_ls_power",          "lc_log10_significance", "lc_log10_fourier_a1",  "lc_log10_fourier_r21",
    "lc_log10_fourier_r31", "lc_fourier_phi21_cos",  "lc_fourier_phi21_sin", "lc_fourier_phi31_cos",
    "lc_fourier_phi31_sin", "lc_log10_std",          "lc_asinh_skew",        "lc_asinh_kurtosis",
    "lc_beyond1std",        "lc_stetson_k",          "lc_log10_eta"};

int lcf_meta_values(const double v[LCF_N], double out[LCF_META_N], AmError *err) {
    for (int c = 0; c < LCF_META_N; c++) {
        const int k = LCF_META_FIRST + c;
        double x = v[k];
        switch (k) {
        case LCF_PERIOD: x = log10(x); break;
        case LCF_AMPLITUDE: x = log10(fmax(x, 1e-3)); break;
        case LCF_LS_LOG10_FAP: x = log10(1.0 - x); break;
        case LCF_FOURIER_A1:
        case LCF_FOURIER_R21:
        case LCF_FOURIER_R31: x = log10(fmax(x, 1e-4)); break;
        case LCF_STD:
        case LCF_ETA: x = log10(x); break;
        case LCF_SKEW:
        case LCF_KURTOSIS: x = asinh(x); break;
        default: break;
        }
        if (!isfinite(x)) return am_error_set(err, "features: metadata column %s is not finite (%s = %g)",
                                              LCF_META_NAMES[c], LCF_NAMES[k], v[k]);
        out[c] = x;
    }
    return 0;
}

// LAPACK (OpenBLAS carries it): least squares by QR. The trailing size_t is the
// hidden length of the Fortran character argument.
extern void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                   double *b, const int *ldb, double *work, const int *lwork, int *info, size_t trans_len);

#define N_HARM LCF_HARMONICS

typedef struct {
    double t, m, e;
} Obs;

static int cmp_time(const void *a, const void *b) {
    const Obs *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t ? 1 : (x->m > y->m) - (x->m < y->m);
}

int lcf_magnitudes(const LightCurve *f, LightCurve *out, AmError *err) {
    memset(out, 0, sizeof *out);
    Obs *o = malloc((size_t)(f->n > 0 ? f->n : 1) * sizeof *o);
    if (!o) return am_error_set(err, "features: out of memory (%d observations)", f->n);
    int n = 0;
    for (int i = 0; i < f->n; i++) {
        if (!(f->flux[i] > 0)) continue;
        o[n].t = f->t[i];
        o[n].m = -2.5 * log10(f->flux[i]);
        o[n].e = 2.5 / M_LN10 * f->err[i] / f->flux[i];
        n++;
    }
    if (n < LCF_MIN_POINTS) {
        free(o);
        return am_error_set(err, "features: %d observations with flux > 0 (need at least %d)", n, LCF_MIN_POINTS);
    }
    qsort(o, (size_t)n, sizeof *o, cmp_time);
    out->t = malloc((size_t)n * sizeof *out->t);
    out->flux = malloc((size_t)n * sizeof *out->flux);
    out->err = malloc((size_t)n * sizeof *out->err);
    if (!out->t || !out->flux || !out->err) {
        free(o);
        lc_free(out);
        return am_error_set(err, "features: out of memory (%d observations)", n);
    }
    for (int i = 0; i < n; i++) out->t[i] = o[i].t, out->flux[i] = o[i].m, out->err[i] = o[i].e;
    out->n = n;
    free(o);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// numpy.percentile's default (linear) on sorted values.
static double percentile_sorted(const double *s, int n, double q) {
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1) return s[n - 1];
    return s[lo] + (pos - lo) * (s[lo + 1] - s[lo]);
}

static double frac(double x) { return x - floor(x); }

typedef struct {
    double phase, m;
} PhaseObs;
static int cmp_phase(const void *a, const void *b) {
    const PhaseObs *x = a, *y = b;
    return x->phase < y->phase ? -1 : x->phase > y->phase ? 1 : (x->m > y->m) - (x->m < y->m);
}

static double lafler_kinman(const double *t, const double *m, int n, double freq, double mean, AmError *err,
                            int *rc) {
    PhaseObs *p = malloc((size_t)n * sizeof *p);
    if (!p) {
        *rc = am_error_set(err, "features: out of memory");
        return NAN;
    }
    for (int i = 0; i < n; i++) p[i].phase = frac((t[i] - t[0]) * freq), p[i].m = m[i];
    qsort(p, (size_t)n, sizeof *p, cmp_phase);
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double d = p[(i + 1) % n].m - p[i].m;
        num += d * d;
        den += (p[i].m - mean) * (p[i].m - mean);
    }
    free(p);
    return num / den * (n - 1) / (2.0 * n);
}

int lcf_fourier(const LightCurve *c, double freq, double amp[LCF_HARMONICS], double phi[LCF_HARMONICS], AmError *err) {
    const int n = c->n, p = 1 + 2 * N_HARM, one = 1;
    double *a = malloc((size_t)n * p * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return am_error_set(err, "features: out of memory");
    }
    for (int i = 0; i < n; i++) {
        double s = 1.0 / c->err[i], th = 2 * M_PI * freq * (c->t[i] - c->t[0]);
        a[i] = s;  // column-major: a[col * n + i]
        for (int h = 1; h <= N_HARM; h++) {
            a[(size_t)(2 * h - 1) * n + i] = s * cos(h * th);
            a[(size_t)(2 * h) * n + i] = s * sin(h * th);
        }
        b[i] = s * c->flux[i];
    }
    int info = 0, lwork = -1;
    double wq;
    dgels_("N", &n, &p, &one, a, &n, b, &n, &wq, &lwork, &info, 1);
    lwork = (int)wq;
    double *work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    if (!work) info = -100;
    else dgels_("N", &n, &p, &one, a, &n, b, &n, work, &lwork, &info, 1);
    free(work);
    if (info == 0)
        for (int h = 1; h <= N_HARM; h++) {
            double ca = b[2 * h - 1], sb = b[2 * h];  // A cos(x + phi) = A cos phi cos x - A sin phi sin x
            amp[h - 1] = hypot(ca, sb);
            phi[h - 1] = atan2(-sb, ca);
        }
    free(a);
    free(b);
    if (info) return am_error_set(err, "features: Fourier fit failed (LAPACK dgels info %d)", info);
    return 0;
}

int lcf_compute(const LightCurve *c, const LsOptions *o, LsWork *w, double out[LCF_N], AmError *err) {
    const int n = c->n;
    for (int k = 0; k < LCF_N; k++) out[k] = NAN;
    if (n < LCF_MIN_POINTS)
        return am_error_set(err, "features: %d observations (need at least %d)", n, LCF_MIN_POINTS);
    LsResult r;
    if (ls_best(c->t, c->flux, c->err, n, o, w, &r, err)) return 1;
    out[LCF_PERIOD] = 1.0 / r.freq;
    out[LCF_LS_POWER] = r.power;
    out[LCF_LS_LOG10_FAP] = r.log10_fap;

    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return am_error_set(err, "features: out of memory");
    memcpy(s, c->flux, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out[LCF_AMPLITUDE] = percentile_sorted(s, n, 0.95) - percentile_sorted(s, n, 0.05);
    free(s);

    double mean = 0, wsum = 0, wmean = 0;
    for (int i = 0; i < n; i++) {
        mean += c->flux[i];
        double wi = 1.0 / (c->err[i] * c->err[i]);
        wsum += wi;
        wmean += wi * c->flux[i];
    }
    mean /= n;
    wmean /= wsum;
    double m2 = 0, m3 = 0, m4 = 0, dsum = 0;
    for (int i = 0; i < n; i++) {
        double d = c->flux[i] - mean;
        m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
        if (i + 1 < n) dsum += (c->flux[i + 1] - c->flux[i]) * (c->flux[i + 1] - c->flux[i]);
    }
    m2 /= n, m3 /= n, m4 /= n;
    double var1 = m2 * n / (n - 1), sd = sqrt(var1);
    out[LCF_STD] = sd;
    out[LCF_SKEW] = m3 / pow(m2, 1.5) * sqrt((double)n * (n - 1)) / (n - 2);
    out[LCF_KURTOSIS] = ((double)n * n - 1) * m4 / (m2 * m2) - 3.0 * (n - 1) * (n - 1);
    out[LCF_KURTOSIS] /= (double)(n - 2) * (n - 3);
    int beyond = 0;
    double sabs = 0, ssq = 0, scale = sqrt((double)n / (n - 1));
    for (int i = 0; i < n; i++) {
        if (fabs(c->flux[i] - mean) > sd) beyond++;
        double delta = scale * (c->flux[i] - wmean) / c->err[i];
        sabs += fabs(delta);
        ssq += delta * delta;
    }
    out[LCF_BEYOND1STD] = (double)beyond / n;
    out[LCF_STETSON_K] = (sabs / n) / sqrt(ssq / n);
    out[LCF_ETA] = dsum / (n - 1) / var1;

    int rc = 0;
    out[LCF_LKSL] = lafler_kinman(c->t, c->flux, n, r.freq, mean, err, &rc);
    if (rc) return rc;
    double amp[N_HARM], phi[N_HARM];
    if (lcf_fourier(c, r.freq, amp, phi, err)) return 1;
    out[LCF_FOURIER_A1] = amp[0];
    if (amp[0] > 0) {
        out[LCF_FOURIER_R21] = amp[1] / amp[0];
        out[LCF_FOURIER_R31] = amp[2] / amp[0];
    } else {
        out[LCF_FOURIER_R21] = out[LCF_FOURIER_R31] = 0;
    }
    double p21 = phi[1] - 2 * phi[0], p31 = phi[2] - 3 * phi[0];
    out[LCF_FOURIER_PHI21_COS] = cos(p21);
    out[LCF_FOURIER_PHI21_SIN] = sin(p21);
    out[LCF_FOURIER_PHI31_COS] = cos(p31);
    out[LCF_FOURIER_PHI31_SIN] = sin(p31);
    for (int k = 0; k < LCF_N; k++)
        if (!isfinite(out[k])) return am_error_set(err, "features: %s is not finite", LCF_NAMES[k]);
    double meta[LCF_META_N];  // a curve is refused here rather than as a metadata row later
    return lcf_meta_values(out, meta, err);
}
