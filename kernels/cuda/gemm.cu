// Dense GEMM on cuBLAS. The engine's matrices are row-major; cuBLAS is column-major. A
// row-major M x N matrix with row stride ldc is the column-major N x M matrix C^T with
// leading dimension ldc, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: cuBLAS's
// first operand is B (transposed iff trans_b), its second is A (transposed iff trans_a),
// with m = N, n = M.
#include <climits>

#include "kernels/backend.h"
#include "kernels/cuda/bf16.cuh"
#include "kernels/cuda/ops_common.cuh"
#include "roast/backend.h"
#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
// C (M x N, row stride ldc) = beta * C: the K == 0 case, where cuBLAS need not touch C.
__global__ void scale_matrix_kernel(float* C, i64 M, i64 N, i64 ldc, float beta) {
  for (i64 t = global_index(); t < M * N; t += grid_stride()) {
    float* c = C + (t / N) * ldc + t % N;
    *c = beta == 0.0f ? 0.0f : *c * beta;
  }
}

int as_int(i64 v, const char* what) {
  ROAST_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v, " does not fit cuBLAS's 32-bit sizes");
  return int(v);
}

cublasComputeType_t compute_type(Precision precision) {
  return precision == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

bool scale_only(i64 M, i64 N, i64 K, float beta, float* C, i64 ldc, i64 c_step, i64 batch) {
  if (M == 0 || N == 0 || batch == 0) return true;
  if (K != 0) return false;
  for (i64 b = 0; b < batch; ++b) {
    scale_matrix_kernel<<<blocks_for(M * N), kThreads, 0, stream()>>>(C + b * c_step, M, N, ldc, beta);
    check_launch("gemm (K = 0)");
  }
  return true;
}

// Precision::bf16: both operands converted to compact bf16 copies (as stored: op(A) is M x K,
// so A is M x K or, transposed, K x M), then cuBLAS with fp32 accumulation and output.
void gemm_via_bf16(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, i64 a_step,
                   const float* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step, i64 batch) {
  require_bf16("gemm");
  const Bf16Operand a(A, batch, a_step, trans_a ? K : M, trans_a ? M : K, lda);
  const Bf16Operand b(B, batch, b_step, trans_b ? N : K, trans_b ? K : N, ldb);
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, a.data(), a.ld(), a.step(), b.data(), b.ld(), b.step(), beta, C, ldc,
            c_step, batch);
}
}  // namespace

void gemm(Precision precision, bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, const float* B,
          i64 ldb, float beta, float* C, i64 ldc) {
  if (scale_only(M, N, K, beta, C, ldc, 0, 1)) return;
  if (precision == Precision::bf16)
    return gemm_via_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_blas(cublasGemmEx(blas(), op_b, op_a, as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B, CUDA_R_32F,
                          as_int(ldb, "ldb"), A, CUDA_R_32F, as_int(lda, "lda"), &beta, C, CUDA_R_32F,
                          as_int(ldc, "ldc"), compute_type(precision), CUBLAS_GEMM_DEFAULT),
             "cublasGemmEx");
}

void gemm_strided_batched(Precision precision, bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda,
                          i64 a_step, const float* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step,
                          i64 batch) {
  if (scale_only(M, N, K, beta, C, ldc, c_step, batch)) return;
  if (precision == Precision::bf16)
    return gemm_via_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, a_step, B, ldb, b_step, beta, C, ldc, c_step,
                         batch);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_blas(cublasGemmStridedBatchedEx(blas(), op_b, op_a, as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha,
                                        B, CUDA_R_32F, as_int(ldb, "ldb"), b_step, A, CUDA_R_32F, as_int(lda, "lda"),
                                        a_step, &beta, C, CUDA_R_32F, as_int(ldc, "ldc"), c_step,
                                        as_int(batch, "batch"), compute_type(precision), CUBLAS_GEMM_DEFAULT),
             "cublasGemmStridedBatchedEx");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
