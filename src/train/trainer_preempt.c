// The trainer's preemption path: SIGTERM/SIGUSR1 -> a complete checkpoint, then
// exit 3 (train/signals.h). On rank 0 with parameters in host memory a thread
// writes the checkpoint of the last completed step the moment the signal
// arrives (train/preempt_writer.h: a launcher may SIGKILL the ranks seconds
// later, before the step in progress ends); the ranks then stop at the next
// step boundary. Elsewhere (a GPU, or a signal that reached other ranks only)
// the checkpoint is written at that boundary.
//
// run_dir/preempted ("step N" and the directory) is written once such a
// checkpoint is complete and removed when a run starts: job scripts read it
// when the launcher's exit status hides astromm's (Open MPI's mpirun exits 1
// after a SIGTERM whatever the ranks did), see slurm/preemptible_wait.sh.
// run_dir/preempting names the writing process while it writes.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "nn/ops.h"
#include "train/preempt_writer.h"
#include "train/train_state.h"
#include "train/trainer_internal.h"

static void marker_path(const Trainer *T, char *out, size_t cap) {
    snprintf(out, cap, "%s/preempted", T->cfg->run_dir);
}

// Rank 0: run_dir/preempted, written to a temporary file and renamed.
static void write_marker(Trainer *T, int64_t step, const char *dir) {
    char path[PATH_CAP + 16], tmp[PATH_CAP + 48];
    marker_path(T, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "step %lld\ncheckpoint %s\n", (long long)step, dir) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        fprintf(stderr, "astromm train: warning: cannot write %s: %s\n", path, strerror(errno));
    }
}

// A previous run's preemption checkpoint process may still be writing (its
// rank was killed, and the new run started at once): let it finish first, so
// the new run neither cleans up its temporary files nor misses its checkpoint.
static void wait_previous_writer(Trainer *T) {
    char path[PATH_CAP + 16], host[256] = "", mine[256] = "";
    snprintf(path, sizeof path, "%s/preempting", T->cfg->run_dir);
    gethostname(mine, sizeof mine - 1);
    for (int i = 0; i < 1200; i++) {  // at most 120 s
        long pid = 0;
        FILE *f = fopen(path, "r");
        if (!f) return;
        const int got = fscanf(f, "%ld %255s", &pid, host);
        fclose(f);
        if (got != 2 || (!strcmp(host, mine) && kill((pid_t)pid, 0) != 0)) break;  // its writer is gone
        if (i == 0)
            trainer_say(T, stdout, "waiting for the preemption checkpoint process of the previous run (pid %ld on %s)",
                        pid, host);
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000000L}, NULL);
    }
    remove(path);
}

void trainer_clear_preempted_marker(Trainer *T) {
    if (T->rank != 0) return;
    wait_previous_writer(T);
    char path[PATH_CAP + 16];
    marker_path(T, path, sizeof path);
    if (remove(path) != 0 && errno != ENOENT)
        trainer_say(T, stderr, "warning: cannot remove %s: %s", path, strerror(errno));
}

// The preemption checkpoint (train/preempt_writer.h): runs in the fork()ed child
// (or, if fork failed, in the writer thread with the lock held) on the snapshot
// of the last step boundary. Reports with plain write()s: the child must not
// flush stdio buffers it shares with the rank.
static void say_raw(Trainer *T, const char *line) {
    char buf[PATH_CAP + 256];
    int n = snprintf(buf, sizeof buf, "\nastromm train: %s\n", line);
    if (n > 0 && write(1, buf, (size_t)n) < 0) {
        // stdout gone (the launcher died): the log below still has it
    }
    char path[PATH_CAP + 16];
    snprintf(path, sizeof path, "%s/train.log", T->cfg->run_dir);
    const int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) return;
    n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n > 0 && write(fd, buf, (size_t)n) < 0) {
        // nothing left to tell it to
    }
    close(fd);
}

// run_dir/preempting: "<pid> <host>" of the process writing the preemption
// checkpoint, while it writes. The rank may be SIGKILLed meanwhile; a job
// script waits for that pid to end before it reads run_dir/preempted (and
// before it exits: Slurm then kills whatever is left of the job).
static void writer_pidfile(Trainer *T, int create) {
    char path[PATH_CAP + 16], tmp[PATH_CAP + 48], host[256] = "?";
    snprintf(path, sizeof path, "%s/preempting", T->cfg->run_dir);
    if (!create) {
        remove(path);
        return;
    }
    gethostname(host, sizeof host - 1);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%ld %s\n", (long)getpid(), host) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

static int preempt_write(void *ctx, AmError *err) {
    Trainer *T = ctx;
    char dir[PATH_CAP];
    const double t0 = am_now_s();
    const int existed = T->written_step == T->snap.step;
    writer_pidfile(T, 1);
    const int rc = trainer_write_checkpoint(T, dir, sizeof dir, err);
    if (!rc) write_marker(T, T->snap.step, dir);
    writer_pidfile(T, 0);
    if (rc) return -1;
    char line[PATH_CAP + 160];
    if (existed)
        snprintf(line, sizeof line, "signal received: the checkpoint of step %lld is complete (%s)",
                 (long long)T->snap.step, dir);
    else
        snprintf(line, sizeof line, "signal received: checkpoint at step %lld written in %.2f s (%s)",
                 (long long)T->snap.step, am_now_s() - t0, dir);
    say_raw(T, line);
    return 0;
}

int trainer_start_preempt_writer(Trainer *T) {
    preempt_lock(&T->pw);
    trainer_snapshot(T);  // the state resumed from (or the initial one)
    T->written_step = T->last_ckpt;  // the checkpoint resumed from exists already
    preempt_unlock(&T->pw);
    if (T->rank != 0 || ops_device() != OPS_CPU) return TRAIN_OK;
    AmError err = {{0}};
    if (preempt_writer_start(&T->pw, preempt_write, T, &T->snap.step, &err))
        trainer_say(T, stderr, "warning: %s; a preemption checkpoint is written at the next step boundary", err.msg);
    return TRAIN_OK;
}

int trainer_preempted(Trainer *T) {
    int64_t written = -1;
    double seconds = 0;
    if (T->rank == 0) {
        AmError werr = {{0}};
        preempt_lock(&T->pw);  // waits for a write in progress
        const int st = preempt_writer_status(&T->pw, &written, &seconds, &werr);
        preempt_unlock(&T->pw);
        if (st == PREEMPT_FAILED)
            trainer_say(T, stderr, "warning: the checkpoint started on the signal failed (%s); writing it now", werr.msg);
        if (st != PREEMPT_WRITTEN) written = -1;
    }
    // Collective: trainer_checkpoint below is, so every rank must know what rank 0 found.
    if (comm_any_failed(T->comm, written >= 0)) {
        if (written < T->step)
            trainer_say(T, stdout, "signal received: exit %d (requeue) with the checkpoint of step %lld, complete %.2f s "
                "after the signal; step %lld is redone on resume", TRAIN_PREEMPTED, (long long)written, seconds,
                (long long)T->step);
        else
            trainer_say(T, stdout, "signal received: exit %d (requeue) with the checkpoint of step %lld", TRAIN_PREEMPTED,
                (long long)written);
        return TRAIN_PREEMPTED;
    }
    trainer_say(T, stdout, "signal received: writing the checkpoint of step %lld", (long long)T->step);
    if (trainer_checkpoint(T, 0)) return TRAIN_ERROR;
    if (T->rank == 0) {
        char dir[PATH_CAP];
        AmError err = {{0}};
        if (ckpt_dir_for_step(dir, sizeof dir, T->root, T->step, &err) == 0) write_marker(T, T->step, dir);
    }
    trainer_say(T, stdout, "signal received: checkpoint at step %lld written, exit %d (requeue)", (long long)T->step,
        TRAIN_PREEMPTED);
    return TRAIN_PREEMPTED;
}
