// CUDA counterparts of kernels/cpu/cpu_kernels.h: same names, same signatures, device pointers.
#pragma once

#include <cstdint>

namespace roast {
namespace kernels {
namespace cuda {

using i64 = std::int64_t;

// Row-major C = alpha * op(A) * op(B) + beta * C through cuBLAS; TF32 tensor cores when
// roast::precision() is tf32.
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, const float* B,
          i64 ldb, float beta, float* C, i64 ldc);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
