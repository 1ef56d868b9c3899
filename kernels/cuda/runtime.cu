#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"
#include "roast/error.h"

namespace roast {
namespace cuda {
using kernels::cuda::check;

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

// Training allocates the same shapes every step, and cudaMalloc/cudaFree synchronise the
// device. Allocations are therefore stream-ordered (cudaMallocAsync on the engine's one
// stream) from the device's default pool, told to keep freed memory (release threshold =
// unlimited): steady-state steps reuse blocks without a device synchronisation.
void* device_malloc(std::size_t n_bytes) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    int device = 0;
    cudaMemPool_t pool;
    if (cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      std::uint64_t threshold = UINT64_MAX;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
    }
  });
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, n_bytes, kernels::cuda::stream());
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory: could not allocate ", n_bytes, " bytes. Use a smaller batch_size or model");
  }
  check(status, "cudaMallocAsync");
  return ptr;
}

void device_free(void* ptr) { cudaFreeAsync(ptr, kernels::cuda::stream()); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  check(cudaMemcpy(dst, src, n_bytes, kind), "cudaMemcpy");
}

void memset_zero(void* dst, std::size_t n_bytes) { check(cudaMemsetAsync(dst, 0, n_bytes, kernels::cuda::stream()), "cudaMemsetAsync"); }

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace cuda

namespace kernels {
namespace cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(status));
}

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in ", what, ": status ", int(status));
}

cublasHandle_t blas() {
  // One handle per device, created on first use and kept for the process's lifetime
  // (destroying it at exit would race the CUDA runtime's own teardown).
  constexpr int kMaxDevices = 64;
  static cublasHandle_t handles[kMaxDevices] = {};
  static std::mutex mutex;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mutex);
  if (handles[device] == nullptr) {
    check_blas(cublasCreate(&handles[device]), "cublasCreate");
    check_blas(cublasSetStream(handles[device], stream()), "cublasSetStream");
  }
  return handles[device];
}

int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> counts[kMaxDevices] = {};
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= kMaxDevices) fail("CUDA device ", device, " is beyond the ", kMaxDevices, " the engine supports");
  int n = counts[device].load(std::memory_order_relaxed);
  if (n == 0) {
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute (SM count)");
    counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
