#include "support/catch.h"

#include "roast/tensor.h"

using namespace roast;

TEST_CASE("tensor: shape, dtype and round trip", "[tensor]") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.device() == Device::cpu());
  CHECK(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(t.size(-1) == 3);
  CHECK_THROWS_AS(t.size(2), Error);
  CHECK_THROWS_AS(t.data<std::int32_t>(), Error);
}

TEST_CASE("tensor: moved-from handles throw", "[tensor]") {
  Tensor a = Tensor::zeros({3});
  Tensor b = std::move(a);
  CHECK_FALSE(a.defined());  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK_THROWS_AS(a.shape(), Error);
  CHECK(b.numel() == 3);
}
