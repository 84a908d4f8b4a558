#define _POSIX_C_SOURCE 200809L

#include "train/watchdog.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/error.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static pthread_t g_thread;
static int g_running, g_quit, g_rank;
static double g_timeout, g_last;
static const char *g_what = "start-up";
static char g_log[1200];  // a file that gets the abort message too ("" = none)

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *watch(void *unused) {
    (void)unused;
    pthread_mutex_lock(&g_mu);
    while (!g_quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&g_cv, &g_mu, &until);
        const double idle = mono_s() - g_last;
        if (!g_quit && idle > g_timeout) {
            const char *what = g_what;
            pthread_mutex_unlock(&g_mu);
            if (g_log[0]) {  // train.log must say why the run ended, not leave a stale last line
                FILE *f = fopen(g_log, "a");
                if (f) {
                    fprintf(f, "hang watchdog: rank %d made no progress for %.0f s (last: %s); aborting the job\n",
                            g_rank, idle, what);
                    fclose(f);
                }
            }
            am_die(__FILE__, __LINE__,
                   "rank %d: no progress for %.0f s (last: %s); a rank died or hangs, aborting the job. "
                   "If steps legitimately take longer, raise run.hang_timeout", g_rank, idle, what);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

void watchdog_start(double timeout_s, int rank) {
    CHECK(timeout_s > 0, "watchdog_start: timeout must be positive");
    pthread_mutex_lock(&g_mu);
    CHECK(!g_running, "watchdog_start: already running");
    g_timeout = timeout_s;
    g_rank = rank;
    g_last = mono_s();
    g_quit = 0;
    g_running = 1;
    pthread_mutex_unlock(&g_mu);
    CHECK(pthread_create(&g_thread, NULL, watch, NULL) == 0, "cannot start the watchdog thread");
}

void watchdog_log_to(const char *path) {
    pthread_mutex_lock(&g_mu);
    snprintf(g_log, sizeof g_log, "%s", path ? path : "");
    pthread_mutex_unlock(&g_mu);
}

void watchdog_beat(const char *what) {
    pthread_mutex_lock(&g_mu);
    g_last = mono_s();
    g_what = what;
    pthread_mutex_unlock(&g_mu);
}

void watchdog_stop(void) {
    pthread_mutex_lock(&g_mu);
    if (!g_running) {
        pthread_mutex_unlock(&g_mu);
        return;
    }
    g_quit = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    pthread_join(g_thread, NULL);
    g_running = 0;
}
