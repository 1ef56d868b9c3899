// `roast-train bench mm`: ROAST-MM kernel timings against dense Eigen GEMM (docs/benchmarks.md).
#pragma once

#include <CLI/CLI.hpp>

namespace roast_train {

// Adds the `bench` subcommand (with its `mm` subcommand) to the CLI.
void add_bench_command(CLI::App& app);

}  // namespace roast_train
