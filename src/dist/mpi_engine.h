// The MPI engine behind roast::dist::connect(): mpi_communicator.cpp when CMake found MPI
// (ROAST_WITH_MPI), else no_mpi.cpp. Engine code; only mpi_communicator.cpp includes <mpi.h>.
#pragma once

#include <memory>

#include "roast/distributed.h"

namespace roast::dist::detail {

// Initialises MPI (MPI_THREAD_FUNNELED: only the calling thread talks to MPI) and returns
// the communicator of MPI_COMM_WORLD, which finalises MPI when destroyed. Throws roast::Error
// in a build without MPI.
std::unique_ptr<Communicator> connect_mpi();
bool have_mpi();

}  // namespace roast::dist::detail
