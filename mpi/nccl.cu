// NCCL implementation of the device-buffer collectives (mpi/comm_nccl.h).
#include <nccl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "cuda/common.cuh"
#include "mpi/comm_nccl.h"

static ncclComm_t g_comm;
static cudaStream_t g_comm_stream;
static cudaEvent_t g_ev_compute;  // compute stream -> comm stream
static cudaEvent_t g_ev_comm;     // comm stream -> compute stream (and host waits)
static int g_rank = -1, g_size = 0;
static int g_inited;

static void nccl_fail(ncclResult_t r, const char *call, const char *file, int line) {
    const char *last = ncclGetLastError(g_comm);
    am_die(file, line, "rank %d: NCCL %s failed: %s%s%s", g_rank, call, ncclGetErrorString(r),
           last && *last ? ": " : "", last && *last ? last : "");
}

#define NCCL_CHECK(call)                                                      \
    do {                                                                      \
        ncclResult_t r_ = (call);                                             \
        if (r_ != ncclSuccess) nccl_fail(r_, #call, __FILE__, __LINE__);      \
    } while (0)

static void require_init(const char *what) {
    CHECK(g_inited, "%s: NCCL is not initialised (call comm_enable_gpu after "
                    "ops_set_device(OPS_CUDA))", what);
}

// Spins until ev has completed, checking the communicator for asynchronous
// errors (a failed or vanished peer): on error the communicator is aborted and
// the job dies instead of waiting forever.
static void wait_event(cudaEvent_t ev, int line) {
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady)
            am_die(__FILE__, line, "rank %d: CUDA %s while waiting for NCCL: %s", g_rank,
                   cudaGetErrorName(e), cudaGetErrorString(e));
        ncclResult_t async = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(g_comm, &async);
        if (r != ncclSuccess) nccl_fail(r, "ncclCommGetAsyncError", __FILE__, line);
        if (async != ncclSuccess && async != ncclInProgress) {
            const char *last = ncclGetLastError(g_comm);
            char text[512];
            snprintf(text, sizeof text, "%s", last && *last ? last : "");
            (void)ncclCommAbort(g_comm);
            g_comm = NULL;
            g_inited = 0;
            am_die(__FILE__, line,
                   "rank %d: NCCL asynchronous error: %s%s%s (communicator aborted; a peer "
                   "probably failed)", g_rank, ncclGetErrorString(async), *text ? ": " : "",
                   text);
        }
        sched_yield();
    }
}

// Comm stream waits for the compute stream's work so far.
static cudaStream_t begin(const char *what) {
    require_init(what);
    CUDA_CHECK(cudaEventRecord(g_ev_compute, cuda_stream()));
    CUDA_CHECK(cudaStreamWaitEvent(g_comm_stream, g_ev_compute, 0));
    return g_comm_stream;
}

// Compute stream waits for the collective just enqueued.
static void end(void) {
    CUDA_CHECK(cudaEventRecord(g_ev_comm, g_comm_stream));
    CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), g_ev_comm, 0));
}

extern "C" size_t comm_nccl_id_size(void) { return sizeof(ncclUniqueId); }

extern "C" void comm_nccl_get_id(void *out) {
    ncclUniqueId id;
    NCCL_CHECK(ncclGetUniqueId(&id));
    memcpy(out, &id, sizeof id);
}

extern "C" int comm_nccl_enabled(void) { return g_inited; }

extern "C" int comm_nccl_init(int rank, int size, const void *unique_id_bytes) {
    CHECK(!g_inited, "comm_nccl_init called twice");
    CHECK(size >= 1 && rank >= 0 && rank < size, "comm_nccl_init: rank %d of %d", rank, size);
    (void)cuda_stream();  // dies unless ops_set_device(OPS_CUDA) selected a device
    g_rank = rank;
    g_size = size;
    ncclUniqueId id;
    memcpy(&id, unique_id_bytes, sizeof id);
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_comm_stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&g_ev_compute, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&g_ev_comm, cudaEventDisableTiming));
    NCCL_CHECK(ncclCommInitRank(&g_comm, size, id, rank));
    g_inited = 1;
    return 0;
}

extern "C" void comm_nccl_allreduce(float *buf, size_t n, int mean) {
    cudaStream_t s = begin("comm_nccl_allreduce");
    if (n) NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat, mean ? ncclAvg : ncclSum, g_comm, s));
    end();
}

extern "C" void *comm_nccl_allreduce_async(float *buf, size_t n, int mean) {
    cudaStream_t s = begin("comm_nccl_allreduce_async");
    if (n) NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat, mean ? ncclAvg : ncclSum, g_comm, s));
    cudaEvent_t ev;
    CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(ev, g_comm_stream));
    return (void *)ev;
}

extern "C" int comm_nccl_test(void *handle) {
    const cudaError_t e = cudaEventQuery((cudaEvent_t)handle);
    if (e == cudaErrorNotReady) {
        (void)cudaGetLastError();
        return 0;
    }
    CUDA_CHECK(e);
    return 1;
}

extern "C" void comm_nccl_wait(void *handle) {
    CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), (cudaEvent_t)handle, 0));
    // Released by the runtime once the device has passed it.
    CUDA_CHECK(cudaEventDestroy((cudaEvent_t)handle));
}

extern "C" void comm_nccl_allgather(const float *send, float *recv, size_t n_per_rank) {
    cudaStream_t s = begin("comm_nccl_allgather");
    if (n_per_rank) NCCL_CHECK(ncclAllGather(send, recv, n_per_rank, ncclFloat, g_comm, s));
    end();
}

extern "C" void comm_nccl_reduce_scatter_sum(const float *send, float *recv, size_t n_per_rank) {
    cudaStream_t s = begin("comm_nccl_reduce_scatter_sum");
    if (n_per_rank)
        NCCL_CHECK(ncclReduceScatter(send, recv, n_per_rank, ncclFloat, ncclSum, g_comm, s));
    end();
}

extern "C" void comm_nccl_broadcast(void *buf, size_t bytes, int root) {
    cudaStream_t s = begin("comm_nccl_broadcast");
    CHECK(root >= 0 && root < g_size, "comm_nccl_broadcast: root %d is not a rank (size %d)",
          root, g_size);
    if (bytes) NCCL_CHECK(ncclBroadcast(buf, buf, bytes, ncclUint8, root, g_comm, s));
    end();
}

extern "C" void comm_nccl_synchronize(void) {
    require_init("comm_nccl_synchronize");
    CUDA_CHECK(cudaEventRecord(g_ev_comm, g_comm_stream));
    wait_event(g_ev_comm, __LINE__);
}

extern "C" void comm_nccl_finalize(void) {
    if (!g_inited) return;
    comm_nccl_synchronize();
    NCCL_CHECK(ncclCommFinalize(g_comm));
    NCCL_CHECK(ncclCommDestroy(g_comm));
    g_comm = NULL;
    g_inited = 0;
    CUDA_CHECK(cudaEventDestroy(g_ev_compute));
    CUDA_CHECK(cudaEventDestroy(g_ev_comm));
    CUDA_CHECK(cudaStreamDestroy(g_comm_stream));
    g_rank = -1;
    g_size = 0;
}
