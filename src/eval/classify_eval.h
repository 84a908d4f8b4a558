// Evaluation of a fine-tuned classifier (astromm eval) on the labelled objects
// of a split: every rank classifies its block of each batch, optionally over K
// light-curve windows whose class probabilities are averaged (test-time
// averaging); rank 0 gathers one row per object, predicts from the mean
// probabilities and keeps the confusion matrix, the predictions and the loss.
#ifndef ASTROMM_CLASSIFY_EVAL_H
#define ASTROMM_CLASSIFY_EVAL_H

#include <stdint.h>

#include "config/run_config.h"
#include "core/error.h"
#include "eval/confusion.h"
#include "mpi/comm.h"

typedef struct {
    const char *checkpoint;  // a fine-tuned model (task "classify")
    int head;                // its head and live classes, as classify_eval_checkpoint read them
    const char *class_live;
    int split;               // DS_SPLIT_*
    int subset_bits;         // DS_SUB* (limited-label subset) or 0
    int crops;               // light-curve windows per object, 1..64 (1: the centred one)
    const char *who;         // prefix of error messages ("astromm eval")
} ClassifyEvalOptions;

typedef struct {
    int head;              // the checkpoint's head (a modality mask)
    int n_classes;
    char **class_names;    // the dataset's class names
    // Rank 0 only: one row per evaluated object, in loader order.
    Confusion conf;
    int64_t n, cap;
    int64_t *id;
    int32_t *label, *pred;
    float *prob;           // probability of the predicted class
    double loss;           // mean cross-entropy (one window: the step's own; several: of the mean probabilities)
} ClassifyEval;

// The head the checkpoint carries and which classes it may predict (class_live:
// '1'/'0' per class, "" when the checkpoint predates it). 0; 1 when the file
// cannot be read; 2 when it has no classifier head (err says how to get one).
int classify_eval_checkpoint(const char *path, int *head, char *class_live, size_t cap, AmError *err);
// Collective. 0, or the exit code (1: a failure, 2: a configuration that does not
// fit the data or the checkpoint), the reason already printed by the rank that saw it.
int classify_eval_run(const RunConfig *cfg, Comm *comm, const ClassifyEvalOptions *o, ClassifyEval *out);
// Rank 0: metrics.json (with the n_extra key/value pairs of extra), confusion.csv
// and predictions.csv into out_dir (created), each written atomically.
int classify_eval_write(const ClassifyEval *e, const char *out_dir, const char *const *extra, int n_extra,
                        AmError *err);
void classify_eval_free(ClassifyEval *e);
// Rank 0: appends one evaluated object (id, true class, predicted class, its probability).
void classify_eval_push(ClassifyEval *e, int64_t id, int32_t label, int32_t pred, float prob);

#endif
