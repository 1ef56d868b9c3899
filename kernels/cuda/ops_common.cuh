// Helpers shared by the CUDA op kernels (gemm.cu, elementwise.cu, reduce.cu, layout.cu,
// nn_kernels.cu); .cu files only.
#pragma once

#include <cstdint>
#include <cstddef>

#include "kernels/cuda/common.cuh"
#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace cuda {

constexpr int kThreads = 256;  // block size of every kernel here (a multiple of 32)

// ids[i] of an i32 (id_bytes 4) or i64 (id_bytes 8) array.
__device__ __forceinline__ i64 id_at(const void* ids, int id_bytes, i64 i) {
  return id_bytes == 8 ? i64(static_cast<const std::int64_t*>(ids)[i]) : i64(static_cast<const std::int32_t*>(ids)[i]);
}

// Sum of v over the block (blockDim.x == kThreads), returned to every thread. Fixed tree
// order: deterministic. Contains __syncthreads: call from all threads of the block.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  T total = 0;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  return total;
}

// Maximum of v over the block, returned to every thread.
__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, off));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float m = partial[0];
  for (int w = 1; w < kThreads / 32; ++w) m = fmaxf(m, partial[w]);
  return m;
}

// Grid-stride loop index helpers.
__device__ __forceinline__ i64 global_index() { return i64(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 grid_stride() { return i64(gridDim.x) * blockDim.x; }

// Records in *first the smallest index passed (init *first to INT64_MAX as unsigned).
__device__ __forceinline__ void record_first(unsigned long long* first, i64 i) {
  atomicMin(first, static_cast<unsigned long long>(i));
}

// out[keys[t]] += values[t] for t < n, deterministically: a stable radix sort of (key, t)
// on the low key_bits bits of the keys, then one thread per distinct key summing its values
// in ascending t (so the result equals a sequential loop over t). keys are >= 0.
void sorted_scatter_add(const i64* keys, const float* values, i64 n, int key_bits, float* out);

// Bits needed to represent every value in [0, bound).
inline int bits_for(i64 bound) {
  int b = 1;
  while (b < 63 && (i64(1) << b) < bound) ++b;
  return b;
}

// Copies the first bad index recorded by record_first back to the host (synchronises):
// -1 when none. While a training step is captured (capturing()), returns -1 without reading.
i64 fetch_first(const unsigned long long* first);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
