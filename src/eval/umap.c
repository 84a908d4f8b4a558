// UMAP-style layout: see umap.h.
#include "eval/umap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/clock.h"
#include "eval/knn.h"
#include "eval/knn_ann.h"
#include "eval/pca.h"

// Philox purpose for map randomness (distinct from the training purposes in rng.h).
#define RNG_MAP_NEGATIVE 101u
#define RNG_MAP_INIT 102u

void umap_params_default(UmapParams *p) {
    *p = (UmapParams){.n_neighbors = 15,
                      .min_dist = 0.1f,
                      .spread = 1.0f,
                      .epochs = 200,
                      .seed = 42,
                      .learning_rate = 1.0f,
                      .repulsion = 1.0f,
                      .negative_rate = 5,
                      .init = UMAP_INIT_PCA,
                      .knn = UMAP_KNN_AUTO,
                      .knn_pca = 64,
                      .hnsw = {.type = ANN_HNSW, .hnsw_m = 32, .ef_construction = 40, .ef_search = 64}};
}

int umap_params_check(const UmapParams *p, AmError *err) {
    if (p->n_neighbors < 2 || p->n_neighbors > 1000)
        return am_error_set(err, "neighbors must be in [2, 1000] (got %d)", p->n_neighbors);
    if (!(p->spread > 0) || !isfinite(p->spread)) return am_error_set(err, "spread must be > 0 (got %g)", (double)p->spread);
    if (!(p->min_dist >= 0) || !(p->min_dist < p->spread))
        return am_error_set(err, "min-dist must be in [0, spread=%g) (got %g)", (double)p->spread, (double)p->min_dist);
    if (p->epochs < 1 || p->epochs > 100000) return am_error_set(err, "epochs must be in [1, 100000] (got %d)", p->epochs);
    if (!(p->learning_rate > 0) || !isfinite(p->learning_rate))
        return am_error_set(err, "learning rate must be > 0 (got %g)", (double)p->learning_rate);
    if (!(p->repulsion >= 0) || !isfinite(p->repulsion))
        return am_error_set(err, "repulsion must be >= 0 (got %g)", (double)p->repulsion);
    if (p->negative_rate < 0 || p->negative_rate > 100)
        return am_error_set(err, "negative sample rate must be in [0, 100] (got %d)", p->negative_rate);
    if (p->init != UMAP_INIT_PCA && p->init != UMAP_INIT_RANDOM) return am_error_set(err, "unknown init %d", p->init);
    if (p->knn < UMAP_KNN_AUTO || p->knn > UMAP_KNN_HNSW) return am_error_set(err, "unknown knn %d", p->knn);
    if (p->knn_pca < 0) return am_error_set(err, "knn PCA width must be >= 0 (got %d)", p->knn_pca);
    if (p->knn != UMAP_KNN_EXACT && (p->hnsw.hnsw_m < 2 || p->hnsw.ef_construction < 1 || p->hnsw.ef_search < 1))
        return am_error_set(err, "HNSW parameters must be positive (M %d, efConstruction %d, efSearch %d)",
                            p->hnsw.hnsw_m, p->hnsw.ef_construction, p->hnsw.ef_search);
    return 0;
}

// ------------------------------------------------------------------ a, b

int umap_find_ab(float spread, float min_dist, float *a_out, float *b_out) {
    enum { NP = 300 };
    double x[NP], y[NP];
    for (int i = 0; i < NP; i++) {
        x[i] = 3.0 * spread * i / (NP - 1);
        y[i] = x[i] < min_dist ? 1.0 : exp(-(x[i] - min_dist) / spread);
    }
    double a = 1.0, b = 1.0, lambda = 1e-3;
    double cost = 0;
    for (int i = 0; i < NP; i++) {
        const double f = 1.0 / (1.0 + a * pow(x[i], 2 * b)) - y[i];
        cost += f * f;
    }
    for (int it = 0; it < 500; it++) {
        double JtJ[3] = {0}, Jtr[2] = {0};
        for (int i = 0; i < NP; i++) {
            const double xb = x[i] > 0 ? pow(x[i], 2 * b) : 0.0, den = 1.0 + a * xb;
            const double r = 1.0 / den - y[i];
            const double ja = -xb / (den * den);
            const double jb = x[i] > 0 ? -a * xb * 2.0 * log(x[i]) / (den * den) : 0.0;
            JtJ[0] += ja * ja, JtJ[1] += ja * jb, JtJ[2] += jb * jb;
            Jtr[0] += ja * r, Jtr[1] += jb * r;
        }
        int improved = 0;
        for (int tries = 0; tries < 30 && !improved; tries++) {
            const double m00 = JtJ[0] * (1 + lambda), m11 = JtJ[2] * (1 + lambda), m01 = JtJ[1];
            const double det = m00 * m11 - m01 * m01;
            if (!(fabs(det) > 0)) {
                lambda *= 10;
                continue;
            }
            const double da = -(m11 * Jtr[0] - m01 * Jtr[1]) / det, db = -(m00 * Jtr[1] - m01 * Jtr[0]) / det;
            const double na = a + da, nb = b + db;
            double nc = 0;
            for (int i = 0; i < NP; i++) {
                const double f = 1.0 / (1.0 + na * pow(x[i], 2 * nb)) - y[i];
                nc += f * f;
            }
            if (isfinite(nc) && nc < cost) {
                const int converged = cost - nc < 1e-15 * (1 + cost) && fabs(da) + fabs(db) < 1e-12;
                a = na, b = nb, cost = nc, lambda = fmax(lambda / 10, 1e-12), improved = 1;
                if (converged) it = 1 << 30;
            } else {
                lambda *= 10;
            }
        }
        if (!improved) break;
    }
    if (!isfinite(a) || !isfinite(b) || a <= 0 || b <= 0) return -1;
    *a_out = (float)a, *b_out = (float)b;
    return 0;
}

// ------------------------------------------------------------------ fuzzy graph

void umap_smooth_knn(const float *dist, size_t n, int k, float *rho, float *sigma) {
    const double target = log2((double)k + 1.0);  // k neighbours + the point itself
    double total = 0;
    for (size_t i = 0; i < n * (size_t)k; i++) total += dist[i];
    const double mean_all = total / (double)(n * (size_t)(k + 1));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *di = dist + i * (size_t)k;
        double r = 0, sum = 0;
        for (int j = 0; j < k; j++) {
            sum += di[j];
            if (di[j] > 0 && r == 0) r = di[j];  // ascending: the first non-zero
        }
        double lo = 0, hi = INFINITY, mid = 1.0;
        for (int it = 0; it < 64; it++) {
            double psum = 0;
            for (int j = 0; j < k; j++) {
                const double dd = di[j] - r;
                psum += dd > 0 ? exp(-dd / mid) : 1.0;
            }
            if (fabs(psum - target) < 1e-5) break;
            if (psum > target) {
                hi = mid;
                mid = (lo + hi) / 2;
            } else {
                lo = mid;
                mid = isinf(hi) ? mid * 2 : (lo + hi) / 2;
            }
        }
        const double floor_ = 1e-3 * (r > 0 ? sum / (k + 1) : mean_all);
        if (mid < floor_) mid = floor_;
        rho[i] = (float)r;
        sigma[i] = (float)mid;
    }
}

typedef struct {
    int32_t r, c;
    float w;
} Entry;

static int entry_cmp(const void *pa, const void *pb) {
    const Entry *a = pa, *b = pb;
    if (a->r != b->r) return a->r < b->r ? -1 : 1;
    if (a->c != b->c) return a->c < b->c ? -1 : 1;
    return 0;
}

void umap_fuzzy_graph(const int32_t *idx, const float *dist, size_t n, int k, UmapGraph *g) {
    float *rho = am_malloc(n * sizeof *rho, "umap rho"), *sigma = am_malloc(n * sizeof *sigma, "umap sigma");
    umap_smooth_knn(dist, n, k, rho, sigma);
    const size_t nk = n * (size_t)k;
    Entry *e = am_malloc(2 * nk * sizeof *e, "umap graph entries");
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            const size_t t = i * (size_t)k + (size_t)j;
            const double dd = (double)dist[t] - rho[i];
            const float w = dd <= 0 || sigma[i] == 0 ? 1.0f : (float)exp(-dd / sigma[i]);
            e[2 * t] = (Entry){(int32_t)i, idx[t], w};
            e[2 * t + 1] = (Entry){idx[t], (int32_t)i, w};
        }
    qsort(e, 2 * nk, sizeof *e, entry_cmp);
    // merge: a pair present in both directions has exactly two entries
    size_t m = 0;
    for (size_t t = 0; t < 2 * nk;) {
        Entry x = e[t++];
        if (t < 2 * nk && e[t].r == x.r && e[t].c == x.c) {
            const float y = e[t++].w;
            // a + b - ab, in a fixed operand order (qsort is not stable: sort the pair)
            const float lo = x.w < y ? x.w : y, hi = x.w < y ? y : x.w;
            x.w = lo + hi - lo * hi;
        }
        e[m++] = x;
    }
    g->n = n;
    g->row_ptr = am_calloc(n + 1, sizeof *g->row_ptr, "umap row pointers");
    g->col = am_malloc((m ? m : 1) * sizeof *g->col, "umap columns");
    g->w = am_malloc((m ? m : 1) * sizeof *g->w, "umap weights");
    for (size_t t = 0; t < m; t++) {
        g->row_ptr[e[t].r + 1]++;
        g->col[t] = e[t].c;
        g->w[t] = e[t].w;
    }
    for (size_t i = 0; i < n; i++) g->row_ptr[i + 1] += g->row_ptr[i];
    free(e);
    free(rho);
    free(sigma);
}

void umap_graph_free(UmapGraph *g) {
    free(g->row_ptr);
    free(g->col);
    free(g->w);
    memset(g, 0, sizeof *g);
}

// ------------------------------------------------------------------ layout

static void init_layout(const float *X, size_t n, size_t d, const UmapParams *p, float *Y) {
    const AmRng r = am_rng(p->seed, 0, RNG_MAP_INIT, 0);
    int ok = 0;
    if (p->init == UMAP_INIT_PCA) {
        // the cosine geometry; the axes fitted on a stride sample of at most
        // 20000 unit rows (an initialisation: the sample suffices)
        knn_unit_pca_scores(X, n, d, 2, 20000, Y);
        ok = 1;
        for (int c = 0; c < 2; c++) {
            float lo = INFINITY, hi = -INFINITY;
            for (size_t i = 0; i < n; i++) lo = fminf(lo, Y[2 * i + c]), hi = fmaxf(hi, Y[2 * i + c]);
            if (!(hi > lo)) ok = 0;
        }
    }
    if (!ok)
        for (size_t i = 0; i < 2 * n; i++) Y[i] = am_rng_uniform(&r, i) * 20.0f - 10.0f;
    // small jitter separates duplicate rows, then each axis to [0, 10] (as umap-learn)
    const AmRng jr = am_rng(p->seed, 0, RNG_MAP_INIT, 1);
    float lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < n; i++) lo[c] = fminf(lo[c], Y[2 * i + c]), hi[c] = fmaxf(hi[c], Y[2 * i + c]);
    for (size_t i = 0; i < 2 * n; i++) {
        const int c = (int)(i & 1);
        Y[i] = (Y[i] - lo[c]) / (hi[c] - lo[c]) * 10.0f + 1e-4f * am_rng_normal(&jr, i);
    }
}

static inline float clip4(float v) { return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v); }

int umap_embed(const float *X, size_t n, size_t d, const UmapParams *p, float *Y, UmapInfo *info, AmError *err) {
    if (umap_params_check(p, err)) return -1;
    if (n < 2) return am_error_set(err, "need at least 2 rows for a layout (got %zu)", n);
    if (n > (size_t)INT32_MAX) return am_error_set(err, "too many rows (%zu)", n);
    UmapInfo inf = {0};
    if (umap_find_ab(p->spread, p->min_dist, &inf.a, &inf.b))
        return am_error_set(err, "cannot fit the a/b curve for min-dist %g, spread %g", (double)p->min_dist,
                            (double)p->spread);
    const float a = inf.a, b = inf.b;
    inf.n_neighbors = (size_t)p->n_neighbors <= n ? p->n_neighbors : (int)n;
    const int k = inf.n_neighbors - 1;

    int32_t *idx = am_malloc(n * (size_t)k * sizeof *idx, "knn indices");
    float *dist = am_malloc(n * (size_t)k * sizeof *dist, "knn distances");
    const double t_knn = am_now_s();
    inf.knn = p->knn == UMAP_KNN_AUTO ? (n <= UMAP_KNN_AUTO_EXACT_MAX ? UMAP_KNN_EXACT : UMAP_KNN_HNSW) : p->knn;
    if (inf.knn == UMAP_KNN_HNSW) {
        if (knn_cosine_ann(X, n, d, k, &p->hnsw, p->knn_pca, idx, dist, &inf.knn_exact_rows, err)) {
            free(idx);
            free(dist);
            return -1;
        }
    } else {
        knn_cosine(X, n, d, k, idx, dist);
    }
    inf.knn_s = am_now_s() - t_knn;
    UmapGraph g;
    umap_fuzzy_graph(idx, dist, n, k, &g);
    free(idx);
    free(dist);

    // edges too weak to be sampled within the run are dropped (umap-learn)
    const size_t ne = g.row_ptr[n];
    float wmax = 0;
    for (size_t t = 0; t < ne; t++) wmax = fmaxf(wmax, g.w[t]);
    const double E = p->epochs;
    double *eps = am_malloc((ne ? ne : 1) * sizeof *eps, "epochs per sample");
    double *next = am_malloc((ne ? ne : 1) * sizeof *next, "next sample");
    double *next_neg = am_malloc((ne ? ne : 1) * sizeof *next_neg, "next negative sample");
    for (size_t t = 0; t < ne; t++) {
        const double w = g.w[t] < wmax / E ? 0.0 : g.w[t];
        eps[t] = w > 0 ? (double)wmax / w : -1.0;
        if (w > 0) inf.n_edges++;
        next[t] = eps[t];
        next_neg[t] = p->negative_rate > 0 ? eps[t] / p->negative_rate : INFINITY;
    }

    init_layout(X, n, d, p, Y);
    float *S = am_malloc(2 * n * sizeof *S, "layout snapshot");
    const float gamma = p->repulsion;
    const uint32_t nn = (uint32_t)n;
    for (int ep = 0; ep < p->epochs; ep++) {
        const float alpha = (float)(p->learning_rate * (1.0 - ep / E));
        memcpy(S, Y, 2 * n * sizeof *S);
#pragma omp parallel for schedule(dynamic, 64)
        for (size_t i = 0; i < n; i++) {
            float cx = S[2 * i], cy = S[2 * i + 1];
            for (size_t t = g.row_ptr[i]; t < g.row_ptr[i + 1]; t++) {
                if (eps[t] <= 0 || next[t] > ep) continue;
                const size_t j = (size_t)g.col[t];
                float dx = cx - S[2 * j], dy = cy - S[2 * j + 1];
                float d2 = dx * dx + dy * dy;
                if (d2 > 0) {
                    const float gc = -2.0f * a * b * powf(d2, b - 1.0f) / (a * powf(d2, b) + 1.0f);
                    // this edge and its reverse both pull i (umap-learn moves both ends)
                    cx += 2.0f * clip4(gc * dx) * alpha;
                    cy += 2.0f * clip4(gc * dy) * alpha;
                }
                next[t] += eps[t];
                const double en = eps[t] / (p->negative_rate > 0 ? p->negative_rate : 1);
                const int n_neg = p->negative_rate > 0 ? (int)((ep - next_neg[t]) / en) : 0;
                const AmRng r = am_rng(p->seed, (uint64_t)ep, RNG_MAP_NEGATIVE, (uint32_t)t);
                for (int q = 0; q < n_neg; q++) {
                    const size_t o = am_rng_below(&r, (uint64_t)q, nn);
                    if (o == i) continue;
                    dx = cx - S[2 * o], dy = cy - S[2 * o + 1];
                    d2 = dx * dx + dy * dy;
                    if (d2 > 0) {
                        const float gc = 2.0f * gamma * b / ((0.001f + d2) * (a * powf(d2, b) + 1.0f));
                        cx += clip4(gc * dx) * alpha;
                        cy += clip4(gc * dy) * alpha;
                    } else {
                        cx += 4.0f * alpha;
                        cy += 4.0f * alpha;
                    }
                }
                if (n_neg > 0) next_neg[t] += n_neg * en;
            }
            Y[2 * i] = cx, Y[2 * i + 1] = cy;
        }
    }
    free(S);
    free(eps);
    free(next);
    free(next_neg);
    umap_graph_free(&g);
    inf.layout_s = am_now_s() - t_knn - inf.knn_s;
    if (info) *info = inf;
    return 0;
}
