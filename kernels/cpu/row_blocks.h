// Row-parallel passes that also sum per-column values over the rows (a bias or gain gradient),
// deterministically for any thread count: the rows are cut into fixed blocks of kRowBlock, each
// block sums its rows in order into its own partial (zeroed) row, and the partials are added
// in block order in double. The blocks, not the threads, fix the summation order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace roast {
namespace kernels {
namespace cpu {

constexpr std::int64_t kRowBlock = 32;
constexpr std::int64_t kRowParallelMin = 1 << 15;  // elements below which one thread does it all

// Calls visit(row_begin, row_end, partial) for every block of rows, in parallel; partial points
// to `width` zeroed floats that the call adds its block's column sums into. Then writes
// out[c] = sum over blocks of partial[c]. With width 0 and out null, only the visits run.
// `elements` (the pass's size) decides whether threads are worth starting.
template <typename Visit>
void for_row_blocks_summing_columns(std::int64_t rows, std::int64_t width, std::int64_t elements, float* out,
                                    const Visit& visit) {
  const std::int64_t n_blocks = (rows + kRowBlock - 1) / kRowBlock;
  thread_local std::vector<float> partials;  // reused between calls: no allocation in steady state
  partials.assign(std::size_t(n_blocks * width), 0.0f);
  float* base = partials.data();
#pragma omp parallel for schedule(static) if (elements >= kRowParallelMin)
  for (std::int64_t b = 0; b < n_blocks; ++b)
    visit(b * kRowBlock, std::min(rows, (b + 1) * kRowBlock), base + b * width);
  if (out == nullptr) return;
  // Column ranges in parallel, each summing the blocks in order: the same for any thread count.
  constexpr std::int64_t kColumns = 256;
  const std::int64_t n_ranges = (width + kColumns - 1) / kColumns;
#pragma omp parallel for schedule(static) if (n_blocks * width >= kRowParallelMin && n_ranges > 1)
  for (std::int64_t range = 0; range < n_ranges; ++range) {
    const std::int64_t c0 = range * kColumns, c1 = std::min(width, c0 + kColumns);
    double total[kColumns] = {};
    for (std::int64_t b = 0; b < n_blocks; ++b) {
      const float* p = base + b * width;
      for (std::int64_t c = c0; c < c1; ++c) total[c - c0] += p[c];
    }
    for (std::int64_t c = c0; c < c1; ++c) out[c] = float(total[c - c0]);
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
