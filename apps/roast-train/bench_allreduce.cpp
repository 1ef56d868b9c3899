// `roast-train bench allreduce`: the per-step exchange of data-parallel training, alone:
// one all-reduce (sum) of M floats, through the engine training would use (MPI on host
// buffers, NCCL on GPU buffers), timed on every rank and reported by rank 0.
//   mpirun -np 2 roast-train bench allreduce --floats 1000000
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "commands.h"
#include "dist/gradient_sync.h"
#include "kernels/backend.h"
#include "ranks.h"
#include "roast/distributed.h"
#include "roast/tensor.h"

namespace roast::cli {
namespace {

struct AllreduceOptions {
  std::int64_t floats = 1000000;
  int repeats = 20;
  std::string device = "cpu";
  std::string comm = "auto";
};

void run_allreduce_bench(const AllreduceOptions& o) {
  const std::unique_ptr<dist::Communicator> comm = dist::connect();
  on_every_rank(*comm, [&] {
    const int rank = comm->rank(), n = comm->size();
    std::string error;
    Device device = Device::cpu();
    try {
      device = parse_device(o.device);
      if (!device.is_cpu()) {
        if (kernels::cuda::device_count() <= comm->local_rank())
          fail("--device ", o.device, ": this machine has ", kernels::cuda::device_count(), " CUDA device(s) for local rank ",
               comm->local_rank());
        device = Device::cuda(comm->local_rank());
        kernels::cuda::set_current_device(device.index);
      }
    } catch (const Error& e) {
      error = e.what();
    }
    dist::agree(*comm, error);
    dist::GradientSync sync(*comm, device, o.comm);
    // Rank r holds r + 1 everywhere: the sum is n (n + 1) / 2, exact in floats.
    const std::vector<float> mine(std::size_t(o.floats), float(rank + 1));
    Tensor buffer = Tensor::from_vector(mine, {o.floats}, device);
    sync.sum(buffer);
    const std::vector<float> summed = buffer.to_vector();
    const float expected = float(n) * float(n + 1) / 2.0f;
    const bool correct = std::all_of(summed.begin(), summed.end(), [expected](float v) { return v == expected; });
    std::vector<double> seconds;
    for (int r = 0; r < o.repeats + 2; ++r) {
      comm->barrier();
      const auto start = std::chrono::steady_clock::now();
      sync.sum(buffer);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (r >= 2) seconds.push_back(s);  // two warm-up calls
    }
    // The slowest rank's time per call: what a training step waits for.
    std::vector<double> worst(seconds.size());
    for (std::size_t i = 0; i < seconds.size(); ++i) {
      std::vector<double> all(std::size_t(n), 0.0);
      all[std::size_t(rank)] = seconds[i];
      comm->allreduce_sum(all.data(), n);
      worst[i] = *std::max_element(all.begin(), all.end());
    }
    std::sort(worst.begin(), worst.end());
    double ok = correct ? 1.0 : 0.0;
    comm->allreduce_sum(&ok, 1);
    if (rank != 0) return;
    const double median = worst[worst.size() / 2], bytes = double(o.floats) * 4.0;
    std::printf("all-reduce (sum) of %lld floats (%.3f MB) on %d rank(s), %s, device %s\n", (long long)o.floats,
                bytes / 1e6, n, sync.engine().c_str(), o.device.c_str());
    std::printf("  median %.3f ms, min %.3f ms, max %.3f ms over %d calls (slowest rank per call)\n", 1e3 * median,
                1e3 * worst.front(), 1e3 * worst.back(), o.repeats);
    std::printf("  payload %.0f bytes per rank per call; algorithm bandwidth %.3f GB/s; bus bandwidth %.3f GB/s "
                "(x 2(n-1)/n)\n",
                bytes, bytes / median / 1e9, n > 1 ? bytes / median / 1e9 * 2.0 * (n - 1) / n : 0.0);
    std::printf("  result check: %s\n", ok == double(n) ? "every element equals n(n+1)/2 on every rank" : "WRONG SUM");
    if (ok != double(n)) throw dist::CollectiveError("bench allreduce: the sum is wrong on some rank");
  });
}

}  // namespace

void add_bench_allreduce_command(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  CLI::App* cmd = bench->add_subcommand("allreduce", "The data-parallel exchange: one all-reduce of M floats (under mpirun)");
  auto o = std::make_shared<AllreduceOptions>();
  cmd->add_option("--floats", o->floats, "Floats per all-reduce (a memory of that size)")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 34))
      ->capture_default_str();
  cmd->add_option("--repeats", o->repeats, "Timed calls")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda (each rank its local GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--comm", o->comm, "auto (NCCL on GPUs, else MPI), mpi or nccl")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}))
      ->capture_default_str();
  cmd->callback([o] { run_allreduce_bench(*o); });
}

}  // namespace roast::cli
