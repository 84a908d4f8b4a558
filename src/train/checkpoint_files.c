// One checkpoint directory and the best link (checkpoint_files.h).
#define _POSIX_C_SOURCE 200809L
#include "train/checkpoint_files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/params_file.h"

int checkpoint_write(const char *root, TrainState *st, const ParamStore *ps, const char *const *meta_kv, int n_meta,
                     char *dir, size_t cap, AmError *err) {
    int rc = ckpt_make_dir(dir, cap, root, st->step, err);
    if (rc) return rc;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE) >= (int)sizeof path)
        return am_error_set(err, "checkpoint path too long: '%.200s'", dir);
    rc = params_save(ps, path, meta_kv, n_meta, err);
    if (!rc) rc = ckpt_write_state(dir, st, err);
    return rc;
}

int checkpoint_link_best(const char *run_dir, const char *dir, char *link, size_t cap, AmError *err) {
    char tmp[4300], target[4200];
    if (snprintf(link, cap, "%s/best", run_dir) >= (int)cap) return am_error_set(err, "%s/best: path too long", run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", link, (long)getpid());
    const char *slash = strrchr(dir, '/');
    snprintf(target, sizeof target, "checkpoints/%s", slash ? slash + 1 : dir);
    remove(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        remove(tmp);
        return am_error_set(err, "%s: cannot point at %s: %s", link, target, strerror(errno));
    }
    return 0;
}

int checkpoint_read(const char *dir, ParamStore *ps, TrainState *st, uint64_t config_hash, AmError *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
    int rc = params_load(ps, path, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_STATE_FILE);
    if ((rc = train_state_read(path, st, err))) return rc;
    if (st->config_hash != config_hash)
        return am_error_set(err, "%s: written by a run with a different configuration (model, data selection, "
                            "optimiser or schedule changed); use a new run.dir or the original configuration", path),
               CHECKPOINT_OTHER_CONFIG;
    return 0;
}
