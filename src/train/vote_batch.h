// The Dirichlet vote target of one local batch, shared by Zoobot's vote
// pre-training (vote_step.h) and vote fine-tuning with a new head
// (image_ft_step.h): the batch's votes on the op device with padding rows
// zeroed (they then add exactly nothing), the local loss sum and Zoobot's
// metrics in one stats vector that the step all-reduces, and the gradient of
// the loss with respect to the concentrations.
//
// Metrics, in the units Zoobot reports: per question, the mean absolute error
// of the predicted vote fractions (alpha / alpha_0) against the measured ones
// (k / N) over the rows asked it (N > 0); and the accuracy of the majority
// answer on questions with at least vote_majority_min votes.
#ifndef ASTROMM_VOTE_BATCH_H
#define ASTROMM_VOTE_BATCH_H

#include <stdint.h>

#include "loss/dirichlet.h"

typedef struct {
    float loss;               // mean NLL over the global rows with votes
    int64_t correct, n;       // majority answers right / questions with >= vote_majority_min votes (global)
    int64_t rows;             // global rows with votes
    double mae_sum[VOTE_MAX_QUESTIONS];  // global sums of |fraction error| per question
    double mae_n[VOTE_MAX_QUESTIONS];    // ... over this many (row, answer) pairs
    double comm_seconds;
} VoteStepResult;

typedef struct {
    DirichletLoss loss;
    int max_local;
    float *dalpha;       // [max_local, A] on the op device
    float *host_alpha;   // [max_local, A]
    float *valid_votes;  // [max_local, A] on the host: the batch's votes, zero on padding rows
    float *dev_votes;    // their device copy (CUDA) or NULL (CPU: valid_votes itself)
} VoteBatch;

// The stats vector: majority right, majority counted, |error| sums [Q],
// answer counts [Q], loss sum, rows with votes.
enum { VOTE_STATS_MAX = 2 + 2 * VOTE_MAX_QUESTIONS + 2 };

void vote_batch_init(VoteBatch *v, const VoteSchema *schema, int max_local);
void vote_batch_free(VoteBatch *v);
int vote_batch_stats_len(const VoteBatch *v);
// The B rows' votes (host, [B, A]) with the rows where valid[b] == 0 zeroed, on
// the op device.
const float *vote_batch_votes(VoteBatch *v, const float *host_votes, const uint8_t *valid, int B);
// The local loss sum, rows with votes and metrics of concentrations alpha
// (op device, [B, A]) against votes (from vote_batch_votes), added into st.
void vote_batch_stats(VoteBatch *v, const float *alpha, const float *votes, int B, double *st);
// v->dalpha = d(sum of the rows' losses)/dalpha * scale; returns v->dalpha.
float *vote_batch_backward(VoteBatch *v, const float *alpha, const float *votes, int B, float scale);
// The step's result from the all-reduced stats.
VoteStepResult vote_batch_result(const VoteBatch *v, const double *st, double comm_seconds);

#endif
