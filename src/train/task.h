// What the trainer trains: CLIP pre-training (astromm train) or classification
// fine-tuning (astromm finetune). The trainer (train/trainer.c) owns the loop,
// optimiser, schedule, checkpoints and logs; a task owns the model, which data
// it reads, and one step / one evaluation batch.
#ifndef ASTROMM_TASK_H
#define ASTROMM_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "config/run_config.h"
#include "core/error.h"
#include "data/loader/loader.h"
#include "models/astrom3.h"
#include "mpi/comm.h"
#include "train/cls_step.h"
#include "train/dist_step.h"
#include "train/image_ft_step.h"
#include "train/metrics.h"
#include "train/vote_step.h"

// TASK_VOTES: Zoobot's supervised pre-training of a ConvNeXt on galaxy images
// from volunteer votes (train/vote_step.h), for model.family = "convnext".
// TASK_IMAGE_FT: fine-tuning a ConvNeXt with a new head on labelled images
// (astromm finetune of model.family = "convnext"; train/image_ft_step.h).
enum { TASK_CLIP = 0, TASK_CLASSIFY = 1, TASK_VOTES = 2, TASK_IMAGE_FT = 3 };
// 1 for the tasks that read image datasets.
int task_reads_images(int kind);

typedef struct {
    float loss;            // global mean loss of the batch
    float part[3];         // CLIP pair losses (ps, sm, mp); 0 for classification
    int64_t correct, n;    // global: rows counted correct (CLIP accuracy / class), valid rows
                           // (votes: majority answers right / questions with enough votes)
    int64_t rows;          // global rows the loss is a mean over (validation weights batches by it)
    double comm_seconds;
    // votes: per-question sums of |vote-fraction error| and their counts (global)
    double mae_sum[VOTE_MAX_QUESTIONS], mae_n[VOTE_MAX_QUESTIONS];
} TaskStats;

typedef struct {
    int kind;
    const char *name;      // "clip" | "classify" (checkpoint metadata, logs)
    const char *acc_name;  // "CLIP accuracy" | "accuracy"
    const char *acc_key;   // metrics.jsonl key: "clip_acc" | "acc"
    AstroM3 m;             // TASK_CLIP, TASK_CLASSIFY
    ZoobotModel zm;        // TASK_VOTES
    ImageClassifier ic;    // TASK_IMAGE_FT
    ImageFtStep ift;       // TASK_IMAGE_FT
    VoteStep votes;        // TASK_VOTES
    VoteSchema schema;     // TASK_VOTES, TASK_IMAGE_FT with a vote target
    ParamStore *params;    // the task's model's parameters (what the optimiser and checkpoints see)
    size_t ranges[CLS_MAX_RANGES][2];  // trained float ranges of *params
    float range_lr[CLS_MAX_RANGES];    // their learning-rate multipliers, when range_lr_set
    int n_ranges, range_lr_set;
    DistStep dist;         // TASK_CLIP
    ClsStep cls;           // TASK_CLASSIFY
} TrainTask;

// Loader settings of the task's training and validation data.
void task_loader_configs(int kind, const RunConfig *cfg, LoaderConfig *train, LoaderConfig *val);
// Creates the model for local batches of local_b (classification: the head of
// finetune.head, initialised from finetune.init when set; votes: a head for
// every answer of schema, which the star tasks ignore; image fine-tuning: a
// head for n_classes, the encoder from finetune.init when set). Collective.
int task_setup(TrainTask *t, int kind, const RunConfig *cfg, Comm *comm, int local_b, const VoteSchema *schema,
               int n_classes, AmError *err);
void task_free(TrainTask *t);
// Forward + backward of the rank's rows (db on the op device, lb on the host);
// averaged gradients in t->m.params.grad.
TaskStats task_step(TrainTask *t, const Batch *db, const LoaderBatch *lb, const StepCtx *ctx);
TaskStats task_evaluate(TrainTask *t, const Batch *db, const LoaderBatch *lb, const StepCtx *ctx);
// The task's own fields of a step line.
void task_log_fields(TrainTask *t, MetricsWriter *w, const TaskStats *st);
// Metadata of checkpoints ("task", "head").
const char *task_head_name(const TrainTask *t);

#endif
