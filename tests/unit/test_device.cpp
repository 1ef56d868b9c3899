// Device handling: parsing, and CUDA tensors where a GPU exists (skipped elsewhere).
#include "roast/config.h"
#include "roast/tensor.h"
#include "support/catch.h"

using namespace roast;

TEST_CASE("device: parse and print", "[tensor][device]") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda") == Device::cuda(0));
  CHECK(parse_device("cuda:1").index == 1);
  CHECK(parse_device("cuda:1").str() == "cuda:1");
  CHECK_THROWS_AS(parse_device("gpu"), Error);
  CHECK_THROWS_AS(parse_device("cuda:x"), Error);
}

TEST_CASE("device: cuda tensors round-trip where a GPU exists", "[tensor][device][cuda]") {
  if (!cuda_available()) {
    WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
    CHECK_THROWS_AS(Tensor::zeros({4}, DType::f32, Device::cuda(0)), Error);
    return;
  }
  const Tensor host = randn({3, 5}, 1);
  const Tensor dev = host.to(Device::cuda(0));
  CHECK(dev.device() == Device::cuda(0));
  CHECK(dev.to(Device::cpu()).to_vector() == host.to_vector());
  CHECK(Tensor::zeros({4}, DType::f32, Device::cuda(0)).to_vector() == std::vector<float>(4, 0.0f));
}
