// PCA by covariance (d <= n) or Gram (d > n) matrix and LAPACK: see pca.h.
#include "eval/pca.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

// LAPACK's MRRR solver (dsyevr) for the top k eigenpairs only. It runs on one
// thread: its blocked reductions then sum in one order whatever the OpenMP team
// or OpenBLAS pool size, so a PCA is the same at every thread and rank count
// (on one machine and BLAS kernel; other kernels agree within rounding).
void pca_top_eig(double *A, size_t m, int k, double *w, double *V) {
    CHECK(k >= 1 && (size_t)k <= m, "pca_top_eig: k = %d outside 1..%zu", k, m);
    const int omp = omp_get_max_threads(), blas = openblas_get_num_threads();
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    double *wa = am_malloc(m * sizeof *wa, "pca eigenvalues"), *Z = am_malloc(m * (size_t)k * sizeof *Z, "pca eigenvectors");
    lapack_int *support = am_malloc(2 * (size_t)k * sizeof *support, "pca eigenvectors"), found = 0;
    const lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)m, A, (lapack_int)m, 0.0, 0.0,
                                           (lapack_int)(m - (size_t)k + 1), (lapack_int)m, 0.0, &found, wa, Z,
                                           (lapack_int)k, support);
    openblas_set_num_threads(blas);
    omp_set_num_threads(omp);
    CHECK(info == 0 && found == k, "pca: LAPACK dsyevr failed (info %d, %d of %d eigenpairs) on a %zu x %zu "
          "covariance; non-finite embeddings?", (int)info, (int)found, k, m, m);
    for (int c = 0; c < k; c++) {  // dsyevr gives them ascending
        const int src = k - 1 - c;
        w[c] = wa[src];
        for (size_t r = 0; r < m; r++) V[r * (size_t)k + (size_t)c] = Z[r * (size_t)k + (size_t)src];
    }
    free(wa), free(Z), free(support);
}

// A[a][b] = <R_a, R_b> for the m rows of length L of R: each entry one
// fixed-order sum (four chains), whatever the thread count.
static void gram_matrix(const double *R, size_t m, size_t L, double *A) {
#pragma omp parallel for schedule(dynamic, 4)
    for (size_t a = 0; a < m; a++) {
        for (size_t b = a; b < m; b++) {
            const double *ra = R + a * L, *rb = R + b * L;
            double s4[4] = {0, 0, 0, 0};
            size_t j = 0;
            for (; j + 4 <= L; j += 4)
                for (int l = 0; l < 4; l++) s4[l] += ra[j + l] * rb[j + l];
            for (; j < L; j++) s4[0] += ra[j] * rb[j];
            A[a * m + b] = A[b * m + a] = (s4[0] + s4[2]) + (s4[1] + s4[3]);
        }
    }
}

// The scatter matrix A [d, d] of the rows of X about mean, in blocks of rows:
// only a block is held centred in double (not a copy of X), and each entry is
// the sum over blocks, in block order, of a fixed-order sum within the block:
// the same for any thread count.
static void covariance_matrix(const float *X, size_t n, size_t d, const double *mean, double *A) {
    enum { B = 256 };
    double *Ct = am_malloc(d * B * sizeof *Ct, "pca block");  // [d, B]: column j of the block is row i0 + j
    memset(A, 0, d * d * sizeof *A);
    for (size_t i0 = 0; i0 < n; i0 += B) {
        const size_t nb = i0 + B < n ? B : n - i0;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++) Ct[j * B + i] = (double)X[(i0 + i) * d + j] - mean[j];
#pragma omp parallel for schedule(dynamic, 4)
        for (size_t a = 0; a < d; a++) {
            const double *ra = Ct + a * B;
            for (size_t b = a; b < d; b++) {
                const double *rb = Ct + b * B;
                double s4[4] = {0, 0, 0, 0};
                size_t j = 0;
                for (; j + 4 <= nb; j += 4)
                    for (int l = 0; l < 4; l++) s4[l] += ra[j + l] * rb[j + l];
                for (; j < nb; j++) s4[0] += ra[j] * rb[j];
                A[a * d + b] += (s4[0] + s4[2]) + (s4[1] + s4[3]);
            }
        }
    }
    for (size_t a = 0; a < d; a++)
        for (size_t b = a + 1; b < d; b++) A[b * d + a] = A[a * d + b];
    free(Ct);
}

int pca_fit(const float *X, size_t n, size_t d, int k, PcaModel *pm) {
    CHECK(n >= 1 && d >= 1 && k >= 1, "pca: need n >= 1, d >= 1, k >= 1 (got %zu, %zu, %d)", n, d, k);
    memset(pm, 0, sizeof *pm);
    pm->d = d;
    pm->k = k;
    pm->mean = am_calloc(d, sizeof *pm->mean, "pca mean");
    pm->comp = am_calloc((size_t)k * d, sizeof *pm->comp, "pca components");
    pm->var = am_calloc((size_t)k, sizeof *pm->var, "pca variances");
    pm->live = am_calloc((size_t)k, sizeof *pm->live, "pca components");
    double *mean = pm->mean;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += X[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    const int gram = d > n;  // eigen-decompose the smaller of X^T X and X X^T
    const size_t m = gram ? n : d;
    const int kv = (size_t)k < m ? k : (int)m;  // eigenpairs wanted; components beyond m are zero
    double *A = am_malloc(m * m * sizeof *A, "pca matrix"), *V = am_malloc(m * (size_t)kv * sizeof *V, "pca vectors");
    double *w = am_malloc((size_t)kv * sizeof *w, "pca values");
    double *Xc = NULL;  // the centred rows: Gram path only (n < d, small)
    if (gram) {
        Xc = am_malloc(n * d * sizeof *Xc, "pca centred data");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) Xc[i * d + j] = (double)X[i * d + j] - mean[j];
        gram_matrix(Xc, n, d, A);
    } else {
        covariance_matrix(X, n, d, mean, A);
    }
    pca_top_eig(A, m, kv, w, V);
    const double ddof = n > 1 ? (double)(n - 1) : 1.0;
    for (int c = 0; c < k; c++) {
        const int live = c < kv && w[c] > 1e-12 * (w[0] > 0 ? w[0] : 1.0);
        pm->var[c] = live ? w[c] / ddof : 0.0;
        pm->live[c] = (unsigned char)live;
        if (!live) continue;
        double *u = pm->comp + (size_t)c * d;  // loading vector of component c
        if (gram) {  // u = Xc^T v / sqrt(lambda)
            const double inv = 1.0 / sqrt(w[c]);
            for (size_t j = 0; j < d; j++) {
                double s = 0;
                for (size_t i = 0; i < n; i++) s += Xc[i * d + j] * V[i * (size_t)kv + (size_t)c];
                u[j] = s * inv;
            }
        } else {
            for (size_t j = 0; j < d; j++) u[j] = V[j * (size_t)kv + (size_t)c];
        }
        size_t big = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(u[j]) > fabs(u[big])) big = j;
        if (u[big] < 0)  // an exact sign flip: scores are the same as flipping them afterwards
            for (size_t j = 0; j < d; j++) u[j] = -u[j];
    }
    free(Xc);  // NULL on the covariance path
    free(A);
    free(V);
    free(w);
    return 0;
}

void pca_transform(const PcaModel *pm, const float *X, size_t n, float *scores) {
    const size_t d = pm->d, k = (size_t)pm->k;
#pragma omp parallel
    {
        double *xc = am_malloc(d * sizeof *xc, "pca row");
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {  // rows are independent: the same for any thread count
            for (size_t j = 0; j < d; j++) xc[j] = (double)X[i * d + j] - pm->mean[j];
            for (size_t c = 0; c < k; c++) {
                if (!pm->live[c]) {
                    scores[i * k + c] = 0.0f;
                    continue;
                }
                const double *u = pm->comp + c * d;
                double s = 0;
                for (size_t j = 0; j < d; j++) s += xc[j] * u[j];
                scores[i * k + c] = (float)s;
            }
        }
        free(xc);
    }
}

void pca_model_free(PcaModel *pm) {
    free(pm->mean);
    free(pm->comp);
    free(pm->var);
    free(pm->live);
    memset(pm, 0, sizeof *pm);
}

int pca_fit_transform(const float *X, size_t n, size_t d, int k, float *scores, double *var) {
    PcaModel pm;
    pca_fit(X, n, d, k, &pm);
    pca_transform(&pm, X, n, scores);
    if (var) memcpy(var, pm.var, (size_t)k * sizeof *var);
    pca_model_free(&pm);
    return 0;
}
