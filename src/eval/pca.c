// PCA by covariance (d <= n) or Gram (d > n) matrix and cyclic Jacobi: see pca.h.
#include "eval/pca.h"

#include <math.h>
#include <stdint.h>
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

void pca_top_eig(const double *A, size_t m, int k, double *w, double *V) {
    const size_t p = (size_t)k + 16 < m ? (size_t)k + 16 : m;
    double *Q = am_malloc(m * p * sizeof *Q, "pca subspace"), *Z = am_malloc(m * p * sizeof *Z, "pca subspace");
    double *B = am_malloc(p * p * sizeof *B, "pca ritz"), *W = am_malloc(p * p * sizeof *W, "pca ritz");
    double *wr = am_malloc(p * sizeof *wr, "pca ritz"), *prev = am_calloc(p, sizeof *prev, "pca ritz");
    uint64_t st = 0x9E3779B97F4A7C15ull;  // fixed start: deterministic
    for (size_t i = 0; i < m * p; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        Q[i] = (double)(st >> 11) / 9007199254740992.0 - 0.5;
    }
    for (int it = 0; it < 3000; it++) {
        // orthonormalise the p columns of Q (modified Gram-Schmidt, twice)
        for (int pass = 0; pass < 2; pass++)
            for (size_t c = 0; c < p; c++) {
                for (size_t e = 0; e < c; e++) {
                    double dot = 0;
                    for (size_t r = 0; r < m; r++) dot += Q[r * p + c] * Q[r * p + e];
                    for (size_t r = 0; r < m; r++) Q[r * p + c] -= dot * Q[r * p + e];
                }
                double nn = 0;
                for (size_t r = 0; r < m; r++) nn += Q[r * p + c] * Q[r * p + c];
                nn = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
                for (size_t r = 0; r < m; r++) Q[r * p + c] *= nn;
            }
        // Z = A Q
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < m; r++) {
            double *z = Z + r * p;
            for (size_t c = 0; c < p; c++) z[c] = 0;
            for (size_t t = 0; t < m; t++) {
                const double a = A[r * m + t];
                for (size_t c = 0; c < p; c++) z[c] += a * Q[t * p + c];
            }
        }
        if (it % 10 == 9 || it == 2999) {  // Rayleigh-Ritz: converged when the top k values settle
            for (size_t a = 0; a < p; a++)
                for (size_t b = 0; b < p; b++) {
                    double sum = 0;
                    for (size_t r = 0; r < m; r++) sum += Q[r * p + a] * Z[r * p + b];
                    B[a * p + b] = sum;
                }
            for (size_t a = 0; a < p; a++)
                for (size_t b = a + 1; b < p; b++) B[a * p + b] = B[b * p + a] = 0.5 * (B[a * p + b] + B[b * p + a]);
            pca_sym_eig(B, p, wr, W);
            int done = 1;
            for (int c = 0; c < k; c++)
                if (fabs(wr[c] - prev[c]) > 1e-13 * fabs(wr[0])) done = 0;
            memcpy(prev, wr, p * sizeof *wr);
            if (done || it == 2999) {
                for (int c = 0; c < k; c++) {
                    w[c] = wr[c];
                    for (size_t r = 0; r < m; r++) {
                        double sum = 0;
                        for (size_t e = 0; e < p; e++) sum += Q[r * p + e] * W[e * p + (size_t)c];
                        V[r * (size_t)k + (size_t)c] = sum;
                    }
                }
                break;
            }
        }
        double *t = Q;
        Q = Z, Z = t;
    }
    free(Q), free(Z), free(B), free(W), free(wr), free(prev);
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
            double s4[4] = {0, 0, 0, 0};  // four chains, fixed order
            size_t j = 0;
            for (; j + 4 <= L; j += 4)
                for (int l = 0; l < 4; l++) s4[l] += ra[j + l] * rb[j + l];
            for (; j < L; j++) s4[0] += ra[j] * rb[j];
            const double s = (s4[0] + s4[2]) + (s4[1] + s4[3]);
            A[a * m + b] = A[b * m + a] = s;
        }
    }
    if (R != Xc) free(R);
    int kv = (int)m;  // columns of V
    if (m > 64 && (size_t)k + 16 < m / 2) {
        kv = k;
        pca_top_eig(A, m, k, w, V);
    } else {
        pca_sym_eig(A, m, w, V);
    }
    const double ddof = n > 1 ? (double)(n - 1) : 1.0;
    for (int c = 0; c < k; c++) {
        const int live = (size_t)c < m && w[c] > 1e-12 * (w[0] > 0 ? w[0] : 1.0);
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
    free(Xc);
    free(A);
    free(V);
    free(w);
    return 0;
}

void pca_transform(const PcaModel *pm, const float *X, size_t n, float *scores) {
    const size_t d = pm->d, k = (size_t)pm->k;
    double *xc = am_malloc(d * sizeof *xc, "pca row");
    for (size_t i = 0; i < n; i++) {
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
