// `roast-train bench train`: timed training steps of a config's model, with the split
// forward / backward / optimizer and the time per kernel family (kernels/profile.h).
// Engine code; the CLI is apps/roast-train/bench_train.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace roast {

struct BenchTrainOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::int64_t steps = 20;   // timed steps
  std::int64_t warmup = 5;   // untimed steps first (caches, allocator, auto_select)
  bool synthetic = false;    // random batches of the config's shape instead of the data
  bool profile = true;       // time each kernel (CUDA: synchronising after each one)
};

// Runs warmup + steps training steps (forward, cross-entropy, backward, optimizer: what
// `train` runs, without evaluation and checkpoints) and returns
// {config, device, threads, batch_size, steps, samples_per_second (from the median step),
//  step_ms {median, min, mean}, phases_ms {forward, backward, optimizer} (means),
//  families_ms {family: ms per step}, kernels [{kernel, family, ms_per_step, calls_per_step}],
//  other_ms (step time outside every timed kernel: autograd, allocation, dispatch),
//  allocations {fresh_per_step, reused_per_step, peak_live_mb}}.
// Throws roast::Error for a bad config or missing data (as `train` does).
nlohmann::json bench_train(const BenchTrainOptions& options);

}  // namespace roast
