// The dropout mask as a pure function of (key, element index), shared by the CPU and CUDA
// kernels so that both devices draw the identical mask. Host/device (ROAST_HD).
//
// The key of one dropout call in a training step is dropout_seed(salt, step): the salt is the
// call's index in the forward pass (nn::Context::next_dropout_seed; the same every step) and
// *step the step's seed word, read on the kernel's device (kernels/types.h: DropoutSeed,
// StepScalars::dropout_step). A captured step replayed with a new step word draws new masks.
// With step null, the salt is the seed itself (a seed the host already knows). A kernel
// derives the key once per call; each element then costs one mixing round.
#pragma once

#include <cstdint>

#include "roast/hash.h"

namespace roast {
namespace kernels {

constexpr std::uint64_t kDropoutSalt = 0xD50F0A7C3B1E9265ull;  // separates dropout draws from map hashes

constexpr std::uint64_t kDropoutCallSalt = 0xD50Bull;  // one call's seed from the step's word

// The mask's key: two mixing rounds of the call's seed. Its seed is the salt (step null) or
// hash3(step word, 0xD50B, call index, 0), the seed nn::Context::next_seed() gives the call
// with index `salt` when the context's seed is the step word, so that the two forms agree.
ROAST_HD std::uint64_t dropout_seed(std::uint64_t salt, const std::uint64_t* step) {
  const std::uint64_t seed = step == nullptr ? salt : hash::hash3(*step, kDropoutCallSalt, salt, 0);
  return hash::mix64(hash::mix64(seed ^ hash::kGolden) ^ kDropoutSalt);
}

// 24 uniform bits for element i under a key from dropout_seed: one splitmix64 output (mix64
// of the counter key + (i / 2) * golden) serves a pair of elements, bits 16-39 to the even
// one and 40-63 to the odd one.
ROAST_HD std::uint64_t dropout_pair(std::uint64_t key, std::int64_t pair) {
  return hash::mix64(key + std::uint64_t(pair) * hash::kGolden);
}
ROAST_HD std::uint32_t dropout_bits(std::uint64_t key, std::int64_t i) {
  return std::uint32_t(dropout_pair(key, i >> 1) >> (16 + 24 * (i & 1))) & 0xFFFFFFu;
}

// Element i is kept when its 24 bits are below keep_below = round((1 - p) * 2^24).
inline std::uint32_t dropout_threshold(float p) {
  return std::uint32_t(double(1.0f - p) * 16777216.0 + 0.5);
}

}  // namespace kernels
}  // namespace roast
