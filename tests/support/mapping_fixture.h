// Shared fixtures of the ROAST-MM kernel tests (CPU and CUDA): random operands and mappings
// laid out by hand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "roast/mapping.h"

namespace roast {
namespace test {

// n floats uniform in [-1, 1), reproducible from seed.
inline std::vector<float> random_vector(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// A K x N mapping laid out by hand: the region starts at cell 5 and, for the hashed schemes,
// holds about a quarter of the weights (so cells are shared), at least one tile.
inline Mapping make_mapping(Scheme scheme, SignMode sign, std::int64_t K, std::int64_t N, int bk, int bn,
                            std::uint64_t seed) {
  Mapping map;
  map.scheme = scheme;
  map.sign_mode = sign;
  map.seed = seed;
  map.layer = 3;
  map.rows = K;
  map.cols = N;
  map.tile_rows = bk;
  map.tile_cols = bn;
  map.region_base = 5;
  map.lambda = 0.37f;
  if (scheme == Scheme::dense || scheme == Scheme::exact) map.region_size = K * N;
  else if (scheme == Scheme::hashednet) map.region_size = std::max<std::int64_t>(1, K * N / 4);
  else map.region_size = std::max<std::int64_t>(map.tile_size() + 3, K * N / 4);
  return map;
}

}  // namespace test
}  // namespace roast
