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
#include "support/threads.h"

using namespace roast;
using roast::testing::relative_error;

namespace {
using AttentionFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, std::int64_t, const Tensor&, float,
                               std::uint64_t, const Numerics&, const std::uint64_t*);
using test_support::ThreadCount;

// The output and the gradients of q, k, v (loss sum(y * R), R fixed random), on the host.
struct Result {
  Tensor y, gq, gk, gv;
};

Result run(AttentionFn fn, const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, const Tensor& mask,
           float p, std::uint64_t seed, Device device = Device::cpu()) {
  Tensor lq = q.to(Device::cpu()).clone().to(device), lk = k.to(Device::cpu()).clone().to(device),
         lv = v.to(Device::cpu()).clone().to(device);
  lq.set_requires_grad(true);
  lk.set_requires_grad(true);
  lv.set_requires_grad(true);
  const Tensor m = mask.defined() ? mask.to(device) : Tensor();
  const Tensor y = fn(lq, lk, lv, heads, m, p, seed, Numerics{}, nullptr);
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

void check_identical(const Result& a, const Result& b) {
  CHECK(a.y.to_vector() == b.y.to_vector());
  CHECK(a.gq.to_vector() == b.gq.to_vector());
  CHECK(a.gk.to_vector() == b.gk.to_vector());
  CHECK(a.gv.to_vector() == b.gv.to_vector());
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
// q, k, v [B, T, H * dh] (the projections' layout).
Inputs inputs_of(const Case& c, std::uint64_t seed) {
  const Shape shape{c.batch, c.T, c.heads * c.dh};
  // The op scales q k^T by 1 / sqrt(dh): scores of a few units, so the softmax is peaked.
  return {mul_scalar(randn(shape, seed), 2.0f), randn(shape, seed + 1), randn(shape, seed + 2),
          c.lengths.empty() ? Tensor() : mask_of(c.lengths, c.T)};
}

// Element (b, t, h, d) of a [B, T, H * dh] array.
std::size_t at(const Case& c, std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t d) {
  return std::size_t(((b * c.T + t) * c.heads + h) * c.dh + d);
}

// The forward written out with loops in double, from the layout of nn/attention_op.h alone.
std::vector<double> naive_attention(const Case& c, const Inputs& in, float p, std::uint64_t seed) {
  const std::vector<float> q = in.q.to_vector(), k = in.k.to_vector(), v = in.v.to_vector();
  const std::vector<float> m = in.mask.defined() ? in.mask.to_vector() : std::vector<float>();
  const std::uint32_t keep_below = kernels::dropout_threshold(p);
  const std::uint64_t key = kernels::dropout_seed(seed, nullptr);  // the mask's key (seed, no step word)
  const double scale = 1.0 / std::sqrt(double(c.dh));
  std::vector<double> out(q.size(), 0.0);
  for (std::int64_t b = 0; b < c.batch; ++b)
    for (std::int64_t h = 0; h < c.heads; ++h)
      for (std::int64_t i = 0; i < c.T; ++i) {
        std::vector<double> w(std::size_t(c.T));
        bool any = false;
        for (std::int64_t j = 0; j < c.T; ++j) any = any || m.empty() || m[std::size_t(b * c.T + j)] != 0.0f;
        double mx = -INFINITY, total = 0;
        for (std::int64_t j = 0; j < c.T; ++j) {
          double s = 0;
          for (std::int64_t d = 0; d < c.dh; ++d) s += double(q[at(c, b, i, h, d)]) * k[at(c, b, j, h, d)];
          const bool kept = !any || m.empty() || m[std::size_t(b * c.T + j)] != 0.0f;
          w[std::size_t(j)] = !any ? 0.0 : kept ? s * scale : -INFINITY;
          mx = std::max(mx, w[std::size_t(j)]);
        }
        for (double& x : w) total += (x = std::exp(x - mx));
        const std::int64_t bh = b * c.heads + h;
        for (std::int64_t j = 0; j < c.T; ++j) {
          double weight = w[std::size_t(j)] / total;
          if (p > 0.0f)
            weight *= kernels::dropout_bits(key, (bh * c.T + i) * c.T + j) < keep_below ? 1.0 / (1.0 - p) : 0.0;
          for (std::int64_t d = 0; d < c.dh; ++d) out[at(c, b, i, h, d)] += weight * v[at(c, b, j, h, d)];
        }
      }
  return out;
}
}  // namespace

TEST_CASE("attention: fused equals the unfused composition, forward and gradients, 1 and 2 threads",
          "[attention]") {
  const std::vector<Case> cases = {
      {1, 1, 1, 4, {}},
      {2, 2, 5, 3, {}},
      {2, 2, 9, 8, {9, 4}},
      {3, 2, 70, 16, {70, 33, 1}},        // more than one row block, ragged padding
      {2, 3, 300, 32, {300, 129}},        // more than one key block (online softmax), threads
      {3, 1, 20, 8, {20, 0, 7}},          // a sequence with every key padded
      {2, 1, 513, 5, {0, 260}},           // blocks that are all padding, a dead sequence, threads
      {2, 4, 130, 6, {130, 77}},          // four heads, T not a multiple of any block, threads
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases)
    for (float p : {0.0f, 0.3f}) {
      INFO(describe(c, p));
      const Inputs in = inputs_of(c, seed);
      seed += 10;
      Result one, two;
      {
        ThreadCount threads(1);
        one = run(nn::attention, in.q, in.k, in.v, c.heads, in.mask, p, 77);
      }
      {
        ThreadCount threads(2);
        two = run(nn::attention, in.q, in.k, in.v, c.heads, in.mask, p, 77);
      }
      check_identical(one, two);  // deterministic for any thread count
      const Result reference = run(nn::attention_reference, in.q, in.k, in.v, c.heads, in.mask, p, 77);
      check_same(two, reference, 2e-5);
    }
}

TEST_CASE("attention: the [B, T, H * dh] layout and the 1 / sqrt(dh) scale, against loops", "[attention]") {
  // H > 1 and T not a multiple of the CPU's 64-row and 256-key blocks.
  const std::vector<Case> cases = {{2, 3, 70, 5, {70, 33}}, {1, 2, 261, 4, {}}, {3, 2, 7, 3, {7, 0, 2}}};
  std::uint64_t seed = 700;
  for (const Case& c : cases)
    for (float p : {0.0f, 0.2f}) {
      INFO(describe(c, p));
      const Inputs in = inputs_of(c, seed);
      seed += 10;
      const std::vector<double> want = naive_attention(c, in, p, 41);
      for (AttentionFn fn : {&nn::attention, &nn::attention_reference}) {
        const std::vector<float> got = fn(in.q, in.k, in.v, c.heads, in.mask, p, 41, {}, nullptr).to_vector();
        REQUIRE(got.size() == want.size());
        double diff = 0, scale = 1e-3;
        for (std::size_t i = 0; i < got.size(); ++i) {
          diff = std::max(diff, std::abs(double(got[i]) - want[i]));
          scale = std::max(scale, std::abs(want[i]));
        }
        CHECK(diff / scale < 1e-5);
      }
    }
}

TEST_CASE("attention: finite-difference gradients", "[attention][grad]") {
  const Tensor mask = mask_of({5, 3}, 5);
  for (float p : {0.0f, 0.25f}) {
    INFO("dropout " << p);
    // B 2, H 2, dh 3 with a mask; B 2, H 2, dh 2 without.
    CHECK_GRADIENTS(
        [&](const std::vector<Tensor>& in) { return nn::attention(in[0], in[1], in[2], 2, mask, p, 5, {}); },
        {mul_scalar(randn({2, 5, 6}, 1), 1.2f), randn({2, 5, 6}, 2), randn({2, 5, 6}, 3)});
    CHECK_GRADIENTS(
        [&](const std::vector<Tensor>& in) { return nn::attention(in[0], in[1], in[2], 2, Tensor(), p, 6, {}); },
        {mul_scalar(randn({2, 7, 4}, 4), 1.0f), randn({2, 7, 4}, 5), randn({2, 7, 4}, 6)});
  }
}

TEST_CASE("attention: the dropout mask is nn::dropout's for the [B*H, T, T] weights", "[attention]") {
  // q = k = 0: uniform weights 1 / T; v = the identity per head (dh = T): out at (b, i, h, j) =
  // z(bh, i, j) / T with bh = b * H + h.
  const Case c{2, 2, 9, 9, {}};
  const std::int64_t B = c.batch, H = c.heads, T = c.T, bh_count = B * H;
  const float p = 0.4f;
  const std::uint64_t seed = 1234;
  std::vector<float> eye(std::size_t(B * T * H * T), 0.0f);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t j = 0; j < T; ++j) eye[at(c, b, j, h, j)] = 1.0f;
  const Tensor zeros = Tensor::zeros({B, T, H * T}), v = Tensor::from_vector(eye, {B, T, H * T});
  const std::vector<float> out = nn::attention(zeros, zeros, v, H, Tensor(), p, seed, {}).to_vector();
  const std::uint32_t keep_below = kernels::dropout_threshold(p);
  // out at (b, i, h, j) for weight index (bh * T + i) * T + j.
  const auto out_at = [&](const std::vector<float>& y, std::int64_t index) {
    const std::int64_t j = index % T, i = (index / T) % T, bh = index / (T * T);
    return y[at(c, bh / H, i, bh % H, j)];
  };
  int dropped = 0;
  for (std::int64_t i = 0; i < bh_count * T * T; ++i) {
    const bool kept = kernels::dropout_bits(kernels::dropout_seed(seed, nullptr), i) < keep_below;
    dropped += kept ? 0 : 1;
    CHECK(out_at(out, i) == Approx(kept ? 1.0f / (1.0f - p) / float(T) : 0.0f).margin(1e-7));
  }
  CHECK(dropped > 80);  // about 0.4 * 324 (the test is not vacuous)

  // Under a step's seed word (a captured training step), `seed` is the call's salt and the
  // mask is the one of dropout_seed(salt, word): new for each word, the reference's too.
  for (const std::uint64_t word : {std::uint64_t(7), std::uint64_t(8)}) {
    const std::uint64_t derived = kernels::dropout_seed(seed, &word);
    const std::vector<float> stepped = nn::attention(zeros, zeros, v, H, Tensor(), p, seed, {}, &word).to_vector();
    const std::vector<float> reference =
        nn::attention_reference(zeros, zeros, v, H, Tensor(), p, seed, {}, &word).to_vector();
    int differs = 0;
    for (std::int64_t i = 0; i < bh_count * T * T; ++i) {
      const bool kept = kernels::dropout_bits(derived, i) < keep_below;
      CHECK(out_at(stepped, i) == Approx(kept ? 1.0f / (1.0f - p) / float(T) : 0.0f).margin(1e-7));
      CHECK(out_at(reference, i) == Approx(out_at(stepped, i)).margin(1e-6));
      differs += (out_at(stepped, i) != 0.0f) != (out_at(out, i) != 0.0f);
    }
    CHECK(differs > 20);  // another mask than the plain seed's
  }
}

TEST_CASE("attention: padded keys are ignored; all-padded sequences attend uniformly", "[attention]") {
  const Case c{2, 2, 6, 4, {4, 0}};  // batch 1 has every key padded
  const std::int64_t T = c.T, dh = c.dh, heads = c.heads;
  const Tensor mask = mask_of(c.lengths, T);
  const Shape shape{2, T, heads * dh};
  Tensor q = randn(shape, 1), k = randn(shape, 2), v = randn(shape, 3);
  const Result r = run(nn::attention, q, k, v, heads, mask, 0.0f, 0);
  // Padded keys (positions 4, 5 of batch 0) change nothing for batch 0.
  Tensor k2 = k.clone(), v2 = v.clone();
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t d = 0; d < dh; ++d) {
      k2.data<float>()[at(c, 0, 5, h, d)] += 3.0f;
      v2.data<float>()[at(c, 0, 4, h, d)] -= 2.0f;
    }
  const std::vector<float> y1 = r.y.to_vector(), y2 = nn::attention(q, k2, v2, heads, mask, 0.0f, 0, {}).to_vector();
  for (std::int64_t i = 0; i < T * heads * dh; ++i)
    CHECK(y2[std::size_t(i)] == Approx(y1[std::size_t(i)]).margin(1e-6));
  // Batch 1: every query's output is the mean of v over all T keys; no gradient to q or k;
  // gv = the column sums of gout / T.
  const std::vector<float> vv = v.to_vector(), gq = r.gq.to_vector(), gk = r.gk.to_vector(), gv = r.gv.to_vector();
  const std::vector<float> R = randn(shape, 99).to_vector();
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t d = 0; d < dh; ++d) {
      double mean_v = 0, sum_g = 0;
      for (std::int64_t j = 0; j < T; ++j) {
        mean_v += vv[at(c, 1, j, h, d)] / double(T);
        sum_g += R[at(c, 1, j, h, d)] / double(T);
      }
      for (std::int64_t i = 0; i < T; ++i) {
        const std::size_t a = at(c, 1, i, h, d);
        CHECK(y1[a] == Approx(mean_v).margin(1e-6));
        CHECK(gq[a] == 0.0f);
        CHECK(gk[a] == 0.0f);
        CHECK(gv[a] == Approx(sum_g).margin(1e-6));
      }
    }
  // The reference defines the same.
  check_same(r, run(nn::attention_reference, q, k, v, heads, mask, 0.0f, 0), 2e-5);
}

TEST_CASE("attention: bad inputs are named", "[attention]") {
  const Tensor q = randn({2, 5, 6}, 1);
  CHECK_THROWS_WITH(nn::attention(q, randn({2, 6, 6}, 2), q, 2, Tensor(), 0.0f, 0, {}),
                    ROAST_CONTAINS("[B, T, heads * dh]"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, 4, Tensor(), 0.0f, 0, {}), ROAST_CONTAINS("number of heads 4"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, 0, Tensor(), 0.0f, 0, {}), ROAST_CONTAINS("number of heads 0"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, 2, Tensor::full({3, 5}, 1.0f), 0.0f, 0, {}), ROAST_CONTAINS("key mask"));
  CHECK_THROWS_WITH(nn::attention(q, q, q, 2, Tensor(), 1.0f, 0, {}), ROAST_CONTAINS("dropout"));
  CHECK_THROWS_WITH(nn::attention_reference(q, q, q, 4, Tensor(), 0.0f, 0, {}), ROAST_CONTAINS("number of heads"));
}

// ---- CUDA -----------------------------------------------------------------------------------
TEST_CASE("cuda attention: the CUDA kernels equal the CPU kernels", "[cuda][attention]") {
  if (!cuda_available()) {
    WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
    return;
  }
  const Device gpu = Device::cuda(0);
  // B * H above the SM count (132 on an H100), T not a multiple of any tile, every padded dh,
  // dh not a power of 2, all-padded key tiles and sequences; heads read in place from
  // [B, T, H * dh] (H = 1 is the one case where a head's rows are contiguous).
  const std::vector<Case> cases = {
      {40, 4, 77, 32, {}},
      {3, 2, 130, 16, {130, 65, 0}},
      {2, 2, 257, 64, {257, 100}},
      {36, 4, 33, 128, {}},
      {2, 3, 200, 128, {200, 1}},
      {3, 1, 65, 24, {64, 0, 3}},
      {4, 3, 71, 40, {71, 70, 2, 0}},
      {1, 1, 1, 8, {}},
      {2, 1, 300, 160, {300, 70}},  // dh > 128: the unfused fallback on CUDA
      {2, 2, 90, 136, {90, 45}},    // the fallback with H > 1
  };
  std::uint64_t seed = 500;
  for (const Case& c : cases)
    for (float p : {0.0f, 0.2f}) {
      INFO(describe(c, p));
      const Inputs in = inputs_of(c, seed);
      seed += 10;
      const Result cpu = run(nn::attention, in.q, in.k, in.v, c.heads, in.mask, p, 31);
      const Result gpu_run = run(nn::attention, in.q, in.k, in.v, c.heads, in.mask, p, 31, gpu);
      check_same(gpu_run, cpu, 2e-5);
      // Deterministic: the same bits again.
      check_identical(run(nn::attention, in.q, in.k, in.v, c.heads, in.mask, p, 31, gpu), gpu_run);
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
