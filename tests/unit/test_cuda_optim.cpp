// The optimizer on a GPU against the CPU: every optimizer, with and without gradient
// scaling and clipping, several steps from the same random state. Skipped without a GPU.
#include <algorithm>
#include <cmath>
#include <map>

#include "roast/config.h"
#include "roast/optim.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::relative_error;

namespace {
constexpr std::int64_t kCells = 50000;  // above the CPU's parallel threshold, several CUDA blocks
constexpr int kSteps = 6;

struct Trajectory {
  std::vector<float> params;
  std::map<std::string, std::vector<float>> slots;
  std::vector<double> norms;
};

// Runs kSteps updates on `device` from seeded params, gradients and scales (some S_j = 0).
Trajectory run(const OptimizerConfig& c, Device device) {
  Tensor p = randn({kCells}, 1, 0.5f, device);
  std::vector<float> scale = rand_uniform({kCells}, 2, 0.5f, 4.0f).to_vector();
  for (std::size_t j = 0; j < scale.size(); j += 7) scale[j] = 0.0f;
  const Tensor s = Tensor::from_vector(scale, {kCells}, device);
  std::map<std::string, Tensor> slots;
  const SlotFn slot = [&](const std::string& name) {
    auto it = slots.find(name);
    if (it == slots.end()) it = slots.emplace(name, Tensor::zeros({kCells}, DType::f32, device)).first;
    return it->second;
  };
  Optimizer opt(c);
  Trajectory t;
  for (int step = 0; step < kSteps; ++step) {
    Tensor g = randn({kCells}, 100 + std::uint64_t(step), 1.0f, device);
    const float lr = c.lr * float(step + 1) / float(kSteps);  // a changing rate, as schedules give
    t.norms.push_back(opt.step(p, g, slot, lr, c.grad_scaling ? &s : nullptr));
  }
  t.params = p.to_vector();
  for (const auto& entry : slots) t.slots[entry.first] = entry.second.to_vector();
  return t;
}

std::vector<OptimizerConfig> every_optimizer() {
  std::vector<OptimizerConfig> out;
  OptimizerConfig c;
  c.lr = 0.01f;
  c.weight_decay = 0.01f;
  for (const char* name : {"sgd", "adam", "adamw", "adagrad"}) {
    c.name = name;
    out.push_back(c);
  }
  c.name = "sgd";
  c.momentum = 0.9f;
  out.push_back(c);
  c.nesterov = true;
  out.push_back(c);
  return out;
}
}  // namespace

TEST_CASE("cuda optim: every optimizer on the GPU matches the CPU", "[cuda][optim]") {
  if (!cuda_available()) {
    WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
    return;
  }
  for (OptimizerConfig c : every_optimizer())
    for (const bool scaling : {false, true})
      for (const float clip : {0.0f, 50.0f}) {  // 50 is below the gradients' norm (~sqrt(kCells)): clipping acts
        c.grad_scaling = scaling;
        c.grad_clip_norm = clip;
        INFO(c.name << " momentum " << c.momentum << " nesterov " << c.nesterov << " grad_scaling " << scaling
                    << " grad_clip_norm " << clip);
        const Trajectory cpu = run(c, Device::cpu());
        const Trajectory gpu = run(c, Device::cuda(0));
        CHECK(relative_error(gpu.params, cpu.params) < 1e-5);
        REQUIRE(gpu.slots.size() == cpu.slots.size());
        for (const auto& entry : cpu.slots) {
          INFO("slot " << entry.first);
          CHECK(relative_error(gpu.slots.at(entry.first), entry.second) < 1e-5);
        }
        for (int step = 0; step < kSteps; ++step) CHECK(gpu.norms[std::size_t(step)] == Approx(cpu.norms[std::size_t(step)]).epsilon(1e-9));
      }
}

TEST_CASE("cuda optim: parameters and gradients on different devices are refused", "[cuda][optim]") {
  if (!cuda_available()) {
    WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
    return;
  }
  Tensor p = Tensor::zeros({4}, DType::f32, Device::cuda(0));
  Tensor g = Tensor::zeros({4});
  Optimizer opt(OptimizerConfig{});
  const SlotFn slot = [](const std::string&) { return Tensor::zeros({4}, DType::f32, Device::cuda(0)); };
  CHECK_THROWS_WITH(opt.step(p, g, slot, 0.1f), ROAST_CONTAINS("different devices"));
}
