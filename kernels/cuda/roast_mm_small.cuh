// What the small-M ROAST-MM files share (roast_mm_small.cu: the FMA kernels, the splits and
// the launches; roast_mm_small_mma.cu: the tensor-core kernels).
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/roast_mm_device.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {

constexpr int kColsPerBlock = 128;  // threads per block of the forward kernels
constexpr int kMaxChunk = 256;      // longest K-chunk of the forward kernels
constexpr int kInputChunk = 256;    // N-chunk of the split-N dX kernels
constexpr int kForwardMinBlocks = 4;  // blocks per SM the fp32 forward kernels ask for

// The tensor-core forward (split-K over grid.y, chunks of `chunk` rows; partial sums per
// chunk, or Y itself times lambda when partial is null) for 8 * tiles8 rows of X (1, 2 or 4),
// TF32, or fp32 as 3xTF32 (which runs above 16 rows only: f32 takes 4 tiles of 8 rows).
void small_forward_mma(int tiles8, bool f32, dim3 grid, const WeightView& w, const float* memory, const float* X,
                       int M, int chunk, float* partial, float* Y);
// The tensor-core dX (split-N over grid.y in kInputChunk columns; partial sums per chunk).
void small_backward_input_mma(int tiles8, bool f32, dim3 grid, const WeightView& w, const float* memory,
                              const float* dY, int M, float* partial);

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
