// Internals shared by the trainer's two files: trainer.c (set-up, the epoch
// loop, steps, validation, logs) and trainer_ckpt.c (checkpoints and resume).
#ifndef ASTROMM_TRAINER_INTERNAL_H
#define ASTROMM_TRAINER_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "models/device_batch.h"
#include "data/loader/loader.h"
#include "optim/adam.h"
#include "train/metrics.h"
#include "train/preempt_writer.h"
#include "train/run_lock.h"
#include "train/schedule.h"
#include "train/task.h"
#include "train/train_state.h"
#include "train/trainer.h"

#define PATH_CAP 1200

typedef struct {
    const RunConfig *cfg;
    Comm *comm;
    int rank, size, local_b;
    int64_t B;
    int kind;                // TASK_*
    Loader *train, *val;
    TrainTask task;
    AstroM3 *m;              // &task.m
    DeviceBatch dev;
    Adam opt;
    Schedule sched;
    size_t n;
    float *host_m, *host_v;  // host copies of the moments (CUDA only; else the moments)
    MetricsWriter metrics;
    int metrics_open;
    FILE *log;
    Progress prog;
    char root[PATH_CAP];     // checkpoints/
    uint64_t config_hash;
    int64_t step, epoch, last_ckpt;
    double best_acc;
    double best_loss;  // this process's lowest validation loss (the best epoch where accuracy counts nothing)
    char best_dir[PATH_CAP + 8];
    char class_live[4097];  // classification: '1'/'0' per class (checkpoint metadata class_live), "" if unknown
    RunLock lock;            // rank 0: run_dir/.lock, held from set-up to teardown
    // Preemption (trainer_preempt.c). The lock guards what a checkpoint holds;
    // snap is that state at the last step boundary (the writer thread's input).
    PreemptWriter pw;
    TrainState snap;
    int64_t written_step;    // rank 0, under pw's lock: newest checkpoint directory written (-1: none)
} Trainer;

// trainer.c
void trainer_say(Trainer *T, FILE *to, const char *fmt, ...) AM_PRINTF(3, 4);
// trainer_ckpt.c: collective; rank 0 writes. is_best: the checkpoint becomes run_dir/best.
int trainer_checkpoint(Trainer *T, int is_best);
// Loads the newest valid checkpoint of run_dir (required: fail when none). Rank 0
// first removes stale temporary files, moves invalid checkpoints newer than the
// chosen one to checkpoints/torn/ and cuts metrics.jsonl back to the resume step.
int trainer_resume(Trainer *T, int required);
// Rank 0: takes the run-directory lock (train/run_lock.h); non-zero (message
// printed) when another job holds it. Other ranks: no-op.
int trainer_lock_run_dir(Trainer *T);
void trainer_unlock_run_dir(Trainer *T);
// Under pw's lock: T->snap := the live state (call after changing it).
void trainer_snapshot(Trainer *T);
// Rank 0, under pw's lock: writes the checkpoint directory of T->snap (model,
// then state; skipped when written_step already is that step); dir receives it.
// No collectives: the preemption thread calls it too.
int trainer_write_checkpoint(Trainer *T, char *dir, size_t cap, AmError *err);
// trainer_preempt.c
int trainer_start_preempt_writer(Trainer *T);   // after resume
int trainer_preempted(Trainer *T);              // collective, once every rank knows of a signal
void trainer_clear_preempted_marker(Trainer *T);  // rank 0 at set-up: run_dir/preempted
// "the last good checkpoint is kept: step N (<dir>)", or that there is none yet.
const char *trainer_kept_ckpt(const Trainer *T, char *buf, size_t cap);

#endif
