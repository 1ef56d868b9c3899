// bfloat16 rounding, shared by the CPU emulation of `precision: "bf16"` (kernels/cpu) and the
// tests. A bf16 value is the upper half of an fp32 word (8 exponent bits, 7 mantissa bits), so
// a bf16 number is held here as the fp32 value it equals: bf16_round(x) is the bf16 nearest to
// x (round to nearest, ties to even), as cuda_bf16.h's __float2bfloat16_rn rounds it on the
// GPU. Products of two bf16 values are exact in fp32 (8 x 8 significant bits), so a CPU
// product of rounded operands with fp32 accumulation is what the GPU's bf16 tensor-core
// product with fp32 accumulation computes, up to the order of the additions.
#pragma once

#include <cstdint>
#include <cstring>

#include "roast/hash.h"  // ROAST_HD

namespace roast {
namespace kernels {

// The bf16 nearest to x, as an fp32 value. Infinities stay, finite values above the largest
// bf16 (3.3895e38) by half a step or more become infinities, NaN stays a (quiet) NaN.
ROAST_HD float bf16_round(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  // Adding 0x7FFF plus the lowest kept bit carries into the kept half exactly when the dropped
  // half is above one half, or equal to it with the kept half odd (ties to even).
  u = nan ? (u | 0x00400000u) : u + 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float y;
  std::memcpy(&y, &u, sizeof(y));
  return y;
}

// y[i] = bf16_round(x[i]) for i < n (x == y allowed). Branch-free: vectorised by the compiler.
inline void bf16_round_n(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_round(x[i]);
}

}  // namespace kernels
}  // namespace roast
