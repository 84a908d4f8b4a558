// Hang detection for multi-rank jobs. A rank whose peer died or hangs blocks
// forever inside a collective; MPI itself never times out. The watchdog thread
// aborts the whole job (am_die -> MPI_Abort through the abort hook) when the
// main thread has not called watchdog_beat for `timeout` seconds, so every rank
// exits non-zero within timeout + 1 s instead of hanging until the allocation
// ends. The trainer beats once per step and per evaluation batch.
#ifndef ASTROMM_WATCHDOG_H
#define ASTROMM_WATCHDOG_H

// Starts the thread (timeout > 0). what names the activity in the message.
void watchdog_start(double timeout_s, int rank);
void watchdog_beat(const char *what);
// Also append the abort message to this file (the run's train.log); NULL: none.
void watchdog_log_to(const char *path);
void watchdog_stop(void);

#endif
