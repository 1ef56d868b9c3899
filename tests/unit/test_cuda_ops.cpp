// Every non-ROAST-MM op on CUDA against the CPU reference: forward outputs and the gradients
// of every f32 input (through autograd), on seeded random inputs. Skipped where no GPU exists.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "nn/embedding_op.h"
#include "roast/backend.h"
#include "roast/config.h"
#include "roast/mapping.h"
#include "roast/nn/functional.h"
#include "roast/ops.h"
#include "roast/plan.h"
#include "roast/tensor.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::relative_error;

namespace {
const Device kGpu = Device::cuda(0);

bool gpu_or_skip() {
  if (cuda_available()) return true;
  WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
  return false;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// The output of f and the gradients of its f32 inputs on one device, all copied to the host.
// The loss is sum(y * R) with R fixed random, so every output element gets its own weight.
struct Run {
  Tensor y;
  std::vector<Tensor> grads;  // undefined for integer inputs
};

Run run_on(Device device, const Fn& f, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor leaf = t.to(Device::cpu()).clone().to(device);
    if (leaf.dtype() == DType::f32) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  const Tensor y = f(leaves);
  const Tensor weights = randn(y.shape(), 99).to(device);
  sum_all(mul(y, weights)).backward();
  Run run{y.detach().to(Device::cpu()), {}};
  for (const Tensor& leaf : leaves) {
    const Tensor g = leaf.dtype() == DType::f32 ? leaf.grad() : Tensor();
    run.grads.push_back(g.defined() ? g.to(Device::cpu()) : Tensor());
  }
  return run;
}

// Runs f on the CPU and on the GPU and compares the outputs and input gradients (max-abs
// error relative to the reference's max-abs value).
void check_devices(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, double tol = 1e-5) {
  INFO(what);
  const Run cpu = run_on(Device::cpu(), f, inputs);
  const Run gpu = run_on(kGpu, f, inputs);
  REQUIRE(gpu.y.shape() == cpu.y.shape());
  CHECK(relative_error(gpu.y, cpu.y) < tol);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient of input " << i);
    CHECK(gpu.grads[i].defined() == cpu.grads[i].defined());
    if (cpu.grads[i].defined() && gpu.grads[i].defined()) CHECK(relative_error(gpu.grads[i], cpu.grads[i]) < tol);
  }
}

Tensor positive(const Shape& shape, std::uint64_t seed) { return rand_uniform(shape, seed, 0.5f, 2.0f); }

Tensor ids_i32(const std::vector<std::int32_t>& v) { return Tensor::from_vector(v, {std::int64_t(v.size())}); }
Tensor ids_i64(const std::vector<std::int64_t>& v) { return Tensor::from_vector(v, {std::int64_t(v.size())}); }
}  // namespace

TEST_CASE("cuda ops: unary and scalar ops match the CPU", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>> any_sign = {
      {"relu", relu}, {"gelu", gelu}, {"tanh", roast::tanh}, {"sigmoid", sigmoid},
      {"exp", roast::exp}, {"neg", neg}, {"square", square}};
  for (const auto& op : any_sign) {
    const auto fn = op.second;
    check_devices(op.first, [fn](const std::vector<Tensor>& in) { return fn(in[0]); }, {randn({7, 33}, 1)});
  }
  check_devices("log", [](const std::vector<Tensor>& in) { return roast::log(in[0]); }, {positive({7, 33}, 2)});
  check_devices("sqrt", [](const std::vector<Tensor>& in) { return roast::sqrt(in[0]); }, {positive({7, 33}, 3)});
  check_devices("add_scalar", [](const std::vector<Tensor>& in) { return add_scalar(in[0], 0.7f); }, {randn({50}, 4)});
  check_devices("mul_scalar", [](const std::vector<Tensor>& in) { return mul_scalar(in[0], -1.3f); }, {randn({50}, 5)});
  check_devices("pow_scalar", [](const std::vector<Tensor>& in) { return pow_scalar(in[0], 2.5f); }, {positive({50}, 6)});
}

TEST_CASE("cuda ops: broadcasting binary ops match the CPU", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}},       {{2, 3, 4}, {3, 1}}, {{1, 4}, {5, 1}},
      {{2, 1, 4}, {1, 3, 1}}, {{6, 5}, {1}}, {{8, 3000}, {3000}}, {{7, 300}, {1}},
      // bias-like gradients through sum_to's row-blocked path (>= 64 rows reduced): few and
      // many columns, several leading dims, a ragged last block of rows
      {{300, 70}, {70}}, {{130, 2000}, {2000}}, {{4, 50, 30}, {30}}, {{3, 33, 5}, {1, 5}}};
  std::uint64_t seed = 10;
  for (const auto& p : pairs) {
    const Tensor a = randn(p.first, seed++), b = randn(p.second, seed++), bpos = positive(p.second, seed++);
    const std::string shapes = shape_str(p.first) + " x " + shape_str(p.second);
    check_devices("add " + shapes, [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, b});
    check_devices("sub " + shapes, [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {a, b});
    check_devices("mul " + shapes, [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b});
    check_devices("div " + shapes, [](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {a, bpos});
    check_devices("add (swapped) " + shapes, [](const std::vector<Tensor>& in) { return add(in[1], in[0]); }, {a, b});
  }
}

TEST_CASE("cuda ops: reductions and softmax match the CPU", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const Tensor x = randn({3, 4, 5}, 30);
  for (int axis = 0; axis < 3; ++axis)
    for (bool keep : {false, true}) {
      const std::string tag = " axis " + std::to_string(axis) + (keep ? " keepdim" : "");
      check_devices("sum" + tag, [axis, keep](const std::vector<Tensor>& in) { return sum(in[0], axis, keep); }, {x});
      check_devices("mean" + tag, [axis, keep](const std::vector<Tensor>& in) { return mean(in[0], axis, keep); }, {x});
    }
  check_devices("sum long rows", [](const std::vector<Tensor>& in) { return sum(in[0], 1); }, {randn({4, 3000}, 31)});
  check_devices("mean over batch", [](const std::vector<Tensor>& in) { return mean(in[0], 0); }, {randn({300, 40}, 32)});
  check_devices("sum_all", [](const std::vector<Tensor>& in) { return sum_all(in[0]); }, {randn({37, 41}, 33)});
  check_devices("mean_all", [](const std::vector<Tensor>& in) { return mean_all(in[0]); }, {randn({37, 41}, 34)});
  for (const Shape& shape : {Shape{6, 10}, Shape{2, 3, 700}, Shape{5, 1}}) {
    check_devices("softmax " + shape_str(shape), [](const std::vector<Tensor>& in) { return softmax(in[0]); },
                  {mul_scalar(randn(shape, 35), 3.0f)});
    check_devices("log_softmax " + shape_str(shape), [](const std::vector<Tensor>& in) { return log_softmax(in[0]); },
                  {mul_scalar(randn(shape, 36), 3.0f)});
  }
}

TEST_CASE("cuda ops: cross-entropy matches the CPU, bad labels throw on both", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const Tensor logits = mul_scalar(randn({9, 7}, 40), 2.0f);
  const Tensor l32 = ids_i32({0, 6, 3, 3, 1, 2, 5, 4, 0});
  const Tensor l64 = ids_i64({6, 6, 0, 1, 2, 3, 4, 5, 1});
  for (float smoothing : {0.0f, 0.1f}) {
    for (const Tensor& labels : {l32, l64}) {
      check_devices("cross_entropy " + std::string(dtype_name(labels.dtype())) + " smoothing " + std::to_string(smoothing),
                    [smoothing](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], smoothing); },
                    {logits, labels});
    }
  }
  check_devices("cross_entropy wide", [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], 0.05f); },
                {randn({3, 1000}, 41), ids_i64({999, 0, 500})});
  const Tensor bad = ids_i32({0, 1, 7, 2, -1, 0, 0, 0, 0});
  for (Device d : {Device::cpu(), kGpu}) {
    INFO(d.str());
    try {
      cross_entropy(logits.to(d), bad.to(d));
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("label 7 at row 2") != std::string::npos);
    }
  }
}

TEST_CASE("cuda ops: matmul matches the CPU in fp32 and tf32", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  const auto mm_tf32 = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1], {Precision::tf32}); };
  check_devices("matmul 2-D", mm, {randn({5, 7}, 50), randn({7, 3}, 51)});
  check_devices("matmul batched", mm, {randn({2, 3, 5, 4}, 52), randn({2, 3, 4, 6}, 53)});
  check_devices("matmul shared right", mm, {randn({2, 5, 7}, 54), randn({7, 3}, 55)});
  check_devices("matmul 2-D tf32", mm_tf32, {randn({64, 128}, 58), randn({128, 32}, 59)}, 5e-3);
  check_devices("matmul batched tf32", mm_tf32, {randn({4, 33, 65}, 60), randn({4, 65, 17}, 61)}, 5e-3);
}

TEST_CASE("cuda ops: layout ops match the CPU", "[cuda][ops]") {
  if (!gpu_or_skip()) return;
  const Tensor x = randn({2, 3, 4}, 70);
  check_devices("permute", [](const std::vector<Tensor>& in) { return permute(in[0], {2, 0, 1}); }, {x});
  check_devices("transpose", [](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {x});
  check_devices("transpose 4-D", [](const std::vector<Tensor>& in) { return transpose(in[0], 1, 2); },
                {randn({2, 3, 5, 4}, 71)});
  for (int axis = 0; axis < 3; ++axis)
    check_devices("slice axis " + std::to_string(axis),
                  [axis](const std::vector<Tensor>& in) { return slice(in[0], axis, 1, 2); }, {x});
  check_devices("concat", [](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[0]}, 1); },
                {x, randn({2, 5, 4}, 72)});
  check_devices("concat last", [](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, -1); },
                {x, randn({2, 3, 2}, 73)});
  const Tensor table = randn({10, 6}, 74);
  check_devices("gather_rows i32", [](const std::vector<Tensor>& in) { return gather_rows(in[0], in[1]); },
                {table, ids_i32({3, 3, 0, 9, 3, 1})});
  check_devices("gather_rows i64 2-D ids", [](const std::vector<Tensor>& in) { return gather_rows(in[0], in[1]); },
                {table, Tensor::from_vector(std::vector<std::int64_t>{9, 9, 2, 0, 5, 9}, {2, 3})});
  for (Device d : {Device::cpu(), kGpu}) {
    INFO(d.str());
    try {
      gather_rows(table.to(d), ids_i64({1, 2, 10}).to(d));
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("id 10 at position 2") != std::string::npos);
    }
  }
}

TEST_CASE("cuda ops: im2col, pooling and norms match the CPU", "[cuda][nn]") {
  if (!gpu_or_skip()) return;
  const Tensor img = randn({2, 3, 7, 6}, 80);
  check_devices("im2col k3 s2 p1", [](const std::vector<Tensor>& in) { return nn::im2col(in[0], 3, 3, 2, 1); }, {img});
  check_devices("im2col k2x3 s1 p0", [](const std::vector<Tensor>& in) { return nn::im2col(in[0], 2, 3, 1, 0); }, {img});
  check_devices("im2col k3 s1 p2", [](const std::vector<Tensor>& in) { return nn::im2col(in[0], 3, 3, 1, 2); }, {img});
  const Tensor sq = randn({2, 3, 7, 7}, 81);
  for (auto ks : {std::pair<int, int>{2, 2}, {3, 2}, {3, 1}}) {
    const int k = ks.first, s = ks.second;
    const std::string tag = " k" + std::to_string(k) + " s" + std::to_string(s);
    check_devices("max_pool" + tag, [k, s](const std::vector<Tensor>& in) { return nn::max_pool2d(in[0], k, s); }, {sq});
    check_devices("avg_pool" + tag, [k, s](const std::vector<Tensor>& in) { return nn::avg_pool2d(in[0], k, s); }, {sq});
  }
  check_devices("global_avg_pool", [](const std::vector<Tensor>& in) { return nn::global_avg_pool2d(in[0]); }, {sq});

  const Tensor seq = add_scalar(randn({2, 5, 24}, 82), 0.5f);
  check_devices("layer_norm", [](const std::vector<Tensor>& in) { return nn::layer_norm(in[0], 1e-5f); }, {seq});
  check_devices("layer_norm affine",
                [](const std::vector<Tensor>& in) { return nn::layer_norm(in[0], 1e-5f, in[1], in[2]); },
                {seq, randn({24}, 83), randn({24}, 84)});
  for (const Shape& shape : {Shape{4, 3, 5, 5}, Shape{16, 6}}) {
    const Tensor xb = add_scalar(randn(shape, 85), 1.0f);
    const std::int64_t c = shape[1];
    check_devices("batch_norm " + shape_str(shape),
                  [](const std::vector<Tensor>& in) { return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr); },
                  {xb});
    check_devices("batch_norm affine " + shape_str(shape),
                  [](const std::vector<Tensor>& in) {
                    return nn::batch_norm_train(in[0], 1e-5f, nullptr, nullptr, in[1], in[2]);
                  },
                  {xb, randn({c}, 86), randn({c}, 87)});
    // The batch statistics written for the running averages.
    Tensor mean_cpu, var_cpu, mean_gpu, var_gpu;
    nn::batch_norm_train(xb, 1e-5f, &mean_cpu, &var_cpu);
    nn::batch_norm_train(xb.to(kGpu), 1e-5f, &mean_gpu, &var_gpu);
    CHECK(mean_gpu.device() == kGpu);
    CHECK(var_gpu.device() == kGpu);
    CHECK(relative_error(mean_gpu, mean_cpu) < 1e-5);
    CHECK(relative_error(var_gpu, var_cpu) < 1e-5);
  }
}

TEST_CASE("cuda ops: dropout draws the identical mask on CPU and GPU", "[cuda][nn]") {
  if (!gpu_or_skip()) return;
  const Tensor x = randn({37, 129}, 90);
  const std::vector<float> cpu = nn::dropout(x, 0.3f, 1234).to_vector();
  const std::vector<float> gpu = nn::dropout(x.to(kGpu), 0.3f, 1234).to_vector();
  CHECK(cpu == gpu);
  check_devices("dropout", [](const std::vector<Tensor>& in) { return nn::dropout(in[0], 0.5f, 77); }, {x});
}

namespace {
// An embedding table of V x D mapped into a memory of m cells by `scheme`.
Mapping embedding_map(Scheme scheme, SignMode sign, std::int64_t V, std::int64_t D, std::int64_t region) {
  Mapping m;
  m.scheme = scheme;
  m.sign_mode = sign;
  m.kind = TensorKind::embedding;
  m.seed = 2024;
  m.layer = 3;
  m.rows = V;
  m.cols = D;
  m.region_base = 5;
  m.region_size = (scheme == Scheme::dense || scheme == Scheme::exact) ? V * D : region;
  m.tile_rows = 1;
  m.tile_cols = (scheme == Scheme::roast || scheme == Scheme::roast_local) ? 4 : 1;
  m.lambda = 0.75f;
  return m;
}
}  // namespace

TEST_CASE("cuda ops: the embedding op matches the CPU for every scheme", "[cuda][nn]") {
  if (!gpu_or_skip()) return;
  const std::int64_t V = 20, D = 10, region = 37;
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{3, 19, 3, 0, 7, 7, 12, 3}, {2, 4});
  const std::vector<std::pair<Scheme, SignMode>> cases = {
      {Scheme::dense, SignMode::none},        {Scheme::exact, SignMode::none},
      {Scheme::roast, SignMode::none},        {Scheme::roast, SignMode::tile},
      {Scheme::roast, SignMode::element},     {Scheme::roast_local, SignMode::tile},
      {Scheme::hashednet, SignMode::element}, {Scheme::hashednet, SignMode::none}};
  for (const auto& c : cases) {
    const Mapping map = embedding_map(c.first, c.second, V, D, region);
    const Tensor memory = randn({map.region_base + map.region_size + 3}, 100);
    const std::string tag = std::string(scheme_name(c.first)) + " sign " + std::to_string(int(c.second));
    check_devices("embedding " + tag,
                  [map, nx = Numerics{}](const std::vector<Tensor>& in) { return nn::embedding_lookup(in[0], map, in[1], nx); },
                  {memory, ids});
    check_devices("embedding i32 " + tag,
                  [map, nx = Numerics{}](const std::vector<Tensor>& in) { return nn::embedding_lookup(in[0], map, in[1], nx); },
                  {memory, ids_i32({1, 1, 19, 4})});
  }
  const Mapping map = embedding_map(Scheme::roast, SignMode::tile, V, D, region);
  const Tensor memory = randn({60}, 101);
  for (Device d : {Device::cpu(), kGpu}) {
    INFO(d.str());
    try {
      nn::embedding_lookup(memory.to(d), map, ids_i32({0, 20}).to(d), {});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("id 20 at position 1") != std::string::npos);
    }
  }
}

TEST_CASE("cuda ops: deterministic scatters are bitwise reproducible", "[cuda][nn]") {
  if (!gpu_or_skip()) return;
  Numerics nx;  // deterministic: the scatters' fixed-order path
  nx.deterministic = true;
  // Many repeated rows / shared cells, so atomics would race on the same addresses.
  std::vector<std::int32_t> id_values;
  for (int i = 0; i < 4000; ++i) id_values.push_back((i * 7919) % 13);
  const Tensor ids = ids_i32(id_values);
  const Tensor table = randn({13, 33}, 110);
  const Mapping map = embedding_map(Scheme::roast, SignMode::element, 13, 33, 41);
  const Tensor memory = randn({60}, 111);
  const Tensor img = randn({2, 4, 9, 9}, 112);
  const auto grad_of = [](Device d, const Fn& f, const std::vector<Tensor>& in) {
    return run_on(d, f, in).grads[0].to_vector();
  };
  const auto grads = [&](Device d) {
    return std::vector<std::vector<float>>{
        grad_of(d, [&nx](const std::vector<Tensor>& in) { return gather_rows(in[0], in[1], nx); }, {table, ids}),
        grad_of(d, [&map, &nx](const std::vector<Tensor>& in) { return nn::embedding_lookup(in[0], map, in[1], nx); },
                {memory, ids}),
        grad_of(d, [](const std::vector<Tensor>& in) { return nn::im2col(in[0], 3, 3, 2, 1); }, {img}),
        grad_of(d, [](const std::vector<Tensor>& in) { return nn::max_pool2d(in[0], 3, 2); }, {img}),
        grad_of(d, [](const std::vector<Tensor>& in) { return nn::avg_pool2d(in[0], 3, 2); }, {img})};
  };
  const auto first = grads(kGpu), second = grads(kGpu), cpu = grads(Device::cpu());
  nx.deterministic = false;  // the default: atomics
  REQUIRE(first.size() == cpu.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO("scatter " << i);
    CHECK(first[i] == second[i]);
    // The fixed order is the CPU's: the results agree to rounding (here exactly).
    const Tensor a = Tensor::from_vector(first[i], {std::int64_t(first[i].size())});
    const Tensor b = Tensor::from_vector(cpu[i], {std::int64_t(cpu[i].size())});
    CHECK(relative_error(a, b) < 1e-6);
  }
  // The default (atomic) path agrees with the CPU to rounding.
  check_devices("gather_rows atomics", [](const std::vector<Tensor>& in) { return gather_rows(in[0], in[1]); },
                {table, ids});
  check_devices("embedding atomics",
                [&map, &nx](const std::vector<Tensor>& in) { return nn::embedding_lookup(in[0], map, in[1], nx); },
                {memory, ids});
}
