// Checkpoints and resume of the trainer (see trainer.h, train/train_state.h).
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/ops.h"
#include "io/params_file.h"
#include "train/checkpoint_files.h"
#include "train/run_lock.h"
#include "train/train_state.h"
#include "train/trainer_internal.h"

// Warnings of the checkpoint-directory functions, as rank 0's "warning:" lines.
static void warn_say(void *ctx, const char *msg) { trainer_say((Trainer *)ctx, stderr, "warning: %s", msg); }

int trainer_lock_run_dir(Trainer *T) {
    if (T->rank != 0) return 0;
    AmError warn = {{0}}, err = {{0}};
    if (run_lock_acquire(&T->lock, T->cfg->run_dir, &warn, &err)) {
        trainer_say(T, stderr, "error: %s", err.msg);
        return 1;
    }
    if (warn.msg[0]) trainer_say(T, stderr, "warning: %s", warn.msg);
    return 0;
}

void trainer_unlock_run_dir(Trainer *T) { run_lock_release(&T->lock); }

const char *trainer_kept_ckpt(const Trainer *T, char *buf, size_t cap) {
    if (T->last_ckpt < 0)
        snprintf(buf, cap, "no checkpoint has been written yet (a rerun starts from step 0)");
    else
        snprintf(buf, cap, "the last good checkpoint is kept: step %lld (%s/step_%08lld)", (long long)T->last_ckpt,
                 T->root, (long long)T->last_ckpt);
    return buf;
}

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

void trainer_snapshot(Trainer *T) { state_fill(T, &T->snap); }

int trainer_write_checkpoint(Trainer *T, char *dir, size_t cap, AmError *err) {
    TrainState *st = &T->snap;
    if (T->written_step == st->step) return ckpt_make_dir(dir, cap, T->root, st->step, err);
    char step_s[32], hash_s[32];
    snprintf(step_s, sizeof step_s, "%lld", (long long)st->step);
    snprintf(hash_s, sizeof hash_s, "%016llx", (unsigned long long)T->config_hash);
    // class_live: which classes the head may predict (those with training
    // examples); astromm eval applies it (cls_step_set_live).
    const char *meta[] = {"format", "astromm-astrom3", "step", step_s, "config_hash", hash_s,
                          "task", T->task.name, "head", task_head_name(&T->task), "class_live", T->class_live};
    const int rc = checkpoint_write(T->root, st, T->task.params, meta, T->class_live[0] ? 6 : 5, dir, cap, err);
    if (!rc) T->written_step = st->step;
    return rc;
}

int trainer_checkpoint(Trainer *T, int is_best) {
    int rc = 0;
    AmError err = {{0}};
    if (T->rank == 0) {
        moments_to_host(T);
        char dir[PATH_CAP];
        // Under the preemption writer's lock: that thread writes checkpoint
        // directories too, and pruning must not take its half-written one for torn.
        preempt_lock(&T->pw);
        int64_t preempt_step = -1;  // a preemption write in progress ends first (status waits for it)
        if (preempt_writer_status(&T->pw, &preempt_step, NULL, NULL) == PREEMPT_WRITTEN && preempt_step > T->written_step)
            T->written_step = preempt_step;
        trainer_snapshot(T);
        rc = trainer_write_checkpoint(T, dir, sizeof dir, &err);
        char link[sizeof T->best_dir];
        if (!rc && is_best && !(rc = checkpoint_link_best(T->cfg->run_dir, dir, link, sizeof link, &err)))
            memcpy(T->best_dir, link, sizeof link);  // prune compares by inode
        if (!rc) {
            AmError perr = {{0}};
            if (ckpt_prune(T->root, T->cfg->keep_last, T->best_dir[0] ? T->best_dir : NULL, T->n, warn_say, T, &perr))
                trainer_say(T, stderr, "warning: pruning old checkpoints: %s", perr.msg);
        }
        preempt_unlock(&T->pw);
        if (rc) trainer_say(T, stderr, "error: checkpoint at step %lld failed: %s", (long long)T->step, err.msg);
    }
    if (comm_any_failed(T->comm, rc)) return -1;
    T->last_ckpt = T->step;
    return 0;
}

// Rank 0, holding the run lock: removes the temporary files that writers killed
// mid-write left in the run directory, the checkpoint root and its step directories.
static void remove_stale_tmp(Trainer *T) {
    if (!T->lock.held) return;  // unlocked (filesystem without fcntl locks): another job's files could be live
    AmError err = {{0}};
    if (ckpt_remove_stale_tmp(T->cfg->run_dir, warn_say, T, &err) < 0 ||
        ckpt_remove_stale_tmp(T->root, warn_say, T, &err) < 0)
        trainer_say(T, stderr, "warning: %s", err.msg);
    int64_t *steps = NULL;
    size_t count = 0;
    if (ckpt_list(T->root, &steps, &count, &err)) trainer_say(T, stderr, "warning: %s", err.msg);
    char dir[PATH_CAP];
    for (size_t i = 0; i < count; i++)
        if (ckpt_dir_for_step(dir, sizeof dir, T->root, steps[i], &err) == 0 &&
            ckpt_remove_stale_tmp(dir, warn_say, T, &err) < 0)
            trainer_say(T, stderr, "warning: %s", err.msg);
    free(steps);
}

// Rank 0: metrics.jsonl back to the records up to `step` (the steps after it are redone).
static void rewind_metrics(Trainer *T, int64_t step) {
    if (!T->metrics_open) return;
    char path[PATH_CAP + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", T->cfg->run_dir);
    int64_t dropped = 0;
    AmError err = {{0}};
    if (metrics_rewind(&T->metrics, path, step, &dropped, &err))
        trainer_say(T, stderr, "warning: %s (its records after step %lld will appear twice)", err.msg, (long long)step);
    else if (dropped)
        trainer_say(T, stderr, "note: %s: dropped %lld record(s) written after step %lld by the interrupted run (those "
                    "steps are redone)", path, (long long)dropped, (long long)step);
}

// Newest valid checkpoint (rank 0 decides, everyone loads it).
int trainer_resume(Trainer *T, int required) {
    char dir[PATH_CAP] = "";
    int64_t step = -1;
    AmError err = {{0}};
    int rc = 0;
    if (T->rank == 0) {
        remove_stale_tmp(T);
        // Invalid directories newer than the one chosen are moved to checkpoints/torn/ only when locked.
        rc = ckpt_latest_valid(T->root, T->n, &step, dir, sizeof dir, T->lock.held, warn_say, T, &err);
        if (rc) trainer_say(T, stderr, "error: %s", err.msg);
    }
    if (comm_any_failed(T->comm, rc)) return TRAIN_ERROR;
    double s = (double)step;
    comm_broadcast(T->comm, &s, sizeof s, 0);
    comm_broadcast(T->comm, dir, sizeof dir, 0);
    step = (int64_t)s;
    if (step < 0) {
        if (required) {
            trainer_say(T, stderr, "error: --resume: no valid checkpoint under %s", T->root);
            return TRAIN_BAD_CONFIG;
        }
        if (T->rank == 0) rewind_metrics(T, 0);  // records of an earlier attempt that left no checkpoint
        return TRAIN_OK;
    }
    TrainState st = {.n = T->n, .m = T->host_m, .v = T->host_v};
    rc = checkpoint_read(dir, T->task.params, &st, T->config_hash, &err);
    if (rc == CHECKPOINT_OTHER_CONFIG) rc = TRAIN_BAD_CONFIG;
    if (!rc) rc = loader_seek(T->train, st.loader_epoch, st.loader_batch, &err);
    if (rc && T->rank == 0) trainer_say(T, stderr, "error: cannot resume: %s", err.msg);
    if (comm_any_failed(T->comm, rc)) return rc == TRAIN_BAD_CONFIG ? TRAIN_BAD_CONFIG : TRAIN_ERROR;
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
    if (T->rank == 0) rewind_metrics(T, st.step);
    if (T->metrics_open) {
        metrics_begin(&T->metrics);
        metrics_str(&T->metrics, "kind", "resume");
        metrics_int(&T->metrics, "step", st.step);
        metrics_end(&T->metrics, &err);
    }
    return TRAIN_OK;
}

