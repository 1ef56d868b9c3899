#include <cuda_runtime.h>

#include "kernels/cuda/runtime.h"
#include "roast/error.h"

namespace roast {
namespace cuda {
namespace {
void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(status));
}
}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return n;
}

void check_device(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    fail("device cuda:", index, " does not exist: this machine has ", n, " CUDA device(s). Use device \"cpu\"",
         n > 0 ? " or a valid cuda index" : "");
}

void* device_malloc(std::size_t n_bytes) {
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, n_bytes), "cudaMalloc");
  return ptr;
}

void device_free(void* ptr) { cudaFree(ptr); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  check(cudaMemcpy(dst, src, n_bytes, kind), "cudaMemcpy");
}

void memset_zero(void* dst, std::size_t n_bytes) { check(cudaMemset(dst, 0, n_bytes), "cudaMemset"); }

}  // namespace cuda
}  // namespace roast
