// Approximate cosine k-NN graph through HNSW: see knn_ann.h.
#include "eval/knn_ann.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/knn.h"
#include "eval/pca.h"

// Inserts (c, j) into the ascending list (dd, ii) of k if it belongs there
// (ties: the smaller index first, the order of knn_cosine).
static void insert_sorted(float *dd, int32_t *ii, int k, float c, int32_t j) {
    if (!(c < dd[k - 1] || (c == dd[k - 1] && j < ii[k - 1]))) return;
    int t = k - 1;
    while (t > 0 && (c < dd[t - 1] || (c == dd[t - 1] && j < ii[t - 1]))) {
        dd[t] = dd[t - 1], ii[t] = ii[t - 1];
        t--;
    }
    dd[t] = c, ii[t] = j;
}

// Row j of X scaled to unit length: the floats knn_normalize_rows gives.
static void unit_row(const float *X, const float *inv, size_t d, size_t j, float *y) {
    for (size_t c = 0; c < d; c++) y[c] = X[j * d + c] * inv[j];
}

// 1 - <y, unit row j> (clamped at 0): the cosine distance of unit rows, with
// the same float products as on a normalised copy of X.
static float unit_distance(const float *y, const float *X, const float *inv, size_t d, size_t j) {
    float dot = 0;
    for (size_t c = 0; c < d; c++) dot += y[c] * (X[j * d + c] * inv[j]);
    return 1.0f - dot > 0 ? 1.0f - dot : 0.0f;
}

// The exact k nearest other rows of row i (unit row y): a full scan.
static void exact_row(const float *y, const float *X, const float *inv, size_t n, size_t d, int k, size_t i,
                      int32_t *idx, float *dist) {
    for (int t = 0; t < k; t++) dist[t] = INFINITY, idx[t] = INT32_MAX;
    for (size_t j = 0; j < n; j++)
        if (j != i) insert_sorted(dist, idx, k, unit_distance(y, X, inv, d, j), (int32_t)j);
}

int knn_cosine_ann(const float *X, size_t n, size_t d, int k, const AnnParams *p, int pca, int32_t *idx, float *dist,
                   size_t *exact_rows, AmError *err) {
    if (k < 1 || (size_t)k >= n) return am_error_set(err, "knn: need 1 <= k <= n-1 (k=%d, n=%zu)", k, n);
    if (pca < 0) return am_error_set(err, "knn: PCA width %d < 0", pca);
    // Unit rows are X scaled by inv, made where needed: no normalised copy of
    // X. The graph's search space: the unit rows' first pca principal
    // components (fitted on a stride sample of at most 20000), or, with pca 0,
    // the unit rows themselves.
    float *inv = am_malloc(n * sizeof *inv, "knn row norms");
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) inv[i] = knn_inv_norm(X + i * d, d);
    const int reduced = pca > 0 && (size_t)pca < d;
    const size_t ds = reduced ? (size_t)pca : d;
    float *S = am_malloc(n * ds * sizeof *S, "knn search rows");
    if (reduced) knn_unit_pca_scores(X, n, d, pca, 20000, S);
    else knn_normalize_rows(X, n, d, S);
    AnnParams hp = *p;
    hp.type = ANN_HNSW;
    hp.serial_add = 1;
    // candidates beyond k: with PCA the k nearest are re-ranked by the true cosine
    const int kc = reduced ? 2 * k : k + 1;
    if (hp.ef_search < 2 * kc) hp.ef_search = 2 * kc;
    AnnIndex *ix = NULL;
    int rc = ann_create(&ix, &hp, (int)ds, (int64_t)n, NULL, 0, err);
    if (!rc) rc = ann_add(ix, S, (int64_t)n, err);
    const size_t kk = (size_t)kc, B = 8192;  // queries per search call (bounded buffers)
    float *d2 = am_malloc(B * kk * sizeof *d2, "knn distances");
    int64_t *lab = am_malloc(B * kk * sizeof *lab, "knn labels");
    size_t fallback = 0;
    for (size_t i0 = 0; i0 < n && !rc; i0 += B) {
        const size_t nb = i0 + B < n ? B : n - i0;
        if ((rc = ann_search(ix, S + i0 * ds, (int64_t)nb, (int)kk, d2, lab, err))) break;
#pragma omp parallel reduction(+ : fallback)
        {
            float *y = am_malloc(d * sizeof *y, "knn unit row");
#pragma omp for schedule(dynamic, 64)
            for (size_t r = 0; r < nb; r++) {
                const size_t i = i0 + r;
                int32_t *ii = idx + i * k;
                float *dd = dist + i * k;
                for (int t = 0; t < k; t++) dd[t] = INFINITY, ii[t] = INT32_MAX;
                unit_row(X, inv, d, i, y);
                int got = 0;
                for (size_t t = 0; t < kk; t++) {
                    const int64_t j = lab[r * kk + t];
                    if (j < 0 || (size_t)j == i) continue;
                    got++;
                    // the true cosine distance (in the full space), kept sorted, ties by index
                    insert_sorted(dd, ii, k, unit_distance(y, X, inv, d, (size_t)j), (int32_t)j);
                }
                if (got < k) {
                    exact_row(y, X, inv, n, d, k, i, ii, dd);
                    fallback++;
                }
            }
            free(y);
        }
    }
    free(d2);
    free(lab);
    ann_free(ix);
    free(S);
    free(inv);
    if (exact_rows) *exact_rows = fallback;
    return rc ? -1 : 0;
}
