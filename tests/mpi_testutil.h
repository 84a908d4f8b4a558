// Summary line for MPI tests: failures and checks summed over every rank, so
// rank 0's line (which ctest matches, with the rank count) speaks for all, and
// every rank exits non-zero when any rank failed.
#ifndef ASTROMM_MPI_TESTUTIL_H
#define ASTROMM_MPI_TESTUTIL_H

#include <stdio.h>

#include "mpi/comm.h"
#include "testutil.h"

static inline int mpi_finish(Comm *c, const char *name) {
    const int rank = comm_rank(c), size = comm_size(c);
    const double fails = comm_allreduce_sum_double(c, tu_failures);
    const double checks = comm_allreduce_sum_double(c, tu_checks);
    if (rank == 0) {
        printf("%s: ranks=%d, %.0f checks, %.0f failed\n", name, size, checks, fails);
        fflush(stdout);
    }
    comm_finalize(c);
    return fails > 0 ? 1 : 0;
}

#endif
