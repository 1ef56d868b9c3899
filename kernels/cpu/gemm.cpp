#include <Eigen/Core>
#include <omp.h>

#include <vector>

#include "kernels/backend.h"
#include "kernels/bf16.h"

namespace roast {
namespace kernels {
namespace cpu {

namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using Map = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

// The rows x cols matrix x (row stride ld) rounded to bf16 into `out` (row stride cols).
const float* rounded_copy(const float* x, i64 rows, i64 cols, i64 ld, std::vector<float>& out) {
  out.resize(std::size_t(rows * cols));
  for (i64 r = 0; r < rows; ++r) bf16_round_n(x + r * ld, out.data() + r * cols, cols);
  return out.data();
}
}  // namespace

void gemm(Precision precision, bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda,
          const float* B, i64 ldb, float beta, float* C, i64 ldc) {
  if (M == 0 || N == 0) return;
  if (precision == Precision::bf16 && K > 0) {
    // bf16 emulation: the product of the rounded operands, in fp32 (per thread: the batched
    // form calls this from several threads). The operands as stored: A is M x K or K x M.
    thread_local std::vector<float> a_rounded, b_rounded;
    const i64 a_rows = trans_a ? K : M, a_cols = trans_a ? M : K, b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    const float* a = rounded_copy(A, a_rows, a_cols, lda, a_rounded);
    const float* b = rounded_copy(B, b_rows, b_cols, ldb, b_rounded);
    gemm(Precision::fp32, trans_a, trans_b, M, N, K, alpha, a, a_cols, b, b_cols, beta, C, ldc);
    return;
  }
  Map c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == 0.0f) c.setZero(); else c *= beta;
    return;
  }
  ConstMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  ConstMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (beta == 0.0f) {
    c.setZero();
  } else if (beta != 1.0f) {
    c *= beta;
  }
  // noalias: C never overlaps A or B in the engine; Eigen then skips a temporary.
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

void gemm_strided_batched(Precision precision, bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda,
                          i64 a_step, const float* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step,
                          i64 batch) {
  // Many small products (attention: one per batch and head): one per thread, each on Eigen's
  // single-threaded path (Eigen runs serially inside a parallel region), instead of every
  // product split across the threads with a barrier each. Few large ones: Eigen's threads.
  const bool by_product = batch >= 2 * omp_get_max_threads() && M * N * K <= (i64(1) << 24);
#pragma omp parallel for schedule(static) if (by_product)
  for (i64 i = 0; i < batch; ++i)
    gemm(precision, trans_a, trans_b, M, N, K, alpha, A + i * a_step, lda, B + i * b_step, ldb, beta, C + i * c_step, ldc);
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
