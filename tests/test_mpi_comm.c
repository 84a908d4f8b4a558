// mpi/comm: every collective checked against its definition with rank-dependent
// data, at sizes 0, 1, odd and larger, and again through the chunked path
// (comm_set_max_count) with counts that are and are not multiples of the chunk.
// Values are small integers so the expected sums are exact in float.
//
// Runs as a singleton (plain ctest "unit" entry) and under mpirun (mpi_tests.cmake).
// Rank 0 prints "ranks=N, C checks, F failed" with the counts summed over all
// ranks; every rank exits non-zero when any rank failed.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mpi/comm.h"
#include "mpi_testutil.h"
#include "testutil.h"

static int g_rank, g_size;

// Exact small-integer test values.
static float ar_val(int rank, size_t i) { return (float)((rank + 1) * (int)(i % 13 + 1)); }

static void test_allreduce(Comm *c, size_t n) {
    float *buf = am_malloc(n * sizeof(float) + 4, "buf");
    const double tri = g_size * (g_size + 1) / 2.0;
    for (size_t i = 0; i < n; i++) buf[i] = ar_val(g_rank, i);
    comm_allreduce_sum(c, buf, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != (float)(tri * (double)(i % 13 + 1));
    EXPECT(bad == 0, "allreduce_sum n=%zu: %zu wrong elements (rank %d)", n, bad, g_rank);

    for (size_t i = 0; i < n; i++) buf[i] = ar_val(g_rank, i);
    comm_allreduce_mean(c, buf, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double want = tri * (double)(i % 13 + 1) / g_size;
        bad += fabs(buf[i] - want) > 1e-6 * fabs(want);
    }
    EXPECT(bad == 0, "allreduce_mean n=%zu: %zu wrong elements (rank %d)", n, bad, g_rank);
    free(buf);
}

static void test_allgather(Comm *c, size_t n) {
    const size_t W = (size_t)g_size;
    float *send = am_malloc(n * sizeof(float) + 4, "send");
    float *recv = am_malloc(W * n * sizeof(float) + 4, "recv");
    for (size_t i = 0; i < n; i++) send[i] = (float)(g_rank * 100000 + (int)(i % 99991));
    for (size_t i = 0; i < W * n; i++) recv[i] = -1.0f;
    comm_allgather(c, send, recv, n);
    size_t bad = 0;
    for (size_t r = 0; r < W; r++)
        for (size_t i = 0; i < n; i++)
            bad += recv[r * n + i] != (float)((int)r * 100000 + (int)(i % 99991));
    EXPECT(bad == 0, "allgather n=%zu: %zu wrong elements (rank %d)", n, bad, g_rank);
    EXPECT(memcmp(send, recv + (size_t)g_rank * n, n * sizeof(float)) == 0 || n == 0,
           "allgather n=%zu changed own block", n);

    // In place: send is this rank's block of recv.
    for (size_t i = 0; i < W * n; i++) recv[i] = -1.0f;
    for (size_t i = 0; i < n; i++)
        recv[(size_t)g_rank * n + i] = (float)(g_rank * 100000 + (int)(i % 99991));
    comm_allgather(c, recv + (size_t)g_rank * n, recv, n);
    bad = 0;
    for (size_t r = 0; r < W; r++)
        for (size_t i = 0; i < n; i++)
            bad += recv[r * n + i] != (float)((int)r * 100000 + (int)(i % 99991));
    EXPECT(bad == 0, "allgather in place n=%zu: %zu wrong elements (rank %d)", n, bad, g_rank);
    free(send);
    free(recv);
}

// send_k[r*n + i] = (k+1) * (7r + i%11 + 1)  =>  recv_r[i] = tri * (7r + i%11 + 1)
static void test_reduce_scatter(Comm *c, size_t n) {
    const size_t W = (size_t)g_size;
    float *send = am_malloc(W * n * sizeof(float) + 4, "send");
    float *recv = am_malloc(n * sizeof(float) + 4, "recv");
    for (size_t r = 0; r < W; r++)
        for (size_t i = 0; i < n; i++)
            send[r * n + i] = (float)((g_rank + 1) * (7 * (int)r + (int)(i % 11) + 1));
    for (size_t i = 0; i < n; i++) recv[i] = -1.0f;
    comm_reduce_scatter_sum(c, send, recv, n);
    const double tri = g_size * (g_size + 1) / 2.0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += recv[i] != (float)(tri * (7 * g_rank + (int)(i % 11) + 1));
    EXPECT(bad == 0, "reduce_scatter_sum n=%zu: %zu wrong elements (rank %d)", n, bad, g_rank);
    // send is input only.
    bad = 0;
    for (size_t r = 0; r < W; r++)
        for (size_t i = 0; i < n; i++)
            bad += send[r * n + i] != (float)((g_rank + 1) * (7 * (int)r + (int)(i % 11) + 1));
    EXPECT(bad == 0, "reduce_scatter_sum n=%zu modified its send buffer", n);
    free(send);
    free(recv);
}

static void test_broadcast(Comm *c, size_t bytes, int root) {
    unsigned char *buf = am_malloc(bytes + 1, "bcast");
    for (size_t i = 0; i < bytes; i++)
        buf[i] = g_rank == root ? (unsigned char)((i * 31 + 7) & 0xff) : (unsigned char)0xAA;
    comm_broadcast(c, buf, bytes, root);
    size_t bad = 0;
    for (size_t i = 0; i < bytes; i++) bad += buf[i] != (unsigned char)((i * 31 + 7) & 0xff);
    EXPECT(bad == 0, "broadcast %zu bytes from root %d: %zu wrong bytes (rank %d)", bytes, root,
           bad, g_rank);
    free(buf);
}

// Rows of row_bytes bytes: n_rows from every rank to root (comm_gather_rows)
// and, as n_rows * row_bytes bytes, to every rank (comm_allgather_bytes).
static unsigned char row_byte(int rank, size_t i) { return (unsigned char)((rank * 37 + i * 11 + 3) & 0xff); }

static void test_gather_rows(Comm *c, size_t row_bytes, size_t n_rows, int root) {
    const size_t n = row_bytes * n_rows, W = (size_t)g_size;
    unsigned char *send = am_malloc(n + 1, "gather send"), *recv = am_malloc(W * n + 1, "gather recv");
    for (size_t i = 0; i < n; i++) send[i] = row_byte(g_rank, i);
    memset(recv, 0xAA, W * n);
    comm_gather_rows(c, send, g_rank == root ? recv : NULL, row_bytes, n_rows, root);
    size_t bad = 0;
    for (size_t r = 0; g_rank == root && r < W; r++)
        for (size_t i = 0; i < n; i++) bad += recv[r * n + i] != row_byte((int)r, i);
    EXPECT(bad == 0, "gather_rows %zu x %zu bytes to root %d: %zu wrong bytes (rank %d)", n_rows, row_bytes, root,
           bad, g_rank);
    memset(recv, 0xAA, W * n);
    comm_allgather_bytes(c, send, recv, n);
    bad = 0;
    for (size_t r = 0; r < W; r++)
        for (size_t i = 0; i < n; i++) bad += recv[r * n + i] != row_byte((int)r, i);
    EXPECT(bad == 0, "allgather_bytes %zu bytes: %zu wrong bytes (rank %d)", n, bad, g_rank);
    EXPECT(comm_any_failed(c, g_rank == (int)(n % W)) == 1 && comm_any_failed(c, 0) == 0, "any_failed (rank %d)",
           g_rank);
    free(send);
    free(recv);
}

static void test_all(Comm *c, const size_t *sizes, int nsizes) {
    for (int k = 0; k < nsizes; k++) {
        test_gather_rows(c, 3, sizes[k], g_size - 1);
        test_gather_rows(c, 40, sizes[k] % 50, 0);
        test_allreduce(c, sizes[k]);
        test_allgather(c, sizes[k]);
        test_reduce_scatter(c, sizes[k]);
        test_broadcast(c, sizes[k], 0);
        test_broadcast(c, sizes[k] * 4 + 3, g_size - 1);
    }
}

static void test_topology(Comm *c) {
    EXPECT(g_size >= 1 && g_rank >= 0 && g_rank < g_size, "rank %d of %d", g_rank, g_size);
    const int lr = comm_local_rank(c), ls = comm_local_size(c);
    EXPECT(ls >= 1 && ls <= g_size && lr >= 0 && lr < ls, "local rank %d of %d (world %d)", lr,
           ls, g_size);
    // Every node has exactly one local rank 0, and its local_size ranks each
    // contribute 1/local_size: both sums count the nodes.
    const double nodes = comm_allreduce_sum_double(c, lr == 0 ? 1.0 : 0.0);
    const double nodes2 = comm_allreduce_sum_double(c, 1.0 / ls);
    EXPECT(nodes >= 1 && fabs(nodes - nodes2) < 1e-9, "node count %g vs %g", nodes, nodes2);
    const double ranks = comm_allreduce_sum_double(c, 1.0);
    EXPECT(ranks == g_size, "sum of ones over ranks %g != size %d", ranks, g_size);
    const double ids = comm_allreduce_sum_double(c, g_rank + 0.5);
    EXPECT(ids == g_size * (g_size - 1) / 2.0 + 0.5 * g_size, "sum of rank+0.5 = %g", ids);
    // Distinct ranks: gather them and check they are a permutation of 0..W-1.
    float *all = am_malloc((size_t)g_size * sizeof(float), "ranks");
    float me = (float)g_rank;
    comm_allgather(c, &me, all, 1);
    for (int r = 0; r < g_size; r++) EXPECT(all[r] == (float)r, "gathered rank %g at %d", all[r], r);
    free(all);
    comm_barrier(c);
}

// comm_node_key_shared: distinct keys (the rank) are never shared; one key for
// all is shared as soon as the node has two ranks; pairs (rank / 2) share when
// the partner is on the node (in these tests every rank is on one node).
static void test_node_keys(Comm *c) {
    const int L = comm_local_size(c);
    const uint64_t mine = (uint64_t)g_rank, same = 42, pair = (uint64_t)(g_rank / 2);
    EXPECT(comm_node_key_shared(c, &mine, sizeof mine) == 0, "rank %d: distinct keys reported shared", g_rank);
    EXPECT(comm_node_key_shared(c, &same, sizeof same) == (L > 1), "rank %d: one key for %d ranks", g_rank, L);
    const int partner = g_rank ^ 1;
    EXPECT(comm_node_key_shared(c, &pair, sizeof pair) == (partner < g_size && L == g_size),
           "rank %d: pair keys", g_rank);
}

int main(int argc, char **argv) {
    Comm *c = comm_init(&argc, &argv);
    g_rank = comm_rank(c);
    g_size = comm_size(c);

    // Harness self-test: TEST_MPI_INJECT=fail:R records a failure on rank R,
    // die:R makes rank R hit a CHECK (which must abort every rank, not hang).
    const char *inject = getenv("TEST_MPI_INJECT");
    int inject_rank = -1;
    if (inject && sscanf(inject, "fail:%d", &inject_rank) == 1 && inject_rank == g_rank)
        EXPECT(0, "injected failure on rank %d", g_rank);
    if (inject && sscanf(inject, "die:%d", &inject_rank) == 1 && inject_rank == g_rank)
        comm_broadcast(c, &inject_rank, sizeof inject_rank, g_size);  // invalid root

    test_topology(c);
    test_node_keys(c);

    // Direct path (one MPI call per collective).
    const size_t sizes[] = {0, 1, 2, 7, 1000, 4097, 100003};
    test_all(c, sizes, (int)(sizeof sizes / sizeof sizes[0]));

    // Chunked path: 7 elements per call; 14 and 7 are exact multiples
    // (0 remainder), the others are not; 100003 means thousands of pieces.
    comm_set_max_count(c, 7);
    const size_t chunked[] = {0, 1, 6, 7, 8, 14, 23, 1000, 100003};
    test_all(c, chunked, (int)(sizeof chunked / sizeof chunked[0]));
    // One element per call.
    comm_set_max_count(c, 1);
    const size_t tiny[] = {0, 1, 5};
    test_all(c, tiny, 3);
    comm_set_max_count(c, 0);  // back to the default
    test_all(c, sizes + 4, 1);

    return mpi_finish(c, "test_mpi_comm");
}
