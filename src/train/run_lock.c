#define _POSIX_C_SOURCE 200809L

// Run-directory lock (see run_lock.h).
#include "train/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int unsupported(int e) { return e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS || e == EINVAL; }

int run_lock_acquire(RunLock *lk, const char *run_dir, AmError *warn, AmError *err) {
    *lk = (RunLock){0};
    if (warn) warn->msg[0] = '\0';
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", run_dir, RUN_LOCK_FILE) >= (int)sizeof path)
        return am_error_set(err, "run directory '%.200s': path too long for its lock file", run_dir);
    const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return am_error_set(err, "cannot create the run lock '%.200s': %s (is run.dir writable?)", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        const int e = errno;
        if (unsupported(e)) {
            close(fd);
            if (warn)
                am_error_set(warn, "cannot lock '%.200s' (%s: the filesystem does not support fcntl locks): nothing "
                             "stops a second job from training into the same run.dir", path, strerror(e));
            return 0;
        }
        if (e != EAGAIN && e != EACCES) {
            close(fd);
            return am_error_set(err, "cannot lock '%.200s': %s", path, strerror(e));
        }
        // Held by someone else: say who (the file's text; the kernel's pid as a fallback).
        char who[256] = "";
        const ssize_t got = pread(fd, who, sizeof who - 1, 0);
        who[got > 0 ? got : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        const int have_q = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK && q.l_pid > 0;
        close(fd);
        char kpid[48] = "";
        if (!who[0] && have_q) snprintf(kpid, sizeof kpid, "pid %ld", (long)q.l_pid);
        return am_error_set(err, "run directory '%.200s' is in use by another job (%s; lock file %.200s): two jobs must "
                            "not train into one run.dir. Wait for that job to end or stop it, or set another run.dir",
                            run_dir, who[0] ? who : kpid[0] ? kpid : "holder unknown", path);
    }
    char host[128] = "?", since[40] = "?", text[400];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    const time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const int len = snprintf(text, sizeof text, "pid %ld host %s since %s\n", (long)getpid(), host, since);
    // Informational only: a failure to write it does not matter for the lock itself.
    if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)len, 0) == len) (void)fsync(fd);
    lk->fd = fd;
    lk->held = 1;
    return 0;
}

void run_lock_release(RunLock *lk) {
    if (!lk || !lk->held) return;
    // No holder any more (cleared before unlocking, so a new holder's text is never cut).
    if (ftruncate(lk->fd, 0) != 0) { /* informational only */ }
    close(lk->fd);  // drops the fcntl lock
    *lk = (RunLock){0};
}
