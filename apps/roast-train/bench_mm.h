// `roast-train bench mm`: ROAST-MM kernel timings against dense GEMM (docs/benchmarks.md).
// CPU (bench_mm.cpp): Eigen GEMM as the baseline. CUDA (bench_mm_cuda.cpp, --device cuda):
// cuBLAS in fp32 and TF32 as the baselines, plus the fused/materialize choice and the
// optimizer step.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "roast/mapping.h"

namespace roast_train {

// Adds the `bench` subcommand (with its `mm` subcommand) to the CLI.
void add_bench_command(CLI::App& app);

namespace bench {

using i64 = std::int64_t;

struct MmOptions {
  std::vector<i64> m{1, 32, 256, 1024};
  std::vector<i64> k{1024};
  std::vector<i64> n{1024};
  std::vector<double> compression{1, 10, 100, 1000};
  std::vector<std::string> schemes{"dense", "roast", "hashednet", "materialize"};
  std::vector<std::string> ops{"forward", "backward_input", "backward_memory", "forward_backward"};
  int repeats = 5;
  int warmup = 2;
  int threads = 0;  // 0: OpenMP's default
  i64 memory_floats = 0;
  std::string sign = "default";  // default: the engine's per-scheme sign (roast tile, hashednet element)
  int tile_rows = 32, tile_cols = 64;
  bool json = false;
  std::string device = "cpu";                          // cpu or cuda
  std::vector<std::string> precision{"fp32", "tf32"};  // CUDA only
  bool deterministic = false;                          // CUDA only: roast::set_deterministic
};

struct Measurement {
  i64 m = 0, k = 0, n = 0, memory_floats = 0;
  double compression = 1.0;
  std::string scheme, op;
  double median_ms = 0.0, gflops = 0.0, ratio_to_dense = 0.0;
  std::string device = "cpu", precision = "fp32";
  std::string path;  // CUDA `auto`: the path the per-shape choice took ("fused" / "materialize")
};

// A row of the result: the shape, the contender's memory, op, median and ratio to dense.
Measurement measurement(i64 M, i64 K, i64 N, i64 memory_floats, double compression, const std::string& scheme,
                        const std::string& op, double median_ms, double dense_ms);

std::vector<float> random_floats(i64 n, std::uint64_t seed);
double median(std::vector<double> times);
roast::Mapping make_mapping(roast::Scheme scheme, const MmOptions& opt, i64 K, i64 N, i64 memory_floats);
std::string sign_text(const std::string& scheme, const MmOptions& opt);
double op_flops(const std::string& op, i64 M, i64 K, i64 N);
// Memory floats for compression c (at least one tile), or --memory-floats.
std::vector<std::pair<double, i64>> memory_sizes(const MmOptions& opt, i64 K, i64 N);

// The CUDA bench; throws roast::Error in builds without the CUDA backend or without a GPU.
std::vector<Measurement> run_mm_cuda(const MmOptions& opt);

}  // namespace bench
}  // namespace roast_train
