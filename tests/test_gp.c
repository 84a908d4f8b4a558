// The Gaussian process of astromm anomalies (src/eval/gp.h) against an
// independent naive implementation (Gaussian elimination with partial pivoting
// in long double): the log marginal likelihood, the posterior mean and standard
// deviation; the likelihood's gradient against central finite differences; the
// fit raises the likelihood and finds the noise of data with known noise;
// expected improvement at known values.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/gp.h"
#include "testutil.h"

static uint64_t lcg = 99;
static double urand(void) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    const double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

// Solves A x = b (n x n, destroyed) by elimination with partial pivoting; returns log|det A|.
static double naive_solve(long double *A, long double *b, int n) {
    long double logdet = 0;
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabsl(A[r * n + c]) > fabsl(A[p * n + c])) p = r;
        if (p != c) {
            for (int k = 0; k < n; k++) {
                long double t = A[c * n + k];
                A[c * n + k] = A[p * n + k];
                A[p * n + k] = t;
            }
            long double t = b[c];
            b[c] = b[p];
            b[p] = t;
        }
        logdet += logl(fabsl(A[c * n + c]));
        for (int r = c + 1; r < n; r++) {
            const long double f = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; k++) A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        long double s = b[r];
        for (int k = r + 1; k < n; k++) s -= A[r * n + k] * b[k];
        b[r] = s / A[r * n + r];
    }
    return (double)logdet;
}

static long double naive_k(const GpHyper *h, const double *x, const double *z, int d) {
    long double r2 = 0;
    for (int j = 0; j < d; j++) r2 += ((long double)x[j] - z[j]) * ((long double)x[j] - z[j]);
    return h->amp * powl(1.0L + r2 / (2.0L * h->alpha * h->length * h->length), -h->alpha);
}

static void naive_gram(const GpHyper *h, const double *X, int n, int d, long double *A) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A[i * n + j] = naive_k(h, X + i * d, X + j * d, d) + (i == j ? h->noise : 0.0);
}

static double naive_lml(const GpHyper *h, const double *X, const double *r, int n, int d) {
    long double *A = malloc(sizeof *A * n * n), *b = malloc(sizeof *b * n);
    naive_gram(h, X, n, d, A);
    for (int i = 0; i < n; i++) b[i] = r[i];
    const double logdet = naive_solve(A, b, n);
    long double q = 0;
    for (int i = 0; i < n; i++) q += r[i] * b[i];
    free(A), free(b);
    return (double)(-0.5L * q) - 0.5 * logdet - 0.5 * n * log(2 * 3.14159265358979323846);
}

static void test_likelihood_and_gradient(void) {
    enum { N = 25, D = 3 };
    double X[N * D], r[N];
    for (int i = 0; i < N * D; i++) X[i] = nrand();
    for (int i = 0; i < N; i++) r[i] = sin(X[i * D]) + 0.3 * X[i * D + 1] + 0.1 * nrand();
    const GpHyper hs[3] = {{1.0, 1.0, 1.0, 0.1}, {0.5, 2.5, 0.2, 0.01}, {3.0, 0.6, 20.0, 0.5}};
    for (int c = 0; c < 3; c++) {
        double lml, g[4];
        REQUIRE(!gp_log_marginal(&hs[c], X, r, N, D, &lml, g), "log marginal %d", c);
        const double ref = naive_lml(&hs[c], X, r, N, D);
        EXPECT(fabs(lml - ref) <= 1e-9 * (1 + fabs(ref)), "case %d: log marginal %.12g vs naive %.12g", c, lml, ref);
        for (int k = 0; k < 4; k++) {
            const double e = 1e-5;
            double t[4] = {log(hs[c].amp), log(hs[c].length), log(hs[c].alpha), log(hs[c].noise)};
            t[k] += e;
            GpHyper hp = {exp(t[0]), exp(t[1]), exp(t[2]), exp(t[3])};
            t[k] -= 2 * e;
            GpHyper hm = {exp(t[0]), exp(t[1]), exp(t[2]), exp(t[3])};
            double fp, fm;
            gp_log_marginal(&hp, X, r, N, D, &fp, NULL);
            gp_log_marginal(&hm, X, r, N, D, &fm, NULL);
            const double fd = (fp - fm) / (2 * e);
            EXPECT(fabs(g[k] - fd) <= 1e-5 * (1 + fabs(fd)), "case %d: d lml / d log theta_%d = %.9g, finite difference %.9g",
                   c, k, g[k], fd);
        }
    }
}

static void test_posterior(void) {
    enum { N = 30, D = 2, M = 300 };  // M > the prediction chunk
    double X[N * D], y[N], Xs[M * D], mean[M], sd[M];
    for (int i = 0; i < N * D; i++) X[i] = 2 * nrand();
    for (int i = 0; i < N; i++) y[i] = 3 + cos(X[i * D]) * X[i * D + 1] + 0.05 * nrand();
    for (int i = 0; i < M * D; i++) Xs[i] = 2.5 * nrand();
    memcpy(Xs, X, 5 * D * sizeof *X);  // some at training points
    const GpHyper h = {2.0, 1.3, 0.7, 0.02};
    Gp g;
    AmError err = {{0}};
    REQUIRE(!gp_fit_fixed(&g, X, y, N, D, &h, &err), "fit fixed: %s", err.msg);
    gp_predict(&g, Xs, M, mean, sd);
    // naive: K^-1 r and, per point, k*^T K^-1 k*
    long double *A = malloc(sizeof *A * N * N), b[N];
    double ym = 0;
    for (int i = 0; i < N; i++) ym += y[i];
    ym /= N;
    naive_gram(&h, X, N, D, A);
    for (int i = 0; i < N; i++) b[i] = y[i] - ym;
    naive_solve(A, b, N);
    double worst_m = 0, worst_s = 0;
    for (int j = 0; j < M; j++) {
        long double ks[N], v[N], mu = ym, q = 0;
        for (int i = 0; i < N; i++) ks[i] = v[i] = naive_k(&h, X + i * D, Xs + j * D, D);
        for (int i = 0; i < N; i++) mu += ks[i] * b[i];
        naive_gram(&h, X, N, D, A);
        naive_solve(A, v, N);
        for (int i = 0; i < N; i++) q += ks[i] * v[i];
        const double s = sqrt((double)fmaxl(h.amp - q, 0.0L));
        worst_m = fmax(worst_m, fabs(mean[j] - (double)mu));
        worst_s = fmax(worst_s, fabs(sd[j] - s));
    }
    EXPECT(worst_m < 1e-9 && worst_s < 1e-7, "posterior vs naive: mean %.3g, sd %.3g", worst_m, worst_s);
    EXPECT(fabs(mean[0] - y[0]) < 0.3 && sd[0] < 0.2 * sqrt(h.amp), "at a training point: mean %.4g (y %.4g), sd %.3g",
           mean[0], y[0], sd[0]);
    free(A);
    gp_free(&g);
}

static void test_fit(void) {
    enum { N = 120, D = 2 };
    double X[N * D], y[N];
    const double noise_sd = 0.1;
    for (int i = 0; i < N * D; i++) X[i] = nrand();
    for (int i = 0; i < N; i++) y[i] = 2 * sin(1.5 * X[i * D]) + X[i * D + 1] * X[i * D + 1] + noise_sd * nrand();
    Gp g;
    AmError err = {{0}};
    REQUIRE(!gp_fit(&g, X, y, N, D, &err), "fit: %s", err.msg);
    double v = 0, m = 0;
    for (int i = 0; i < N; i++) m += y[i];
    m /= N;
    for (int i = 0; i < N; i++) v += (y[i] - m) * (y[i] - m);
    v /= N - 1;
    double start;
    const GpHyper h0 = {v, sqrt((double)D), 1.0, 0.1 * v};
    gp_log_marginal(&h0, g.X, g.r, N, D, &start, NULL);
    EXPECT(g.lml > start + 1.0, "the fit raises the log marginal likelihood: %.4f from %.4f", g.lml, start);
    EXPECT(g.h.noise > 0.25 * noise_sd * noise_sd && g.h.noise < 4 * noise_sd * noise_sd,
           "fitted noise %.4g, true %.4g", g.h.noise, noise_sd * noise_sd);
    double Xs[50 * D], mean[50], sd[50], worst = 0;
    for (int i = 0; i < 50 * D; i++) Xs[i] = 0.8 * nrand();
    gp_predict(&g, Xs, 50, mean, sd);
    for (int j = 0; j < 50; j++) {
        const double f = 2 * sin(1.5 * Xs[j * D]) + Xs[j * D + 1] * Xs[j * D + 1];
        worst = fmax(worst, fabs(mean[j] - f));
    }
    EXPECT(worst < 0.3, "held-out error of the fitted process %.3f", worst);
    // constant targets (every seed label 0): still a valid process, mean 0 everywhere
    double z[N] = {0};
    Gp c;
    REQUIRE(!gp_fit(&c, X, z, N, D, &err), "constant targets: %s", err.msg);
    gp_predict(&c, Xs, 50, mean, sd);
    EXPECT(fabs(mean[3]) < 1e-9 && sd[3] > 0, "constant targets: mean %.3g sd %.3g", mean[3], sd[3]);
    gp_free(&c);
    gp_free(&g);
}

static void test_expected_improvement(void) {
    EXPECT(fabs(gp_expected_improvement(2.0, 1.0, 2.0) - 0.3989422804014327) < 1e-12, "EI at the best: phi(0)");
    EXPECT(gp_expected_improvement(3.0, 0.0, 2.0) == 1.0 && gp_expected_improvement(1.0, 0.0, 2.0) == 0.0, "EI, sd 0");
    // EI(mu, s, best) = s * (z Phi(z) + phi(z)), z = (mu - best) / s: z = 1 -> 1.0833154705876864
    EXPECT(fabs(gp_expected_improvement(3.0, 2.0, 1.0) - 2 * 1.0833154705876864) < 1e-12, "EI at z = 1");
    EXPECT(gp_expected_improvement(0.0, 1.0, 5.0) > 0 && gp_expected_improvement(0.0, 1.0, 5.0) < 1e-5, "EI far below");
}

int main(void) {
    test_likelihood_and_gradient();
    test_posterior();
    test_fit();
    test_expected_improvement();
    return tu_finish("test_gp");
}
