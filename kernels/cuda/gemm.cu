#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {

// Row-major C[M, N] through column-major cuBLAS: C^T = op(B)^T op(A)^T.
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, const float* B,
          i64 ldb, float beta, float* C, i64 ldc) {
  if (M <= 0 || N <= 0) return;
  const cublasComputeType_t compute =
      roast::precision() == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  check_blas(cublasGemmEx(blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(N),
                          int(M), int(K), &alpha, B, CUDA_R_32F, int(ldb), A, CUDA_R_32F, int(lda), &beta, C, CUDA_R_32F,
                          int(ldc), compute, CUBLAS_GEMM_DEFAULT),
             "cublasGemmEx");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
