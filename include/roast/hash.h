// The ROAST hash: seeded, 64-bit, identical on host and device.
//
// This header compiles under a plain C++17 compiler and under nvcc. Its functions and
// constants are part of the checkpoint format: a checkpoint stores only the memory, and
// the map from virtual weights to cells is recomputed from (seed, layer, indices) with
// these functions. docs/roast.md defines them and lists test vectors that the tests pin.
// Changing anything here breaks every saved model.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ROAST_HD __host__ __device__ __forceinline__
#else
#define ROAST_HD inline
#endif

namespace roast {
namespace hash {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;   // 2^64 / phi
constexpr std::uint64_t kSignSalt = 0x5DEECE66D1CE4E5Bull;  // separates sign hashes from location hashes
constexpr std::uint64_t kFoldSalt = 0xF01DC0DE5EEDB175ull;  // the shifts of RANDOMFOLD's pieces (mapping fold)

// splitmix64's finaliser: a bijection on 64-bit words with full avalanche.
ROAST_HD std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// H(seed, a, b, c): the hash of a key of three 64-bit words under a seed.
ROAST_HD std::uint64_t hash3(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t h = mix64(seed ^ kGolden);
  h = mix64(h ^ a);
  h = mix64(h ^ b);
  return mix64(h ^ c);
}

// The first three mixing rounds of hash3, so that per-element hashes hoist their per-row
// work: hash3(seed, a, b, c) == mix64(hash3_prefix(seed, a, b) ^ c).
ROAST_HD std::uint64_t hash3_prefix(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  return mix64(mix64(mix64(seed ^ kGolden) ^ a) ^ b);
}

// A uniform draw in [0, range) for range >= 1 (plain modulo; the bias is below range / 2^64).
ROAST_HD std::uint64_t reduce(std::uint64_t h, std::uint64_t range) { return h % range; }

// +1 or -1 from the top bit of a hash.
ROAST_HD float sign_of(std::uint64_t h) { return (h >> 63) ? -1.0f : 1.0f; }

}  // namespace hash
}  // namespace roast
