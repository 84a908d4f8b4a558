// Approximate cosine k-nearest-neighbour graph of a point set through a FAISS
// HNSW index (ann_index.h): the map's k-NN graph at sizes where the exact
// O(n^2) scan of knn.h is out of reach (astromm map, map.knn = "hnsw").
//
// Same output as knn_cosine: every row's k nearest *other* rows by cosine
// distance, ascending. The rows are L2-normalised (|a - b|^2 = 2 - 2 cos), the
// index is built by adding the rows in order on one thread (FAISS's parallel
// insertion makes the graph depend on thread timing), then every row is
// searched for k + 1 neighbours in parallel (each search is a pure function of
// the graph): the result is the same for any thread count. A row whose search
// comes back with fewer than k others (rare: duplicates crowding out the
// candidate list) gets its neighbours by an exact scan.
#ifndef ASTROMM_KNN_ANN_H
#define ASTROMM_KNN_ANN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/ann_index.h"

// p: the HNSW parameters (type ANN_HNSW). 0 < pca < d: the graph is searched
// in the first pca principal components of the unit rows (FAISS's generic
// distance kernels cost in proportion to the width: 512 -> 64 is ~8x faster),
// 2k candidates per row, re-ranked by their true cosine distance in the full
// space; the distances returned are always the full-space ones.
// idx[n*k], dist[n*k]. 0, or -1 with err. exact_rows (may be NULL): the
// number of rows that fell back to the exact scan.
int knn_cosine_ann(const float *X, size_t n, size_t d, int k, const AnnParams *p, int pca, int32_t *idx, float *dist,
                   size_t *exact_rows, AmError *err);

#endif
