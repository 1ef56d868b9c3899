// roast_matmul: the autograd op of a matrix weight that lives in the ROAST memory.
//
//   y = roast_matmul(x, memory, map)
//   x      f32 [..., K]   activations (K = map.rows)
//   memory f32 [m]        the memory (the model's one parameter tensor); the mapping's cells
//                         are indices into it, so m >= map.region_base + map.region_size
//   y      f32 [..., N]   y = lambda * x * W, W[k, n] = sign(k, n) * memory[loc(k, n)]
// Backward: dx = lambda * dy * W^T (delivered with accumulate), and the memory gradient
// dM[loc(k, n)] += lambda * sign(k, n) * (x^T dy)[k, n], added in place into the memory's
// gradient buffer (GradSink::buffer): no m-sized temporary per call. W is never
// materialised. CPU only in this build; CUDA tensors fail with a clear message.
// Throws roast::Error on a bad dtype, device, shape or a mapping the kernels cannot serve.
#pragma once

#include "roast/mapping.h"
#include "roast/tensor.h"

namespace roast {

Tensor roast_matmul(const Tensor& x, const Tensor& memory, const Mapping& map);

}  // namespace roast
