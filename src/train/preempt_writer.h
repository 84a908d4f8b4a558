// The preemption checkpoint, written the moment SIGTERM/SIGUSR1 arrives, by a
// process that outlives the rank.
//
// Why: a preempted job has seconds. Open MPI's mpirun, given SIGTERM, sends the
// ranks SIGTERM odls_base_sigkill_timeout (1 s) later and SIGKILL as long again
// after that, to each rank's whole process group; Slurm sends SIGKILL KillWait
// (30 s) after SIGTERM. A published-size CPU step takes longer than 1 s, and a
// published-size checkpoint (193 MB) can take longer to write. So:
//  - the checkpoint holds the state of the last completed step: parameters and
//    Adam moments do not change while the next step computes its gradients
//    (only the optimizer update writes them), so it can be written at once;
//  - it is written by a fork()ed child in a process group of its own: the
//    launcher's SIGKILL of the rank's group does not stop it, and copy-on-write
//    freezes the state it writes while the rank goes on computing.
// The trainer holds this module's lock whenever it changes anything a
// checkpoint holds (optimizer update, counters, schedule, its own checkpoints)
// and releases it while it loads, computes or validates; the fork happens with
// the lock held. Where fork fails the thread writes in-process (lock held).
//
// One write per run: the first signal wakes the thread, it forks, the child
// calls the trainer's write function (on the state snapshotted at the last
// step boundary) and exits; the thread waits for it and records the outcome.
// Rank 0 only, with parameters in host memory (CPU device); on a GPU a step is
// milliseconds and the trainer's boundary checkpoint is in time. The write
// function runs in the child: no MPI, no threads, no OpenMP (plain file I/O).
#ifndef ASTROMM_PREEMPT_WRITER_H
#define ASTROMM_PREEMPT_WRITER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

// Writes the checkpoint of the snapshot (in the child, or with the lock held).
// 0 on success; non-zero with err on failure.
typedef int (*PreemptWriteFn)(void *ctx, AmError *err);

enum { PREEMPT_NONE = 0, PREEMPT_WRITTEN = 1, PREEMPT_WRITING = 2, PREEMPT_FAILED = -1 };

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    PreemptWriteFn fn;
    void *ctx;
    const int64_t *snap_step;  // the step the snapshot holds (read under the lock)
    int running, quit;
    int state;        // PREEMPT_*
    pid_t child;
    int64_t step;     // the step being written / written
    double seconds;   // signal to checkpoint complete
    AmError err;      // PREEMPT_FAILED
} PreemptWriter;

// The lock works after init, with or without a thread.
void preempt_writer_init(PreemptWriter *w);
// Starts the thread (after signals_install). Non-zero with err if it cannot.
int preempt_writer_start(PreemptWriter *w, PreemptWriteFn fn, void *ctx, const int64_t *snap_step, AmError *err);
void preempt_lock(PreemptWriter *w);
void preempt_unlock(PreemptWriter *w);
// With the lock held; waits (releasing it meanwhile) while a write is in
// progress. PREEMPT_WRITTEN (*step, *seconds), PREEMPT_FAILED (*err), or NONE.
int preempt_writer_status(PreemptWriter *w, int64_t *step, double *seconds, AmError *err);
// Stops and joins the thread (no-op without one; waits for a write in progress),
// destroys the lock.
void preempt_writer_destroy(PreemptWriter *w);

#endif
