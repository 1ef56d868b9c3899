// bf16 products on CUDA (Precision::bf16; .cu files only): fp32 operands converted to compact
// bf16 copies in stream-ordered scratch, multiplied by cuBLAS with bf16 inputs, fp32 output and
// fp32 accumulation (CUBLAS_COMPUTE_32F). Used by gemm / gemm_strided_batched (gemm.cu) and by
// ROAST-MM's bf16 materialize path (roast_mm.cu). Nothing here synchronises or allocates
// outside device_malloc, so the products can be captured into a CUDA graph.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace roast {
namespace kernels {
namespace cuda {

using bf16_t = __nv_bfloat16;

// Throws roast::Error naming `precision` unless the current device runs bf16 products
// (compute capability 8.0 or later). `op` names the caller.
void require_bf16(const char* op);

// y[b][r][c] = bf16(x[b * x_step + r * ld + c]) for b < batch, r < rows, c < cols: `batch`
// rows x cols matrices (row stride ld, x_step apart) into compact ones (rows * cols apart;
// row stride cols). Round to nearest even (__float2bfloat16_rn).
void convert_to_bf16(const float* x, i64 batch, i64 x_step, i64 rows, i64 cols, i64 ld, bf16_t* y);

// C[b] (M x N, row stride ldc) = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch,
// row-major as gemm (kernels/kernel_list.inc), with bf16 A and B, fp32 C and fp32
// accumulation; X[b] = X + b * x_step (a step of 0 shares one operand).
void gemm_bf16(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const bf16_t* A, i64 lda, i64 a_step,
               const bf16_t* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step, i64 batch);

// A bf16 copy of one operand of a row-major product, in scratch freed (stream-ordered) with
// this object: `batch` matrices of rows x cols (as stored, row stride ld, `step` apart; step
// 0: one matrix shared by the batch), compact: its ld() is cols and its step() rows * cols
// (0 when shared).
class Bf16Operand {
 public:
  Bf16Operand(const float* x, i64 batch, i64 step, i64 rows, i64 cols, i64 ld);
  const bf16_t* data() const { return buffer_.as<bf16_t>(); }
  i64 ld() const { return cols_; }
  i64 step() const { return shared_ ? 0 : rows_ * cols_; }

 private:
  i64 rows_, cols_;
  bool shared_;
  DeviceBuffer buffer_;
};

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
