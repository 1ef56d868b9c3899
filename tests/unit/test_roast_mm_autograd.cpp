// roast_matmul through autograd: finite-difference gradients for the input and the memory,
// with two layers sharing one memory (their memory gradients add in the same buffer).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "roast/autograd.h"
#include "roast/ops.h"
#include "roast/roast_matmul.h"
#include "support/catch.h"

using namespace roast;
using i64 = std::int64_t;

namespace {

Mapping layer_mapping(Scheme scheme, std::uint32_t layer, i64 K, i64 N, i64 base, i64 size) {
  Mapping map;
  map.scheme = scheme;
  map.sign_mode = SignMode::element;
  map.seed = 2024;
  map.layer = layer;
  map.rows = K;
  map.cols = N;
  map.tile_rows = 8;
  map.tile_cols = 16;
  map.region_base = base;
  map.region_size = size;
  map.lambda = 0.8f;
  return map;
}

// The test's scalar: sum over y of y * R, accumulated in double.
double projected_loss(const Tensor& y, const std::vector<float>& R) {
  const std::vector<float> v = y.to_vector();
  double loss = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) loss += double(v[i]) * R[i];
  return loss;
}

// Central difference of the loss with respect to one element of `t` (changed in place).
template <class Loss>
double numeric_grad(Tensor& t, i64 index, Loss loss) {
  const float eps = 1e-2f;
  float* p = t.data<float>() + index;
  const float saved = *p;
  *p = saved + eps;
  const double up = loss();
  *p = saved - eps;
  const double down = loss();
  *p = saved;
  return (up - down) / (2.0 * eps);
}

void check_gradient(const char* what, Tensor& t, const std::vector<float>& analytic, const std::vector<i64>& indices,
                    const std::function<double()>& loss) {
  double scale = 1e-6;
  for (float g : analytic) scale = std::max(scale, double(std::abs(g)));
  for (i64 i : indices) {
    const double numeric = numeric_grad(t, i, loss);
    INFO(what << "[" << i << "]: analytic " << analytic[std::size_t(i)] << ", numeric " << numeric << ", scale "
              << scale);
    CHECK(std::abs(numeric - analytic[std::size_t(i)]) <= 1e-2 * scale);
  }
}

}  // namespace

TEST_CASE("roast_matmul: finite-difference gradients for x and a shared memory", "[roast_mm]") {
  for (Scheme scheme : {Scheme::roast, Scheme::hashednet}) {
    const i64 K = 20, H = 36, N = 12, m = 700;
    const Mapping first = layer_mapping(scheme, 0, K, H, 3, m - 10);
    const Mapping second = layer_mapping(scheme, 1, H, N, 0, m);
    Tensor x = randn({2, 3, K}, 11);
    Tensor memory = rand_uniform({m}, 12, -1.0f, 1.0f);
    x.set_requires_grad(true);
    memory.set_requires_grad(true);
    const std::vector<float> R = randn({2, 3, N}, 13).to_vector();

    Tensor y = roast_matmul(roast_matmul(x, memory, first), memory, second);
    CHECK(y.shape() == Shape{2, 3, N});
    sum_all(mul(y, Tensor::from_vector(R, {2, 3, N}))).backward();
    const std::vector<float> gx = x.grad().to_vector(), gm = memory.grad().to_vector();

    const auto loss = [&] {
      NoGradGuard no_grad;
      return projected_loss(roast_matmul(roast_matmul(x, memory, first), memory, second), R);
    };
    check_gradient("dx", x, gx, {0, 7, 19, 45, 100, 119}, loss);
    std::vector<i64> cells;
    for (i64 c = 0; c < m && cells.size() < 12; c += 37) cells.push_back(c);
    check_gradient("dmemory", memory, gm, cells, loss);
  }
}

TEST_CASE("roast_matmul: bad inputs are rejected with an Error", "[roast_mm]") {
  const Mapping map = layer_mapping(Scheme::roast, 0, 20, 36, 0, 500);
  CHECK_THROWS_AS(roast_matmul(randn({4, 21}, 1), randn({500}, 2), map), Error);  // K mismatch
  CHECK_THROWS_AS(roast_matmul(randn({4, 20}, 1), randn({499}, 2), map), Error);  // memory too small
  CHECK(roast_matmul(randn({4, 20}, 1), randn({500}, 2), map).shape() == Shape{4, 36});
}
