// CUDA kernels of the optimizer: the functions of kernels/cpu/optim.h for device pointers,
// same signatures and contracts. Updates run on the engine's stream (common.cuh);
// optim_squared_norm returns a host value and so waits for the preceding work. Plain C++
// header (no CUDA types), included by the dispatch in src/optim/optimizer.cpp.
#pragma once

#include <cstdint>

#include "kernels/optim_args.h"

namespace roast {
namespace kernels {
namespace cuda {

void optim_scale_grad(float* g, const float* s, std::int64_t n);
// Deterministic: fixed-size partial sums in double per block, summed on the host in order.
double optim_squared_norm(const float* g, std::int64_t n);
void optim_sgd(float* p, const float* g, float* v, std::int64_t n, const SgdArgs& a);
void optim_adagrad(float* p, const float* g, float* s, std::int64_t n, const AdagradArgs& a);
void optim_adam(float* p, const float* g, float* m1, float* m2, std::int64_t n, const AdamArgs& a);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
