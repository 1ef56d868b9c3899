// Every layer: finite-difference gradients with respect to its input and to the memory.
#include "roast/memory.h"
#include "roast/nn/module.h"
#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using namespace roast::nn;

namespace {
// Plans `module` into a small memory where every matrix is hashed (tiny tiles: edge tiles).
Memory plan_memory(Module& module, Scheme scheme, SignMode sign = SignMode::tile) {
  Planner planner;
  module.declare(planner);
  MemoryConfig config;
  config.scheme = scheme;
  if (scheme != Scheme::dense) {
    // About 3x compression of the hashed part, but room for a few tiles in every region.
    MemoryConfig dense_config;
    dense_config.scheme = Scheme::dense;
    const MemoryPlan dense = planner.finalize(dense_config);
    std::int64_t n_hashed_tensors = 0;
    for (const PlannedTensor& t : dense.tensors()) n_hashed_tensors += t.spec.init_value ? 0 : 1;
    const std::int64_t hashed = dense.n_virtual() - dense.n_exact_floats();
    config.floats = dense.n_exact_floats() + std::min(hashed, std::max(hashed / 3, 24 * n_hashed_tensors));
  }
  config.tile_rows = 2;
  config.tile_cols = 4;
  config.embedding_chunk = 4;
  config.sign_mode = sign;
  config.exact_threshold = 0;
  config.init_scale = 0.5f;
  config.seed = 11;
  return Memory(planner.finalize(config));
}

// Checks d(loss)/d(input) and d(loss)/d(memory) of forward(x, ctx).
template <typename Forward>
void check_layer(Memory& memory, const Tensor& x, Forward forward, bool training = false) {
  CHECK_GRADIENTS([&](const std::vector<Tensor>& in) {
    Context ctx(memory, training, 5);
    return forward(in[0], ctx);
  }, {x});
  memory.zero_grad();
  CHECK_LEAF_GRADIENT([&] {
    Context ctx(memory, training, 5);
    return forward(x, ctx);
  }, memory.params());
}

const std::vector<Scheme> kSchemes{Scheme::dense, Scheme::roast, Scheme::roast_local, Scheme::hashednet};
}  // namespace

TEST_CASE("layers: Linear, every scheme and sign mode", "[layers][grad]") {
  for (Scheme scheme : kSchemes)
    for (SignMode sign : {SignMode::none, SignMode::tile, SignMode::element}) {
      if (scheme == Scheme::hashednet && sign == SignMode::tile) continue;  // no tiles to sign
      INFO("scheme " << scheme_name(scheme) << " sign " << sign_mode_name(sign));
      Linear linear("fc", 12, 10);
      Memory memory = plan_memory(linear, scheme, sign);
      check_layer(memory, randn({2, 3, 12}, 1), [&](const Tensor& x, Context& ctx) { return linear.forward(x, ctx); });
    }
}

TEST_CASE("layers: Embedding reads and updates only the rows used", "[layers][grad]") {
  for (Scheme scheme : kSchemes) {
    INFO("scheme " << scheme_name(scheme));
    Embedding table("emb", 9, 6, 1.0f);
    Memory memory = plan_memory(table, scheme, SignMode::element);
    const Tensor ids = Tensor::from_vector(std::vector<std::int32_t>{3, 0, 3, 8, 5, 3}, {2, 3});
    memory.zero_grad();
    CHECK_LEAF_GRADIENT([&] {
      Context ctx(memory);
      return table.forward(ids, ctx);
    }, memory.params());
  }
  // Dense: the rows not in the batch get no gradient.
  Embedding table("emb", 9, 6, 1.0f);
  Memory memory = plan_memory(table, Scheme::dense);
  Context ctx(memory);
  sum_all(table.forward(Tensor::from_vector(std::vector<std::int32_t>{2}, {1}), ctx)).backward();
  const std::vector<float> g = memory.grad().to_vector();
  const std::int64_t base = memory.plan().mapping("emb.table").region_base;
  for (std::int64_t r = 0; r < 9; ++r)
    CHECK(g[std::size_t(base + r * 6)] == (r == 2 ? 1.0f : 0.0f));
  CHECK_THROWS_WITH(table.forward(Tensor::from_vector(std::vector<std::int32_t>{9}, {1}), ctx), ROAST_CONTAINS("id 9"));
}

TEST_CASE("layers: Conv2d with stride and padding", "[layers][grad]") {
  for (Scheme scheme : {Scheme::dense, Scheme::roast}) {
    Conv2d conv("conv", 2, 3, 3, 2, 1);
    Memory memory = plan_memory(conv, scheme);
    check_layer(memory, randn({2, 2, 5, 4}, 2), [&](const Tensor& x, Context& ctx) { return conv.forward(x, ctx); });
  }
}

TEST_CASE("layers: BatchNorm in training and evaluation, LayerNorm", "[layers][grad]") {
  BatchNorm bn("bn", 3);
  Memory memory = plan_memory(bn, Scheme::roast);
  // Non-trivial gain and bias so that their gradients are exercised.
  Tensor params = memory.params();
  float* m = params.data<float>();
  for (std::int64_t i = 0; i < memory.n_floats(); ++i) m[i] = 0.5f + 0.1f * float(i);
  check_layer(memory, randn({4, 3, 2, 2}, 3), [&](const Tensor& x, Context& ctx) { return bn.forward(x, ctx); }, true);
  check_layer(memory, randn({4, 3, 2, 2}, 4), [&](const Tensor& x, Context& ctx) { return bn.forward(x, ctx); }, false);
  std::vector<std::pair<std::string, Tensor*>> buffers;
  bn.buffers(buffers);
  REQUIRE(buffers.size() == 2);
  CHECK(buffers[0].first == "bn.running_mean");

  LayerNorm ln("ln", 5);
  Memory ln_memory = plan_memory(ln, Scheme::roast);
  Tensor ln_params = ln_memory.params();
  float* lm = ln_params.data<float>();
  for (std::int64_t i = 0; i < ln_memory.n_floats(); ++i) lm[i] = 1.0f - 0.05f * float(i);
  check_layer(ln_memory, randn({2, 3, 5}, 5), [&](const Tensor& x, Context& ctx) { return ln.forward(x, ctx); });
}

TEST_CASE("layers: self-attention with a key padding mask; transformer blocks", "[layers][grad]") {
  const Tensor mask = Tensor::from_vector(std::vector<float>{1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});
  SelfAttention attention("attn", 8, 2);
  Memory memory = plan_memory(attention, Scheme::roast);
  check_layer(memory, randn({2, 4, 8}, 6), [&](const Tensor& x, Context& ctx) {
    ctx.key_padding_mask = mask;
    return attention.forward(x, ctx);
  });
  // A padded key changes nothing for the other tokens.
  Context ctx(memory);
  ctx.key_padding_mask = mask;
  Tensor x = randn({2, 4, 8}, 7);
  const std::vector<float> before = attention.forward(x, ctx).to_vector();
  x.data<float>()[3 * 8] += 5.0f;  // batch 0, token 3 (padding)
  const std::vector<float> after = attention.forward(x, ctx).to_vector();
  for (int i = 0; i < 3 * 8; ++i) CHECK(after[std::size_t(i)] == Approx(before[std::size_t(i)]).margin(1e-6));

  for (bool pre_norm : {true, false}) {
    TransformerBlock block("block", 8, 2, 12, pre_norm, 0.2f);
    Memory block_memory = plan_memory(block, Scheme::roast);
    check_layer(block_memory, randn({2, 4, 8}, 8), [&](const Tensor& x, Context& c) {
      c.key_padding_mask = mask;
      return block.forward(x, c);
    }, /*training (dropout on, seeded)=*/true);
  }
}

TEST_CASE("layers: shape mismatches are named", "[layers]") {
  Linear linear("fc", 6, 10);
  Memory memory = plan_memory(linear, Scheme::roast);
  Context ctx(memory);
  CHECK_THROWS_WITH(linear.forward(randn({2, 5}, 1), ctx), ROAST_CONTAINS("Linear fc: expects inputs [..., 6]"));
  Conv2d conv("conv", 2, 3, 3);
  Memory conv_memory = plan_memory(conv, Scheme::roast);
  Context conv_ctx(conv_memory);
  CHECK_THROWS_WITH(conv.forward(randn({1, 3, 5, 5}, 1), conv_ctx), ROAST_CONTAINS("[B, 2, H, W]"));
}

TEST_CASE("layers: a memory planned for another model is named as such", "[layers]") {
  Linear a("fc", 12, 10), b("other", 12, 10);
  Memory memory = plan_memory(a, Scheme::roast);
  Planner p;
  b.declare(p);
  Context ctx(memory);
  CHECK_THROWS_WITH(b.forward(randn({1, 12}, 1), ctx), ROAST_CONTAINS("planned for a different model"));
}
