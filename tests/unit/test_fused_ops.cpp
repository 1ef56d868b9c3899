// The fused transformer ops: layer norm with gain and bias, bias + GELU, and the text models'
// token + position embedding with dropout. Each against the unfused composition of older ops
// on the CPU (output and every gradient), by finite differences, for bitwise determinism
// across OpenMP thread counts, and ([cuda], skipped without a GPU) every CUDA kernel against
// the CPU one.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "nn/embedding_op.h"
#include "roast/backend.h"
#include "roast/config.h"
#include "roast/mapping.h"
#include "roast/memory.h"
#include "roast/nn/functional.h"
#include "roast/nn/module.h"
#include "roast/ops.h"
#include "roast/tensor.h"
#include "support/catch.h"
#include "support/threads.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::first_mismatches;

namespace {
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// The output of f and the gradients of its f32 inputs (loss sum(y * R), R fixed random), on
// `device`, copied to the host.
struct Run {
  Tensor y;
  std::vector<Tensor> grads;  // undefined for integer inputs or inputs without a gradient
};

Run run_on(Device device, const Fn& f, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor leaf = t.to(Device::cpu()).clone().to(device);
    if (leaf.dtype() == DType::f32) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  const Tensor y = f(leaves);
  sum_all(mul(y, randn(y.shape(), 99).to(device))).backward();
  Run run{y.detach().to(Device::cpu()), {}};
  for (const Tensor& leaf : leaves) {
    const Tensor g = leaf.dtype() == DType::f32 ? leaf.grad() : Tensor();
    run.grads.push_back(g.defined() ? g.to(Device::cpu()) : Tensor());
  }
  return run;
}

// max |a - b| / max(max |b|, floor): relative error, against `floor` where b is all near 0.
double error_against(const Tensor& a, const Tensor& b, double floor) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return 1e30;
  double diff = 0.0, scale = floor;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(double(x[i]) - double(y[i])));
    scale = std::max(scale, std::fabs(double(y[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

// got vs want: same shapes, relative max-abs error below tol for the output and each gradient.
// `floor` is the scale below which a result counts as zero (layer norm of one column: every
// gradient of x is 0 up to the rounding of terms of size rstd * gy * gain = 1/sqrt(eps)).
void check_runs(const Run& got, const Run& want, double tol, double floor = 0.0) {
  REQUIRE(got.y.shape() == want.y.shape());
  INFO("output: " << first_mismatches(got.y, want.y, tol));
  CHECK(error_against(got.y, want.y, floor) < tol);
  REQUIRE(got.grads.size() == want.grads.size());
  for (std::size_t i = 0; i < want.grads.size(); ++i) {
    INFO("gradient of input " << i);
    REQUIRE(got.grads[i].defined() == want.grads[i].defined());
    if (!want.grads[i].defined()) continue;
    INFO(first_mismatches(got.grads[i], want.grads[i], tol));
    CHECK(error_against(got.grads[i], want.grads[i], floor) < tol);
  }
}

// Bitwise equality of two runs.
void check_identical(const Run& a, const Run& b) {
  CHECK(a.y.to_vector() == b.y.to_vector());
  REQUIRE(a.grads.size() == b.grads.size());
  for (std::size_t i = 0; i < a.grads.size(); ++i) {
    INFO("gradient of input " << i);
    REQUIRE(a.grads[i].defined() == b.grads[i].defined());
    if (a.grads[i].defined()) CHECK(a.grads[i].to_vector() == b.grads[i].to_vector());
  }
}

using test_support::ThreadCount;

// Runs f with 1 and with 2 OpenMP threads: the results must be bitwise identical.
void check_thread_determinism(const Fn& f, const std::vector<Tensor>& inputs) {
  Run one, two;
  {
    ThreadCount threads(1);
    one = run_on(Device::cpu(), f, inputs);
  }
  {
    ThreadCount threads(2);
    two = run_on(Device::cpu(), f, inputs);
  }
  check_identical(one, two);
}

// Rows x n shapes: rows = 1, n = 1, n not a multiple of 4 or 32, a batch of sequences, and
// shapes above the kernels' thresholds for threads and row blocks.
const std::vector<Shape> kRowShapes{{1, 1}, {1, 5}, {3, 7}, {4, 33}, {2, 3, 100}, {70, 64}, {37, 129}, {300, 129}};

const float kEps = 1e-5f;

Tensor layer_norm_fused(const std::vector<Tensor>& in) { return nn::layer_norm(in[0], kEps, in[1], in[2]); }
// The composition the fused op replaces: normalise, then scale and shift as broadcast ops.
Tensor layer_norm_unfused(const std::vector<Tensor>& in) {
  return add(mul(nn::layer_norm(in[0], kEps), in[1]), in[2]);
}
Tensor bias_gelu_fused(const std::vector<Tensor>& in) { return nn::bias_gelu(in[0], in[1]); }
Tensor bias_gelu_unfused(const std::vector<Tensor>& in) { return gelu(add(in[0], in[1])); }

// Inputs of a row op: x (scaled and shifted away from 0 mean / 1 variance), gain, bias.
std::vector<Tensor> row_inputs(const Shape& shape, std::uint64_t seed) {
  const std::int64_t n = shape.back();
  return {add_scalar(randn(shape, seed, 2.0f), 0.5f), rand_uniform({n}, seed + 1, 0.5f, 1.5f),
          randn({n}, seed + 2, 0.3f)};
}

// An embedding table of rows x dim mapped into a memory by `scheme`, at `base`.
Mapping table_map(Scheme scheme, SignMode sign, std::int64_t rows, std::int64_t dim, std::int64_t base,
                  std::int64_t region, std::uint32_t layer) {
  Mapping m;
  m.scheme = scheme;
  m.sign_mode = sign;
  m.kind = TensorKind::embedding;
  m.seed = 2024;
  m.layer = layer;
  m.rows = rows;
  m.cols = dim;
  m.region_base = base;
  m.region_size = (scheme == Scheme::dense || scheme == Scheme::exact) ? rows * dim : region;
  m.tile_rows = 1;
  m.tile_cols = (scheme == Scheme::roast || scheme == Scheme::roast_local) ? 4 : 1;
  m.lambda = layer == 1 ? 0.75f : 1.25f;
  return m;
}

// Token and position tables in one memory (hashed ones in regions that overlap, so that
// both scatters add into some of the same cells).
struct TextTables {
  Mapping tokens, positions;
  std::int64_t n_cells;
};
TextTables text_tables(Scheme scheme, SignMode sign, std::int64_t vocab, std::int64_t max_length, std::int64_t dim) {
  const bool hashed = scheme != Scheme::dense && scheme != Scheme::exact;
  const std::int64_t token_region = hashed ? vocab * dim / 3 + 5 : vocab * dim;
  const Mapping tokens = table_map(scheme, sign, vocab, dim, 3, token_region, 1);
  const std::int64_t position_base = hashed ? 3 + token_region / 2 : 3 + token_region;
  const Mapping positions = table_map(scheme, sign, max_length, dim, position_base,
                                      hashed ? max_length * dim / 3 + 5 : max_length * dim, 2);
  const std::int64_t end = std::max(tokens.region_base + tokens.region_size, positions.region_base + positions.region_size);
  return {tokens, positions, end + 2};
}

Tensor random_ids(std::int64_t batch, std::int64_t length, std::int64_t vocab, std::uint64_t seed) {
  std::vector<std::int32_t> v;
  for (std::int64_t i = 0; i < batch * length; ++i)
    v.push_back(std::int32_t((std::uint64_t(i) * 7919u + seed * 104729u) % std::uint64_t(vocab)));
  return Tensor::from_vector(v, {batch, length});
}

Fn embedding_fused(const TextTables& t, float p, std::uint64_t seed, bool deterministic = false,
                   const std::uint64_t* step = nullptr) {
  Numerics nx;
  nx.deterministic = deterministic;
  return [t, p, seed, nx, step](const std::vector<Tensor>& in) {
    return nn::embedding_position_lookup(in[0], t.tokens, t.positions, in[1], p, seed, nx, step);
  };
}
// The composition the fused op replaces: two lookups, a broadcast add, dropout.
Fn embedding_unfused(const TextTables& t, float p, std::uint64_t seed, const std::uint64_t* step = nullptr) {
  return [t, p, seed, step](const std::vector<Tensor>& in) {
    const std::int64_t length = in[1].size(1);
    std::vector<std::int32_t> pos;
    for (std::int64_t j = 0; j < length; ++j) pos.push_back(std::int32_t(j));
    const Tensor position_ids = Tensor::from_vector(pos, {length}, in[0].device());
    const Tensor h = add(nn::embedding_lookup(in[0], t.tokens, in[1], {}),
                         nn::embedding_lookup(in[0], t.positions, position_ids, {}));
    return nn::dropout(h, p, seed, step);
  };
}

struct SchemeCase {
  Scheme scheme;
  SignMode sign;
};
const std::vector<SchemeCase> kSchemes{{Scheme::dense, SignMode::none},    {Scheme::roast, SignMode::tile},
                                       {Scheme::roast, SignMode::element}, {Scheme::roast_local, SignMode::none},
                                       {Scheme::hashednet, SignMode::element}};

std::string describe(const SchemeCase& c) {
  return std::string(scheme_name(c.scheme)) + " sign " + sign_mode_name(c.sign);
}
}  // namespace

// ---- CPU: fused against unfused -------------------------------------------------------------

TEST_CASE("fused ops: layer norm equals normalise + affine, forward and every gradient", "[fused][grad]") {
  std::uint64_t seed = 1;
  for (const Shape& shape : kRowShapes) {
    INFO("shape " << shape_str(shape));
    const std::vector<Tensor> in = row_inputs(shape, seed += 3);
    check_runs(run_on(Device::cpu(), layer_norm_fused, in), run_on(Device::cpu(), layer_norm_unfused, in), 1e-5,
               shape.back() == 1 ? 1.0 : 0.0);
  }
  // Only some inputs wanting a gradient (the kernel's null outputs).
  const std::vector<Tensor> in = row_inputs({5, 19}, 40);
  const Fn x_only = [](const std::vector<Tensor>& v) { return nn::layer_norm(v[0], kEps, v[1].detach(), v[2].detach()); };
  const Fn x_only_unfused = [](const std::vector<Tensor>& v) {
    return add(mul(nn::layer_norm(v[0], kEps), v[1].detach()), v[2].detach());
  };
  check_runs(run_on(Device::cpu(), x_only, in), run_on(Device::cpu(), x_only_unfused, in), 1e-5);
  const Fn affine_only = [](const std::vector<Tensor>& v) { return nn::layer_norm(v[0].detach(), kEps, v[1], v[2]); };
  const Fn affine_only_unfused = [](const std::vector<Tensor>& v) {
    return add(mul(nn::layer_norm(v[0].detach(), kEps), v[1]), v[2]);
  };
  check_runs(run_on(Device::cpu(), affine_only, in), run_on(Device::cpu(), affine_only_unfused, in), 1e-5);
}

TEST_CASE("fused ops: layer norm has finite-difference gradients", "[fused][grad]") {
  for (const Shape& shape : std::vector<Shape>{{1, 5}, {3, 7}, {2, 2, 33}}) {
    INFO("shape " << shape_str(shape));
    CHECK_GRADIENTS(layer_norm_fused, row_inputs(shape, 50));
  }
}

TEST_CASE("fused ops: bias + GELU equals gelu(x + bias), forward and every gradient", "[fused][grad]") {
  std::uint64_t seed = 100;
  for (const Shape& shape : kRowShapes) {
    INFO("shape " << shape_str(shape));
    const std::vector<Tensor> rows = row_inputs(shape, seed += 3);
    const std::vector<Tensor> in{rows[0], rows[2]};
    check_runs(run_on(Device::cpu(), bias_gelu_fused, in), run_on(Device::cpu(), bias_gelu_unfused, in), 1e-5);
  }
  const std::vector<Tensor> in{randn({6, 21}, 140, 2.0f), randn({21}, 141)};
  const Fn x_only = [](const std::vector<Tensor>& v) { return nn::bias_gelu(v[0], v[1].detach()); };
  const Fn x_only_unfused = [](const std::vector<Tensor>& v) { return gelu(add(v[0], v[1].detach())); };
  check_runs(run_on(Device::cpu(), x_only, in), run_on(Device::cpu(), x_only_unfused, in), 1e-5);
  const Fn bias_only = [](const std::vector<Tensor>& v) { return nn::bias_gelu(v[0].detach(), v[1]); };
  const Fn bias_only_unfused = [](const std::vector<Tensor>& v) { return gelu(add(v[0].detach(), v[1])); };
  check_runs(run_on(Device::cpu(), bias_only, in), run_on(Device::cpu(), bias_only_unfused, in), 1e-5);
}

TEST_CASE("fused ops: bias + GELU has finite-difference gradients", "[fused][grad]") {
  for (const Shape& shape : std::vector<Shape>{{1, 5}, {4, 9}, {2, 3, 33}}) {
    INFO("shape " << shape_str(shape));
    CHECK_GRADIENTS(bias_gelu_fused, {randn(shape, 60, 1.5f), randn({shape.back()}, 61)});
  }
}

TEST_CASE("fused ops: embedding + position + dropout equals lookups, add and dropout", "[fused][grad]") {
  for (const SchemeCase& c : kSchemes)
    for (float p : {0.0f, 0.25f}) {
      INFO(describe(c) << " dropout " << p);
      const std::int64_t vocab = 23, max_length = 9, dim = 10;
      const TextTables t = text_tables(c.scheme, c.sign, vocab, max_length, dim);
      const Tensor memory = randn({t.n_cells}, 70);
      for (const Shape& shape : std::vector<Shape>{{1, 1}, {3, 7}, {2, 9}}) {
        INFO("ids " << shape_str(shape));
        const std::vector<Tensor> in{memory, random_ids(shape[0], shape[1], vocab, 3)};
        const Run fused = run_on(Device::cpu(), embedding_fused(t, p, 1234), in);
        const Run unfused = run_on(Device::cpu(), embedding_unfused(t, p, 1234), in);
        check_runs(fused, unfused, 1e-6);
        // Under a training step's seed word (a captured step): the salt's mask for that word.
        static const std::uint64_t kWord = 99;
        check_runs(run_on(Device::cpu(), embedding_fused(t, p, 1234, false, &kWord), in),
                   run_on(Device::cpu(), embedding_unfused(t, p, 1234, &kWord), in), 1e-6);
      }
    }
}

TEST_CASE("fused ops: embedding + position has finite-difference gradients", "[fused][grad]") {
  for (const SchemeCase& c : kSchemes) {
    INFO(describe(c));
    const TextTables t = text_tables(c.scheme, c.sign, 11, 6, 5);
    const Tensor memory = randn({t.n_cells}, 80);
    const Tensor ids = random_ids(2, 6, 11, 5);
    CHECK_GRADIENTS(embedding_fused(t, 0.3f, 99), {memory, ids});
  }
}

TEST_CASE("fused ops: embedding + position names a bad id and its position", "[fused]") {
  const TextTables t = text_tables(Scheme::roast, SignMode::tile, 20, 4, 6);
  const Tensor memory = randn({t.n_cells}, 90);
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 20, 6, 7}, {2, 4});
  try {
    nn::embedding_position_lookup(memory, t.tokens, t.positions, ids, 0.0f, 0, {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), ROAST_CONTAINS("id 20 at position 5"));
    CHECK_THAT(std::string(e.what()), ROAST_CONTAINS("outside the table [0, 20)"));
  }
  const Tensor too_long = random_ids(1, 5, 20, 1);
  CHECK_THROWS_WITH(nn::embedding_position_lookup(memory, t.tokens, t.positions, too_long, 0.0f, 0, {}),
                    ROAST_CONTAINS("exceed the 4 positions"));
}

TEST_CASE("fused ops: results are identical for 1 and 2 OpenMP threads", "[fused]") {
  // Sizes above the kernels' thresholds for threads (2^15 elements) and with many row blocks.
  check_thread_determinism(layer_norm_fused, row_inputs({700, 67}, 200));
  const std::vector<Tensor> rows = row_inputs({700, 67}, 210);
  check_thread_determinism(bias_gelu_fused, {rows[0], rows[2]});
  const TextTables t = text_tables(Scheme::roast, SignMode::element, 500, 40, 64);
  check_thread_determinism(embedding_fused(t, 0.1f, 5), {randn({t.n_cells}, 220), random_ids(16, 40, 500, 7)});
}

TEST_CASE("fused ops: Linear::forward_gelu equals gelu(Linear::forward)", "[fused][layers]") {
  nn::Linear linear("ffn_in", 12, 20);
  Planner planner;
  linear.declare(planner);
  MemoryConfig config;
  config.scheme = Scheme::roast;
  config.floats = 120;  // 240 hashed weights + 20 exact bias cells
  config.tile_rows = 2;
  config.tile_cols = 4;
  config.exact_threshold = 0;
  Memory memory(planner.finalize(config));
  const std::vector<float> values = randn({memory.n_floats()}, 300).to_vector();  // a non-zero bias
  Tensor params = memory.params();
  std::copy(values.begin(), values.end(), params.data<float>());
  const Tensor x = randn({3, 5, 12}, 301);
  auto run = [&](bool fused) {
    memory.zero_grad();
    nn::Context ctx(memory);
    Tensor leaf = x.clone();
    leaf.set_requires_grad(true);
    const Tensor y = fused ? linear.forward_gelu(leaf, ctx) : gelu(linear.forward(leaf, ctx));
    sum_all(mul(y, randn(y.shape(), 302))).backward();
    return Run{y.detach(), {leaf.grad(), memory.grad().clone()}};
  };
  check_runs(run(true), run(false), 1e-5);
}

// ---- CUDA against the CPU ----------------------------------------------------------------

namespace {
const Device kGpu = Device::cuda(0);

bool gpu_or_skip() {
  if (cuda_available()) return true;
  WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
  return false;
}

void check_devices(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, double tol = 1e-4,
                   double floor = 0.0) {
  INFO(what);
  check_runs(run_on(kGpu, f, inputs), run_on(Device::cpu(), f, inputs), tol, floor);
}
}  // namespace

TEST_CASE("cuda fused ops: layer norm kernels match the CPU", "[cuda][fused]") {
  if (!gpu_or_skip()) return;
  std::uint64_t seed = 400;
  for (const Shape& shape : std::vector<Shape>{{1, 1}, {1, 5}, {3, 7}, {9, 33}, {2, 3, 100}, {67, 64}, {130, 257},
                                               {5, 1000}, {1030, 96}}) {
    const std::vector<Tensor> in = row_inputs(shape, seed += 3);
    const double floor = shape.back() == 1 ? 1.0 : 0.0;
    check_devices("layer_norm " + shape_str(shape), layer_norm_fused, in, 1e-4, floor);
    check_devices("layer_norm x only " + shape_str(shape),
                  [](const std::vector<Tensor>& v) { return nn::layer_norm(v[0], kEps, v[1].detach(), v[2].detach()); },
                  in, 1e-4, floor);
    check_devices("layer_norm gain and bias only " + shape_str(shape),
                  [](const std::vector<Tensor>& v) { return nn::layer_norm(v[0].detach(), kEps, v[1], v[2]); }, in);
  }
  // Always deterministic: two runs agree bitwise.
  const std::vector<Tensor> in = row_inputs({2000, 72}, 450);
  check_identical(run_on(kGpu, layer_norm_fused, in), run_on(kGpu, layer_norm_fused, in));
}

TEST_CASE("cuda fused ops: bias + GELU kernels match the CPU", "[cuda][fused]") {
  if (!gpu_or_skip()) return;
  std::uint64_t seed = 500;
  for (const Shape& shape : std::vector<Shape>{{1, 1}, {1, 5}, {3, 7}, {9, 33}, {2, 3, 100}, {67, 64}, {130, 257},
                                               {5, 1000}, {1030, 96}}) {
    const std::vector<Tensor> in{randn(shape, seed += 3, 2.0f), randn({shape.back()}, seed + 1)};
    check_devices("bias_gelu " + shape_str(shape), bias_gelu_fused, in);
    check_devices("bias_gelu x only " + shape_str(shape),
                  [](const std::vector<Tensor>& v) { return nn::bias_gelu(v[0], v[1].detach()); }, in);
    check_devices("bias_gelu bias only " + shape_str(shape),
                  [](const std::vector<Tensor>& v) { return nn::bias_gelu(v[0].detach(), v[1]); }, in);
  }
  const std::vector<Tensor> in{randn({2000, 72}, 550), randn({72}, 551)};
  check_identical(run_on(kGpu, bias_gelu_fused, in), run_on(kGpu, bias_gelu_fused, in));
}

TEST_CASE("cuda fused ops: embedding + position kernels match the CPU", "[cuda][fused]") {
  if (!gpu_or_skip()) return;
  for (const SchemeCase& c : kSchemes)
    for (float p : {0.0f, 0.3f})
      for (bool deterministic : {false, true}) {
        const TextTables t = text_tables(c.scheme, c.sign, 37, 33, 20);
        const Tensor memory = randn({t.n_cells}, 600);
        const std::string tag = describe(c) + " dropout " + std::to_string(p) + (deterministic ? " deterministic" : "");
        for (const Shape& shape : std::vector<Shape>{{1, 1}, {3, 33}, {17, 29}}) {
          check_devices("embedding_position " + tag + " ids " + shape_str(shape), embedding_fused(t, p, 77, deterministic),
                        {memory, random_ids(shape[0], shape[1], 37, 9)});
        }
        // i64 ids
        const Tensor ids64 = Tensor::from_vector(std::vector<std::int64_t>{36, 0, 5, 5, 12, 36}, {2, 3});
        check_devices("embedding_position i64 " + tag, embedding_fused(t, p, 78, deterministic), {memory, ids64});
      }
  // The deterministic path is bitwise reproducible on the GPU.
  const TextTables t = text_tables(Scheme::roast, SignMode::element, 13, 64, 33);
  const std::vector<Tensor> in{randn({t.n_cells}, 610), random_ids(64, 64, 13, 11)};
  check_identical(run_on(kGpu, embedding_fused(t, 0.2f, 5, true), in), run_on(kGpu, embedding_fused(t, 0.2f, 5, true), in));
  // A bad id is named with its position on the GPU too.
  const Tensor bad = Tensor::from_vector(std::vector<std::int32_t>{0, 1, 2, 3, 13, 5}, {2, 3});
  CHECK_THROWS_WITH(nn::embedding_position_lookup(in[0].to(kGpu), t.tokens, t.positions, bad.to(kGpu), 0.0f, 0, {}),
                    ROAST_CONTAINS("id 13 at position 4"));
}
