// Device-independent parts of the backend layer.
#include "kernels/backend.h"

#include "roast/error.h"

namespace roast {
namespace kernels {

void no_cuda_kernel(const char* op) {
  fail(op, ": this build of roast has no CUDA backend (it was configured without nvcc or with ROAST_USE_CUDA=OFF). "
           "Rebuild with nvcc on PATH, or use device \"cpu\".");
}

std::shared_ptr<MappingCache> make_mapping_cache(Device device) {
  if (device.is_cpu()) return nullptr;
  return cuda::make_mapping_cache(device.index);
}

}  // namespace kernels
}  // namespace roast
