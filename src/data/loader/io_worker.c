// One FIFO I/O thread per process (see io_worker.h for why).
#include "data/loader/io_worker.h"

#include <pthread.h>
#include <stddef.h>

#include "core/error.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static IoJob *g_head, *g_tail;
static int g_refs, g_threaded, g_quit;
static pthread_t g_thread;

static void *worker_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        while (!g_head && !g_quit) pthread_cond_wait(&g_work, &g_mu);
        if (!g_head) break;  // quit, queue drained
        IoJob *j = g_head;
        g_head = j->next;
        if (!g_head) g_tail = NULL;
        pthread_mutex_unlock(&g_mu);
        j->run(j->arg);
        pthread_mutex_lock(&g_mu);
        j->done = 1;
        pthread_cond_broadcast(&g_done);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

void io_worker_start(int threaded) {
    pthread_mutex_lock(&g_mu);
    if (g_refs++ == 0) {
        g_threaded = threaded;
        g_quit = 0;
        if (threaded) {
            int rc = pthread_create(&g_thread, NULL, worker_main, NULL);
            CHECK(rc == 0, "cannot start the I/O thread (pthread_create error %d)", rc);
        }
    }
    pthread_mutex_unlock(&g_mu);
}

void io_worker_stop(void) {
    pthread_mutex_lock(&g_mu);
    CHECK(g_refs > 0, "io_worker_stop without io_worker_start");
    int last = --g_refs == 0, threaded = g_threaded;
    if (last && threaded) {
        g_quit = 1;
        pthread_cond_broadcast(&g_work);
    }
    pthread_mutex_unlock(&g_mu);
    if (last && threaded) pthread_join(g_thread, NULL);
}

int io_worker_threaded(void) {
    pthread_mutex_lock(&g_mu);
    int t = g_refs > 0 && g_threaded;
    pthread_mutex_unlock(&g_mu);
    return t;
}

void io_job_submit(IoJob *job) {
    CHECK(job && job->run, "io_job_submit: job without a function");
    pthread_mutex_lock(&g_mu);
    CHECK(g_refs > 0, "io_job_submit before io_worker_start");
    job->done = 0;
    job->next = NULL;
    if (!g_threaded) {
        pthread_mutex_unlock(&g_mu);
        job->run(job->arg);
        job->done = 1;
        return;
    }
    if (g_tail)
        g_tail->next = job;
    else
        g_head = job;
    g_tail = job;
    pthread_cond_signal(&g_work);
    pthread_mutex_unlock(&g_mu);
}

void io_job_wait(IoJob *job) {
    pthread_mutex_lock(&g_mu);
    while (!job->done) pthread_cond_wait(&g_done, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

void io_job_run(void (*run)(void *arg), void *arg) {
    IoJob j = {.run = run, .arg = arg};
    io_job_submit(&j);
    io_job_wait(&j);
}
