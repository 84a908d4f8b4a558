// UMAP-style layout (src/eval/umap.h, knn.h): keeps known clusters apart on a
// synthetic blob set (trustworthiness as sklearn.manifold.trustworthiness, label
// purity of 2-D neighbourhoods, centroid separation), is bit-identical run to run
// and for 1 vs 2 OpenMP threads, fits umap-learn's a/b, smooth-kNN hits its
// target, the fuzzy graph is symmetric, small n is handled; the HNSW k-NN graph
// (knn_ann.h) finds the exact graph's neighbours, is the same for 1 and 2
// threads, and its layout keeps the clusters as well.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "eval/knn.h"
#include "eval/knn_ann.h"
#include "eval/umap.h"
#include "testutil.h"

enum { C = 5, PER = 120, N = C * PER, D = 32 };

// Blobs: cluster c is center_c + a random 3-D sheet + small isotropic noise.
static void make_blobs(float *x, int *lab) {
    const AmRng r = am_rng(7, 0, RNG_SYNTH, 99);
    uint64_t t = 0;
    float cen[C][D], basis[C][3][D];
    for (int c = 0; c < C; c++)
        for (int j = 0; j < D; j++) {
            cen[c][j] = 2.0f * am_rng_normal(&r, t++);
            for (int b = 0; b < 3; b++) basis[c][b][j] = 0.3f * am_rng_normal(&r, t++);
        }
    for (int i = 0; i < N; i++) {
        const int c = i % C;  // interleaved so cluster membership is not the row order
        lab[i] = c;
        float z[3];
        for (int b = 0; b < 3; b++) z[b] = am_rng_normal(&r, t++);
        for (int j = 0; j < D; j++)
            x[i * D + j] = cen[c][j] + z[0] * basis[c][0][j] + z[1] * basis[c][1][j] + z[2] * basis[c][2][j] +
                           0.05f * am_rng_normal(&r, t++);
    }
}

static double dist_hi(const float *x, int i, int j, int d) {
    double s = 0;
    for (int t = 0; t < d; t++) s += ((double)x[i * d + t] - x[j * d + t]) * ((double)x[i * d + t] - x[j * d + t]);
    return s;
}

typedef struct {
    double d;
    int j;
} DJ;
static int dj_cmp(const void *a, const void *b) {
    const DJ *p = a, *q = b;
    if (p->d != q->d) return p->d < q->d ? -1 : 1;
    return p->j - q->j;
}

// sklearn.manifold.trustworthiness (euclidean in both spaces).
static double trustworthiness(const float *x, int n, int d, const float *y, int k) {
    DJ *o = malloc((size_t)n * sizeof *o);
    int *rank = malloc((size_t)n * sizeof *rank);
    double pen = 0;
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int j = 0; j < n; j++)
            if (j != i) o[m++] = (DJ){dist_hi(x, i, j, d), j};
        qsort(o, (size_t)m, sizeof *o, dj_cmp);
        for (int r = 0; r < m; r++) rank[o[r].j] = r + 1;
        m = 0;
        for (int j = 0; j < n; j++)
            if (j != i) o[m++] = (DJ){dist_hi(y, i, j, 2), j};
        qsort(o, (size_t)m, sizeof *o, dj_cmp);
        for (int r = 0; r < k; r++)
            if (rank[o[r].j] > k) pen += rank[o[r].j] - k;
    }
    free(o);
    free(rank);
    return 1.0 - 2.0 / ((double)n * k * (2.0 * n - 3.0 * k - 1.0)) * pen;
}

// Fraction of 2-D 10-nearest neighbours sharing the point's label.
static double knn_purity(const float *y, const int *lab, int n) {
    DJ *o = malloc((size_t)n * sizeof *o);
    long same = 0;
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int j = 0; j < n; j++)
            if (j != i) o[m++] = (DJ){dist_hi(y, i, j, 2), j};
        qsort(o, (size_t)m, sizeof *o, dj_cmp);
        for (int r = 0; r < 10; r++) same += lab[o[r].j] == lab[i];
    }
    free(o);
    return (double)same / (10.0 * n);
}

// min over clusters of (distance to the nearest other centroid) / (own RMS radius).
static double separation(const float *y, const int *lab, int n) {
    double cx[C] = {0}, cy[C] = {0}, rr[C] = {0};
    int cnt[C] = {0};
    for (int i = 0; i < n; i++) cx[lab[i]] += y[2 * i], cy[lab[i]] += y[2 * i + 1], cnt[lab[i]]++;
    for (int c = 0; c < C; c++) cx[c] /= cnt[c], cy[c] /= cnt[c];
    for (int i = 0; i < n; i++) {
        const double dx = y[2 * i] - cx[lab[i]], dy = y[2 * i + 1] - cy[lab[i]];
        rr[lab[i]] += dx * dx + dy * dy;
    }
    double worst = INFINITY;
    for (int c = 0; c < C; c++) {
        double near = INFINITY;
        for (int e = 0; e < C; e++)
            if (e != c) near = fmin(near, hypot(cx[c] - cx[e], cy[c] - cy[e]));
        worst = fmin(worst, near / sqrt(rr[c] / cnt[c]));
    }
    return worst;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_blobs(void) {
    float *x = malloc((size_t)N * D * sizeof *x);
    int lab[N];
    make_blobs(x, lab);
    UmapParams p;
    umap_params_default(&p);
    float *y1 = malloc(2 * N * sizeof *y1), *y2 = malloc(2 * N * sizeof *y2), *y3 = malloc(2 * N * sizeof *y3);
    UmapInfo info;
    AmError err;
    omp_set_num_threads(2);
    double t0 = now_s();
    REQUIRE(!umap_embed(x, N, D, &p, y1, &info, &err), "umap_embed: %s", err.msg);
    const double secs = now_s() - t0;
    for (int i = 0; i < 2 * N; i++) REQUIRE(isfinite(y1[i]), "coordinate %d not finite", i);
    const double tw = trustworthiness(x, N, D, y1, 5), pur = knn_purity(y1, lab, N), sep = separation(y1, lab, N);
    printf("blobs n=%d d=%d: %d neighbours, %zu edges, a=%.4f b=%.4f; trustworthiness(k=5) %.4f, 2-D 10-NN label "
           "purity %.4f, centroid separation %.2f radii; %.2f s (200 epochs, 2 threads)\n",
           N, D, info.n_neighbors, info.n_edges, (double)info.a, (double)info.b, tw, pur, sep, secs);
    EXPECT(tw > 0.9, "trustworthiness %.4f <= 0.9", tw);
    EXPECT(pur > 0.99, "2-D neighbourhood label purity %.4f <= 0.99", pur);
    EXPECT(sep > 3.0, "clusters not separated: nearest centroid at %.2f RMS radii", sep);
    // determinism: same call again; 1 thread; another seed differs
    REQUIRE(!umap_embed(x, N, D, &p, y2, NULL, &err), "%s", err.msg);
    EXPECT(!memcmp(y1, y2, 2 * N * sizeof *y1), "two runs with seed %llu differ", (unsigned long long)p.seed);
    omp_set_num_threads(1);
    REQUIRE(!umap_embed(x, N, D, &p, y3, NULL, &err), "%s", err.msg);
    EXPECT(!memcmp(y1, y3, 2 * N * sizeof *y1), "1 thread and 2 threads give different layouts");
    omp_set_num_threads(2);
    p.seed = 43;
    REQUIRE(!umap_embed(x, N, D, &p, y3, NULL, &err), "%s", err.msg);
    EXPECT(memcmp(y1, y3, 2 * N * sizeof *y1), "seed 43 gives the same layout as seed 42");
    // random init also separates the clusters
    p.init = UMAP_INIT_RANDOM;
    REQUIRE(!umap_embed(x, N, D, &p, y3, NULL, &err), "%s", err.msg);
    const double pur_r = knn_purity(y3, lab, N);
    EXPECT(pur_r > 0.98, "random init: purity %.4f", pur_r);
    free(x), free(y1), free(y2), free(y3);
}

static void test_hnsw(void) {
    float *x = malloc((size_t)N * D * sizeof *x);
    int lab[N];
    make_blobs(x, lab);
    const int k = 14;
    int32_t *ie = malloc((size_t)N * k * sizeof *ie), *ia = malloc((size_t)N * k * sizeof *ia),
            *ib = malloc((size_t)N * k * sizeof *ib);
    float *de = malloc((size_t)N * k * sizeof *de), *da = malloc((size_t)N * k * sizeof *da),
          *db = malloc((size_t)N * k * sizeof *db);
    knn_cosine(x, N, D, k, ie, de);
    UmapParams p;
    umap_params_default(&p);
    AmError err = {{0}};
    size_t exact_rows = 0;
    omp_set_num_threads(2);
    REQUIRE(!knn_cosine_ann(x, N, D, k, &p.hnsw, p.knn_pca, ia, da, &exact_rows, &err), "knn_cosine_ann: %s", err.msg);
    omp_set_num_threads(1);
    REQUIRE(!knn_cosine_ann(x, N, D, k, &p.hnsw, p.knn_pca, ib, db, NULL, &err), "knn_cosine_ann: %s", err.msg);
    omp_set_num_threads(2);
    EXPECT(!memcmp(ia, ib, (size_t)N * k * sizeof *ia) && !memcmp(da, db, (size_t)N * k * sizeof *da),
           "HNSW graph differs between 1 and 2 threads");
    long found = 0;
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < k; a++) {
            EXPECT(ia[i * k + a] != i && ia[i * k + a] >= 0 && ia[i * k + a] < N, "row %d: neighbour %d", i,
                   ia[i * k + a]);
            if (a) EXPECT(da[i * k + a] >= da[i * k + a - 1], "row %d: distances not ascending", i);
            for (int b = 0; b < k; b++)
                if (ia[i * k + a] == ie[i * k + b]) {
                    found++;
                    worst = fmax(worst, fabs((double)da[i * k + a] - de[i * k + b]));
                    break;
                }
        }
    const double recall = (double)found / ((double)N * k);
    printf("hnsw k-NN graph: recall %.4f of the exact graph, max distance difference %.2g, %zu rows by exact scan\n",
           recall, worst, exact_rows);
    EXPECT(recall > 0.97, "HNSW k-NN recall %.4f <= 0.97", recall);
    EXPECT(worst < 1e-5, "HNSW cosine distances differ from the exact ones by %.3g", worst);
    // the graph searched in 8 principal components, re-ranked by the full-space cosine
    REQUIRE(!knn_cosine_ann(x, N, D, k, &p.hnsw, 8, ia, da, NULL, &err), "knn_cosine_ann pca: %s", err.msg);
    omp_set_num_threads(1);
    REQUIRE(!knn_cosine_ann(x, N, D, k, &p.hnsw, 8, ib, db, NULL, &err), "knn_cosine_ann pca: %s", err.msg);
    omp_set_num_threads(2);
    EXPECT(!memcmp(ia, ib, (size_t)N * k * sizeof *ia), "PCA HNSW graph differs between 1 and 2 threads");
    found = 0;
    worst = 0;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (ia[i * k + a] == ie[i * k + b]) {
                    found++;
                    worst = fmax(worst, fabs((double)da[i * k + a] - de[i * k + b]));
                    break;
                }
    printf("hnsw k-NN graph in 8 of 32 principal components: recall %.4f, max distance difference %.2g\n",
           (double)found / ((double)N * k), worst);
    EXPECT((double)found / ((double)N * k) > 0.9, "PCA HNSW recall %.4f", (double)found / ((double)N * k));
    EXPECT(worst < 1e-5, "PCA HNSW: distances are not the full-space cosines (%.3g)", worst);
    EXPECT(knn_cosine_ann(x, N, D, k, &p.hnsw, -1, ia, da, NULL, &err) && strstr(err.msg, "PCA width"),
           "negative PCA width refused: %s", err.msg);
    EXPECT(knn_cosine_ann(x, 10, D, 10, &p.hnsw, p.knn_pca, ia, da, NULL, &err) && strstr(err.msg, "k <= n-1"),
           "k = n refused: %s", err.msg);
    // the layout from the HNSW graph
    float *y1 = malloc(2 * N * sizeof *y1), *y2 = malloc(2 * N * sizeof *y2);
    UmapInfo info;
    p.knn = UMAP_KNN_HNSW;
    REQUIRE(!umap_embed(x, N, D, &p, y1, &info, &err), "umap_embed hnsw: %s", err.msg);
    EXPECT(info.knn == UMAP_KNN_HNSW, "the HNSW graph was used");
    const double tw = trustworthiness(x, N, D, y1, 5), pur = knn_purity(y1, lab, N);
    printf("blobs, HNSW graph: trustworthiness(k=5) %.4f, purity %.4f\n", tw, pur);
    EXPECT(tw > 0.9 && pur > 0.99, "HNSW layout: trustworthiness %.4f, purity %.4f", tw, pur);
    omp_set_num_threads(1);
    REQUIRE(!umap_embed(x, N, D, &p, y2, NULL, &err), "%s", err.msg);
    omp_set_num_threads(2);
    EXPECT(!memcmp(y1, y2, 2 * N * sizeof *y1), "HNSW layout: 1 and 2 threads differ");
    p.knn = UMAP_KNN_AUTO;
    REQUIRE(!umap_embed(x, N, D, &p, y2, &info, &err), "%s", err.msg);
    EXPECT(info.knn == UMAP_KNN_EXACT, "auto: exact below %d rows", UMAP_KNN_AUTO_EXACT_MAX);
    free(x), free(ie), free(ia), free(ib), free(de), free(da), free(db), free(y1), free(y2);
}

static void test_ab(void) {
    float a, b;
    REQUIRE(!umap_find_ab(1.0f, 0.1f, &a, &b), "fit failed");
    // umap.umap_.find_ab_params(1.0, 0.1) = (1.5769434604, 0.8950608781)
    EXPECT(fabsf(a - 1.5769435f) < 2e-3f && fabsf(b - 0.8950609f) < 1e-3f, "min_dist 0.1: a=%.6f b=%.6f", (double)a,
           (double)b);
    REQUIRE(!umap_find_ab(1.0f, 0.5f, &a, &b), "fit failed");
    // find_ab_params(1.0, 0.5) = (0.5830300, 1.3341669)
    EXPECT(fabsf(a - 0.58303f) < 2e-3f && fabsf(b - 1.334167f) < 2e-3f, "min_dist 0.5: a=%.6f b=%.6f", (double)a,
           (double)b);
}

static void test_graph(void) {
    enum { n = 60, d = 8, k = 6 };
    float x[n * d];
    const AmRng r = am_rng(3, 0, RNG_SYNTH, 5);
    for (int i = 0; i < n * d; i++) x[i] = am_rng_normal(&r, (uint64_t)i);
    for (int j = 0; j < d; j++) x[5 * d + j] = x[4 * d + j];  // a duplicate row (distance 0)
    int32_t idx[n * k];
    float dist[n * k], rho[n], sigma[n];
    knn_cosine(x, n, d, k, idx, dist);
    // brute-force check of row 0's nearest neighbour
    double best = INFINITY;
    int bj = -1;
    for (int j = 1; j < n; j++) {
        double ab = 0, aa = 0, bb = 0;
        for (int t = 0; t < d; t++) ab += x[t] * x[j * d + t], aa += x[t] * x[t], bb += x[j * d + t] * x[j * d + t];
        const double cd = 1 - ab / sqrt(aa * bb);
        if (cd < best) best = cd, bj = j;
    }
    EXPECT(idx[0] == bj && fabs(dist[0] - best) < 1e-5, "row 0 nearest: %d (%g) vs brute force %d (%g)", idx[0],
           (double)dist[0], bj, best);
    EXPECT(idx[4 * k] == 5 && dist[4 * k] < 1e-6f, "duplicate row: nearest %d at %g", idx[4 * k], (double)dist[4 * k]);
    for (int i = 0; i < n; i++)
        for (int j = 1; j < k; j++) EXPECT(dist[i * k + j - 1] <= dist[i * k + j], "row %d not ascending", i);
    umap_smooth_knn(dist, n, k, rho, sigma);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) s += dist[i * k + j] - rho[i] > 0 ? exp(-(dist[i * k + j] - rho[i]) / sigma[i]) : 1.0;
        EXPECT(fabs(s - log2(k + 1.0)) < 1e-3, "row %d: membership sum %.6f vs log2(k+1) %.6f", i, s, log2(k + 1.0));
    }
    UmapGraph g;
    umap_fuzzy_graph(idx, dist, n, k, &g);
    int asym = 0;
    for (int i = 0; i < n; i++)
        for (size_t t = g.row_ptr[i]; t < g.row_ptr[i + 1]; t++) {
            const int j = g.col[t];
            int found = 0;
            for (size_t u = g.row_ptr[j]; u < g.row_ptr[j + 1]; u++)
                if (g.col[u] == i) found = g.w[u] == g.w[t];
            asym += !found || j == i || !(g.w[t] > 0 && g.w[t] <= 1);
        }
    EXPECT(asym == 0, "%d graph entries without an equal reverse entry (or diagonal / weight outside (0,1])", asym);
    umap_graph_free(&g);
}

static void test_small(void) {
    float x[5 * 4] = {1, 0, 0, 0, 0.9f, 0.1f, 0, 0, 0, 1, 0, 0, 0, 0.9f, 0.2f, 0, 0, 0, 0, 0};  // last row zero
    float y[10];
    UmapParams p;
    umap_params_default(&p);
    UmapInfo info;
    AmError err;
    REQUIRE(!umap_embed(x, 5, 4, &p, y, &info, &err), "n=5, 15 neighbours: %s", err.msg);
    EXPECT(info.n_neighbors == 5, "neighbours clamped to %d, expected 5", info.n_neighbors);
    for (int i = 0; i < 10; i++) EXPECT(isfinite(y[i]), "small n: coordinate %d = %g", i, (double)y[i]);
    REQUIRE(!umap_embed(x, 2, 4, &p, y, &info, &err), "n=2: %s", err.msg);
    EXPECT(umap_embed(x, 1, 4, &p, y, &info, &err) != 0 && strstr(err.msg, "at least 2"), "n=1 refused: '%s'", err.msg);
    p.min_dist = 2.0f;
    EXPECT(umap_embed(x, 5, 4, &p, y, &info, &err) != 0 && strstr(err.msg, "min-dist"), "bad min_dist: '%s'", err.msg);
}

int main(void) {
    test_ab();
    test_graph();
    test_small();
    test_blobs();
    test_hnsw();
    return tu_finish("test_umap");
}
