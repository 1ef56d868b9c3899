// Data-parallel training across processes: the communicator the trainer synchronises through.
//
// Every gradient of a roast model lives in its memory, so one all-reduce (sum) of the m
// floats of the memory's gradient per step keeps the ranks' models identical: the bytes
// exchanged shrink by the compression factor (docs/distributed.md).
//
//   auto comm = roast::dist::connect();        // MPI under mpirun, else one process
//   roast::TrainOptions options;  options.comm = comm.get();  ...  roast::train(options);
//
// Engines, not home-made transport: the MPI communicator (src/dist/mpi_communicator.cpp,
// built when CMake finds MPI) reduces host buffers with MPI_Allreduce; GPU gradients go
// through NCCL (kernels/cuda/nccl.cu, bootstrapped through this communicator). Every member
// is collective unless it says otherwise: all ranks call it, in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "roast/error.h"

namespace roast::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;        // 0 .. size() - 1; not collective
  virtual int size() const = 0;        // the number of ranks; not collective
  virtual int local_rank() const = 0;  // the rank among those on this machine (picks the GPU)
  virtual std::string engine() const = 0;  // "single process", "MPI (Open MPI v4.1.4)"; not collective

  // Element-wise sum over the ranks, in place. Every rank receives the same bits (the
  // engine's reduction order depends only on the number of ranks and the length).
  virtual void allreduce_sum(float* data, std::int64_t n) = 0;
  virtual void allreduce_sum(double* data, std::int64_t n) = 0;
  // Rank `root`'s bytes replace `bytes` on every rank (any length).
  virtual void broadcast(std::string& bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `exit_code` (MPI_Abort); not collective: for an error
  // that only this rank has seen, so that the others never wait for it.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// The communicator of a process that trains alone (every reduction is the identity).
std::unique_ptr<Communicator> single_process();

// True when this process was started by an MPI launcher (mpirun / mpiexec: Open MPI's
// OMPI_COMM_WORLD_SIZE, PMIx or PMI variables in the environment). Not collective.
bool launched_by_mpi();
// 1 when this build has the MPI communicator (CMake found MPI: ROAST_WITH_MPI).
bool built_with_mpi();

// The communicator of this launch: under an MPI launcher the MPI one (initialises MPI; its
// destructor finalises it), otherwise single_process(), without touching MPI. Throws
// roast::Error when launched by mpirun but built without MPI (the ranks would each train
// alone and write the same run folder).
std::unique_ptr<Communicator> connect();

// An error every rank raised at the same point (agree(), or a decision all ranks took on the
// same reduced values): each rank throws it, so no rank waits for another. The CLI prints it
// once (rank 0) and every rank exits with 2.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& message) : Error(message) {}
};

// Every rank calls it at the same point with its own error ("" = none). When any rank has
// one, every rank throws CollectiveError with the message of the lowest such rank (prefixed
// "rank R of N: " when that is not rank 0); otherwise returns.
void agree(Communicator& comm, const std::string& local_error);

// The contiguous share of a batch of `n` samples that rank `rank` of `size` processes:
// [first, last). Shares differ by at most one sample; later ranks may get none.
struct Share {
  std::int64_t first = 0, last = 0;
  std::int64_t size() const { return last - first; }
};
inline Share share_of(std::int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}

}  // namespace roast::dist
