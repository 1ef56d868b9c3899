// Optimizers against hand-written reference updates; schedules; clipping.
#include <cmath>
#include <map>

#include "roast/optim.h"
#include "support/catch.h"

using namespace roast;

namespace {
struct Slots {
  std::map<std::string, Tensor> tensors;
  std::int64_t n;
  SlotFn fn() {
    return [this](const std::string& name) {
      auto it = tensors.find(name);
      if (it == tensors.end()) it = tensors.emplace(name, Tensor::zeros({n})).first;
      return it->second;
    };
  }
};

// Runs `steps` updates of a fixed gradient sequence and returns the parameters.
std::vector<float> run(const OptimizerConfig& c, int steps) {
  Tensor p = randn({6}, 1);
  Slots slots{{}, 6};
  Optimizer opt(c);
  for (int s = 0; s < steps; ++s) {
    Tensor g = randn({6}, 100 + std::uint64_t(s));
    opt.step(p, g, slots.fn(), c.lr);
  }
  return p.to_vector();
}

// The same updates written out plainly in double precision.
std::vector<double> reference(const OptimizerConfig& c, int steps) {
  std::vector<float> p0 = randn({6}, 1).to_vector();
  std::vector<double> p(p0.begin(), p0.end()), m(6, 0.0), v(6, 0.0);
  for (int s = 1; s <= steps; ++s) {
    std::vector<float> g = randn({6}, 100 + std::uint64_t(s - 1)).to_vector();
    for (std::size_t i = 0; i < 6; ++i) {
      double d = g[i];
      if (c.name == "sgd") {
        d += c.weight_decay * p[i];
        m[i] = c.momentum * m[i] + d;
        p[i] -= c.lr * (c.nesterov ? d + c.momentum * m[i] : (c.momentum > 0 ? m[i] : d));
      } else if (c.name == "adagrad") {
        d += c.weight_decay * p[i];
        v[i] += d * d;
        p[i] -= c.lr * d / (std::sqrt(v[i]) + c.eps);
      } else {
        if (c.name == "adamw") p[i] -= c.lr * c.weight_decay * p[i];
        else d += c.weight_decay * p[i];
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * d;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * d * d;
        const double mh = m[i] / (1 - std::pow(c.beta1, s)), vh = v[i] / (1 - std::pow(c.beta2, s));
        p[i] -= c.lr * mh / (std::sqrt(vh) + c.eps);
      }
    }
  }
  return p;
}
}  // namespace

TEST_CASE("optim: every optimizer matches its reference update", "[optim]") {
  std::vector<OptimizerConfig> configs;
  OptimizerConfig c;
  c.lr = 0.05f;
  for (const char* name : {"sgd", "adam", "adamw", "adagrad"}) {
    c.name = name;
    c.weight_decay = 0.01f;
    configs.push_back(c);
  }
  c.name = "sgd";
  c.momentum = 0.9f;
  configs.push_back(c);
  c.nesterov = true;
  configs.push_back(c);
  for (const OptimizerConfig& cfg : configs) {
    INFO(cfg.name << " momentum " << cfg.momentum << " nesterov " << cfg.nesterov);
    const std::vector<float> got = run(cfg, 5);
    const std::vector<double> want = reference(cfg, 5);
    for (std::size_t i = 0; i < 6; ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("optim: clipping bounds the global norm; grad scaling divides by S_j", "[optim]") {
  OptimizerConfig c;
  c.name = "sgd";
  c.lr = 1.0f;
  c.grad_clip_norm = 0.5f;
  Tensor p = Tensor::zeros({2});
  Tensor g = Tensor::from_vector(std::vector<float>{3.0f, 4.0f}, {2});
  Slots slots{{}, 2};
  Optimizer opt(c);
  CHECK(opt.step(p, g, slots.fn(), c.lr) == Approx(5.0));
  CHECK(p.to_vector()[0] == Approx(-0.3f));
  CHECK(p.to_vector()[1] == Approx(-0.4f));

  c.grad_clip_norm = 0.0f;
  c.grad_scaling = true;
  Optimizer scaled(c);
  Tensor q = Tensor::zeros({2});
  Tensor g2 = Tensor::from_vector(std::vector<float>{2.0f, 4.0f}, {2});
  const Tensor s = Tensor::from_vector(std::vector<float>{4.0f, 0.0f}, {2});
  scaled.step(q, g2, slots.fn(), 1.0f, &s);
  CHECK(q.to_vector()[0] == Approx(-0.5f));
  CHECK(q.to_vector()[1] == 0.0f);  // a cell nobody reads does not move
}

TEST_CASE("optim: schedules", "[optim]") {
  ScheduleConfig s;
  CHECK(scheduled_lr(s, 0.1f, 50, 100) == Approx(0.1f));
  s.warmup_steps = 10;
  CHECK(scheduled_lr(s, 0.1f, 0, 100) == Approx(0.01f));
  CHECK(scheduled_lr(s, 0.1f, 9, 100) == Approx(0.1f));
  s.name = "cosine";
  CHECK(scheduled_lr(s, 0.1f, 10, 110) == Approx(0.1f));
  CHECK(scheduled_lr(s, 0.1f, 60, 110) == Approx(0.05f));
  CHECK(scheduled_lr(s, 0.1f, 110, 110) == Approx(0.0f).margin(1e-7));
  s = ScheduleConfig{};
  s.name = "step";
  s.step_size = 10;
  s.gamma = 0.5f;
  CHECK(scheduled_lr(s, 0.1f, 25, 100) == Approx(0.025f));
}

TEST_CASE("optim: bad settings name the key", "[optim]") {
  OptimizerConfig c;
  c.name = "adamax";
  CHECK_THROWS_WITH(Optimizer(c), ROAST_CONTAINS("optimizer.name") && ROAST_CONTAINS("adamw"));
  c = OptimizerConfig{};
  c.lr = -1.0f;
  CHECK_THROWS_WITH(Optimizer(c), ROAST_CONTAINS("optimizer.lr"));
  c = OptimizerConfig{};
  c.nesterov = true;
  CHECK_THROWS_WITH(Optimizer(c), ROAST_CONTAINS("momentum"));
}
