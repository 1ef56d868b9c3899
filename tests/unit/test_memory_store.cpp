// The Memory store: initialisation, gradient, slots, materialize and read_exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "roast/autograd.h"
#include "roast/memory.h"
#include "roast/ops.h"
#include "support/catch.h"

using namespace roast;

namespace {
Planner layer_model() {
  Planner p;
  p.matrix("fc1.weight", 300, 200);
  p.vector("fc1.bias", 200, 0.0f);
  p.vector("norm.gain", 200, 1.0f);
  p.matrix("fc2.weight", 200, 100);
  p.matrix("head.weight", 40, 10);  // exact (400 < 4096): its own uniform init
  return p;
}

MemoryConfig config_for(Scheme scheme) {
  MemoryConfig c;
  c.scheme = scheme;
  if (scheme != Scheme::dense) c.compression = 5;
  c.seed = 3;
  return c;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

double std_of(const std::vector<float>& v) {
  double sum = 0, sum_sq = 0;
  for (float x : v) sum += x, sum_sq += double(x) * x;
  const double mean = sum / double(v.size());
  return std::sqrt(sum_sq / double(v.size()) - mean * mean);
}
}  // namespace

TEST_CASE("memory store: params, gradient and optimizer slots", "[memory]") {
  Memory memory(layer_model().finalize(config_for(Scheme::roast)));
  const std::int64_t m = memory.n_floats();
  CHECK(memory.params().shape() == Shape{m});
  CHECK(memory.params().requires_grad());
  CHECK(memory.device() == Device::cpu());
  CHECK_FALSE(memory.grad().defined());
  CHECK(memory.n_bytes() == 4 * m);
  Tensor& exp_avg = memory.slot("exp_avg");
  CHECK(exp_avg.shape() == Shape{m});
  CHECK(&memory.slot("exp_avg") == &exp_avg);  // created once, stable reference
  exp_avg.fill_(0.5f);
  memory.slot("exp_avg_sq");
  CHECK(memory.slot("exp_avg").to_vector()[0] == 0.5f);
  CHECK(memory.slot("exp_avg_sq").to_vector()[m - 1] == 0.0f);
  CHECK(memory.has_slot("exp_avg"));
  CHECK_FALSE(memory.has_slot("momentum"));
  CHECK(memory.slot_names() == std::vector<std::string>{"exp_avg", "exp_avg_sq"});
  CHECK(memory.n_bytes() == 3 * 4 * m);
}

TEST_CASE("memory store: initialisation per region, deterministic in the seed", "[memory]") {
  const MemoryPlan plan = layer_model().finalize(config_for(Scheme::roast));
  const Memory a(plan), b(plan);
  const std::vector<float> cells = a.params().to_vector();
  CHECK(cells == b.params().to_vector());
  MemoryConfig other = config_for(Scheme::roast);
  other.seed = 4;
  CHECK(Memory(layer_model().finalize(other)).params().to_vector() != cells);

  const auto block = [&](const char* name) {
    const Mapping& m = plan.mapping(name);
    return std::vector<float>(cells.begin() + m.region_base, cells.begin() + m.region_base + m.region_size);
  };
  CHECK(block("fc1.bias") == std::vector<float>(200, 0.0f));
  CHECK(block("norm.gain") == std::vector<float>(200, 1.0f));
  const std::vector<float> head = block("head.weight");
  CHECK(max_abs(head) <= 1.0f / std::sqrt(40.0f));  // uniform(+-1/sqrt(fan_in))
  CHECK(std::abs(std_of(head) - 1.0 / std::sqrt(3.0 * 40)) < 0.1 / std::sqrt(3.0 * 40));
  const Region& shared = plan.regions().back();
  const std::vector<float> hashed(cells.begin() + shared.base, cells.end());
  CHECK(max_abs(hashed) <= 0.05f);
  CHECK(std::abs(std_of(hashed) - 0.05 / std::sqrt(3.0)) < 0.03 * 0.05 / std::sqrt(3.0));
}

TEST_CASE("memory store: a hashed weight has its layer's init std; dense is the plain model", "[memory]") {
  for (Scheme scheme : {Scheme::roast, Scheme::roast_local, Scheme::hashednet, Scheme::dense}) {
    const Memory memory(layer_model().finalize(config_for(scheme)));
    const PlannedTensor& t = memory.plan().tensor("fc1.weight");
    const Tensor w = materialize(memory, t.mapping);
    CHECK(w.shape() == Shape{300, 200});
    INFO(scheme_name(scheme));
    CHECK(std::abs(std_of(w.to_vector()) - t.target_std) < 0.05 * t.target_std);
  }
  // dense: materialize is the row-major block itself.
  const Memory dense(layer_model().finalize(config_for(Scheme::dense)));
  const Mapping& m = dense.plan().mapping("fc2.weight");
  const std::vector<float> cells = dense.params().to_vector();
  const std::vector<float> w = materialize(dense, m).to_vector();
  CHECK(std::vector<float>(cells.begin() + m.region_base, cells.begin() + m.region_base + 200 * 100) == w);
}

TEST_CASE("memory store: materialize reads each row of a whole tile as one contiguous run", "[memory]") {
  MemoryConfig c = config_for(Scheme::roast);
  c.sign_mode = SignMode::tile;
  const Memory memory(layer_model().finalize(c));
  const Mapping& m = memory.plan().mapping("fc1.weight");
  const std::vector<float> cells = memory.params().to_vector();
  const std::vector<float> w = materialize(memory, m).to_vector();
  std::int64_t n_mismatches = 0;
  for (std::int64_t tr = 0; tr < 300 / 32; ++tr) {
    for (std::int64_t tc = 0; tc < 200 / 64; ++tc) {
      const std::int64_t start = m.tile_start(tr, tc);
      const float scale = m.lambda * m.sign(tr * 32, tc * 64);
      for (std::int64_t i = 0; i < 32 * 64; ++i) {
        const std::int64_t r = tr * 32 + i / 64, col = tc * 64 + i % 64;
        n_mismatches += w[std::size_t(r * 200 + col)] == scale * cells[std::size_t(start + i)] ? 0 : 1;
      }
    }
  }
  CHECK(n_mismatches == 0);
}

TEST_CASE("memory store: read_exact reads the cells and adds its gradient in place", "[memory]") {
  Memory memory(layer_model().finalize(config_for(Scheme::roast)));
  const Mapping& bias = memory.plan().mapping("fc1.bias");
  const Mapping& gain = memory.plan().mapping("norm.gain");
  const Tensor b = read_exact(memory, bias, {200});
  CHECK(b.shape() == Shape{200});
  CHECK(read_exact(memory, gain).shape() == Shape{200, 1});
  CHECK(read_exact(memory, gain).to_vector() == std::vector<float>(200, 1.0f));

  const Tensor x = randn({200}, 7);
  const Tensor y = randn({200}, 8);
  // Two reads of the bias and one of the gain: gradients add up at the right cells.
  const Tensor loss = sum_all(mul(b, x)) + sum_all(mul(read_exact(memory, bias, {200}), y)) +
                      sum_all(mul(read_exact(memory, gain, {200}), x));
  loss.backward();
  const std::vector<float> grad = memory.grad().to_vector();
  REQUIRE(grad.size() == std::size_t(memory.n_floats()));
  const std::vector<float> xs = x.to_vector(), ys = y.to_vector();
  double max_error = 0, outside = 0;
  for (std::int64_t j = 0; j < memory.n_floats(); ++j) {
    const std::int64_t in_bias = j - bias.region_base, in_gain = j - gain.region_base;
    double expected = 0;
    if (in_bias >= 0 && in_bias < 200) expected = xs[std::size_t(in_bias)] + ys[std::size_t(in_bias)];
    else if (in_gain >= 0 && in_gain < 200) expected = xs[std::size_t(in_gain)];
    else outside += std::abs(grad[std::size_t(j)]);
    max_error = std::max(max_error, std::abs(grad[std::size_t(j)] - expected) / (1e-6 + std::abs(expected)));
  }
  CHECK(max_error < 1e-5);
  CHECK(outside == 0.0);

  // zero_grad keeps the memory-owned buffer and zeroes it.
  const float* buffer = memory.grad().data<float>();
  memory.zero_grad();
  REQUIRE(memory.grad().defined());
  CHECK(memory.grad().data<float>() == buffer);
  CHECK(max_abs(memory.grad().to_vector()) == 0.0f);
  CHECK(memory.n_bytes() == 2 * 4 * memory.n_floats());
}

TEST_CASE("memory store: read_exact records nothing under NoGradGuard", "[memory]") {
  Memory memory(layer_model().finalize(config_for(Scheme::dense)));
  NoGradGuard guard;
  const Tensor w = read_exact(memory, memory.plan().mapping("fc2.weight"));  // dense blocks read too
  CHECK(w.shape() == Shape{200, 100});
  CHECK_FALSE(w.requires_grad());
  CHECK(w.to_vector() == materialize(memory, memory.plan().mapping("fc2.weight")).to_vector());
}
