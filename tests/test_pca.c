// PCA (src/eval/pca.h) against numpy's SVD (tests/reference/make_pca_reference.py,
// fixture tests/reference/pca_reference.h), up to the sign of each component; both
// the covariance (n > d) and the Gram (n < d) path; the Jacobi eigen-solver; the
// sign convention; thread-count independence.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eval/pca.h"
#include "reference/pca_reference.h"
#include "testutil.h"

static void check_case(const char *name, const float *x, int n, int d, int k, const double *ref, const double *var_ref) {
    float *s = calloc((size_t)n * k, sizeof *s);
    double var[8];
    pca_fit_transform(x, (size_t)n, (size_t)d, k, s, var);
    for (int c = 0; c < k; c++) {
        EXPECT(fabs(var[c] - var_ref[c]) <= 1e-4 * var_ref[0], "%s: variance %d: %g vs numpy %g", name, c, var[c],
               var_ref[c]);
        // sign: pick the one that matches numpy best
        double dp = 0, dm = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            const double r = ref[i * k + c], v = s[i * k + c];
            dp = fmax(dp, fabs(v - r));
            dm = fmax(dm, fabs(v + r));
            amax = fmax(amax, fabs(r));
        }
        const double e = fmin(dp, dm) / amax;
        EXPECT(e < 1e-4, "%s: component %d scores differ from numpy by %.3g (relative, up to sign)", name, c, e);
    }
    free(s);
}

static void test_eig(void) {
    // known spectrum: A = Q diag(5, 2, -1) Q^T with a rotation Q
    const double c = cos(0.3), s_ = sin(0.3);
    const double Q[9] = {c, -s_, 0, s_ * 0.6, c * 0.6, -0.8, s_ * 0.8, c * 0.8, 0.6};
    const double L[3] = {5, 2, -1};
    double A[9] = {0}, V[9], w[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int t = 0; t < 3; t++) A[i * 3 + j] += Q[i * 3 + t] * L[t] * Q[j * 3 + t];
    pca_top_eig(A, 3, 3, w, V);
    for (int i = 0; i < 3; i++) EXPECT(fabs(w[i] - L[i]) < 1e-12, "eigenvalue %d: %.15g vs %g", i, w[i], L[i]);
    for (int t = 0; t < 3; t++) {  // |<v_t, q_t>| = 1
        double dot = 0;
        for (int i = 0; i < 3; i++) dot += V[i * 3 + t] * Q[i * 3 + t];
        EXPECT(fabs(fabs(dot) - 1) < 1e-12, "eigenvector %d: |<v,q>| = %.15g", t, fabs(dot));
    }
}

static void test_sign_and_rank(void) {
    // points on a line: one component, the second is zero; sign: largest loading positive
    float x[10 * 3];
    for (int i = 0; i < 10; i++) x[3 * i] = -(float)i, x[3 * i + 1] = 0.5f * (float)i, x[3 * i + 2] = 1.0f;
    float s[20];
    double var[2];
    pca_fit_transform(x, 10, 3, 2, s, var);
    EXPECT(var[1] == 0 && var[0] > 0, "rank-1 data: variances %g, %g", var[0], var[1]);
    for (int i = 0; i < 10; i++) EXPECT(s[2 * i + 1] == 0.0f, "rank-1 data: second score of row %d = %g", i, s[2 * i + 1]);
    // largest loading (on x[0]) positive: rows with larger x[0] score higher (row 0 has the largest)
    EXPECT(s[0] > 0 && s[2 * 9] < 0, "sign convention: scores %g (row 0), %g (row 9)", s[0], s[18]);
    // one row: zeros, no crash
    float one[3] = {1, 2, 3}, s1[2] = {7, 7};
    pca_fit_transform(one, 1, 3, 2, s1, NULL);
    EXPECT(s1[0] == 0 && s1[1] == 0, "single row: %g %g", s1[0], s1[1]);
}

static void test_threads(void) {
    const size_t n = 300, d = 40;
    float *x = malloc(n * d * sizeof *x), *a = malloc(n * 2 * sizeof *a), *b = malloc(n * 2 * sizeof *b);
    unsigned st = 12345;
    for (size_t i = 0; i < n * d; i++) {
        st = st * 1103515245u + 12345u;
        x[i] = (float)((st >> 8) & 0xffff) / 65536.0f * (1.0f + (float)(i % d) * 0.1f);
    }
    omp_set_num_threads(1);
    pca_fit_transform(x, n, d, 2, a, NULL);
    omp_set_num_threads(2);
    pca_fit_transform(x, n, d, 2, b, NULL);
    EXPECT(!memcmp(a, b, n * 2 * sizeof *a), "PCA scores differ between 1 and 2 threads");
    free(x), free(a), free(b);
}

// the top 3 of 150 eigenpairs: A v = w v, orthonormal, and the largest (above
// the rest of the spectrum: Gershgorin-free check via the trace)
static void test_top_eig(void) {
    const size_t m = 150, L = 400;
    double *R = malloc(m * L * sizeof *R), *A = malloc(m * m * sizeof *A), *A2 = malloc(m * m * sizeof *A2);
    double *V = malloc(m * m * sizeof *V), *w = malloc(m * sizeof *w), *Vk = malloc(m * 3 * sizeof *Vk), wk[3];
    unsigned st = 99;
    for (size_t i = 0; i < m * L; i++) {
        st = st * 1103515245u + 12345u;
        R[i] = ((double)((st >> 8) & 0xffff) / 65536.0 - 0.5) * (1.0 + 4.0 / (1.0 + (double)(i / L)));
    }
    for (size_t a = 0; a < m; a++)
        for (size_t b = 0; b < m; b++) {
            double s = 0;
            for (size_t t = 0; t < L; t++) s += R[a * L + t] * R[b * L + t];
            A[a * m + b] = A2[a * m + b] = s;
        }
    pca_top_eig(A, m, 3, wk, Vk);
    for (int c = 0; c < 3; c++) {
        double res = 0, nn = 0;
        for (size_t r = 0; r < m; r++) {
            double av = 0;
            for (size_t t = 0; t < m; t++) av += A2[r * m + t] * Vk[t * 3 + (size_t)c];
            res = fmax(res, fabs(av - wk[c] * Vk[r * 3 + (size_t)c]));
            nn += Vk[r * 3 + (size_t)c] * Vk[r * 3 + (size_t)c];
        }
        EXPECT(res < 1e-9 * wk[0], "eigenpair %d: |A v - w v| = %.3g (w %.6g)", c, res, wk[c]);
        EXPECT(fabs(nn - 1) < 1e-12, "eigenvector %d: norm^2 %.15g", c, nn);
        if (c) EXPECT(wk[c] <= wk[c - 1], "eigenvalues not descending: %g then %g", wk[c - 1], wk[c]);
    }
    // all m: the top 3 are the largest of the whole spectrum and agree
    memcpy(A, A2, m * m * sizeof *A);
    pca_top_eig(A, m, (int)m, w, V);
    for (size_t c = 1; c < m; c++) EXPECT(w[c] <= w[c - 1], "full spectrum not descending at %zu", c);
    for (int c = 0; c < 3; c++) {
        EXPECT(fabs(wk[c] - w[c]) < 1e-9 * w[0], "top eigenvalue %d: %.12g vs full %.12g", c, wk[c], w[c]);
        double dot = 0;
        for (size_t r = 0; r < m; r++) dot += Vk[r * 3 + (size_t)c] * V[r * m + (size_t)c];
        EXPECT(fabs(fabs(dot) - 1) < 1e-8, "top eigenvector %d: |<v, v_full>| = %.12g", c, fabs(dot));
    }
    free(R), free(A), free(A2), free(V), free(w), free(Vk);
}

// d = 100 > n-free covariance path: the scores must be uncorrelated with the reported variances
static void test_large_d(void) {
    const size_t n = 300, d = 100;  // covariance path, m = 100 > 64: subspace iteration
    float *x = malloc(n * d * sizeof *x), *s1 = malloc(n * 2 * sizeof *s1);
    unsigned st = 7;
    for (size_t i = 0; i < n * d; i++) {
        st = st * 1103515245u + 12345u;
        x[i] = ((float)((st >> 8) & 0xffff) / 65536.0f - 0.5f) * (1.0f + 3.0f * (float)((i % d) < 2));
    }
    double v1[2];
    pca_fit_transform(x, n, d, 2, s1, v1);
    double m0 = 0, m1 = 0, c00 = 0, c11 = 0, c01 = 0;
    for (size_t i = 0; i < n; i++) m0 += s1[2 * i], m1 += s1[2 * i + 1];
    m0 /= (double)n, m1 /= (double)n;
    for (size_t i = 0; i < n; i++) {
        const double a = s1[2 * i] - m0, b = s1[2 * i + 1] - m1;
        c00 += a * a, c11 += b * b, c01 += a * b;
    }
    c00 /= (double)(n - 1), c11 /= (double)(n - 1), c01 /= (double)(n - 1);
    EXPECT(fabs(c00 - v1[0]) < 1e-4 * v1[0] && fabs(c11 - v1[1]) < 1e-4 * v1[0] && fabs(c01) < 1e-4 * v1[0],
           "large d: score covariance [%g %g; %g] vs variances %g %g", c00, c11, c01, v1[0], v1[1]);
    free(x), free(s1);
}

int main(void) {
    test_top_eig();
    test_large_d();
    check_case("tall", tall_x, TALL_N, TALL_D, TALL_K, tall_scores, tall_var);
    check_case("wide", wide_x, WIDE_N, WIDE_D, WIDE_K, wide_scores, wide_var);
    test_eig();
    test_sign_and_rank();
    test_threads();
    return tu_finish("test_pca");
}
