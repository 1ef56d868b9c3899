// Makes a CUDA device the calling thread's current device (cudaSetDevice), so that the
// allocations and kernels of a run on "cuda:N" go to GPU N. Plain C++ header.
#pragma once

namespace roast {
namespace kernels {
namespace cuda {

// Requires a valid index (roast::cuda::check_device); throws roast::Error otherwise.
void set_current_device(int index);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
