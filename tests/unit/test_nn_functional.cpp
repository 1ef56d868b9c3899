// Gradient checks and reference values for the layer building blocks.
#include "roast/nn/functional.h"
#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;

TEST_CASE("nn: im2col matches a direct convolution and has the right gradient", "[nn][grad]") {
  const Tensor x = randn({2, 3, 5, 4}, 1), w = randn({3 * 3 * 3, 2}, 2);
  // Direct convolution, stride 2, padding 1, weight laid out [(c, i, j), out].
  const std::int64_t oh = (5 + 2 - 3) / 2 + 1, ow = (4 + 2 - 3) / 2 + 1;
  const std::vector<float> xv = x.to_vector(), wv = w.to_vector();
  std::vector<float> ref(std::size_t(2 * oh * ow * 2), 0.0f);
  for (int b = 0; b < 2; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox)
        for (int o = 0; o < 2; ++o) {
          double acc = 0;
          for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) {
                const int y = oy * 2 - 1 + i, xx = ox * 2 - 1 + j;
                if (y < 0 || y >= 5 || xx < 0 || xx >= 4) continue;
                acc += xv[std::size_t(((b * 3 + c) * 5 + y) * 4 + xx)] * wv[std::size_t(((c * 3 + i) * 3 + j) * 2 + o)];
              }
          ref[std::size_t(((b * oh + oy) * ow + ox) * 2 + o)] = float(acc);
        }
  const Tensor got = matmul(nn::im2col(x, 3, 3, 2, 1), w);
  CHECK(roast::testing::relative_error(got, Tensor::from_vector(ref, got.shape())) < 1e-5);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::im2col(in[0], 3, 2, 1, 1); }, {randn({2, 2, 4, 3}, 3)});
}

TEST_CASE("nn: pooling values and gradients", "[nn][grad]") {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 9, 3, 1, 7, 2, 6}, {1, 1, 4, 4});
  CHECK(nn::max_pool2d(x, 2, 2).to_vector() == std::vector<float>{5, 8, 7, 9});
  CHECK(nn::avg_pool2d(x, 2, 2).to_vector() == std::vector<float>{3.25f, 2.75f, 2.5f, 5.0f});
  CHECK(nn::global_avg_pool2d(x).to_vector()[0] == Approx(54.0f / 16.0f));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::max_pool2d(in[0], 2, 2); }, {randn({2, 3, 4, 6}, 4)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::max_pool2d(in[0], 3, 1); }, {randn({1, 2, 5, 5}, 5)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::max_pool2d(in[0], 2, 2); }, {randn({1, 2, 5, 7}, 8)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::avg_pool2d(in[0], 2, 1); }, {randn({2, 2, 3, 4}, 6)});
  // Ties: the gradient goes to the first maximum in row order (the 2 x 2 fast path and the
  // general loop keep one-byte window offsets alike).
  for (std::int64_t k : {2, 3}) {
    Tensor t = Tensor::from_vector(std::vector<float>(std::size_t(k * k), 4.0f), {1, 1, k, k});
    t.set_requires_grad(true);
    sum_all(nn::max_pool2d(t, k, k)).backward();
    std::vector<float> first(std::size_t(k * k), 0.0f);
    first[0] = 1.0f;
    CHECK(t.grad().to_vector() == first);
  }
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::global_avg_pool2d(in[0]); }, {randn({2, 3, 2, 2}, 7)});
}

TEST_CASE("nn: layer norm and batch norm", "[nn][grad]") {
  const Tensor x = randn({3, 5}, 8, 2.0f);
  const std::vector<float> y = nn::layer_norm(x, 1e-5f).to_vector();
  double mean0 = 0, var0 = 0;
  for (int j = 0; j < 5; ++j) mean0 += y[std::size_t(j)] / 5.0;
  for (int j = 0; j < 5; ++j) var0 += (y[std::size_t(j)] - mean0) * (y[std::size_t(j)] - mean0) / 5.0;
  CHECK(mean0 == Approx(0.0).margin(1e-6));
  CHECK(var0 == Approx(1.0).epsilon(1e-3));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::layer_norm(in[0], 1e-5f); }, {randn({2, 3, 6}, 9)});

  Tensor mean, var;
  const Tensor img = randn({4, 3, 2, 2}, 10, 1.5f);
  nn::batch_norm_train(img, 1e-5f, &mean, &var);
  const std::vector<float> v = img.to_vector();
  double m1 = 0;  // channel 1 over batch and space
  for (int b = 0; b < 4; ++b)
    for (int s = 0; s < 4; ++s) m1 += v[std::size_t((b * 3 + 1) * 4 + s)] / 16.0;
  CHECK(mean.to_vector()[1] == Approx(m1).epsilon(1e-5));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr); },
                  {randn({3, 2, 2, 3}, 11)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr); },
                  {randn({5, 4}, 12)});
}

TEST_CASE("nn: dropout is seeded and unbiased", "[nn]") {
  const Tensor x = Tensor::full({10000}, 1.0f);
  const std::vector<float> a = nn::dropout(x, 0.3f, 5).to_vector(), b = nn::dropout(x, 0.3f, 5).to_vector();
  CHECK(a == b);
  double total = 0;
  int zeros = 0;
  for (float v : a) total += v, zeros += v == 0.0f;
  CHECK(total / 10000.0 == Approx(1.0).epsilon(0.03));
  CHECK(zeros == Approx(3000).margin(200));
  // One hash serves a pair of elements: the two halves must still drop independently.
  int both = 0;
  for (std::size_t i = 0; i + 1 < a.size(); i += 2) both += a[i] == 0.0f && a[i + 1] == 0.0f;
  CHECK(both == Approx(0.09 * 5000).margin(80));
  // An odd length draws the same mask as the even one's prefix.
  const std::vector<float> odd = nn::dropout(Tensor::full({9999}, 1.0f), 0.3f, 5).to_vector();
  CHECK(std::equal(odd.begin(), odd.end(), a.begin()));
  CHECK(nn::dropout(x, 0.3f, 6).to_vector() != a);
  CHECK_THROWS_AS(nn::dropout(x, 1.0f, 1), Error);
}

TEST_CASE("nn: fused layer norm and batch norm with gain and bias", "[nn][grad]") {
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::layer_norm(in[0], 1e-5f, in[1], in[2]); },
                  {randn({2, 3, 6}, 20), randn({6}, 21), randn({6}, 22)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr, in[1], in[2]); },
                  {randn({3, 2, 2, 3}, 23), randn({2}, 24), randn({2}, 25)});
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr, in[1], in[2]); },
                  {randn({5, 4}, 26), randn({4}, 27), randn({4}, 28)});
  // Same values as the unfused form.
  const Tensor x = randn({4, 3, 2, 2}, 29), g = randn({3}, 30), b = randn({3}, 31);
  const Tensor fused = nn::batch_norm_train(x, 1e-5f, nullptr, nullptr, g, b);
  const Tensor plain = add(mul(nn::batch_norm_train(x, 1e-5f, nullptr, nullptr), reshape(g, {3, 1, 1})), reshape(b, {3, 1, 1}));
  CHECK(roast::testing::relative_error(fused, plain) < 1e-6);
}
