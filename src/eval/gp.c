// Gaussian-process regression: see gp.h.
#include "eval/gp.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846, SQRT2 = 1.41421356237309504880;

static double sq_dist(const double *x, const double *z, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) {
        const double t = x[j] - z[j];
        s += t * t;
    }
    return s;
}

// The rational-quadratic kernel at squared distance r2.
static double rq(const GpHyper *h, double r2) {
    const double u = 1.0 + r2 / (2.0 * h->alpha * h->length * h->length);
    return h->amp * pow(u, -h->alpha);
}

double gp_kernel(const GpHyper *h, const double *x, const double *z, int d) { return rq(h, sq_dist(x, z, d)); }

// Squared distances of every pair of the n inputs [n, n] (lower triangle
// filled): they do not depend on the hyper-parameters, so a fit computes them
// once for all its likelihood evaluations.
static double *pair_dists(const double *X, int n, int d) {
    double *D2 = malloc((size_t)n * n * sizeof *D2);
    CHECK(D2, "out of memory (Gaussian process of %d points)", n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) D2[(size_t)i * n + j] = sq_dist(X + (size_t)i * d, X + (size_t)j * d, d);
    return D2;
}

// K + noise I into A [n, n] (row-major, full).
static void gram(const GpHyper *h, const double *D2, int n, double *A) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i] = rq(h, D2[(size_t)i * n + j]);
        A[(size_t)i * n + i] += h->noise;
    }
}

// L (lower, row-major; the upper triangle zeroed) and a = K^-1 r; returns the
// log marginal likelihood, or NAN when K is not positive definite.
static double factor(const GpHyper *h, const double *D2, const double *r, int n, double *L, double *a) {
    gram(h, D2, n, L);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, L, n) != 0) return NAN;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) L[(size_t)i * n + j] = 0.0;
    memcpy(a, r, (size_t)n * sizeof *a);
    if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', n, 1, L, n, a, 1) != 0) return NAN;
    double quad = 0, logdet = 0;
    for (int i = 0; i < n; i++) {
        quad += r[i] * a[i];
        logdet += log(L[(size_t)i * n + i]);
    }
    return -0.5 * quad - logdet - 0.5 * n * log(2.0 * PI);
}

// gp_log_marginal on the pairwise squared distances D2.
static int log_marginal(const GpHyper *h, const double *D2, const double *r, int n, double *lml, double grad[4]) {
    double *L = malloc((size_t)n * n * sizeof *L), *a = malloc((size_t)n * sizeof *a);
    CHECK(L && a, "out of memory (Gaussian process of %d points)", n);
    *lml = factor(h, D2, r, n, L, a);
    int rc = isnan(*lml);
    if (!rc && grad) {
        // dL/dtheta = 1/2 tr((a a^T - K^-1) dK/dtheta); K^-1 from the factor (dpotri)
        if (LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, L, n) != 0) {
            rc = 1;
        } else {
            for (int k = 0; k < 4; k++) grad[k] = 0;
            const double l2 = h->length * h->length;
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) {
                    const double kinv = L[(size_t)i * n + j];  // lower triangle of K^-1
                    const double w = (a[i] * a[j] - kinv) * (i == j ? 0.5 : 1.0);  // symmetric pairs once
                    const double r2 = D2[(size_t)i * n + j];
                    const double u = 1.0 + r2 / (2.0 * h->alpha * l2);
                    const double k = h->amp * pow(u, -h->alpha);
                    grad[0] += w * k;
                    grad[1] += w * k * r2 / (l2 * u);
                    grad[2] += w * k * (-h->alpha * log(u) + r2 / (2.0 * l2 * u));
                    if (i == j) grad[3] += w * h->noise;
                }
        }
    }
    free(L);
    free(a);
    return rc;
}

int gp_log_marginal(const GpHyper *h, const double *X, const double *r, int n, int d, double *lml, double grad[4]) {
    double *D2 = pair_dists(X, n, d);
    const int rc = log_marginal(h, D2, r, n, lml, grad);
    free(D2);
    return rc;
}

// Bounds of log(amp, length, alpha, noise) for targets of variance v.
static void bounds(double v, double lo[4], double hi[4]) {
    lo[0] = log(1e-3 * v), hi[0] = log(1e3 * v);
    lo[1] = log(1e-2), hi[1] = log(1e3);
    lo[2] = log(1e-3), hi[2] = log(1e3);
    lo[3] = log(1e-5 * v), hi[3] = log(1e1 * v);
}

static GpHyper from_log(const double t[4]) { return (GpHyper){exp(t[0]), exp(t[1]), exp(t[2]), exp(t[3])}; }

static void clamp(double t[4], const double lo[4], const double hi[4]) {
    for (int k = 0; k < 4; k++) t[k] = t[k] < lo[k] ? lo[k] : t[k] > hi[k] ? hi[k] : t[k];
}

// Gradient ascent in log space with an adaptive step (projected onto the
// bounds); returns the best log marginal likelihood and its point in t.
static double ascend(const double *D2, const double *r, int n, double t[4], const double lo[4], const double hi[4]) {
    double g[4], f;
    GpHyper h = from_log(t);
    if (log_marginal(&h, D2, r, n, &f, g)) return -INFINITY;
    double step = 0.1;
    for (int it = 0; it < 200 && step > 1e-8; it++) {
        double gn = 0;
        for (int k = 0; k < 4; k++) gn += g[k] * g[k];
        gn = sqrt(gn);
        if (gn < 1e-8) break;
        double tn[4], gnew[4], fn;
        for (int k = 0; k < 4; k++) tn[k] = t[k] + step * g[k] / gn;
        clamp(tn, lo, hi);
        h = from_log(tn);
        if (!log_marginal(&h, D2, r, n, &fn, gnew) && fn > f) {
            memcpy(t, tn, sizeof tn);
            memcpy(g, gnew, sizeof gnew);
            const double gain = fn - f;
            f = fn;
            step *= 1.5;
            if (gain < 1e-9 * (1.0 + fabs(f))) break;
        } else {
            step *= 0.5;
        }
    }
    return f;
}

static int finish_fit(Gp *g, const double *D2, AmError *err) {
    g->L = malloc((size_t)g->n * g->n * sizeof *g->L);
    g->a = malloc((size_t)g->n * sizeof *g->a);
    CHECK(g->L && g->a, "out of memory (Gaussian process of %d points)", g->n);
    g->lml = factor(&g->h, D2, g->r, g->n, g->L, g->a);
    if (isnan(g->lml))
        return am_error_set(err, "Gaussian process: the kernel matrix of %d points is not positive definite "
                            "(noise %.3g)", g->n, g->h.noise);
    return 0;
}

static void set_data(Gp *g, const double *X, const double *y, int n, int d) {
    memset(g, 0, sizeof *g);
    g->n = n;
    g->d = d;
    g->X = malloc((size_t)n * d * sizeof *g->X);
    g->r = malloc((size_t)n * sizeof *g->r);
    CHECK(g->X && g->r, "out of memory (Gaussian process of %d points)", n);
    memcpy(g->X, X, (size_t)n * d * sizeof *g->X);
    double m = 0;
    for (int i = 0; i < n; i++) m += y[i];
    g->mean = m / n;
    for (int i = 0; i < n; i++) g->r[i] = y[i] - g->mean;
}

int gp_fit_fixed(Gp *g, const double *X, const double *y, int n, int d, const GpHyper *h, AmError *err) {
    set_data(g, X, y, n, d);
    g->h = *h;
    double *D2 = pair_dists(g->X, n, d);
    const int rc = finish_fit(g, D2, err);
    free(D2);
    return rc;
}

int gp_fit(Gp *g, const double *X, const double *y, int n, int d, AmError *err) {
    set_data(g, X, y, n, d);
    double v = 0;
    for (int i = 0; i < n; i++) v += g->r[i] * g->r[i];
    v = n > 1 ? v / (n - 1) : 0.0;
    if (!(v > 1e-12)) v = 1.0;  // constant targets: bounds on the unit scale
    double lo[4], hi[4];
    bounds(v, lo, hi);
    // fixed starts: the inputs are standardised, so a typical distance is sqrt(2 d)
    const double starts[][4] = {{log(v), log(sqrt((double)d)), 0.0, log(0.1 * v)},
                                {log(v), log(0.3 * sqrt((double)d)), 0.0, log(0.01 * v)},
                                {log(v), log(3.0 * sqrt((double)d)), log(10.0), log(0.3 * v)}};
    double *D2 = pair_dists(g->X, n, d);
    double best = -INFINITY, bt[4] = {starts[0][0], starts[0][1], starts[0][2], starts[0][3]};
    for (int s = 0; s < 3; s++) {
        double t[4];
        memcpy(t, starts[s], sizeof t);
        clamp(t, lo, hi);
        const double f = ascend(D2, g->r, n, t, lo, hi);
        if (f > best) best = f, memcpy(bt, t, sizeof bt);
    }
    g->h = from_log(bt);
    const int rc = finish_fit(g, D2, err);
    free(D2);
    return rc;
}

void gp_predict(const Gp *g, const double *Xs, int64_t m, double *mean, double *sd) {
    const int n = g->n, d = g->d;
    enum { CHUNK = 256 };
    double *ks = malloc((size_t)n * CHUNK * sizeof *ks);  // [n, chunk]: column j = k(X, xs_j)
    CHECK(ks, "out of memory (Gaussian-process prediction)");
    for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {
        const int nc = (int)(m - c0 < CHUNK ? m - c0 : CHUNK);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < nc; j++) ks[(size_t)i * nc + j] = gp_kernel(&g->h, g->X + (size_t)i * d, Xs + (size_t)(c0 + j) * d, d);
        for (int j = 0; j < nc; j++) {
            double mu = 0;
            for (int i = 0; i < n; i++) mu += ks[(size_t)i * nc + j] * g->a[i];
            mean[c0 + j] = g->mean + mu;
        }
        // v = L^-1 k*: sd^2 = k(x, x) - |v|^2
        int rc = (int)LAPACKE_dtrtrs(LAPACK_ROW_MAJOR, 'L', 'N', 'N', n, nc, g->L, n, ks, nc);
        CHECK(rc == 0, "dtrtrs failed (%d) on a factor that dpotrf accepted", rc);
        for (int j = 0; j < nc; j++) {
            double vv = 0;
            for (int i = 0; i < n; i++) vv += ks[(size_t)i * nc + j] * ks[(size_t)i * nc + j];
            const double var = g->h.amp - vv;
            sd[c0 + j] = var > 0 ? sqrt(var) : 0.0;
        }
    }
    free(ks);
}

double gp_expected_improvement(double mean, double sd, double best) {
    const double imp = mean - best;
    if (!(sd > 0)) return imp > 0 ? imp : 0.0;
    const double z = imp / sd;
    const double cdf = 0.5 * erfc(-z / SQRT2), pdf = exp(-0.5 * z * z) / sqrt(2.0 * PI);
    return imp * cdf + sd * pdf;
}

void gp_free(Gp *g) {
    free(g->X);
    free(g->r);
    free(g->L);
    free(g->a);
    memset(g, 0, sizeof *g);
}
