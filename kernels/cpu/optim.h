// CPU kernels of the optimizer (src/optim/optimizer.cpp): element-wise updates over the
// flat memory, OpenMP parallel, deterministic (the same result for any thread count, except
// optim_squared_norm, whose double sum is deterministic for a fixed thread count).
// kernels/cuda/optim.h declares the same functions for device pointers.
#pragma once

#include <cstdint>

#include "kernels/optim_args.h"

namespace roast {
namespace kernels {
namespace cpu {

using i64 = std::int64_t;

// g[i] /= s[i] where s[i] > 0; g[i] = 0 where s[i] == 0 (cells no weight reads).
void optim_scale_grad(float* g, const float* s, i64 n);
// sum of g[i]^2, accumulated in double.
double optim_squared_norm(const float* g, i64 n);
// d = g * clip + wd * p; with v: v = momentum * v + d, d = nesterov ? d + momentum * v : v;
// p -= lr * d. v may be null (no momentum).
void optim_sgd(float* p, const float* g, float* v, i64 n, const SgdArgs& a);
// d = g * clip + wd * p; s += d^2; p -= lr * d / (sqrt(s) + eps).
void optim_adagrad(float* p, const float* g, float* s, i64 n, const AdagradArgs& a);
// Adam / AdamW with bias correction folded into a.step_size and a.inv_sqrt_bc2.
void optim_adam(float* p, const float* g, float* m1, float* m2, i64 n, const AdamArgs& a);

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
