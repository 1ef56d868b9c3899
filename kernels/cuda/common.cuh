// Shared helpers of the CUDA kernels (.cu files only): error checks, the stream, the cuBLAS
// handle and launch-size helpers. Every kernel of the engine runs on stream() in issue order,
// so consecutive ops need no synchronisation; copies to the host (Tensor::to, item,
// to_vector) synchronise. stream() is the legacy default stream, except for the work that
// roast::cuda::run_beside puts on the device's side stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/runtime.h"
#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

using i64 = std::int64_t;

// Throws roast::Error naming `what` when a CUDA or cuBLAS call failed.
void check(cudaError_t status, const char* what);
void check_blas(cublasStatus_t status, const char* what);
// Checks that the kernel launched just before succeeded (bad configuration, no device).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// The stream the calling thread's kernels run on: the legacy default stream, or inside the
// side part of run_beside the device's side stream.
cudaStream_t stream();
// The cuBLAS handle of the current device bound to stream() (one per stream, so that
// concurrent GEMMs never share a workspace); created on first use.
cublasHandle_t blas();
// Streaming multiprocessors of the current device (asked once per device).
int sm_count();
// The current device's L2 cache, in bytes (asked once per device).
std::int64_t l2_bytes();
// Whether a memory region of `cells` floats is larger than the current device's L2 (then the
// ROAST-MM kernels prefetch its cells, and the materialised dM sums cells instead of adding).
inline bool larger_than_l2(i64 cells) { return cells * i64(sizeof(float)) > l2_bytes(); }

// Blocks of `threads` covering n items, capped so that grid-stride loops take the rest.
inline unsigned blocks_for(i64 n, int threads = 256) {
  const i64 b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Scratch device memory from the engine's stream-ordered allocator, freed at scope exit
// (stream-ordered too, so kernels already issued may still use it).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n_bytes) : ptr_(n_bytes ? roast::cuda::device_malloc(n_bytes) : nullptr) {}
  ~DeviceBuffer() {
    if (ptr_) roast::cuda::device_free(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_;
};

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
