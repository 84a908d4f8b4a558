// The schedule's state in a checkpoint (schedule.h: sched_pack / sched_unpack).
// Written field by field from a table, so the file layout is a documented list
// rather than the compiler's layout of the struct, and a change of the struct
// is a change of SCHED_STATE_VERSION that old checkpoints are checked against.
#include <stddef.h>
#include <string.h>

#include "train/schedule.h"

// Every field of Schedule is in the table below: a field added or removed
// changes the size and stops the build here, so it cannot be forgotten.
_Static_assert(sizeof(Schedule) == SCHED_STATE_BYTES,
               "Schedule changed: give its fields a new layout below and bump SCHED_STATE_VERSION");

// Layout 1, in file order: every field 8 bytes, little-endian host order (as
// the rest of state.bin). Files of train-state versions 1 and 2, which stored
// the struct's bytes, hold exactly this layout.
static const size_t kFieldsV1[SCHED_STATE_FIELDS] = {
    offsetof(Schedule, magic),
    offsetof(Schedule, cfg.lr),
    offsetof(Schedule, cfg.warmup_start_factor),
    offsetof(Schedule, cfg.warmup_epochs),
    offsetof(Schedule, cfg.kind),
    offsetof(Schedule, cfg.factor),
    offsetof(Schedule, cfg.patience),
    offsetof(Schedule, cfg.threshold),
    offsetof(Schedule, cfg.min_lr),
    offsetof(Schedule, cfg.total_epochs),
    offsetof(Schedule, cfg.early_stop_patience),
    offsetof(Schedule, epoch),
    offsetof(Schedule, lr),
    offsetof(Schedule, warmup_iter),
    offsetof(Schedule, plateau_best),
    offsetof(Schedule, plateau_bad),
    offsetof(Schedule, n_reductions),
    offsetof(Schedule, best_val),
    offsetof(Schedule, best_epoch),
    offsetof(Schedule, es_bad),
    offsetof(Schedule, last_improved),
    offsetof(Schedule, stopped),
};

void sched_pack(const Schedule *s, unsigned char out[SCHED_STATE_BYTES]) {
    for (int i = 0; i < SCHED_STATE_FIELDS; i++) memcpy(out + 8 * i, (const char *)s + kFieldsV1[i], 8);
}

int sched_unpack(Schedule *s, const unsigned char *in, uint64_t bytes, uint32_t version, AmError *err) {
    if (version != SCHED_STATE_VERSION)
        return am_error_set(err, "schedule state layout %u, this build reads layout %u", version, SCHED_STATE_VERSION);
    if (bytes != SCHED_STATE_BYTES)
        return am_error_set(err, "schedule state is %llu bytes, layout %u has %d", (unsigned long long)bytes, version,
                            SCHED_STATE_BYTES);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < SCHED_STATE_FIELDS; i++) memcpy((char *)s + kFieldsV1[i], in + 8 * i, 8);
    return sched_check(s, err);
}
