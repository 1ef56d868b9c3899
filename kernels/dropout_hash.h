// The dropout mask as a pure function of (seed, element index), shared by the CPU and CUDA
// kernels so that both devices draw the identical mask. Host/device (ROAST_HD).
#pragma once

#include <cstdint>

#include "roast/hash.h"

namespace roast {
namespace kernels {

constexpr std::uint64_t kDropoutSalt = 0xD50F0A7C3B1E9265ull;  // separates dropout draws from map hashes

// 24 uniform bits for element i under `seed`.
ROAST_HD std::uint32_t dropout_bits(std::uint64_t seed, std::int64_t i) {
  return std::uint32_t(hash::hash3(seed, kDropoutSalt, std::uint64_t(i), 0) >> 40);
}

// Element i is kept when its 24 bits are below keep_below = round((1 - p) * 2^24).
inline std::uint32_t dropout_threshold(float p) {
  return std::uint32_t(double(1.0f - p) * 16777216.0 + 0.5);
}

}  // namespace kernels
}  // namespace roast
