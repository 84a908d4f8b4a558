#define _POSIX_C_SOURCE 200809L

#include "train/signals.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_pending = 0;
static volatile sig_atomic_t g_count = 0;
static struct sigaction g_old_term, g_old_usr1;
static int g_installed = 0;
// Posted by the handler (sem_post is async-signal safe) so a thread can sleep
// until a signal arrives instead of polling: the preemption checkpoint writer.
static sem_t g_sem;
static int g_sem_ready = 0;

// Async-signal safe: only sig_atomic_t stores. Both signals are blocked while it
// runs (sa_mask), so the read-then-write of g_pending cannot interleave.
static void on_signal(int sig) {
    if (!g_pending) g_pending = sig;
    if (g_count < 1000) g_count = g_count + 1;
    if (g_sem_ready) sem_post(&g_sem);
}

int signals_install(AmError *err) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    g_pending = 0;
    g_count = 0;
    if (!g_sem_ready) {
        if (sem_init(&g_sem, 0, 0) != 0) return am_error_set(err, "sem_init: %s", strerror(errno));
        g_sem_ready = 1;
    }
    struct sigaction old_term, old_usr1;
    if (sigaction(SIGTERM, &sa, &old_term) != 0) return am_error_set(err, "sigaction(SIGTERM): %s", strerror(errno));
    if (sigaction(SIGUSR1, &sa, &old_usr1) != 0) {
        const int e = errno;
        sigaction(SIGTERM, &old_term, NULL);
        return am_error_set(err, "sigaction(SIGUSR1): %s", strerror(e));
    }
    if (!g_installed) {  // a second install keeps the original handlers for restore
        g_old_term = old_term;
        g_old_usr1 = old_usr1;
        g_installed = 1;
    }
    return 0;
}

int signals_pending(void) { return (int)g_pending; }
int signals_count(void) { return (int)g_count; }

int signals_wait(double timeout_s) {
    if (g_pending) return (int)g_pending;
    if (!g_sem_ready) return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const long ns = (long)((timeout_s - (double)(long)timeout_s) * 1e9);
    until.tv_sec += (time_t)timeout_s + (until.tv_nsec + ns) / 1000000000L;
    until.tv_nsec = (until.tv_nsec + ns) % 1000000000L;
    while (sem_timedwait(&g_sem, &until) != 0 && errno == EINTR) {
    }
    return (int)g_pending;
}

void signals_wake(void) {
    if (g_sem_ready) sem_post(&g_sem);
}

void signals_reset(void) {
    g_pending = 0;
    g_count = 0;
}

void signals_restore(void) {
    if (!g_installed) return;
    sigaction(SIGTERM, &g_old_term, NULL);
    sigaction(SIGUSR1, &g_old_usr1, NULL);
    g_installed = 0;
}
