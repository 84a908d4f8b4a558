// See preempt_writer.h.
#define _POSIX_C_SOURCE 200809L
#include "train/preempt_writer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "train/signals.h"

// The child: leave the rank's process group first (launchers kill the group),
// never die of a closed output pipe, write, and leave without atexit handlers
// or MPI (_exit).
static void child_write(PreemptWriter *w) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN);  // the rank's second SIGTERM is not for the writer
    signal(SIGUSR1, SIG_IGN);
    AmError err = {{0}};
    if (w->fn(w->ctx, &err)) {
        char line[600];
        const int n = snprintf(line, sizeof line, "astromm train: error: preemption checkpoint: %s\n", err.msg);
        if (n > 0 && write(2, line, (size_t)n) < 0) _exit(2);
        _exit(1);
    }
    _exit(0);
}

static void *writer_main(void *arg) {
    PreemptWriter *w = arg;
    for (;;) {
        const int sig = signals_wait(1.0);
        pthread_mutex_lock(&w->mu);
        if (w->quit) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        if (!sig) {
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        break;  // lock held
    }
    const double t0 = am_now_s();
    w->step = *w->snap_step;
    const pid_t pid = fork();
    if (pid == 0) child_write(w);
    if (pid < 0) {  // no child: write here, the trainer waits on the lock meanwhile
        AmError err = {{0}};
        const int rc = w->fn(w->ctx, &err);
        w->state = rc ? PREEMPT_FAILED : PREEMPT_WRITTEN;
        w->err = err;
        w->seconds = am_now_s() - t0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        return NULL;
    }
    w->child = pid;
    w->state = PREEMPT_WRITING;
    pthread_mutex_unlock(&w->mu);

    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&w->mu);
    w->seconds = am_now_s() - t0;
    if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        w->state = PREEMPT_WRITTEN;
    } else {
        w->state = PREEMPT_FAILED;
        if (r == pid && WIFSIGNALED(status))
            am_error_set(&w->err, "the checkpoint process (pid %ld) was killed by signal %d", (long)pid,
                         WTERMSIG(status));
        else
            am_error_set(&w->err, "the checkpoint process (pid %ld) failed (status %d; its message is above)",
                         (long)pid, r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    w->child = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void preempt_writer_init(PreemptWriter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

int preempt_writer_start(PreemptWriter *w, PreemptWriteFn fn, void *ctx, const int64_t *snap_step, AmError *err) {
    w->fn = fn;
    w->ctx = ctx;
    w->snap_step = snap_step;
    w->quit = 0;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
        return am_error_set(err, "cannot start the preemption checkpoint thread");
    w->running = 1;
    return 0;
}

void preempt_lock(PreemptWriter *w) { pthread_mutex_lock(&w->mu); }
void preempt_unlock(PreemptWriter *w) { pthread_mutex_unlock(&w->mu); }

int preempt_writer_status(PreemptWriter *w, int64_t *step, double *seconds, AmError *err) {
    while (w->state == PREEMPT_WRITING) pthread_cond_wait(&w->cv, &w->mu);
    if (w->state == PREEMPT_WRITTEN) {
        if (step) *step = w->step;
        if (seconds) *seconds = w->seconds;
    } else if (w->state == PREEMPT_FAILED && err) {
        *err = w->err;
    }
    return w->state;
}

void preempt_writer_destroy(PreemptWriter *w) {
    if (w->running) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_mutex_unlock(&w->mu);
        signals_wake();
        pthread_join(w->thread, NULL);  // after a fork, returns once the child is done
        w->running = 0;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}
