// A steady-state training step on the CPU makes no system allocation: every tensor it needs
// comes from the allocator's cache (the counters of allocator_for(cpu)).
#include "roast/memory.h"
#include "roast/nn/models.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "roast/plan.h"
#include "support/catch.h"

using namespace roast;
using namespace roast::nn;

namespace {
struct Setup {
  std::unique_ptr<Model> model;
  std::unique_ptr<Memory> memory;
  Batch batch;
};

std::int64_t fresh_during_steps(Setup& s, int warmup, int steps) {
  OptimizerConfig oc;
  oc.name = "adam";
  oc.lr = 1e-3f;
  Optimizer opt(oc);
  Allocator& alloc = allocator_for(Device::cpu());
  std::int64_t before = 0;
  for (int step = 0; step < warmup + steps; ++step) {
    if (step == warmup) before = alloc.counters().fresh;
    s.memory->zero_grad();
    Context ctx(*s.memory, true, std::uint64_t(step));
    Tensor loss = cross_entropy(s.model->forward(s.batch, ctx), s.batch.labels);
    loss.backward();
    Tensor params = s.memory->params(), grad = s.memory->grad();
    opt.step(params, grad, [&](const std::string& name) { return s.memory->slot(name); }, 1e-3f);
  }
  return alloc.counters().fresh - before;
}

Setup with_model(std::unique_ptr<Model> model) {
  Setup s;
  s.model = std::move(model);
  Planner planner;
  s.model->declare(planner);
  MemoryConfig mc;
  mc.scheme = Scheme::roast;
  mc.compression = 10;
  mc.tile_rows = 8, mc.tile_cols = 8, mc.embedding_chunk = 8;
  mc.exact_threshold = 0;
  s.memory = std::make_unique<Memory>(planner.finalize(mc));
  return s;
}
}  // namespace

TEST_CASE("allocator: a steady-state training step allocates nothing new (cnn, transformer)", "[alloc]") {
  InputSpec in;
  in.channels = 1, in.height = 12, in.width = 12, in.n_classes = 10;
  CnnOptions co;
  co.stages = {{8, 1}, {16, 1}};
  co.hidden = 32;
  Setup cnn = with_model(make_cnn(in, co));
  cnn.batch.images = randn({16, 1, 12, 12}, 1);
  std::vector<std::int32_t> labels(16);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % 10);
  cnn.batch.labels = Tensor::from_vector(labels, {16});
  CHECK(fresh_during_steps(cnn, 2, 3) == 0);

  InputSpec tin;
  tin.text = true, tin.vocab_size = 50, tin.max_length = 16, tin.n_classes = 2;
  TransformerOptions to;
  to.dim = 16, to.heads = 2, to.layers = 1, to.ffn_dim = 32, to.pooling = "mean";
  Setup tr = with_model(make_transformer(tin, to));
  std::vector<std::int32_t> ids(8 * 16);
  std::vector<float> mask(8 * 16);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t(i * 7 % 50), mask[i] = (i % 16) < 12 ? 1.0f : 0.0f;
  tr.batch.ids = Tensor::from_vector(ids, {8, 16});
  tr.batch.mask = Tensor::from_vector(mask, {8, 16});
  std::vector<std::int32_t> tl(8);
  for (std::size_t i = 0; i < tl.size(); ++i) tl[i] = std::int32_t(i % 2);
  tr.batch.labels = Tensor::from_vector(tl, {8});
  CHECK(fresh_during_steps(tr, 2, 3) == 0);
}
