// Trainer state beside a model checkpoint, and the checkpoint directory.
//
// A checkpoint is one directory per optimizer step, <root>/step_00001234/, holding
// CKPT_MODEL_FILE (the parameters, safetensors, written by the caller, with
// metadata "step" and "config_hash") and CKPT_STATE_FILE (this module's file,
// written LAST: its presence and checksum, and the model checksum it records, are
// what make the checkpoint complete). Resuming = ckpt_latest_valid (ckpt_verify
// of each directory, newest first), then train_state_read and st_open of the
// model file.
//
// State file (little-endian host, like safetensors), version TRAIN_STATE_VERSION:
//   header  : magic "AMSTATE\0" (8 bytes), u32 version, u32 header bytes (32),
//             u64 payload bytes, u32 CRC-32 (zlib) of the payload, u32 zero
//   payload : i64 step, epoch, loader_epoch, loader_batch; u64 seed, config_hash;
//             i64 n_ranks; f64 best_metric; i64 adam_t; u64 n; u64 schedule bytes;
//             [version >= 2:] u64 model_bytes, u64 model_crc (CRC-32 of the whole
//             model file, in the low 32 bits);
//             [version >= 3:] u64 schedule layout (SCHED_STATE_VERSION);
//             the schedule, field by field (sched_pack); f32 m[n]; f32 v[n]
// Versions 1 and 2 (no model checksum; the schedule as the struct's bytes, which
// is schedule layout 1) are still read: st->version says which. A layout this
// build does not know is refused with the way to continue from the weights.
// Written to "<path>.tmp.<pid>", fflush + fsync, renamed over path, directory
// fsynced: a crash leaves the old file or the new one, never a mix.
//
// All functions are plain file I/O with no MPI: the trainer calls the writers,
// ckpt_prune and the set-aside/clean-up helpers on rank 0 only (holding the run
// lock, train/run_lock.h); every rank may read.
#ifndef ASTROMM_TRAIN_STATE_H
#define ASTROMM_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "train/schedule.h"

#define TRAIN_STATE_VERSION 3u
// What a refused state file's message says: the weights beside it still load.
#define TRAIN_STATE_WEIGHTS_HINT                                                                    \
    "The model file beside it (model.safetensors) still loads: fine-tune, embed or evaluate from "  \
    "its weights (astromm finetune --init FILE, embed --checkpoint FILE, eval --checkpoint FILE) in "   \
    "a new run directory; the optimizer moments and the schedule of this run cannot be resumed"
#define CKPT_MODEL_FILE "model.safetensors"
#define CKPT_STATE_FILE "state.bin"
#define CKPT_TORN_DIR "torn"  // <root>/torn/: invalid checkpoint directories are moved here

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
    // The model file written with this state (ckpt_model_checksum of it): its size in
    // bytes and CRC-32. Written as given; read back from a version-2 file (0 from v1).
    uint64_t model_bytes;
    uint32_t model_crc;
    uint32_t version;      // read: the file's format version (1: no model checksum)
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
// schedule state from another build or failing sched_check. Returns 2 (not 1) when
// the only problem is the parameter count (an intact file for another model). On
// failure *st's scalar fields and the m/v buffers hold unspecified data.
int train_state_read(const char *path, TrainState *st, AmError *err);

// Size and CRC-32 (zlib) of the whole file at path, for TrainState.model_bytes/model_crc.
// Non-zero with err naming the file when it cannot be read.
int ckpt_model_checksum(const char *path, uint64_t *bytes, uint32_t *crc, AmError *err);
// The last write of a checkpoint: sets st->model_bytes/model_crc from <dir>/model.safetensors
// (already written) and writes <dir>/state.bin (train_state_write). Every checkpoint
// writer must use this (or do the same): a state without the model's checksum is
// refused on resume.
int ckpt_write_state(const char *dir, TrainState *st, AmError *err);

// Content checks of an open model file (safetensors): its "data_crc32" metadata, when
// present (params_save writes it: CRC-32 of the tensors' bytes concatenated in
// data-offset order, 8 hex digits), must match the tensor bytes, and every F32/F64
// tensor must be finite. 0 when fine. Otherwise non-zero with err naming the file and
// the first problem (for a non-finite value: the tensor, the element index and the
// count of non-finite values). *has_crc (may be NULL) tells whether the file records
// a data checksum at all.
int ckpt_model_content_check(const StFile *f, int *has_crc, AmError *err);

// ---------------------------------------------------------------- checkpoint directory
// Warnings of the directory functions go to a sink (NULL to drop them); each call
// receives one complete line (file, what is wrong, what was done about it).
typedef void CkptWarnFn(void *ctx, const char *msg);

// "<root>/step_%08lld" into out (cap bytes). Non-zero with err when it does not fit.
int ckpt_dir_for_step(char *out, size_t cap, const char *root, int64_t step, AmError *err);
// Creates root (if missing) and its step directory (mkdir -p of one level; both may
// exist already), fsyncs root so the new entry survives a crash; out as above.
int ckpt_make_dir(char *out, size_t cap, const char *root, int64_t step, AmError *err);
// Steps of the checkpoint directories under root (names "step_" + digits), ascending,
// complete or not. *steps is malloc'ed (free it; NULL when *count is 0). A missing
// root is an empty list, not an error.
int ckpt_list(const char *root, int64_t **steps, size_t *count, AmError *err);

// Verifies the checkpoint directory <root>/step_<step> as a whole:
//   1. state.bin passes train_state_read with n_params parameters and records `step`;
//   2. model.safetensors passes st_open (structure, not truncated) and its metadata
//      "step" and "config_hash" equal the state's (a state from another checkpoint or
//      another run is refused);
//   3. the model file's size and CRC-32 equal those state.bin records (version 2; a
//      version-1 state records none: a note goes to warn and the model is checked by
//      steps 2 and 4 only);
//   4. ckpt_model_content_check (data checksum when recorded, finite tensors).
// 0 when valid (*out, when non-NULL, receives the state's scalar fields); non-zero
// with err naming the offending file and the reason: 2 when the state is intact but
// holds another parameter count (train_state_read), 1 for anything else.
int ckpt_verify(const char *root, int64_t step, size_t n_params, TrainState *out, CkptWarnFn *warn, void *ctx,
                AmError *err);

// Moves the directory <root>/step_<step> into <root>/torn/ (created when missing) as
// step_NNNNNNNN, or step_NNNNNNNN.K when that name is taken; the new path goes to
// dest (cap bytes, may be NULL). Non-zero with err when the rename fails.
int ckpt_set_aside(const char *root, int64_t step, char *dest, size_t cap, AmError *err);

// Keeps the newest keep_last_k (>= 1) VALID checkpoints (ckpt_verify with n_params),
// newest first: an invalid (torn) directory among them does not count and is moved
// aside (ckpt_set_aside) with a warning; every directory older than the k-th valid
// one is deleted. Never touches the one at protect_path (the best checkpoint; same
// directory by device/inode, NULL for none). Deleting removes the state file first,
// so an interrupted prune leaves an incomplete checkpoint that ckpt_verify refuses.
// A directory with a sub-directory inside is refused. Non-zero with err on a
// failure to list, move or delete.
int ckpt_prune(const char *root, int keep_last_k, const char *protect_path, size_t n_params, CkptWarnFn *warn,
               void *ctx, AmError *err);

// Walks checkpoints newest -> oldest and picks the newest that passes ckpt_verify
// with n_params parameters. Returns 0 with *step (-1 when no checkpoint is valid or
// root is missing: start fresh) and dir_out (cap bytes) set; each skipped checkpoint
// is reported to warn (file and reason). With set_aside, every skipped directory
// (all newer than the chosen one) is also moved to <root>/torn/ (ckpt_set_aside) so
// that no later prune or checkpoint of the same step mixes with it, except those
// that are intact but written for another parameter count (ckpt_verify 2: left in
// place). A failed move is reported to warn. Non-zero with err only when root cannot
// be listed.
int ckpt_latest_valid(const char *root, size_t n_params, int64_t *step, char *dir_out, size_t cap, int set_aside,
                      CkptWarnFn *warn, void *ctx, AmError *err);

// Removes leftover temporary files "<name>.tmp.<pid>" (what the atomic writers
// leave when killed) whose pid is not this process's, in dir (not recursive).
// Returns the number removed (>= 0), each reported to warn; -1 with err when dir
// cannot be listed (a missing dir is 0). Call only while holding the run lock.
int ckpt_remove_stale_tmp(const char *dir, CkptWarnFn *warn, void *ctx, AmError *err);

#endif
