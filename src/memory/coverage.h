// Which cells a mapped tensor reads, as runs of contiguous cells; engine code only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "roast/mapping.h"

namespace roast {
namespace memory_detail {

// Calls run(first_cell, n_cells) so that every virtual weight of `m` is counted once:
// each cell of a run is read by exactly one weight of the run. Whole tiles (or chunks) are
// one run; edge tiles narrower than the tile give one run per used row; hashednet gives
// one run per weight; dense/exact blocks one run. Number of calls: O(tiles + edge-tile
// rows) for tiled schemes, O(n) for hashednet, 1 otherwise. Must agree with Mapping::loc
// (tests compare it with a count over every weight).
template <typename Run>
void for_each_run(const Mapping& m, Run&& run) {
  switch (m.scheme) {
    case Scheme::roast:
    case Scheme::roast_local: {
      const std::int64_t n_tr = m.n_tile_rows(), n_tc = m.n_tile_cols();
      for (std::int64_t tr = 0; tr < n_tr; ++tr) {
        const std::int64_t rows_used = std::min<std::int64_t>(m.tile_rows, m.rows - tr * m.tile_rows);
        for (std::int64_t tc = 0; tc < n_tc; ++tc) {
          const std::int64_t cols_used = std::min<std::int64_t>(m.tile_cols, m.cols - tc * m.tile_cols);
          const std::int64_t start = m.tile_start(tr, tc);
          if (cols_used == m.tile_cols) {
            run(start, rows_used * m.tile_cols);
          } else {
            for (std::int64_t i = 0; i < rows_used; ++i) run(start + i * m.tile_cols, cols_used);
          }
        }
      }
      return;
    }
    case Scheme::hashednet: {
      // m.loc(r, c) with the row's part of the hash computed once per row.
      for (std::int64_t r = 0; r < m.rows; ++r) {
        const std::uint64_t key = m.element_loc_key(r);
        for (std::int64_t c = 0; c < m.cols; ++c) run(m.element_cell(key, c), std::int64_t(1));
      }
      return;
    }
    case Scheme::dense:
    case Scheme::exact:
      run(m.region_base, m.rows * m.cols);
      return;
  }
}

}  // namespace memory_detail
}  // namespace roast
