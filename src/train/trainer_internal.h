// Internals shared by the trainer's two files: trainer.c (set-up, the epoch
// loop, steps, validation, logs) and trainer_ckpt.c (checkpoints and resume).
#ifndef ASTROMM_TRAINER_INTERNAL_H
#define ASTROMM_TRAINER_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "data/device_batch.h"
#include "data/loader.h"
#include "optim/adam.h"
#include "train/metrics.h"
#include "train/schedule.h"
#include "train/task.h"
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
    char best_dir[PATH_CAP + 8];
} Trainer;

// trainer.c
void trainer_say(Trainer *T, FILE *to, const char *fmt, ...) AM_PRINTF(3, 4);
int trainer_any_failed(Trainer *T, int failed);
// trainer_ckpt.c: collective; rank 0 writes. is_best: the checkpoint becomes run_dir/best.
int trainer_checkpoint(Trainer *T, int is_best);
// Loads the newest valid checkpoint of run_dir (required: fail when none).
int trainer_resume(Trainer *T, int required);

#endif
