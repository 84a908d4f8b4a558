// Per-epoch learning-rate schedule and early stopping for `astromm train`,
// matching the AstroM3 recipe built from torch schedulers:
//
//   warm-up : torch.optim.lr_scheduler.LinearLR(start_factor, end_factor=1,
//             total_iters=warmup_epochs), stepped once per epoch, reproduced with
//             torch's own recursive double-precision formula (bit-identical lr).
//   then    : SCHED_PLATEAU: ReduceLROnPlateau(mode="min", factor, patience,
//             threshold, threshold_mode="rel", cooldown=0, min_lr, eps=1e-8),
//             stepped with the validation loss of each epoch after warm-up; or
//             SCHED_COSINE: min_lr + (lr - min_lr) * (1 + cos(pi * k / K)) / 2 for
//             k = epoch - warmup_epochs, K = total_epochs - warmup_epochs (torch
//             CosineAnnealingLR's closed form).
//   early stopping on the validation loss, independent of the lr schedule: a
//   strictly lower loss is a new best; after `early_stop_patience` consecutive
//   epochs without one, sched_end_epoch returns 1 (0 = never stop).
//
// The trainer's loop:   for (;;) { optimizer.lr = sched_lr(&s); train epoch;
//                                  validate; if (sched_end_epoch(&s, val)) break; }
// i.e. the schedulers are stepped after validation, exactly as the reference does
// "warmup.step() if epoch < warmup_epochs else plateau.step(val_loss)".
//
// Schedule is plain data (8-byte fields only): a checkpoint stores it field by
// field (sched_pack, layout SCHED_STATE_VERSION, schedule_state.c) and a
// restore continues bit-exactly; sched_unpack validates what it restores.
#ifndef ASTROMM_SCHEDULE_H
#define ASTROMM_SCHEDULE_H

#include <stdint.h>

#include "core/error.h"

enum { SCHED_PLATEAU = 0, SCHED_COSINE = 1 };

typedef struct {
    double lr;                   // base (peak) learning rate, > 0
    double warmup_start_factor;  // first warm-up epoch uses lr * this (reference 1e-5), in (0, 1]
    int64_t warmup_epochs;       // reference 10; 0 = no warm-up
    int64_t kind;                // SCHED_PLATEAU (reference) or SCHED_COSINE
    double factor;               // plateau: lr *= factor on a plateau, in (0, 1) (reference 0.1125)
    int64_t patience;            // plateau: bad epochs tolerated before reducing (reference 3)
    double threshold;            // plateau: relative improvement needed, "rel" mode (torch default 1e-4)
    double min_lr;               // floor of both decays (reference 0), >= 0 and <= lr
    int64_t total_epochs;        // cosine: epochs of the whole run (> warmup_epochs); plateau: unused
    int64_t early_stop_patience; // reference 6; 0 = no early stopping
} ScheduleConfig;

typedef struct {
    uint64_t magic;          // SCHED_MAGIC, so restored garbage is detected by sched_check
    ScheduleConfig cfg;      // copied: the state is self-contained
    int64_t epoch;           // epochs completed (sched_end_epoch calls)
    double lr;               // lr for epoch `epoch` (double, as torch keeps it)
    int64_t warmup_iter;     // LinearLR.last_epoch
    double plateau_best;     // ReduceLROnPlateau.best (+inf until its first step)
    int64_t plateau_bad;     // ReduceLROnPlateau.num_bad_epochs
    int64_t n_reductions;    // times the plateau rule cut the lr (for logs)
    double best_val;         // lowest validation loss so far (+inf before the first)
    int64_t best_epoch;      // epoch index (0-based) of best_val, -1 before the first
    int64_t es_bad;          // epochs since best_val improved
    int64_t last_improved;   // 1 when the latest sched_end_epoch set a new best_val
    int64_t stopped;         // 1 once early stopping fired
} Schedule;

#define SCHED_MAGIC 0x3164656863536d41ull  // "AmSched1" little-endian

// The reference recipe (AstroM3 CLIP pre-training) for base lr `lr`.
void sched_config_default(ScheduleConfig *c, double lr);
// 0 on success; non-zero with err naming the bad field (config values come from
// users, so they are reported, not fatal). s is fully initialised (zeroed first).
int sched_init(Schedule *s, const ScheduleConfig *c, AmError *err);
// The learning rate to use for the current epoch (rounded to float for the optimizer).
float sched_lr(const Schedule *s);
// Ends the current epoch with its validation loss (NaN counts as no improvement):
// updates best/early stopping, steps the lr schedule, advances epoch. Returns 1
// when training should stop (early stopping), else 0. s->last_improved tells the
// caller to keep this epoch as the best checkpoint.
int sched_end_epoch(Schedule *s, double val_loss);
// Validates a Schedule restored from bytes (magic, config, counters); 0 if sane.
int sched_check(const Schedule *s, AmError *err);

// The state in a checkpoint: SCHED_STATE_FIELDS 8-byte fields in a fixed order.
// Adding, removing or reordering a field of Schedule means a new layout: bump
// SCHED_STATE_VERSION and teach sched_unpack the old one (or let it be refused,
// which the trainer reports with the way to continue from the weights).
#define SCHED_STATE_VERSION 1u
#define SCHED_STATE_FIELDS 22
#define SCHED_STATE_BYTES (8 * SCHED_STATE_FIELDS)
void sched_pack(const Schedule *s, unsigned char out[SCHED_STATE_BYTES]);
// The state of layout version from bytes bytes; 0, or non-zero with err set
// (an unknown layout, a wrong size, or values sched_check refuses).
int sched_unpack(Schedule *s, const unsigned char *in, uint64_t bytes, uint32_t version, AmError *err);

#endif
