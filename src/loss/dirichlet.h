// Zoobot's loss: the Dirichlet-multinomial negative log-likelihood of the
// volunteers' vote counts, questions independent, summed over questions and
// averaged over the (global) batch. A question nobody was asked (all counts 0)
// adds exactly zero loss and gradient, so missing votes need no mask.
#ifndef ASTROMM_DIRICHLET_H
#define ASTROMM_DIRICHLET_H

#include <stdint.h>

#define VOTE_MAX_QUESTIONS 64

// A question schema: question q owns the contiguous answer columns
// first[q]..last[q]; answers = last[n_questions-1] + 1.
typedef struct {
    int n_questions, answers;
    int32_t first[VOTE_MAX_QUESTIONS], last[VOTE_MAX_QUESTIONS];
    char names[VOTE_MAX_QUESTIONS][48];
} VoteSchema;

// GZ DECaLS: 10 questions, 34 answers (smooth-or-featured 3, disk-edge-on 2,
// has-spiral-arms 2, bar 3, bulge-size 5, how-rounded 3, edge-on-bulge 3,
// spiral-winding 3, spiral-arm-count 6, merging 4).
void vote_schema_gz_decals(VoteSchema *s);
// One question of n answers (a class column trains the same head).
void vote_schema_single(VoteSchema *s, const char *name, int n);

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
