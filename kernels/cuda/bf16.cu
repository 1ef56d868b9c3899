// bf16 products on CUDA (kernels/cuda/bf16.cuh): the device check, the fp32 -> bf16
// conversions and cuBLAS's bf16 GEMM with fp32 accumulation; and the round_to_bf16 kernel.
#include <climits>

#include "kernels/backend.h"
#include "kernels/cuda/bf16.cuh"
#include "kernels/cuda/ops_common.cuh"
#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {

// Thread t converts element t of the compact output: matrix b, row r, column c.
__global__ void convert_to_bf16_kernel(const float* __restrict__ x, i64 x_step, i64 rows, i64 cols, i64 ld,
                                       i64 total, bf16_t* __restrict__ y) {
  const i64 per_matrix = rows * cols;
  for (i64 t = global_index(); t < total; t += grid_stride()) {
    const i64 b = t / per_matrix, in_matrix = t - b * per_matrix;
    const i64 r = in_matrix / cols, c = in_matrix - r * cols;
    y[t] = __float2bfloat16_rn(x[b * x_step + r * ld + c]);
  }
}

__global__ void round_to_bf16_kernel(const float* __restrict__ x, float* __restrict__ y, i64 n) {
  for (i64 i = global_index(); i < n; i += grid_stride()) y[i] = __bfloat162float(__float2bfloat16_rn(x[i]));
}

int as_int(i64 v, const char* what) {
  ROAST_CHECK(v >= 0 && v <= INT_MAX, "gemm (bf16): ", what, " = ", v, " does not fit cuBLAS's 32-bit sizes");
  return int(v);
}

}  // namespace

void require_bf16(const char* op) {
  DeviceContext& ctx = context();
  static const int kCapabilityKey = 0;
  const int capability = ctx.fact(&kCapabilityKey, 0, [&] { return compute_capability(ctx.device()); });
  if (capability < 80)
    fail(op, ": `precision` \"bf16\" needs a GPU of compute capability 8.0 or later (bf16 tensor cores), but cuda:",
         ctx.device(), " has ", capability / 10, ".", capability % 10, ". Use precision \"fp32\" or \"tf32\"");
}

void convert_to_bf16(const float* x, i64 batch, i64 x_step, i64 rows, i64 cols, i64 ld, bf16_t* y) {
  const i64 total = batch * rows * cols;
  if (total == 0) return;
  convert_to_bf16_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(x, x_step, rows, cols, ld, total, y);
  check_launch("convert_to_bf16");
}

Bf16Operand::Bf16Operand(const float* x, i64 batch, i64 step, i64 rows, i64 cols, i64 ld)
    : rows_(rows),
      cols_(cols),
      shared_(step == 0 || batch == 1),
      buffer_(std::size_t((shared_ ? 1 : batch) * rows * cols) * sizeof(bf16_t)) {
  convert_to_bf16(x, shared_ ? 1 : batch, step, rows, cols, ld, buffer_.as<bf16_t>());
}

// Row-major to cuBLAS's column-major as in gemm.cu: C^T = op(B)^T op(A)^T, so cuBLAS's first
// operand is B (transposed iff trans_b), its second A (transposed iff trans_a), m = N, n = M.
void gemm_bf16(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const bf16_t* A, i64 lda, i64 a_step,
               const bf16_t* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step, i64 batch) {
  ROAST_CHECK(M > 0 && N > 0 && K > 0 && batch > 0, "gemm (bf16): sizes must be positive, got M ", M, " N ", N,
              " K ", K, " batch ", batch);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1) {
    check_blas(cublasGemmEx(blas(), op_b, op_a, as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B,
                            CUDA_R_16BF, as_int(ldb, "ldb"), A, CUDA_R_16BF, as_int(lda, "lda"), &beta, C, CUDA_R_32F,
                            as_int(ldc, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx (bf16)");
    return;
  }
  check_blas(cublasGemmStridedBatchedEx(blas(), op_b, op_a, as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha,
                                        B, CUDA_R_16BF, as_int(ldb, "ldb"), b_step, A, CUDA_R_16BF, as_int(lda, "lda"),
                                        a_step, &beta, C, CUDA_R_32F, as_int(ldc, "ldc"), c_step,
                                        as_int(batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "cublasGemmStridedBatchedEx (bf16)");
}

void round_to_bf16(const float* x, float* y, i64 n) {
  if (n == 0) return;
  round_to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x, y, n);
  check_launch("round_to_bf16");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
