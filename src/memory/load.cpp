// Cell loads, load statistics and the gradient-scaling sums S_j. Difference arrays over
// the runs of coverage.h: O(m) memory, no per-weight index.
#include <algorithm>
#include <cmath>
#include <limits>

#include "memory/coverage.h"
#include "roast/memory.h"

namespace roast {
namespace md = memory_detail;

namespace {
// diff[j] after a prefix sum is the number of weights reading cell j.
std::vector<std::int64_t> load_differences(const MemoryPlan& plan) {
  std::vector<std::int64_t> diff(std::size_t(plan.n_floats()) + 1, 0);
  for (const PlannedTensor& t : plan.tensors()) {
    md::for_each_run(t.mapping, [&](std::int64_t start, std::int64_t n_cells) {
      diff[std::size_t(start)] += 1;
      diff[std::size_t(start + n_cells)] -= 1;
    });
  }
  return diff;
}

LoadStats stats_of(const std::vector<std::uint32_t>& loads, std::int64_t begin, std::int64_t end) {
  LoadStats s;
  s.n_cells = end - begin;
  if (s.n_cells <= 0) return s;
  s.min_load = std::numeric_limits<std::int64_t>::max();
  double sum = 0, sum_sq = 0;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t load = loads[std::size_t(j)];
    s.n_empty_cells += load == 0 ? 1 : 0;
    s.min_load = std::min(s.min_load, load);
    s.max_load = std::max(s.max_load, load);
    sum += double(load);
    sum_sq += double(load) * double(load);
  }
  s.mean_load = sum / double(s.n_cells);
  s.std_load = std::sqrt(std::max(0.0, sum_sq / double(s.n_cells) - s.mean_load * s.mean_load));
  return s;
}
}  // namespace

std::vector<std::uint32_t> cell_loads(const MemoryPlan& plan) {
  const std::vector<std::int64_t> diff = load_differences(plan);
  std::vector<std::uint32_t> loads(std::size_t(plan.n_floats()));
  std::int64_t running = 0;
  for (std::size_t j = 0; j < loads.size(); ++j) {
    running += diff[j];
    loads[j] = std::uint32_t(std::min<std::int64_t>(running, UINT32_MAX));  // saturates in absurd configs
  }
  return loads;
}

MemoryLoad load_stats(const MemoryPlan& plan) {
  const std::vector<std::uint32_t> loads = cell_loads(plan);
  MemoryLoad out;
  out.total = stats_of(loads, 0, plan.n_floats());
  for (const Region& region : plan.regions()) {
    out.regions.push_back({region, stats_of(loads, region.base, region.base + region.n_floats)});
  }
  return out;
}

Tensor gradient_scale(const MemoryPlan& plan, Device device) {
  const std::size_t m = std::size_t(plan.n_floats());
  std::vector<double> diff(m + 1, 0.0);
  std::vector<std::int64_t> count_diff(m + 1, 0);  // exact zeros for empty cells
  for (const PlannedTensor& t : plan.tensors()) {
    const double lambda_sq = double(t.mapping.lambda) * double(t.mapping.lambda);
    md::for_each_run(t.mapping, [&](std::int64_t start, std::int64_t n_cells) {
      diff[std::size_t(start)] += lambda_sq;
      diff[std::size_t(start + n_cells)] -= lambda_sq;
      count_diff[std::size_t(start)] += 1;
      count_diff[std::size_t(start + n_cells)] -= 1;
    });
  }
  Tensor out = Tensor::empty({std::int64_t(m)}, DType::f32, Device::cpu());
  float* s = out.data<float>();
  double running = 0;
  std::int64_t count = 0;
  for (std::size_t j = 0; j < m; ++j) {
    running += diff[j];
    count += count_diff[j];
    if (count == 0) running = 0;  // the true sum is exactly 0 here: drop rounding drift
    s[j] = float(running);
  }
  return out.to(device);
}

}  // namespace roast
