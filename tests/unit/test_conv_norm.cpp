// The fused convolution batch norm (+ ReLU, layout change) against the unfused ops, and its
// gradients by finite differences.
#include "roast/nn/functional.h"
#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;

namespace {
// rows [B*H*W, C] -> [B, C, H, W], the unfused way.
Tensor to_nchw(const Tensor& rows, std::int64_t b, std::int64_t h, std::int64_t w) {
  return permute(reshape(rows, {b, h, w, rows.size(1)}), {0, 3, 1, 2});
}
}  // namespace

TEST_CASE("nn: conv batch norm (training) equals permute + batch_norm_train + relu", "[nn][grad]") {
  // 20 channels: one full group of 16 and a tail of 4.
  const std::int64_t b = 3, h = 2, w = 5, c = 20;
  const Tensor rows = randn({b * h * w, c}, 41, 1.5f), gain = randn({c}, 42), bias = randn({c}, 43);
  for (bool use_relu : {false, true}) {
    Tensor m1, v1, m2, v2;
    const Tensor fused = nn::conv_batch_norm_train(rows, b, h, w, 1e-5f, use_relu, gain, bias, &m1, &v1);
    Tensor plain = nn::batch_norm_train(to_nchw(rows, b, h, w), 1e-5f, &m2, &v2, gain, bias);
    if (use_relu) plain = relu(plain);
    INFO("relu " << use_relu << ": " << roast::testing::first_mismatches(fused, plain, 1e-5));
    CHECK(roast::testing::relative_error(fused, plain) < 1e-5);
    CHECK(roast::testing::relative_error(m1, m2) < 1e-6);
    CHECK(roast::testing::relative_error(v1, v2) < 1e-5);

    // Analytic gradients of both forms on the same random projection.
    const Tensor r = randn({b, c, h, w}, 44);
    auto grads = [&](bool fused_form) {
      Tensor x = rows.detach().clone(), g = gain.detach().clone(), bb = bias.detach().clone();
      x.set_requires_grad(true), g.set_requires_grad(true), bb.set_requires_grad(true);
      Tensor y = fused_form ? nn::conv_batch_norm_train(x, b, h, w, 1e-5f, use_relu, g, bb, nullptr, nullptr)
                            : nn::batch_norm_train(to_nchw(x, b, h, w), 1e-5f, nullptr, nullptr, g, bb);
      if (!fused_form && use_relu) y = relu(y);
      sum_all(mul(y, r)).backward();
      return std::vector<Tensor>{x.grad(), g.grad(), bb.grad()};
    };
    const auto gf = grads(true), gp = grads(false);
    for (int i = 0; i < 3; ++i) {
      INFO("input " << i << ": " << roast::testing::first_mismatches(gf[std::size_t(i)], gp[std::size_t(i)], 1e-4));
      CHECK(roast::testing::relative_error(gf[std::size_t(i)], gp[std::size_t(i)]) < 1e-4);
    }
  }
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) {
    return nn::conv_batch_norm_train(in[0], 2, 3, 2, 1e-5f, false, in[1], in[2], nullptr, nullptr);
  }, {randn({12, 5}, 45), randn({5}, 46), randn({5}, 47)});
  // With the ReLU: inputs drawn so that no value sits within the difference step of the kink.
  roast::testing::GradCheckOptions near_kink;
  near_kink.step = 1e-3;
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) {
    return nn::conv_batch_norm_train(in[0], 2, 3, 2, 1e-5f, true, in[1], in[2], nullptr, nullptr);
  }, {randn({12, 5}, 148), randn({5}, 149), randn({5}, 150)}, near_kink);
}

TEST_CASE("nn: conv batch norm (inference) equals the running-statistics formula", "[nn][grad]") {
  const std::int64_t b = 2, h = 3, w = 3, c = 17;
  const Tensor rows = randn({b * h * w, c}, 51), gain = randn({c}, 52), bias = randn({c}, 53);
  const Tensor mean = randn({c}, 54), var = add_scalar(square(randn({c}, 55)), 0.1f);
  const Tensor fused = nn::conv_batch_norm_inference(rows, b, h, w, 1e-5f, true, gain, bias, mean, var);
  const Shape cs{c, 1, 1};
  const Tensor xhat = div(sub(to_nchw(rows, b, h, w), reshape(mean, cs)), reshape(sqrt(add_scalar(var, 1e-5f)), cs));
  const Tensor plain = relu(add(mul(xhat, reshape(gain, cs)), reshape(bias, cs)));
  INFO(roast::testing::first_mismatches(fused, plain, 1e-5));
  CHECK(roast::testing::relative_error(fused, plain) < 1e-5);
  CHECK_GRADIENTS([&](const std::vector<Tensor>& in) {
    return nn::conv_batch_norm_inference(in[0], 2, 2, 2, 1e-5f, false, in[1], in[2], mean.detach(), var.detach());
  }, {randn({8, c}, 56), randn({c}, 57), randn({c}, 58)});
}

TEST_CASE("nn: conv batch norm rejects rows that do not match the image size", "[nn]") {
  const Tensor rows = randn({10, 4}, 60), g = randn({4}, 61), bias = randn({4}, 62);
  CHECK_THROWS_AS(nn::conv_batch_norm_train(rows, 2, 2, 2, 1e-5f, true, g, bias, nullptr, nullptr), Error);
  CHECK_THROWS_AS(nn::conv_batch_norm_train(rows, 2, 5, 1, 1e-5f, true, randn({3}, 63), bias, nullptr, nullptr), Error);
}
