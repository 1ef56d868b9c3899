#include <cmath>

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kParallelMin = 1 << 15;  // below this, threads cost more than they save

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoef = 0.044715f;

// gelu, tanh approximation (as in BERT/GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
inline float gelu(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(u));
}
inline float gelu_grad(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
  const float t = std::tanh(u);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}
inline float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x)); }

template <typename F>
void for_each(i64 n, F f) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (i64 i = 0; i < n; ++i) f(i);
}
}  // namespace

void unary(Unary op, const float* x, float* y, i64 n) {
  switch (op) {
    case Unary::relu: for_each(n, [&](i64 i) { y[i] = x[i] > 0 ? x[i] : 0.0f; }); break;
    case Unary::gelu: for_each(n, [&](i64 i) { y[i] = gelu(x[i]); }); break;
    case Unary::tanh: for_each(n, [&](i64 i) { y[i] = std::tanh(x[i]); }); break;
    case Unary::sigmoid: for_each(n, [&](i64 i) { y[i] = sigmoid(x[i]); }); break;
    case Unary::exp: for_each(n, [&](i64 i) { y[i] = std::exp(x[i]); }); break;
    case Unary::log: for_each(n, [&](i64 i) { y[i] = std::log(x[i]); }); break;
    case Unary::neg: for_each(n, [&](i64 i) { y[i] = -x[i]; }); break;
    case Unary::sqrt: for_each(n, [&](i64 i) { y[i] = std::sqrt(x[i]); }); break;
    case Unary::square: for_each(n, [&](i64 i) { y[i] = x[i] * x[i]; }); break;
  }
}

void unary_backward(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n) {
  switch (op) {
    case Unary::relu: for_each(n, [&](i64 i) { gx[i] = x[i] > 0 ? gy[i] : 0.0f; }); break;
    case Unary::gelu: for_each(n, [&](i64 i) { gx[i] = gy[i] * gelu_grad(x[i]); }); break;
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
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
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

void power(const float* a, float* out, i64 n, float p) {
  for_each(n, [&](i64 i) { out[i] = std::pow(a[i], p); });
}

void add_inplace(float* a, const float* b, i64 n) {
  for_each(n, [&](i64 i) { a[i] += b[i]; });
}

void dropout_mask(float* mask, i64 n, std::uint64_t seed, std::uint32_t keep_below, float scale) {
  for_each(n, [&](i64 i) { mask[i] = dropout_bits(seed, i) < keep_below ? scale : 0.0f; });
}

void sum_to(const float* g, float* r, int rank, const i64* g_shape, const i64* r_stride, i64 r_numel) {
  for (i64 i = 0; i < r_numel; ++i) r[i] = 0.0f;
  i64 n = 1;
  for (int d = 0; d < rank; ++d) n *= g_shape[d];
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
