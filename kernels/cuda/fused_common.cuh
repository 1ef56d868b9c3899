// Helpers of the fused transformer kernels (fused_*.cu): warp sums and the deterministic
// second pass of per-column sums over rows.
#pragma once

#include "kernels/cuda/ops_common.cuh"

namespace roast {
namespace kernels {
namespace cuda {

constexpr int kFusedWarps = kThreads / 32;  // warps per block of the fused kernels
constexpr int kRowsPerWarp = 8;             // rows whose column sums one warp adds up (backward)

// Sum of v over the warp, returned to every lane (butterfly: fixed order, deterministic).
__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// out[c] = sum over p < n_parts of partials[p * stride + c], for c < width (overwritten). Each
// column's sum has a fixed order (strided per warp, then the warps in order): deterministic.
void sum_partials(const float* partials, i64 n_parts, i64 width, i64 stride, float* out);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
