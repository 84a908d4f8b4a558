// UMAP-style 2-D layout of an embedding set (astromm map), after McInnes et al.
// 2018 and umap-learn: cosine kNN graph, smooth-kNN fuzzy memberships
// (rho = nearest-neighbour distance, sigma by bisection to sum = log2(k)),
// fuzzy union A + A^T - A.A^T, a/b curve fitted to min_dist, and SGD with
// attraction along edges (sampled in proportion to their weight) and repulsion
// from negative samples.
//
// Determinism: the SGD is "per-epoch snapshot" (Jacobi) style: in epoch e every
// vertex moves against the positions at the start of the epoch, along its own
// out-edges in a fixed order; negative sample p of edge j in epoch e is element p
// of the Philox stream (seed, e, purpose, j). So the layout is a pure function of
// (data, parameters, seed), bit-identical for any OpenMP thread count.
#ifndef ASTROMM_UMAP_H
#define ASTROMM_UMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/ann_index.h"

enum { UMAP_INIT_PCA = 0, UMAP_INIT_RANDOM = 1 };
// The k-NN graph: exact (knn.h, O(n^2), bit-identical for any thread count) or
// HNSW (knn_ann.h, approximate, the same for any thread count); auto = exact
// up to UMAP_KNN_AUTO_EXACT_MAX rows.
enum { UMAP_KNN_AUTO = 0, UMAP_KNN_EXACT = 1, UMAP_KNN_HNSW = 2 };
#define UMAP_KNN_AUTO_EXACT_MAX 50000

typedef struct {
    int n_neighbors;      // neighbourhood size *including the point itself* (umap-learn convention), >= 2
    float min_dist;       // >= 0, < spread
    float spread;         // > 0
    int epochs;           // >= 1
    uint64_t seed;
    float learning_rate;  // initial alpha, decays linearly to 0
    float repulsion;      // gamma
    int negative_rate;    // negative samples per positive sample
    int init;             // UMAP_INIT_*
    int knn;              // UMAP_KNN_*
    AnnParams hnsw;       // knn HNSW: hnsw_m, ef_construction, ef_search
    int knn_pca;          // knn HNSW: search the graph in this many principal components (0: all)
} UmapParams;

typedef struct {
    int n_neighbors;  // actually used (clamped to n when n is small)
    float a, b;
    size_t n_edges;   // directed edges of the symmetric graph kept for the SGD
    int knn;          // UMAP_KNN_EXACT or UMAP_KNN_HNSW: the graph used
    size_t knn_exact_rows;  // HNSW: rows whose neighbours came from an exact scan
    double knn_s, layout_s; // seconds: the k-NN graph, the rest
} UmapInfo;

void umap_params_default(UmapParams *p);
// Returns 0, or fills err naming the bad parameter.
int umap_params_check(const UmapParams *p, AmError *err);

// Least-squares fit of 1/(1 + a x^(2b)) to the min_dist/spread target curve
// (umap-learn find_ab_params). Returns 0, or -1 if the fit failed.
int umap_find_ab(float spread, float min_dist, float *a, float *b);

// Fuzzy simplicial set from k nearest neighbours (k excluding the point itself;
// idx/dist as written by knn_cosine). CSR by row: row_ptr[n+1], col/w[row_ptr[n]];
// symmetric, no diagonal, columns ascending within a row.
typedef struct {
    size_t n;
    size_t *row_ptr;
    int32_t *col;
    float *w;
} UmapGraph;
void umap_fuzzy_graph(const int32_t *idx, const float *dist, size_t n, int k, UmapGraph *g);
void umap_graph_free(UmapGraph *g);
// smooth-kNN: rho[i] (distance to the nearest neighbour at > 0) and sigma[i].
void umap_smooth_knn(const float *dist, size_t n, int k, float *rho, float *sigma);

// The full pipeline: X [n,d] -> Y [n,2]. n >= 2. Returns 0, or fills err.
int umap_embed(const float *X, size_t n, size_t d, const UmapParams *p, float *Y, UmapInfo *info, AmError *err);

#endif
