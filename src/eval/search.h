// Brute-force top-k neighbour search in an embeddings file, within an
// embedding or across them (a light curve's embedding against all spectra),
// by cosine similarity or Euclidean distance, optionally in the space of the
// first p principal components of the targets (Zoobot's similarity search:
// PCA to 10, then nearest neighbours).
//
// Cosine: for a file of unit-norm rows (attribute normalized = 1, AstroM3) the
// dot product; otherwise dot / (|q| |t|), a zero vector scoring 0. With PCA the
// components are fitted on every target row (in file order, fixed-order double
// sums: every rank fits the same model) and applied to queries and targets.
//
// Targets are the rows having the target modality (and, optionally, of one
// split), in file order. They are cut into fixed blocks of `block` targets;
// each rank scores a contiguous range of blocks, keeps a per-query top-k, and
// the per-rank lists are merged on every rank. Order: higher cosine first, ties
// broken by the smaller row index. Each score is a dot product in a fixed
// summation order (not a BLAS GEMM, whose per-element result depends on the
// kernel and the call's shape), so the result is bitwise identical for any
// block size, any rank count and any BLAS kernel or machine.
#ifndef ASTROMM_SEARCH_H
#define ASTROMM_SEARCH_H

#include <stdint.h>
#include <stdio.h>

#include "eval/embeddings_file.h"
#include "mpi/comm.h"

typedef enum { SEARCH_COSINE, SEARCH_EUCLIDEAN } SearchMetric;

typedef struct {
    int64_t row;  // row of the neighbour in the embeddings file; -1 = none (fewer targets than k)
    float score;  // higher is nearer: the cosine, or minus the Euclidean distance
} SearchHit;

typedef struct {
    int query_mod, target_mod;  // slots of the file (EmbSet.slot)
    int k;                      // >= 1
    int target_split;           // DS_SPLIT_* or -1 for every split
    int block;                  // targets per work block (0: default 4096)
    SearchMetric metric;
    int pca;                    // 0: the embeddings as stored; p > 0: their first p principal components
} SearchOptions;

const char *search_metric_name(SearchMetric m);  // "cosine", "euclidean"

// 1 when a is ranked before b (higher score, then smaller row; row -1 last).
int search_hit_before(const SearchHit *a, const SearchHit *b);

// out: [nq * k] hits, per query best first. Every query row must have the
// query embedding (checked by the caller), and 0 <= pca <= dim. comm may be
// NULL (this process only); otherwise collective. Returns the number of targets.
int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out);

// CSV: header "query_id,rank,neighbour_id,label,<metric>", then one line per
// hit (rank from 1; label = the neighbour's class name; the cosine or the distance).
void search_write_csv(FILE *f, const EmbSet *s, const int64_t *qrows, int nq, int k, SearchMetric metric,
                      const SearchHit *hits, int header);

#endif
