// GELU, tanh form, on the device (kernels/gelu_form.h: the formula and constants the CPU uses),
// shared by Unary::gelu (elementwise.cu) and the fused bias + GELU kernels (fused_bias_gelu.cu).
#pragma once

#include "kernels/gelu_form.h"

namespace roast {
namespace kernels {
namespace cuda {

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
