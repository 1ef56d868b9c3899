// Finite-difference gradient checks for every differentiable op, broadcasting included.
#include <cmath>

#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::TensorFn;

namespace {
Tensor rnd(const Shape& s, std::uint64_t seed) { return randn(s, seed); }
// Values in [lo, hi]: positive inputs for log / sqrt / div denominators.
Tensor pos(const Shape& s, std::uint64_t seed) { return rand_uniform(s, seed, 0.5f, 2.0f); }
// Normal values pushed away from 0 (kinks of relu).
Tensor away_from_zero(const Shape& s, std::uint64_t seed) {
  std::vector<float> v = randn(s, seed).to_vector();
  for (float& x : v) x += x >= 0 ? 0.05f : -0.05f;
  return Tensor::from_vector(v, s);
}
TensorFn unary(Tensor (*op)(const Tensor&)) {
  return [op](const std::vector<Tensor>& in) { return op(in[0]); };
}
}  // namespace

TEST_CASE("grad: matmul plain, batched and shared right operand", "[ops][grad]") {
  const TensorFn mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  CHECK_GRADIENTS(mm, {rnd({3, 5}, 1), rnd({5, 4}, 2)});
  CHECK_GRADIENTS(mm, {rnd({2, 3, 5}, 3), rnd({2, 5, 4}, 4)});
  CHECK_GRADIENTS(mm, {rnd({2, 3, 5}, 5), rnd({5, 4}, 6)});
}

TEST_CASE("grad: binary ops with broadcasting", "[ops][grad]") {
  const TensorFn add_fn = [](const std::vector<Tensor>& in) { return add(in[0], in[1]); };
  const TensorFn sub_fn = [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); };
  const TensorFn mul_fn = [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); };
  const TensorFn div_fn = [](const std::vector<Tensor>& in) { return div(in[0], in[1]); };
  for (const TensorFn& f : {add_fn, sub_fn, mul_fn}) {
    CHECK_GRADIENTS(f, {rnd({3, 4}, 10), rnd({3, 4}, 11)});     // same shape
    CHECK_GRADIENTS(f, {rnd({2, 3, 4}, 12), rnd({4}, 13)});     // row broadcast
    CHECK_GRADIENTS(f, {rnd({3, 1}, 14), rnd({2, 3, 4}, 15)});  // both sides broadcast
  }
  CHECK_GRADIENTS(div_fn, {rnd({3, 4}, 16), pos({3, 4}, 17)});
  CHECK_GRADIENTS(div_fn, {rnd({2, 3, 4}, 18), pos({4}, 19)});
}

TEST_CASE("grad: scalar ops", "[ops][grad]") {
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return add_scalar(in[0], 0.7f); }, {rnd({3, 4}, 20)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return mul_scalar(in[0], -1.3f); }, {rnd({3, 4}, 21)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return pow_scalar(in[0], 1.5f); }, {pos({3, 4}, 22)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return (in[0] * 2.0f - 1.0f) / 4.0f; }, {rnd({5}, 23)});
}

TEST_CASE("grad: reductions over an axis", "[ops][grad]") {
  const Tensor x = rnd({2, 3, 4}, 30);
  for (std::int64_t axis : {0, 1, 2, -1}) {
    for (bool keep : {false, true}) {
      CHECK_GRADIENTS([axis, keep](const std::vector<Tensor>& in) { return sum(in[0], axis, keep); }, {x});
      CHECK_GRADIENTS([axis, keep](const std::vector<Tensor>& in) { return mean(in[0], axis, keep); }, {x});
    }
  }
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return sum_all(in[0]); }, {x});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return mean_all(in[0]); }, {x});
}

TEST_CASE("grad: element-wise functions", "[ops][grad]") {
  CHECK_GRADIENTS(unary(relu), {away_from_zero({4, 5}, 40)});
  CHECK_GRADIENTS(unary(gelu), {rnd({4, 5}, 41)});
  CHECK_GRADIENTS(unary(roast::tanh), {rnd({4, 5}, 42)});
  CHECK_GRADIENTS(unary(sigmoid), {rnd({4, 5}, 43)});
  CHECK_GRADIENTS(unary(roast::exp), {rnd({4, 5}, 44)});
  CHECK_GRADIENTS(unary(roast::log), {pos({4, 5}, 45)});
  CHECK_GRADIENTS(unary(neg), {rnd({4, 5}, 46)});
  CHECK_GRADIENTS(unary(roast::sqrt), {pos({4, 5}, 47)});
  CHECK_GRADIENTS(unary(square), {rnd({4, 5}, 48)});
}

TEST_CASE("grad: softmax, log-softmax and cross-entropy", "[ops][grad]") {
  CHECK_GRADIENTS(unary(softmax), {rnd({2, 3, 5}, 50)});
  CHECK_GRADIENTS(unary(log_softmax), {rnd({4, 6}, 51)});
  const Tensor labels = Tensor::from_vector(std::vector<std::int32_t>{2, 0, 5, 3}, {4}, Device::cpu());
  for (float smoothing : {0.0f, 0.1f}) {
    CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], smoothing); },
                    {rnd({4, 6}, 52), labels});
  }
  const Tensor labels64 = Tensor::from_vector(std::vector<std::int64_t>{1, 1, 0}, {3}, Device::cpu());
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); }, {rnd({3, 2}, 53), labels64});
}

TEST_CASE("grad: layout ops", "[ops][grad]") {
  const Tensor x = rnd({2, 3, 4}, 60);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return reshape(in[0], {4, -1}); }, {x});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {x});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return permute(in[0], {1, 2, 0}); }, {x});
  for (std::int64_t axis : {0, 1, 2}) {
    CHECK_GRADIENTS([axis](const std::vector<Tensor>& in) { return slice(in[0], axis, 1, 2); }, {x});
    CHECK_GRADIENTS([axis](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, axis); },
                    {x, rnd({2, 3, 4}, 61 + std::uint64_t(axis))});
  }
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); }, {rnd({2, 1, 3}, 65), rnd({2, 4, 3}, 66)});
  // Repeated ids: their gradients must add up in the table rows.
  const Tensor ids = Tensor::from_vector(std::vector<std::int32_t>{3, 0, 3, 1, 3, 4}, {2, 3}, Device::cpu());
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return gather_rows(in[0], in[1]); }, {rnd({5, 4}, 67), ids});
}

TEST_CASE("grad: a composite expression that reuses values", "[ops][grad]") {
  // y = softmax(tanh(x W + b)) * x W : x W used twice, x reaches the output by two paths.
  const TensorFn f = [](const std::vector<Tensor>& in) {
    const Tensor h = matmul(in[0], in[1]);
    return mul(softmax(roast::tanh(add(h, in[2]))), h);
  };
  CHECK_GRADIENTS(f, {rnd({3, 4}, 70), rnd({4, 5}, 71), rnd({5}, 72)});
}
