// NCCL backend of mpi/comm.h over device buffers (mpi/nccl.cu, CUDA builds only).
//
// mpi/comm.c bootstraps it (comm_enable_gpu: rank 0's unique id is broadcast
// with MPI) and routes the float collectives here while the op device is CUDA.
// One communicator per process, on the CUDA device current at comm_nccl_init
// (the one ops_set_device selected), with its own non-blocking stream.
//
// Ordering: every collective waits (an event, no host sync) for the work
// already enqueued on the compute stream (cuda_stream()), runs on the
// communication stream, and the compute stream then waits for it; callers
// need no explicit synchronisation.
//
// Errors: every NCCL call is checked (fatal, with file:line and NCCL's text).
// Host waits (comm_nccl_synchronize, comm_nccl_finalize) poll
// ncclCommGetAsyncError, so a failing peer aborts the job instead of hanging.
#ifndef ASTROMM_COMM_NCCL_H
#define ASTROMM_COMM_NCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

size_t comm_nccl_id_size(void);          // bytes of an NCCL unique id
void comm_nccl_get_id(void *out);        // ncclGetUniqueId into out (comm_nccl_id_size bytes)
// ncclCommInitRank on the current CUDA device; returns 0 (failures are fatal).
int comm_nccl_init(int rank, int size, const void *unique_id_bytes);
int comm_nccl_enabled(void);

// In place: buf = sum (mean != 0: average) over ranks.
void comm_nccl_allreduce(float *buf, size_t n, int mean);
// The same without making the compute stream wait: returns a handle (an event
// recorded after the collective) for comm_nccl_test / comm_nccl_wait.
void *comm_nccl_allreduce_async(float *buf, size_t n, int mean);
int comm_nccl_test(void *handle);   // 1 once the collective has completed on the device
void comm_nccl_wait(void *handle);  // compute stream waits for it; releases the handle
// recv holds size * n_per_rank floats; send may be recv + rank * n_per_rank.
void comm_nccl_allgather(const float *send, float *recv, size_t n_per_rank);
// send holds size * n_per_rank floats, recv n_per_rank.
void comm_nccl_reduce_scatter_sum(const float *send, float *recv, size_t n_per_rank);
void comm_nccl_broadcast(void *buf, size_t bytes, int root);
// Host wait for every collective issued so far (polls for asynchronous errors).
void comm_nccl_synchronize(void);
// Waits for outstanding collectives, then finalises and destroys the communicator.
void comm_nccl_finalize(void);

#ifdef __cplusplus
}
#endif

#endif
