// The NCCL backend of mpi/comm.h (mpi/nccl.cu) against the MPI backend.
//
// Phase 1 runs every collective through MPI on host buffers (CPU op device,
// NCCL not enabled) and keeps the results; phase 2 selects the CUDA device
// (GPU = node-local rank), calls comm_enable_gpu and runs the same collectives
// on device copies of the same data through NCCL. Checked: allreduce sum and
// mean, allgather (out of place and in place), reduce-scatter sum, broadcast
// from the first and last rank (odd byte counts), sizes from 1 float to ~1M
// (odd, so no chunk boundary is aligned), and that comm_allreduce_sum_double
// and comm_barrier still work on the host once NCCL is up. Between upload,
// collectives and download there is no explicit synchronisation: the event
// ordering of mpi/nccl.cu must make the results right.
//
// Tolerance: NCCL and MPI may sum in another order (and ncclAvg may scale
// before summing), so floats are compared as max |nccl - mpi| / max |mpi|
// <= 1e-6 (sums of at most a few terms); the broadcast must be bitwise.
//
// Phase 2 first runs without NCCL: GPU buffers are then staged through host
// memory to MPI (mpi/comm.c; how ranks that share a GPU communicate), then,
// when every rank has a GPU of its own, through NCCL. Run under mpirun -np 2
// (tests/gpu_tests.cmake) and as a single rank. NCCL refuses two ranks on one
// GPU, so on a one-GPU machine np 2 checks the staged path only (and says so).
// Without a usable GPU every rank prints "SKIP: ..." and exits 77 (the
// decision is agreed over MPI, so all ranks skip or none does). ASTROMM_GPU_TESTS_ON_CPU=1 instead runs phase 2
// on the CPU device through MPI: a self-test of the harness only.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/comm.h"
#include "mpi_testutil.h"
#include "nn/ops.h"
#include "testutil.h"

#define TOL 1e-6

static const size_t g_sizes[] = {1, 7, 1000, 65537, (1u << 20) + 3};
#define NSIZES (sizeof g_sizes / sizeof g_sizes[0])

// Deterministic data of (rank, case, i), in [-1, 1).
static float val(int rank, int kase, size_t i) {
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(rank + 1) << 40) ^
                 ((uint64_t)(kase + 1) << 52);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (float)((double)(x >> 40) / (double)(1u << 24) * 2.0 - 1.0);
}

static float *fill(int rank, int kase, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    REQUIRE(h, "out of host memory");
    for (size_t i = 0; i < n; i++) h[i] = val(rank, kase, i);
    return h;
}

static unsigned char *fill_bytes(int rank, int kase, size_t n) {
    unsigned char *h = malloc(n ? n : 1);
    REQUIRE(h, "out of host memory");
    for (size_t i = 0; i < n; i++) h[i] = (unsigned char)((i * 131u + (size_t)rank * 17u +
                                                           (size_t)kase * 7u) & 0xffu);
    return h;
}

// Results of phase 1, per size: allreduce sum, mean, allgather, in-place
// allgather, reduce-scatter, broadcast root 0, broadcast root size-1.
enum { R_SUM, R_MEAN, R_GATHER, R_GATHER_IP, R_RS, R_BC0, R_BCL, R_COUNT };
static void *g_ref[NSIZES][R_COUNT];

static size_t bc_bytes(size_t n) { return n * sizeof(float) - (n > 1 ? 1 : 0); }

static void run_mpi(Comm *c) {
    const int rank = comm_rank(c), W = comm_size(c);
    for (size_t k = 0; k < NSIZES; k++) {
        const size_t n = g_sizes[k];
        float *a = fill(rank, 0, n);
        comm_allreduce_sum(c, a, n);
        g_ref[k][R_SUM] = a;
        a = fill(rank, 1, n);
        comm_allreduce_mean(c, a, n);
        g_ref[k][R_MEAN] = a;

        float *send = fill(rank, 2, n);
        float *recv = calloc((size_t)W * n, sizeof *recv);
        REQUIRE(recv, "out of host memory");
        comm_allgather(c, send, recv, n);
        free(send);
        g_ref[k][R_GATHER] = recv;
        recv = calloc((size_t)W * n, sizeof *recv);
        REQUIRE(recv, "out of host memory");
        send = fill(rank, 3, n);
        memcpy(recv + (size_t)rank * n, send, n * sizeof *send);
        free(send);
        comm_allgather(c, recv + (size_t)rank * n, recv, n);
        g_ref[k][R_GATHER_IP] = recv;

        send = fill(rank, 4, (size_t)W * n);
        recv = calloc(n, sizeof *recv);
        REQUIRE(recv, "out of host memory");
        comm_reduce_scatter_sum(c, send, recv, n);
        free(send);
        g_ref[k][R_RS] = recv;

        const size_t bytes = bc_bytes(n);
        unsigned char *b = fill_bytes(rank, 5, bytes);
        comm_broadcast(c, b, bytes, 0);
        g_ref[k][R_BC0] = b;
        b = fill_bytes(rank, 6, bytes);
        comm_broadcast(c, b, bytes, W - 1);
        g_ref[k][R_BCL] = b;
    }
}

static void *to_dev(const void *h, size_t bytes) {
    void *d = ops_alloc(bytes ? bytes : 1, "test buffer");
    if (bytes) ops_to_device(d, h, bytes);
    return d;
}

static void expect_floats(const char *what, size_t n, const float *dev, const float *ref) {
    float *got = malloc((n ? n : 1) * sizeof *got);
    REQUIRE(got, "out of host memory");
    ops_to_host(got, dev, n * sizeof *got);
    const double err = tu_max_rel_err(got, ref, n, 1e-30);
    EXPECT(err <= TOL, "%s n=%zu: max rel error %.3g > %.1g", what, n, err, TOL);
    free(got);
}

static void run_nccl(Comm *c) {
    const int rank = comm_rank(c), W = comm_size(c);
    for (size_t k = 0; k < NSIZES; k++) {
        const size_t n = g_sizes[k];
        float *h = fill(rank, 0, n);
        float *d = to_dev(h, n * sizeof *h);
        comm_allreduce_sum(c, d, n);
        expect_floats("allreduce_sum", n, d, g_ref[k][R_SUM]);
        ops_free(d);
        free(h);

        h = fill(rank, 1, n);
        d = to_dev(h, n * sizeof *h);
        comm_allreduce_mean(c, d, n);
        expect_floats("allreduce_mean", n, d, g_ref[k][R_MEAN]);
        ops_free(d);
        free(h);

        h = fill(rank, 2, n);
        d = to_dev(h, n * sizeof *h);
        float *dr = ops_alloc((size_t)W * n * sizeof(float), "test gather");
        comm_allgather(c, d, dr, n);
        expect_floats("allgather", (size_t)W * n, dr, g_ref[k][R_GATHER]);
        ops_free(d);
        free(h);
        ops_zero(dr, (size_t)W * n);
        h = fill(rank, 3, n);
        ops_to_device(dr + (size_t)rank * n, h, n * sizeof *h);
        comm_allgather(c, dr + (size_t)rank * n, dr, n);
        expect_floats("allgather in place", (size_t)W * n, dr, g_ref[k][R_GATHER_IP]);
        ops_free(dr);
        free(h);

        h = fill(rank, 4, (size_t)W * n);
        d = to_dev(h, (size_t)W * n * sizeof *h);
        dr = ops_alloc(n * sizeof(float), "test reduce-scatter");
        comm_reduce_scatter_sum(c, d, dr, n);
        expect_floats("reduce_scatter_sum", n, dr, g_ref[k][R_RS]);
        ops_free(d);
        ops_free(dr);
        free(h);

        const size_t bytes = bc_bytes(n);
        for (int which = 0; which < 2; which++) {
            const int root = which ? W - 1 : 0;
            unsigned char *b = fill_bytes(rank, 5 + which, bytes);
            void *db = to_dev(b, bytes);
            comm_broadcast(c, db, bytes, root);
            memset(b, 0, bytes);
            ops_to_host(b, db, bytes);
            EXPECT(memcmp(b, g_ref[k][which ? R_BCL : R_BC0], bytes) == 0,
                   "broadcast root %d: %zu bytes differ from MPI", root, bytes);
            ops_free(db);
            free(b);
        }
    }
    // Host scalars and barriers stay on MPI with NCCL enabled.
    const double s = comm_allreduce_sum_double(c, (double)(rank + 1));
    EXPECT(s == (double)W * (W + 1) / 2, "allreduce_sum_double with NCCL up: %g", s);
    comm_barrier(c);
}

int main(int argc, char **argv) {
    Comm *c = comm_init(&argc, &argv);
    const int rank = comm_rank(c), W = comm_size(c), local = comm_local_size(c);
    ops_init(1);
    const int gpus = ops_cuda_device_count();  // 0 without CUDA or a GPU
    const char *self_env = getenv("ASTROMM_GPU_TESTS_ON_CPU");
    const int self = self_env && !strcmp(self_env, "1");
    // Agreed over MPI: all ranks take the same branches.
    const double with_gpu = comm_allreduce_sum_double(c, gpus > 0 ? 1.0 : 0.0);
    const double own_gpu = comm_allreduce_sum_double(c, gpus >= local ? 1.0 : 0.0);
    if (with_gpu < (double)W && self) {
        // Harness self-test: phase 2 on the CPU device (MPI against MPI).
        if (rank == 0)
            printf("test_gpu_nccl: no GPU per rank; ASTROMM_GPU_TESTS_ON_CPU=1: phase 2 runs on "
                   "the CPU device through MPI (a self-test of the harness, not of NCCL)\n");
        run_mpi(c);
        run_nccl(c);
        for (size_t k = 0; k < NSIZES; k++)
            for (int r = 0; r < R_COUNT; r++) free(g_ref[k][r]);
        return mpi_finish(c, "test_gpu_nccl");
    }
    if (with_gpu < (double)W) {
        printf("SKIP (rank %d): no usable GPU / no CUDA in this build (test_gpu_nccl)\n", rank);
        fflush(stdout);
        comm_finalize(c);
        return 77;
    }
    run_mpi(c);
    ops_set_device(OPS_CUDA, comm_local_rank(c) % gpus);
    // Phase 2a: GPU buffers without NCCL are staged through host memory to MPI
    // (what ranks sharing a GPU use); the results must equal phase 1 exactly as
    // NCCL's must.
    if (rank == 0)
        printf("test_gpu_nccl: %d rank(s) on %d GPU(s): GPU buffers staged through host memory\n", W, gpus);
    run_nccl(c);
    // Phase 2b: NCCL, when every rank has a GPU of its own (NCCL refuses two
    // ranks on one GPU: "Duplicate GPU detected").
    if (own_gpu == (double)W) {
        comm_enable_gpu(c);
        comm_enable_gpu(c);  // a second call is a no-op
        if (rank == 0)
            printf("test_gpu_nccl: %d rank(s), device %s, GPU = local rank: NCCL\n", W, ops_device_name());
        run_nccl(c);
    } else if (rank == 0) {
        printf("test_gpu_nccl: NCCL part not run: %d rank(s) on this node (on some node) but %d GPU(s); "
               "NCCL needs one GPU per rank\n", local, gpus);
    }
    for (size_t k = 0; k < NSIZES; k++)
        for (int r = 0; r < R_COUNT; r++) free(g_ref[k][r]);
    return mpi_finish(c, "test_gpu_nccl");
}
