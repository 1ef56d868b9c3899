#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "kernels/backend.h"
#include "kernels/bf16.h"
#include "kernels/cpu/gelu.h"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kElementwiseParallelMin = 1 << 15;  // below this, threads cost more than they save

inline float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x)); }

template <typename F>
void for_each(i64 n, F f) {
#pragma omp parallel for schedule(static) if (n >= kElementwiseParallelMin)
  for (i64 i = 0; i < n; ++i) f(i);
}

// f(begin, count) over chunks of kChunk elements, in parallel: for the Eigen array forms,
// whose exp and tanh are vectorised (std::tanh is a scalar libm call, ~10x slower).
constexpr i64 kChunk = 4096;
template <typename F>
void for_chunks(i64 n, F f) {
  const i64 n_chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kElementwiseParallelMin)
  for (i64 c = 0; c < n_chunks; ++c) f(c * kChunk, std::min(kChunk, n - c * kChunk));
}
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// gelu, tanh form: kernels/cpu/gelu.h (shared with the fused bias + GELU kernels).
void gelu_array(const float* x, float* y, i64 n) {
  for_chunks(n, [&](i64 at, i64 m) { gelu_block(x + at, y + at, m); });
}
void gelu_grad_array(const float* x, const float* gy, float* gx, i64 n) {
  for_chunks(n, [&](i64 at, i64 m) { gelu_grad_block(x + at, gy + at, gx + at, m); });
}
}  // namespace

void unary(Unary op, const float* x, float* y, i64 n) {
  switch (op) {
    case Unary::relu: for_each(n, [&](i64 i) { y[i] = x[i] > 0 ? x[i] : 0.0f; }); break;
    case Unary::gelu: gelu_array(x, y, n); break;
    case Unary::tanh:
      for_chunks(n, [&](i64 at, i64 m) { ArrayMap(y + at, m) = ConstArrayMap(x + at, m).tanh(); });
      break;
    case Unary::sigmoid: for_each(n, [&](i64 i) { y[i] = sigmoid(x[i]); }); break;
    case Unary::exp: for_chunks(n, [&](i64 at, i64 m) { ArrayMap(y + at, m) = ConstArrayMap(x + at, m).exp(); }); break;
    case Unary::log: for_each(n, [&](i64 i) { y[i] = std::log(x[i]); }); break;
    case Unary::neg: for_each(n, [&](i64 i) { y[i] = -x[i]; }); break;
    case Unary::sqrt: for_each(n, [&](i64 i) { y[i] = std::sqrt(x[i]); }); break;
    case Unary::square: for_each(n, [&](i64 i) { y[i] = x[i] * x[i]; }); break;
  }
}

void unary_backward(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n) {
  switch (op) {
    case Unary::relu: for_each(n, [&](i64 i) { gx[i] = x[i] > 0 ? gy[i] : 0.0f; }); break;
    case Unary::gelu: gelu_grad_array(x, gy, gx, n); break;
    case Unary::tanh: for_each(n, [&](i64 i) { gx[i] = gy[i] * (1.0f - y[i] * y[i]); }); break;
    case Unary::sigmoid: for_each(n, [&](i64 i) { gx[i] = gy[i] * y[i] * (1.0f - y[i]); }); break;
    case Unary::exp: for_each(n, [&](i64 i) { gx[i] = gy[i] * y[i]; }); break;
    case Unary::log: for_each(n, [&](i64 i) { gx[i] = gy[i] / x[i]; }); break;
    case Unary::neg: for_each(n, [&](i64 i) { gx[i] = -gy[i]; }); break;
    case Unary::sqrt: for_each(n, [&](i64 i) { gx[i] = gy[i] * 0.5f / y[i]; }); break;
    case Unary::square: for_each(n, [&](i64 i) { gx[i] = gy[i] * 2.0f * x[i]; }); break;
  }
}

namespace {
template <typename F>
void binary_loop(const float* a, const float* b, float* out, const Broadcast& bc, F f) {
  i64 n = 1;
  for (int d = 0; d < bc.rank; ++d) n *= bc.out_shape[d];
  if (n == 0) return;
  const int last = bc.rank - 1;
  const i64 inner = bc.rank ? bc.out_shape[last] : 1;
  const i64 sa = bc.rank ? bc.a_stride[last] : 0, sb = bc.rank ? bc.b_stride[last] : 0;
  const i64 rows = n / inner;
#pragma omp parallel for schedule(static) if (n >= kElementwiseParallelMin)
  for (i64 row = 0; row < rows; ++row) {
    // Offsets of this row's first element in a and b, from its multi-index.
    i64 rest = row, oa = 0, ob = 0;
    for (int d = last - 1; d >= 0; --d) {
      const i64 idx = rest % bc.out_shape[d];
      rest /= bc.out_shape[d];
      oa += idx * bc.a_stride[d];
      ob += idx * bc.b_stride[d];
    }
    float* o = out + row * inner;
    for (i64 j = 0; j < inner; ++j) o[j] = f(a[oa + j * sa], b[ob + j * sb]);
  }
}
}  // namespace

void binary(Binary op, const float* a, const float* b, float* out, const Broadcast& bc) {
  switch (op) {
    case Binary::add: binary_loop(a, b, out, bc, [](float x, float y) { return x + y; }); break;
    case Binary::sub: binary_loop(a, b, out, bc, [](float x, float y) { return x - y; }); break;
    case Binary::mul: binary_loop(a, b, out, bc, [](float x, float y) { return x * y; }); break;
    case Binary::div: binary_loop(a, b, out, bc, [](float x, float y) { return x / y; }); break;
  }
}

void affine(const float* a, float* out, i64 n, float alpha, float beta) {
  for_each(n, [&](i64 i) { out[i] = a[i] * alpha + beta; });
}

void round_to_bf16(const float* x, float* y, i64 n) {
  for_each(n, [&](i64 i) { y[i] = bf16_round(x[i]); });
}

void power(const float* a, float* out, i64 n, float p) {
  for_each(n, [&](i64 i) { out[i] = std::pow(a[i], p); });
}

void add_inplace(float* a, const float* b, i64 n) {
  for_each(n, [&](i64 i) { a[i] += b[i]; });
}

void dropout_mask(float* mask, i64 n, DropoutSeed s, std::uint32_t keep_below, float scale) {
  const std::uint64_t key = dropout_seed(s.salt, s.step);
  // One hash per pair of elements (dropout_bits: bits 16-39 for the even one, 40-63 the odd).
  for_each((n + 1) / 2, [&](i64 p) {
    const std::uint64_t h = dropout_pair(key, p);
    mask[2 * p] = std::uint32_t(h >> 16 & 0xFFFFFFu) < keep_below ? scale : 0.0f;
    if (2 * p + 1 < n) mask[2 * p + 1] = std::uint32_t(h >> 40) < keep_below ? scale : 0.0f;
  });
}

void sum_to(const float* g, float* r, int rank, const i64* g_shape, const i64* r_stride, i64 r_numel) {
  for (i64 i = 0; i < r_numel; ++i) r[i] = 0.0f;
  i64 n = 1;
  for (int d = 0; d < rank; ++d) n *= g_shape[d];
  // The common case (a bias or gain broadcast over leading axes): g viewed as [outer, inner],
  // r = the sum of its rows. Each r[i] sums in the same (row) order as the general walk.
  int split = rank;  // dims [split, rank) are kept whole, with contiguous strides in r
  i64 inner = 1;
  while (split > 0 && r_stride[split - 1] == inner && g_shape[split - 1] > 0) inner *= g_shape[--split];
  bool leading_reduced = true;
  for (int d = 0; d < split; ++d) leading_reduced = leading_reduced && (r_stride[d] == 0 || g_shape[d] == 1);
  if (leading_reduced && inner == r_numel) {
    for (i64 o = 0; o < n / inner; ++o) {
      const float* row = g + o * inner;
      for (i64 i = 0; i < inner; ++i) r[i] += row[i];
    }
    return;
  }
  // Sequential over g: deterministic, and the gradients it reduces are small (biases, gains).
  i64 idx[kMaxRank] = {};
  i64 ro = 0;
  for (i64 i = 0; i < n; ++i) {
    r[ro] += g[i];
    for (int d = rank - 1; d >= 0; --d) {
      ++idx[d];
      ro += r_stride[d];
      if (idx[d] < g_shape[d]) break;
      ro -= r_stride[d] * idx[d];
      idx[d] = 0;
    }
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
