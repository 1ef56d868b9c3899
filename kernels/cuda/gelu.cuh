// GELU, tanh form, on the device: the formula and constants of kernels/cpu/gelu.h, shared by
// Unary::gelu (elementwise.cu) and the fused bias + GELU kernels (fused_bias_gelu.cu).
#pragma once

namespace roast {
namespace kernels {
namespace cuda {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoef = 0.044715f;

__device__ __forceinline__ float gelu(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

__device__ __forceinline__ float gelu_grad(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
  const float t = tanhf(u);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
