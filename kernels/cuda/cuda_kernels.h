// CUDA kernels with exactly the signatures of kernels/cpu/cpu_kernels.h (the reference: the
// contracts are written there). Plain C++ header: no CUDA types. Pointers are device
// pointers; every kernel runs on kernels::cuda::stream() in issue order. Kernels that return
// a value to the host (gather_rows, cross_entropy) synchronise once.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_kernels.h"

namespace roast {
namespace kernels {
namespace cuda {

using i64 = std::int64_t;
using cpu::Binary;
using cpu::Broadcast;
using cpu::kMaxRank;
using cpu::Unary;

// cuBLAS; TF32 tensor cores when roast::precision() is tf32.
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, const float* B,
          i64 ldb, float beta, float* C, i64 ldc);
void gemm_strided_batched(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda,
                          i64 a_step, const float* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step,
                          i64 batch);

void unary(Unary op, const float* x, float* y, i64 n);
void unary_backward(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n);
void binary(Binary op, const float* a, const float* b, float* out, const Broadcast& bc);
void affine(const float* a, float* out, i64 n, float alpha, float beta);
void power(const float* a, float* out, i64 n, float p);
void add_inplace(float* a, const float* b, i64 n);
void dropout_mask(float* mask, i64 n, std::uint64_t seed, std::uint32_t keep_below, float scale);
// g_shape and r_stride are host arrays (copied into the launch).
void sum_to(const float* g, float* r, int rank, const i64* g_shape, const i64* r_stride, i64 r_numel);

void reduce_sum(const float* x, float* y, i64 outer, i64 n, i64 inner, float scale);
void reduce_sum_backward(const float* gy, float* gx, i64 outer, i64 n, i64 inner, float scale);
void softmax_rows(const float* x, float* y, i64 rows, i64 n, bool log);
void softmax_rows_backward(const float* y, const float* gy, float* gx, i64 rows, i64 n, bool log);
// Loss and the first bad row come back to the host in one synchronising copy.
double cross_entropy(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n, float smoothing,
                     float* probs, i64* bad_row);
void cross_entropy_backward(const float* probs, const void* labels, int label_bytes, i64 rows, i64 n,
                            float smoothing, const float* grad_loss, float* glogits);

// x_shape and perm are host arrays.
void permute(const float* x, float* y, int rank, const i64* x_shape, const int* perm);
void slice_copy(const float* x, float* y, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst);
void slice_scatter_add(const float* gy, float* gx, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst);
// Synchronises once to return the first bad position.
i64 gather_rows(const float* table, i64 rows, i64 d, const void* ids, int id_bytes, i64 n_ids, float* y);
// Atomic adds, or (roast::deterministic()) a stable sort by row and fixed-order sums.
void scatter_add_rows(const float* gy, i64 d, const void* ids, int id_bytes, i64 n_ids, float* gtable);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
