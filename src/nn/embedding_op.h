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

// The text models' input in one op (kernels embedding_position_*): for ids [B, T],
// y [B, T, D] = dropout(token rows of ids + position rows 0..T-1, p, seed), the sum and the
// mask in one kernel; equal to nn::dropout(add(embedding_lookup(memory, tokens, ids),
// embedding_lookup(memory, positions, [0..T-1])), p, seed). p = 0: no dropout (seed unused).
// Requires T <= positions.rows and equal widths. A bad id fails as embedding_lookup's does.
// With a step's seed word (nn::Context::step_seed), `seed` is the call's salt and the mask's
// seed kernels::dropout_seed(seed, step_seed), as nn::dropout(x, p, seed, step_seed) draws it.
Tensor embedding_position_lookup(const Tensor& memory, const Mapping& tokens, const Mapping& positions,
                                 const Tensor& ids, float dropout_p, std::uint64_t seed, const Numerics& numerics,
                                 const std::uint64_t* step_seed = nullptr);

}  // namespace nn
}  // namespace roast
