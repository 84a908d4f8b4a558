// What search.c and search_ann.c share (not a public interface).
#ifndef ASTROMM_SEARCH_INTERNAL_H
#define ASTROMM_SEARCH_INTERNAL_H

#include "eval/embeddings_rows.h"
#include "eval/pca.h"
#include "eval/search.h"

// The rows of one embedding: from memory (s->emb[slot]) or the file.
typedef struct {
    const EmbSet *s;
    int slot;
    EmbRows *file;
} RowSource;

// The search's vector space and this rank's shard of the targets.
typedef struct {
    const EmbSet *s;
    const SearchOptions *o;
    RowSource tgt;
    const int64_t *tg;     // all targets' rows, file order
    int64_t nt, t0, t1;    // targets; this rank's [t0, t1)
    int64_t block;
    int D0, D;             // stored width, searched width (pca or D0)
    int have_pca;          // PCA fitted here (pm): rows are transformed as read
    int stored_pca;        // the rows are the file's stored PCA scores (embed.pca)
    PcaModel pm;
    float *raw, *span;     // block buffers: [block, D0], [4 block, D0]
    int rank, P;
} SearchSpace;

// Reads the targets [t, t + nb) of the shard into out [nb, D] (the searched
// space: PCA scores when the search has PCA).
int search_read_targets(SearchSpace *sp, int64_t t, int64_t nb, float *out, AmError *err);
int row_source_list(RowSource *r, const int64_t *rows, int64_t n, float *out, AmError *err);
// The brute force's score of target vector t for query q (both in the searched
// space), bit for bit: what the refinement of approximate hits ranks by.
float search_exact_score(const SearchSpace *sp, const float *q, const float *t);
// Inserts h into the sorted list of k hits if it belongs there.
void search_topk_insert(SearchHit *list, int k, SearchHit h);

// Approximate search of the shard (search_ann.c): local top-k lists [nq, k]
// of the queries Q [nq, D] (the searched space).
int search_ann_shard(SearchSpace *sp, const float *Q, int nq, SearchHit *local, SearchStats *st, AmError *err);

#endif
