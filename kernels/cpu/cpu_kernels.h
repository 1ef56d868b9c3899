// CPU kernels over raw pointers: the reference implementation of every op.
// Shapes in comments; all arrays contiguous row-major f32 unless stated.
// Element-wise loops use OpenMP above a size threshold; GEMM is Eigen's.
#pragma once

#include <cstdint>

namespace roast {
namespace kernels {
namespace cpu {

using i64 = std::int64_t;

// C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C.
// op(A) is M x K: A is M x K (lda) or, transposed, K x M (lda). Likewise op(B) is K x N.
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda, const float* B,
          i64 ldb, float beta, float* C, i64 ldc);
// C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, where X[b] = X + b * x_step
// (a step of 0 shares one operand across the batch).
void gemm_strided_batched(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, float alpha, const float* A, i64 lda,
                          i64 a_step, const float* B, i64 ldb, i64 b_step, float beta, float* C, i64 ldc, i64 c_step,
                          i64 batch);

enum class Unary { relu, gelu, tanh, sigmoid, exp, log, neg, sqrt, square };
// y[i] = f(x[i])
void unary(Unary op, const float* x, float* y, i64 n);
// gx[i] = gy[i] * f'(x[i]) (y = f(x) is given for ops whose derivative uses it)
void unary_backward(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n);

enum class Binary { add, sub, mul, div };
// Broadcast description: out has `rank` dims out_shape; a and b are read with strides
// (0 along broadcast dims). Every array has at most kMaxRank dims.
constexpr int kMaxRank = 8;
struct Broadcast {
  int rank = 0;
  i64 out_shape[kMaxRank] = {};
  i64 a_stride[kMaxRank] = {};
  i64 b_stride[kMaxRank] = {};
};
void binary(Binary op, const float* a, const float* b, float* out, const Broadcast& bc);
// out = a * alpha + beta (element-wise affine: scalar add / mul)
void affine(const float* a, float* out, i64 n, float alpha, float beta);
// out[i] = a[i] ^ p
void power(const float* a, float* out, i64 n, float p);
// a[i] += b[i]
void add_inplace(float* a, const float* b, i64 n);

// Reduces g (shape out_shape of rank `rank`) into r (same rank, dims equal or 1): r = sum over
// the dims where r has size 1. r_stride is 0 along those dims. r is overwritten.
void sum_to(const float* g, float* r, int rank, const i64* g_shape, const i64* r_stride, i64 r_numel);

// x viewed as [outer, n, inner]: y[o, i] = sum_j x[o, j, i] * scale
void reduce_sum(const float* x, float* y, i64 outer, i64 n, i64 inner, float scale);
// gx[o, j, i] = gy[o, i] * scale
void reduce_sum_backward(const float* gy, float* gx, i64 outer, i64 n, i64 inner, float scale);

// Row-wise over [rows, n]: softmax / log-softmax and their backward.
void softmax_rows(const float* x, float* y, i64 rows, i64 n, bool log);
void softmax_rows_backward(const float* y, const float* gy, float* gx, i64 rows, i64 n, bool log);

// Cross-entropy with integer labels over logits [rows, n]; labels are i32 or i64 (by label_bytes).
// Returns mean over rows of -(1-eps) * logp[y] - eps/n * sum_c logp[c]; probs receives softmax.
// Returns -1 in bad_row and the row index when a label is outside [0, n).
double cross_entropy(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n, float smoothing,
                     float* probs, i64* bad_row);
// glogits = (probs - target) * scale, target = (1-eps) one_hot + eps/n, scale = grad_loss[0] / rows
// (grad_loss is the loss's one-element gradient, on the kernel's device: no host round trip).
void cross_entropy_backward(const float* probs, const void* labels, int label_bytes, i64 rows, i64 n,
                            float smoothing, const float* grad_loss, float* glogits);

// y = x permuted: y[j...] = x[i...] with y dim d = x dim perm[d]. rank <= kMaxRank.
void permute(const float* x, float* y, int rank, const i64* x_shape, const int* perm);
// Copies a [outer, n_src, inner] block's slab [start, start + n_dst) of the middle axis into
// y [outer, n_dst, inner]; `scatter` does the reverse, adding into x.
void slice_copy(const float* x, float* y, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst);
void slice_scatter_add(const float* gy, float* gx, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst);

// y[i, :] = table[ids[i], :] for i < n_ids; table is [rows, d]. Returns the first bad position or -1.
i64 gather_rows(const float* table, i64 rows, i64 d, const void* ids, int id_bytes, i64 n_ids, float* y);
// gtable[ids[i], :] += gy[i, :] (deterministic: rows partitioned across threads by id)
void scatter_add_rows(const float* gy, i64 d, const void* ids, int id_bytes, i64 n_ids, float* gtable);

// Inverted-dropout mask: mask[i] = scale when dropout_bits(seed, i) < keep_below, else 0
// (kernels/dropout_hash.h: the same mask on every device).
void dropout_mask(float* mask, i64 n, std::uint64_t seed, std::uint32_t keep_below, float scale);

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
