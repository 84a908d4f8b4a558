#define _POSIX_C_SOURCE 200809L

#include "train/signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_pending = 0;
static volatile sig_atomic_t g_count = 0;
static struct sigaction g_old_term, g_old_usr1;
static int g_installed = 0;

// Async-signal safe: only sig_atomic_t stores. Both signals are blocked while it
// runs (sa_mask), so the read-then-write of g_pending cannot interleave.
static void on_signal(int sig) {
    if (!g_pending) g_pending = sig;
    if (g_count < 1000) g_count = g_count + 1;
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
