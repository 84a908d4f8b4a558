// Top-k neighbour search in an embeddings file, within an embedding or across
// them (a light curve's embedding against all spectra), by cosine similarity
// or Euclidean distance, optionally in the space of the first p principal
// components of the targets (Zoobot's similarity search: PCA to 10, then
// nearest neighbours).
//
// Targets are the rows having the target embedding (and, optionally, of one
// split), in file order, cut into fixed blocks of `block` targets; rank r of P
// owns a contiguous range of blocks (its shard) and reads only those rows,
// block by block, from the file (or from memory when the EmbSet holds the
// embedding): no rank holds all targets. Each rank keeps a per-query top-k of
// its shard; the lists are merged on every rank. Order: higher score first,
// ties broken by the smaller row index.
//
// Exact search (ANN_EXACT, the reference): each score is a dot product or
// squared distance in a fixed summation order (not a BLAS GEMM, whose result
// for one element depends on the kernel and the call's shape), so the result
// is bitwise identical for any block size, any rank count, any BLAS kernel.
//
// Approximate search (ANN_FLAT / ANN_HNSW / ANN_IVFPQ, FAISS through
// ann_index.h): each rank builds an index of its shard (IVF-PQ trained on a
// stride sample of it; rows added block by block, so IVF-PQ needs memory for
// its codes only), saves it under the index directory and reuses it on the
// next search with the same shard layout. Cosine indexes hold unit vectors
// (score 1 - d^2 / 2). An index that does not match its shard (count,
// dimension, or a checksum of the ids and sampled vectors) is an error.
//
// Cosine: for a file of unit-norm rows (attribute normalized = 1, AstroM3) the
// dot product; otherwise dot / (|q| |t|), a zero vector scoring 0. With PCA the
// components are fitted on the targets (all of them up to pca_sample, else a
// fixed stride sample of pca_sample: every rank reads the same rows and fits
// the same model) and applied to queries and targets; except where the file
// holds its own PCA copy (embed.pca) of at least pca components of the
// searched embedding and queries and targets are that one embedding: then its
// stored scores are searched (pca_refit = 1 fits anyway; so does a set held
// in memory).
#ifndef ASTROMM_SEARCH_H
#define ASTROMM_SEARCH_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "eval/ann_index.h"
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
    int pca_sample;             // 0: 20000
    int pca_refit;              // 1: fit the PCA even where the file stores one
    AnnParams ann;              // ann.type ANN_EXACT (0): brute force
    const char *index_dir;      // approximate: where shard indexes live (NULL/"": "<file>.index")
    int rebuild_index;          // approximate: build even when a saved index exists
    int refine;                 // approximate: 0, or R: R k candidates per query re-ranked by
                                // their exact scores (vectors read back from the file)
    int quiet;                  // no progress lines on stderr
} SearchOptions;

typedef struct {
    double build_s, search_s;   // this rank: building (or loading) its index, searching
    int built;                  // 1 when this rank built (not loaded) its shard's index
    int pca_stored;             // 1 when --pca searched the file's stored PCA scores
    int64_t shard;              // targets of this rank
} SearchStats;

const char *search_metric_name(SearchMetric m);  // "cosine", "euclidean"

// 1 when a is ranked before b (higher score, then smaller row; row -1 last).
int search_hit_before(const SearchHit *a, const SearchHit *b);

// The number of targets of o in s.
int64_t search_count_targets(const EmbSet *s, const SearchOptions *o);

// out: [nq * k] hits, per query best first (padded with row -1 past the
// targets). s needs its metadata; an embedding not held in s->emb is read from
// s->path. Every query row must have the query embedding (checked by the
// caller), and 0 <= pca <= dim. comm may be NULL (this process only);
// otherwise collective. Returns the number of targets, or -1 with err set on
// the ranks that failed (every rank returns -1 then). stats may be NULL.
int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out, SearchStats *stats, AmError *err);

// CSV: header "query_id,rank,neighbour_id,label,<metric>", then one line per
// hit (rank from 1; label = the neighbour's class name; the cosine or the distance).
void search_write_csv(FILE *f, const EmbSet *s, const int64_t *qrows, int nq, int k, SearchMetric metric,
                      const SearchHit *hits, int header);

#endif
