// Arguments of the optimizer update kernels, shared by kernels/cpu/optim.h and
// kernels/cuda/optim.h (one signature on both devices). Plain values, no CUDA types.
#pragma once

namespace roast {
namespace kernels {

// Every update first forms d = g * clip (+ weight_decay * p where the decay is an L2 term).
struct SgdArgs {
  float lr = 0, clip = 1, weight_decay = 0, momentum = 0;
  bool nesterov = false;  // only with a momentum buffer
};
struct AdagradArgs {
  float lr = 0, clip = 1, weight_decay = 0, eps = 0;
};
// step_size = lr / (1 - beta1^t), inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t), computed once per
// step on the host so that both devices use the same rounded constants.
struct AdamArgs {
  float lr = 0, clip = 1, weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0;
  float step_size = 0, inv_sqrt_bc2 = 1;
  bool decoupled = false;  // adamw: p -= lr * weight_decay * p before the moment update
};

}  // namespace kernels
}  // namespace roast
