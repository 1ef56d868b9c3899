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
// numerics.precision chooses fp32 or TF32 products on CUDA, or bf16 operands with fp32
// accumulation on both devices (forward and backward alike; roast/backend.h).
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
// The same loss as a training step takes it: computed on the logits' device without a host
// round trip (cross_entropy reads the loss back and checks the labels there). The labels must
// be in [0, C), checked beforehand on the host (check_class_ids when the batch is formed): a
// row with a label outside is skipped, not reported. With metric_sums (i64 [2] on the logits'
// device, used as two doubles: roast::StepState::metric_sums), the loss is added to the first
// and the count of rows whose first largest logit is the label's to the second.
Tensor cross_entropy_on_device(const Tensor& logits, const Tensor& labels, float label_smoothing,
                               const Tensor& metric_sums = Tensor());
// Throws roast::Error starting with `what` unless every id of the host tensor `ids` (i32/i64)
// is in [0, bound): the host-side check of a batch's labels and token ids, made when the batch
// is formed, so that the device kernels of a step need not report bad ids back.
void check_class_ids(const Tensor& ids, std::int64_t bound, const char* what);

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
