// The MPI communicator: MPI_COMM_WORLD, host buffers, MPI_Allreduce. Compiled only when CMake
// found MPI (ROAST_WITH_MPI); the one file of the engine that includes <mpi.h>.
//
// Failures never hang: MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the job on
// an MPI error, mpirun ends it when a rank dies, and a rank with an error of its own calls
// abort() (MPI_Abort) rather than leaving the others waiting in a collective.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "dist/mpi_engine.h"

namespace roast::dist::detail {
namespace {

// MPI counts are int: longer buffers go in pieces (the same pieces on every rank).
constexpr std::int64_t kMaxPiece = std::int64_t(1) << 30;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_mpi_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string v(version, std::size_t(std::max(0, length)));
    v = v.substr(0, v.find_first_of(",\n"));
    engine_ = "MPI (" + v + ")";
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string engine() const override { return engine_; }

  void allreduce_sum(float* data, std::int64_t n) override { reduce(data, n, MPI_FLOAT); }
  void allreduce_sum(double* data, std::int64_t n) override { reduce(data, n, MPI_DOUBLE); }

  void broadcast(std::string& bytes, int root) override {
    long long n = static_cast<long long>(bytes.size());
    MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD);
    bytes.resize(std::size_t(n));
    for (long long done = 0; done < n; done += kMaxPiece)
      MPI_Bcast(&bytes[std::size_t(done)], int(std::min<long long>(kMaxPiece, n - done)), MPI_CHAR, root, MPI_COMM_WORLD);
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  template <typename T>
  void reduce(T* data, std::int64_t n, MPI_Datatype type) {
    for (std::int64_t done = 0; done < n; done += kMaxPiece)
      MPI_Allreduce(MPI_IN_PLACE, data + done, int(std::min(kMaxPiece, n - done)), type, MPI_SUM, MPI_COMM_WORLD);
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
  std::string engine_;
};

}  // namespace

bool have_mpi() { return true; }

std::unique_ptr<Communicator> connect_mpi() { return std::make_unique<MpiCommunicator>(); }

}  // namespace roast::dist::detail
