// Brute-force cosine kNN: see knn.h.
#include "eval/knn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/pca.h"

float knn_inv_norm(const float *x, size_t d) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)x[j] * x[j];
    return s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
}

void knn_normalize_rows(const float *X, size_t n, size_t d, float *Y) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float inv = knn_inv_norm(X + i * d, d);
        for (size_t j = 0; j < d; j++) Y[i * d + j] = X[i * d + j] * inv;
    }
}

void knn_unit_pca_scores(const float *X, size_t n, size_t d, int k, size_t max_rows, float *scores) {
    enum { B = 4096 };
    const size_t m = n < max_rows ? n : max_rows;
    float *U = am_malloc((m > B ? m : B) * d * sizeof *U, "unit rows");
    for (size_t i = 0; i < m; i++) memcpy(U + i * d, X + (i * n / m) * d, d * sizeof *U);
    knn_normalize_rows(U, m, d, U);  // the same floats, row by row
    PcaModel pm;
    pca_fit(U, m, d, k, &pm);
    for (size_t i0 = 0; i0 < n; i0 += B) {
        const size_t nb = i0 + B < n ? B : n - i0;
        knn_normalize_rows(X + i0 * d, nb, d, U);
        pca_transform(&pm, U, nb, scores + (size_t)k * i0);
    }
    pca_model_free(&pm);
    free(U);
}

// (dist, index) order: smaller distance first, then smaller index.
static inline int before(float da, int32_t ia, float db, int32_t ib) { return da < db || (da == db && ia < ib); }

// Max-heap of the k best so far (root = worst kept).
static void sift_down(float *hd, int32_t *hi, int k, int p) {
    for (;;) {
        int c = 2 * p + 1;
        if (c >= k) return;
        if (c + 1 < k && before(hd[c], hi[c], hd[c + 1], hi[c + 1])) c++;
        if (!before(hd[p], hi[p], hd[c], hi[c])) return;
        float td = hd[p];
        hd[p] = hd[c];
        hd[c] = td;
        int32_t ti = hi[p];
        hi[p] = hi[c];
        hi[c] = ti;
        p = c;
    }
}

void knn_cosine(const float *X, size_t n, size_t d, int k, int32_t *idx, float *dist) {
    CHECK(k >= 1 && (size_t)k < n, "knn: need 1 <= k <= n-1 (k=%d, n=%zu)", k, n);
    float *Y = am_malloc(n * d * sizeof *Y, "knn normalised rows");
    knn_normalize_rows(X, n, d, Y);
    unsigned char *zero = am_malloc(n, "knn zero rows");
    for (size_t i = 0; i < n; i++) {
        zero[i] = 1;
        for (size_t j = 0; j < d; j++)
            if (Y[i * d + j] != 0.0f) {
                zero[i] = 0;
                break;
            }
    }
    const size_t TJ = 256;  // column tile (keeps the tile of Y in cache)
    const size_t TI = 64;   // rows per task
#pragma omp parallel
    {
        float *sim = am_malloc(TI * TJ * sizeof *sim, "knn tile");
#pragma omp for schedule(dynamic, 1)
        for (size_t i0 = 0; i0 < n; i0 += TI) {
            const size_t i1 = i0 + TI < n ? i0 + TI : n;
            for (size_t i = i0; i < i1; i++) {
                float *hd = dist + i * (size_t)k;
                int32_t *hi = idx + i * (size_t)k;
                for (int t = 0; t < k; t++) hd[t] = INFINITY, hi[t] = INT32_MAX;
            }
            for (size_t j0 = 0; j0 < n; j0 += TJ) {
                const size_t j1 = j0 + TJ < n ? j0 + TJ : n;
                // One single-threaded GEMM per fixed tile (OpenBLAS runs serially inside
                // an OpenMP region): the tile shapes do not depend on the thread count,
                // so neither do the bits.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)(i1 - i0), (blasint)(j1 - j0), (blasint)d,
                            1.0f, Y + i0 * d, (blasint)d, Y + j0 * d, (blasint)d, 0.0f, sim, (blasint)TJ);
                for (size_t i = i0; i < i1; i++) {
                    float *hd = dist + i * (size_t)k;
                    int32_t *hi = idx + i * (size_t)k;
                    for (size_t j = j0; j < j1; j++) {
                        if (j == i) continue;
                        float dd;
                        if (zero[i] || zero[j]) dd = zero[i] && zero[j] ? 0.0f : 1.0f;
                        else dd = fmaxf(0.0f, 1.0f - sim[(i - i0) * TJ + (j - j0)]);
                        if (before(dd, (int32_t)j, hd[0], hi[0])) {
                            hd[0] = dd;
                            hi[0] = (int32_t)j;
                            sift_down(hd, hi, k, 0);
                        }
                    }
                }
            }
            // heap -> ascending order (insertion sort; k is small)
            for (size_t i = i0; i < i1; i++) {
                float *hd = dist + i * (size_t)k;
                int32_t *hi = idx + i * (size_t)k;
                for (int a = 1; a < k; a++) {
                    float td = hd[a];
                    int32_t ti = hi[a];
                    int b = a - 1;
                    while (b >= 0 && before(td, ti, hd[b], hi[b])) {
                        hd[b + 1] = hd[b];
                        hi[b + 1] = hi[b];
                        b--;
                    }
                    hd[b + 1] = td;
                    hi[b + 1] = ti;
                }
            }
        }
        free(sim);
    }
    free(Y);
    free(zero);
}
