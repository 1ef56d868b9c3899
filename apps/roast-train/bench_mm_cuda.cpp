// `roast-train bench mm --device cuda`: ROAST-MM on the GPU against cuBLAS, in one run.
//
// For every shape, precision and memory size the contenders are timed interleaved:
//   dense        cuBLAS GEMMs on a real K x N weight (fp32, or TF32 tensor cores), the baseline
//   dense_mm     the fused kernels on the identity mapping (the GEMM core without hashing)
//   roast        the fused ROAST-MM kernels (matmul_path fused)
//   materialize  W built from the roast mapping, then cuBLAS (matmul_path materialize)
//   hashednet    the element-hashed mapping (its product always materialises: no tiles)
//   auto         the engine's per-shape choice between fused and materialize; `path` says
//                which won (forward / backward_input / backward_memory)
// Ops: forward, backward_input, backward_memory (dense: dW = X^T dY), forward_backward, and
// optimizer_step (one Adam step over the memory; dense: over the K x N weight).
// Each timing runs the op back to back `iters` times between two device synchronisations
// (iters chosen so that one timing lasts >= 2 ms), so launch gaps count but not host syncs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "bench_mm.h"
#include "kernels/backend.h"
#include "roast/backend.h"
#include "roast/error.h"
#include "roast/optim.h"
#include "roast/tensor.h"

namespace roast_train {
namespace bench {
namespace {
namespace kg = roast::kernels::cuda;
using roast::Device;
using roast::DType;
using roast::Tensor;

using Op = std::function<void()>;
using OpTable = std::map<std::string, Op>;

Tensor device_random(i64 n, std::uint64_t seed, Device dev) {
  return Tensor::from_vector(random_floats(n, seed), {n}, dev);
}

// One Adam step over `params` with gradient `grad` (slots allocated once, outside the timing).
Op optimizer_op(Tensor params, Tensor grad) {
  auto optimizer = std::make_shared<roast::Optimizer>(roast::OptimizerConfig{});
  auto slots = std::make_shared<std::map<std::string, Tensor>>();
  auto slot = [slots, params](const std::string& name) {
    auto it = slots->find(name);
    if (it == slots->end())
      it = slots->emplace(name, Tensor::zeros(params.shape(), DType::f32, params.device())).first;
    return it->second;
  };
  return [optimizer, params, grad, slot]() mutable { optimizer->step(params, grad, slot, 1e-3f); };
}

struct Shape {
  i64 M, K, N;
  Device dev;
  Tensor X, dY, Y, dX;
  roast::Numerics numerics;  // the run's precision and deterministic flag
};

OpTable dense_ops(Shape& s, Tensor W, Tensor dW) {
  const float* x = s.X.data<float>();
  const float* dy = s.dY.data<float>();
  float* y = s.Y.data<float>();
  float* dx = s.dX.data<float>();
  const float* w = W.data<float>();
  float* dw = dW.data<float>();
  const i64 M = s.M, K = s.K, N = s.N;
  const roast::Precision p = s.numerics.precision;
  const Device dev = s.dev;
  Op fwd = [=] { ROAST_KERNEL(dev, gemm, p, false, false, M, N, K, 1.0f, x, K, w, N, 0.0f, y, N); };
  Op in = [=] { ROAST_KERNEL(dev, gemm, p, false, true, M, K, N, 1.0f, dy, N, w, N, 0.0f, dx, K); };
  Op mem = [=] { ROAST_KERNEL(dev, gemm, p, true, false, K, N, M, 1.0f, x, K, dy, N, 0.0f, dw, N); };
  // The two backward GEMMs run concurrently, as the roast schemes' do (roast_mm_backward).
  return {{"forward", fwd}, {"backward_input", in}, {"backward_memory", mem},
          {"forward_backward", [=] { fwd(); kg::run_beside(mem, in); }}, {"optimizer_step", optimizer_op(W, dW)}};
}

OpTable roast_ops(Shape& s, const roast::Mapping& map, Tensor memory, Tensor dM, roast::MatmulPath path) {
  const float* x = s.X.data<float>();
  const float* dy = s.dY.data<float>();
  float* y = s.Y.data<float>();
  float* dx = s.dX.data<float>();
  const float* mem = memory.data<float>();
  float* dm = dM.data<float>();
  const i64 M = s.M;
  roast::Numerics nx = s.numerics;
  nx.matmul_path = path;
  // One cache per contender, as a Memory keeps one: the tile tables are built once.
  const std::shared_ptr<roast::kernels::MappingCache> owned = roast::kernels::make_mapping_cache(s.dev);
  roast::kernels::MappingCache* c = owned.get();
  const Device dev = s.dev;
  Op fwd = [=, keep = owned] { ROAST_KERNEL(dev, roast_mm_forward, map, nx, c, mem, x, M, y); };
  Op in = [=, keep = owned] { ROAST_KERNEL(dev, roast_mm_backward_input, map, nx, c, mem, dy, M, dx); };
  Op grad = [=, keep = owned] { ROAST_KERNEL(dev, roast_mm_backward_memory, map, nx, c, x, dy, M, dm); };
  Op both = [=, keep = owned] { ROAST_KERNEL(dev, roast_mm_backward, map, nx, c, mem, x, dy, M, dx, dm); };
  return {{"forward", fwd}, {"backward_input", in}, {"backward_memory", grad},
          {"forward_backward", [=] { fwd(); both(); }}, {"optimizer_step", optimizer_op(memory, dM)}};
}

// Milliseconds per run of `op`: `iters` runs between two synchronisations.
double time_op(const Op& op, int iters) {
  kg::synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) op();
  kg::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters;
}

struct CudaContender {
  std::string scheme;
  double compression;
  i64 memory_floats;
  OpTable ops;
  roast::Mapping map;  // for `auto`: which path the choice took
};

std::string chosen_paths(Device dev, const roast::Mapping& map, const roast::Numerics& numerics, i64 M,
                         const std::string& op) {
  auto one = [&](int pass) { return std::string(ROAST_KERNEL(dev, roast_mm_selected_path, map, numerics, M, pass)); };
  if (op == "forward") return one(0);
  if (op == "backward_input") return one(1);
  if (op == "backward_memory") return one(2);
  if (op == "forward_backward") return one(0) + "/" + one(1) + "/" + one(2);
  return "";
}

void bench_shape(const MmOptions& opt, i64 M, i64 K, i64 N, const std::string& precision, Device dev,
                 std::vector<Measurement>& out) {
  roast::Numerics numerics;
  numerics.precision = roast::parse_precision(precision);
  numerics.deterministic = opt.deterministic;
  Shape s{M, K, N, dev, device_random(M * K, 1, dev), device_random(M * N, 2, dev),
          Tensor::empty({M * N}, DType::f32, dev), Tensor::empty({M * K}, DType::f32, dev), numerics};
  const auto has = [&opt](const std::string& x) {
    return std::find(opt.schemes.begin(), opt.schemes.end(), x) != opt.schemes.end();
  };
  std::vector<CudaContender> contenders;
  const Tensor W = device_random(K * N, 3, dev), dW = Tensor::zeros({K * N}, DType::f32, dev);
  contenders.push_back({"dense", 1.0, K * N, dense_ops(s, W, dW), {}});
  if (has("dense_mm")) {  // the fused kernels on the identity mapping: the GEMM without hashing
    const roast::Mapping identity = make_mapping(roast::Scheme::dense, opt, K, N, K * N);
    contenders.push_back({"dense_mm", 1.0, K * N, roast_ops(s, identity, W, dW, roast::MatmulPath::fused), identity});
  }
  for (const auto& [c, floats] : memory_sizes(opt, K, N)) {
    const Tensor memory = device_random(floats, 4, dev);
    const Tensor dM = Tensor::zeros({floats}, DType::f32, dev);
    const roast::Mapping roast_map = make_mapping(roast::Scheme::roast, opt, K, N, floats);
    if (has("roast")) contenders.push_back({"roast", c, floats, roast_ops(s, roast_map, memory, dM, roast::MatmulPath::fused), roast_map});
    if (has("materialize"))
      contenders.push_back({"materialize", c, floats, roast_ops(s, roast_map, memory, dM, roast::MatmulPath::materialize), roast_map});
    if (has("auto")) contenders.push_back({"auto", c, floats, roast_ops(s, roast_map, memory, dM, roast::MatmulPath::auto_select), roast_map});
    if (has("hashednet")) {
      const roast::Mapping h = make_mapping(roast::Scheme::hashednet, opt, K, N, floats);
      contenders.push_back({"hashednet", c, floats, roast_ops(s, h, memory, dM, roast::MatmulPath::auto_select), h});
    }
  }
  for (const std::string& op : opt.ops) {
    // `auto` chooses for each op as it runs: the backward's pair of products together in
    // forward_backward, each product alone in backward_input / backward_memory.
    ROAST_KERNEL(dev, roast_mm_forget_paths);
    std::vector<int> iters(contenders.size(), 1);
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      const Op& run = contenders[i].ops.at(op);
      for (int w = 0; w < std::max(1, opt.warmup); ++w) run();  // the first `auto` call also times both paths
      const double once = time_op(run, 1);
      iters[i] = int(std::clamp(2.0 / std::max(once, 1e-4), 1.0, 200.0));
    }
    std::vector<std::vector<double>> times(contenders.size());
    for (int r = 0; r < opt.repeats; ++r)
      for (std::size_t i = 0; i < contenders.size(); ++i) times[i].push_back(time_op(contenders[i].ops.at(op), iters[i]));
    const double dense_ms = median(times[0]);
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      const CudaContender& c = contenders[i];
      if (c.scheme == "dense" && !has("dense")) continue;
      Measurement m = measurement(M, K, N, c.memory_floats, c.compression, c.scheme, op, median(times[i]), dense_ms);
      m.device = dev.str();
      m.precision = precision;
      if (c.scheme == "auto" || c.scheme == "hashednet") m.path = chosen_paths(dev, c.map, numerics, M, op);
      out.push_back(m);
    }
  }
}

}  // namespace

std::vector<Measurement> run_mm_cuda(const MmOptions& opt) {
  const Device dev = roast::parse_device(opt.device);
  if (!roast::cuda_available())
    roast::fail("bench mm --device ", opt.device, ": no CUDA device is visible on this machine; use --device cpu");
  std::vector<Measurement> rows;
  for (i64 K : opt.k)
    for (i64 N : opt.n)
      for (i64 M : opt.m)
        for (const std::string& precision : opt.precision) {
          bench_shape(opt, M, K, N, precision, dev, rows);
          if (!opt.json)
            std::fprintf(stderr, "  done M=%lld K=%lld N=%lld %s\n", (long long)M, (long long)K, (long long)N,
                         precision.c_str());
        }
  return rows;
}

}  // namespace bench
}  // namespace roast_train
