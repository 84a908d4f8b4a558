// Exact k-nearest neighbours under the cosine distance (astromm map).
// Brute force over L2-normalised rows, one serial SGEMM per fixed tile, so the
// graph is bit-identical for any thread count. Ties go to the smaller index.
#ifndef ASTROMM_KNN_H
#define ASTROMM_KNN_H

#include <stddef.h>
#include <stdint.h>

// Cosine distance 1 - <a,b>/(|a||b|) of every row to its k nearest *other*
// rows (k <= n-1): idx[n*k] (int32) and dist[n*k] (float, ascending per row).
// A zero row is at distance 1 from every other row (0 from another zero row).
void knn_cosine(const float *X, size_t n, size_t d, int k, int32_t *idx, float *dist);

// Rows of X scaled to unit L2 norm into Y (zero rows stay zero; Y may be X):
// Y[i][j] = X[i][j] * knn_inv_norm(row i), a float product.
void knn_normalize_rows(const float *X, size_t n, size_t d, float *Y);
// 1 / |x| of a row of d floats (a double sum rounded to float; 0 for a zero row).
float knn_inv_norm(const float *x, size_t d);

// The scores [n, k] of the unit rows of X (the cosine geometry) on the first k
// principal components of a fixed stride sample of at most max_rows unit rows
// (rows floor(i n / m), i < m); rows are normalised block by block: no copy of X.
void knn_unit_pca_scores(const float *X, size_t n, size_t d, int k, size_t max_rows, float *scores);

#endif
