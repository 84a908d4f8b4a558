// Generalised Lomb–Scargle periodogram: grid, naive and Press–Rybicki sums,
// peak refinement, Baluev false-alarm probability; see periodogram.h.
#define _XOPEN_SOURCE 700  // M_PI, M_LN10
#include "data/ingest/periodogram.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LS_MAX_EXTIRP 16
#define LS_PLAN_CACHE 6

LsOptions ls_default_options(void) {
    return (LsOptions){.f_min = 0.001,
                       .f_max = 20.0,
                       .samples_per_peak = 5.0,
                       .oversampling = 4,
                       .extirp_points = 16,
                       .n_refine = 5,
                       .max_freqs = 1 << 24};
}

// ------------------------------------------------------------------ grid
int ls_grid(const double *t, int n, const LsOptions *o, LsGrid *g, AmError *err) {
    if (!(o->f_min >= 0) || !(o->f_max > o->f_min) || !(o->samples_per_peak > 0) || o->oversampling < 1 ||
        o->extirp_points < 2 || o->extirp_points > LS_MAX_EXTIRP || o->n_refine < 1 || o->max_freqs < 1)
        return am_error_set(err, "periodogram: bad options (need 0 <= f_min < f_max, samples_per_peak > 0, "
                                 "oversampling >= 1, 2 <= extirp_points <= %d, n_refine >= 1)",
                            LS_MAX_EXTIRP);
    if (n < 1) return am_error_set(err, "periodogram: no observations");
    double lo = t[0], hi = t[0];
    for (int i = 1; i < n; i++) lo = t[i] < lo ? t[i] : lo, hi = t[i] > hi ? t[i] : hi;
    double span = hi - lo;
    if (!(span > 0) || !isfinite(span))
        return am_error_set(err, "periodogram: time span %g is not positive and finite", span);
    g->df = 1.0 / (o->samples_per_peak * span);
    double klo = ceil(o->f_min / g->df), khi = floor(o->f_max / g->df);
    if (klo < 1) klo = 1;
    if (khi < klo) return am_error_set(err, "periodogram: empty grid (f %g..%g, step %g)", o->f_min, o->f_max, g->df);
    if (khi - klo + 1 > o->max_freqs)
        return am_error_set(err,
                            "periodogram: %.0f frequencies (time span %g, f_max %g) exceed max_freqs %d; "
                            "hint: is the time column in days?",
                            khi - klo + 1, span, o->f_max, o->max_freqs);
    g->k_lo = (int64_t)klo;
    g->k_hi = (int64_t)khi;
    return 0;
}

// ------------------------------------------------------------------ data
int ls_data_init(LsData *d, const double *t, const double *y, const double *dy, int n, AmError *err) {
    memset(d, 0, sizeof *d);
    if (n < 5) return am_error_set(err, "periodogram: %d observations (need at least 5)", n);
    double tmin = t[0], ws = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(t[i]) || !isfinite(y[i]) || !isfinite(dy[i]))
            return am_error_set(err, "periodogram: observation %d is not finite", i);
        if (!(dy[i] > 0)) return am_error_set(err, "periodogram: observation %d has error %g (must be > 0)", i, dy[i]);
        tmin = t[i] < tmin ? t[i] : tmin;
    }
    d->t = malloc((size_t)n * sizeof *d->t);
    d->y = malloc((size_t)n * sizeof *d->y);
    d->w = malloc((size_t)n * sizeof *d->w);
    if (!d->t || !d->y || !d->w) {
        ls_data_free(d);
        return am_error_set(err, "periodogram: out of memory (%d observations)", n);
    }
    d->n = n;
    for (int i = 0; i < n; i++) ws += d->w[i] = 1.0 / (dy[i] * dy[i]);
    if (!isfinite(ws)) {
        ls_data_free(d);
        return am_error_set(err, "periodogram: weights 1/dy^2 overflow (an error is too small)");
    }
    double ym = 0, tm = 0;
    for (int i = 0; i < n; i++) {
        d->w[i] /= ws;
        d->t[i] = t[i] - tmin;
        ym += d->w[i] * y[i];
        tm += d->w[i] * d->t[i];
    }
    double yy = 0, tt = 0;
    for (int i = 0; i < n; i++) {
        d->y[i] = y[i] - ym;
        yy += d->w[i] * d->y[i] * d->y[i];
        tt += d->w[i] * (d->t[i] - tm) * (d->t[i] - tm);
    }
    d->yy = yy;
    d->var_t = tt;
    if (!(yy > 0)) {
        ls_data_free(d);
        return am_error_set(err, "periodogram: constant values (zero variance)");
    }
    return 0;
}

void ls_data_free(LsData *d) {
    if (!d) return;
    free(d->t);
    free(d->y);
    free(d->w);
    memset(d, 0, sizeof *d);
}

// ------------------------------------------------------------------ power from sums
// S, C: sums of w sin/cos(wt); Sh, Ch: of w y sin/cos; S2, C2: of w sin/cos(2wt).
// astropy's lombscargle_fast algebra (fit_mean, standard normalisation).
static double power_from_sums(double S, double C, double Sh, double Ch, double S2, double C2, double yy) {
    double num = S2 - 2 * S * C, den = C2 - (C * C - S * S);
    double r = sqrt(num * num + den * den), S2w = 0, C2w = 1;  // sums of weights <= 1: no overflow
    if (r > 0) {
        S2w = (den < 0 ? -num : num) / r;
        C2w = fabs(den) / r;
    }
    double Cw = sqrt(0.5 * (1 + C2w));
    double Sw = sqrt(fmax(0.0, 0.5 * (1 - C2w)));
    if (S2w < 0) Sw = -Sw;
    else if (S2w == 0) Sw = 0;
    double YC = Ch * Cw + Sh * Sw, YS = Sh * Cw - Ch * Sw;
    double a = C * Cw + S * Sw, b = S * Cw - C * Sw;
    double CC = 0.5 * (1 + C2 * C2w + S2 * S2w) - a * a;
    double SS = 0.5 * (1 - C2 * C2w - S2 * S2w) - b * b;
    // A degenerate frequency (every phase equal) has no sine or cosine freedom.
    double p = (CC > 1e-14 ? YC * YC / CC : 0) + (SS > 1e-14 ? YS * YS / SS : 0);
    return p / yy;
}

double ls_power_at(const LsData *d, double f) {
    double S = 0, C = 0, Sh = 0, Ch = 0, S2 = 0, C2 = 0;
    const double om = 2 * M_PI * f;
    for (int i = 0; i < d->n; i++) {
        double s = sin(om * d->t[i]), c = cos(om * d->t[i]), w = d->w[i];
        S += w * s;
        C += w * c;
        Sh += w * d->y[i] * s;
        Ch += w * d->y[i] * c;
        S2 += w * 2 * s * c;
        C2 += w * (c * c - s * s);
    }
    return power_from_sums(S, C, Sh, Ch, S2, C2, d->yy);
}

void ls_power_naive(const LsData *d, const LsGrid *g, double *power) {
    for (int64_t k = g->k_lo; k <= g->k_hi; k++) power[k - g->k_lo] = ls_power_at(d, (double)k * g->df);
}

// ------------------------------------------------------------------ fast sums
typedef struct {
    int m;
    fftw_plan c2c, r2c;
} PlanEntry;

struct LsWork {
    fftw_complex *zc, *zr;  // complex grid [cap]; r2c output [cap / 2 + 1]
    double *gr;             // real grid [cap]
    int cap;
    double *power;          // ls_best's grid powers [power_cap]
    int64_t power_cap;
    PlanEntry plans[LS_PLAN_CACHE];
    int n_plans, next_evict;
};

static pthread_mutex_t fftw_plan_lock = PTHREAD_MUTEX_INITIALIZER;

LsWork *ls_work_new(void) { return calloc(1, sizeof(LsWork)); }

static void drop_plans(LsWork *w) {
    pthread_mutex_lock(&fftw_plan_lock);
    for (int i = 0; i < w->n_plans; i++) {
        fftw_destroy_plan(w->plans[i].c2c);
        fftw_destroy_plan(w->plans[i].r2c);
    }
    pthread_mutex_unlock(&fftw_plan_lock);
    w->n_plans = w->next_evict = 0;
}

void ls_work_free(LsWork *w) {
    if (!w) return;
    drop_plans(w);
    fftw_free(w->zc);
    fftw_free(w->zr);
    fftw_free(w->gr);
    free(w->power);
    free(w);
}

// Smallest 2^a or 3 * 2^a >= n: fast FFT sizes, and few of them, so the plans
// of one thread's cache serve a whole survey of different baselines (a larger
// grid than needed only makes the sums more accurate).
static int64_t fft_size(int64_t n) {
    int64_t p = 1;
    while (p < n) p *= 2;
    return p / 4 * 3 >= n ? p / 4 * 3 : p;
}

static const PlanEntry *plans_for(LsWork *w, int m, AmError *err) {
    for (int i = 0; i < w->n_plans; i++)
        if (w->plans[i].m == m) return &w->plans[i];
    if (m > w->cap) {
        drop_plans(w);
        fftw_free(w->zc);
        fftw_free(w->zr);
        fftw_free(w->gr);
        w->zc = fftw_malloc((size_t)m * sizeof *w->zc);
        w->zr = fftw_malloc(((size_t)m / 2 + 1) * sizeof *w->zr);
        w->gr = fftw_malloc((size_t)m * sizeof *w->gr);
        w->cap = m;
        if (!w->zc || !w->zr || !w->gr) {
            w->cap = 0;
            am_error_set(err, "periodogram: out of memory for an FFT of %d cells", m);
            return NULL;
        }
    }
    PlanEntry e = {.m = m};
    pthread_mutex_lock(&fftw_plan_lock);
    e.c2c = fftw_plan_dft_1d(m, w->zc, w->zc, FFTW_BACKWARD, FFTW_ESTIMATE);
    e.r2c = fftw_plan_dft_r2c_1d(m, w->gr, w->zr, FFTW_ESTIMATE);
    pthread_mutex_unlock(&fftw_plan_lock);
    if (!e.c2c || !e.r2c) {
        am_error_set(err, "periodogram: FFTW could not plan an FFT of %d cells", m);
        return NULL;
    }
    int slot;
    if (w->n_plans < LS_PLAN_CACHE) slot = w->n_plans++;
    else {
        slot = w->next_evict;
        w->next_evict = (w->next_evict + 1) % LS_PLAN_CACHE;
        pthread_mutex_lock(&fftw_plan_lock);
        fftw_destroy_plan(w->plans[slot].c2c);
        fftw_destroy_plan(w->plans[slot].r2c);
        pthread_mutex_unlock(&fftw_plan_lock);
    }
    w->plans[slot] = e;
    return &w->plans[slot];
}

// Lagrange weights of x on the nodes lo .. lo + np - 1 (x not a node is fine,
// x on a node gives that node weight 1): prefix/suffix products, no division
// by a small x - node.
static void lagrange_weights(double x, int64_t lo, int np, const double *denom, double *wt) {
    double pre[LS_MAX_EXTIRP + 1], suf[LS_MAX_EXTIRP + 1];
    pre[0] = 1;
    for (int j = 0; j < np; j++) pre[j + 1] = pre[j] * (x - (double)(lo + j));
    suf[np] = 1;
    for (int j = np - 1; j >= 0; j--) suf[j] = suf[j + 1] * (x - (double)(lo + j));
    for (int j = 0; j < np; j++) wt[j] = pre[j] * suf[j + 1] / denom[j];
}

int ls_power_fast(const LsData *d, const LsGrid *g, const LsOptions *o, LsWork *w, double *power, AmError *err) {
    const int np = o->extirp_points;
    int64_t m64 = fft_size((int64_t)o->oversampling * (g->k_hi + 1));
    if (m64 > (int64_t)1 << 30)
        return am_error_set(err, "periodogram: FFT of %lld cells is too large", (long long)m64);
    const int m = (int)m64;
    const PlanEntry *pe = plans_for(w, m, err);
    if (!pe) return 1;
    // denom[j] = prod_{i != j} (j - i) = (-1)^(np-1-j) j! (np-1-j)!
    double denom[LS_MAX_EXTIRP], wt[LS_MAX_EXTIRP];
    for (int j = 0; j < np; j++) {
        double v = 1;
        for (int i = 0; i < np; i++)
            if (i != j) v *= (double)(j - i);
        denom[j] = v;
    }
    memset(w->zc, 0, (size_t)m * sizeof *w->zc);
    memset(w->gr, 0, (size_t)m * sizeof *w->gr);
    const double cells_per_day = (double)m * g->df;  // cell j <-> time j / (m df)
    for (int i = 0; i < d->n; i++) {
        for (int twice = 0; twice < 2; twice++) {
            double x = fmod(d->t[i] * cells_per_day * (twice ? 2.0 : 1.0), (double)m);
            int64_t lo = (int64_t)floor(x) - np / 2 + 1;
            lagrange_weights(x, lo, np, denom, wt);
            for (int j = 0; j < np; j++) {
                int64_t c = (lo + j) % m;
                if (c < 0) c += m;
                if (twice) w->gr[c] += d->w[i] * wt[j];
                else {
                    w->zc[c][0] += d->w[i] * d->y[i] * wt[j];
                    w->zc[c][1] += d->w[i] * wt[j];
                }
            }
        }
    }
    fftw_execute(pe->c2c);  // Z_k = sum_j g_j e^{+2 pi i j k / m}
    fftw_execute(pe->r2c);  // R_k = sum_j g_j e^{-2 pi i j k / m}
    for (int64_t k = g->k_lo; k <= g->k_hi; k++) {
        const double *z = w->zc[k], *zm = w->zc[(m - k) % m];
        // Real part grid a = w y, imaginary part grid b = w: A_k = (Z_k + conj Z_{m-k}) / 2,
        // B_k = (Z_k - conj Z_{m-k}) / 2i.
        double Ch = 0.5 * (z[0] + zm[0]), Sh = 0.5 * (z[1] - zm[1]);
        double C = 0.5 * (z[1] + zm[1]), S = -0.5 * (z[0] - zm[0]);
        double C2 = w->zr[k][0], S2 = -w->zr[k][1];
        power[k - g->k_lo] = power_from_sums(S, C, Sh, Ch, S2, C2, d->yy);
    }
    return 0;
}

// ------------------------------------------------------------------ FAP
static double log_add(double a, double b) {
    double hi = a > b ? a : b, lo = a > b ? b : a;
    if (hi == -INFINITY) return hi;
    return hi + log1p(exp(lo - hi));
}

double ls_log10_fap(double z, int n, double f_max, double var_t) {
    if (!(z > 0) || n < 5) return 0;
    if (z > 1 - 1e-15) z = 1 - 1e-15;  // a perfect fit: the smallest FAP representable here
    double NH = n - 1, NK = n - 3;
    double log_fap_s = 0.5 * NK * log1p(-z);
    double log_gamma = 0.5 * log(2 / NH) + lgamma(NH / 2) - lgamma((NH - 1) / 2);
    double W = f_max * sqrt(4 * M_PI * var_t);
    if (!(W > 0)) return log_fap_s / M_LN10;
    double log_tau = log_gamma + log(W) + 0.5 * (NK - 1) * log1p(-z) + 0.5 * log(0.5 * NH * z);
    double log_fap;
    if (log_tau < log(1e-6)) log_fap = log_add(log_tau, log_fap_s);  // 1 - (1 - p) e^-tau ~ tau + p
    else {
        double tau = exp(log_tau);
        log_fap = log(-expm1(-tau) + exp(log_fap_s - tau));
    }
    return log_fap > 0 ? 0 : log_fap / M_LN10;
}

// ------------------------------------------------------------------ best peak
static double golden_max(const LsData *d, double a, double b, double *pbest) {
    const double gr = 0.5 * (sqrt(5.0) - 1);
    double x1 = b - gr * (b - a), x2 = a + gr * (b - a);
    double f1 = ls_power_at(d, x1), f2 = ls_power_at(d, x2);
    for (int it = 0; it < 24; it++) {  // 0.618^24: the interval shrinks to 1e-5 of a grid step
        if (f1 >= f2) {
            b = x2, x2 = x1, f2 = f1;
            x1 = b - gr * (b - a);
            f1 = ls_power_at(d, x1);
        } else {
            a = x1, x1 = x2, f1 = f2;
            x2 = a + gr * (b - a);
            f2 = ls_power_at(d, x2);
        }
    }
    if (f1 >= f2) {
        *pbest = f1;
        return x1;
    }
    *pbest = f2;
    return x2;
}

int ls_best(const double *t, const double *y, const double *dy, int n, const LsOptions *o, LsWork *w, LsResult *out,
            AmError *err) {
    memset(out, 0, sizeof *out);
    LsGrid g;
    LsData d;
    if (ls_grid(t, n, o, &g, err)) return 1;
    if (ls_data_init(&d, t, y, dy, n, err)) return 1;
    int64_t nf = g.k_hi - g.k_lo + 1;
    if (nf > w->power_cap) {  // kept between curves: no page faults on a fresh buffer each time
        free(w->power);
        w->power = malloc((size_t)nf * sizeof *w->power);
        w->power_cap = w->power ? nf : 0;
        if (!w->power) {
            ls_data_free(&d);
            return am_error_set(err, "periodogram: out of memory (%lld frequencies)", (long long)nf);
        }
    }
    double *p = w->power;
    if (ls_power_fast(&d, &g, o, w, p, err)) {
        ls_data_free(&d);
        return 1;
    }
    // The n_refine highest local maxima of the grid (ties: lower frequency first).
    enum { MAXP = 64 };
    int kp = o->n_refine < MAXP ? o->n_refine : MAXP, have = 0;
    int64_t top[MAXP];
    for (int64_t i = 0; i < nf; i++) {
        if ((i > 0 && p[i] < p[i - 1]) || (i + 1 < nf && p[i] <= p[i + 1])) continue;
        if (have == kp && p[i] <= p[top[have - 1]]) continue;
        int pos = have < kp ? have++ : kp - 1;
        while (pos > 0 && p[top[pos - 1]] < p[i]) top[pos] = top[pos - 1], pos--;
        top[pos] = i;
    }
    double best_f = 0, best_p = -1;
    for (int j = 0; j < have; j++) {
        double f0 = (double)(g.k_lo + top[j]) * g.df, pr;
        double lo = fmax(f0 - g.df, 0.5 * g.df), hi = f0 + g.df;
        double fr = golden_max(&d, lo, hi, &pr);
        double p0 = ls_power_at(&d, f0);
        if (p0 > pr) fr = f0, pr = p0;
        if (pr > best_p) best_p = pr, best_f = fr;
    }
    out->freq = best_f;
    out->power = best_p;
    out->grid_freq = have ? (double)(g.k_lo + top[0]) * g.df : 0;
    out->n_freqs = nf;
    out->log10_fap = ls_log10_fap(best_p, n, (double)g.k_hi * g.df, d.var_t);  // the highest frequency searched
    ls_data_free(&d);
    if (!have || !(best_p >= 0)) return am_error_set(err, "periodogram: no peak found");
    return 0;
}
