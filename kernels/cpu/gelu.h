// GELU, tanh form (kernels/gelu_form.h), shared by Unary::gelu (elementwise.cpp) and the fused
// bias + GELU kernels (fused_bias_gelu.cpp), so that both compute the identical function.
// Eigen array forms: their tanh is vectorised (std::tanh is a scalar libm call, ~10x slower).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "kernels/gelu_form.h"

namespace roast {
namespace kernels {
namespace cpu {

constexpr std::int64_t kGeluBlock = 4096;  // floats per Eigen evaluation (the temporary's bound)

// y = gelu(x) over m contiguous floats; y may be x.
inline void gelu_block(const float* x, float* y, std::int64_t m) {
  for (std::int64_t at = 0; at < m; at += kGeluBlock) {
    const std::int64_t k = std::min(kGeluBlock, m - at);
    const Eigen::Map<const Eigen::ArrayXf> a(x + at, k);
    Eigen::Map<Eigen::ArrayXf>(y + at, k) = 0.5f * a * (1.0f + (kSqrt2OverPi * (a + kGeluCoef * a.cube())).tanh());
  }
}

// gx = gy * gelu'(x) over m contiguous floats; gx may be x or gy.
inline void gelu_grad_block(const float* x, const float* gy, float* gx, std::int64_t m) {
  using Block = Eigen::Array<float, Eigen::Dynamic, 1, Eigen::ColMajor, kGeluBlock, 1>;  // on the stack
  for (std::int64_t at = 0; at < m; at += kGeluBlock) {
    const std::int64_t k = std::min(kGeluBlock, m - at);
    const Eigen::Map<const Eigen::ArrayXf> a(x + at, k), g(gy + at, k);
    const Block t = (kSqrt2OverPi * (a + kGeluCoef * a.cube())).tanh();
    const auto du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * a.square());
    Eigen::Map<Eigen::ArrayXf>(gx + at, k) = g * (0.5f * (1.0f + t) + 0.5f * a * (1.0f - t.square()) * du);
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
