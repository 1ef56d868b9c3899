// The fused attention op (src/nn/attention_op.cpp, kernels attention_forward / _backward)
// against its unfused composition (attention_reference), finite differences, the dropout mask
// drawn inside, sequences whose keys are all padded, and the CUDA kernels against the CPU's.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kernels/dropout_hash.h"
#include "nn/attention_op.h"
#include "roast/autograd.h"
#include "roast/config.h"
#include "roast/memory.h"
#include "roast/nn/module.h"
#include "roast/plan.h"
#include "roast/nn/functional.h"
#include "roast/ops.h"
#include "roast/tensor.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::relative_error;

namespace {
using AttentionFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, float, std::uint64_t,
                               const Numerics&, const std::uint64_t*);

// The output and the gradients of q, k, v (loss sum(y * R), R fixed random), on the host.
struct Result {
  Tensor y, gq, gk, gv;
};

Result run(AttentionFn fn, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, float p,
           std::uint64_t seed, Device device = Device::cpu()) {
  Tensor lq = q.to(Device::cpu()).clone().to(device), lk = k.to(Device::cpu()).clone().to(device),
         lv = v.to(Device::cpu()).clone().to(device);
  lq.set_requires_grad(true);
  lk.set_requires_grad(true);
  lv.set_requires_grad(true);
  const Tensor m = mask.defined() ? mask.to(device) : Tensor();
  const Tensor y = fn(lq, lk, lv, m, p, seed, Numerics{}, nullptr);
  sum_all(mul(y, randn(y.shape(), 99).to(device))).backward();
  return {y.detach().to(Device::cpu()), lq.grad().to(Device::cpu()), lk.grad().to(Device::cpu()),
          lv.grad().to(Device::cpu())};
}

// max |a - b| / max(max |b|, floor): gradients that are rounding noise around 0 (T = 1: the
// softmax of one key is constant) are compared on the floor's scale.
double scaled_error(const Tensor& a, const Tensor& b, double floor) {
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  if (av.size() != bv.size()) return INFINITY;
  double diff = 0, scale = floor;
  for (std::size_t i = 0; i < av.size(); ++i) {
    diff = std::max(diff, std::abs(double(av[i]) - double(bv[i])));
    scale = std::max(scale, std::abs(double(bv[i])));
  }
  return diff / scale;
}

void check_same(const Result& a, const Result& b, double tol) {
  INFO("out: " << testing::first_mismatches(a.y, b.y, tol));
  CHECK(relative_error(a.y, b.y) < tol);
  INFO("gq: " << testing::first_mismatches(a.gq, b.gq, tol));
  CHECK(scaled_error(a.gq, b.gq, 0.1) < tol);
  INFO("gk: " << testing::first_mismatches(a.gk, b.gk, tol));
  CHECK(scaled_error(a.gk, b.gk, 0.1) < tol);
  INFO("gv: " << testing::first_mismatches(a.gv, b.gv, tol));
  CHECK(scaled_error(a.gv, b.gv, 0.1) < tol);
}

// A [B, T] key mask: sequence b keeps its first lengths[b] keys (0: every key padded).
Tensor mask_of(const std::vector<std::int64_t>& lengths, std::int64_t T) {
  std::vector<float> m;
  for (std::int64_t len : lengths)
    for (std::int64_t j = 0; j < T; ++j) m.push_back(j < len ? 1.0f : 0.0f);
  return Tensor::from_vector(m, {std::int64_t(lengths.size()), T});
}

struct Case {
  std::int64_t batch, heads, T, dh;
  std::vector<std::int64_t> lengths;  // empty: no mask
};

std::string describe(const Case& c, float p) {
  std::string s = "B " + std::to_string(c.batch) + " H " + std::to_string(c.heads) + " T " + std::to_string(c.T) +
                  " dh " + std::to_string(c.dh) + " p " + std::to_string(p) + " lengths";
  for (auto len : c.lengths) s += " " + std::to_string(len);
  return s;
}

struct Inputs {
  Tensor q, k, v, mask;
};
Inputs inputs_of(const Case& c, std::uint64_t seed) {
  const Shape shape{c.batch * c.heads, c.T, c.dh};
  // q carries the 1 / sqrt(dh) of the layer; scores of a few units, so the softmax is peaked.
  return {mul_scalar(randn(shape, seed), 2.0f / std::sqrt(float(c.dh))), randn(shape, seed + 1), randn(shape, seed + 2),
          c.lengths.empty() ? Tensor() : mask_of(c.lengths, c.T)};
}
}  // namespace

TEST_CASE("attention: fused equals the unfused composition, forward and gradients", "[attention]") {
  const std::vector<Case> cases = {
      {1, 1, 1, 4, {}},
      {2, 2, 5, 3, {}},
      {2, 2, 9, 8, {9, 4}},
      {3, 2, 70, 16, {70, 33, 1}},        // more than one row block, ragged padding
      {2, 3, 300, 32, {300, 129}},        // more than one key block (online softmax)
      {3, 1, 20, 8, {20, 0, 7}},          // a sequence with every key padded
      {2, 1, 513, 5, {0, 260}},           // blocks that are all padding, a dead sequence
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases)
    for (float p : {0.0f, 0.3f}) {
      INFO(describe(c, p));
      const Inputs in = inputs_of(c, seed);
      seed += 10;
      const Result fused = run(nn::attention, in.q, in.k, in.v, in.mask, p, 77);
      const Result reference = run(nn::attention_reference, in.q, in.k, in.v, in.mask, p, 77);
      check_same(fused, reference, 2e-5);
    }
}

TEST_CASE("attention: finite-difference gradients", "[attention][grad]") {
  const Tensor mask = mask_of({5, 3}, 5);
  for (float p : {0.0f, 0.25f}) {
    INFO("dropout " << p);
    CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return nn::attention(in[0], in[1], in[2], mask, p, 5, {}); },
                    {mul_scalar(randn({4, 5, 3}, 1), 0.7f), randn({4, 5, 3}, 2), randn({4, 5, 3}, 3)});
    CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return nn::attention(in[0], in[1], in[2], Tensor(), p, 6, {}); },
                    {mul_scalar(randn({2, 7, 4}, 4), 0.7f), randn({2, 7, 4}, 5), randn({2, 7, 4}, 6)});
  }
}

TEST_CASE("attention: the dropout mask is nn::dropout's for the [B*H, T, T] weights", "[attention]") {
  // q = k = 0: uniform weights 1 / T; v = the identity (dh = T): out[bh, i, j] = z(bh, i, j) / T.
  const std::int64_t bh = 3, T = 9;
  const float p = 0.4f;
  const std::uint64_t seed = 1234;
  std::vector<float> eye(std::size_t(bh * T * T), 0.0f);
  for (std::int64_t b = 0; b < bh; ++b)
    for (std::int64_t j = 0; j < T; ++j) eye[std::size_t((b * T + j) * T + j)] = 1.0f;
  const Tensor zeros = Tensor::zeros({bh, T, T});
  const std::vector<float> out =
      nn::attention(zeros, zeros, Tensor::from_vector(eye, {bh, T, T}), Tensor(), p, seed, {}).to_vector();
  const std::uint32_t keep_below = kernels::dropout_threshold(p);
  int dropped = 0;
  for (std::int64_t i = 0; i < bh * T * T; ++i) {
    const bool kept = kernels::dropout_bits(seed, i) < keep_below;
    dropped += kept ? 0 : 1;
    CHECK(out[std::size_t(i)] == Approx(kept ? 1.0f / (1.0f - p) / float(T) : 0.0f).margin(1e-7));
  }
  CHECK(dropped > 60);  // about 0.4 * 243 (the test is not vacuous)

  // Under a step's seed word (a captured training step), `seed` is the call's salt and the
  // mask is the one of dropout_seed(salt, word): new for each word, the reference's too.
  for (const std::uint64_t word : {std::uint64_t(7), std::uint64_t(8)}) {
    const std::uint64_t derived = kernels::dropout_seed(seed, &word);
    const std::vector<float> stepped =
        nn::attention(zeros, zeros, Tensor::from_vector(eye, {bh, T, T}), Tensor(), p, seed, {}, &word).to_vector();
    const std::vector<float> reference =
        nn::attention_reference(zeros, zeros, Tensor::from_vector(eye, {bh, T, T}), Tensor(), p, seed, {}, &word)
            .to_vector();
    int differs = 0;
    for (std::int64_t i = 0; i < bh * T * T; ++i) {
      const bool kept = kernels::dropout_bits(derived, i) < keep_below;
      CHECK(stepped[std::size_t(i)] == Approx(kept ? 1.0f / (1.0f - p) / float(T) : 0.0f).margin(1e-7));
      CHECK(reference[std::size_t(i)] == Approx(stepped[std::size_t(i)]).margin(1e-6));
      differs += (stepped[std::size_t(i)] != 0.0f) != (out[std::size_t(i)] != 0.0f);
    }
    CHECK(differs > 20);  // another mask than the plain seed's
  }
}

TEST_CASE("attention: padded keys are ignored; all-padded sequences attend uniformly", "[attention]") {
  const std::int64_t T = 6, dh = 4, heads = 2;
  const Tensor mask = mask_of({4, 0}, T);  // batch 1 has every key padded
  Tensor q = randn({2 * heads, T, dh}, 1), k = randn({2 * heads, T, dh}, 2), v = randn({2 * heads, T, dh}, 3);
  const Result r = run(nn::attention, q, k, v, mask, 0.0f, 0);
  // Padded keys (positions 4, 5 of batch 0) change nothing for batch 0.
  Tensor k2 = k.clone(), v2 = v.clone();
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t d = 0; d < dh; ++d) {
      k2.data<float>()[(h * T + 5) * dh + d] += 3.0f;
      v2.data<float>()[(h * T + 4) * dh + d] -= 2.0f;
    }
  const std::vector<float> y1 = r.y.to_vector(), y2 = nn::attention(q, k2, v2, mask, 0.0f, 0, {}).to_vector();
  for (std::int64_t i = 0; i < heads * T * dh; ++i) CHECK(y2[std::size_t(i)] == Approx(y1[std::size_t(i)]).margin(1e-6));
  // Batch 1: every query's output is the mean of v over all T keys; no gradient to q or k;
  // gv = the column sums of gout / T.
  const std::vector<float> vv = v.to_vector(), gq = r.gq.to_vector(), gk = r.gk.to_vector(), gv = r.gv.to_vector();
  const std::vector<float> R = randn({2 * heads, T, dh}, 99).to_vector();
  for (std::int64_t bh = heads; bh < 2 * heads; ++bh)
    for (std::int64_t d = 0; d < dh; ++d) {
      double mean_v = 0, sum_g = 0;
      for (std::int64_t j = 0; j < T; ++j) {
        mean_v += vv[std::size_t((bh * T + j) * dh + d)] / double(T);
        sum_g += R[std::size_t((bh * T + j) * dh + d)] / double(T);
      }
      for (std::int64_t i = 0; i < T; ++i) {
        const std::size_t at = std::size_t((bh * T + i) * dh + d);
        CHECK(y1[at] == Approx(mean_v).margin(1e-6));
        CHECK(gq[at] == 0.0f);
        CHECK(gk[at] == 0.0f);
        CHECK(gv[at] == Approx(sum_g).margin(1e-6));
      }
    }
  // The reference defines the same.
  check_same(r, run(nn::attention_reference, q, k, v, mask, 0.0f, 0), 2e-5);
}

TEST_CASE("attention: bad inputs are named", "[attention]") {
  const Tensor q = randn({4, 5, 3}, 1);
  CHECK_THROWS_WITH(nn::attention(q, randn({4, 6, 3}, 2), q, Tensor(), 0.0f, 0, {}), ROAST_CONTAINS("[B * H, T, dh]"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, Tensor::full({3, 5}, 1.0f), 0.0f, 0, {}), ROAST_CONTAINS("key mask"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, Tensor(), 1.0f, 0, {}), ROAST_CONTAINS("dropout"));
}

// ---- CUDA -----------------------------------------------------------------------------------
TEST_CASE("cuda attention: the CUDA kernels equal the CPU kernels", "[cuda][attention]") {
  if (!cuda_available()) {
    WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
    return;
  }
  const Device gpu = Device::cuda(0);
  // B * H above the SM count (132 on an H100), T not a multiple of any tile, every padded dh,
  // dh not a power of 2, all-padded key tiles and sequences.
  const std::vector<Case> cases = {
      {40, 4, 77, 32, {}},
      {3, 2, 130, 16, {130, 65, 0}},
      {2, 2, 257, 64, {257, 100}},
      {36, 4, 33, 128, {}},
      {2, 3, 200, 128, {200, 1}},
      {3, 1, 65, 24, {64, 0, 3}},
      {1, 1, 1, 8, {}},
      {2, 1, 300, 160, {300, 70}},  // dh > 128: the unfused fallback on CUDA
  };
  std::uint64_t seed = 500;
  for (const Case& c : cases)
    for (float p : {0.0f, 0.2f}) {
      INFO(describe(c, p));
      const Inputs in = inputs_of(c, seed);
      seed += 10;
      const Result cpu = run(nn::attention, in.q, in.k, in.v, in.mask, p, 31);
      const Result gpu_run = run(nn::attention, in.q, in.k, in.v, in.mask, p, 31, gpu);
      check_same(gpu_run, cpu, 2e-5);
      // Deterministic: the same bits again.
      const Result again = run(nn::attention, in.q, in.k, in.v, in.mask, p, 31, gpu);
      CHECK(again.y.to_vector() == gpu_run.y.to_vector());
      CHECK(again.gq.to_vector() == gpu_run.gq.to_vector());
      CHECK(again.gk.to_vector() == gpu_run.gk.to_vector());
      CHECK(again.gv.to_vector() == gpu_run.gv.to_vector());
    }
}

TEST_CASE("attention: SelfAttention draws one dropout seed exactly when training with dropout", "[attention][layers]") {
  // The unfused layer drew ctx.next_seed() for its weights' dropout iff training and p > 0;
  // the fused one must too, so that every later dropout of a pass keeps its seed.
  for (float p : {0.0f, 0.3f}) {
    nn::SelfAttention attention("attn", 8, 2, p);
    Planner planner;
    attention.declare(planner);
    MemoryConfig config;
    config.scheme = Scheme::dense;
    Memory memory(planner.finalize(config));
    const Tensor x = randn({2, 5, 8}, 3);
    for (bool training : {false, true}) {
      nn::Context ctx(memory, training, 9);
      ctx.key_padding_mask = mask_of({5, 2}, 5);
      const std::vector<float> y = attention.forward(x, ctx).to_vector();
      CHECK(ctx.n_random == ((training && p > 0.0f) ? 1u : 0u));
      for (float value : y) CHECK(std::isfinite(value));
    }
  }
}
