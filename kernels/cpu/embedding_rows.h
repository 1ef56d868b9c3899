// Reading embedding rows through a mapping, shared by the embedding kernels (nn_kernels.cpp)
// and the fused embedding + position kernels (fused_embedding.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cpu {

// ids[i] of an i32 (id_bytes 4) or i64 (id_bytes 8) array.
inline std::int64_t embedding_id(const void* ids, int id_bytes, std::int64_t i) {
  return id_bytes == 8 ? std::int64_t(static_cast<const std::int64_t*>(ids)[i])
                       : std::int64_t(static_cast<const std::int32_t*>(ids)[i]);
}

// Calls f(d, cell, scale) for every element d of row r, where the virtual weight is
// scale * memory[cell]. Chunks of tiled schemes (embeddings: one tile row) are walked as
// contiguous runs.
template <typename F>
void for_embedding_row(const Mapping& map, std::int64_t r, F f) {
  using i64 = std::int64_t;
  const i64 dim = map.cols;
  if (!map.tiled()) {
    for (i64 d = 0; d < dim; ++d) f(d, map.loc(r, d), map.lambda * map.sign(r, d));
    return;
  }
  const i64 z = map.tile_cols;
  for (i64 c0 = 0; c0 < dim; c0 += z) {
    const i64 start = map.tile_start(r, c0 / z);
    const i64 n = std::min(z, dim - c0);
    if (map.sign_mode == SignMode::element) {
      for (i64 j = 0; j < n; ++j) f(c0 + j, start + j, map.lambda * map.sign(r, c0 + j));
    } else {
      const float scale = map.lambda * map.sign(r, c0);
      for (i64 j = 0; j < n; ++j) f(c0 + j, start + j, scale);
    }
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
