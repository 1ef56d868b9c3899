#include "kernels/cuda/common.cuh"
#include "kernels/cuda/current_device.h"

namespace roast {
namespace kernels {
namespace cuda {

void set_current_device(int index) { check(cudaSetDevice(index), "cudaSetDevice"); }

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
