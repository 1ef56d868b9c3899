// Models: dense variants against independent straightforward implementations, and every
// model type fitting a tiny random dataset at 10x compression.
#include <chrono>
#include <cmath>

#include "roast/memory.h"
#include "roast/nn/functional.h"
#include "roast/nn/models.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using namespace roast::nn;

namespace {
Memory plan_model(Model& model, Scheme scheme, double compression = 1.0) {
  Planner planner;
  model.declare(planner);
  MemoryConfig config;
  config.scheme = scheme;
  if (scheme != Scheme::dense) config.compression = compression;
  config.tile_rows = 8;
  config.tile_cols = 8;
  config.embedding_chunk = 8;
  config.exact_threshold = 0;
  config.seed = 3;
  return Memory(planner.finalize(config));
}

// The reference reads weights by materialising them: [K, N] matrices, [n] vectors.
struct Weights {
  const Memory& memory;
  Tensor matrix(const std::string& name) const { return materialize(memory, memory.plan().mapping(name)); }
  Tensor vector(const std::string& name) const {
    const Tensor m = matrix(name);
    return reshape(m, {m.numel()});
  }
  Tensor linear(const Tensor& x, const std::string& layer, bool bias = true) const {
    Tensor y = matmul(x, matrix(layer + ".weight"));
    return bias ? add(y, vector(layer + ".bias")) : y;
  }
};

// Direct convolution with loops (no im2col), weight [(c, i, j), out].
Tensor conv_reference(const Tensor& x, const Tensor& w, std::int64_t k, std::int64_t stride, std::int64_t pad) {
  const std::int64_t b = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), n = w.size(1);
  const std::int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
  const std::vector<float> xv = x.to_vector(), wv = w.to_vector();
  std::vector<float> out(std::size_t(b * n * oh * ow));
  for (std::int64_t bi = 0; bi < b; ++bi)
    for (std::int64_t o = 0; o < n; ++o)
      for (std::int64_t y = 0; y < oh; ++y)
        for (std::int64_t z = 0; z < ow; ++z) {
          double acc = 0;
          for (std::int64_t ci = 0; ci < c; ++ci)
            for (std::int64_t i = 0; i < k; ++i)
              for (std::int64_t j = 0; j < k; ++j) {
                const std::int64_t yy = y * stride - pad + i, zz = z * stride - pad + j;
                if (yy < 0 || yy >= h || zz < 0 || zz >= wd) continue;
                acc += xv[std::size_t(((bi * c + ci) * h + yy) * wd + zz)] * wv[std::size_t(((ci * k + i) * k + j) * n + o)];
              }
          out[std::size_t(((bi * n + o) * oh + y) * ow + z)] = float(acc);
        }
  return Tensor::from_vector(out, {b, n, oh, ow});
}

// Batch norm in training mode with loops: per channel over batch and space.
Tensor bn_reference(const Tensor& x, const Tensor& gain, const Tensor& bias) {
  const std::int64_t b = x.size(0), c = x.size(1), s = x.size(2) * x.size(3);
  std::vector<float> v = x.to_vector();
  const std::vector<float> g = gain.to_vector(), be = bias.to_vector();
  for (std::int64_t ci = 0; ci < c; ++ci) {
    double mean = 0, var = 0;
    for (std::int64_t bi = 0; bi < b; ++bi)
      for (std::int64_t i = 0; i < s; ++i) mean += v[std::size_t((bi * c + ci) * s + i)];
    mean /= double(b * s);
    for (std::int64_t bi = 0; bi < b; ++bi)
      for (std::int64_t i = 0; i < s; ++i) var += std::pow(v[std::size_t((bi * c + ci) * s + i)] - mean, 2);
    var /= double(b * s);
    for (std::int64_t bi = 0; bi < b; ++bi)
      for (std::int64_t i = 0; i < s; ++i) {
        float& e = v[std::size_t((bi * c + ci) * s + i)];
        e = float((e - mean) / std::sqrt(var + 1e-5)) * g[std::size_t(ci)] + be[std::size_t(ci)];
      }
  }
  return Tensor::from_vector(v, x.shape());
}

Tensor layer_norm_reference(const Tensor& x, const Tensor& gain, const Tensor& bias) {
  const std::int64_t d = x.size(-1), rows = x.numel() / d;
  std::vector<float> v = x.to_vector();
  const std::vector<float> g = gain.to_vector(), be = bias.to_vector();
  for (std::int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t j = 0; j < d; ++j) mean += v[std::size_t(r * d + j)] / double(d);
    for (std::int64_t j = 0; j < d; ++j) var += std::pow(v[std::size_t(r * d + j)] - mean, 2) / double(d);
    for (std::int64_t j = 0; j < d; ++j) {
      float& e = v[std::size_t(r * d + j)];
      e = float((e - mean) / std::sqrt(var + 1e-5)) * g[std::size_t(j)] + be[std::size_t(j)];
    }
  }
  return Tensor::from_vector(v, x.shape());
}

void check_close(const Tensor& got, const Tensor& want) {
  INFO(roast::testing::first_mismatches(got, want, 1e-4));
  CHECK(got.shape() == want.shape());
  CHECK(roast::testing::relative_error(got, want) < 1e-4);
}

Batch image_batch(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t classes, std::uint64_t seed) {
  Batch b;
  b.images = randn({n, c, hw, hw}, seed);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) labels[std::size_t(i)] = std::int32_t((i * 7 + std::int64_t(seed)) % classes);
  b.labels = Tensor::from_vector(labels, {n});
  return b;
}

Batch text_batch(std::int64_t n, std::int64_t t, std::int64_t vocab, std::int64_t classes, std::uint64_t seed) {
  std::vector<std::int32_t> ids(std::size_t(n * t)), labels(static_cast<std::size_t>(n));
  std::vector<float> mask(std::size_t(n * t));
  std::uint64_t s = seed;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t len = 3 + i % (t - 2);
    for (std::int64_t j = 0; j < t; ++j) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      ids[std::size_t(i * t + j)] = j == 0 ? 2 : (j < len ? std::int32_t(3 + (s >> 33) % std::uint64_t(vocab - 3)) : 0);
      mask[std::size_t(i * t + j)] = j < len ? 1.0f : 0.0f;
    }
    labels[std::size_t(i)] = std::int32_t(i % classes);
  }
  Batch b;
  b.ids = Tensor::from_vector(ids, {n, t});
  b.mask = Tensor::from_vector(mask, {n, t});
  b.labels = Tensor::from_vector(labels, {n});
  return b;
}

// Adam on the memory until the loss is small; returns the final loss.
double fit(Model& model, Memory& memory, const Batch& batch, int steps, float lr) {
  OptimizerConfig oc;
  oc.name = "adam";
  oc.lr = lr;
  Optimizer opt(oc);
  double loss = 0;
  for (int s = 0; s < steps; ++s) {
    memory.zero_grad();
    Context ctx(memory, true, std::uint64_t(s));
    Tensor l = cross_entropy(model.forward(batch, ctx), batch.labels);
    loss = l.item();
    l.backward();
    Tensor params = memory.params();
    Tensor grad = memory.grad();
    opt.step(params, grad, [&](const std::string& name) { return memory.slot(name); }, lr);
  }
  return loss;
}
}  // namespace

TEST_CASE("models: dense mlp equals a straightforward implementation", "[models]") {
  InputSpec in;
  in.channels = 1, in.height = 5, in.width = 5, in.n_classes = 3;
  MlpOptions o;
  o.hidden = {7, 6};
  auto model = make_mlp(in, o);
  Memory memory = plan_model(*model, Scheme::dense);
  const Batch batch = image_batch(4, 1, 5, 3, 1);
  Context ctx(memory);
  const Weights w{memory};
  Tensor h = reshape(batch.images, {4, 25});
  h = relu(w.linear(relu(w.linear(h, "fc1")), "fc2"));
  check_close(model->forward(batch, ctx), w.linear(h, "classifier"));
}

TEST_CASE("models: dense cnn and resnet equal direct convolutions", "[models]") {
  InputSpec in;
  in.channels = 2, in.height = 8, in.width = 8, in.n_classes = 4;
  CnnOptions o;
  o.stages = {{3, 1}, {4, 2}};
  o.hidden = 5;
  auto cnn = make_cnn(in, o);
  Memory memory = plan_model(*cnn, Scheme::dense);
  const Batch batch = image_batch(3, 2, 8, 4, 2);
  const Weights w{memory};
  auto conv_bn_relu = [&](const Tensor& x, const std::string& name) {
    const Tensor y = conv_reference(x, w.matrix(name + ".weight"), 3, 1, 1);
    return relu(bn_reference(y, w.vector(name + ".bn.gain"), w.vector(name + ".bn.bias")));
  };
  Tensor h = nn::max_pool2d(conv_bn_relu(batch.images, "stage1.conv1"), 2, 2);
  h = nn::max_pool2d(conv_bn_relu(conv_bn_relu(h, "stage2.conv1"), "stage2.conv2"), 2, 2);
  h = relu(w.linear(reshape(h, {3, -1}), "fc"));
  Context ctx(memory, /*training=*/true);
  check_close(cnn->forward(batch, ctx), w.linear(h, "classifier"));

  ResNetOptions ro;
  ro.widths = {3, 4};
  ro.blocks_per_stage = 1;
  auto resnet = make_resnet(in, ro);
  Memory rmem = plan_model(*resnet, Scheme::dense);
  const Weights rw{rmem};
  auto bn = [&](const Tensor& x, const std::string& name) { return bn_reference(x, rw.vector(name + ".gain"), rw.vector(name + ".bias")); };
  auto conv = [&](const Tensor& x, const std::string& name, std::int64_t k, std::int64_t s) {
    return conv_reference(x, rw.matrix(name + ".weight"), k, s, k / 2);
  };
  Tensor r = relu(bn(conv(batch.images, "stem", 3, 1), "stem_bn"));
  r = relu(add(bn(conv(relu(bn(conv(r, "stage1.block1.conv1", 3, 1), "stage1.block1.bn1")), "stage1.block1.conv2", 3, 1),
                  "stage1.block1.bn2"), r));
  const Tensor skip = bn(conv(r, "stage2.block1.shortcut", 1, 2), "stage2.block1.shortcut_bn");
  r = relu(add(bn(conv(relu(bn(conv(r, "stage2.block1.conv1", 3, 2), "stage2.block1.bn1")), "stage2.block1.conv2", 3, 1),
                  "stage2.block1.bn2"), skip));
  Context rctx(rmem, true);
  check_close(resnet->forward(batch, rctx), rw.linear(mean(reshape(r, {3, 4, -1}), 2), "classifier"));
}

TEST_CASE("models: dense bag and transformer equal straightforward implementations", "[models]") {
  InputSpec in;
  in.text = true, in.vocab_size = 20, in.max_length = 6, in.n_classes = 3;
  const Batch batch = text_batch(4, 6, 20, 3, 5);
  const std::vector<std::int32_t> ids = batch.ids.to_host<std::int32_t>();
  const std::vector<float> mask = batch.mask.to_vector();

  BagOptions bo;
  bo.dim = 5;
  bo.hidden = {4};
  auto bag = make_bag(in, bo);
  Memory bmem = plan_model(*bag, Scheme::dense);
  const Weights bw{bmem};
  const std::vector<float> table = bw.matrix("embedding.table").to_vector();
  std::vector<float> pooled(4 * 5, 0.0f);
  for (int i = 0; i < 4; ++i) {
    float count = 0;
    for (int j = 0; j < 6; ++j) {
      if (mask[std::size_t(i * 6 + j)] == 0) continue;
      count += 1;
      for (int d = 0; d < 5; ++d) pooled[std::size_t(i * 5 + d)] += table[std::size_t(ids[std::size_t(i * 6 + j)] * 5 + d)];
    }
    for (int d = 0; d < 5; ++d) pooled[std::size_t(i * 5 + d)] /= count;
  }
  Context bctx(bmem);
  check_close(bag->forward(batch, bctx),
              bw.linear(relu(bw.linear(Tensor::from_vector(pooled, {4, 5}), "fc1")), "classifier"));

  TransformerOptions to;
  to.dim = 4, to.heads = 2, to.layers = 1, to.ffn_dim = 6, to.dropout = 0.0f;
  auto transformer = make_transformer(in, to);
  Memory tmem = plan_model(*transformer, Scheme::dense);
  const Weights tw{tmem};
  const std::vector<float> tok = tw.matrix("token_embedding.table").to_vector();
  const std::vector<float> pos = tw.matrix("position_embedding.table").to_vector();
  std::vector<float> x0(4 * 6 * 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j)
      for (int d = 0; d < 4; ++d)
        x0[std::size_t((i * 6 + j) * 4 + d)] = tok[std::size_t(ids[std::size_t(i * 6 + j)] * 4 + d)] + pos[std::size_t(j * 4 + d)];
  const Tensor x = Tensor::from_vector(x0, {4, 6, 4});
  auto ln = [&](const Tensor& v, const std::string& name) { return layer_norm_reference(v, tw.vector(name + ".gain"), tw.vector(name + ".bias")); };
  // Attention per sequence and head with explicit masking.
  const Tensor a_in = ln(x, "block1.norm1");
  const Tensor q = tw.linear(a_in, "block1.attention.query"), k = tw.linear(a_in, "block1.attention.key"),
               v = tw.linear(a_in, "block1.attention.value");
  std::vector<float> merged(4 * 6 * 4, 0.0f);
  const std::vector<float> qv = q.to_vector(), kv = k.to_vector(), vv = v.to_vector();
  for (int i = 0; i < 4; ++i)
    for (int hd = 0; hd < 2; ++hd)
      for (int s = 0; s < 6; ++s) {
        std::vector<double> score(6);
        double mx = -1e300, total = 0;
        for (int t = 0; t < 6; ++t) {
          if (mask[std::size_t(i * 6 + t)] == 0) continue;
          double dot = 0;
          for (int d = 0; d < 2; ++d)
            dot += qv[std::size_t((i * 6 + s) * 4 + hd * 2 + d)] * kv[std::size_t((i * 6 + t) * 4 + hd * 2 + d)];
          score[std::size_t(t)] = dot / std::sqrt(2.0);
          mx = std::max(mx, score[std::size_t(t)]);
        }
        for (int t = 0; t < 6; ++t)
          if (mask[std::size_t(i * 6 + t)] != 0) total += std::exp(score[std::size_t(t)] - mx);
        for (int t = 0; t < 6; ++t) {
          if (mask[std::size_t(i * 6 + t)] == 0) continue;
          const double p = std::exp(score[std::size_t(t)] - mx) / total;
          for (int d = 0; d < 2; ++d)
            merged[std::size_t((i * 6 + s) * 4 + hd * 2 + d)] += float(p * vv[std::size_t((i * 6 + t) * 4 + hd * 2 + d)]);
        }
      }
  Tensor h = add(x, tw.linear(Tensor::from_vector(merged, {4, 6, 4}), "block1.attention.output"));
  h = add(h, tw.linear(gelu(tw.linear(ln(h, "block1.norm2"), "block1.ffn_in")), "block1.ffn_out"));
  h = ln(h, "final_norm");
  const Tensor cls = reshape(slice(h, 1, 0, 1), {4, 4});
  Context tctx(tmem);
  check_close(transformer->forward(batch, tctx), tw.linear(cls, "classifier"));
}

TEST_CASE("models: every type fits a tiny random dataset at 10x compression", "[models][fit]") {
  InputSpec img;
  img.channels = 1, img.height = 8, img.width = 8, img.n_classes = 4;
  InputSpec txt;
  txt.text = true, txt.vocab_size = 200, txt.max_length = 8, txt.n_classes = 4;
  const Batch images = image_batch(16, 1, 8, 4, 9);
  const Batch texts = text_batch(16, 8, 200, 4, 9);
  struct Case {
    const char* name;
    std::unique_ptr<Model> model;
    const Batch* batch;
  };
  MlpOptions mo;
  mo.hidden = {64};
  CnnOptions co;
  co.stages = {{8, 1}, {16, 1}};
  co.hidden = 32;
  ResNetOptions ro;
  ro.widths = {8, 16};
  ro.blocks_per_stage = 1;
  BagOptions bo;
  bo.dim = 32;
  TransformerOptions to;
  to.dim = 16, to.heads = 2, to.layers = 1, to.ffn_dim = 32, to.dropout = 0.0f;
  std::vector<Case> cases;
  cases.push_back({"mlp", make_mlp(img, mo), &images});
  cases.push_back({"cnn", make_cnn(img, co), &images});
  cases.push_back({"resnet", make_resnet(img, ro), &images});
  cases.push_back({"bag", make_bag(txt, bo), &texts});
  cases.push_back({"transformer", make_transformer(txt, to), &texts});
  for (Case& c : cases) {
    Memory memory = plan_model(*c.model, Scheme::roast, 10.0);
    INFO(c.name << ": m = " << memory.n_floats() << ", n = " << memory.plan().n_virtual());
    CHECK(memory.plan().compression() == Approx(10.0).epsilon(0.02));
    const auto start = std::chrono::steady_clock::now();
    const double loss = fit(*c.model, memory, *c.batch, 300, 0.02f);
    INFO(c.name << " loss " << loss << " in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
    CHECK(loss < 0.05);
  }
}
