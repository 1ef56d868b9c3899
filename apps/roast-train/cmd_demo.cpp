// `roast-train demo`: a small built-in training run through the autograd engine
// (two interleaved spirals, a two-layer tanh network, plain SGD). It exists so that a
// fresh checkout shows the engine learning before any dataset is fetched.
#include <cmath>
#include <cstdio>
#include <random>

#include "commands.h"
#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace cli {
namespace {

struct Spirals {
  Tensor x;       // [n, 2]
  Tensor labels;  // [n] i32
};

Spirals make_spirals(int n_per_class, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.08f);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < n_per_class; ++i) {
      const float t = 0.25f + 3.0f * float(i) / float(n_per_class);  // radius and angle grow together
      const float angle = t * 2.2f + float(c) * 3.14159265f;
      x.push_back(t * std::cos(angle) / 3.0f + noise(rng));
      x.push_back(t * std::sin(angle) / 3.0f + noise(rng));
      y.push_back(c);
    }
  const std::int64_t n = std::int64_t(y.size());
  return {Tensor::from_vector(x, {n, 2}), Tensor::from_vector(y, {n})};
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  const std::vector<float> l = logits.to_vector();
  const std::vector<std::int32_t> y = labels.to_host<std::int32_t>();
  int correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) correct += ((l[2 * i + 1] > l[2 * i]) ? 1 : 0) == y[i];
  return double(correct) / double(y.size());
}

int run_demo(int steps, float lr) {
  const Spirals data = make_spirals(200, 1);
  const int hidden = 32;
  Tensor w1 = randn({2, hidden}, 2, 1.0f).set_requires_grad(true);
  Tensor b1 = Tensor::zeros({hidden}).set_requires_grad(true);
  Tensor w2 = randn({hidden, 2}, 3, 1.0f / std::sqrt(float(hidden))).set_requires_grad(true);
  Tensor b2 = Tensor::zeros({2}).set_requires_grad(true);
  auto forward = [&] { return add(matmul(roast::tanh(add(matmul(data.x, w1), b1)), w2), b2); };
  std::printf("demo: two spirals (400 points), 2-%d-2 tanh network, SGD lr %.2f\n", hidden, double(lr));
  for (int step = 0; step <= steps; ++step) {
    Tensor logits = forward();
    Tensor loss = cross_entropy(logits, data.labels);
    if (step % (steps / 5) == 0)
      std::printf("  step %4d  loss %.4f  train accuracy %.1f%%\n", step, double(loss.item()),
                  100.0 * accuracy(logits, data.labels));
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor* p : {&w1, &b1, &w2, &b2}) {
      p->copy_from(sub(*p, mul_scalar(p->grad(), lr)));
      p->zero_grad();
    }
  }
  NoGradGuard no_grad;
  const double final_accuracy = accuracy(forward(), data.labels);
  std::printf("demo: final train accuracy %.1f%%\n", 100.0 * final_accuracy);
  return final_accuracy > 0.9 ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  CLI::App* demo = app.add_subcommand("demo", "Train a tiny network on synthetic spirals (no data needed)");
  auto steps = std::make_shared<int>(1500);
  auto lr = std::make_shared<float>(0.5f);
  demo->add_option("--steps", *steps, "Training steps")->check(CLI::Range(5, 1000000));
  demo->add_option("--lr", *lr, "Learning rate")->check(CLI::PositiveNumber);
  demo->callback([steps, lr] { throw CLI::RuntimeError(run_demo(*steps, *lr)); });
}

}  // namespace cli
}  // namespace roast
