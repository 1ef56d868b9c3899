// Internal: the data layer's own small random generator. std::shuffle and the standard
// distributions are implementation-defined, so a seed would give different splits and
// orders with libstdc++ and libc++; these functions give the same numbers everywhere.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace roast::data::detail {

// SplitMix64's output function: a bijective, well-mixed hash of 64 bits.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed derived from a seed and a stream number (epoch, sample index, class...).
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) { return mix64(mix64(seed) ^ stream); }

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix64(state_++ * 0x9E3779B97F4A7C15ull); }
  // Uniform in [0, n), n > 0, without modulo bias (rejection of the short top range).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      const std::uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }
  bool coin() { return (next() >> 63) != 0; }

 private:
  std::uint64_t state_;
};

// Fisher-Yates.
template <typename T>
void shuffle(std::vector<T>& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

}  // namespace roast::data::detail
