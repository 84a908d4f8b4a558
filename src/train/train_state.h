// Trainer state beside a model checkpoint, and the checkpoint directory.
//
// A checkpoint is one directory per optimizer step, <root>/step_00001234/, holding
// CKPT_MODEL_FILE (the parameters, safetensors, written by the caller) and
// CKPT_STATE_FILE (this module's file, written LAST: its presence and checksum
// are what make the checkpoint complete). Resuming = ckpt_latest_valid, then
// train_state_read and st_open of the model file.
//
// State file (little-endian host, like safetensors), version TRAIN_STATE_VERSION:
//   header  : magic "AMSTATE\0" (8 bytes), u32 version, u32 header bytes (32),
//             u64 payload bytes, u32 CRC-32 (zlib) of the payload, u32 zero
//   payload : i64 step, epoch, loader_epoch, loader_batch; u64 seed, config_hash;
//             i64 n_ranks; f64 best_metric; i64 adam_t; u64 n; u64 sizeof(Schedule);
//             Schedule bytes; f32 m[n]; f32 v[n]
// Written to "<path>.tmp.<pid>", fflush + fsync, renamed over path, directory
// fsynced: a crash leaves the old file or the new one, never a mix.
//
// All functions are plain file I/O with no MPI: the trainer calls the writers and
// ckpt_prune on rank 0 only; every rank may read.
#ifndef ASTROMM_TRAIN_STATE_H
#define ASTROMM_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "train/schedule.h"

#define TRAIN_STATE_VERSION 1u
#define CKPT_MODEL_FILE "model.safetensors"
#define CKPT_STATE_FILE "state.bin"

typedef struct {
    int64_t step;          // optimizer steps taken (global, not per rank)
    int64_t epoch;         // epochs completed
    int64_t loader_epoch;  // loader position to resume at: epoch being read ...
    int64_t loader_batch;  // ... and the next (global) batch index within it
    uint64_t seed;         // run seed (data order and dropout derive from it)
    uint64_t config_hash;  // train_config_hash of the resolved config text
    int64_t n_ranks;       // world size that wrote it (the caller decides if a change is allowed)
    double best_metric;    // best validation metric so far (caller's choice of metric)
    Schedule sched;        // lr schedule + early stopping, restored bit-exactly
    int64_t adam_t;        // Adam step count (bias correction)
    // Moments, HOST memory (copy from/to the device with ops_to_host/ops_to_device).
    // Borrowed, never freed here. Write: n floats read from each. Read: n is the
    // parameter count the caller expects and m, v receive n floats each (either
    // may be NULL to only verify the file).
    size_t n;
    float *m, *v;
} TrainState;

// 64-bit FNV-1a of a NUL-terminated text (the resolved config), so a resume can
// notice that the configuration changed. NULL hashes like "".
uint64_t train_config_hash(const char *text);

// Atomic write (see above). 0 on success; non-zero with err naming path and the
// failing call on I/O failure, and then no temporary file is left behind and an
// existing file at path is untouched. Dies on programmer errors (n > 0 with NULL m/v).
int train_state_write(const char *path, const TrainState *st, AmError *err);
// Reads and validates path into *st (st->n, st->m, st->v are inputs, see above;
// every other field is overwritten). Refuses, with an err naming the file and the
// problem: missing/unreadable file, bad magic, unknown version, truncated or
// over-long file, payload checksum mismatch, parameter count different from st->n,
// schedule state from another build or failing sched_check. On failure *st's
// scalar fields and the m/v buffers hold unspecified data.
int train_state_read(const char *path, TrainState *st, AmError *err);

// ---------------------------------------------------------------- checkpoint directory
// "<root>/step_%08lld" into out (cap bytes). Non-zero with err when it does not fit.
int ckpt_dir_for_step(char *out, size_t cap, const char *root, int64_t step, AmError *err);
// Creates root (if missing) and its step directory (mkdir -p of one level; both may
// exist already), fsyncs root so the new entry survives a crash; out as above.
int ckpt_make_dir(char *out, size_t cap, const char *root, int64_t step, AmError *err);
// Steps of the checkpoint directories under root (names "step_" + digits), ascending,
// complete or not. *steps is malloc'ed (free it; NULL when *count is 0). A missing
// root is an empty list, not an error.
int ckpt_list(const char *root, int64_t **steps, size_t *count, AmError *err);
// Deletes all but the newest keep_last_k (>= 1) checkpoint directories, never the one
// at protect_path (the best checkpoint; same directory by device/inode, NULL for none).
// The state file goes first, so an interrupted prune leaves an incomplete checkpoint
// that ckpt_latest_valid skips. A directory with a sub-directory inside is refused.
int ckpt_prune(const char *root, int keep_last_k, const char *protect_path, AmError *err);
// Walks checkpoints newest -> oldest and picks the newest whose state file passes
// train_state_read with n_params parameters and whose model file exists. Returns 0
// with *step (-1 when no checkpoint is valid or root is missing: start fresh) and
// dir_out (cap bytes) set; each skipped checkpoint is described in warn (pass NULL
// to ignore; warn->msg is "" when none was skipped) for the caller to print on rank 0.
// Non-zero with err only when root cannot be listed.
int ckpt_latest_valid(const char *root, size_t n_params, int64_t *step, char *dir_out, size_t cap,
                      AmError *warn, AmError *err);

#endif
