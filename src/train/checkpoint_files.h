// One checkpoint directory written and read, and the run's "best" link: plain
// file I/O with explicit arguments (no trainer, no MPI). The trainer decides
// when and on which rank (trainer_ckpt.c); the preemption writer calls the same code.
#ifndef ASTROMM_CHECKPOINT_FILES_H
#define ASTROMM_CHECKPOINT_FILES_H

#include <stddef.h>

#include "core/error.h"
#include "nn/params.h"
#include "train/train_state.h"

// <root>/step_<st->step>/: the model (ps, with the n_meta key/value pairs of
// meta_kv as safetensors metadata) first, the state last (it records the
// model file's size and checksum: its presence makes the checkpoint complete).
// dir receives the directory. st is updated with the model's size and CRC.
int checkpoint_write(const char *root, TrainState *st, const ParamStore *ps, const char *const *meta_kv, int n_meta,
                     char *dir, size_t cap, AmError *err);
// Points <run_dir>/best at dir (a relative symlink, replaced atomically by
// rename); link receives the link's path.
int checkpoint_link_best(const char *run_dir, const char *dir, char *link, size_t cap, AmError *err);
// Loads dir's model into ps and its state into st (st->n, m, v set by the
// caller: the moments land there), and checks that the state was written by a
// run of the same configuration. 0; CHECKPOINT_OTHER_CONFIG when the
// configuration differs (err says what to do); another non-zero value otherwise.
enum { CHECKPOINT_OTHER_CONFIG = 2 };
int checkpoint_read(const char *dir, ParamStore *ps, TrainState *st, uint64_t config_hash, AmError *err);

#endif
