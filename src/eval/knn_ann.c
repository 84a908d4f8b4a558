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

// The exact k nearest other rows of row i (unit rows Y): distance 1 - dot.
static void exact_row(const float *Y, size_t n, size_t d, int k, size_t i, int32_t *idx, float *dist) {
    for (int t = 0; t < k; t++) dist[t] = INFINITY, idx[t] = INT32_MAX;
    for (size_t j = 0; j < n; j++) {
        if (j == i) continue;
        float dot = 0;
        for (size_t c = 0; c < d; c++) dot += Y[i * d + c] * Y[j * d + c];
        insert_sorted(dist, idx, k, 1.0f - dot > 0 ? 1.0f - dot : 0.0f, (int32_t)j);
    }
}

int knn_cosine_ann(const float *X, size_t n, size_t d, int k, const AnnParams *p, int pca, int32_t *idx, float *dist,
                   size_t *exact_rows, AmError *err) {
    if (k < 1 || (size_t)k >= n) return am_error_set(err, "knn: need 1 <= k <= n-1 (k=%d, n=%zu)", k, n);
    if (pca < 0) return am_error_set(err, "knn: PCA width %d < 0", pca);
    float *Y = am_malloc(n * d * sizeof *Y, "knn normalised rows");
    knn_normalize_rows(X, n, d, Y);
    // The graph's search space: the unit rows, or their first pca components
    // (fitted on a fixed stride sample of at most 20000 rows).
    float *S = Y;
    size_t ds = d;
    if (pca > 0 && (size_t)pca < d) {
        PcaModel pm;
        pca_fit_stride(Y, n, d, pca, 20000, &pm);
        S = am_malloc(n * (size_t)pca * sizeof *S, "knn pca rows");
        pca_transform(&pm, Y, n, S);
        pca_model_free(&pm);
        ds = (size_t)pca;
    }
    AnnParams hp = *p;
    hp.type = ANN_HNSW;
    hp.serial_add = 1;
    // candidates beyond k: with PCA the k nearest are re-ranked by the true cosine
    const int kc = pca > 0 && (size_t)pca < d ? 2 * k : k + 1;
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
#pragma omp parallel for schedule(dynamic, 64) reduction(+ : fallback)
        for (size_t r = 0; r < nb; r++) {
            const size_t i = i0 + r;
            int32_t *ii = idx + i * k;
            float *dd = dist + i * k;
            for (int t = 0; t < k; t++) dd[t] = INFINITY, ii[t] = INT32_MAX;
            int got = 0;
            for (size_t t = 0; t < kk; t++) {
                const int64_t j = lab[r * kk + t];
                if (j < 0 || (size_t)j == i) continue;
                got++;
                // the true cosine distance (in the full space), kept sorted, ties by index
                float dot = 0;
                for (size_t c = 0; c < d; c++) dot += Y[i * d + c] * Y[(size_t)j * d + c];
                const float c = 1.0f - dot > 0 ? 1.0f - dot : 0.0f;
                insert_sorted(dd, ii, k, c, (int32_t)j);
            }
            if (got < k) {
                exact_row(Y, n, d, k, i, ii, dd);
                fallback++;
            }
        }
    }
    free(d2);
    free(lab);
    ann_free(ix);
    if (S != Y) free(S);
    free(Y);
    if (exact_rows) *exact_rows = fallback;
    return rc ? -1 : 0;
}
