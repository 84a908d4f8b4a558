// Zoobot's loss: the Dirichlet-multinomial negative log-likelihood of the
// volunteers' vote counts, questions independent, summed over questions and
// averaged over the (global) batch. A question nobody was asked (all counts 0)
// adds exactly zero loss and gradient, so missing votes need no mask.
#ifndef ASTROMM_DIRICHLET_H
#define ASTROMM_DIRICHLET_H

#include <stdint.h>

#include "core/vote_schema.h"

typedef struct {
    VoteSchema schema;
    int32_t *first, *last;  // on the op device
    float *nll;             // [max_batch] per-sample loss (op device)
    float *nll_host;        // [max_batch] its host copy
    int max_batch;
} DirichletLoss;

void dirichlet_loss_init(DirichletLoss *l, const VoteSchema *s, int max_batch);
void dirichlet_loss_free(DirichletLoss *l);
// Sum over this rank's B samples of the per-sample loss (reduce it across
// ranks and divide by the global batch for the mean).
double dirichlet_loss_forward(DirichletLoss *l, const float *alpha, const float *counts, int B);
// dalpha += d(sum of the per-sample losses)/dalpha * scale (scale = 1 / global batch).
void dirichlet_loss_backward(DirichletLoss *l, float *dalpha, const float *alpha, const float *counts, int B,
                             float scale);

#define VOTE_MAJORITY_MIN 10  // votes a question needs to count in the majority-answer accuracy
// The schema's threshold (VoteSchema.majority_min, default VOTE_MAJORITY_MIN).
int vote_majority_min(const VoteSchema *s);

// One object's question q, for the vote metrics: the votes N it got, and
// (when N > 0) the sum over its answers of |alpha_a / alpha_0 - k_a / N| and
// whether the predicted majority answer (largest alpha) is the volunteers'
// (largest k; the first on ties). Returns 0 when nobody was asked (N == 0).
int vote_question_errors(const VoteSchema *s, int q, const float *alpha, const float *k, double *n_votes,
                         double *abs_err_sum, int *majority_right);

#endif
