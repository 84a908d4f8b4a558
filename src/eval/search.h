// Brute-force cosine top-k neighbour search in an embeddings file (the
// embeddings are L2-normalised, so cosine = dot product), within a modality
// or across modalities (a light curve's embedding against all spectra).
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

typedef struct {
    int64_t row;  // row of the neighbour in the embeddings file; -1 = none (fewer targets than k)
    float score;  // cosine
} SearchHit;

typedef struct {
    int query_mod, target_mod;  // EMB_*
    int k;                      // >= 1
    int target_split;           // DS_SPLIT_* or -1 for every split
    int block;                  // targets per work block (0: default 4096)
} SearchOptions;

// 1 when a is ranked before b (higher score, then smaller row; row -1 last).
int search_hit_before(const SearchHit *a, const SearchHit *b);

// out: [nq * k] hits, per query best first. Every query row must have the
// query modality (checked by the caller). comm may be NULL (this process
// only); otherwise collective. Returns the number of targets.
int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out);

// CSV: header "query_id,rank,neighbour_id,label,cosine", then one line per hit
// (rank from 1; label = the neighbour's class name).
void search_write_csv(FILE *f, const EmbSet *s, const int64_t *qrows, int nq, int k, const SearchHit *hits,
                      int header);

#endif
