// Autograd behaviour: accumulation, no-grad mode, misuse; and forward values of key ops.
#include <cmath>

#include "roast/autograd.h"
#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;

namespace {
bool message_has(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    INFO("message: " << what);
    return what.find(needle) != std::string::npos;
  }
  return false;
}
}  // namespace

TEST_CASE("autograd: gradients of a value used twice are summed", "[autograd]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1.5f, -2.0f, 3.0f}, {3}).set_requires_grad(true);
  Tensor y = sum_all(add(mul(x, x), x));  // d/dx = 2x + 1
  y.backward();
  const std::vector<float> g = x.grad().to_vector();
  CHECK(g[0] == Approx(4.0f));
  CHECK(g[1] == Approx(-3.0f));
  CHECK(g[2] == Approx(7.0f));
  // A second forward + backward accumulates into the leaf.
  sum_all(x).backward();
  CHECK(x.grad().to_vector()[0] == Approx(5.0f));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: leaf gradients do not alias each other", "[autograd]") {
  Tensor a = randn({4}, 1).set_requires_grad(true);
  Tensor b = randn({4}, 2).set_requires_grad(true);
  sum_all(add(a, b)).backward();
  a.grad().fill_(5.0f);
  CHECK(b.grad().to_vector()[0] == Approx(1.0f));
}

TEST_CASE("autograd: no-grad mode records nothing", "[autograd]") {
  Tensor x = randn({2, 2}, 3).set_requires_grad(true);
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Tensor y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK_THROWS_AS(sum_all(y).backward(), Error);
  }
  CHECK(grad_enabled());
  CHECK(mul(x, x).requires_grad());
}

TEST_CASE("autograd: misuse gives clear errors", "[autograd]") {
  Tensor x = randn({2, 3}, 4).set_requires_grad(true);
  CHECK(message_has([&] { mul(x, x).backward(); }, "scalar"));
  Tensor loss = sum_all(mul(x, x));
  loss.backward();
  CHECK(message_has([&] { loss.backward(); }, "already walked"));
  CHECK(message_has([&] { matmul(x, randn({4, 2}, 5)); }, "[2, 3] x [4, 2]"));
  CHECK(message_has([&] { add(x, randn({4}, 6)); }, "do not broadcast"));
  CHECK(message_has([&] { relu(Tensor::zeros({2}, DType::i32)); }, "must be f32"));
  CHECK(message_has([&] { sum(x, 2); }, "axis 2 is out of range"));
  CHECK(message_has([&] { reshape(x, {4, 2}); }, "needs 8"));
  CHECK(message_has([&] { slice(x, 1, 2, 5); }, "[2, 5)"));
  Tensor moved = std::move(x);
  CHECK(message_has([&] { relu(x); }, "empty"));  // NOLINT(bugprone-use-after-move)
  CHECK(message_has([&] { Tensor::zeros({2}, DType::i32).set_requires_grad(true); }, "only f32"));
  const Tensor logits = randn({2, 3}, 7);
  CHECK(message_has([&] { cross_entropy(logits, Tensor::from_vector(std::vector<std::int32_t>{0, 3}, {2})); },
                    "label 3 at row 1"));
  CHECK(message_has([&] { gather_rows(logits, Tensor::from_vector(std::vector<std::int32_t>{-1}, {1})); }, "id -1"));
}

TEST_CASE("ops: forward values against plain loops", "[ops]") {
  const Tensor a = randn({3, 4}, 8), b = randn({4, 5}, 9);
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  std::vector<float> ref(15, 0.0f);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j)
      for (int k = 0; k < 4; ++k) ref[std::size_t(i * 5 + j)] += av[std::size_t(i * 4 + k)] * bv[std::size_t(k * 5 + j)];
  const Tensor expected = Tensor::from_vector(ref, {3, 5});
  CHECK(roast::testing::relative_error(matmul(a, b), expected) < 1e-6);

  const std::vector<float> p = softmax(randn({2, 7}, 10)).to_vector();
  double row0 = 0;
  for (int j = 0; j < 7; ++j) row0 += p[std::size_t(j)];
  CHECK(row0 == Approx(1.0).epsilon(1e-6));

  // Cross-entropy of uniform logits is log(C); label smoothing leaves it unchanged.
  const Tensor uniform = Tensor::zeros({2, 4});
  const Tensor labels = Tensor::from_vector(std::vector<std::int32_t>{1, 3}, {2});
  CHECK(cross_entropy(uniform, labels).item() == Approx(std::log(4.0f)));
  CHECK(cross_entropy(uniform, labels, 0.2f).item() == Approx(std::log(4.0f)));

  const Tensor t = transpose(Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  const Tensor rows = gather_rows(Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}),
                                  Tensor::from_vector(std::vector<std::int64_t>{2, 0}, {2}));
  CHECK(rows.to_vector() == std::vector<float>{5, 6, 1, 2});
}

TEST_CASE("tensor: reshape is a view of the same storage", "[tensor]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Tensor v = reshape(x, {4});
  x.data<float>()[3] = 9.0f;
  CHECK(v.to_vector()[3] == 9.0f);
}
