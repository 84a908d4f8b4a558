// Approximate (and flat) nearest-neighbour indexes from FAISS behind the
// project's own C interface. FAISS is a C++ library (Debian's libfaiss-dev is a
// static library whose C API symbols are not built), so the one C++ file
// ann_index.cpp adapts it; nothing else in astromm sees C++.
//
// Every index here is a Euclidean (L2) index over float vectors; callers
// searching by cosine give it unit-norm vectors (|a - b|^2 = 2 - 2 cos). Index
// types (config keys search.*, docs/configuration.md):
//  - ANN_FLAT:  FAISS IndexFlatL2, exact up to float rounding (BLAS);
//  - ANN_HNSW:  IndexHNSWFlat (graph; M links per node, efConstruction,
//               efSearch), vectors kept in memory;
//  - ANN_IVFPQ: IndexIVFPQ (nlist coarse cells, PQ codes of m bytes-ish per
//               vector, nprobe cells searched): data larger than memory, codes
//               in memory; trained on a sample.
// Labels are the order of addition (0, 1, ...): callers map them to rows.
// Errors (FAISS throws) come back as AmError with the index's name.
#ifndef ASTROMM_ANN_INDEX_H
#define ASTROMM_ANN_INDEX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/error.h"

enum { ANN_EXACT = 0, ANN_FLAT = 1, ANN_HNSW = 2, ANN_IVFPQ = 3 };  // search.index

typedef struct {
    int type;                           // ANN_*
    int hnsw_m, ef_construction, ef_search;
    int ivf_nlist, ivf_nprobe;          // nlist 0: 4 sqrt(n) (at least 1, at most n / 39)
    int pq_m, pq_nbits;                 // pq_m 0: the largest divisor of d that is <= d / 8
    int serial_add;                     // 1: ann_add on one thread (HNSW: a graph that does not
                                        // depend on thread timing; FAISS inserts in parallel)
} AnnParams;

typedef struct AnnIndex AnnIndex;

const char *ann_type_name(int type);  // "exact", "flat", "hnsw", "ivfpq"
// The FAISS factory string of p for dimension d and n vectors ("HNSW32,Flat", ...).
void ann_describe(const AnnParams *p, int d, int64_t n, char *buf, int cap);
// A new empty index of dimension d for about n vectors; train: n_train vectors
// (IVF-PQ needs them; the others ignore them), rows of train_x.
// The training vectors FAISS advises for a well-trained index of n vectors of
// dimension d (IVF-PQ: 39 per coarse cell and per PQ centroid), 0 when the
// type needs no training.
int64_t ann_training_advice(const AnnParams *p, int d, int64_t n);
int ann_create(AnnIndex **out, const AnnParams *p, int d, int64_t n, const float *train_x, int64_t n_train,
               AmError *err);
int ann_add(AnnIndex *ix, const float *x, int64_t n, AmError *err);
// k nearest of each of nq queries: dist2 [nq, k] squared L2 distances
// (ascending), labels [nq, k] (-1 where fewer than k were found).
int ann_search(AnnIndex *ix, const float *q, int64_t nq, int k, float *dist2, int64_t *labels, AmError *err);
int64_t ann_count(const AnnIndex *ix);
int ann_dim(const AnnIndex *ix);
// The search-time parameters (efSearch, nprobe) from p.
void ann_set_search_params(AnnIndex *ix, const AnnParams *p);
// FAISS's own file format (write_index / read_index); path written whole.
int ann_save(const AnnIndex *ix, const char *path, AmError *err);
int ann_load(AnnIndex **out, const char *path, AmError *err);
void ann_free(AnnIndex *ix);

#ifdef __cplusplus
}
#endif

#endif
