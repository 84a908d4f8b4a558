// Anomaly finding for one researcher (astromm anomalies): Gaussian-process
// active learning on a representation, as Walmsley et al. 2022 (Zoobot).
//
// The pool: the rows of an embeddings file having the embedding (optionally of
// one split) -> PCA (40) -> each component standardised (mean 0, sd 1). The
// researcher scores galaxies 0..5 for interest. The first `seeds` (10) labels
// are drawn at random (Philox, purpose RNG_ACTIVE, step = the round); after
// that each round fits the GP (eval/gp.h) to the scores so far and asks for
// the `batch` (10) unlabelled galaxies of highest expected improvement over
// the best score seen, until `budget` (200) labels. The ranking: a labelled
// galaxy's own score, else the GP's posterior mean; highest first, ties by
// pool order.
//
// Determinism: the pool, the PCA (fixed-order sums) and the seed draws are
// bitwise the same everywhere; the GP goes through LAPACK, so its numbers
// (and, at a near tie in expected improvement, a choice) may differ across
// BLAS kernels in the last bits, never on one machine.
#ifndef ASTROMM_ANOMALIES_H
#define ASTROMM_ANOMALIES_H

#include <stdint.h>

#include "core/error.h"
#include "eval/embeddings_file.h"

typedef struct {
    int pca;        // components kept (Zoobot: 40)
    int seeds;      // random labels before the first GP round (10)
    int batch;      // labels asked per round (10)
    int budget;     // labels in all (200)
    uint64_t seed;  // for the random seed labels
} AnomalyOptions;

void anomaly_options_defaults(AnomalyOptions *o);

typedef struct {
    int64_t n;     // galaxies in the pool
    int d;         // standardised PCA components
    int64_t *row;  // [n] row in the embeddings file
    double *Z;     // [n, d]
} AnomalySpace;

// The pool of slot (rows with it, of split unless -1, and with a label when
// labelled_only). pca <= the embedding dimension and < the pool size.
int anomaly_space(const EmbSet *s, int slot, int split, int labelled_only, int pca, AnomalySpace *out, AmError *err);
void anomaly_space_free(AnomalySpace *sp);

// The pool indices to label next (at most o->batch, or the seed labels still
// missing; fewer when the budget or the pool runs out) given the n_lab labelled
// ones (pool indices lab, scores score): *n_next of them into next.
int anomaly_next(const AnomalySpace *sp, const int64_t *lab, const double *score, int n_lab, const AnomalyOptions *o,
                 int64_t *next, int *n_next, AmError *err);

// The ranking after the labels: value[i] (a label, else the posterior mean;
// sd[i] the posterior sd, 0 where labelled) and order[n] (pool indices, best first).
int anomaly_rank(const AnomalySpace *sp, const int64_t *lab, const double *score, int n_lab, double *value, double *sd,
                 int64_t *order, AmError *err);

// Label-free baseline: distance from the mean in the standardised PCA space,
// as value and order (farthest first).
void anomaly_baseline(const AnomalySpace *sp, double *value, int64_t *order);

// Fraction of the first k of order that are interesting (interesting[pool index]).
double anomaly_precision_at(const int64_t *order, int64_t n, const uint8_t *interesting, int64_t k);

#endif
