// The constants of GELU's tanh form (as in BERT / GPT-2), read by the CPU kernels
// (kernels/cpu/gelu.h, Eigen array forms) and the CUDA ones (kernels/cuda/gelu.cuh), so that
// both devices compute the identical function:
//   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
#pragma once

namespace roast {
namespace kernels {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoef = 0.044715f;

}  // namespace kernels
}  // namespace roast
