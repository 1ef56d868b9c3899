// Shared helpers of the CUDA kernels (.cu files only): error checks, the one stream, the
// cuBLAS handle and launch-size helpers. Every kernel of the engine runs on stream() in
// issue order, so consecutive ops need no synchronisation; copies to the host
// (Tensor::to, item, to_vector) synchronise.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

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

// The stream every engine kernel runs on (the legacy default stream).
inline cudaStream_t stream() { return 0; }
// The cuBLAS handle of the current device, bound to stream(); created on first use.
cublasHandle_t blas();

// Blocks of `threads` covering n items, capped so that grid-stride loops take the rest.
inline unsigned blocks_for(i64 n, int threads = 256) {
  const i64 b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
