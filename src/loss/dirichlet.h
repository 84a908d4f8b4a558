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

#endif
