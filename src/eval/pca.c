// PCA by covariance (d <= n) or Gram (d > n) matrix and cyclic Jacobi: see pca.h.
#include "eval/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void pca_sym_eig(double *A, size_t m, double *w, double *V) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++) V[i * m + j] = i == j ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (size_t i = 0; i < m; i++) {
            diag += A[i * m + i] * A[i * m + i];
            for (size_t j = i + 1; j < m; j++) off += A[i * m + j] * A[i * m + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (size_t p = 0; p + 1 < m; p++) {
            for (size_t q = p + 1; q < m; q++) {
                const double apq = A[p * m + q];
                if (fabs(apq) < 1e-300) continue;
                const double app = A[p * m + p], aqq = A[q * m + q];
                const double theta = (aqq - app) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                const double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                // A' = J^T A J on rows/columns p and q
                for (size_t r = 0; r < m; r++) {
                    const double arp = A[r * m + p], arq = A[r * m + q];
                    A[r * m + p] = c * arp - s * arq;
                    A[r * m + q] = s * arp + c * arq;
                }
                for (size_t r = 0; r < m; r++) {
                    const double apr = A[p * m + r], aqr = A[q * m + r];
                    A[p * m + r] = c * apr - s * aqr;
                    A[q * m + r] = s * apr + c * aqr;
                }
                A[p * m + q] = A[q * m + p] = 0.0;
                for (size_t r = 0; r < m; r++) {
                    const double vrp = V[r * m + p], vrq = V[r * m + q];
                    V[r * m + p] = c * vrp - s * vrq;
                    V[r * m + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    // sort descending (selection sort on columns; m is small)
    for (size_t i = 0; i < m; i++) w[i] = A[i * m + i];
    for (size_t i = 0; i < m; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < m; j++)
            if (w[j] > w[best]) best = j;
        if (best != i) {
            double t = w[i];
            w[i] = w[best];
            w[best] = t;
            for (size_t r = 0; r < m; r++) {
                t = V[r * m + i];
                V[r * m + i] = V[r * m + best];
                V[r * m + best] = t;
            }
        }
    }
}

int pca_fit_transform(const float *X, size_t n, size_t d, int k, float *scores, double *var) {
    CHECK(n >= 1 && d >= 1 && k >= 1, "pca: need n >= 1, d >= 1, k >= 1 (got %zu, %zu, %d)", n, d, k);
    double *mean = am_calloc(d, sizeof *mean, "pca mean");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += X[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    double *Xc = am_malloc(n * d * sizeof *Xc, "pca centred data");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) Xc[i * d + j] = (double)X[i * d + j] - mean[j];
    const int gram = d > n;  // eigen-decompose the smaller of X^T X and X X^T
    const size_t m = gram ? n : d;
    const size_t L = gram ? d : n;  // A[a][b] = <R_a, R_b> over rows R of length L
    double *R = Xc;
    if (!gram) {
        R = am_malloc(n * d * sizeof *R, "pca transposed data");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) R[j * n + i] = Xc[i * d + j];
    }
    double *A = am_malloc(m * m * sizeof *A, "pca matrix"), *V = am_malloc(m * m * sizeof *V, "pca vectors");
    double *w = am_malloc(m * sizeof *w, "pca values");
    // each entry is one fixed-order sum: independent of the thread count
#pragma omp parallel for schedule(dynamic, 4)
    for (size_t a = 0; a < m; a++) {
        for (size_t b = a; b < m; b++) {
            const double *ra = R + a * L, *rb = R + b * L;
            double s = 0;
            for (size_t j = 0; j < L; j++) s += ra[j] * rb[j];
            A[a * m + b] = A[b * m + a] = s;
        }
    }
    if (R != Xc) free(R);
    pca_sym_eig(A, m, w, V);
    const double ddof = n > 1 ? (double)(n - 1) : 1.0;
    for (int c = 0; c < k; c++) {
        const int live = (size_t)c < m && w[c] > 1e-12 * (w[0] > 0 ? w[0] : 1.0);
        if (var) var[c] = live ? w[c] / ddof : 0.0;
        if (!live) {
            for (size_t i = 0; i < n; i++) scores[i * (size_t)k + (size_t)c] = 0.0f;
            continue;
        }
        // loading vector u (length d) of component c
        double *u = am_malloc(d * sizeof *u, "pca loading");
        if (gram) {  // u = Xc^T v / sqrt(lambda)
            const double inv = 1.0 / sqrt(w[c]);
            for (size_t j = 0; j < d; j++) {
                double s = 0;
                for (size_t i = 0; i < n; i++) s += Xc[i * d + j] * V[i * m + (size_t)c];
                u[j] = s * inv;
            }
        } else {
            for (size_t j = 0; j < d; j++) u[j] = V[j * m + (size_t)c];
        }
        size_t big = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(u[j]) > fabs(u[big])) big = j;
        const double sgn = u[big] < 0 ? -1.0 : 1.0;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += Xc[i * d + j] * u[j];
            scores[i * (size_t)k + (size_t)c] = (float)(sgn * s);
        }
        free(u);
    }
    free(mean);
    free(Xc);
    free(A);
    free(V);
    free(w);
    return 0;
}
