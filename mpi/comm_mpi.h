// The MPI handle behind a Comm, for libraries that need one themselves
// (parallel HDF5's MPI-IO driver). Everything else uses mpi/comm.h.
#ifndef ASTROMM_COMM_MPI_H
#define ASTROMM_COMM_MPI_H

#include <mpi.h>

#include "mpi/comm.h"

// A new duplicate of the communicator's ranks (errors returned, not fatal);
// the caller frees it with MPI_Comm_free. Collective.
MPI_Comm comm_mpi_dup(const Comm *c);

#endif
