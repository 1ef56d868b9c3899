// `roast-train bench mm`: times ROAST-MM forward, backward-input, backward-memory and
// forward+backward against dense Eigen GEMM on a real K x N matrix, measured in the same run
// with the same threads, shapes, warm-up and repeats for every scheme, runs interleaved.
//
// Schemes: dense (Eigen GEMM, W a real K x N matrix; its "backward_memory" is dW = X^T dY),
// roast (tile-hashed memory), hashednet (element-hashed memory), materialize (W built from
// the roast mapping, then Eigen GEMM; dW scattered back into the memory), and dense_mm (the
// ROAST-MM kernels on the identity mapping: the packing path without hashing).
// Memory for compression c: ceil(K * N / c) floats (at least one tile), or --memory-floats.
#include "bench_mm.h"
#include "commands.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

// The backend layer is engine-internal; the bench calls the CPU kernels directly.
#include "kernels/backend.h"
#include "roast/error.h"
#include "roast/mapping.h"

namespace roast_train {
namespace bench {
namespace kc = roast::kernels::cpu;
constexpr roast::Precision fp32 = roast::Precision::fp32;  // CPU products are always fp32

std::vector<float> random_floats(i64 n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

namespace {
double time_ms(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  const std::size_t h = times.size() / 2;
  return times.size() % 2 ? times[h] : 0.5 * (times[h - 1] + times[h]);
}

namespace {
// The sign mode of a hashed scheme: --sign, or the engine's default for the scheme
// (docs/roast.md: tile for roast, element for hashednet, none for dense).
roast::SignMode sign_mode(roast::Scheme scheme, const std::string& s) {
  if (scheme == roast::Scheme::dense || s == "none") return roast::SignMode::none;
  if (s == "tile") return roast::SignMode::tile;
  if (s == "element") return roast::SignMode::element;
  return scheme == roast::Scheme::hashednet ? roast::SignMode::element : roast::SignMode::tile;
}


// The operands of one (M, K, N) shape, shared by every scheme.
struct Operands {
  i64 M, K, N;
  std::vector<float> X, dY, Y, dX, W, dW;
  Operands(i64 m, i64 k, i64 n)
      : M(m), K(k), N(n), X(random_floats(m * k, 1)), dY(random_floats(m * n, 2)), Y(std::size_t(m * n)),
        dX(std::size_t(m * k)), W(random_floats(k * n, 3)), dW(std::size_t(k * n)) {}
};

// The four ops of one scheme as callables; forward_backward runs the other three in sequence
// (the materialize path builds W once for it).
using OpTable = std::map<std::string, std::function<void()>>;

OpTable dense_ops(Operands& o) {
  auto fwd = [&o] { kc::gemm(fp32, false, false, o.M, o.N, o.K, 1.0f, o.X.data(), o.K, o.W.data(), o.N, 0.0f, o.Y.data(), o.N); };
  auto bwd_in = [&o] {
    kc::gemm(fp32, false, true, o.M, o.K, o.N, 1.0f, o.dY.data(), o.N, o.W.data(), o.N, 0.0f, o.dX.data(), o.K);
  };
  auto bwd_mem = [&o] {
    kc::gemm(fp32, true, false, o.K, o.N, o.M, 1.0f, o.X.data(), o.K, o.dY.data(), o.N, 0.0f, o.dW.data(), o.N);
  };
  return {{"forward", fwd}, {"backward_input", bwd_in}, {"backward_memory", bwd_mem},
          {"forward_backward", [=] { fwd(); bwd_in(); bwd_mem(); }}};
}

OpTable fused_ops(Operands& o, const roast::Mapping& map, const float* memory, float* dM) {
  auto fwd = [&o, map, memory] { kc::roast_mm_forward(map, {}, nullptr, memory, o.X.data(), o.M, o.Y.data()); };
  auto bwd_in = [&o, map, memory] { kc::roast_mm_backward_input(map, {}, nullptr, memory, o.dY.data(), o.M, o.dX.data()); };
  auto bwd_mem = [&o, map, dM] { kc::roast_mm_backward_memory(map, {}, nullptr, o.X.data(), o.dY.data(), o.M, dM); };
  return {{"forward", fwd}, {"backward_input", bwd_in}, {"backward_memory", bwd_mem},
          {"forward_backward", [=] { fwd(); bwd_in(); bwd_mem(); }}};
}

OpTable materialize_ops(Operands& o, const roast::Mapping& map, const float* memory, float* dM) {
  auto build = [&o, map, memory] { kc::roast_mm_materialize(map, nullptr, memory, o.W.data()); };
  auto gemm_fwd = [&o] {
    kc::gemm(fp32, false, false, o.M, o.N, o.K, 1.0f, o.X.data(), o.K, o.W.data(), o.N, 0.0f, o.Y.data(), o.N);
  };
  auto gemm_in = [&o] {
    kc::gemm(fp32, false, true, o.M, o.K, o.N, 1.0f, o.dY.data(), o.N, o.W.data(), o.N, 0.0f, o.dX.data(), o.K);
  };
  // dW = X^T dY, then dM[loc] += lambda * sign * dW (lambda is inside the materialised W).
  auto bwd_mem = [&o, map, dM] {
    kc::gemm(fp32, true, false, o.K, o.N, o.M, 1.0f, o.X.data(), o.K, o.dY.data(), o.N, 0.0f, o.dW.data(), o.N);
    kc::roast_mm_accumulate_dense(map, {}, nullptr, o.dW.data(), dM);
  };
  return {{"forward", [=] { build(); gemm_fwd(); }},
          {"backward_input", [=] { build(); gemm_in(); }},
          {"backward_memory", bwd_mem},
          {"forward_backward", [=] { build(); gemm_fwd(); gemm_in(); bwd_mem(); }}};
}

}  // namespace

roast::Mapping make_mapping(roast::Scheme scheme, const MmOptions& opt, i64 K, i64 N, i64 memory_floats) {
  roast::Mapping map;
  map.scheme = scheme;
  map.sign_mode = sign_mode(scheme, opt.sign);
  map.seed = 42;
  map.rows = K;
  map.cols = N;
  map.tile_rows = opt.tile_rows;
  map.tile_cols = opt.tile_cols;
  map.region_size = memory_floats;
  map.lambda = 0.5f;
  return map;
}

// The sign mode a bench scheme runs with, as text.
std::string sign_text(const std::string& scheme, const MmOptions& opt) {
  if (scheme == "dense" || scheme == "dense_mm") return "none";
  const roast::SignMode m = sign_mode(scheme == "hashednet" ? roast::Scheme::hashednet : roast::Scheme::roast, opt.sign);
  return m == roast::SignMode::none ? "none" : m == roast::SignMode::tile ? "tile" : "element";
}

double op_flops(const std::string& op, i64 M, i64 K, i64 N) {
  return (op == "forward_backward" ? 6.0 : 2.0) * double(M) * double(K) * double(N);
}

Measurement measurement(i64 M, i64 K, i64 N, i64 memory_floats, double compression, const std::string& scheme,
                        const std::string& op, double median_ms, double dense_ms) {
  Measurement m;
  m.m = M, m.k = K, m.n = N, m.memory_floats = memory_floats, m.compression = compression;
  m.scheme = scheme, m.op = op, m.median_ms = median_ms, m.gflops = op_flops(op, M, K, N) / (median_ms * 1e6);
  m.ratio_to_dense = dense_ms / median_ms;
  return m;
}

std::vector<std::pair<double, i64>> memory_sizes(const MmOptions& opt, i64 K, i64 N) {
  // --memory-floats replaces the compression list by the one compression it implies.
  if (opt.memory_floats > 0) return {{double(K) * double(N) / double(opt.memory_floats), opt.memory_floats}};
  const i64 tile = i64(opt.tile_rows) * opt.tile_cols;
  std::vector<std::pair<double, i64>> out;
  for (double c : opt.compression) out.push_back({c, std::max<i64>(tile, i64(std::ceil(double(K) * double(N) / c)))});
  return out;
}

namespace {
// One timed configuration of a shape: a scheme at a memory size, with its four ops.
struct Contender {
  std::string scheme;
  double compression;
  i64 memory_floats;
  OpTable ops;
};

// Runs every selected scheme and op for one shape. Runs are interleaved (repeat r of every
// contender, then repeat r + 1, ...) so that load from other processes hits every scheme
// alike; dense is measured in the same rounds and is the baseline of every ratio.
void bench_shape(const MmOptions& opt, i64 M, i64 K, i64 N, std::vector<Measurement>& out) {
  Operands o(M, K, N);
  const auto has = [&opt](const std::string& s) {
    return std::find(opt.schemes.begin(), opt.schemes.end(), s) != opt.schemes.end();
  };
  std::vector<Contender> contenders{{"dense", 1.0, K * N, dense_ops(o)}};  // always: the baseline
  std::vector<std::vector<float>> buffers;  // memories and their gradients, alive for the ops
  buffers.reserve(2 * opt.compression.size() + 1);
  if (has("dense_mm")) {
    buffers.emplace_back(std::size_t(K * N), 0.0f);
    const roast::Mapping map = make_mapping(roast::Scheme::dense, opt, K, N, K * N);
    contenders.push_back({"dense_mm", 1.0, K * N, fused_ops(o, map, o.W.data(), buffers.back().data())});
  }
  for (const auto& [c, floats] : memory_sizes(opt, K, N)) {
    buffers.push_back(random_floats(floats, 4));
    const float* memory = buffers.back().data();
    buffers.emplace_back(std::size_t(floats), 0.0f);
    float* dM = buffers.back().data();
    for (const std::string& scheme : opt.schemes) {
      if (scheme == "dense" || scheme == "dense_mm") continue;
      const roast::Scheme s = scheme == "hashednet" ? roast::Scheme::hashednet : roast::Scheme::roast;
      const roast::Mapping map = make_mapping(s, opt, K, N, floats);
      contenders.push_back({scheme, c, floats,
                            scheme == "materialize" ? materialize_ops(o, map, memory, dM) : fused_ops(o, map, memory, dM)});
    }
  }
  for (const std::string& op : opt.ops) {
    for (Contender& c : contenders)
      for (int i = 0; i < opt.warmup; ++i) c.ops[op]();
    std::vector<std::vector<double>> times(contenders.size());
    for (int r = 0; r < opt.repeats; ++r)
      for (std::size_t i = 0; i < contenders.size(); ++i) times[i].push_back(time_ms(contenders[i].ops[op]));
    const double dense_ms = median(times[0]);
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      const Contender& c = contenders[i];
      if (c.scheme == "dense" && !has("dense")) continue;
      out.push_back(measurement(M, K, N, c.memory_floats, c.compression, c.scheme, op, median(times[i]), dense_ms));
    }
  }
}

void print_table(const MmOptions& opt, const std::vector<Measurement>& rows, int threads) {
  const bool gpu = opt.device != "cpu";
  if (gpu)
    std::printf("roast-train bench mm: device %s%s, warm-up %d, median of %d (interleaved), signs roast %s / hashednet %s, "
                "tile %dx%d; x_dense is against cuBLAS in the row's precision\n",
                opt.device.c_str(), opt.deterministic ? " (deterministic)" : "", opt.warmup, opt.repeats,
                sign_text("roast", opt).c_str(), sign_text("hashednet", opt).c_str(), opt.tile_rows, opt.tile_cols);
  else
    std::printf("roast-train bench mm: %d threads, warm-up %d, median of %d (interleaved), signs roast %s / hashednet %s, "
                "tile %dx%d\n",
                threads, opt.warmup, opt.repeats, sign_text("roast", opt).c_str(), sign_text("hashednet", opt).c_str(),
                opt.tile_rows, opt.tile_cols);
  std::printf("%6s %6s %6s %6s %10s %-12s %-17s %11s %9s %9s%s\n", "M", "K", "N", "comp", "mem_floats", "scheme",
              "op", "median_ms", "GFLOP/s", "x_dense", gpu ? "  prec  path" : "");
  for (const Measurement& r : rows)
    std::printf("%6lld %6lld %6lld %6g %10lld %-12s %-17s %11.4f %9.2f %9.3f%s%s%s%s\n", (long long)r.m, (long long)r.k,
                (long long)r.n, r.compression, (long long)r.memory_floats, r.scheme.c_str(), r.op.c_str(), r.median_ms,
                r.gflops, r.ratio_to_dense, gpu ? "  " : "", gpu ? r.precision.c_str() : "", gpu ? "  " : "",
                r.path.c_str());
}

void print_json(const std::vector<Measurement>& rows, const MmOptions& opt, int threads) {
  nlohmann::json out = nlohmann::json::array();
  for (const Measurement& r : rows) {
    nlohmann::json row = {{"m", r.m}, {"k", r.k}, {"n", r.n}, {"compression", r.compression},
                          {"memory_floats", r.memory_floats}, {"scheme", r.scheme}, {"op", r.op},
                          {"median_ms", r.median_ms}, {"gflops", r.gflops}, {"ratio_to_dense", r.ratio_to_dense},
                          {"threads", threads}, {"sign", sign_text(r.scheme, opt)}, {"repeats", opt.repeats},
                          {"warmup", opt.warmup}, {"device", r.device}, {"precision", r.precision},
                          {"deterministic", opt.deterministic && r.device != "cpu"}};
    if (!r.path.empty()) row["path"] = r.path;
    out.push_back(row);
  }
  std::cout << out.dump(1) << "\n";
}

void run_mm(const MmOptions& opt) {
  if (opt.threads > 0) omp_set_num_threads(opt.threads);
  const int threads = omp_get_max_threads();
  std::vector<Measurement> rows;
  if (opt.device != "cpu") {
    rows = run_mm_cuda(opt);
  } else {
    for (const std::string& op : opt.ops)
      if (op == "optimizer_step") roast::fail("bench mm: --ops optimizer_step is measured on --device cuda only");
    for (const std::string& scheme : opt.schemes)
      if (scheme == "auto") roast::fail("bench mm: --schemes auto (the per-shape path choice) exists on --device cuda only");
    for (i64 K : opt.k)
      for (i64 N : opt.n)
        for (i64 M : opt.m) {
          bench_shape(opt, M, K, N, rows);
          if (!opt.json) std::fprintf(stderr, "  done M=%lld K=%lld N=%lld\n", (long long)M, (long long)K, (long long)N);
        }
  }
  if (opt.json) print_json(rows, opt, threads);
  else print_table(opt, rows, threads);
}

}  // namespace
}  // namespace bench

void add_bench_command(CLI::App& app) {
  using namespace bench;
  CLI::App* bench = app.add_subcommand("bench", "Kernel benchmarks against dense GEMM (mm) and timed training steps (train)");
  bench->require_subcommand(1);
  CLI::App* mm = bench->add_subcommand("mm", "ROAST-MM vs dense Eigen GEMM, HashedNet and materialise-then-GEMM");
  auto opt = std::make_shared<MmOptions>();
  const CLI::Validator positive(
      [](std::string& text) {
        try {
          std::size_t used = 0;
          if (std::stoll(text, &used) > 0 && used == text.size()) return std::string();
        } catch (const std::exception&) {
        }
        return "must be a positive integer, got '" + text + "'";
      },
      "POSITIVE");
  mm->add_option("--m", opt->m, "Rows of X (batch), comma-separated")->delimiter(',')->check(positive)->capture_default_str();
  mm->add_option("--k", opt->k, "Rows of W (fan-in)")->delimiter(',')->check(positive)->capture_default_str();
  mm->add_option("--n", opt->n, "Columns of W (fan-out)")->delimiter(',')->check(positive)->capture_default_str();
  mm->add_option("--compression", opt->compression, "K*N / memory floats")
      ->delimiter(',')
      ->check(CLI::Range(1.0, 1e12).description("NUMBER >= 1"))
      ->capture_default_str();
  mm->add_option("--schemes", opt->schemes, "dense, roast, hashednet, materialize, dense_mm; auto (cuda: the per-shape choice)")
      ->delimiter(',')
      ->check(CLI::IsMember({"dense", "roast", "hashednet", "materialize", "dense_mm", "auto"}))
      ->capture_default_str();
  mm->add_option("--ops", opt->ops, "forward, backward_input, backward_memory, forward_backward; optimizer_step (cuda)")
      ->delimiter(',')
      ->check(CLI::IsMember({"forward", "backward_input", "backward_memory", "forward_backward", "optimizer_step"}))
      ->capture_default_str();
  mm->add_option("--repeats", opt->repeats, "Timed runs per measurement (median)")->check(positive)->capture_default_str();
  mm->add_option("--warmup", opt->warmup, "Untimed runs first")->check(CLI::NonNegativeNumber)->capture_default_str();
  mm->add_option("--threads", opt->threads, "OpenMP threads (0: default)")->check(CLI::NonNegativeNumber)->capture_default_str();
  mm->add_option("--memory-floats", opt->memory_floats, "Force the memory size in floats (replaces --compression)")
      ->check(CLI::NonNegativeNumber);
  mm->add_option("--sign", opt->sign, "Sign mode of the hashed schemes (default: tile for roast, element for hashednet)")
      ->check(CLI::IsMember({"default", "none", "tile", "element"}))
      ->capture_default_str();
  mm->add_option("--tile-rows", opt->tile_rows, "Tile rows BK")->check(positive)->capture_default_str();
  mm->add_option("--tile-cols", opt->tile_cols, "Tile columns BN")->check(positive)->capture_default_str();
  mm->add_option("--device", opt->device, "cpu, or cuda / cuda:N (cuBLAS baselines)")
      ->check([](const std::string& d) {
        return d == "cpu" || d.rfind("cuda", 0) == 0 ? std::string() : "must be cpu, cuda or cuda:N, got '" + d + "'";
      })
      ->capture_default_str();
  mm->add_option("--precision", opt->precision,
                 "CUDA: fp32, tf32, bf16 (each measured against cuBLAS in that precision; bf16's dense baseline "
                 "converts both fp32 operands, as the engine's bf16 GEMM does)")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  mm->add_flag("--deterministic", opt->deterministic,
               "CUDA: bitwise-reproducible mode (config key `deterministic`); the CPU is always deterministic");
  mm->add_flag("--json", opt->json, "Print a JSON array, one object per measurement");
  mm->callback([opt] { run_mm(*opt); });  // roast::Error reaches main: exit code 2
  roast::cli::add_bench_train_command(*bench);
}

}  // namespace roast_train
