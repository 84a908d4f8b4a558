// astromm eval for Zoobot models (model.family = "convnext"): a trained vote
// model (or a ConvNeXt fine-tuned on a vote schema, checkpoint task
// "image_votes") on a split of an image dataset, measured the way Zoobot
// reports it.
// Per question, over the objects asked it (N > 0), the mean absolute error of
// the vote fractions (averaged over its answers):
//   model    predicted alpha / alpha_0 against the measured k / N
//   baseline the training split's mean fractions against the measured ones
// and, when the dataset knows the true probabilities (/truth, synthetic
// galaxies): the model and the baseline against the truth, and the noise floor
// (the measured fractions against the truth: what finite votes allow).
// Also the majority-answer accuracy on questions with >= 10 votes.
// Distributed like training: every rank runs its rows; sums are all-reduced.
#ifndef ASTROMM_VOTE_EVAL_H
#define ASTROMM_VOTE_EVAL_H

#include <stdint.h>

#include "config/run_config.h"
#include "core/error.h"
#include "core/vote_schema.h"
#include "mpi/comm.h"

enum { VE_MODEL, VE_BASELINE, VE_MODEL_TRUTH, VE_BASELINE_TRUTH, VE_NOISE_FLOOR, VE_N };

typedef struct {
    VoteSchema schema;
    int has_truth;
    double err[VE_N][VOTE_MAX_QUESTIONS];  // mean |fraction error| per question
    int64_t rows[VOTE_MAX_QUESTIONS];      // objects asked each question
    int64_t objects, majority_right, majority_total;
} VoteEval;

// 0, 1 (error, printed by rank 0 with who), 2 (bad configuration).
int vote_eval_run(const RunConfig *cfg, Comm *comm, const char *checkpoint, int split, const char *who, VoteEval *out);
// Rank 0: metrics.json into out_dir (created), and a table on stdout.
int vote_eval_report(const VoteEval *e, const char *out_dir, const char *checkpoint, const char *split_name, AmError *err);

#endif
