// Principal component analysis for embedding sets (astromm map, search, anomalies).
// Deterministic: covariance (or Gram) matrix in double with a fixed summation
// order, the top eigenpairs by LAPACK (dsyevr, on one thread); the result does
// not depend on the thread count. Sign convention: each component's largest-magnitude loading
// is positive (so the scores are unique).
#ifndef ASTROMM_PCA_H
#define ASTROMM_PCA_H

#include <stddef.h>

// A fitted PCA: centre, then project on the first k components.
typedef struct {
    size_t d;
    int k;
    double *mean;         // [d]
    double *comp;         // [k, d] unit loading vectors (sign convention above)
    double *var;          // [k] explained variances (ddof = 1)
    unsigned char *live;  // [k] 0 for a component beyond rank(X): its scores are 0
} PcaModel;

// Fits on n rows of d floats (n >= 1, d >= 1, k >= 1). Returns 0.
int pca_fit(const float *X, size_t n, size_t d, int k, PcaModel *pm);
// scores[n*k] of n rows of X (width pm->d), each a fixed-order double sum.
void pca_transform(const PcaModel *pm, const float *X, size_t n, float *scores);
void pca_model_free(PcaModel *pm);

// X: n rows of d floats (row-major). Writes the first k principal-component
// scores of the centred rows to scores[n*k] (row-major) and, when var is not
// NULL, the explained variances (eigenvalues of the covariance, ddof = 1) to
// var[k]. Components beyond rank(X) come out as zeros. Needs n >= 1, d >= 1,
// 1 <= k. Returns 0.
int pca_fit_transform(const float *X, size_t n, size_t d, int k, float *scores, double *var);

// Top k (1 <= k <= m) eigenpairs of the symmetric m x m matrix A (row-major,
// destroyed): eigenvalues descending in w[k], eigenvector c in column c of V[m*k].
void pca_top_eig(double *A, size_t m, int k, double *w, double *V);

#endif
