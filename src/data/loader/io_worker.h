// The process-wide I/O thread. HDF5 (as Debian builds it) is not thread-safe,
// and collective MPI-IO reads must be issued in the same order on every rank.
// One FIFO worker thread satisfies both: every HDF5 call of the loaders (and of
// anyone else while a loader is alive) runs as a job on it, jobs run one at a
// time in submission order, and since every rank submits the same jobs in the
// same program order, collective reads match up across ranks without extra
// synchronisation (two loaders can never interleave their collectives
// differently on two ranks).
//
// Without a thread (io_worker_start(0), e.g. MPI without MPI_THREAD_MULTIPLE)
// jobs run synchronously inside io_job_submit: same results, no overlap.
#ifndef ASTROMM_IO_WORKER_H
#define ASTROMM_IO_WORKER_H

typedef struct IoJob {
    void (*run)(void *arg);
    void *arg;
    // private
    int done;
    struct IoJob *next;
} IoJob;

// Starts the worker (threaded = 1) or the synchronous mode. Reference-counted:
// every io_worker_start is matched by one io_worker_stop; the first start
// decides the mode. The thread exits when the count returns to 0.
void io_worker_start(int threaded);
void io_worker_stop(void);
int io_worker_threaded(void);
// Queues job (run must not be NULL); returns at once when threaded. The job
// struct must stay alive until io_job_wait returns.
void io_job_submit(IoJob *job);
// Blocks until a submitted job has run.
void io_job_wait(IoJob *job);
// submit + wait.
void io_job_run(void (*run)(void *arg), void *arg);

#endif
