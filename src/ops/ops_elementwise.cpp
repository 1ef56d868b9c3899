// Element-wise ops: unary functions, broadcasting binary ops, scalar ops.
#include <algorithm>

#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace kc = kernels;  // the kernels' shared types

namespace ops {

void raw_add_inplace(Tensor& a, const Tensor& b) {
  ROAST_CHECK(a.shape() == b.shape(), "add_: shapes differ: ", a.describe(), " and ", b.describe());
  require_same_device(a, b, "add_");
  ROAST_KERNEL(a.device(), add_inplace, a.data<float>(), b.data<float>(), a.numel());
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  ROAST_CHECK(rank <= std::size_t(kc::kMaxRank), op, ": at most ", kc::kMaxRank, " dims, got ", shape_str(a), " and ",
              shape_str(b));
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    ROAST_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
// Strides of `in` read as `out`-shaped (0 along broadcast dims).
void broadcast_strides(const Shape& in, const Shape& out, std::int64_t* stride) {
  const std::size_t lead = out.size() - in.size();
  std::int64_t s = 1;
  for (std::size_t i = out.size(); i-- > 0;) {
    const std::int64_t d = i < lead ? 1 : in[i - lead];
    stride[i] = d == 1 ? 0 : s;
    s *= d;
  }
}
}  // namespace

Tensor raw_binary(kc::Binary op, const Tensor& a, const Tensor& b, const char* name) {
  require_f32(a, name, "first input");
  require_f32(b, name, "second input");
  require_same_device(a, b, name);
  const Shape out_shape = broadcast_shape(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, DType::f32, a.device());
  kc::Broadcast bc;
  bc.rank = int(out_shape.size());
  std::copy(out_shape.begin(), out_shape.end(), bc.out_shape);
  broadcast_strides(a.shape(), out_shape, bc.a_stride);
  broadcast_strides(b.shape(), out_shape, bc.b_stride);
  ROAST_KERNEL(a.device(), binary, op, a.data<float>(), b.data<float>(), out.data<float>(), bc);
  return out;
}

Tensor raw_sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor out = Tensor::empty(shape, DType::f32, g.device());
  const Shape& gs = g.shape();
  std::int64_t stride[kc::kMaxRank];
  broadcast_strides(shape, gs, stride);
  ROAST_KERNEL(g.device(), sum_to, g.data<float>(), out.data<float>(), int(gs.size()), gs.data(), stride, out.numel());
  return out;
}

Tensor raw_scale(const Tensor& a, float alpha) {
  Tensor out = Tensor::empty(a.shape(), DType::f32, a.device());
  ROAST_KERNEL(a.device(), affine, a.data<float>(), out.data<float>(), a.numel(), alpha, 0.0f);
  return out;
}

}  // namespace ops

namespace {
using ops::raw_binary;
using ops::raw_sum_to;

Tensor unary_op(const char* name, kc::Unary op, const Tensor& x) {
  ops::require_f32(x, name);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  ROAST_KERNEL(x.device(), unary, op, x.data<float>(), y.data<float>(), x.numel());
  const Tensor y_saved = y.detach();  // the output must not own its own node
  return record(name, y, {x}, [op, x, y_saved](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::empty(x.shape(), DType::f32, x.device());
    ROAST_KERNEL(x.device(), unary_backward, op, x.data<float>(), y_saved.data<float>(), g.data<float>(),
                 gx.data<float>(), x.numel());
    sink.accumulate(0, gx);
  });
}
}  // namespace

Tensor relu(const Tensor& x) { return unary_op("relu", kc::Unary::relu, x); }
Tensor gelu(const Tensor& x) { return unary_op("gelu", kc::Unary::gelu, x); }
Tensor tanh(const Tensor& x) { return unary_op("tanh", kc::Unary::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op("sigmoid", kc::Unary::sigmoid, x); }
Tensor exp(const Tensor& x) { return unary_op("exp", kc::Unary::exp, x); }
Tensor log(const Tensor& x) { return unary_op("log", kc::Unary::log, x); }
Tensor neg(const Tensor& x) { return unary_op("neg", kc::Unary::neg, x); }
Tensor sqrt(const Tensor& x) { return unary_op("sqrt", kc::Unary::sqrt, x); }
Tensor square(const Tensor& x) { return unary_op("square", kc::Unary::square, x); }

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = raw_binary(kc::Binary::add, a, b, "add");
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) sink.accumulate(0, raw_sum_to(g, sa));
    if (sink.needs(1)) sink.accumulate(1, raw_sum_to(g, sb));
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = raw_binary(kc::Binary::sub, a, b, "sub");
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) sink.accumulate(0, raw_sum_to(g, sa));
    if (sink.needs(1)) sink.accumulate(1, ops::raw_scale(raw_sum_to(g, sb), -1.0f));
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = raw_binary(kc::Binary::mul, a, b, "mul");
  return record("mul", out, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) sink.accumulate(0, raw_sum_to(raw_binary(kc::Binary::mul, g, b, "mul"), a.shape()));
    if (sink.needs(1)) sink.accumulate(1, raw_sum_to(raw_binary(kc::Binary::mul, g, a, "mul"), b.shape()));
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = raw_binary(kc::Binary::div, a, b, "div");
  return record("div", out, {a, b}, [a = a.detach(), b = b.detach(), q = out.detach()](const Tensor& g, GradSink& sink) {
    const Tensor g_over_b = raw_binary(kc::Binary::div, g, b, "div");
    if (sink.needs(0)) sink.accumulate(0, raw_sum_to(g_over_b, a.shape()));
    if (sink.needs(1)) {  // d(a/b)/db = -(a/b)/b
      const Tensor t = raw_binary(kc::Binary::mul, g_over_b, q, "div");
      sink.accumulate(1, ops::raw_scale(raw_sum_to(t, b.shape()), -1.0f));
    }
  });
}

Tensor add_scalar(const Tensor& a, float s) {
  ops::require_f32(a, "add_scalar");
  Tensor out = Tensor::empty(a.shape(), DType::f32, a.device());
  ROAST_KERNEL(a.device(), affine, a.data<float>(), out.data<float>(), a.numel(), 1.0f, s);
  return record("add_scalar", out, {a}, [](const Tensor& g, GradSink& sink) { sink.accumulate(0, g); });
}

Tensor mul_scalar(const Tensor& a, float s) {
  ops::require_f32(a, "mul_scalar");
  Tensor out = ops::raw_scale(a, s);
  return record("mul_scalar", out, {a}, [s](const Tensor& g, GradSink& sink) { sink.accumulate(0, ops::raw_scale(g, s)); });
}

Tensor pow_scalar(const Tensor& a, float p) {
  ops::require_f32(a, "pow_scalar");
  Tensor out = Tensor::empty(a.shape(), DType::f32, a.device());
  ROAST_KERNEL(a.device(), power, a.data<float>(), out.data<float>(), a.numel(), p);
  return record("pow_scalar", out, {a}, [a = a.detach(), p](const Tensor& g, GradSink& sink) {
    Tensor d = Tensor::empty(a.shape(), DType::f32, a.device());
    ROAST_KERNEL(a.device(), power, a.data<float>(), d.data<float>(), a.numel(), p - 1.0f);  // p * a^(p-1)
    ROAST_KERNEL(a.device(), affine, d.data<float>(), d.data<float>(), d.numel(), p, 0.0f);
    sink.accumulate(0, raw_binary(kc::Binary::mul, g, d, "pow_scalar"));
  });
}

}  // namespace roast
