// How roast-train ends a data-parallel job on an error (docs/distributed.md): an error every
// rank raised together (dist::CollectiveError) is printed once, by rank 0, and every rank
// exits with 2; an error only this rank has seen is printed with its rank, and MPI_Abort
// ends the whole job (mpirun exits with 2, or 1 for an internal error), so no rank is left
// waiting in a collective. One process: errors go to main() as before.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "roast/distributed.h"

namespace roast::cli {

template <typename Body>
void on_every_rank(dist::Communicator& comm, const Body& body) {
  if (comm.size() == 1) return body();
  try {
    body();
  } catch (const dist::CollectiveError& e) {
    if (comm.rank() == 0) std::fprintf(stderr, "error: %s\n", e.what());
    throw CLI::RuntimeError(2);
  } catch (const Error& e) {
    std::fprintf(stderr, "error (rank %d of %d; ending the job): %s\n", comm.rank(), comm.size(), e.what());
    std::fflush(stderr);
    comm.abort(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error (rank %d of %d; ending the job): %s\n", comm.rank(), comm.size(), e.what());
    std::fflush(stderr);
    comm.abort(1);
  }
}

}  // namespace roast::cli
