// Communication between data-parallel ranks.
//
// A small opaque state + functions API so the backend can change without
// touching callers: this header carries no MPI (or NCCL) types. mpi/comm.c is
// the MPI implementation over host buffers; in CUDA builds it hands device
// buffers to the NCCL implementation (mpi/nccl.cu) once comm_enable_gpu ran.
//
// Every function is collective over all ranks (except the rank/size getters,
// comm_test and comm_wait) and must be called by every rank in the same order
// with the same sizes.
// Any communication failure is fatal: it reports file:line and the MPI error
// text and aborts the whole job (comm_init installs an abort hook so that every
// CHECK/DIE in the program calls MPI_Abort instead of leaving peers waiting).
//
// Element counts are size_t: counts above the backend's per-call limit (MPI
// counts are int) are split into several calls transparently.
#ifndef ASTROMM_COMM_H
#define ASTROMM_COMM_H

#include <stddef.h>

typedef struct Comm Comm;

// Initialises MPI if nobody has yet (also works without mpirun: a singleton
// of one rank). Finds the node-local rank from the ranks sharing memory.
Comm *comm_init(int *argc, char ***argv);
// Frees the communicator; finalises MPI when comm_init initialised it.
void comm_finalize(Comm *c);

int comm_rank(const Comm *c);
int comm_size(const Comm *c);
int comm_local_rank(const Comm *c);   // rank among the ranks on this node
int comm_local_size(const Comm *c);   // number of ranks on this node
// 1 when MPI runs with MPI_THREAD_MULTIPLE (a second thread may use MPI on its
// own communicator while the main thread communicates).
int comm_thread_multiple(const Comm *c);

// buf[i] = sum over ranks of buf[i], in place.
void comm_allreduce_sum(Comm *c, float *buf, size_t n);
// buf[i] = (sum over ranks of buf[i]) / size, in place.
void comm_allreduce_mean(Comm *c, float *buf, size_t n);
// Sum over ranks of v (the same on every rank).
double comm_allreduce_sum_double(Comm *c, double v);
// 1 on every rank when any rank passed failed != 0, else 0: how the ranks agree
// to stop together after a local error (the rank that failed reports it).
int comm_any_failed(Comm *c, int failed);
// buf[i] = sum over ranks of buf[i] for n host doubles, in place. Always MPI
// (host memory, also after comm_enable_gpu): for small host-side statistics.
void comm_allreduce_sum_host(Comm *c, double *buf, size_t n);
// recv[r*n + i] = send_r[i] for every rank r: recv holds size*n floats.
// send may be recv + rank*n (in place); otherwise they must not overlap.
void comm_allgather(Comm *c, const float *send, float *recv, size_t n_per_rank);
// recv_r[i] = sum over ranks k of send_k[r*n + i]: send holds size*n floats,
// recv n floats; they must not overlap.
void comm_reduce_scatter_sum(Comm *c, const float *send, float *recv, size_t n_per_rank);
// Host rows of every rank, in rank order: rank r's n_rows rows of row_bytes
// bytes land at recv + r * n_rows * row_bytes, on root only (recv may be NULL
// elsewhere). Every rank passes the same n_rows and row_bytes. Always MPI.
void comm_gather_rows(Comm *c, const void *send, void *recv, size_t row_bytes, size_t n_rows, int root);
// The same to every rank: recv holds size * bytes bytes. Always MPI.
void comm_allgather_bytes(Comm *c, const void *send, void *recv, size_t bytes);
// Copies bytes bytes of root's buf to every rank's buf.
void comm_broadcast(Comm *c, void *buf, size_t bytes, int root);
void comm_barrier(Comm *c);
// 1 when another rank on this node passed the same key (bytes <= 64), e.g. the
// UUID of the GPU it uses: ranks sharing a GPU, which NCCL refuses. Collective
// over the ranks of this node.
int comm_node_key_shared(Comm *c, const void *key, size_t bytes);

// Non-blocking all-reduce (gradient buckets overlapped with the backward).
// comm_iallreduce_sum/_mean start the reduction of buf in place and return at
// once; buf must be neither read nor written until comm_wait returns, and every
// rank must start its requests in the same order (as for any collective).
// Counts above the per-call limit become several MPI_Iallreduce requests
// (comm_set_max_count), completed together. Several requests may be in flight
// at once; blocking collectives may run meanwhile (same order on every rank).
// comm_test drives MPI progress (Open MPI progresses non-blocking collectives
// only inside MPI calls: calling it between compute phases lets the reduction
// advance) and returns 1 once the request has completed; it frees nothing.
// comm_wait completes the request, divides by the rank count for _mean, and
// frees it (NULL is a no-op).
// NCCL mode (comm_enable_gpu, CUDA op device): the all-reduce is enqueued on the
// communication stream after the compute work already issued (so buf holds its
// final values) and the compute stream waits for it only in comm_wait (an event,
// no host sync): kernels issued in between — the rest of the backward — overlap
// with it. comm_test queries the event. (Written without a GPU to run it on:
// unverified until the GPU tests run, issue 3.)
typedef struct CommRequest CommRequest;
CommRequest *comm_iallreduce_sum(Comm *c, float *buf, size_t n);
CommRequest *comm_iallreduce_mean(Comm *c, float *buf, size_t n);
int comm_test(CommRequest *r);
void comm_wait(CommRequest *r);

// CUDA builds: after this, comm_allreduce_sum/mean, comm_allgather,
// comm_reduce_scatter_sum and comm_broadcast run on NCCL for buffers in GPU
// memory (rank 0's unique id is broadcast over MPI; the communicator uses the
// device ops_set_device selected; NCCL needs one GPU per rank). Host buffers
// still go to MPI. Without it, GPU buffers are staged through host memory to
// MPI (correct at any rank count, synchronous, slower).
// They are ordered after the work already on the compute stream and later
// compute-stream work waits for them (no host sync needed).
// comm_allreduce_sum_double and comm_barrier stay on MPI (host values).
// Collective; call it after ops_set_device(OPS_CUDA, ...). Calling it again is
// a no-op. In a build without CUDA it is a fatal error.
void comm_enable_gpu(Comm *c);

// Testing knob: the largest element count passed to one backend call
// (default and maximum INT_MAX); 0 restores the default. Lets tests exercise
// the chunking path with small buffers. Every rank must set the same value.
void comm_set_max_count(Comm *c, size_t max_count);

#endif
