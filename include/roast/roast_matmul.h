// roast_matmul: the autograd op of a matrix weight that lives in the ROAST memory.
//
//   y = roast_matmul(x, memory, map, numerics)
//   x      f32 [..., K]   activations (K = map.rows)
//   memory f32 [m]        the memory (the model's one parameter tensor); the mapping's cells
//                         are indices into it, so m >= map.region_base + map.region_size
//   y      f32 [..., N]   y = lambda * x * W, W[k, n] = sign(k, n) * memory[loc(k, n)]
// Backward: dx = lambda * dy * W^T (delivered with accumulate), and the memory gradient
// dM[loc(k, n)] += lambda * sign(k, n) * (x^T dy)[k, n], added in place into the memory's
// gradient buffer (GradSink::buffer): no m-sized temporary per call. W is never
// materialised. numerics (precision, deterministic, matmul path) apply on CUDA devices,
// and precision bf16 on the CPU too (emulated: operands rounded as they are packed).
// Throws roast::Error on a bad dtype, device, shape or a mapping the kernels cannot serve.
#pragma once

#include "roast/backend.h"
#include "roast/mapping.h"
#include "roast/memory.h"
#include "roast/tensor.h"

namespace roast {

// The layers' form: memory.params() is the memory, and the products keep their per-mapping
// state (CUDA tile tables) in memory.kernel_cache().
Tensor roast_matmul(const Tensor& x, const Memory& memory, const Mapping& map, const Numerics& numerics = {});
// Any f32 vector as the memory (tests, custom ops): on CUDA each call builds the mapping's
// tile table and frees it with the op's saved state.
Tensor roast_matmul(const Tensor& x, const Tensor& memory, const Mapping& map, const Numerics& numerics = {});

}  // namespace roast
