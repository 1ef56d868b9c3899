// The dropout mask as a pure function of (seed, element index), shared by the CPU and CUDA
// kernels so that both devices draw the identical mask. Host/device (ROAST_HD).
//
// The seed of one dropout call in a training step is dropout_seed(salt, step): the salt is the
// call's index in the forward pass (nn::Context::next_dropout_seed; the same every step) and
// *step the step's seed word, read on the kernel's device (kernels/types.h: DropoutSeed,
// StepScalars::dropout_step). A captured step replayed with a new step word draws new masks.
// With step null, the seed is the salt itself (a seed the host already knows).
#pragma once

#include <cstdint>

#include "roast/hash.h"

namespace roast {
namespace kernels {

constexpr std::uint64_t kDropoutSalt = 0xD50F0A7C3B1E9265ull;  // separates dropout draws from map hashes

constexpr std::uint64_t kDropoutCallSalt = 0xD50Bull;  // one call's seed from the step's word

// hash3(step word, 0xD50B, call index, 0): the seed nn::Context::next_seed() gives the call
// with index `salt` when the context's seed is the step word, so that the two forms agree.
ROAST_HD std::uint64_t dropout_seed(std::uint64_t salt, const std::uint64_t* step) {
  return step == nullptr ? salt : hash::hash3(*step, kDropoutCallSalt, salt, 0);
}

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
