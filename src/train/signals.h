// Preemption signals for `astromm train`. Batch systems announce the end of a job
// with a signal (Slurm: SIGTERM on preemption/scancel, then SIGKILL after
// KillWait; `--signal=USR1@120` sends SIGUSR1 120 s before the time limit). The
// handler only records the signal number in a volatile sig_atomic_t (async-signal
// safe); the trainer polls signals_pending() after each optimizer step and, when
// it is non-zero, writes a checkpoint and exits with ASTROMM_EXIT_PREEMPTED.
//
// With several ranks, a signal may reach only some of them or arrive between
// their polls: the caller must combine the flag across ranks (e.g. a max
// all-reduce of signals_pending() each step) so every rank stops at the same step.
// No MPI here.
#ifndef ASTROMM_SIGNALS_H
#define ASTROMM_SIGNALS_H

#include "core/error.h"

// Exit status of a run stopped by SIGTERM/SIGUSR1 after writing its checkpoint:
// "checkpoint written, requeue me". 0 = finished, 1 = error (am_die), other
// non-zero = failure. Job scripts requeue on 3 (e.g. `[ $? -eq 3 ] && scontrol requeue $SLURM_JOB_ID`).
#define ASTROMM_EXIT_PREEMPTED 3

// Installs handlers for SIGTERM and SIGUSR1 (sigaction, SA_RESTART so interrupted
// reads/writes resume; both signals blocked while the handler runs) and clears
// the pending flag. The previous handlers are saved for signals_restore. Non-zero
// with err if sigaction fails.
int signals_install(AmError *err);
// The first signal received since install/reset (SIGTERM or SIGUSR1), or 0. Later
// signals do not overwrite it; signals_count() tells how many arrived.
int signals_pending(void);
int signals_count(void);
// Sleeps until a signal arrives (or signals_wake, or timeout_s seconds) and
// returns signals_pending(). For a helper thread; the handler posts a semaphore.
int signals_wait(double timeout_s);
// Wakes a thread sleeping in signals_wait (e.g. to make it quit).
void signals_wake(void);
// Forgets received signals (e.g. after the trainer has acted on one).
void signals_reset(void);
// Puts back the handlers that were in place before signals_install.
void signals_restore(void);

#endif
