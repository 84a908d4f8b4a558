// `astromm train` / `astromm finetune`: data-parallel training of AstroM3 over
// MPI ranks — CLIP pre-training, or classification fine-tuning (train/task.h).
//
// Composition only: the parallel loader (data/loader.h) feeds each rank its
// block of the global batch; dist_step (train/dist_step.h) computes the loss
// over the global contrastive matrix and leaves averaged gradients; global-norm
// clipping and Adam/AdamW update every replica identically; the schedule
// (train/schedule.h) sets the lr per epoch and decides early stopping;
// checkpoints (train/train_state.h) hold everything a bit-identical resume
// needs: parameters, Adam moments and step, schedule, loader position.
//
// Run directory (run.dir): config.cfg (the resolved configuration),
// metrics.jsonl, train.log, checkpoints/step_NNNNNNNN/{model.safetensors,
// state.bin}, best -> checkpoints/step_... (best validation CLIP accuracy).
// A run directory that holds a valid checkpoint is resumed automatically.
//
// Exit codes (also in docs/training.md): 0 finished (epochs, max_steps or early
// stopping), 1 error, 2 bad configuration or arguments, 3 preempted
// (SIGTERM/SIGUSR1: checkpoint written, requeue), 4 non-finite loss or
// gradients (last good checkpoint kept).
#ifndef ASTROMM_TRAINER_H
#define ASTROMM_TRAINER_H

#include "config/run_config.h"
#include "mpi/comm.h"

enum { TRAIN_OK = 0, TRAIN_ERROR = 1, TRAIN_BAD_CONFIG = 2, TRAIN_PREEMPTED = 3, TRAIN_NONFINITE = 4 };

typedef struct {
    int require_resume;  // --resume: fail when the run directory has no valid checkpoint
    int classify;        // astromm finetune: the classification task (train/task.h) instead of CLIP
} TrainOptions;

// Collective. Returns one of the exit codes above (the same on every rank).
int trainer_run(const RunConfig *cfg, Comm *comm, const TrainOptions *opt);

#endif
