// Cell loads, load statistics and the gradient-scaling sums S_j: each run of coverage.h
// adds into the output array directly. O(m) memory (the output only; difference arrays
// would save time on paper but double the memory, and on large m the page faults cost
// more than the O(n) adds they avoid), O(n + m) time, no per-weight index.
#include <algorithm>
#include <cmath>
#include <limits>

#include "memory/coverage.h"
#include "roast/memory.h"

namespace roast {
namespace md = memory_detail;

namespace {
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
  std::vector<std::uint32_t> loads(std::size_t(plan.n_floats()), 0);
  for (const PlannedTensor& t : plan.tensors()) {
    md::for_each_run(t.mapping, [&](std::int64_t start, std::int64_t n_cells) {
      std::uint32_t* cells = loads.data() + start;
      for (std::int64_t i = 0; i < n_cells; ++i) cells[i] += 1;
    });
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
  Tensor out = Tensor::zeros({plan.n_floats()}, DType::f32, Device::cpu());
  float* scale = out.data<float>();
  for (const PlannedTensor& t : plan.tensors()) {
    const float lambda_sq = t.mapping.lambda * t.mapping.lambda;
    md::for_each_run(t.mapping, [&](std::int64_t start, std::int64_t n_cells) {
      float* cells = scale + start;
      for (std::int64_t i = 0; i < n_cells; ++i) cells[i] += lambda_sq;
    });
  }
  return out.to(device);
}

}  // namespace roast
