// Checkpoints and resume of the trainer (see trainer.h, train/train_state.h).
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/ops.h"
#include "train/train_state.h"
#include "train/trainer_internal.h"

// ------------------------------------------------------------------ checkpoints

static void moments_to_host(Trainer *T) {
    if (T->host_m != T->opt.m) {
        ops_to_host(T->host_m, T->opt.m, T->n * sizeof(float));
        ops_to_host(T->host_v, T->opt.v, T->n * sizeof(float));
    }
}

static void state_fill(Trainer *T, TrainState *st) {
    memset(st, 0, sizeof *st);
    st->step = T->step;
    st->epoch = T->epoch;
    loader_position(T->train, &st->loader_epoch, &st->loader_batch);
    st->seed = T->cfg->seed;
    st->config_hash = T->config_hash;
    st->n_ranks = T->size;
    st->best_metric = T->best_acc;
    st->sched = T->sched;
    st->adam_t = T->opt.t;
    st->n = T->n;
    st->m = T->host_m;
    st->v = T->host_v;
}

// Points run_dir/best at dir (symlink replaced atomically by rename).
static int link_best(Trainer *T, const char *dir, AmError *err) {
    char link[PATH_CAP + 8], tmp[PATH_CAP + 40], target[PATH_CAP + 16];
    snprintf(link, sizeof link, "%s/best", T->cfg->run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", link, (long)getpid());
    const char *slash = strrchr(dir, '/');
    snprintf(target, sizeof target, "checkpoints/%s", slash ? slash + 1 : dir);
    remove(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        remove(tmp);
        return am_error_set(err, "%s: cannot point at %s: %s", link, target, strerror(errno));
    }
    snprintf(T->best_dir, sizeof T->best_dir, "%s", link);  // prune compares by inode
    return 0;
}

int trainer_checkpoint(Trainer *T, int is_best) {
    int rc = 0;
    AmError err = {{0}};
    if (T->rank == 0) {
        moments_to_host(T);
        char dir[PATH_CAP], path[PATH_CAP + 32];
        rc = ckpt_make_dir(dir, sizeof dir, T->root, T->step, &err);
        if (!rc && T->last_ckpt != T->step) {
            char step_s[32], hash_s[32];
            snprintf(step_s, sizeof step_s, "%lld", (long long)T->step);
            snprintf(hash_s, sizeof hash_s, "%016llx", (unsigned long long)T->config_hash);
            const char *meta[] = {"format", "astromm-astrom3", "step", step_s, "config_hash", hash_s,
                                  "task", T->task.name, "head", task_head_name(&T->task)};
            snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
            rc = params_save(&T->m->params, path, meta, 5, &err);
            TrainState st;
            state_fill(T, &st);
            snprintf(path, sizeof path, "%s/%s", dir, CKPT_STATE_FILE);
            if (!rc) rc = train_state_write(path, &st, &err);
        }
        if (!rc && is_best) rc = link_best(T, dir, &err);
        if (!rc) {
            AmError perr = {{0}};
            if (ckpt_prune(T->root, T->cfg->keep_last, T->best_dir[0] ? T->best_dir : NULL, &perr))
                trainer_say(T, stderr, "warning: pruning old checkpoints: %s", perr.msg);
        }
        if (rc) trainer_say(T, stderr, "error: checkpoint at step %lld failed: %s", (long long)T->step, err.msg);
    }
    if (trainer_any_failed(T, rc)) return -1;
    T->last_ckpt = T->step;
    return 0;
}

// Newest valid checkpoint (rank 0 decides, everyone loads it).
int trainer_resume(Trainer *T, int required) {
    char dir[PATH_CAP] = "";
    int64_t step = -1;
    AmError warn = {{0}}, err = {{0}};
    int rc = 0;
    if (T->rank == 0) {
        rc = ckpt_latest_valid(T->root, T->n, &step, dir, sizeof dir, &warn, &err);
        if (warn.msg[0]) trainer_say(T, stderr, "warning: %s", warn.msg);
        if (rc) trainer_say(T, stderr, "error: %s", err.msg);
    }
    if (trainer_any_failed(T, rc)) return TRAIN_ERROR;
    double s = (double)step;
    comm_broadcast(T->comm, &s, sizeof s, 0);
    comm_broadcast(T->comm, dir, sizeof dir, 0);
    step = (int64_t)s;
    if (step < 0) {
        if (required) {
            trainer_say(T, stderr, "error: --resume: no valid checkpoint under %s", T->root);
            return TRAIN_BAD_CONFIG;
        }
        return TRAIN_OK;
    }
    char path[PATH_CAP + 32];
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
    rc = params_load(&T->m->params, path, &err);
    TrainState st = {.n = T->n, .m = T->host_m, .v = T->host_v};
    if (!rc) {
        snprintf(path, sizeof path, "%s/%s", dir, CKPT_STATE_FILE);
        rc = train_state_read(path, &st, &err);
    }
    if (!rc && st.config_hash != T->config_hash) {
        rc = am_error_set(&err, "%s: written by a run with a different configuration (model, data selection, "
                          "optimiser or schedule changed); use a new run.dir or the original configuration", path);
        rc = TRAIN_BAD_CONFIG;
    }
    if (!rc) rc = loader_seek(T->train, st.loader_epoch, st.loader_batch, &err);
    if (rc && T->rank == 0) trainer_say(T, stderr, "error: cannot resume: %s", err.msg);
    if (trainer_any_failed(T, rc)) return rc == TRAIN_BAD_CONFIG ? TRAIN_BAD_CONFIG : TRAIN_ERROR;
    if (T->host_m != T->opt.m) {
        ops_to_device(T->opt.m, T->host_m, T->n * sizeof(float));
        ops_to_device(T->opt.v, T->host_v, T->n * sizeof(float));
    }
    T->opt.t = st.adam_t;
    T->sched = st.sched;
    T->step = T->last_ckpt = st.step;
    T->epoch = st.epoch;
    T->best_acc = st.best_metric;
    if (st.n_ranks != T->size)
        trainer_say(T, stderr, "warning: resuming with %d ranks a run written by %lld: the same global batches, equal up to "
            "float rounding (bit-identical only with %lld ranks)", T->size, (long long)st.n_ranks,
            (long long)st.n_ranks);
    char link[PATH_CAP + 8];
    snprintf(link, sizeof link, "%s/best", T->cfg->run_dir);
    struct stat sb;
    if (stat(link, &sb) == 0) snprintf(T->best_dir, sizeof T->best_dir, "%s", link);
    trainer_say(T, stdout, "resumed from %s (step %lld, epoch %lld, batch %lld of the epoch)", dir, (long long)st.step,
        (long long)st.epoch, (long long)st.loader_batch);
    if (T->metrics_open) {
        metrics_begin(&T->metrics);
        metrics_str(&T->metrics, "kind", "resume");
        metrics_int(&T->metrics, "step", st.step);
        metrics_end(&T->metrics, &err);
    }
    return TRAIN_OK;
}

