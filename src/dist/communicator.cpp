// The single-process communicator, the choice of engine, and the collective error check.
#include <cstdlib>
#include <vector>

#include "dist/mpi_engine.h"

namespace roast::dist {
namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string engine() const override { return "single process"; }
  void allreduce_sum(float*, std::int64_t) override {}
  void allreduce_sum(double*, std::int64_t) override {}
  void broadcast(std::string&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override { std::exit(exit_code); }
};

}  // namespace

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

bool built_with_mpi() { return detail::have_mpi(); }

std::unique_ptr<Communicator> connect() {
  if (!launched_by_mpi()) return single_process();
  return detail::connect_mpi();
}

void agree(Communicator& comm, const std::string& local_error) {
  if (comm.size() == 1) {
    if (!local_error.empty()) throw CollectiveError(local_error);
    return;
  }
  // The lowest failing rank, found as a sum of one-hot flags (exact in doubles).
  std::vector<double> failed(std::size_t(comm.size()), 0.0);
  failed[std::size_t(comm.rank())] = local_error.empty() ? 0.0 : 1.0;
  comm.allreduce_sum(failed.data(), std::int64_t(failed.size()));
  for (int r = 0; r < comm.size(); ++r) {
    if (failed[std::size_t(r)] == 0.0) continue;
    std::string message = local_error;
    comm.broadcast(message, r);
    // Rank 0's errors are most often every rank's (a bad config): no prefix then.
    throw CollectiveError(r == 0 ? message : "rank " + std::to_string(r) + " of " + std::to_string(comm.size()) + ": " + message);
  }
}

}  // namespace roast::dist
