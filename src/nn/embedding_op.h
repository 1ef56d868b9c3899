// The embedding lookup on the memory: an op, not a layer (engine code).
#pragma once

#include "roast/backend.h"
#include "roast/mapping.h"
#include "roast/tensor.h"

namespace roast {
namespace nn {

// ids [...] (i32/i64 in [0, map.rows)) -> [..., map.cols]: row r of the virtual table is
// lambda * sign(r, d) * memory[loc(r, d)]. Tiled schemes read each ROBE-Z chunk as one
// contiguous run. The backward adds into the memory gradient at the cells of the rows used
// (on CUDA in a fixed order when numerics.deterministic).
Tensor embedding_lookup(const Tensor& memory, const Mapping& map, const Tensor& ids, const Numerics& numerics);

}  // namespace nn
}  // namespace roast
