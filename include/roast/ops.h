// Differentiable tensor ops. Each records its backward on the autograd tape (autograd.h).
//
// Shapes: binary ops broadcast NumPy-style (trailing dims aligned; a dim of 1 or a missing
// leading dim repeats), which covers row broadcasting ([B, T, C] + [C]). Axes may be
// negative (counted from the end). Inputs must be f32 unless stated; ids and labels are
// i32 or i64. Every misuse throws roast::Error naming the op and the shapes.
#pragma once

#include <vector>

#include "roast/backend.h"
#include "roast/tensor.h"

namespace roast {

// a [M, K] x b [K, N] -> [M, N]; a [B, M, K] x b [B, K, N] -> [B, M, N];
// a [..., M, K] x b [K, N] -> [..., M, N] (b shared across the leading dims).
// numerics.precision chooses fp32 or TF32 products on CUDA (forward and backward alike).
Tensor matmul(const Tensor& a, const Tensor& b, const Numerics& numerics = {});

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, float s);
Tensor mul_scalar(const Tensor& a, float s);
Tensor pow_scalar(const Tensor& a, float p);  // a^p element-wise

// Reductions; keepdim keeps the reduced axis with size 1.
Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor sum_all(const Tensor& x);   // -> [1]
Tensor mean_all(const Tensor& x);  // -> [1]

Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // tanh approximation
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);

Tensor softmax(const Tensor& x);      // over the last axis
Tensor log_softmax(const Tensor& x);  // over the last axis
// logits [B, C], labels [B] (i32/i64 in [0, C)) -> [1], the mean over rows of the
// cross-entropy against (1 - smoothing) * one_hot + smoothing / C.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing = 0.0f);

// A view of the same storage with another shape (one dim may be -1).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1);
Tensor permute(const Tensor& x, const std::vector<int>& order);
// Elements [start, end) along axis.
Tensor slice(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t end);
Tensor concat(const std::vector<Tensor>& xs, std::int64_t axis);
// table [V, D], ids [...] (i32/i64 in [0, V)) -> [..., D]. Backward adds into the rows used
// (on CUDA in a fixed order when numerics.deterministic).
Tensor gather_rows(const Tensor& table, const Tensor& ids, const Numerics& numerics = {});

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add_scalar(a, -s); }
inline Tensor operator*(const Tensor& a, float s) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul_scalar(a, 1.0f / s); }
inline Tensor operator*(float s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace roast
