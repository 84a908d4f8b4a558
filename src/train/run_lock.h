// Exclusive lock on a run directory, so two jobs never train into one run.dir
// (interleaved checkpoints, metrics and prunes would corrupt each other).
//
// run_lock_acquire takes a POSIX record lock (fcntl F_SETLK, write lock on the
// whole file) on <run_dir>/.lock and writes "pid <pid> host <host> since <UTC
// time>" into it. The trainer's rank 0 holds it for the run's whole life; the
// kernel drops it when the process exits in any way (crash, SIGKILL included),
// so a stale lock file never blocks a requeued job. fcntl locks are honoured
// across hosts on NFSv4 and on NFSv3 with lockd, and on Lustre/GPFS/BeeGFS when
// mounted with locking enabled; a filesystem that does not support them
// (ENOLCK, EOPNOTSUPP, ENOSYS) gives a warning and the run goes on unlocked.
//
// Caveat of fcntl locks: closing ANY descriptor of .lock in the holding process
// drops the lock, so nothing else may open that file.
#ifndef ASTROMM_RUN_LOCK_H
#define ASTROMM_RUN_LOCK_H

#include "core/error.h"

#define RUN_LOCK_FILE ".lock"

typedef struct {
    int held;  // 1 while locked (a zeroed RunLock holds nothing)
    int fd;
} RunLock;

// 0 when locked (lk->held = 1), or when locking is unsupported by the filesystem
// (lk->held = 0 and warn says so). Non-zero with err when another process holds
// the lock (err names the directory and the holder's pid, host and start time) or
// the lock file cannot be created.
int run_lock_acquire(RunLock *lk, const char *run_dir, AmError *warn, AmError *err);
// Drops the lock (safe on a zeroed or released RunLock). The file stays.
void run_lock_release(RunLock *lk);

#endif
